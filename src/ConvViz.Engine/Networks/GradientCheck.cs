using ConvViz.Engine.Layers;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Networks;

/// <summary>How <see cref="GradientCheck"/> measures: coordinates per tensor, the finite-difference step,
/// and the relative error a coordinate may have and pass.</summary>
public sealed record GradientCheckOptions
{
    /// <summary>Coordinates tried per tensor, preferring ones whose analytic gradient is not zero.</summary>
    public int Points { get; init; } = 3;

    /// <summary>The finite-difference step h.</summary>
    public float Step { get; init; } = 1e-2f;

    /// <summary>The largest relative error that passes; in float32, errors up to about 1e-2 are rounding.</summary>
    public double Tolerance { get; init; } = 1e-2;

    public void Validate()
    {
        if (Points < 1) throw new ArgumentOutOfRangeException(nameof(Points), Points, $"{nameof(Points)} {Points} must be at least 1");
        if (!(Step > 0f) || !float.IsFinite(Step)) throw new ArgumentOutOfRangeException(nameof(Step), Step, $"{nameof(Step)} {Step} must be a positive finite number");
        if (!(Tolerance > 0) || !double.IsFinite(Tolerance))
            throw new ArgumentOutOfRangeException(nameof(Tolerance), Tolerance, $"{nameof(Tolerance)} {Tolerance} must be a positive finite number");
    }
}

/// <summary>Layers checked so far, out of <paramref name="Layers"/> (the objective's layer and those below it).</summary>
public readonly record struct GradientCheckProgress(int LayersChecked, int Layers);

/// <summary>
/// One checked coordinate: the analytic derivative, the central difference, their absolute error and
/// relative error |analytic − numeric| / max(|analytic|, |numeric|, 1e-6). <paramref name="Kink"/>: the
/// coordinate failed and the objective is not linear across the step there (its slopes over the
/// half-steps of [v − h, v + h] spread by more than <see cref="GradientCheck.KinkSpread"/>): a ReLU or max-pool switch crossed
/// by the step, or curvature the step is too large for. The derivative at v is then not what the
/// difference measures, so a kink does not fail the check; the report lists it.
/// </summary>
public sealed record GradientCheckPoint(int Index, double Analytic, double Numeric, double AbsoluteError, double RelativeError, bool Kink);

/// <summary>One checked tensor (a layer's output or parameter, or the input) and its coordinates.</summary>
public sealed record GradientCheckRow(string Layer, string Tensor, IReadOnlyList<GradientCheckPoint> Checked)
{
    public int Points => Checked.Count;

    public int Kinks => Checked.Count(p => p.Kink);

    /// <summary>The coordinate with the largest relative error that is not a kink; null when every one is.</summary>
    public GradientCheckPoint? Worst => Checked.Where(p => !p.Kink).MaxBy(p => p.RelativeError);

    public double WorstRelativeError => Worst?.RelativeError ?? 0;

    public double WorstAbsoluteError => Checked.Where(p => !p.Kink).Select(p => p.AbsoluteError).DefaultIfEmpty(0).Max();

    public double Analytic => Worst?.Analytic ?? 0;

    public double Numeric => Worst?.Numeric ?? 0;

    /// <summary>Every coordinate that is not a kink is within <paramref name="tolerance"/>.</summary>
    public bool Passes(double tolerance) => Checked.All(p => p.Kink || p.RelativeError <= tolerance);
}

/// <summary>The verdict: every tensor's coordinates, the tolerance they were held to, and whether all passed.</summary>
public sealed record GradientCheckReport(IReadOnlyList<GradientCheckRow> Rows, double Tolerance)
{
    public bool Passed => Rows.All(r => r.Passes(Tolerance));

    public int Kinks => Rows.Sum(r => r.Kinks);
}

/// <summary>
/// Compares backpropagation with central differences on a whole network, graphs included. The
/// objective is J = sum(r · output of layer <c>to</c>) for a fixed random r; one backward pass gives
/// d J / d (every layer's output), d J / d input and every parameter gradient; each is then checked at
/// a few coordinates by (J(v + h) − J(v − h)) / 2h, where J(v ± h) reruns only the layers that depend
/// on the perturbed tensor. An output read by several layers is checked once, with the gradient summed
/// over its readers, which is what the perturbation measures. Dropout runs in inference mode, so J is
/// deterministic. A coordinate passes when its relative error is within the tolerance, or when it is a
/// kink (see <see cref="GradientCheckPoint"/>); the report says which.
/// </summary>
public static class GradientCheck
{
    /// <summary>How far apart, relative to the largest, J's half-step slopes may be before J counts as
    /// not linear across the step: beyond float32 rounding (about 1e-2 of a difference), whatever the
    /// tolerance, so a tight tolerance fails rounding errors rather than calling them kinks.</summary>
    public const double KinkSpread = 1e-2;

    /// <param name="random">Draws r and the coordinates checked.</param>
    /// <param name="progress">Reports the layers checked so far, out of the index of <c>to</c> + 1.</param>
    public static GradientCheckReport Run(Network network, Tensor input, string to, GradientCheckOptions options, Random random,
        IProgress<GradientCheckProgress>? progress = null, CancellationToken cancellation = default)
    {
        options.Validate();
        int points = options.Points;
        float step = options.Step;
        double tolerance = options.Tolerance;
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
            Check("input", "input", backend.Download(input), analyticInput, points, step, tolerance, random, values => Perturbed(Network.Input, input, values)),
        };
        for (int i = 0; i <= last; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var layer = network.Layers[i];
            // A layer J does not depend on (a side branch that ends before `to`) has no gradient to check.
            if (outputGradients[i] is null)
            {
                progress?.Report(new GradientCheckProgress(i + 1, last + 1));
                continue;
            }
            int node = i;
            foreach (var parameter in layer.Parameters)
            {
                var original = backend.Download(parameter.Value);
                rows.Add(Check(layer.Name, parameter.Name, original, backend.Download(parameter.Gradient!), points, step, tolerance, random, values =>
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
                rows.Add(Check(layer.Name, "output", backend.Download(output), outputGradients[i], points, step, tolerance, random,
                    values => Perturbed(node, output, values)));
            }
            progress?.Report(new GradientCheckProgress(i + 1, last + 1));
        }
        return new GradientCheckReport(rows, tolerance);
    }

    /// <summary>Checks <paramref name="points"/> coordinates of one tensor, preferring ones with a non-zero
    /// analytic gradient. A coordinate that fails <paramref name="tolerance"/> is a kink when J is not linear
    /// across the step: the slopes of J over the four half-steps of [v − h, v + h] spread by more than
    /// <see cref="KinkSpread"/> (one perturbed weight moves a whole feature map, so switches may be crossed on
    /// both sides, and the two one-sided differences alone can agree).</summary>
    public static GradientCheckRow Check(string layer, string tensor, float[] values, float[] analytic, int points, float step, double tolerance, Random random,
        Func<float[], double> objective)
    {
        var candidates = Enumerable.Range(0, values.Length).Where(i => analytic[i] != 0).ToArray();
        if (candidates.Length == 0) candidates = Enumerable.Range(0, values.Length).ToArray();
        var picked = Enumerable.Range(0, Math.Min(points, candidates.Length)).Select(_ => candidates[random.Next(candidates.Length)]).Distinct().ToArray();
        var work = (float[])values.Clone();
        double at = objective(work);
        var checkedPoints = new List<GradientCheckPoint>();
        foreach (int i in picked)
        {
            double At(float offset)
            {
                work[i] = values[i] + offset;
                double j = objective(work);
                work[i] = values[i];
                return j;
            }
            double plus = At(step), minus = At(-step);
            double numeric = (plus - minus) / (2.0 * step);
            double absolute = Math.Abs(analytic[i] - numeric);
            double relative = Relative(analytic[i], numeric);
            // A difference that overflowed (NaN) is the worst error, not none: NaN compares false with everything.
            if (double.IsNaN(relative)) (absolute, relative) = (double.PositiveInfinity, double.PositiveInfinity);
            bool kink = false;
            if (relative > tolerance)
            {
                // The exact offsets the half-steps reached in float32, so the slopes divide by what was added.
                float half = step / 2;
                double halfPlus = At(half), halfMinus = At(-half);
                double[] slopes = [(halfMinus - minus) / (step - half), (at - halfMinus) / half, (halfPlus - at) / half, (plus - halfPlus) / (step - half)];
                kink = slopes.Max() - slopes.Min() > KinkSpread * Math.Max(slopes.Max(Math.Abs), 1e-6);
            }
            checkedPoints.Add(new GradientCheckPoint(i, analytic[i], numeric, absolute, relative, kink));
        }
        return new GradientCheckRow(layer, tensor, checkedPoints);
    }

    private static double Relative(double a, double b) => Math.Abs(a - b) / Math.Max(Math.Max(Math.Abs(a), Math.Abs(b)), 1e-6);
}
