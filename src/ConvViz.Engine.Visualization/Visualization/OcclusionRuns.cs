using System.Diagnostics;
using System.Globalization;
using ConvViz.Engine.Figures;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// How occlusion slides its patch: <see cref="Patch"/> pixels square (null: a seventh of the input's shorter side),
/// <see cref="Stride"/> apart (null: half the patch), filled with <see cref="FillPixel"/> 0..255 in every channel, mapped
/// through the model's preprocessing (null: <see cref="DefaultFillPixel"/>, black), <see cref="BatchSize"/> occluded
/// copies per forward pass; <see cref="Normalize"/> draws the map stretched per image instead of in its real values.
/// <para>Why black: it is zero in pixel space, the empty background of Fashion-MNIST, MNIST and most scanned or rendered
/// objects, so a patch over that background changes no input value and the map is exactly 0 there (tests: below 1e-4 on
/// every all-black patch of a Fashion-MNIST image). The model's mean pixel (input 0), the fill before, paints a gray
/// square that the network reads as an object part wherever the background is black. Under a mean image (CNTK's
/// ResNet-18) black is still one pixel value, a black square on the photo, whose input differs at every position.</para>
/// </summary>
public sealed record OcclusionOptions
{
    public const float DefaultFillPixel = 0;

    public int? Patch { get; init; }
    public int? Stride { get; init; }
    public float? FillPixel { get; init; }
    public int BatchSize { get; init; } = 32;

    /// <summary>Draw the drop divided by its largest magnitude, negative drops as 0 (each image stretched to its own
    /// maximum, as before), rather than the real drop on a scale from its minimum to its maximum.</summary>
    public bool Normalize { get; init; }

    /// <summary>These options with the patch, stride and fill filled in for the model's input, after checking them.</summary>
    public OcclusionOptions Resolve(Preprocessing p)
    {
        int patch = Patch ?? Occlusion.DefaultPatch(p.Height, p.Width);
        if (patch < 1 || patch > Math.Min(p.Height, p.Width))
            throw new ArgumentOutOfRangeException(nameof(Patch), patch, $"{nameof(Patch)} {patch} must be between 1 and the input size {Math.Min(p.Height, p.Width)}");
        int stride = Stride ?? Math.Max(1, patch / 2);
        if (stride < 1) throw new ArgumentOutOfRangeException(nameof(Stride), stride, $"{nameof(Stride)} {stride} must be at least 1");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, $"{nameof(BatchSize)} {BatchSize} must be at least 1");
        float pixel = FillPixel ?? DefaultFillPixel;
        if (!(pixel is >= 0 and <= 255)) throw new ArgumentOutOfRangeException(nameof(FillPixel), pixel, $"{nameof(FillPixel)} {pixel} must be a pixel value 0..255");
        return this with { Patch = patch, Stride = stride, FillPixel = pixel };
    }

    /// <summary>The patch's content in input space: one value per channel, or under a mean image the whole input (C, H, W)
    /// of a picture of that one pixel value, which each patch is cut from.</summary>
    public float[] Fill(Preprocessing p)
    {
        float pixel = FillPixel ?? DefaultFillPixel;
        int plane = p.Height * p.Width;
        return p.MeanImage is null
            ? Enumerable.Range(0, p.Channels).Select(c => p.ToInput(pixel, c, 0)).ToArray()
            : Enumerable.Range(0, p.Channels * plane).Select(i => p.ToInput(pixel, i / plane, i % plane)).ToArray();
    }

    /// <summary>The fill in words, for cards and captions: "pixel 0 (black) in every channel, input value -0.286".</summary>
    public string DescribeFill(Preprocessing p)
    {
        float pixel = FillPixel ?? DefaultFillPixel;
        string name = pixel == 0 ? " (black)" : pixel == 255 ? " (white)" : "";
        string value = string.Create(CultureInfo.InvariantCulture, $"pixel {pixel:0.###}{name} in every channel");
        if (p.MeanImage is not null) return $"{value}, through the mean image: a different input value at every position";
        var inputs = Fill(p);
        return inputs.Length == 1 ? $"{value}, input value {FigureText.Number(inputs[0])}" : $"{value}, input values ({string.Join(", ", inputs.Select(v => FigureText.Number(v)))})";
    }
}

/// <summary>An occlusion as run: the map and the resolved options.</summary>
public sealed record OcclusionRun(OcclusionMap Map, OcclusionOptions Options);

/// <summary>
/// Occlusion sensitivity with its outputs: the drop (baseline - value, averaged per pixel over the patches that covered it)
/// as a heatmap (&lt;input&gt;-&lt;target&gt;-drop.png) and over the input (-overlay.png), each enlarged to at least 224 pixels
/// a side with crisp pixels, titled with the unoccluded value and over a colour bar of the drop's real values (or, with
/// <see cref="OcclusionOptions.Normalize"/>, the per-image stretch); the card gets the settings, the fill in words, the
/// baseline, the drawn range and every position's value.
/// </summary>
public static class OcclusionRuns
{
    /// <param name="input">The input (1, C, H, W); <paramref name="inputName"/> names its files.</param>
    /// <param name="classProbability">Record the softmax probability of the target's class rather than the unit's activation.</param>
    public static OcclusionRun Run(ModelBundle bundle, Tensor input, string inputName, Target target, bool classProbability, OcclusionOptions options,
        Colormap colormap, RunOutputs outputs, IProgress<OcclusionProgress>? progress = null, CancellationToken cancellation = default)
    {
        var p = bundle.Preprocessing;
        if (classProbability && (target.Channel < 0 || target.Channel >= bundle.Classes.Count))
            throw new ArgumentException(bundle.HasClasses
                ? $"Class {target.Channel} is outside the model's classes 0..{bundle.Classes.Count - 1}"
                : $"Class {target.Channel}: {bundle.Source} has no classes (its last layer outputs features); occlude a unit instead", "Class");
        options = options.Resolve(p);
        outputs.RequireFont();
        var card = outputs.Card;
        card.Target = classProbability ? $"probability of class {target.Channel} ({bundle.Classes[target.Channel]})" : target.ToString();
        card.Parameters["patch"] = options.Patch;
        card.Parameters["stride"] = options.Stride;
        card.Parameters["fillPixel"] = options.FillPixel;
        card.Parameters["fill"] = options.DescribeFill(p);
        card.Parameters["batch"] = options.BatchSize;
        card.Parameters["normalize"] = options.Normalize;
        var clock = Stopwatch.StartNew();
        var map = Occlusion.Compute(bundle.Network, input, target, classProbability, options.Patch!.Value, options.Stride!.Value, options.Fill(p), options.BatchSize,
            progress, cancellation);
        card.TimingsMs["occlusion"] = clock.Elapsed.TotalMilliseconds;

        var heatmap = DropHeatmap(bundle, map, target, classProbability, options.Normalize, colormap);
        string stem = $"{FileNames.ForLayer(inputName)}-{RunOutputs.TargetStem(target)}";
        string title = Title(bundle, map, target, classProbability);
        outputs.Image($"{stem}-drop.png", heatmap.Figure(heatmap.Colored(), outputs.Labels, title));
        outputs.Image($"{stem}-overlay.png", heatmap.Figure(heatmap.Overlay(ImageTensors.ToImage(input.Backend.Download(input), p), 0.5f), outputs.Labels, title));
        card.Results["baseline"] = map.Baseline;
        card.Results["grid"] = new[] { map.Rows, map.Cols };
        card.Results["values"] = map.Values;
        card.Results["colorBar"] = new[] { heatmap.Scale.Min, heatmap.Scale.Max };
        return new OcclusionRun(map, options);
    }

    /// <summary>The drop per input pixel on its real scale, or stretched per image when <paramref name="normalize"/>.</summary>
    internal static Heatmap DropHeatmap(ModelBundle bundle, OcclusionMap map, Target target, bool classProbability, bool normalize, Colormap colormap)
    {
        var p = bundle.Preprocessing;
        string what = $"drop in {(classProbability ? $"P({bundle.Classes[target.Channel]})" : "activation")}";
        return normalize
            ? Heatmap.Normalized(OcclusionMaps.Heat(map, p.Height, p.Width), p.Height, p.Width, colormap, what)
            : Heatmap.Absolute(OcclusionMaps.DropPerPixel(map, p.Height, p.Width), p.Height, p.Width, colormap,
                $"{what} from {FigureText.Number(map.Baseline)}");
    }

    /// <summary>"occlusion: P(Trouser) = 0.9981 unoccluded; 4x4 patches", "occlusion: conv5 unit 3 = 12.5 unoccluded; 4x4 patches".</summary>
    internal static string Title(ModelBundle bundle, OcclusionMap map, Target target, bool classProbability) =>
        $"occlusion: {Measured(bundle, target, classProbability)} = {FigureText.Number(map.Baseline)} unoccluded; " +
        string.Create(CultureInfo.InvariantCulture, $"{map.Patch}x{map.Patch} patches");

    /// <summary>What occlusion records: "P(Trouser)", "conv5 unit 3 at (2, 4)", "conv5 unit 3 (summed over its map)".</summary>
    private static string Measured(ModelBundle bundle, Target target, bool classProbability) =>
        classProbability ? $"P({bundle.Classes[target.Channel]})" : UnitNames.Describe(bundle, target) + (target.Y is null ? " (summed over its map)" : "");
}
