using System.CommandLine;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz saliency | deconv | guided --input IMG [--class K | --layer L --unit C|C,Y,X]`: one
/// backward pass from the target to the input with the method's ReLU rule, written in the
/// Toolbox's four displays (raw, gray, norm, normblur) to OUT/&lt;method&gt;/, with the input as the
/// model sees it, an experiment card, and with --raw the gradient itself as .npy (1, C, H, W).
/// </summary>
public static class AttributionCommand
{
    public static Command Saliency() => Create("saliency", ReluRule.Gradient, "Vanilla gradient (Simonyan et al. 2014): d target / d input");
    public static Command Deconv() => Create("deconv", ReluRule.Deconvnet, "Zeiler-Fergus deconvnet projection of a target back to the input");
    public static Command Guided() => Create("guided", ReluRule.Guided, "Guided backprop (Springenberg et al. 2015) from a target to the input");

    /// <summary>A Gaussian wider than this many pixels blurs a 227-pixel input to one flat gray.</summary>
    public const float MaxBlurSigma = 100;

    private static Command Create(string method, ReluRule rule, string description)
    {
        var model = CommonOptions.Model();
        var input = CommonOptions.Input();
        var layer = new Option<string?>("--layer") { Description = "Layer of --unit (default: the last conv layer)" };
        var unit = new Option<string?>("--unit") { Description = "Channel C (all its positions) or C,Y,X (one neuron) of --layer" };
        var classIndex = CommonOptions.Class("Class logit to explain (default: the top predicted class)");
        var raw = new Option<string?>("--raw") { Description = "Also write d target / d input as float32 .npy, shape (1, C, H, W)" };
        var sigma = new Option<float?>("--blur-sigma") { Description = "Gaussian sigma of the normblur display, in input pixels (default 4 at 227 pixels, scaled to the input)" }.Positive(MaxBlurSigma);
        var colormap = CommonOptions.Colormap(Colormap.Gray);
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command(method, description) { model, input, layer, unit, classIndex, raw, sigma, colormap, output, backend, device };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(method, rule, result.GetValue(model)!, result.GetValue(input)!, result.GetValue(layer), result.GetValue(unit),
            result.GetValue(classIndex), result.GetValue(raw), result.GetValue(sigma), result.GetValue(colormap), result.GetValue(output)!,
            result.GetValue(backend)!, result.GetValue(device), cancellation)));
        return command;
    }

    private static int Execute(string method, ReluRule rule, string modelName, InputSource inputPath, string? layerName, string? unitText, string? classIndex,
        string? rawPath, float? blurSigma, Colormap colormap, string outFolder, string backendName, int? device, CancellationToken cancellation)
    {
        CommonOptions.RefuseClassWithUnit(classIndex, layerName, unitText);
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        using var x = Inputs.Load(inputPath, bundle, backend);
        var target = TargetSelection.Resolve(bundle, x, classIndex, layerName, CommonOptions.Unit(unitText));
        var card = new ExperimentCard(method, bundle.Source, inputPath);
        card.Parameters["backend"] = backend.Description;
        string folder = Path.Combine(outFolder, method);
        AttributionRuns.Run(bundle, x, Path.GetFileNameWithoutExtension(inputPath)!, target, rule, blurSigma, colormap, new RunOutputs(card, outFolder, folder), rawPath, cancellation);
        AnsiConsole.MarkupLine(Markup.Escape($"{method} of {target} for {inputPath}: {card.TimingsMs["forward+backward"]:F1} ms; wrote {card.Outputs.Count} files to {folder}/ and the card {card.Save(outFolder)}"));
        return 0;
    }
}
