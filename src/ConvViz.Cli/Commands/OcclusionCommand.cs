using System.CommandLine;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz occlusion --input IMG [--class K | --layer L --unit C|C,Y,X] [--patch N] [--stride N] [--fill PIXEL] [--normalize] [--no-labels]`:
/// slides a patch (black by default) over the input, records the class probability (or the unit's activation), and
/// renders the drop as a heatmap and an overlay with a colour bar of its real values (--normalize: stretched per image)
/// in OUT/occlusion/, with the card OUT/occlusion.json.
/// </summary>
public static class OcclusionCommand
{
    /// <summary>No model input is wider than this; the engine checks the patch against the model's own size.</summary>
    private const int MaxSide = 4096;

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var input = CommonOptions.Input();
        var layer = new Option<string?>("--layer") { Description = "Layer of --unit" };
        var unit = new Option<string?>("--unit") { Description = "Channel C (summed over positions) or C,Y,X of --layer" };
        var classIndex = CommonOptions.Class("Class whose probability is recorded (default: the top predicted class)");
        var patch = new Option<int?>("--patch") { Description = "Patch side in input pixels (default: a seventh of the input)" }.InRange(1, MaxSide);
        var stride = new Option<int?>("--stride") { Description = "Step between patches (default: half the patch)" }.InRange(1, MaxSide);
        var fill = new Option<float?>("--fill") { Description = "Patch pixel value 0..255 in every channel (default: 0, black, so a patch over a black background changes nothing)" }.InRange(0, 255).Names("FillPixel");
        var batch = new Option<int>("--batch") { Description = "Occluded copies per forward pass", DefaultValueFactory = _ => 32 }.InRange(1, CommonOptions.MaxInputBatch).Names("BatchSize");
        var normalize = new Option<bool>("--normalize") { Description = "Draw the drop stretched to its own maximum (as before) rather than in its real units (probability or activation)" };
        var noLabels = CommonOptions.NoLabels("no title or colour bar on the heatmaps");
        var colormap = CommonOptions.Colormap(Colormap.Jet);
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command("occlusion", "Occlusion sensitivity (Zeiler & Fergus 2014): where covering the image changes the answer")
            { model, input, layer, unit, classIndex, patch, stride, fill, batch, normalize, noLabels, colormap, output, backend, device };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(result.GetValue(model)!, result.GetValue(input)!, result.GetValue(layer), result.GetValue(unit),
            result.GetValue(classIndex), result.GetValue(patch), result.GetValue(stride), result.GetValue(fill), result.GetValue(batch), result.GetValue(normalize), result.GetValue(noLabels),
            result.GetValue(colormap), result.GetValue(output)!, result.GetValue(backend)!, result.GetValue(device), cancellation)));
        return command;
    }

    private static int Execute(string modelName, InputSource inputPath, string? layerName, string? unitText, string? classIndex, int? patchSize, int? strideSize,
        float? fillPixel, int batch, bool normalize, bool noLabels, Colormap colormap, string outFolder, string backendName, int? device, CancellationToken cancellation)
    {
        CommonOptions.RefuseClassWithUnit(classIndex, layerName, unitText);
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        using var x = Inputs.Load(inputPath, bundle, backend);
        var target = TargetSelection.Resolve(bundle, x, classIndex, layerName, CommonOptions.Unit(unitText));
        var options = new OcclusionOptions { Patch = patchSize, Stride = strideSize, FillPixel = fillPixel, BatchSize = batch, Normalize = normalize };
        var card = new ExperimentCard("occlusion", bundle.Source, inputPath);
        card.Parameters["backend"] = backend.Description;
        string folder = Path.Combine(outFolder, "occlusion");
        var run = ProgressBars.Run("occluding", 1, line =>
            OcclusionRuns.Run(bundle, x, Path.GetFileNameWithoutExtension(inputPath)!, target, classProbability: unitText is null, options, colormap,
                new RunOutputs(card, outFolder, folder) { Labels = !noLabels }, new ProgressAction<OcclusionProgress>(s =>
                {
                    line.Total = s.Total;
                    line.Report(s.Done, $"occluding {s.Done}/{s.Total} positions");
                }), cancellation));
        var map = run.Map;
        AnsiConsole.MarkupLine(Markup.Escape($"occlusion of {card.Target}: baseline {map.Baseline:G4}, lowest {map.Values.Min():G4} over {map.Rows}x{map.Cols} positions " +
            $"with a fill of {card.Parameters["fill"]}, in {card.TimingsMs["occlusion"] / 1000:F1} s; wrote {folder}/ and the card {card.Save(outFolder)}"));
        return 0;
    }
}
