using ConvViz.Engine.Layers;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Networks;

/// <summary>One checked tensor: the worst relative error over the coordinates tried, and the analytic
/// and numeric derivatives at that coordinate.</summary>
public sealed record GradientCheckRow(string Layer, string Tensor, int Points, double WorstRelativeError, double Analytic, double Numeric);

/// <summary>
/// Compares backpropagation with central differences on a whole network, graphs included. The
/// objective is J = sum(r · output of layer <c>to</c>) for a fixed random r; one backward pass gives
/// d J / d (every layer's output), d J / d input and every parameter gradient; each is then checked at
/// a few coordinates by (J(v + h) − J(v − h)) / 2h, where J(v ± h) reruns only the layers that depend
/// on the perturbed tensor. An output read by several layers is checked once, with the gradient summed
/// over its readers, which is what the perturbation measures. Dropout runs in inference mode, so J is
/// deterministic.
/// </summary>
public static class GradientCheck
{
    /// <param name="points">Coordinates tried per tensor, preferring ones whose analytic gradient is not zero.</param>
    /// <param name="step">The finite-difference step h.</param>
    /// <param name="progress">Reports the number of layers checked so far, out of the index of <c>to</c> + 1.</param>
    public static IReadOnlyList<GradientCheckRow> Run(Network network, Tensor input, string to, int points, float step, Random random,
        IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        if (points < 1) throw new ArgumentOutOfRangeException(nameof(points), points, "check at least one coordinate per tensor");
        if (!(step > 0f) || !float.IsFinite(step)) throw new ArgumentOutOfRangeException(nameof(step), step, "the step must be a positive finite number");
        var backend = input.Backend;
        int last = network.IndexOf(to);
        using var pass = network.Forward(input, upTo: to);
        var outputShape = pass.Outputs[last].Y.Shape;
        var r = Enumerable.Range(0, outputShape.ElementCount).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        using var seed = backend.Upload(r, outputShape);

        // Analytic: d J / d (output of layer i) for every layer J depends on, d J / d input, and the parameter gradients.
        foreach (var parameter in network.Layers.Take(last + 1).SelectMany(l => l.Parameters)) backend.Fill(parameter.EnsureGradient(), 0f);
        var outputGradients = new float[last + 1][];
        using var inputGradient = network.Backward(pass, to, seed, new BackwardOptions(ParameterGradients: true),
            (i, dy) => outputGradients[i] = backend.Download(dy))!;
        var analyticInput = backend.Download(inputGradient);

        double Objective(float[] y)
        {
            double sum = 0;
            for (int i = 0; i < y.Length; i++) sum += (double)r[i] * y[i];
            return sum;
        }

        double Perturbed(int node, Tensor tensor, float[] values)
        {
            using var replacement = backend.Upload(values, tensor.Shape);
            return Objective(network.Rerun(pass, node, replacement, last));
        }

        var rows = new List<GradientCheckRow>
        {
            Check("input", "input", backend.Download(input), analyticInput, points, step, random, values => Perturbed(Network.Input, input, values)),
        };
        for (int i = 0; i <= last; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var layer = network.Layers[i];
            // A layer J does not depend on (a side branch that ends before `to`) has no gradient to check.
            if (outputGradients[i] is null)
            {
                progress?.Report(i + 1);
                continue;
            }
            int node = i;
            foreach (var parameter in layer.Parameters)
            {
                var original = backend.Download(parameter.Value);
                rows.Add(Check(layer.Name, parameter.Name, original, backend.Download(parameter.Gradient!), points, step, random, values =>
                {
                    backend.Upload(values, parameter.Value);
                    // The layer itself must run again: rerun from its input(s) by replacing its output with a fresh forward.
                    var inputsOf = network.InputsOf(node).Select(j => j == Network.Input ? input : pass.Outputs[j].Y).ToArray();
                    var fresh = layer is JoinLayer join ? join.Forward(inputsOf, training: false) : layer.Forward(inputsOf[0], training: false);
                    try
                    {
                        return Objective(network.Rerun(pass, node, fresh.Y, last));
                    }
                    finally
                    {
                        fresh.Y.Dispose();
                        fresh.Saved?.Dispose();
                    }
                }));
                backend.Upload(original, parameter.Value);
            }
            if (i < last)
            {
                var output = pass.Outputs[i].Y;
                rows.Add(Check(layer.Name, "output", backend.Download(output), outputGradients[i], points, step, random,
                    values => Perturbed(node, output, values)));
            }
            progress?.Report(i + 1);
        }
        return rows;
    }

    /// <summary>Checks <paramref name="points"/> coordinates of one tensor, preferring ones with a non-zero analytic gradient.</summary>
    public static GradientCheckRow Check(string layer, string tensor, float[] values, float[] analytic, int points, float step, Random random,
        Func<float[], double> objective)
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
        return new GradientCheckRow(layer, tensor, picked.Length, worst, worstAnalytic, worstNumeric);
    }
}
