using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Data;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz topk [--model M] [--data DIR] --layer L[,L2] [--k 9]`: one streaming pass over a data set
/// keeps every unit's k strongest images and where each peaked; then each one's receptive-field
/// patch and deconvnet projection. Writes OUT/topk/&lt;layer&gt;/unit-C.png (patches | deconvs, as the
/// Toolbox), OUT/topk/&lt;layer&gt;-overview.png, OUT/topk/index.json and the card OUT/topk.json. The
/// pass saves OUT/topk/state.json after every batch; Ctrl+C (or --stop-after) leaves it for --resume.
/// </summary>
public static class TopkCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var data = new Option<string?>("--data")
        {
            Description = $"MNIST-style folder of IDX files, an images IDX file with its labels file beside it, or a folder of photos (subfolders are classes); default {DataSets.DefaultFolder} (Debian's dataset-fashion-mnist) for a 28x28 gray model when installed, else the model's own samples/",
        };
        var split = new Option<string>("--split") { Description = "Which split of --data: t10k (test) or train", DefaultValueFactory = _ => LabeledImages.TestSplit };
        var limit = new Option<int?>("--limit") { Description = "Use the first N images only" }.InRange(1, int.MaxValue);
        var layers = new Option<string?>("--layer") { Description = "Layer(s) to mine, comma-separated (default: the ReLU after the last conv)" }.Names("Layers");
        var k = new Option<int>("--k") { Description = "Images kept per unit", DefaultValueFactory = _ => 9 }.InRange(1, 100).Names("K");
        var batch = new Option<int>("--batch") { Description = "Images per forward pass", DefaultValueFactory = _ => 100 }.InRange(1, CommonOptions.MaxBatch).Names("BatchSize");
        var resume = new Option<bool>("--resume") { Description = "Continue the interrupted run in --out" };
        var stopAfter = new Option<int?>("--stop-after") { Description = "Stop (resumably) once this many images are processed" }.InRange(1, int.MaxValue);
        var noLabels = CommonOptions.NoLabels("no titles, peak values, image or unit numbers");
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("topk", "Top-k images and receptive-field patches per unit, with their deconvnet projections")
        {
            model, data, split, limit, layers, k, batch, resume, stopAfter, noLabels, output, backend, device, threads,
        };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(new Request(result.GetValue(model)!, result.GetValue(data), result.GetValue(split)!, result.GetValue(limit),
            result.GetValue(layers), result.GetValue(k), result.GetValue(batch), result.GetValue(resume), result.GetValue(stopAfter), result.GetValue(noLabels), result.GetValue(output)!),
            result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads), cancellation)));
        return command;
    }

    private sealed record Request(string Model, string? Data, string Split, int? Limit, string? Layers, int K, int Batch, bool Resume, int? StopAfter, bool NoLabels, string Out);

    /// <summary>Mines; cancelled (Ctrl+C), the pass stops at a batch boundary with its state saved for --resume.</summary>
    private static int Execute(Request request, string backendName, int? device, int? threads, CancellationToken cancellation)
    {
        if (request.Split is not (LabeledImages.TestSplit or LabeledImages.TrainSplit))
            throw new UserError($"--split '{request.Split}' is unknown; expected {LabeledImages.TestSplit} or {LabeledImages.TrainSplit}");
        using var backend = BackendCatalog.Create(backendName, device, threads);
        using var bundle = ModelCatalog.Open(request.Model, backend);
        var images = DataSets.Open(request.Data, request.Split, bundle, "mining", request.Limit);
        var options = new TopKOptions
        {
            Layers = request.Layers?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries), K = request.K, BatchSize = request.Batch,
            Resume = request.Resume, StopAfter = request.StopAfter,
        };
        var card = new ExperimentCard("topk", bundle.Source, images.Source);
        card.Parameters["backend"] = backend.Description;
        string folder = Path.Combine(request.Out, "topk");
        TopKRun run = null!;
        ProgressBars.Create().Start(context =>
        {
            var lines = new Dictionary<string, IProgress<TopKViewProgress>>();
            IProgress<TopKProgress>? mining = null;
            run = TopKRuns.Run(bundle, images, options, new RunOutputs(card, request.Out, folder) { Labels = !request.NoLabels }, new ProgressAction<TopKRunProgress>(report =>
            {
                switch (report)
                {
                    case TopKPassStarted started:
                        mining = Counting<TopKProgress>(ProgressBars.Add(context, "mining", started.Images), "mining", started.Images, started.Processed, p => p.Processed);
                        break;
                    case TopKPassBatch { Report: var p }:
                        mining!.Report(p);
                        break;
                    case TopKViewBatch { Report: var p }:
                        if (!lines.TryGetValue(p.Layer, out var line))
                            lines[p.Layer] = line = Counting<TopKViewProgress>(ProgressBars.Add(context, $"deconvnet {p.Layer}", p.Total), $"deconvnet {p.Layer}", p.Total, 0, r => r.Done);
                        line.Report(p);
                        break;
                }
            }), cancellation);
        });
        var state = run.State;
        if (!state.Complete && !run.StateSaved)
        {
            // Stopped before the first batch was saved: there is nothing to resume.
            AnsiConsole.MarkupLine(Markup.Escape($"interrupted before the first batch was saved: nothing is saved in {folder}"));
            return 130;
        }
        if (!state.Complete)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"{(cancellation.IsCancellationRequested ? "interrupted" : "stopped")} after {state.Processed} of {state.Images} images; " +
                $"the state is in {run.StatePath}; continue with `convviz topk --out {request.Out} --resume` and the same options"));
            return cancellation.IsCancellationRequested ? 130 : 0;
        }
        AnsiConsole.MarkupLine(Markup.Escape($"top {request.K} of {images.Count} images for {run.UnitCount} units of {string.Join(", ", state.Layers)} " +
            $"in {(card.TimingsMs.Values.Sum() / 1000):F1} s; index {run.Files[^1]}; card {card.Save(request.Out)}"));
        return 0;
    }

    /// <summary>The engine's reports as <paramref name="count"/> items done, with the rate since <paramref name="done"/> at the start.</summary>
    private static IProgress<T> Counting<T>(ProgressLine line, string what, int total, int done, Func<T, int> count)
    {
        var clock = Stopwatch.StartNew();
        line.Report(done);
        return new ProgressAction<T>(report =>
        {
            int n = count(report);
            line.Report(n, $"{what}  {n}/{total}  {(n - done) / Math.Max(clock.Elapsed.TotalSeconds, 1e-3):F0}/s");
        });
    }
}
