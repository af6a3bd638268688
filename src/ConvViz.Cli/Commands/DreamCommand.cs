using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz dream [--layer L] [--input IMG] [--octaves 4] [--octave-scale 1.4] [--iterations 10]
/// [--step 1.5] [--jitter J] [--seed 0]`: DeepDream (google/deepdream's dream.ipynb) from --input,
/// the model's first sample image, or the mean plus noise; writes OUT/dream/&lt;start&gt;-&lt;layer&gt;&lt;settings&gt;-dream.png
/// (the settings that differ from the defaults), the start image and the card OUT/dream.json.
/// </summary>
public static class DreamCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var layer = new Option<string?>("--layer") { Description = "Layer whose activations' L2 is amplified (default: the ReLU after the third convolution)" };
        var input = CommonOptions.Input(required: false, "Start image (default: the model's first sample image, or the mean plus noise)");
        var octaves = new Option<int>("--octaves") { Description = "Octaves, from size / scale^(octaves-1) up to the model's size", DefaultValueFactory = _ => 4 }.InRange(1, 16);
        var octaveScale = new Option<float>("--octave-scale") { Description = "Size ratio between octaves", DefaultValueFactory = _ => 1.4f }.InRange(1, 4, minExclusive: true);
        var iterations = new Option<int>("--iterations") { Description = "Gradient steps per octave", DefaultValueFactory = _ => 10 }.InRange(1, 10_000);
        var step = new Option<float>("--step") { Description = "Mean pixel change per step", DefaultValueFactory = _ => 1.5f }.Positive(255);
        var jitter = new Option<int?>("--jitter") { Description = "Largest random roll in pixels (default: 32 at 224 pixels, scaled to the model's size)" }.InRange(0, 1024);
        var seed = new Option<int>("--seed") { Description = "Seed of the jitter (and of the start noise)", DefaultValueFactory = _ => 0 }.Seed();
        var raw = new Option<string?>("--raw") { Description = "Also write the dreamed image as the model's input, float32 .npy of shape (1, C, H, W): the tensor of the last forward pass" };
        var noLabels = CommonOptions.NoLabels("no objective chart");
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("dream", "Amplify what a layer sees in an image (DeepDream: octaves, jitter, normalized gradient ascent on the L2 of its activations)")
        {
            model, layer, input, octaves, octaveScale, iterations, step, jitter, seed, raw, noLabels, output, backend, device, threads,
        };
        command.SetAction((result, cancellation) =>
        {
            var options = new DreamOptions
            {
                Octaves = result.GetValue(octaves),
                OctaveScale = result.GetValue(octaveScale),
                Iterations = result.GetValue(iterations),
                Step = result.GetValue(step),
                Jitter = result.GetValue(jitter),
                Seed = result.GetValue(seed),
            };
            return Task.FromResult(Execute(result.GetValue(model)!, result.GetValue(layer), result.GetValue(input), options, result.GetValue(raw), result.GetValue(noLabels), result.GetValue(output)!,
                result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads), cancellation));
        });
        return command;
    }

    private static int Execute(string modelName, string? layerName, InputSource? inputPath, DreamOptions options, string? rawPath, bool noLabels, string outFolder,
        string backendName, int? device, int? threads, CancellationToken cancellation)
    {
        options.Validate();
        using var backend = BackendCatalog.Create(backendName, device, threads);
        using var bundle = ModelCatalog.Open(modelName, backend);
        var start = StartImage(bundle, inputPath, options.Seed);
        var card = new ExperimentCard("dream", bundle.Source, start.Description);
        card.Parameters["backend"] = backend.Description;
        var outputs = new RunOutputs(card, outFolder, Path.Combine(outFolder, "dream")) { Labels = !noLabels };
        var clock = Stopwatch.StartNew();
        var run = ProgressBars.Run("dreaming", options.Octaves * options.Iterations, line =>
            DreamRuns.Run(bundle, layerName, options, start, outputs, rawPath, new ProgressAction<DreamProgress>(s =>
                line.Report(s.Octave * s.Iterations + s.Iteration + 1,
                    $"octave {s.Octave + 1}/{s.Octaves}  step {s.Iteration + 1}/{s.Iterations}  objective {s.Objective:G5}  {line.StepMilliseconds:F1} ms/step")), cancellation));
        AnsiConsole.MarkupLine(Markup.Escape($"dreaming on layer '{run.Layer}' from {start.Description}"));
        foreach (var o in run.Result.Octaves)
            AnsiConsole.MarkupLine(Markup.Escape($"octave {o.Height}x{o.Width}: objective 0.5·Σa² {o.Before:G5} -> {o.After:G5} (mean a² {o.MeanSquareBefore:G4} -> {o.MeanSquareAfter:G4})"));
        AnsiConsole.MarkupLine(Markup.Escape($"{options.Octaves * options.Iterations} steps in {clock.Elapsed.TotalSeconds:F1} s; wrote {run.Image} and the card {card.Save(outFolder)}"));
        return 0;
    }

    /// <summary>The start image: --input, else the engine's default (the bundle's first sample, else the mean plus noise).</summary>
    private static NamedInput StartImage(ModelBundle bundle, InputSource? inputPath, int seed) => inputPath is null
        ? DreamRuns.DefaultStart(bundle, seed)
        : new NamedInput(Path.GetFileNameWithoutExtension(inputPath), ImageTensors.ToInput(Inputs.ReadImage(inputPath, bundle), bundle.Preprocessing), inputPath);
}
