using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz report [--model M] [--input IMAGES...] --out DIR`: one self-contained HTML page per run
/// (DIR/report.html) with, for each image: the input and top-5, every layer's activations, and the
/// saliency, deconvnet, guided backprop, Grad-CAM and occlusion views for the top class and for the
/// strongest unit of the last conv layer; and the learned filters once. Without --input it uses the
/// first images of the model's samples/.
/// </summary>
public static class ReportCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var inputs = new Option<string[]>("--input") { Description = "Images (PNG, JPEG, PGM/PPM); default: the first sample of the first --samples classes of the model's samples/", AllowMultipleArgumentsPerToken = true };
        var samples = new Option<int>("--samples") { Description = "How many bundled samples to show when --input is not given", DefaultValueFactory = _ => 3 }.InRange(1, 1000);
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command("report", "One self-contained HTML page: input, top-5, activations, filters, saliency, deconvnet, guided backprop, Grad-CAM, occlusion")
            { model, inputs, samples, output, backend, device };
        command.SetAction(result =>
        {
            string[] images = result.GetValue(inputs) ?? [];
            if (images.Length > 0 && result.Given(samples))
                throw new UserError($"--samples {result.GetValue(samples)} picks bundled samples when no --input is given; with --input it would be ignored");
            Execute(result.GetValue(model)!, images, result.GetValue(samples), result.GetValue(output)!, result.GetValue(backend)!, result.GetValue(device));
        });
        return command;
    }

    private static void Execute(string modelName, string[] inputPaths, int sampleCount, string outFolder, string backendName, int? device)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        var images = inputPaths.Length > 0 ? inputPaths.Select(p => (Name: p, Image: Inputs.ReadImage(p))).ToList() : Samples(bundle, sampleCount);
        var card = new ExperimentCard("report", bundle.Source, string.Join(", ", images.Select(i => i.Name)));
        card.Parameters["backend"] = backend.Description;
        var page = new ReportPage($"ConvViz report: {bundle.Source}");
        page.Paragraph($"Model {bundle.Source}: {bundle.Network.Layers.Count} layers, input {string.Join("x", bundle.Network.SampleShape.ToArray())}, " +
                       $"{(bundle.HasClasses ? $"{bundle.Classes.Count} classes" : "no classifier (its last layer outputs features)")}. Preprocessing: {bundle.Preprocessing}. Made by convviz on {backend.Description}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");

        var clock = Stopwatch.StartNew();
        ProgressBars.Run("report", images.Count, line =>
            {
                for (int i = 0; i < images.Count; i++)
                {
                    line.Report(i, $"report: {images[i].Name}");
                    AddImage(page, bundle, backend, images[i].Name, images[i].Image);
                }
                line.Report(images.Count);
            });
        AddFilters(page, bundle, backend);
        card.TimingsMs["report"] = clock.Elapsed.TotalMilliseconds;

        Directory.CreateDirectory(outFolder);
        string file = Path.Combine(outFolder, "report.html");
        AtomicFile.WriteAllText(file, page.ToHtml());
        card.Outputs.Add("report.html");
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {file} ({new FileInfo(file).Length / 1024} KB, {images.Count} image(s), {clock.Elapsed.TotalSeconds:F1} s) and the card {card.Save(outFolder)}"));
    }

    /// <summary>The first sample of each of the first <paramref name="count"/> classes of the bundle's samples/;
    /// for a model without classes, the first <paramref name="count"/> samples.</summary>
    private static List<(string Name, Image8 Image)> Samples(ModelBundle bundle, int count)
    {
        var samples = DataSets.Samples(bundle);
        if (!bundle.HasClasses)
            return Enumerable.Range(0, Math.Min(count, samples.Count)).Select(i => ($"sample {i}", samples.ToImage(i))).ToList();
        return Enumerable.Range(0, samples.ClassCount).Take(count)
            .Select(c => Enumerable.Range(0, samples.Count).First(i => samples.Label(i) == c))
            .Select(i => ($"sample {i} (a {bundle.Classes[samples.Label(i)]})", samples.ToImage(i)))
            .ToList();
    }

    private static void AddImage(ReportPage page, ModelBundle bundle, Backend backend, string name, Image8 image)
    {
        var network = bundle.Network;
        var p = bundle.Preprocessing;
        using var x = backend.Upload(ImageTensors.ToInput(image, p), network.InputShape(1));
        using var pass = network.Forward(x);
        var seen = ImageTensors.ToImage(backend.Download(x), p);

        page.Heading(name);
        page.Figures([(seen, "The input as the model sees it (after resizing, cropping and channel conversion).")]);
        var top = bundle.HasClasses ? ClassPredictions.Top(network, backend.Download(pass.Last), 5) : null;
        if (top is not null)
            page.Table(["#", "class", "name", "probability"], top.Select((t, r) => new[] { (r + 1).ToString(), t.Index.ToString(), bundle.Classes[t.Index], t.Probability.ToString("F4") }));

        page.Heading("Activations", 3);
        page.Paragraph("Every layer's output for this input, one tile per channel, all tiles of a layer on one gray scale (black = the layer's lowest value, white = its highest), as in the Deep Visualization Toolbox.");
        page.Figures(network.Layers.Select((layer, i) =>
        {
            var y = pass.Outputs[i].Y;
            return (LayerViews.Activations(backend.Download(y), y.Shape, tilePixels: 12), $"{layer.Name} ({layer.OpType}): {Describe(y.Shape)}");
        }), minimumWidth: 0);

        if (top is not null)
        {
            var classTarget = new Target(Inputs.LogitLayer(bundle), top[0].Index);
            page.Heading($"Why \"{bundle.Classes[top[0].Index]}\" (class {top[0].Index}, probability {top[0].Probability:F3})", 3);
            page.Figures(Views(bundle, backend, x, seen, classTarget, isClass: true, GradCamLayer(bundle, classTarget)));
        }

        var unit = StrongestUnit(bundle, backend, pass);
        page.Heading($"The strongest unit of {unit.Layer}: channel {unit.Channel} at ({unit.Y}, {unit.X})", 3);
        page.Paragraph($"The channel of {unit.Layer} with the highest activation anywhere for this input, explained at its peak.");
        page.Figures(Views(bundle, backend, x, seen, unit, isClass: false, GradCamLayer(bundle, unit)));
    }

    /// <summary>Saliency, deconvnet, guided backprop, Grad-CAM, guided Grad-CAM and occlusion for one target.</summary>
    private static List<(Image8, string)> Views(ModelBundle bundle, Backend backend, Tensor x, Image8 seen, Target target, bool isClass, string? camLayer)
    {
        var p = bundle.Preprocessing;
        var network = bundle.Network;
        float sigma = Attribution.DefaultBlurSigma(p);
        var gradients = Attribution.InputGradients(network, x, target, ReluRule.Gradient, ReluRule.Deconvnet, ReluRule.Guided);
        var (gradient, deconv, guided) = (gradients[0], gradients[1], gradients[2]);
        var views = new List<(Image8, string)>
        {
            (Attribution.Render(gradient, p, GradientDisplay.Norm, backend, sigma), "Saliency (Simonyan et al.): |d target / d input|, the L2 norm over channels; bright pixels change the target most."),
            (Attribution.Render(gradient, p, GradientDisplay.NormBlur, backend, sigma), $"Saliency, blurred (Gaussian sigma {sigma:F1} px), as the Toolbox's normblur."),
            (Attribution.Render(deconv, p, GradientDisplay.Raw, backend, sigma), "Deconvnet (Zeiler & Fergus): the target projected back through unpooling switches and rectified transposed filters; mid gray is zero."),
            (Attribution.Render(guided, p, GradientDisplay.Raw, backend, sigma), "Guided backprop (Springenberg et al.): the gradient, keeping only positive signals through every ReLU; mid gray is zero."),
        };
        if (camLayer is not null)
        {
            var cam = GradCam.Compute(network, x, camLayer, target);
            var heat = GradCam.Upsampled(cam, p.Height, p.Width);
            views.Add((Colormap.Jet.Overlay(seen, heat), $"Grad-CAM (Selvaraju et al.) on {camLayer} ({cam.Height}x{cam.Width}, upsampled): red regions' features raise the target."));
            views.Add((Attribution.Render(GradCam.Guided(guided, heat), p, GradientDisplay.Raw, backend, sigma), "Guided Grad-CAM: guided backprop times the Grad-CAM map."));
        }
        int patch = Occlusion.DefaultPatch(p.Height, p.Width);
        var occlusion = Occlusion.Compute(network, x, target, isClass, patch, Math.Max(1, patch / 2), new float[p.Channels]);
        views.Add((Colormap.Jet.Overlay(seen, OcclusionMaps.Heat(occlusion, p.Height, p.Width)),
            $"Occlusion (Zeiler & Fergus): a {patch}x{patch} patch of the mean pixel slid over the image; red where covering it lowers the " +
            (isClass ? $"probability (from {occlusion.Baseline:F3}, lowest {occlusion.Values.Min():F3})." : $"activation (from {occlusion.Baseline:G3}, lowest {occlusion.Values.Min():G3}).")));
        return views;
    }

    private static void AddFilters(ReportPage page, ModelBundle bundle, Backend backend)
    {
        page.Heading("Learned filters");
        page.Paragraph("Each conv layer's weights on one gray scale (mid gray is about zero): the first layer one tile per filter, deeper layers one row per filter and one column per input channel of its group.");
        page.Figures(bundle.Network.Layers.OfType<Conv2dLayer>().Select(conv =>
            (LayerViews.Filters(backend.Download(conv.Weight.Value), conv.Weight.Value.Shape, bundle.Preprocessing.Order, tilePixels: 6),
             $"{conv.Name}: {conv.Weight.Value.Shape[0]} filters of {conv.Weight.Value.Shape[1]}x{conv.Weight.Value.Shape[2]}x{conv.Weight.Value.Shape[3]}")), minimumWidth: 0);
    }

    /// <summary>The ReLU after the last conv layer (or that conv layer): its channel with the highest activation, at its peak.</summary>
    private static Target StrongestUnit(ModelBundle bundle, Backend backend, Engine.Networks.ForwardPass pass)
    {
        var layers = bundle.Network.Layers;
        int index = bundle.Network.IndexOf(LayerRoles.LastSpatialRectifier(bundle.Network));
        var y = pass.Outputs[index].Y;
        var values = backend.Download(y);
        int plane = y.Shape.H * y.Shape.W, best = 0;
        for (int i = 1; i < y.Shape.C * plane; i++)
            if (values[i] > values[best]) best = i;
        return new Target(layers[index].Name, best / plane, best % plane / y.Shape.W, best % y.Shape.W);
    }

    /// <summary>The feature maps for Grad-CAM: the last rectified conv output (else conv output) strictly below the target, or null.</summary>
    private static string? GradCamLayer(ModelBundle bundle, Target target)
    {
        var network = bundle.Network;
        var below = network.Layers.Take(network.IndexOf(target.Layer)).Where(l => network.OutputShape(l.Name, 1).Rank == 4).ToList();
        return (below.LastOrDefault(LayerRoles.IsRectifier) ?? below.LastOrDefault(l => l is Conv2dLayer))?.Name;
    }

    private static string Describe(Shape shape) => shape.Rank == 4 ? $"{shape.C} channels of {shape.H}x{shape.W}" : $"{shape.SampleSize} units";
}
