using System.CommandLine;
using System.Globalization;
using ConvViz.Engine.Backends;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz backward --model M --input X --layer L (--unit C|C,Y,X | --class K|NAME) [--rule R] [--dump DIR]`:
/// backpropagates from one unit (or class logit) to the input, printing the norm of the gradient
/// arriving at every layer; with --dump it writes each as DIR/&lt;layer&gt;.grad.npy and the input
/// gradient as DIR/input.grad.npy. For teaching backprop: watch where the signal goes.
/// </summary>
public static class BackwardCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var input = CommonOptions.Input();
        var layer = new Option<string?>("--layer") { Description = "Layer to start from (default: the logit layer with --class)" };
        var unit = new Option<string?>("--unit") { Description = "C (every position of channel C) or C,Y,X (one neuron) of --layer" };
        var classIndex = CommonOptions.Class("Class K: start from its logit (the last layer before any softmax)");
        var rule = new Option<ReluRule>("--rule") { Description = "How ReLU passes gradients back: Gradient, Deconvnet or Guided", DefaultValueFactory = _ => ReluRule.Gradient }.NamesOnly();
        var dump = new Option<string?>("--dump") { Description = "Folder for <layer>.grad.npy files (float32)" };
        var command = new Command("backward", "Backpropagate from a unit or class to the input; per-layer gradient norms and dumps")
            { model, backend, device, input, layer, unit, classIndex, rule, dump };
        command.SetAction(result => Execute(result.GetValue(model)!, result.GetValue(backend)!, result.GetValue(device), result.GetValue(input)!,
            result.GetValue(layer), result.GetValue(unit), result.GetValue(classIndex), result.GetValue(rule), result.GetValue(dump)));
        return command;
    }

    private static void Execute(string modelName, string backendName, int? device, InputSource inputPath, string? layerName,
        string? unitText, string? classText, ReluRule rule, string? dump)
    {
        if ((unitText is null) == (classText is null)) throw new UserError("give exactly one target: --unit C or C,Y,X, or --class K");
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        var network = bundle.Network;
        string from;
        (int Channel, int? Y, int? X) target;
        if (classText is not null)
        {
            ClassScores.Require(bundle, $"--class {classText}");
            from = layerName ?? ClassPredictions.LogitLayer(bundle.Network);
            if (int.TryParse(classText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int k) && (k < 0 || k >= bundle.Classes.Count))
                throw new UserError($"--class {k} is outside the model's {bundle.Classes.Count} classes (0 to {bundle.Classes.Count - 1})");
            target = (TargetSelection.ClassIndex(bundle, classText), null, null);
        }
        else
        {
            from = layerName ?? throw new UserError("--unit needs --layer: the layer whose unit to start from");
            target = Inputs.ParseUnit(unitText!);
        }
        if (!network.Layers.Any(l => l.Name == from))
            throw new UserError($"--layer '{from}' is not a layer of the model; layers: {string.Join(", ", network.Layers.Select(l => l.Name))}");

        using var x = Inputs.Load(inputPath, bundle, backend);
        var trace = BackwardTrace.Run(network, x, new Target(from, target.Channel, target.Y, target.X), rule);
        if (dump is not null)
            foreach (var gradient in trace.Gradients)
                Npy.Write(Path.Combine(dump, FileNames.ForLayer(gradient.Layer) + ".grad.npy"), gradient.Values, gradient.Shape.ToArray());

        string what = target.Y is null ? $"channel {target.Channel}" : $"unit ({target.Channel}, {target.Y}, {target.X})";
        AnsiConsole.MarkupLine($"backward from {Markup.Escape(from)} {what} with the {rule.ToString().ToLowerInvariant()} rule, seed 1.0");
        var table = new Table().Border(TableBorder.Rounded).AddColumn("gradient arriving at").AddColumn("shape")
            .AddColumn(new TableColumn("L2 norm").RightAligned()).AddColumn(new TableColumn("max |g|").RightAligned());
        // Gradients come top down: each layer's output, then the network input.
        foreach (var (g, i) in trace.Gradients.Select((g, i) => (g, i)))
            table.AddRow(Markup.Escape(i == trace.Gradients.Count - 1 ? "network input" : $"output of {g.Layer}"), g.Shape.ToString(), $"{g.Norm:E3}", $"{g.MaxAbs:E3}");
        AnsiConsole.Write(table);
        if (dump is not null) AnsiConsole.MarkupLine($"wrote {trace.Gradients.Count} gradients to {Markup.Escape(dump)}/<layer>.grad.npy");
    }
}
