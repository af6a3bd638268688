using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz optimize (--class K | --layer L --unit C|C,Y,X) [--preset 1..4] [overrides]`: regularized
/// activation maximization (Yosinski et al. 2015) from the mean plus noise or --input; writes the
/// best, last and first-majority images to OUT/optimize/ and the card OUT/optimize.json.
/// </summary>
public static class OptimizeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var layer = new Option<string?>("--layer") { Description = "Layer of --unit" };
        var unit = new Option<string?>("--unit") { Description = "Channel C (at the center of its map) or C,Y,X" };
        var classIndex = new Option<int?>("--class") { Description = "Class logit to maximize" };
        var preset = new Option<int>("--preset") { Description = "The paper's Table 1 setting, 1 to 4 (3 made most of its figures)", DefaultValueFactory = _ => 3 };
        var iterations = new Option<int?>("--iterations");
        var lr = new Option<float?>("--lr") { Description = "Learning rate (constant policy)" };
        var policy = new Option<StepPolicy?>("--lr-policy") { Description = "Constant or Progress" };
        var decay = new Option<float?>("--decay") { Description = "L2 decay per step" };
        var blurSigma = new Option<float?>("--blur-sigma") { Description = "Gaussian blur sigma in pixels" };
        var blurEvery = new Option<int?>("--blur-every") { Description = "Blur every N steps (0: never)" };
        var normPercentile = new Option<float?>("--norm-percentile") { Description = "Zero pixels with a channel norm below this percentile (0..100)" };
        var contributionPercentile = new Option<float?>("--contribution-percentile") { Description = "Zero pixels with a linearized contribution below this percentile (0..100)" };
        var minimize = new Option<bool>("--minimize") { Description = "Minimize the objective instead" };
        var seed = new Option<int>("--seed") { Description = "Seed of the start noise", DefaultValueFactory = _ => 0 };
        var input = new Option<string?>("--input") { Description = "Start from this image instead of the mean plus noise" };
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command("optimize", "Synthesize an image that maximizes a unit or class (regularized, Yosinski et al. 2015)")
        {
            model, layer, unit, classIndex, preset, iterations, lr, policy, decay, blurSigma, blurEvery, normPercentile, contributionPercentile,
            minimize, seed, input, output, backend, device,
        };
        command.SetAction(result =>
        {
            var options = OptimizationOptions.Preset(result.GetValue(preset));
            options = options with
            {
                Iterations = result.GetValue(iterations) ?? options.Iterations,
                LearningRate = result.GetValue(lr) ?? options.LearningRate,
                Policy = result.GetValue(policy) ?? options.Policy,
                Decay = result.GetValue(decay) ?? options.Decay,
                BlurSigma = result.GetValue(blurSigma) ?? options.BlurSigma,
                BlurEvery = result.GetValue(blurEvery) ?? options.BlurEvery,
                NormPercentile = result.GetValue(normPercentile) ?? options.NormPercentile,
                ContributionPercentile = result.GetValue(contributionPercentile) ?? options.ContributionPercentile,
                Minimize = result.GetValue(minimize),
                Seed = result.GetValue(seed),
            };
            Execute(result.GetValue(model)!, result.GetValue(layer), result.GetValue(unit), result.GetValue(classIndex), result.GetValue(preset), options,
                result.GetValue(input), result.GetValue(output)!, result.GetValue(backend)!, result.GetValue(device));
        });
        return command;
    }

    private static void Execute(string modelName, string? layerName, string? unitText, int? classIndex, int preset, OptimizationOptions options,
        string? inputPath, string outFolder, string backendName, int? device)
    {
        options.Validate();
        if (classIndex is null && unitText is null) throw new UserError("give --class K or --layer L --unit C|C,Y,X");
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        var p = bundle.Preprocessing;
        float[]? start = inputPath is null ? null : ImageTensors.ToInput(Inputs.ReadImage(inputPath), p);
        using var probe = backend.Upload(start ?? new float[p.Channels * p.Height * p.Width], bundle.Network.InputShape(1));
        var target = AttributionCommand.ResolveTarget(bundle, probe, layerName, unitText, classIndex);

        var card = new ExperimentCard("optimize", bundle.Source, inputPath ?? $"mean plus N(0, {options.StartStd}²) noise, seed {options.Seed}") { Target = target.ToString() };
        card.Parameters["preset"] = preset;
        card.Parameters["options"] = options;
        card.Parameters["backend"] = backend.Description;
        OptimizationResult result = null!;
        var clock = Stopwatch.StartNew();
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(progress =>
            {
                var task = progress.AddTask("optimizing", maxValue: options.Iterations);
                var step = Stopwatch.StartNew();
                result = ActivationMaximization.Run(bundle.Network, p, target, options, start, (it, objective) =>
                {
                    task.Value = it + 1;
                    task.Description = $"step {it + 1}/{options.Iterations}  objective {objective:G5}  {step.Elapsed.TotalMilliseconds:F1} ms/step";
                    step.Restart();
                });
            });
        card.TimingsMs["optimize"] = clock.Elapsed.TotalMilliseconds;

        string folder = Path.Combine(outFolder, "optimize");
        string stem = Inputs.FileName($"{target.Layer}-{target.Channel}-preset{preset}-seed{options.Seed}");
        AttributionCommand.Write(card, outFolder, Path.Combine(folder, $"{stem}-best.png"), ImageTensors.ToImage(result.Best, p));
        AttributionCommand.Write(card, outFolder, Path.Combine(folder, $"{stem}-last.png"), ImageTensors.ToImage(result.Last, p));
        if (result.Majority is not null)
            AttributionCommand.Write(card, outFolder, Path.Combine(folder, $"{stem}-majority.png"), ImageTensors.ToImage(result.Majority, p));
        card.Results["bestObjective"] = result.BestObjective;
        card.Results["bestIteration"] = result.BestIteration;
        card.Results["majorityIteration"] = result.MajorityIteration;
        card.Results["objectives"] = result.Objectives;
        AnsiConsole.MarkupLine(Markup.Escape($"{target}: best objective {result.BestObjective:G5} at step {result.BestIteration + 1}" +
            (result.MajorityIteration is { } m ? $", the layer's argmax from step {m + 1}" : ", never the layer's argmax") +
            $"; {options.Iterations} steps in {clock.Elapsed.TotalSeconds:F1} s; wrote {folder}/ and the card {card.Save(outFolder)}"));
    }
}
