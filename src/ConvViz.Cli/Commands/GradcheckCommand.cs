using System.CommandLine;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using Spectre.Console;
using Tensor = ConvViz.Engine.Tensors.Tensor;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz gradcheck --model M [--layer L] [--tolerance 0.01]`: <see cref="GradientCheck"/> on the
/// model (graphs included): analytic against central-difference gradients of the input, every
/// layer's output and every parameter, for J = sum(r * output of L); prints each tensor's absolute
/// and relative errors, the kinks, the tolerance and PASS or FAIL (exit code 1).
/// </summary>
public static class GradcheckCommand
{
    /// <summary>The exit code of a check that ran and failed.</summary>
    public const int Failed = 1;

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var defaults = new GradientCheckOptions();
        var layer = new Option<string?>("--layer") { Description = "Layer whose output defines the objective (default: the last)" };
        var input = CommonOptions.Input(required: false, "Input: an image or a float32 .npy (default: uniform random in [-1, 1])");
        var points = new Option<int>("--points") { Description = "Coordinates checked per tensor", DefaultValueFactory = _ => defaults.Points }.InRange(1, 100);
        var step = new Option<float>("--step") { Description = "Finite-difference step h", DefaultValueFactory = _ => defaults.Step }.Positive(1);
        var tolerance = new Option<double>("--tolerance") { Description = "Largest relative error that passes", DefaultValueFactory = _ => defaults.Tolerance }.Positive(1);
        var seed = new Option<int>("--seed") { Description = "Seed of the input, r, the coordinates and a built-in model's weights", DefaultValueFactory = _ => 0 }.Seed();
        var command = new Command("gradcheck", "Compare analytic and finite-difference gradients of every layer's input and parameters: PASS, or FAIL with exit code 1")
            { model, backend, device, layer, input, points, step, tolerance, seed };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(result.GetValue(model)!, result.GetValue(backend)!, result.GetValue(device), result.GetValue(layer),
            result.GetValue(input), new GradientCheckOptions { Points = result.GetValue(points), Step = result.GetValue(step), Tolerance = result.GetValue(tolerance) },
            result.GetValue(seed), cancellation)));
        return command;
    }

    private static int Execute(string modelName, string backendName, int? device, string? layerName, InputSource? inputPath, GradientCheckOptions options, int seed,
        CancellationToken cancellation)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend, seed);
        var network = bundle.Network;
        string to = layerName ?? network.Layers[^1].Name;
        if (!network.Layers.Any(l => l.Name == to))
            throw new UserError($"--layer '{to}' is not a layer of the model; layers: {string.Join(", ", network.Layers.Select(l => l.Name))}");
        var random = new Random(seed);
        using var x = inputPath is not null ? Inputs.Load(inputPath, bundle, backend) : RandomTensor(backend, network.InputShape(1), random);
        var report = ProgressBars.Run("finite differences", network.IndexOf(to) + 1, line =>
            GradientCheck.Run(network, x, to, options, random, new ProgressAction<GradientCheckProgress>(p => line.Report(p.LayersChecked)), cancellation));

        AnsiConsole.MarkupLine(Markup.Escape($"J = sum(r * output of {to}), r uniform in [-1, 1] (seed {seed}); central differences with h = {options.Step}"));
        var table = new Table().Border(TableBorder.Rounded).AddColumn("layer").AddColumn("tensor").AddColumn(new TableColumn("points").RightAligned())
            .AddColumn(new TableColumn("kinks").RightAligned())
            .AddColumn(new TableColumn("worst absolute error").RightAligned()).AddColumn(new TableColumn("worst relative error").RightAligned())
            .AddColumn(new TableColumn("analytic").RightAligned()).AddColumn(new TableColumn("numeric").RightAligned()).AddColumn("verdict");
        foreach (var row in report.Rows)
        {
            bool passes = row.Passes(report.Tolerance);
            table.AddRow(Markup.Escape(row.Layer), Markup.Escape(row.Tensor), row.Points.ToString(), row.Kinks.ToString(),
                $"{row.WorstAbsoluteError:E2}", $"{(passes ? "" : "[red]")}{row.WorstRelativeError:E2}{(passes ? "" : "[/]")}",
                $"{row.Analytic:E4}", $"{row.Numeric:E4}", passes ? "pass" : "[red]FAIL[/]");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape($"relative error = |analytic - numeric| / max(|analytic|, |numeric|, 1e-6); tolerance {report.Tolerance:G3} (in float32, errors up to ~1e-2 are rounding)"));
        foreach (var row in report.Rows)
            foreach (var point in row.Checked.Where(p => p.Kink))
                AnsiConsole.MarkupLine(Markup.Escape($"kink: {row.Layer} {row.Tensor}[{point.Index}]: analytic {point.Analytic:E4}, numeric {point.Numeric:E4} " +
                                                     $"(relative error {point.RelativeError:E2}); J is not linear across the step there (its half-step slopes disagree): a ReLU or max-pool switch crossed, so it does not count"));
        int failed = report.Rows.Count(r => !r.Passes(report.Tolerance));
        AnsiConsole.MarkupLine(report.Passed
            ? Markup.Escape($"PASS: every checked coordinate of {report.Rows.Count} tensors is within tolerance {report.Tolerance:G3}{(report.Kinks > 0 ? $", apart from {report.Kinks} kink(s)" : "")}")
            : Markup.Escape($"FAIL: {failed} of {report.Rows.Count} tensors have a coordinate beyond tolerance {report.Tolerance:G3}"));
        return report.Passed ? 0 : Failed;
    }

    private static Tensor RandomTensor(Backend backend, Shape shape, Random random) =>
        backend.Upload(Enumerable.Range(0, shape.ElementCount).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), shape);
}
