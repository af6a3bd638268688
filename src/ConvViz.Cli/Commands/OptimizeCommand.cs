using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz optimize (--class K | --layer L (--unit C|C,Y,X | --units 0-15)) [--preset 1..4] [overrides] [--sweep N]`:
/// regularized activation maximization (Yosinski et al. 2015) from the mean plus noise or --input.
/// One unit: the best, last and first-majority images in OUT/optimize/. Several units: one batch per
/// --batch units, each unit's best image and a montage. --sweep N: N random regularizer settings for
/// one target, a grid, a page and a CSV in OUT/optimize/sweep/. Always the card OUT/optimize.json.
/// </summary>
public static class OptimizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var layer = new Option<string?>("--layer") { Description = "Layer of --unit or --units" };
        var unit = new Option<string?>("--unit") { Description = "Channel C (at the center of its map) or C,Y,X" };
        var units = new Option<string?>("--units") { Description = "Several channels of --layer optimized as one batch, e.g. 0-15 or 0,3,7-9" };
        var batch = new Option<int>("--batch") { Description = "Units per batch with --units", DefaultValueFactory = _ => 16 }.InRange(1, CommonOptions.MaxInputBatch).Names("BatchSize");
        var classIndex = CommonOptions.Class("Class logit to maximize");
        var preset = new Option<int>("--preset") { Description = "The paper's Table 1 setting, 1 to 4 (3 made most of its figures)", DefaultValueFactory = _ => 3 }.InRange(1, 4);
        var iterations = new Option<int?>("--iterations") { Description = "Steps (default: the preset's)" }.InRange(1, 100_000);
        var lr = new Option<float?>("--lr") { Description = "Learning rate of the constant policy, in the model's input units (default: the preset's, adapted to the model's input scale)" }.Positive(1e9).Names("LearningRate");
        var policy = new Option<StepPolicy?>("--lr-policy") { Description = "Constant or Progress" }.NamesOnly().Names("Policy");
        var maxLr = new Option<float?>("--max-lr") { Description = "Largest rate of the progress policy" }.Positive(1e9).Names("MaxLearningRate");
        var desiredProgress = new Option<float?>("--desired-progress") { Description = "First-order gain per step the progress policy aims at" }.Positive(1e9);
        var decay = new Option<float?>("--decay") { Description = "L2 decay per step" }.InRange(0, 1, maxExclusive: true);
        var blurSigma = new Option<float?>("--blur-sigma") { Description = "Gaussian blur sigma in pixels" }.Positive(AttributionCommand.MaxBlurSigma);
        var blurEvery = new Option<int?>("--blur-every") { Description = "Blur every N steps (0: never)" }.InRange(0, 100_000);
        var normPercentile = new Option<float?>("--norm-percentile") { Description = "Zero pixels with a channel norm below this percentile" }.InRange(0, 100);
        var contributionPercentile = new Option<float?>("--contribution-percentile") { Description = "Zero pixels with a linearized contribution below this percentile" }.InRange(0, 100);
        var lpWeight = new Option<float?>("--lp-weight") { Description = "keras-vis Lp-norm penalty weight (keras-vis: 10)" }.InRange(0, 1e6);
        var lpPower = new Option<float?>("--lp-power") { Description = "p of the Lp-norm penalty (keras-vis: 6)" }.InRange(1, 12);
        var tvWeight = new Option<float?>("--tv-weight") { Description = "keras-vis total-variation penalty weight (keras-vis: 10)" }.InRange(0, 1e6);
        var tvBeta = new Option<float?>("--tv-beta") { Description = "beta of the total-variation penalty (keras-vis: 2)" }.Positive(12);
        var jitter = new Option<int?>("--jitter") { Description = "Shift the image by up to this many pixels each step (robustness)" }.InRange(0, 1024);
        var scaleJitter = new Option<float?>("--scale-jitter") { Description = "Scale the image by up to 1 +- this each step (robustness)" }.InRange(0, 0.5, maxExclusive: true);
        var rotate = new Option<float?>("--rotate") { Description = "Rotate the image by up to +- this many degrees each step (robustness)" }.InRange(0, 180).Names("RotateDegrees");
        var minimize = new Option<bool>("--minimize") { Description = "Minimize the objective instead" };
        var seed = new Option<int>("--seed") { Description = "Seed of the start noise (and of the transforms)", DefaultValueFactory = _ => 0 }.Seed();
        var sweep = new Option<int?>("--sweep") { Description = "Random search: run N random regularizer settings (the paper tried 300) and compare them" }.InRange(1, 1000);
        var sweepSeed = new Option<int>("--sweep-seed") { Description = "Seed of the --sweep draws", DefaultValueFactory = _ => 0 }.Seed();
        var input = CommonOptions.Input(required: false, "Start from this image instead of the mean plus noise");
        var raw = new Option<string?>("--raw") { Description = "Also write the last image as the model's input, float32 .npy of shape (1, C, H, W): the tensor of the last forward pass" };
        var noLabels = CommonOptions.NoLabels("no unit names on the montage, no objective chart");
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("optimize", "Synthesize an image that maximizes a unit or class (regularized, Yosinski et al. 2015)")
        {
            model, layer, unit, units, batch, classIndex, preset, iterations, lr, policy, maxLr, desiredProgress, decay, blurSigma, blurEvery, normPercentile,
            contributionPercentile, lpWeight, lpPower, tvWeight, tvBeta, jitter, scaleJitter, rotate, minimize, seed, sweep, sweepSeed, input, raw, noLabels, output,
            backend, device, threads,
        };
        command.SetAction((result, cancellation) =>
        {
            OptimizationOptions Configure(OptimizationOptions options) => options with
            {
                Iterations = result.GetValue(iterations) ?? options.Iterations,
                LearningRate = result.GetValue(lr) ?? options.LearningRate,
                Policy = result.GetValue(policy) ?? options.Policy,
                MaxLearningRate = result.GetValue(maxLr) ?? options.MaxLearningRate,
                DesiredProgress = result.GetValue(desiredProgress) ?? options.DesiredProgress,
                Decay = result.GetValue(decay) ?? options.Decay,
                BlurSigma = result.GetValue(blurSigma) ?? options.BlurSigma,
                BlurEvery = result.GetValue(blurEvery) ?? options.BlurEvery,
                NormPercentile = result.GetValue(normPercentile) ?? options.NormPercentile,
                ContributionPercentile = result.GetValue(contributionPercentile) ?? options.ContributionPercentile,
                LpWeight = result.GetValue(lpWeight) ?? options.LpWeight,
                LpPower = result.GetValue(lpPower) ?? options.LpPower,
                TvWeight = result.GetValue(tvWeight) ?? options.TvWeight,
                TvBeta = result.GetValue(tvBeta) ?? options.TvBeta,
                Jitter = result.GetValue(jitter) ?? options.Jitter,
                ScaleJitter = result.GetValue(scaleJitter) ?? options.ScaleJitter,
                RotateDegrees = result.GetValue(rotate) ?? options.RotateDegrees,
                Minimize = result.GetValue(minimize),
                Seed = result.GetValue(seed),
            };
            var request = new Request(result.GetValue(model)!, result.GetValue(layer), result.GetValue(unit), result.GetValue(units), result.GetValue(batch),
                result.GetValue(classIndex), result.GetValue(preset), Configure, result.GetValue(sweep), result.GetValue(sweepSeed), result.GetValue(input),
                result.GetValue(raw), result.GetValue(noLabels), result.GetValue(output)!, command.Options.Where(result.Given).Select(o => o.Name).ToHashSet());
            return Task.FromResult(Execute(request, result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads), cancellation));
        });
        return command;
    }

    private sealed record Request(string Model, string? Layer, string? Unit, string? Units, int Batch, string? Class, int Preset,
        Func<OptimizationOptions, OptimizationOptions> Configure, int? Sweep, int SweepSeed, InputSource? Input, string? Raw, bool NoLabels, string Out, IReadOnlySet<string> Given);

    /// <summary>Most optimizer steps one run may take, over all units and sweep settings: about 6 hours at
    /// AlexNet's 20 ms per step, minutes on the default model.</summary>
    public const long MaxSteps = 1_000_000;

    private static int Execute(Request request, string backendName, int? device, int? threads, CancellationToken cancellation)
    {
        // The preset, the overrides and how they combine are checked before any model is opened.
        var effective = request.Configure(OptimizationOptions.Preset(request.Preset));
        effective.Validate();
        if (request.Class is null && request.Unit is null && request.Units is null) throw new UserError("give --class K, --layer L --unit C|C,Y,X or --layer L --units 0-15");
        if (request.Units is not null && (request.Unit is not null || request.Class is not null)) throw new UserError("give --units alone with --layer, not with --unit or --class");
        if (request.Units is not null && request.Layer is null) throw new UserError("--units needs --layer, the layer the units belong to");
        if (request.Sweep is not null && request.Units is not null) throw new UserError("--sweep compares settings for one target; give --class or --unit, not --units");
        if (request.Raw is not null && (request.Units is not null || request.Sweep is not null))
            throw new UserError($"--raw {request.Raw} writes one image; give --class or --unit without {(request.Units is not null ? "--units" : "--sweep")}");
        RefuseIgnored(request, effective);

        using var backend = BackendCatalog.Create(backendName, device, threads);
        using var bundle = ModelCatalog.Open(request.Model, backend);
        var p = bundle.Preprocessing;
        var options = request.Configure(OptimizationOptions.Preset(request.Preset).AdaptedTo(p));
        float[]? start = request.Input is null ? null : ImageTensors.ToInput(Inputs.ReadImage(request.Input, bundle), p);
        var targets = request.Units is null
            ? [TargetSelection.Resolve(bundle, null, request.Class, request.Layer, CommonOptions.Unit(request.Unit))]
            : ParseUnits(request.Units).Select(k => new Target(request.Layer!, k)).ToArray();

        var card = new ExperimentCard("optimize", bundle.Source, request.Input ?? $"mean plus N(0, {options.StartStd}²) noise, seed {options.Seed}")
        {
            Target = string.Join("; ", targets.Select(t => t.ToString())),
        };
        card.Parameters["preset"] = request.Preset;
        card.Parameters["options"] = options;
        card.Parameters["learningRateAdapted"] = OptimizationOptions.IsRawPixelInput(p)
            ? "no: the model's input is raw pixels, as the paper's CaffeNet"
            : $"the preset's constant rate x {OptimizationOptions.ScaledInputRateFactor} for the model's scaled input, unless --lr was given";
        card.Parameters["backend"] = backend.Description;
        var outputs = new RunOutputs(card, request.Out, Path.Combine(request.Out, "optimize")) { Labels = !request.NoLabels };
        var clock = Stopwatch.StartNew();

        if (request.Sweep is { } count)
        {
            var sweep = ProgressBars.Run("optimizing", options.Iterations * count, line =>
                RegularizerSweep.Run(bundle, targets[0], request.Preset, options, count, request.SweepSeed, start, outputs, Bars(line), cancellation));
            var table = new Table().AddColumns("rank", "best objective", "setting");
            foreach (var entry in sweep.Ranked.Take(5))
                table.AddRow($"{entry.Rank}", $"{entry.Result.BestObjective:G5}", RegularizerSweep.Describe(entry.Options));
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine(Markup.Escape($"{count} settings for {targets[0]} in {clock.Elapsed.TotalSeconds:F1} s; grid {sweep.Grid}, page {sweep.Page}, " +
                $"table {sweep.Table}; card {card.Save(request.Out)}"));
        }
        else if (request.Units is not null)
        {
            card.Parameters["batch"] = request.Batch;
            var (results, montage) = ProgressBars.Run("optimizing", options.Iterations * (int)Math.Ceiling(targets.Length / (double)request.Batch), line =>
                OptimizationRuns.Units(bundle, targets, request.Preset, options, request.Batch, start, outputs, Bars(line), cancellation));
            var table = new Table().AddColumns("unit", "best objective", "at step", "layer argmax from");
            foreach (var r in results)
                table.AddRow($"{r.Target.Channel}", $"{r.BestObjective:G5}", $"{r.BestIteration + 1}", r.MajorityIteration is { } m ? $"{m + 1}" : "never");
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine(Markup.Escape($"{targets.Length} units of {targets[0].Layer} in batches of {request.Batch}: {options.Iterations} steps in " +
                $"{clock.Elapsed.TotalSeconds:F1} s; montage {montage}; card {card.Save(request.Out)}"));
        }
        else
        {
            var target = targets[0];
            var result = ProgressBars.Run("optimizing", options.Iterations, line =>
                OptimizationRuns.Single(bundle, target, request.Preset, options, start, outputs, request.Raw, Bars(line), cancellation));
            AnsiConsole.MarkupLine(Markup.Escape($"{target}: best objective {result.BestObjective:G5} at step {result.BestIteration + 1}" +
                (result.MajorityIteration is { } m ? $", the layer's argmax from step {m + 1}" : ", never the layer's argmax") +
                $"; {options.Iterations} steps in {clock.Elapsed.TotalSeconds:F1} s; wrote {outputs.Folder}/ and the card {card.Save(request.Out)}"));
        }
        return 0;
    }

    /// <summary>The engine's reports as the bar's count and text.</summary>
    private static IProgress<OptimizationRunProgress> Bars(ProgressLine line) => new ProgressAction<OptimizationRunProgress>(s =>
    {
        string what = s.Settings > 1
            ? $"setting {s.Setting + 1}/{s.Settings}  step {s.Iteration + 1}/{s.Iterations}  objective {s.Objective:G5}{(s.BestSoFar is { } b ? $"  best setting so far {b:G5}" : "")}"
            : s.Targets.Count > 1
                ? $"units {s.Targets[0].Channel}-{s.Targets[^1].Channel}  step {s.Iteration + 1}/{s.Iterations}  mean objective {s.Objective:G5}"
                : $"step {s.Iteration + 1}/{s.Iterations}  objective {s.Objective:G5}";
        line.Report(s.Done, $"{what}  {line.StepMilliseconds:F1} ms/step");
    });

    /// <summary>Refuses options that the rest of the command line would silently ignore or override, and runs too long to finish.</summary>
    private static void RefuseIgnored(Request request, OptimizationOptions effective)
    {
        var given = request.Given;
        CommonOptions.RefuseClassWithUnit(request.Class, request.Layer, request.Unit);
        if (given.Contains("--batch") && request.Units is null) throw new UserError($"--batch {request.Batch} applies to --units only (units per batch); give --units or leave --batch out");
        if (given.Contains("--sweep-seed") && request.Sweep is null) throw new UserError($"--sweep-seed {request.SweepSeed} applies to --sweep only; give --sweep N or leave --sweep-seed out");
        string preset = $"preset {request.Preset}";
        if (request.Sweep is { } sweep)
        {
            foreach (var drawn in new[] { "--decay", "--blur-sigma", "--blur-every", "--norm-percentile", "--contribution-percentile" })
                if (given.Contains(drawn)) throw new UserError($"{drawn} is drawn at random by --sweep {sweep}; leave out {drawn} or --sweep");
        }
        else if (effective.BlurEvery == 0 && given.Contains("--blur-sigma"))
            throw new UserError($"--blur-sigma {effective.BlurSigma} has no effect: {(given.Contains("--blur-every") ? "--blur-every 0" : preset)} never blurs; give --blur-every N to blur");
        string policy = given.Contains("--lr-policy") ? $"--lr-policy {effective.Policy}" : $"{preset} uses the {effective.Policy} policy";
        if (effective.Policy == StepPolicy.Constant)
        {
            foreach (var progressOnly in new[] { "--max-lr", "--desired-progress" })
                if (given.Contains(progressOnly)) throw new UserError($"{progressOnly} applies to --lr-policy Progress, but {policy}; give --lr, or --lr-policy Progress");
        }
        else if (given.Contains("--lr")) throw new UserError($"--lr applies to --lr-policy Constant, but {policy}; give --max-lr and --desired-progress, or --lr-policy Constant");
        if (effective.LpWeight == 0 && given.Contains("--lp-power")) throw new UserError($"--lp-power {effective.LpPower} has no effect without an Lp penalty; give --lp-weight above 0");
        if (effective.TvWeight == 0 && given.Contains("--tv-beta")) throw new UserError($"--tv-beta {effective.TvBeta} has no effect without a TV penalty; give --tv-weight above 0");
        int targets = request.Units is null ? 1 : ParseUnits(request.Units).Length;
        long steps = (long)effective.Iterations * targets * (request.Sweep ?? 1);
        if (steps > MaxSteps)
            throw new UserError($"{effective.Iterations} iterations x {targets} unit(s) x {request.Sweep ?? 1} setting(s) = {steps:N0} steps, more than the {MaxSteps:N0} one run may take; " +
                                "give fewer --iterations, --units or --sweep settings");
    }

    /// <summary>More units than any layer has channels (AlexNet's widest has 4,096).</summary>
    public const int MaxUnits = 65_536;

    /// <summary>Channels in "0-15", "3" or "0,3,7-9" form, in the given order, without repeats; at most <see cref="MaxUnits"/>.</summary>
    internal static int[] ParseUnits(string text)
    {
        var units = new List<int>();
        var seen = new HashSet<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var ends = part.Split('-', StringSplitOptions.TrimEntries);
            if (ends.Length is 1 or 2 && ends.All(e => int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                int first = int.Parse(ends[0], CultureInfo.InvariantCulture), last = int.Parse(ends[^1], CultureInfo.InvariantCulture);
                if (last >= first)
                {
                    if ((long)last - first + 1 + units.Count > MaxUnits)
                        throw new UserError($"--units '{text}' names more than {MaxUnits:N0} units; a layer has far fewer channels");
                    units.AddRange(Enumerable.Range(first, last - first + 1).Where(seen.Add));
                    continue;
                }
            }
            throw new UserError($"--units '{text}' is not a list of channels such as 0-15 or 0,3,7-9");
        }
        return units.ToArray();
    }
}
