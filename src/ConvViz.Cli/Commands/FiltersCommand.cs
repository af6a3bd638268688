using System.CommandLine;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>`convviz filters [--layer L] [--no-labels]`: learned conv filters as numbered tiles in OUT/filters/ (the first
/// layer's as color or gray tiles, deeper ones one row per filter of its 8 strongest input channels, 256 tiles a page:
/// &lt;layer&gt;.png, &lt;layer&gt;-page2.png, ...), and the card.</summary>
public static class FiltersCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var layer = new Option<string?>("--layer") { Description = "One conv layer (default: every conv layer)" };
        var noLabels = CommonOptions.NoLabels();
        var output = CommonOptions.Out();
        var command = new Command("filters", "Learned convolution filters as image tiles") { model, layer, noLabels, output };
        command.SetAction(result => Execute(result.GetValue(model)!, result.GetValue(layer), result.GetValue(noLabels), result.GetValue(output)!));
        return command;
    }

    private static void Execute(string modelName, string? layerName, bool noLabels, string outFolder)
    {
        using var backend = BackendCatalog.Create("cpu");
        using var bundle = ModelCatalog.Open(modelName, backend);
        var card = new ExperimentCard("filters", bundle.Source, "");
        var grids = LayerViewRuns.Filters(bundle, layerName, new RunOutputs(card, outFolder, Path.Combine(outFolder, "filters")) { Labels = !noLabels });
        foreach (var (layer, weights, files) in grids)
            AnsiConsole.MarkupLine(Markup.Escape($"{layer}: {weights[0]} filters of {weights[1]}x{weights[2]}x{weights[3]} -> {string.Join(", ", files)}"));
        AnsiConsole.MarkupLine(Markup.Escape($"card: {card.Save(outFolder)}"));
    }
}
