using System.Diagnostics;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// How occlusion slides its patch: <see cref="Patch"/> pixels square (null: a seventh of the input's shorter side),
/// <see cref="Stride"/> apart (null: half the patch), filled with <see cref="FillPixel"/> 0..255 in every channel
/// (null: the model's mean, input value 0), <see cref="BatchSize"/> occluded copies per forward pass.
/// </summary>
public sealed record OcclusionOptions
{
    public int? Patch { get; init; }
    public int? Stride { get; init; }
    public float? FillPixel { get; init; }
    public int BatchSize { get; init; } = 32;

    /// <summary>These options with the patch and stride filled in for the model's input, after checking them.</summary>
    public OcclusionOptions Resolve(Preprocessing p)
    {
        int patch = Patch ?? Occlusion.DefaultPatch(p.Height, p.Width);
        if (patch < 1 || patch > Math.Min(p.Height, p.Width))
            throw new ArgumentOutOfRangeException(nameof(Patch), patch, $"{nameof(Patch)} {patch} must be between 1 and the input size {Math.Min(p.Height, p.Width)}");
        int stride = Stride ?? Math.Max(1, patch / 2);
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(Stride), stride, $"{nameof(Stride)} {stride} must be at least 1");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, $"{nameof(BatchSize)} {BatchSize} must be at least 1");
        if (FillPixel is { } pixel)
        {
            if (!(pixel is >= 0 and <= 255)) throw new ArgumentOutOfRangeException(nameof(FillPixel), pixel, $"{nameof(FillPixel)} {pixel} must be a pixel value 0..255");
            // A mean image makes one pixel value a different input at every position: the patch would not be uniform.
            if (p.MeanImage is not null)
                throw new ArgumentException($"{nameof(FillPixel)} {pixel}: the model subtracts a mean image, so one pixel value is a different input at every position; " +
                                            $"leave {nameof(FillPixel)} out to occlude with the mean image (input 0)", nameof(FillPixel));
        }
        return this with { Patch = patch, Stride = stride };
    }

    /// <summary>The patch's value in input space, one per channel.</summary>
    public float[] Fill(Preprocessing p) => Enumerable.Range(0, p.Channels).Select(c => FillPixel is { } v ? p.ToInput(v, c, 0) : 0f).ToArray();
}

/// <summary>An occlusion as run: the map and the resolved options.</summary>
public sealed record OcclusionRun(OcclusionMap Map, OcclusionOptions Options);

/// <summary>
/// Occlusion sensitivity with its outputs: the drop as a heatmap (&lt;input&gt;-&lt;target&gt;-drop.png) and over the
/// input (-overlay.png), both enlarged to at least 224 pixels a side with crisp pixels; the card gets the settings, the
/// baseline and every position's value.
/// </summary>
public static class OcclusionRuns
{
    /// <param name="input">The input (1, C, H, W); <paramref name="inputName"/> names its files.</param>
    /// <param name="classProbability">Record the softmax probability of the target's class rather than the unit's activation.</param>
    public static OcclusionRun Run(ModelBundle bundle, Tensor input, string inputName, Target target, bool classProbability, OcclusionOptions options,
        Colormap colormap, RunOutputs outputs, IProgress<OcclusionProgress>? progress = null, CancellationToken cancellation = default)
    {
        var p = bundle.Preprocessing;
        options = options.Resolve(p);
        var card = outputs.Card;
        card.Target = classProbability ? $"probability of class {target.Channel} ({bundle.Classes[target.Channel]})" : target.ToString();
        card.Parameters["patch"] = options.Patch;
        card.Parameters["stride"] = options.Stride;
        card.Parameters["fillPixel"] = options.FillPixel?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "model mean (input value 0)";
        card.Parameters["batch"] = options.BatchSize;
        var clock = Stopwatch.StartNew();
        var map = Occlusion.Compute(bundle.Network, input, target, classProbability, options.Patch!.Value, options.Stride!.Value, options.Fill(p), options.BatchSize,
            progress, cancellation);
        card.TimingsMs["occlusion"] = clock.Elapsed.TotalMilliseconds;

        var heat = OcclusionMaps.Heat(map, p.Height, p.Width);
        string stem = $"{FileNames.ForLayer(inputName)}-{RunOutputs.TargetStem(target)}";
        outputs.Enlarged($"{stem}-drop.png", Montage.Tile(heat, 1, p.Height, p.Width, Normalization.PerLayer, colormap, gap: 0));
        outputs.Enlarged($"{stem}-overlay.png", colormap.Overlay(ImageTensors.ToImage(input.Backend.Download(input), p), heat));
        card.Results["baseline"] = map.Baseline;
        card.Results["grid"] = new[] { map.Rows, map.Cols };
        card.Results["values"] = map.Values;
        return new OcclusionRun(map, options);
    }
}
