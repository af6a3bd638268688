using System.Globalization;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// Where a visualization run writes: its files go into <see cref="Folder"/>, and each is listed in
/// <see cref="Card"/> by its path relative to <see cref="Root"/>, the folder the card is saved in.
/// </summary>
public sealed record RunOutputs(ExperimentCard Card, string Root, string Folder)
{
    /// <summary>Writes <paramref name="image"/> as Folder/<paramref name="fileName"/> and returns its path.</summary>
    internal string Image(string fileName, Image8 image) => Listed(Path.Combine(Folder, fileName), path => ImageFile.Write(path, image));

    internal string Text(string fileName, string text) => Listed(Path.Combine(Folder, fileName), path => AtomicFile.WriteAllText(path, text));

    internal string Lines(string fileName, IEnumerable<string> lines) => Listed(Path.Combine(Folder, fileName), path => AtomicFile.WriteAllLines(path, lines));

    /// <summary>Writes a model input (C, H, W) as a float32 .npy of shape (1, C, H, W) at <paramref name="path"/>, wherever it is.</summary>
    internal string Tensor(string path, float[] input, int channels, int height, int width) =>
        Listed(path, p => Npy.Write(p, input, [1, channels, height, width]));

    private string Listed(string path, Action<string> write)
    {
        write(path);
        Card.Outputs.Add(Path.GetRelativePath(Root, path));
        return path;
    }

    /// <summary>A target as a file-name part that carries every coordinate: "conv5-3", "conv5-3-y2-x4".</summary>
    public static string TargetStem(Target target) => FileNames.ForLayer(target.Y is null
        ? string.Create(CultureInfo.InvariantCulture, $"{target.Layer}-{target.Channel}")
        : string.Create(CultureInfo.InvariantCulture, $"{target.Layer}-{target.Channel}-y{target.Y}-x{target.X}"));
}

/// <summary>A model input (C, H, W) with the name its files carry (<see cref="Name"/>, usable in a file name) and the words a card describes it by.</summary>
public sealed record NamedInput(string Name, float[] Values, string Description);
