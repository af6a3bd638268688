namespace ConvViz.Engine.Mining;

/// <summary>One of a unit's top-k patches in an atlas: the patch image, its deconvnet projection (null when not made),
/// the unit's activation on it, and where the patch came from (data set image number and box, in words). Paths are absolute
/// files inside the atlas folder.</summary>
public sealed record AtlasPatch(string Image, string? Deconv, float Value, string Source);

/// <summary>What an atlas holds for one unit: its top-k patches (best first) and its optimized image (null when not made).</summary>
public sealed record AtlasUnit(string Layer, int Unit, IReadOnlyList<AtlasPatch> Patches, string? Optimized);

/// <summary>
/// A folder written by `convviz atlas` (<see cref="AtlasRuns"/>): for every unit of the chosen layers, its top-9 dataset
/// patches with deconvnet projections and its optimized image, plus static pages. This reader is what `convviz serve --atlas`
/// uses; it never opens a file outside <see cref="Folder"/>.
/// </summary>
public sealed class Atlas
{
    /// <summary>Opens an atlas folder; an <see cref="IOException"/> or <see cref="InvalidDataException"/> with a one-line message
    /// naming the folder when it is not one.</summary>
    public static Atlas Open(string folder) => throw new NotImplementedException();

    public string Folder => throw new NotImplementedException();

    /// <summary>The model the atlas was made from, as its source was named.</summary>
    public string Model => throw new NotImplementedException();

    /// <summary>The layers the atlas covers.</summary>
    public IReadOnlyList<string> Layers => throw new NotImplementedException();

    /// <summary>What the atlas holds for <paramref name="unit"/> of <paramref name="layer"/>; null when it has nothing for it.</summary>
    public AtlasUnit? Find(string layer, int unit) => throw new NotImplementedException();
}
