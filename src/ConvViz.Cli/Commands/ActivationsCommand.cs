using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz activations --input IMG [--layer L] [--no-labels]`: every layer's output for the input as a tiled
/// grid (one numbered tile per channel, as the Deep Visualization Toolbox shows them, with the layer's colour bar;
/// 256 tiles a page) in OUT/activations/, the top-5 classes, and the experiment card OUT/activations.json.
/// </summary>
public static class ActivationsCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var input = CommonOptions.Input();
        var layer = new Option<string?>("--layer") { Description = "Show only this layer, at a larger scale" };
        var colormap = CommonOptions.Colormap(Colormap.Gray);
        var normalize = new Option<Normalization>("--normalize") { Description = "Scale tiles together (PerLayer, as the Toolbox) or each on its own (PerTile)", DefaultValueFactory = _ => Normalization.PerLayer }.NamesOnly();
        var noLabels = CommonOptions.NoLabels();
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command("activations", "Every layer's activations for an input as tiled grids, and the top-5 classes")
            { model, input, layer, colormap, normalize, noLabels, output, backend, device };
        command.SetAction(result => Execute(result.GetValue(model)!, result.GetValue(input)!, result.GetValue(layer), result.GetValue(colormap),
            result.GetValue(normalize), result.GetValue(noLabels), result.GetValue(output)!, result.GetValue(backend)!, result.GetValue(device)));
        return command;
    }

    private static void Execute(string modelName, InputSource inputPath, string? layerName, Colormap colormap, Normalization normalization, bool noLabels,
        string outFolder, string backendName, int? device)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        using var x = Inputs.Load(inputPath, bundle, backend);
        var card = new ExperimentCard("activations", bundle.Source, inputPath);
        card.Parameters["backend"] = backend.Description;
        string folder = Path.Combine(outFolder, "activations");
        var run = LayerViewRuns.Activations(bundle, x, layerName, colormap, normalization, new RunOutputs(card, outFolder, folder) { Labels = !noLabels });
        if (run.Scores is not null) ForwardCommand.PrintTop(bundle, run.Scores, ClassPredictions.AreProbabilities(bundle.Network), 5);
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {run.Files.Count} activation grid(s) to {folder}/ and the card {card.Save(outFolder)}"));
    }
}
