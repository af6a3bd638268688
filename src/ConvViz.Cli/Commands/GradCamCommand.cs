using System.CommandLine;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz gradcam --input IMG [--layer L] [--class K] [--normalize] [--no-labels]`: the Grad-CAM heatmap of a class on a conv
/// layer's feature maps (default: the last ReLU with spatial maps, e.g. the one after a ResNet's last residual Add), overlaid on the
/// input, with a colour bar of the map's real values (--normalize: divided by its maximum), and guided Grad-CAM; images in
/// OUT/gradcam/ and the card OUT/gradcam.json.
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
        var normalize = new Option<bool>("--normalize") { Description = "Draw the map divided by its maximum (as before) rather than in its real values" };
        var noLabels = CommonOptions.NoLabels("no title or colour bar on the heatmaps");
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command("gradcam", "Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017) of a class on a conv layer")
            { model, input, layer, classIndex, colormap, opacity, normalize, noLabels, output, backend, device };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(result.GetValue(model)!, result.GetValue(input)!, result.GetValue(layer), result.GetValue(classIndex),
            result.GetValue(colormap), result.GetValue(opacity), result.GetValue(normalize), result.GetValue(noLabels), result.GetValue(output)!, result.GetValue(backend)!, result.GetValue(device), cancellation)));
        return command;
    }

    private static int Execute(string modelName, InputSource inputPath, string? layerName, string? classIndex, Colormap colormap, float opacity, bool normalize, bool noLabels,
        string outFolder, string backendName, int? device, CancellationToken cancellation)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        using var x = Inputs.Load(inputPath, bundle, backend);
        var card = new ExperimentCard("gradcam", bundle.Source, inputPath);
        card.Parameters["backend"] = backend.Description;
        string folder = Path.Combine(outFolder, "gradcam");
        var run = GradCamRuns.Run(bundle, x, Path.GetFileNameWithoutExtension(inputPath)!, layerName, classIndex, colormap, opacity, normalize, new RunOutputs(card, outFolder, folder) { Labels = !noLabels }, cancellation);
        AnsiConsole.MarkupLine(Markup.Escape($"Grad-CAM of {bundle.Classes[run.Target.Channel]} (class {run.Target.Channel}) on {run.Layer} ({run.Map.Height}x{run.Map.Width}): " +
            $"wrote {folder}/ and the card {card.Save(outFolder)}"));
        return 0;
    }
}
