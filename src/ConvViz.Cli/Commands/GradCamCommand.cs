using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz gradcam --input IMG [--layer L] [--class K]`: the Grad-CAM heatmap of a class on a conv
/// layer's feature maps (default: the last ReLU with spatial maps, e.g. the one after a ResNet's last residual Add), overlaid on the
/// input, and guided Grad-CAM; images in OUT/gradcam/ and the card OUT/gradcam.json.
/// </summary>
public static class GradCamCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var input = CommonOptions.Input();
        var layer = new Option<string?>("--layer") { Description = "Feature-map layer (default: the last ReLU with spatial maps)" };
        var classIndex = CommonOptions.Class("Class to explain (default: the top predicted class)");
        var colormap = CommonOptions.Colormap(Colormap.Jet);
        var opacity = new Option<float>("--opacity") { Description = "Heatmap opacity over the input, 0..1", DefaultValueFactory = _ => 0.5f }.InRange(0, 1);
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command("gradcam", "Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017) of a class on a conv layer")
            { model, input, layer, classIndex, colormap, opacity, output, backend, device };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(result.GetValue(model)!, result.GetValue(input)!, result.GetValue(layer), result.GetValue(classIndex),
            result.GetValue(colormap), result.GetValue(opacity), result.GetValue(output)!, result.GetValue(backend)!, result.GetValue(device))));
        return command;
    }

    private static int Execute(string modelName, InputSource inputPath, string? layerName, string? classIndex, Colormap colormap, float opacity,
        string outFolder, string backendName, int? device)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        using var x = Inputs.Load(inputPath, bundle, backend);
        var network = bundle.Network;
        string layer = layerName ?? DefaultLayer(bundle);
        network.IndexOf(layer);
        ClassScores.Require(bundle, "gradcam (it has no unit form)",
            "for a unit use saliency, deconv, guided or occlusion with --layer L --unit C, or report, whose strongest-unit views include Grad-CAM");
        var target = TargetSelection.Resolve(bundle, x, classIndex);
        var p = bundle.Preprocessing;

        var card = new ExperimentCard("gradcam", bundle.Source, inputPath) { Target = target.ToString() };
        card.Parameters["layer"] = layer;
        card.Parameters["colormap"] = colormap.ToString();
        card.Parameters["opacity"] = opacity;
        card.Parameters["backend"] = backend.Description;
        var clock = Stopwatch.StartNew();
        var cam = GradCam.Compute(network, x, layer, target);
        card.TimingsMs["gradcam"] = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        var guided = Attribution.InputGradient(network, x, target, ReluRule.Guided);
        card.TimingsMs["guided backprop"] = clock.Elapsed.TotalMilliseconds;

        var heat = GradCam.Upsampled(cam, p.Height, p.Width);
        var image = ImageTensors.ToImage(backend.Download(x), p);
        string folder = Path.Combine(outFolder, "gradcam");
        string stem = Inputs.FileName($"{Path.GetFileNameWithoutExtension(inputPath)}-{layer}-class{target.Channel}");
        AttributionCommand.Write(card, outFolder, Path.Combine(folder, $"{stem}-heatmap.png"), Montage.Tile(heat, 1, p.Height, p.Width, Normalization.PerLayer, colormap, gap: 0));
        AttributionCommand.Write(card, outFolder, Path.Combine(folder, $"{stem}-overlay.png"), colormap.Overlay(image, heat, opacity));
        AttributionCommand.Write(card, outFolder, Path.Combine(folder, $"{stem}-guided-gradcam.png"),
            Attribution.Render(GradCam.Guided(guided, heat), p, GradientDisplay.Raw, backend, 1f));
        card.Results["mapSize"] = new[] { cam.Height, cam.Width };
        card.Results["map"] = cam.Map;
        AnsiConsole.MarkupLine(Markup.Escape($"Grad-CAM of {bundle.Classes[target.Channel]} (class {target.Channel}) on {layer} ({cam.Height}x{cam.Width}): wrote {folder}/ and the card {card.Save(outFolder)}"));
        return 0;
    }

    /// <summary>The last spatial ReLU (see <see cref="LayerRoles.LastSpatialRectifier"/>).</summary>
    private static string DefaultLayer(Engine.Models.ModelBundle bundle) =>
        LayerRoles.RectifiedConvolutions(bundle.Network).Count > 0 ? LayerRoles.LastSpatialRectifier(bundle.Network) : throw new UserError("the model has no conv layer for Grad-CAM");
}
