using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Data;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz atlas [--layers relu5,fc7] [--units [LAYER:]0-15,20 ...] [--k 9] [--preset 3] [--iterations N] [--resume]`: for every
/// chosen unit its top-k dataset patches with their deconvnet projections and its optimized image, static pages to browse
/// them and the manifest `convviz serve --atlas` reads, in OUT/atlas/ (the card OUT/atlas.json). Ctrl+C leaves the
/// atlas for --resume, which does not redo units already optimized.
/// </summary>
public static class AtlasCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var data = new Option<string?>("--data")
        {
            Description = $"MNIST-style folder of IDX files, an images IDX file with its labels file beside it, or a folder of photos (subfolders are classes); default as topk: {DataSets.DefaultFolder} for a 28x28 gray model when installed, else the model's own samples/",
        };
        var layers = new Option<string?>("--layers") { Description = "Layers of the atlas, comma-separated (default: the ReLU after the last conv)" };
        var units = new Option<string[]>("--units")
        {
            Description = "Units to cover, e.g. 0-15,20 for every layer, or fc7:0-15 for one layer (repeat the option for several); default all",
            AllowMultipleArgumentsPerToken = false,
        };
        var k = new Option<int>("--k") { Description = "Top images per unit", DefaultValueFactory = _ => 9 }.InRange(1, 100).Names("K");
        var preset = new Option<int>("--preset") { Description = "The optimization's setting from the paper's Table 1, 1 to 4", DefaultValueFactory = _ => 3 }.InRange(1, 4);
        var iterations = new Option<int?>("--iterations") { Description = "Optimization steps per unit (default: the preset's)" }.InRange(1, 100_000);
        var resume = new Option<bool>("--resume") { Description = "Continue the interrupted atlas in --out" };
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("atlas", "Every unit's top-k patches, deconvolutions and optimized image, as browsable pages (and for serve --atlas)")
        {
            model, data, layers, units, k, preset, iterations, resume, output, backend, device, threads,
        };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(new Request(result.GetValue(model)!, result.GetValue(data), result.GetValue(layers),
            result.GetValue(units) ?? [], result.GetValue(k), result.GetValue(preset), result.GetValue(iterations), result.GetValue(resume), result.GetValue(output)!),
            result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads), cancellation)));
        return command;
    }

    private sealed record Request(string Model, string? Data, string? Layers, string[] Units, int K, int Preset, int? Iterations, bool Resume, string Out);

    private static int Execute(Request request, string backendName, int? device, int? threads, CancellationToken cancellation)
    {
        var (allLayers, layerUnits) = ParseUnits(request.Units);
        using var backend = BackendCatalog.Create(backendName, device, threads);
        using var bundle = ModelCatalog.Open(request.Model, backend);
        var images = DataSets.Open(request.Data, LabeledImages.TestSplit, bundle, "mining");
        var options = new AtlasOptions
        {
            Layers = request.Layers?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries), Units = allLayers, LayerUnits = layerUnits,
            K = request.K, Preset = request.Preset, Iterations = request.Iterations, Resume = request.Resume,
        };
        var card = new ExperimentCard("atlas", bundle.Source, images.Source);
        card.Parameters["backend"] = backend.Description;
        var clock = Stopwatch.StartNew();
        AtlasRun run = null!;
        ProgressBars.Create().Start(context =>
        {
            ProgressLine? mining = null, optimizing = null;
            var patches = new Dictionary<string, ProgressLine>();
            int iterations = 0;
            run = AtlasRuns.Run(bundle, images, options, new RunOutputs(card, request.Out, Path.Combine(request.Out, Atlas.RunFolder)), new ProgressAction<AtlasProgress>(report =>
            {
                switch (report)
                {
                    case AtlasStarted started:
                        iterations = started.Iterations;
                        mining = ProgressBars.Add(context, "mining", started.Images);
                        mining.Report(started.ImagesMined);
                        optimizing = ProgressBars.Add(context, "optimizing", (double)started.Units * iterations);
                        optimizing.Report((double)started.UnitsOptimized * iterations, $"optimizing  {started.UnitsOptimized}/{started.Units} units");
                        break;
                    case AtlasMiningBatch { Report: var p }:
                        mining!.Report(p.Processed, $"mining  {p.Processed}/{p.Images} images");
                        break;
                    case AtlasPatchBatch { Report: var p }:
                        if (!patches.TryGetValue(p.Layer, out var line)) patches[p.Layer] = line = ProgressBars.Add(context, $"deconvnet {p.Layer}", p.Total);
                        line.Report(p.Done, $"deconvnet {p.Layer}  {p.Done}/{p.Total}");
                        break;
                    case AtlasOptimizeStep step:
                        optimizing!.Report((double)step.UnitsDone * iterations + (double)(step.Iteration + 1) * step.Units.Count,
                            $"optimizing {step.Layer} units {step.Units[0]}-{step.Units[^1]}  step {step.Iteration + 1}/{step.Iterations}  mean objective {step.Objective:G5}");
                        break;
                }
            }), cancellation);
        });
        if (!run.Complete)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"interrupted after {run.ImagesMined} of {run.Images} images mined and {run.UnitsOptimized} of {run.Units} units optimized; " +
                $"the state is in {run.StatePath}; continue with `convviz atlas --out {request.Out} --resume` and the same options"));
            return 130;
        }
        AnsiConsole.MarkupLine(Markup.Escape($"atlas of {run.Units} units (top {request.K} of {run.Images} images each, and each one's optimized image) in {clock.Elapsed.TotalSeconds:F1} s; " +
            $"pages {run.Index}; manifest {run.Manifest}; card {card.Save(request.Out)}; browse it live with `convviz serve --atlas {request.Out}`"));
        return 0;
    }

    /// <summary>--units values: "0-15,20" for every layer, "LAYER:0-15" for one (split at the last ':', since a layer's name may hold one).</summary>
    internal static (IReadOnlyList<int>? AllLayers, IReadOnlyDictionary<string, IReadOnlyList<int>>? ByLayer) ParseUnits(IReadOnlyList<string> values)
    {
        IReadOnlyList<int>? all = null;
        var byLayer = new Dictionary<string, IReadOnlyList<int>>();
        foreach (string value in values)
        {
            int colon = value.LastIndexOf(':');
            var channels = OptimizeCommand.ParseUnits(value[(colon + 1)..]);
            if (colon < 0)
            {
                if (all is not null) throw new UserError($"--units {value}: a list for every layer is given twice; give it once, or name each layer as LAYER:LIST");
                all = channels;
            }
            else if (!byLayer.TryAdd(value[..colon], channels))
                throw new UserError($"--units {value}: layer '{value[..colon]}' is given twice; give each layer's units once");
        }
        return (all, byLayer.Count == 0 ? null : byLayer);
    }
}
