using System.Diagnostics;
using ConvViz.Engine.Figures;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;

namespace ConvViz.Engine.Visualization;

/// <summary>A dream as run: its result, the layer and the options with every default filled in, and the dreamed image's path.</summary>
public sealed record DreamRun(DreamResult Result, string Layer, DreamOptions Options, string Image);

/// <summary>
/// DeepDream with its outputs: the start image (&lt;start&gt;-start.png) and the dream
/// (&lt;start&gt;-&lt;layer&gt;&lt;settings&gt;-dream.png, the settings that differ from the defaults), so runs
/// with another layer or other settings into one folder keep both, each enlarged to at least 224 pixels a side with
/// crisp pixels; with labels, the objective at every step is drawn as a chart (...-dream-objective.png). The card gets
/// the layer, the options, every octave's objectives and the timing.
/// </summary>
public static class DreamRuns
{
    /// <summary>The default options for the model: <see cref="DreamOptions"/>'s, with the jitter for its size.</summary>
    public static DreamOptions Defaults(Preprocessing p) => new() { Jitter = DreamOptions.DefaultJitter(p) };

    /// <summary>The start when there is no image: the mean plus N(0, 10²) pixel noise, named by its seed.</summary>
    public static NamedInput NoiseStart(Preprocessing p, int seed) =>
        new($"noise-seed{seed}", DeepDream.MeanPlusNoise(p, seed), $"the mean plus N(0, 10²) pixel noise, seed {seed}");

    /// <summary>The start when none is given: the bundle's first sample, else <see cref="NoiseStart"/>.</summary>
    public static NamedInput DefaultStart(ModelBundle bundle, int seed)
    {
        if (bundle.SampleCount > 0)
        {
            var sample = bundle.Sample(0);
            return new NamedInput("sample0", ImageTensors.ToInput(sample.Image, bundle.Preprocessing), $"the model's first sample image, {sample.Name}");
        }
        var noise = NoiseStart(bundle.Preprocessing, seed);
        return noise with { Description = $"{noise.Description} (the model has no sample images)" };
    }

    /// <summary>"-relu3-it3-seed2": the layer and the settings that differ from <see cref="Defaults"/>.</summary>
    public static string SettingsStem(string layer, DreamOptions options, Preprocessing p) =>
        $"-{FileNames.ForLayer(layer)}{options.DifferencesFrom(Defaults(p))}";

    /// <summary>
    /// Dreams on <paramref name="layer"/> (null: <see cref="DeepDream.DefaultLayer"/>) from <paramref name="start"/> and
    /// writes the start, the dream and, with <paramref name="rawPath"/>, the dream as a float32 .npy (1, C, H, W).
    /// </summary>
    public static DreamRun Run(ModelBundle bundle, string? layer, DreamOptions options, NamedInput start, RunOutputs outputs, string? rawPath = null,
        IProgress<DreamProgress>? progress = null, CancellationToken cancellation = default)
    {
        var p = bundle.Preprocessing;
        options.Validate();
        string dreamed = layer ?? DeepDream.DefaultLayer(bundle.Network);
        options = options with { Jitter = options.Jitter ?? DreamOptions.DefaultJitter(p) };
        DeepDream.Validate(bundle.Network, p, dreamed, options);
        outputs.RequireFont();
        var card = outputs.Card;
        card.Target = $"L2 of layer '{dreamed}'";
        card.Parameters["layer"] = dreamed;
        card.Parameters["options"] = options;

        var clock = Stopwatch.StartNew();
        var steps = new List<DreamProgress>();
        var recorded = new ProgressAction<DreamProgress>(step =>
        {
            steps.Add(step);
            progress?.Report(step);
        });
        var result = DeepDream.Run(bundle.Network, p, dreamed, options, start.Values, recorded, cancellation);
        card.TimingsMs["dream"] = clock.Elapsed.TotalMilliseconds;
        card.TimingsMs["perStep"] = clock.Elapsed.TotalMilliseconds / (options.Octaves * options.Iterations);

        string name = FileNames.ForLayer(start.Name);
        string stem = $"{name}{SettingsStem(dreamed, options, p)}-dream";
        outputs.Enlarged($"{name}-start.png", ImageTensors.ToImage(start.Values, p));
        string image = outputs.Enlarged($"{stem}.png", ImageTensors.ToImage(result.Image, p));
        outputs.Chart($"{stem}-objective.png", () => ObjectiveChart(steps, result.Octaves, dreamed));
        if (rawPath is not null) outputs.Tensor(rawPath, result.Image, p.Channels, p.Height, p.Width);
        card.Results["octaves"] = result.Octaves.Select(o => new
        {
            o.Height, o.Width, objectiveBefore = o.Before, objectiveAfter = o.After, meanSquareBefore = o.MeanSquareBefore, meanSquareAfter = o.MeanSquareAfter, o.Milliseconds,
        }).ToList();
        return new DreamRun(result, dreamed, options, image);
    }

    /// <summary>The objective before each step, numbered through all octaves, one curve per octave (each at its own image size).</summary>
    internal static LineChart ObjectiveChart(IReadOnlyList<DreamProgress> steps, IReadOnlyList<DreamOctave> octaves, string layer) =>
        new($"DeepDream on {layer}: the objective 0.5·Σa² before each step", "step (all octaves)", "objective",
            steps.Select((s, i) => (Step: s, Number: i + 1)).GroupBy(s => s.Step.Octave).Select(octave => new ChartSeries(
                octave.Key < octaves.Count ? $"octave {octave.Key + 1}: {octaves[octave.Key].Height}x{octaves[octave.Key].Width}" : $"octave {octave.Key + 1}",
                octave.Select(s => (double)s.Number).ToArray(), octave.Select(s => s.Step.Objective).ToArray())).ToArray());
}
