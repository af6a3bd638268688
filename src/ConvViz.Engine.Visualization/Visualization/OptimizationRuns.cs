using System.Diagnostics;
using ConvViz.Engine.Figures;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// Where a run of several optimizations stands: <see cref="Done"/> of <see cref="Total"/> steps in all; the
/// current optimization's step (<see cref="Iteration"/> from 0 of <see cref="Iterations"/>), its targets and their
/// (mean) objective; with a sweep, the setting (from 0 of <see cref="Settings"/>) and the best objective of the settings before it.
/// </summary>
public readonly record struct OptimizationRunProgress(int Done, int Total, int Iteration, int Iterations, IReadOnlyList<Target> Targets, float Objective,
    int Setting = 0, int Settings = 1, float? BestSoFar = null);

/// <summary>
/// Activation maximization with its outputs, as the Deep Visualization Toolbox saves them: the images
/// centered at 0 (best, last, first majority) and the best plus the mean ("pm"); for several units, each
/// unit's best image and a montage. File names carry the target's every coordinate, the preset, the settings
/// that differ from it and the seed, so runs with different targets or settings into one folder keep both. Every
/// image is enlarged to at least 224 pixels a side (crisp pixels); with labels, the montage names each unit (its
/// class on a class-score layer) with its best objective, and the objective by step is drawn as a chart.
/// </summary>
public static class OptimizationRuns
{
    /// <summary>"-preset3-it60-lr1-seed0": the preset, what <paramref name="options"/> change in it (adapted to the model), and the seed.</summary>
    public static string SettingsStem(int preset, OptimizationOptions options, Preprocessing p) =>
        $"-preset{preset}{options.DifferencesFrom(OptimizationOptions.Preset(preset).AdaptedTo(p))}-seed{options.Seed}";

    /// <summary>
    /// Optimizes <paramref name="target"/> from <paramref name="start"/> (null: the mean plus noise) and writes
    /// &lt;target&gt;&lt;settings&gt;-best.png, -best-pm.png, -last.png, when reached -majority.png, and with labels the chart
    /// -objective.png; with <paramref name="rawPath"/>, the last iterate (the image of the last forward, before any robustness transform)
    /// as a float32 .npy (1, C, H, W). The card gets the objectives and the timing.
    /// </summary>
    public static OptimizationResult Single(ModelBundle bundle, Target target, int preset, OptimizationOptions options, float[]? start, RunOutputs outputs,
        string? rawPath = null, IProgress<OptimizationRunProgress>? progress = null, CancellationToken cancellation = default)
    {
        var p = bundle.Preprocessing;
        outputs.RequireFont();
        var clock = Stopwatch.StartNew();
        var report = progress is null ? null : new ProgressAction<OptimizeProgress>(s =>
            progress.Report(new OptimizationRunProgress(s.Iteration + 1, s.Iterations, s.Iteration, s.Iterations, [target], s.Objective)));
        var result = ActivationMaximization.Run(bundle.Network, p, target, options, start, report, cancellation);
        outputs.Card.TimingsMs["optimize"] = clock.Elapsed.TotalMilliseconds;

        string stem = RunOutputs.TargetStem(target) + SettingsStem(preset, options, p);
        outputs.Enlarged($"{stem}-best.png", ImageTensors.ToImageCentered(result.Best, p));
        outputs.Enlarged($"{stem}-best-pm.png", ImageTensors.ToImage(result.Best, p));
        outputs.Enlarged($"{stem}-last.png", ImageTensors.ToImageCentered(result.Last, p));
        if (result.Majority is not null) outputs.Enlarged($"{stem}-majority.png", ImageTensors.ToImageCentered(result.Majority, p));
        outputs.Chart($"{stem}-objective.png", () => ObjectiveChart(bundle, [result], options));
        if (rawPath is not null) outputs.Tensor(rawPath, result.Last, p.Channels, p.Height, p.Width);
        var results = outputs.Card.Results;
        results["bestObjective"] = result.BestObjective;
        results["bestIteration"] = result.BestIteration;
        results["majorityIteration"] = result.MajorityIteration;
        results["objectives"] = result.Objectives;
        return result;
    }

    /// <summary>
    /// Optimizes units of one layer, <paramref name="batchSize"/> at a time as one batch each, and writes each
    /// unit's best image and a montage of them all (&lt;layer&gt;-units&lt;settings&gt;.png, returned with the results);
    /// with labels, the montage names each unit and its best objective, and -objective.png charts every unit's curve.
    /// </summary>
    public static (IReadOnlyList<OptimizationResult> Results, string Montage) Units(ModelBundle bundle, IReadOnlyList<Target> targets, int preset,
        OptimizationOptions options, int batchSize, float[]? start, RunOutputs outputs, IProgress<OptimizationRunProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException("BatchSize", batchSize, $"BatchSize {batchSize} must be at least 1");
        if (targets.Count == 0) throw new ArgumentException("give at least one unit to optimize", nameof(targets));
        outputs.RequireFont();
        var p = bundle.Preprocessing;
        var clock = Stopwatch.StartNew();
        var results = new List<OptimizationResult>();
        var chunks = targets.Chunk(batchSize).ToArray();
        int total = options.Iterations * chunks.Length;
        foreach (var chunk in chunks)
        {
            int done = results.Count / batchSize * options.Iterations;
            var report = progress is null ? null : new ProgressAction<OptimizeBatchProgress>(s =>
                progress.Report(new OptimizationRunProgress(done + s.Iteration + 1, total, s.Iteration, s.Iterations, chunk, s.Objectives.Average())));
            results.AddRange(ActivationMaximization.RunBatch(bundle.Network, p, chunk, options, start, report, cancellation));
        }
        outputs.Card.TimingsMs["optimize"] = clock.Elapsed.TotalMilliseconds;

        string settings = SettingsStem(preset, options, p);
        var images = results.Select(r => ImageTensors.ToImageCentered(r.Best, p)).ToArray();
        foreach (var (result, image) in results.Zip(images))
            outputs.Enlarged($"{RunOutputs.TargetStem(result.Target)}{settings}-best.png", image);
        string stem = $"{FileNames.ForLayer(targets[0].Layer)}-units{Ranges(targets.Select(t => t.Channel))}{settings}";
        string title = $"{targets[0].Layer}: units {Ranges(targets.Select(t => t.Channel))} optimized, preset {preset}, {options.Iterations} steps; each with its best objective";
        string montage = outputs.Image($"{stem}.png", MontageOf(images, outputs.Labels
            ? results.Select(r => $"{UnitNames.Of(bundle, r.Target.Layer, r.Target.Channel)}\n{FigureText.Number(r.BestObjective)}").ToArray() : null, outputs.Labels ? title : null));
        outputs.Chart($"{stem}-objective.png", () => ObjectiveChart(bundle, results, options));
        outputs.Card.Results["units"] = results.Select(r => new { unit = r.Target.Channel, bestObjective = r.BestObjective, bestIteration = r.BestIteration, majorityIteration = r.MajorityIteration }).ToArray();
        return (results, montage);
    }

    /// <summary>Channels as runs in their order: 0, 1, 2, 3, 9 → "0-3,9".</summary>
    internal static string Ranges(IEnumerable<int> channels)
    {
        var runs = new List<string>();
        foreach (int channel in channels)
        {
            if (runs.Count > 0 && runs[^1].Split('-') is var ends && int.Parse(ends[^1], System.Globalization.CultureInfo.InvariantCulture) == channel - 1)
                runs[^1] = $"{ends[0]}-{channel}";
            else runs.Add(channel.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        return string.Join(",", runs);
    }

    /// <summary>The images side by side in a near-square grid, each scaled to about 84 pixels, with a label under each and a title when given.</summary>
    internal static Image8 MontageOf(Image8[] images, IReadOnlyList<string>? labels = null, string? title = null)
    {
        var first = images[0];
        return new TileGrid(images, Montage.ScaleFor(first.Height, first.Width, 84), GridPages.Columns(images.Length)) { Labels = labels, Title = title }.Draw();
    }

    /// <summary>The objective of each result by step (one curve per unit, named by class on a class-score layer).</summary>
    internal static LineChart ObjectiveChart(ModelBundle bundle, IReadOnlyList<OptimizationResult> results, OptimizationOptions options)
    {
        var target = results[0].Target;
        string what = results.Count == 1 ? UnitNames.Describe(bundle, target) : $"{target.Layer}, {results.Count} units";
        return new LineChart($"Activation maximization of {what}: objective by step", "step", options.Minimize ? "objective (minimized)" : "objective",
            results.Select(r => ChartSeries.Counted(UnitNames.Of(bundle, r.Target.Layer, r.Target.Channel), r.Objectives.Select(o => (double)o))).ToArray());
    }
}
