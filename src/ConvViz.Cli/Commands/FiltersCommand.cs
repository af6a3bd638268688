using System.CommandLine;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>`convviz filters [--layer L]`: learned conv filters as tiles in OUT/filters/ (the first
/// layer's as color or gray tiles, deeper ones as filter x input-channel grids), and the card.</summary>
public static class FiltersCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var layer = new Option<string?>("--layer") { Description = "One conv layer (default: every conv layer)" };
        var output = CommonOptions.Out();
        var command = new Command("filters", "Learned convolution filters as image tiles") { model, layer, output };
        command.SetAction(result => Execute(result.GetValue(model)!, result.GetValue(layer), result.GetValue(output)!));
        return command;
    }

    private static void Execute(string modelName, string? layerName, string outFolder)
    {
        using var backend = BackendCatalog.Create("cpu");
        using var bundle = ModelCatalog.Open(modelName, backend);
        var convs = layerName is null
            ? bundle.Network.Layers.OfType<Conv2dLayer>().ToList()
            : [bundle.Network[layerName] as Conv2dLayer ?? throw new UserError($"--layer {layerName} is a {bundle.Network[layerName].OpType} layer; filters exist for conv layers: {string.Join(", ", bundle.Network.Layers.OfType<Conv2dLayer>().Select(l => l.Name))}")];
        var card = new ExperimentCard("filters", bundle.Source, "");
        card.Parameters["layer"] = layerName ?? "all conv layers";
        string folder = Path.Combine(outFolder, "filters");
        foreach (var conv in convs)
        {
            var weights = conv.Weight.Value;
            string file = Path.Combine(folder, Inputs.FileName(conv.Name) + ".png");
            ImageFile.Write(file, LayerViews.Filters(backend.Download(weights), weights.Shape, bundle.Preprocessing.Order));
            card.Outputs.Add(Path.GetRelativePath(outFolder, file));
            AnsiConsole.MarkupLine(Markup.Escape($"{conv.Name}: {weights.Shape[0]} filters of {weights.Shape[1]}x{weights.Shape[2]}x{weights.Shape[3]} -> {file}"));
        }
        AnsiConsole.MarkupLine(Markup.Escape($"card: {card.Save(outFolder)}"));
    }
}
