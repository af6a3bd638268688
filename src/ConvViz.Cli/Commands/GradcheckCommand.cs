using System.CommandLine;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using Spectre.Console;
using Tensor = ConvViz.Engine.Tensors.Tensor;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz gradcheck --model M [--layer L]`: for the objective J = sum(r * output of L) with a
/// fixed random r, compares the analytic gradient (one backward pass) with central differences
/// (J(v + h) - J(v - h)) / 2h at a few random coordinates of every layer's input and parameters,
/// and prints the relative errors. Dropout runs in inference mode, so J is deterministic.
/// </summary>
public static class GradcheckCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var layer = new Option<string?>("--layer") { Description = "Layer whose output defines the objective (default: the last)" };
        var input = new Option<string?>("--input") { Description = "Input .npy (default: uniform random in [-1, 1])" };
        var points = new Option<int>("--points") { Description = "Coordinates checked per tensor", DefaultValueFactory = _ => 3 }.InRange(1, 100);
        var step = new Option<float>("--step") { Description = "Finite-difference step h", DefaultValueFactory = _ => 1e-2f }.Positive(1);
        var seed = new Option<int>("--seed") { Description = "Seed of the input, r, the coordinates and a built-in model's weights", DefaultValueFactory = _ => 0 }.Seed();
        var command = new Command("gradcheck", "Compare analytic and finite-difference gradients of every layer's input and parameters")
            { model, backend, device, layer, input, points, step, seed };
        command.SetAction(result => Execute(result.GetValue(model)!, result.GetValue(backend)!, result.GetValue(device), result.GetValue(layer),
            result.GetValue(input), result.GetValue(points), result.GetValue(step), result.GetValue(seed)));
        return command;
    }

    internal sealed record Row(string Layer, string Tensor, int Points, double WorstRelativeError, double Analytic, double Numeric);

    private static void Execute(string modelName, string backendName, int? device, string? layerName, string? inputPath, int points, float step, int seed)
    {
        using var backend = BackendCatalog.Create(backendName, device);
        using var bundle = ModelCatalog.Open(modelName, backend, seed);
        var network = bundle.Network;
        // The check perturbs each layer's input and reruns the chain above it, one layer after another.
        if (!network.IsSequential)
            throw new UserError($"gradcheck runs on sequential models; {modelName} branches (its layers read {string.Join(", ", Enumerable.Range(0, network.Layers.Count).Where(i => network.InputsOf(i).Count > 1).Select(i => network.Layers[i].Name).Take(3))}, ... several inputs)");
        string to = layerName ?? network.Layers[^1].Name;
        if (!network.Layers.Any(l => l.Name == to))
            throw new UserError($"--layer '{to}' is not a layer of the model; layers: {string.Join(", ", network.Layers.Select(l => l.Name))}");
        int last = network.IndexOf(to);
        var random = new Random(seed);

        using var x = inputPath is not null ? Inputs.Load(inputPath, bundle, backend) : RandomTensor(backend, network.InputShape(1), random);
        using var pass = network.Forward(x, upTo: to);
        var outputShape = pass.Outputs[last].Y.Shape;
        var r = Enumerable.Range(0, outputShape.ElementCount).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using var rTensor = backend.Upload(r, outputShape);

        // Analytic: d J / d (output of layer i) for every i, d J / d input, and the parameter gradients.
        var outputGradients = new float[last + 1][];
        using var inputGradient = network.Backward(pass, to, rTensor, new BackwardOptions(ParameterGradients: true),
            (i, dy) => outputGradients[i] = backend.Download(dy))!;
        var analyticInput = backend.Download(inputGradient);

        double Objective(int from, Tensor layerInput)
        {
            var outputs = new List<LayerOutput>();
            var current = layerInput;
            try
            {
                for (int j = from; j <= last; j++)
                {
                    var output = network.Layers[j].Forward(current, training: false);
                    outputs.Add(output);
                    current = output.Y;
                }
                var y = backend.Download(current);
                double sum = 0;
                for (int i = 0; i < y.Length; i++) sum += (double)r[i] * y[i];
                return sum;
            }
            finally
            {
                foreach (var o in outputs)
                {
                    if (!o.Y.SharesMemoryWith(layerInput)) o.Y.Dispose();
                    o.Saved?.Dispose();
                }
            }
        }

        var rows = new List<Row>();
        ProgressBars.Run("finite differences", last + 1, line =>
            {
                for (int i = 0; i <= last; i++)
                {
                    var layer = network.Layers[i];
                    var layerInput = i == 0 ? x : pass.Outputs[i - 1].Y;
                    var inputValues = backend.Download(layerInput);
                    var analytic = i == 0 ? analyticInput : outputGradients[i - 1];
                    rows.Add(Check(layer.Name, "input", inputValues, analytic, points, step, random, values =>
                    {
                        using var perturbed = backend.Upload(values, layerInput.Shape);
                        return Objective(i, perturbed);
                    }));
                    foreach (var parameter in layer.Parameters)
                    {
                        var original = backend.Download(parameter.Value);
                        rows.Add(Check(layer.Name, parameter.Name, original, backend.Download(parameter.Gradient!), points, step, random, values =>
                        {
                            backend.Upload(values, parameter.Value);
                            return Objective(i, layerInput);
                        }));
                        backend.Upload(original, parameter.Value);
                    }
                    line.Report(i + 1);
                }
            });

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

    /// <summary>Checks <paramref name="points"/> coordinates, preferring ones with a non-zero analytic gradient.</summary>
    internal static Row Check(string layer, string tensor, float[] values, float[] analytic, int points, float step, Random random, Func<float[], double> objective)
    {
        var candidates = Enumerable.Range(0, values.Length).Where(i => analytic[i] != 0).ToArray();
        if (candidates.Length == 0) candidates = Enumerable.Range(0, values.Length).ToArray();
        var picked = Enumerable.Range(0, Math.Min(points, candidates.Length)).Select(_ => candidates[random.Next(candidates.Length)]).Distinct().ToArray();
        double worst = 0, worstAnalytic = 0, worstNumeric = 0;
        var work = (float[])values.Clone();
        foreach (int i in picked)
        {
            work[i] = values[i] + step;
            double plus = objective(work);
            work[i] = values[i] - step;
            double minus = objective(work);
            work[i] = values[i];
            double numeric = (plus - minus) / (2.0 * step);
            double error = Math.Abs(analytic[i] - numeric) / Math.Max(Math.Max(Math.Abs(analytic[i]), Math.Abs(numeric)), 1e-6);
            // A difference that overflowed (NaN) is the worst error, not none: NaN compares false with everything.
            if (double.IsNaN(error)) error = double.PositiveInfinity;
            if (error >= worst) (worst, worstAnalytic, worstNumeric) = (error, analytic[i], numeric);
        }
        return new Row(layer, tensor, picked.Length, worst, worstAnalytic, worstNumeric);
    }

    private static Tensor RandomTensor(Backend backend, Shape shape, Random random) =>
        backend.Upload(Enumerable.Range(0, shape.ElementCount).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(), shape);
}
