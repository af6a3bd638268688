using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>`convviz forward --model M --input X [--dump DIR] [--top 5]`: runs the model, prints the
/// top classes, and with --dump writes every layer's output as DIR/&lt;layer&gt;.npy.</summary>
public static class ForwardCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var input = CommonOptions.Input();
        var dump = new Option<string?>("--dump") { Description = "Folder to write every layer's output to, as <layer>.npy (float32)" };
        var top = new Option<int>("--top") { Description = "How many classes to list", DefaultValueFactory = _ => 5 }.InRange(1, 100_000);
        var command = new Command("forward", "Run a model on an input: top classes, and optionally every layer's output") { model, backend, device, input, dump, top };
        command.SetAction(result => Execute(result.GetValue(model)!, result.GetValue(backend)!, result.GetValue(device),
            result.GetValue(input)!, result.GetValue(dump), result.GetValue(top)));
        return command;
    }

    private static void Execute(string modelName, string backendName, int? device, InputSource inputPath, string? dump, int top)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend);
        // Without classes, forward is still how to dump every layer's output; its class table is what needs them.
        if (dump is null)
            ClassScores.Require(bundle, "forward's table of top classes", "give --dump DIR to write every layer's output, or see the units with activations");
        foreach (var note in bundle.Notes) AnsiConsole.MarkupLine($"note: {Markup.Escape(note)}");
        using var x = Inputs.Load(inputPath, bundle, backend);

        var clock = Stopwatch.StartNew();
        using var pass = bundle.Network.Forward(x);
        backend.Synchronize();
        double ms = clock.Elapsed.TotalMilliseconds;
        AnsiConsole.MarkupLine($"forward of {Markup.Escape(inputPath)} {x.Shape} on {Markup.Escape(backend.Name)}: {ms:F1} ms");

        if (dump is not null)
        {
            foreach (var (layer, i) in bundle.Network.Layers.Select((l, i) => (l, i)))
            {
                var y = pass.Outputs[i].Y;
                Npy.Write(Path.Combine(dump, FileNames.ForLayer(layer.Name) + ".npy"), backend.Download(y), y.Shape.ToArray());
            }
            AnsiConsole.MarkupLine($"wrote {bundle.Network.Layers.Count} layer outputs to {Markup.Escape(dump)}/<layer>.npy");
        }
        if (bundle.HasClasses) PrintTop(bundle, backend.Download(pass.Last), ClassPredictions.AreProbabilities(bundle.Network), top);
    }

    /// <summary>The top classes by probability: the model's own softmax output, or a softmax of its logits.</summary>
    public static void PrintTop(ModelBundle bundle, float[] scores, bool areProbabilities, int top)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumn("#").AddColumn(new TableColumn("class").RightAligned())
            .AddColumn("name").AddColumn(new TableColumn("probability").RightAligned());
        if (!areProbabilities) table.AddColumn(new TableColumn("logit").RightAligned());
        foreach (var (entry, rank) in ClassPredictions.Top(scores, areProbabilities, top).Select((e, r) => (e, r + 1)))
        {
            var cells = new List<string> { rank.ToString(), entry.Index.ToString(), Markup.Escape(bundle.Classes[entry.Index]), $"{entry.Probability:F4}" };
            if (!areProbabilities) cells.Add($"{entry.Score:F4}");
            table.AddRow(cells.ToArray());
        }
        AnsiConsole.Write(table);
    }
}
