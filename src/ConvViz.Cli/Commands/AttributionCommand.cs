using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
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
        var classIndex = new Option<int?>("--class") { Description = "Class logit to explain (default: the top predicted class)" }.InRange(0, CommonOptions.MaxClass);
        var raw = new Option<string?>("--raw") { Description = "Also write d target / d input as float32 .npy, shape (1, C, H, W)" };
        var sigma = new Option<float?>("--blur-sigma") { Description = "Gaussian sigma of the normblur display, in input pixels (default 4 at 227 pixels, scaled to the input)" }.Positive(MaxBlurSigma);
        var colormap = CommonOptions.Colormap(Colormap.Gray);
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var command = new Command(method, description) { model, input, layer, unit, classIndex, raw, sigma, colormap, output, backend, device };
        command.SetAction(result => Execute(method, rule, result.GetValue(model)!, result.GetValue(input)!, result.GetValue(layer), result.GetValue(unit),
            result.GetValue(classIndex), result.GetValue(raw), result.GetValue(sigma), result.GetValue(colormap), result.GetValue(output)!,
            result.GetValue(backend)!, result.GetValue(device)));
        return command;
    }

    private static void Execute(string method, ReluRule rule, string modelName, string inputPath, string? layerName, string? unitText, int? classIndex,
        string? rawPath, float? blurSigma, Colormap colormap, string outFolder, string backendName, int? device)
    {
        RefuseClassWithUnit(classIndex, layerName, unitText);
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        using var x = Inputs.Load(inputPath, bundle, backend);
        var target = ResolveTarget(bundle, x, layerName, unitText, classIndex);
        var p = bundle.Preprocessing;
        float sigma = blurSigma ?? Attribution.DefaultBlurSigma(p);

        var card = new ExperimentCard(method, bundle.Source, inputPath) { Target = target.ToString() };
        card.Parameters["rule"] = rule.ToString();
        card.Parameters["seed"] = "1.0 at the target (every position of the channel when no position is given)";
        card.Parameters["blurSigma"] = sigma;
        card.Parameters["colormap"] = colormap.ToString();
        card.Parameters["backend"] = backend.Description;

        var clock = Stopwatch.StartNew();
        var gradient = Attribution.InputGradient(bundle.Network, x, target, rule);
        card.TimingsMs["forward+backward"] = clock.Elapsed.TotalMilliseconds;

        string folder = Path.Combine(outFolder, method);
        string stem = Inputs.FileName($"{Path.GetFileNameWithoutExtension(inputPath)}-{target.Layer}-{target.Channel}");
        Write(card, outFolder, Path.Combine(folder, $"{stem}-input.png"), ImageTensors.ToImage(backend.Download(x), p));
        foreach (var display in Enum.GetValues<GradientDisplay>())
            Write(card, outFolder, Path.Combine(folder, $"{stem}-{display.ToString().ToLowerInvariant()}.png"),
                Attribution.Render(gradient, p, display, backend, sigma, display == GradientDisplay.Raw && p.Channels == 3 ? null : colormap));
        if (rawPath is not null)
        {
            Npy.Write(rawPath, gradient, [1, p.Channels, p.Height, p.Width]);
            card.Outputs.Add(rawPath);
        }
        card.Results["maxAbsGradient"] = gradient.Max(Math.Abs);
        AnsiConsole.MarkupLine(Markup.Escape($"{method} of {target} for {inputPath}: {card.TimingsMs["forward+backward"]:F1} ms; wrote {card.Outputs.Count} files to {folder}/ and the card {card.Save(outFolder)}"));
    }

    /// <summary>--class K names a logit, --layer L --unit C a unit: given together, one of them would be ignored.</summary>
    internal static void RefuseClassWithUnit(int? classIndex, string? layerName, string? unitText)
    {
        if (classIndex is not null && (unitText is not null || layerName is not null))
            throw new UserError($"--class {classIndex} and {(unitText is not null ? $"--unit {unitText}" : $"--layer {layerName}")} name two targets: give either --class K or --layer L --unit C, not both");
    }

    /// <summary>--class K (the logit layer's channel K), --layer/--unit, or by default the top class.</summary>
    internal static Target ResolveTarget(ModelBundle bundle, ConvViz.Engine.Tensors.Tensor x, string? layerName, string? unitText, int? classIndex)
    {
        var network = bundle.Network;
        if (classIndex is not null || (unitText is null && layerName is null))
            ClassScores.Require(bundle, classIndex is { } c ? $"--class {c}" : "the default target (the top class)");
        string logits = Inputs.LogitLayer(bundle);
        if (classIndex is { } k)
        {
            if (k < 0 || k >= bundle.Classes.Count) throw new UserError($"--class {k} is outside the model's classes 0..{bundle.Classes.Count - 1}");
            return new Target(logits, k);
        }
        if (unitText is null && layerName is null)
        {
            using var pass = network.Forward(x, logits);
            var scores = x.Backend.Download(pass.Last);
            return new Target(logits, ClassPredictions.Top(scores, areProbabilities: false, 1)[0].Index);
        }
        string layer = layerName ?? network.Layers.LastOrDefault(l => l is Conv2dLayer)?.Name ?? throw new UserError("the model has no conv layer; give --layer");
        network.IndexOf(layer);
        if (unitText is null) throw new UserError($"--layer {layer} needs --unit C or C,Y,X");
        var (channel, y, xPosition) = Inputs.ParseUnit(unitText);
        return new Target(layer, channel, y, xPosition);
    }

    internal static void Write(ExperimentCard card, string outFolder, string path, Image8 image)
    {
        ImageFile.Write(path, image);
        card.Outputs.Add(Path.GetRelativePath(outFolder, path));
    }
}
