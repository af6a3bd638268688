using System.CommandLine;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using Spectre.Console;
using Tensor = ConvViz.Engine.Tensors.Tensor;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz gradcheck --model M [--layer L]`: <see cref="GradientCheck"/> on the model (graphs
/// included): analytic against central-difference gradients of the input, every layer's output and
/// every parameter, for J = sum(r * output of L); prints the relative errors.
/// </summary>
public static class GradcheckCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var layer = new Option<string?>("--layer") { Description = "Layer whose output defines the objective (default: the last)" };
        var input = CommonOptions.Input(required: false, "Input: an image or a float32 .npy (default: uniform random in [-1, 1])");
        var points = new Option<int>("--points") { Description = "Coordinates checked per tensor", DefaultValueFactory = _ => 3 }.InRange(1, 100);
        var step = new Option<float>("--step") { Description = "Finite-difference step h", DefaultValueFactory = _ => 1e-2f }.Positive(1);
        var seed = new Option<int>("--seed") { Description = "Seed of the input, r, the coordinates and a built-in model's weights", DefaultValueFactory = _ => 0 }.Seed();
        var command = new Command("gradcheck", "Compare analytic and finite-difference gradients of every layer's input and parameters")
            { model, backend, device, layer, input, points, step, seed };
        command.SetAction(result => Execute(result.GetValue(model)!, result.GetValue(backend)!, result.GetValue(device), result.GetValue(layer),
            result.GetValue(input), result.GetValue(points), result.GetValue(step), result.GetValue(seed)));
        return command;
    }

    private static void Execute(string modelName, string backendName, int? device, string? layerName, InputSource? inputPath, int points, float step, int seed)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend, seed);
        var network = bundle.Network;
        string to = layerName ?? network.Layers[^1].Name;
        if (!network.Layers.Any(l => l.Name == to))
            throw new UserError($"--layer '{to}' is not a layer of the model; layers: {string.Join(", ", network.Layers.Select(l => l.Name))}");
        var random = new Random(seed);
        using var x = inputPath is not null ? Inputs.Load(inputPath, bundle, backend) : RandomTensor(backend, network.InputShape(1), random);
        var rows = ProgressBars.Run("finite differences", network.IndexOf(to) + 1, line =>
            GradientCheck.Run(network, x, to, points, step, random, line));

        AnsiConsole.MarkupLine(Markup.Escape($"J = sum(r * output of {to}), r uniform in [-1, 1] (seed {seed}); central differences with h = {step}"));
        var table = new Table().Border(TableBorder.Rounded).AddColumn("layer").AddColumn("tensor").AddColumn(new TableColumn("points").RightAligned())
            .AddColumn(new TableColumn("worst relative error").RightAligned())
            .AddColumn(new TableColumn("analytic").RightAligned()).AddColumn(new TableColumn("numeric").RightAligned());
        foreach (var row in rows)
            table.AddRow(Markup.Escape(row.Layer), Markup.Escape(row.Tensor), row.Points.ToString(),
                $"{(row.WorstRelativeError > 1e-2 ? "[yellow]" : "")}{row.WorstRelativeError:E2}{(row.WorstRelativeError > 1e-2 ? "[/]" : "")}",
                $"{row.Analytic:E4}", $"{row.Numeric:E4}");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("relative error = |analytic - numeric| / max(|analytic|, |numeric|, 1e-6); in float32, errors up to ~1e-2 are rounding, " +
                               "larger ones usually a ReLU or max-pool switch crossed by the step");
    }

    private static Tensor RandomTensor(Backend backend, Shape shape, Random random) =>
        backend.Upload(Enumerable.Range(0, shape.ElementCount).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), shape);
}
