using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz report [--model M] [--input IMAGES...] [--all-layers] --out DIR`: one self-contained HTML page per run
/// (DIR/report.html) with a table of contents and, for each image in a collapsible section: the input and top-5, the
/// rectifier and pooling layers' activations (--all-layers: every layer but dropout, flatten and reshape), and the
/// saliency, deconvnet, guided backprop, Grad-CAM and occlusion views for the top class and for the
/// strongest unit of the last conv layer; and the learned filters once. Without --input it uses the
/// first images of the model's samples/. The page is <see cref="Report"/>'s.
/// </summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var inputs = new Option<string[]>("--input") { Description = "Images (PNG, JPEG, PGM/PPM); default: the first sample of the first --samples classes of the model's samples/, or --sample N", AllowMultipleArgumentsPerToken = true };
        var samples = new Option<int>("--samples") { Description = "How many bundled samples to show when --input is not given", DefaultValueFactory = _ => 3 }.InRange(1, 1000);
        var sample = CommonOptions.Sample();
        var allLayers = new Option<bool>("--all-layers") { Description = "Show the activations of conv and fully connected pre-activations, LRN and the class scores too (dropout, flatten and reshape never)" };
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command("report", "One self-contained HTML page: input, top-5, activations, filters, saliency, deconvnet, guided backprop, Grad-CAM, occlusion")
            { model, inputs, samples, sample, allLayers, output, backend, device };
        command.SetAction((result, cancellation) =>
        {
            string[] images = result.GetValue(inputs) ?? [];
            if (images.Length > 0 && result.Given(samples))
                throw new UserError($"--samples {result.GetValue(samples)} picks bundled samples when no --input is given; with --input it would be ignored");
            if (result.GetValue(sample) is { } number && (images.Length > 0 || result.Given(samples)))
                throw new UserError($"--sample {number} names the one image to show; give it without {(images.Length > 0 ? "--input" : "--samples")}");
            Execute(result.GetValue(model)!, images, result.GetValue(sample), result.GetValue(samples),
                new ReportOptions { AllLayers = result.GetValue(allLayers) }, result.GetValue(output)!, result.GetValue(backend)!, result.GetValue(device),
                cancellation);
            return Task.FromResult(0);
        });
        return command;
    }

    private static void Execute(string modelName, string[] inputPaths, int? sample, int sampleCount, ReportOptions options, string outFolder, string backendName, int? device,
        CancellationToken cancellation)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        var images = inputPaths.Length > 0 ? inputPaths.Select(p => (Name: p, Image: Inputs.ReadImage(p))).ToList()
            : sample is { } number ? [Named(bundle.Sample(number))]
            : bundle.SampleCount > 0 ? Report.SampleImages(bundle, sampleCount)
            : throw new UserError($"{bundle.Source} has no samples/ folder; give --input IMAGES");
        var card = new ExperimentCard("report", bundle.Source, string.Join(", ", images.Select(i => i.Name)));
        card.Parameters["backend"] = backend.Description;
        card.Parameters["allLayers"] = options.AllLayers;

        var clock = Stopwatch.StartNew();
        string file = ProgressBars.Run("report", images.Count, line => Report.Write(bundle, images, outFolder, options,
            new ProgressAction<ReportProgress>(p => line.Report(p.Images, p.Name is null ? null : $"report: {p.Name}")), cancellation).File);
        card.TimingsMs["report"] = clock.Elapsed.TotalMilliseconds;
        card.Outputs.Add(Path.GetRelativePath(outFolder, file));
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {file} ({new FileInfo(file).Length / 1024} KB, {images.Count} image(s), {clock.Elapsed.TotalSeconds:F1} s) and the card {card.Save(outFolder)}"));
    }

    private static (string Name, Image8 Image) Named(BundleSample sample) => ($"sample {sample.Number}: {sample.Name}", sample.Image);
}
