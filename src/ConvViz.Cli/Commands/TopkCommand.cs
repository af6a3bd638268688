using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Data;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
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
    private const string StateFile = "state.json", IndexFile = TopKViews.IndexFile;
    private const long MaxProjectionValues = 1L << 28;

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
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("topk", "Top-k images and receptive-field patches per unit, with their deconvnet projections")
        {
            model, data, split, limit, layers, k, batch, resume, stopAfter, output, backend, device, threads,
        };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(new Request(result.GetValue(model)!, result.GetValue(data), result.GetValue(split)!, result.GetValue(limit),
            result.GetValue(layers), result.GetValue(k), result.GetValue(batch), result.GetValue(resume), result.GetValue(stopAfter), result.GetValue(output)!),
            result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads), cancellation)));
        return command;
    }

    private sealed record Request(string Model, string? Data, string Split, int? Limit, string? Layers, int K, int Batch, bool Resume, int? StopAfter, string Out);

    /// <summary>Mines; cancelled (Ctrl+C), the pass stops at a batch boundary with its state saved for --resume.</summary>
    private static int Execute(Request request, string backendName, int? device, int? threads, CancellationToken cancellation)
    {
        if (request.Split is not (LabeledImages.TestSplit or LabeledImages.TrainSplit))
            throw new UserError($"--split '{request.Split}' is unknown; expected {LabeledImages.TestSplit} or {LabeledImages.TrainSplit}");
        string folder = Path.Combine(request.Out, "topk"), statePath = Path.Combine(folder, StateFile);
        if (!request.Resume && File.Exists(statePath))
            throw new UserError(File.Exists(Path.Combine(folder, IndexFile))
                ? $"{folder} already holds a finished top-k run; choose another --out (or --resume to render it again)"
                : $"{folder} already holds an interrupted top-k run; continue it with --resume, or choose another --out");
        if (request.Resume && !File.Exists(statePath))
            throw new UserError($"--resume: {statePath} does not exist; there is no interrupted top-k run in {request.Out}");

        using var backend = BackendCatalog.Create(backendName, device, threads);
        using var bundle = ModelCatalog.Open(request.Model, backend);
        var images = DataSets.Open(request.Data, request.Split, bundle, "mining", request.Limit);
        ImageBatches.CheckFits(bundle.Network, bundle.Preprocessing, images, bundle.Classes.Count);
        var layerNames = request.Layers?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [LayerRoles.LastSpatialRectifier(bundle.Network)];
        foreach (var name in layerNames) bundle.Network.IndexOf(name);
        // The projections of every unit's k images are held together while they are rendered.
        long projectionValues = layerNames.Sum(name => (long)bundle.Network.OutputShape(name, 1)[1]) * request.K * bundle.Network.SampleShape.ElementCount;
        if (projectionValues > MaxProjectionValues)
            throw new UserError($"--k {request.K} for the {layerNames.Sum(name => (long)bundle.Network.OutputShape(name, 1)[1]):N0} units of {string.Join(", ", layerNames)} " +
                                $"makes {projectionValues:N0} projection values, more than the {MaxProjectionValues:N0} (1 GiB) one run may hold; give a smaller --k or fewer layers");
        var asked = new TopKState { Model = bundle.Source, Data = images.Source, Images = images.Count, K = request.K, Layers = layerNames };
        var state = asked;
        if (request.Resume)
        {
            state = TopKState.Load(statePath);
            state.RequireSame(asked);
        }

        var card = new ExperimentCard("topk", bundle.Source, asked.Data);
        card.Parameters["layers"] = layerNames;
        card.Parameters["k"] = request.K;
        card.Parameters["images"] = images.Count;
        card.Parameters["batch"] = request.Batch;
        card.Parameters["backend"] = backend.Description;
        var clock = Stopwatch.StartNew();
        int resumedAt = state.Processed;
        var units = ProgressBars.Run("mining", state.Images, line =>
            TopKMining.Run(bundle.Network, bundle.Preprocessing, images, state, request.Batch, statePath,
                Counting<TopKProgress>(line, "mining", state.Images, resumedAt, p => p.Processed), request.StopAfter, cancellation));
        card.TimingsMs["pass"] = clock.Elapsed.TotalMilliseconds;
        if (!state.Complete && !File.Exists(statePath))
        {
            // Stopped before the first batch was saved: there is nothing to resume.
            AnsiConsole.MarkupLine(Markup.Escape($"interrupted before the first batch was saved: nothing is saved in {folder}"));
            return 130;
        }
        if (!state.Complete)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"{(cancellation.IsCancellationRequested ? "interrupted" : "stopped")} after {state.Processed} of {state.Images} images; " +
                $"the state is in {statePath}; continue with `convviz topk --out {request.Out} --resume` and the same options"));
            return cancellation.IsCancellationRequested ? 130 : 0;
        }

        clock.Restart();
        IReadOnlyList<string> files = [];
        ProgressBars.Create().Start(context =>
        {
            var lines = new Dictionary<string, IProgress<TopKViewProgress>>();
            files = TopKViews.Write(bundle.Network, bundle.Preprocessing, images, units, bundle.Source, request.Batch, folder,
                new ProgressAction<TopKViewProgress>(p =>
                {
                    if (!lines.TryGetValue(p.Layer, out var line))
                        lines[p.Layer] = line = Counting<TopKViewProgress>(ProgressBars.Add(context, $"deconvnet {p.Layer}", p.Total), $"deconvnet {p.Layer}", p.Total, 0, r => r.Done);
                    line.Report(p);
                }), cancellation).Files;
        });
        card.TimingsMs["projections and images"] = clock.Elapsed.TotalMilliseconds;
        foreach (string file in files) card.Outputs.Add(Path.GetRelativePath(request.Out, file));
        string indexPath = files[^1];
        card.Results["units"] = units.Sum(u => u.Channels);
        AnsiConsole.MarkupLine(Markup.Escape($"top {request.K} of {images.Count} images for {units.Sum(u => u.Channels)} units of {string.Join(", ", layerNames)} " +
            $"in {(card.TimingsMs.Values.Sum() / 1000):F1} s; index {indexPath}; card {card.Save(request.Out)}"));
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
