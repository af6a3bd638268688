using System.Diagnostics;
using System.Globalization;
using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;

namespace ConvViz.Engine.Visualization;

/// <summary>One drawn setting and what it reached, with its rank (1: the best objective).</summary>
public sealed record SweepEntry(int Rank, OptimizationOptions Options, OptimizationResult Result);

/// <summary>A sweep's settings, best first, and the files it wrote: the grid of their best images, the page and the CSV table.</summary>
public sealed record SweepResult(IReadOnlyList<SweepEntry> Ranked, string Grid, string Page, string Table);

/// <summary>
/// Random search over the four regularizers, as the paper did to find Table 1 (it tried 300
/// combinations). Each draw keeps the base options' rate policy, iterations and seed (so every
/// combination starts from the same image) and draws, independently:
/// L2 decay: 0 (p = 1/4) or log-uniform in [1e-5, 0.5];
/// blur: off (p = 1/4) or every 1, 2, 4 or 8 steps with sigma uniform in [0.3, 1.5] (the Toolbox
/// warns that sigma below 0.3 works poorly);
/// norm clip: off (p = 1/2) or a percentile uniform in [0, 50];
/// contribution clip: off (p = 1/2) or a percentile uniform in [0, 90].
/// The bounds span Table 1's four settings.
/// </summary>
public static class RegularizerSweep
{
    public static readonly int[] BlurPeriods = [1, 2, 4, 8];
    public const float MinDecay = 1e-5f, MaxDecay = 0.5f, MinSigma = 0.3f, MaxSigma = 1.5f, MaxNormPercentile = 50, MaxContributionPercentile = 90;

    /// <summary><paramref name="count"/> combinations drawn with <paramref name="sweepSeed"/>.</summary>
    public static IReadOnlyList<OptimizationOptions> Draw(OptimizationOptions baseOptions, int count, int sweepSeed)
    {
        if (count < 1) throw new ArgumentOutOfRangeException("Sweep", count, $"Sweep {count} must be at least 1 combination");
        var random = new Random(sweepSeed);
        var draws = new OptimizationOptions[count];
        for (int i = 0; i < count; i++)
        {
            float decay = random.NextDouble() < 0.25 ? 0 : (float)Math.Exp(Uniform(random, Math.Log(MinDecay), Math.Log(MaxDecay)));
            bool blur = random.NextDouble() >= 0.25;
            int period = BlurPeriods[random.Next(BlurPeriods.Length)];
            float sigma = (float)Uniform(random, MinSigma, MaxSigma);
            float norm = random.NextDouble() < 0.5 ? 0 : (float)Uniform(random, 0, MaxNormPercentile);
            float contribution = random.NextDouble() < 0.5 ? 0 : (float)Uniform(random, 0, MaxContributionPercentile);
            draws[i] = baseOptions with
            {
                Decay = decay,
                BlurEvery = blur ? period : 0,
                BlurSigma = blur ? sigma : baseOptions.BlurSigma,
                NormPercentile = norm,
                ContributionPercentile = contribution,
            };
        }
        return draws;
    }

    /// <summary>
    /// The order of <paramref name="results"/> from the best objective to the worst: the largest best objective
    /// first, or the smallest when the options minimize. Ties keep the draw order.
    /// </summary>
    public static int[] Ranking(IReadOnlyList<OptimizationResult> results, bool minimize) =>
        Enumerable.Range(0, results.Count).OrderByDescending(i => minimize ? -results[i].BestObjective : results[i].BestObjective).ToArray();

    /// <summary>
    /// Runs <paramref name="count"/> settings drawn with <paramref name="sweepSeed"/> from <paramref name="baseOptions"/>
    /// for one target, each from the same start, and writes, best first, a grid of their best images, an HTML page
    /// with each setting under its image, and a CSV table, named &lt;target&gt;&lt;settings&gt;-sweep&lt;count&gt;-sweepseed&lt;seed&gt;,
    /// into the subfolder "sweep" of the outputs' folder.
    /// </summary>
    public static SweepResult Run(ModelBundle bundle, Target target, int preset, OptimizationOptions baseOptions, int count, int sweepSeed, float[]? start,
        RunOutputs outputs, IProgress<OptimizationRunProgress>? progress = null, CancellationToken cancellation = default)
    {
        var p = bundle.Preprocessing;
        outputs.RequireFont();
        var draws = Draw(baseOptions, count, sweepSeed);
        int iterations = baseOptions.Iterations;
        var clock = Stopwatch.StartNew();
        var results = new OptimizationResult[draws.Count];
        for (int i = 0; i < draws.Count; i++)
        {
            int setting = i, done = i * iterations;
            float? bestSoFar = i == 0 ? null : results.Take(i).Select(r => r.BestObjective).Aggregate((a, b) => baseOptions.Minimize ? Math.Min(a, b) : Math.Max(a, b));
            var report = progress is null ? null : new ProgressAction<OptimizeProgress>(s =>
                progress.Report(new OptimizationRunProgress(done + s.Iteration + 1, iterations * draws.Count, s.Iteration, s.Iterations, [target], s.Objective,
                    setting, draws.Count, bestSoFar)));
            results[i] = ActivationMaximization.Run(bundle.Network, p, target, draws[i], start, report, cancellation);
        }
        var card = outputs.Card;
        card.TimingsMs["optimize"] = clock.Elapsed.TotalMilliseconds;
        card.Parameters["sweep"] = count;
        card.Parameters["sweepSeed"] = sweepSeed;

        outputs = outputs with { Folder = Path.Combine(outputs.Folder, "sweep") };
        var ranked = Ranking(results, baseOptions.Minimize).Select((i, rank) => new SweepEntry(rank + 1, draws[i], results[i])).ToArray();
        string stem = $"{RunOutputs.TargetStem(target)}{OptimizationRuns.SettingsStem(preset, baseOptions, p)}-sweep{count}-sweepseed{sweepSeed}";
        var images = ranked.Select(e => ImageTensors.ToImageCentered(e.Result.Best, p)).ToArray();
        string grid = outputs.Image($"{stem}-grid.png", OptimizationRuns.MontageOf(images,
            outputs.Labels ? ranked.Select(e => $"#{e.Rank}\n{FigureText.Number(e.Result.BestObjective)}").ToArray() : null,
            outputs.Labels ? $"{UnitNames.Describe(bundle, target)}: {count} random regularizer settings, best objective first (settings in the .html and .csv)" : null));

        var page = new ReportPage($"ConvViz regularizer sweep: {target} of {bundle.Source}");
        page.Paragraph($"{count} random settings (sweep seed {sweepSeed}), {iterations} steps each from the same start (seed {baseOptions.Seed}), " +
                       $"rate {baseOptions.Policy} {(baseOptions.Policy == StepPolicy.Constant ? baseOptions.LearningRate : baseOptions.MaxLearningRate):G3}; best objective first. ");
        page.Figures(ranked.Select((e, k) => (images[k], $"#{e.Rank}: {e.Result.BestObjective:G5} at step {e.Result.BestIteration + 1}; {Describe(e.Options)}")));
        string pagePath = outputs.Text($"{stem}.html", page.ToHtml());

        var lines = new List<string> { "rank,decay,blur_every,blur_sigma,norm_percentile,contribution_percentile,best_objective,best_iteration,last_objective" };
        foreach (var e in ranked)
        {
            var o = e.Options;
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"{e.Rank},{o.Decay:R},{o.BlurEvery},{(o.BlurEvery > 0 ? o.BlurSigma : 0):R},{o.NormPercentile:R},{o.ContributionPercentile:R},{e.Result.BestObjective:R},{e.Result.BestIteration},{e.Result.Objectives[^1]:R}"));
        }
        string table = outputs.Lines($"{stem}.csv", lines);
        card.Results["settings"] = ranked.Select(e => new { options = e.Options, bestObjective = e.Result.BestObjective, bestIteration = e.Result.BestIteration }).ToArray();
        return new SweepResult(ranked, grid, pagePath, table);
    }

    /// <summary>A drawn setting in words: "decay 0.001, blur sigma 0.80 every 2, norm pct 0.0, contribution pct 45.2".</summary>
    public static string Describe(OptimizationOptions o) => string.Create(CultureInfo.InvariantCulture,
        $"decay {o.Decay:G3}, blur {(o.BlurEvery > 0 ? $"sigma {o.BlurSigma:F2} every {o.BlurEvery}" : "off")}, norm pct {o.NormPercentile:F1}, contribution pct {o.ContributionPercentile:F1}");

    private static double Uniform(Random random, double low, double high) => low + random.NextDouble() * (high - low);
}
