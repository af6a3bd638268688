using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz model info`: the layer table (output shape, parameters, multiply-accumulates) and
/// totals; with --run, one forward pass and one backward pass to the input, timed.
/// </summary>
public static class ModelInfoCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights and input", DefaultValueFactory = _ => 0 }.Seed();
        var batch = new Option<int>("--batch") { Description = "Batch size for the shapes and the passes", DefaultValueFactory = _ => 1 }.InRange(1, CommonOptions.MaxInputBatch);
        var run = new Option<bool>("--run") { Description = "Also run one forward and one backward pass and time them" };
        var command = new Command("info", "Print a model's layers, shapes, parameter counts and FLOPs") { model, backend, device, seed, batch, run };
        command.SetAction(result =>
        {
            // Without --run the seed only makes a built-in model's weights.
            if (result.Given(seed) && !result.GetValue(run)) ModelCatalog.RefuseWeightSeed(result.GetValue(model)!, result.GetValue(seed));
            Execute(result.GetValue(model)!, result.GetValue(backend)!, result.GetValue(device), result.GetValue(seed), result.GetValue(batch), result.GetValue(run));
        });
        return command;
    }

    private static void Execute(string modelName, string backendName, int? device, int seed, int batch, bool run)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend, seed);
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(modelName)}[/]: {Markup.Escape(ModelCatalog.Describe(bundle))}");
        AnsiConsole.MarkupLine($"backend: {Markup.Escape(backend.Description)}");
        AnsiConsole.MarkupLine($"input: {Markup.Escape(bundle.Preprocessing.ToString())}");
        AnsiConsole.MarkupLine(bundle.HasClasses
            ? $"classes: {bundle.Classes.Count} ({Markup.Escape(string.Join(", ", bundle.Classes.Take(5)))}{(bundle.Classes.Count > 5 ? ", ..." : "")})"
            : $"classes: none (the last layer outputs {bundle.Network.OutputShape(bundle.Network.Layers[^1].Name, 1).SampleSize} features); target units with --layer and --unit");
        foreach (var note in bundle.Notes) AnsiConsole.MarkupLine($"note: {Markup.Escape(note)}");
        PrintLayerTable(bundle.Network, batch, bundle.SourceNames);
        if (run) RunPasses(bundle.Network, backend, seed, batch);
    }

    /// <summary>The layer table; a column of the names in the model's source file when the bundle renamed its layers.</summary>
    private static void PrintLayerTable(Network network, int batch, IReadOnlyDictionary<string, string> sourceNames)
    {
        var rows = network.Summarize(batch);
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumn("#").AddColumn("layer").AddColumn("op").AddColumn("reads").AddColumn("output shape")
            .AddColumn(new TableColumn("parameters").RightAligned())
            .AddColumn(new TableColumn("MACs").RightAligned())
            .AddColumn(new TableColumn("GFLOP").RightAligned())
            .AddColumn(new TableColumn("receptive field").RightAligned());
        var fields = ReceptiveFields.Of(network);
        if (sourceNames.Count > 0) table.AddColumn("source name");
        string Source(string layer) => sourceNames.TryGetValue(layer, out var name) ? Markup.Escape(name) : "";
        string[] Cells(params string[] cells) => sourceNames.Count > 0 ? cells : cells[..^1];
        table.AddRow(Cells("", "input", "", "", network.InputShape(batch).ToString(), "", "", "", "", ""));
        // What each layer reads: the layer before it in a chain; named inputs where the graph branches or joins.
        string Reads(int i) => string.Join(" + ", network.InputsOf(i).Select(j => j == Network.Input ? "input" : j == i - 1 && network.InputsOf(i).Count == 1 ? "↑" : Markup.Escape(network.Layers[j].Name)));
        foreach (var r in rows)
            table.AddRow(Cells(r.Index.ToString(), Markup.Escape(r.Name), r.OpType, Reads(r.Index), r.OutputShape.ToString(),
                r.Parameters == 0 ? "" : r.Parameters.ToString("N0"),
                r.MultiplyAccumulates == 0 ? "" : r.MultiplyAccumulates.ToString("N0"),
                r.MultiplyAccumulates == 0 ? "" : (2e-9 * r.MultiplyAccumulates).ToString("F3"),
                Describe(fields[r.Index]), Source(r.Name)));
        long parameters = rows.Sum(r => r.Parameters), macs = rows.Sum(r => r.MultiplyAccumulates);
        table.AddRow(Cells("", "[bold]total[/]", "", "", "", $"[bold]{parameters:N0}[/]", $"[bold]{macs:N0}[/]", $"[bold]{2e-9 * macs:F3}[/]", "", ""));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("receptive field: size/stride@first in input pixels (unit i of a layer sees pixels first + i·stride .. + size - 1)");
        AnsiConsole.MarkupLine($"{parameters / 1e6:F1} M parameters ({parameters * 4 / 1048576.0:F0} MiB as float32); " +
                               $"forward pass at batch {batch}: {macs / 1e6:F1} M multiply-accumulates = {2e-9 * macs:F3} GFLOP");
    }

    /// <summary>"size/stride@first" in input pixels (one number each when both axes agree), or "whole input".</summary>
    private static string Describe(ReceptiveField field)
    {
        if (!field.Spatial) return "whole input";
        static string Axis(AxisField a) => $"{a.Size}/{a.Stride}@{a.First}";
        return field.Vertical == field.Horizontal ? Axis(field.Vertical) : $"{Axis(field.Vertical)} x {Axis(field.Horizontal)}";
    }

    private static void RunPasses(Network network, Backend backend, int seed, int batch)
    {
        var random = new Random(seed);
        var shape = network.InputShape(batch);
        var data = new float[shape.ElementCount];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
        using var input = backend.Upload(data, shape);

        string output = network.Layers[^1].Name;
        string lastConv = network.Layers.Last(l => l is Conv2dLayer).Name;
        // One untimed round compiles the code paths and fills the memory pool; then each pass is
        // timed once. (Steady-state timings over many runs: bench/ConvViz.Bench e2e.)
        using (var warm = network.Forward(input))
        using (var warmSeed = network.UnitSeed(warm, output, 0))
            network.Backward(warm, output, warmSeed)!.Dispose();

        var clock = Stopwatch.StartNew();
        using var pass = network.Forward(input);
        backend.Synchronize();
        double forwardMs = clock.Elapsed.TotalMilliseconds;

        var logits = backend.Download(pass.Last);
        int classes = pass.Last.Shape[1];
        int top = Array.IndexOf(logits, logits.Take(classes).Max());

        using var seedTensor = network.UnitSeed(pass, output, top);
        clock.Restart();
        using var gradient = network.Backward(pass, output, seedTensor)!;
        backend.Synchronize();
        double backwardMs = clock.Elapsed.TotalMilliseconds;
        var g = backend.Download(gradient);

        using var convSeed = network.UnitSeed(pass, lastConv, 0);
        clock.Restart();
        using var convGradient = network.Backward(pass, lastConv, convSeed, new BackwardOptions(ReluRule.Guided))!;
        backend.Synchronize();
        double convBackwardMs = clock.Elapsed.TotalMilliseconds;

        AnsiConsole.MarkupLine($"forward, batch {batch}: [bold]{forwardMs:F1} ms[/]; top class of item 0 (a random input): {top}, logit {logits[top]:F4}");
        AnsiConsole.MarkupLine($"backward from {Markup.Escape(output)} unit {top} to the input (gradient rule): [bold]{backwardMs:F1} ms[/]; " +
                               $"|d logit / d input| max {g.Max(Math.Abs):E3}, shape {gradient.Shape}");
        AnsiConsole.MarkupLine($"backward from {Markup.Escape(lastConv)} channel 0 to the input (guided rule): [bold]{convBackwardMs:F1} ms[/]");
    }
}
