using System.Text;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;
using Xunit.Sdk;

namespace ConvViz.Tests.Gradients;

/// <summary>What one forward evaluation produced: the op's output and, optionally, a discrete
/// "regime" (max-pool switches, ReLU sign pattern, ...). When the regime at x ± h differs from the
/// regime at x, the perturbation crossed a kink and that coordinate is skipped.</summary>
public readonly record struct ForwardResult(float[] Output, int[]? Regime = null);

/// <summary>The outcome of a successful check (a failed one throws).</summary>
public sealed record GradientReport(string Label, int Coordinates, int Checked, int SkippedByPredicate, int SkippedByRegime, double WorstRelativeError, double LargestNumeric);

/// <summary>
/// A finite-difference gradient checker in the style of Caffe's GradientChecker.
///
/// For an op y = f(x) it uses the scalar objective L(x) = sum_i r_i * y_i(x) with a fixed, seeded
/// random weighting r. The analytic gradient dL/dx is what the backend's backward op returns when it
/// is seeded with dy = r; the numeric one is the central difference (L(x + h e_j) - L(x - h e_j)) / 2h,
/// where L is evaluated by running the backend's FORWARD op and summing r_i * y_i in double on the host.
/// Both are compared coordinate by coordinate with a relative tolerance that has a floor:
///     |analytic - numeric| &lt;= Threshold * max(|analytic|, |numeric|, Floor).
/// </summary>
public sealed record GradientChecker
{
    /// <summary>
    /// Step h = 1e-2 (Caffe's default). The forward runs in float32, so each output carries a rounding
    /// error of about eps32 * |y| ~ 6e-8 * |y|; only the few outputs that depend on x_j change between
    /// x + h and x - h (the others are bit-identical and cancel exactly), so the round-off part of the
    /// central difference is about (a few) * 6e-8 * |y| / 2h ~ 1e-5 at h = 1e-2. The truncation error
    /// is h^2/6 * |L'''| ~ 1e-5 for the smooth ops (softmax, LRN) and zero for the piecewise-linear
    /// ones (conv, pooling, ReLU, gemm, dropout). Both terms are balanced near h ~ eps32^(1/3) ~ 5e-3,
    /// so any h in [1e-3, 1e-2] leaves the numeric derivative good to ~1e-4 relative, two orders below
    /// the threshold. A larger h would cross more kinks (ReLU zeros, max-pool ties); a smaller one
    /// would let float32 round-off dominate.
    /// </summary>
    public const double DefaultStep = 1e-2;

    /// <summary>
    /// Threshold 1e-2 (Caffe's default). The numeric derivative is good to ~1e-4 relative (see
    /// <see cref="DefaultStep"/>), and the analytic one, computed in float32, to ~1e-6; 1e-2 leaves a
    /// factor of ~100 for unlucky cancellations. Real bugs (a wrong index, a missing term, a wrong
    /// divisor, a transposed operand) show up as errors of 5% to 100% of the gradient.
    /// </summary>
    public const double DefaultThreshold = 1e-2;

    /// <summary>Seed for the weighting r and for the choice of coordinates on large tensors.</summary>
    public int Seed { get; init; } = 20240611;

    public double Step { get; init; } = DefaultStep;
    public double Threshold { get; init; } = DefaultThreshold;

    /// <summary>
    /// The floor of the tolerance's scale. Caffe uses 1, which suits gradients of order 1 (the
    /// weighting r is uniform in [-1, 1]). Ops whose gradients are naturally much smaller (a loss
    /// averaged over the batch, softmax probabilities, averages) lower it to their natural scale so that
    /// the check stays relative and a wrong divisor cannot hide under an absolute 1e-2.
    /// </summary>
    public double Floor { get; init; } = 1.0;

    /// <summary>Tensors up to this many elements are checked at every coordinate.</summary>
    public int ExhaustiveLimit { get; init; } = 512;

    /// <summary>Larger tensors are checked at this many seeded random coordinates (at least 200).</summary>
    public int SampleCount { get; init; } = 256;

    /// <summary>A check fails as vacuous when kinks exclude more than this fraction of the coordinates.</summary>
    public double MaxSkippedFraction { get; init; } = 0.5;

    /// <summary>The objective's weighting r: uniform in [-scale, scale), seeded.</summary>
    public float[] Weights(int count, float scale = 1f) => TestData.Uniform(count, Seed ^ 0x5EED, scale);

    /// <summary>L = sum_i r_i * y_i, accumulated in double.</summary>
    public static double Objective(ReadOnlySpan<float> weights, ReadOnlySpan<float> output)
    {
        if (weights.Length != output.Length)
            throw new XunitException($"objective: {output.Length} outputs but {weights.Length} weights");
        double sum = 0;
        for (int i = 0; i < output.Length; i++) sum += (double)weights[i] * output[i];
        return sum;
    }

    public GradientReport Check(string label, float[] input, Func<float[], float[]> forward, float[] weights,
        float[] analytic, Shape? shape = null, Func<int, bool>? skip = null) =>
        Check(label, input, x => new ForwardResult(forward(x)), weights, analytic, shape, skip);

    /// <summary>
    /// Compares analytic[j] with the central difference of the objective at every chosen coordinate j
    /// of input. forward(x) must run the backend's forward op on the host array x (it may not keep or
    /// modify x). skip(j) excludes coordinates known to sit near a kink (for ReLU: |x_j| &lt; 2h);
    /// a regime returned by forward excludes coordinates whose perturbation changes it (max-pool switches).
    /// Throws an XunitException listing the worst mismatches, or when the check would be vacuous.
    /// </summary>
    public GradientReport Check(string label, float[] input, Func<float[], ForwardResult> forward, float[] weights,
        float[] analytic, Shape? shape = null, Func<int, bool>? skip = null)
    {
        if (analytic.Length != input.Length)
            throw new XunitException($"{label}: analytic gradient has {analytic.Length} values for {input.Length} inputs");
        if (shape is not null && shape.ElementCount != input.Length)
            throw new XunitException($"{label}: shape {shape} does not hold {input.Length} inputs");

        var work = (float[])input.Clone();
        var baseline = forward(work);
        double l0 = Objective(weights, baseline.Output);
        if (!double.IsFinite(l0)) throw new XunitException($"{label}: the objective at x is {l0}");

        var coordinates = ChooseCoordinates(input.Length);
        int checkedCount = 0, skippedByPredicate = 0, skippedByRegime = 0;
        double worstRelative = 0, largestNumeric = 0;
        var failures = new List<(int Index, double Analytic, double Numeric, double Error, double Allowed)>();

        foreach (int j in coordinates)
        {
            if (skip is not null && skip(j)) { skippedByPredicate++; continue; }
            float original = input[j];
            float plus = (float)(original + Step), minus = (float)(original - Step);

            work[j] = plus;
            var up = forward(work);
            work[j] = minus;
            var down = forward(work);
            work[j] = original;

            if (baseline.Regime is not null &&
                (!SameRegime(baseline.Regime, up.Regime) || !SameRegime(baseline.Regime, down.Regime)))
            {
                skippedByRegime++;
                continue;
            }

            // Divide by the step actually taken: x +- h rounded to float is not exactly 2h apart.
            double numeric = (Objective(weights, up.Output) - Objective(weights, down.Output)) / ((double)plus - minus);
            double a = analytic[j];
            double error = Math.Abs(a - numeric);
            double scale = Math.Max(Math.Max(Math.Abs(a), Math.Abs(numeric)), Floor);
            double allowed = Threshold * scale;
            checkedCount++;
            largestNumeric = Math.Max(largestNumeric, Math.Abs(numeric));
            worstRelative = Math.Max(worstRelative, double.IsNaN(error) ? double.PositiveInfinity : error / scale);
            if (!(error <= allowed)) failures.Add((j, a, numeric, error, allowed));
        }

        var report = new GradientReport(label, coordinates.Length, checkedCount, skippedByPredicate, skippedByRegime, worstRelative, largestNumeric);
        if (failures.Count > 0)
        {
            var text = new StringBuilder();
            text.AppendLine($"{label}: {failures.Count} of {checkedCount} checked coordinates differ beyond threshold {Threshold} " +
                            $"(h {Step}, floor {Floor}); worst relative error {worstRelative:G3}");
            foreach (var f in failures.OrderByDescending(f => f.Error / f.Allowed).Take(10))
                text.AppendLine($"  at {Coordinates(f.Index, shape)}: analytic {f.Analytic:G7}, numeric {f.Numeric:G7} (error {f.Error:G3}, allowed {f.Allowed:G3})");
            throw new XunitException(text.ToString());
        }
        int skipped = skippedByPredicate + skippedByRegime;
        if (checkedCount == 0 || skipped > MaxSkippedFraction * coordinates.Length)
            throw new XunitException($"{label}: vacuous check: {skipped} of {coordinates.Length} coordinates skipped as kinks");
        if (largestNumeric == 0)
            throw new XunitException($"{label}: vacuous check: the objective does not depend on any checked coordinate");
        return report;
    }

    /// <summary>Every index for small tensors, else a seeded random subset (sorted, distinct).</summary>
    public int[] ChooseCoordinates(int count)
    {
        if (count <= ExhaustiveLimit) return Enumerable.Range(0, count).ToArray();
        var all = Enumerable.Range(0, count).ToArray();
        var random = new Random(Seed ^ count);
        for (int i = 0; i < SampleCount; i++)
        {
            int pick = random.Next(i, count);
            (all[i], all[pick]) = (all[pick], all[i]);
        }
        var chosen = all[..SampleCount];
        Array.Sort(chosen);
        return chosen;
    }

    private static bool SameRegime(int[] expected, int[]? actual) =>
        actual is not null && expected.AsSpan().SequenceEqual(actual);

    private static string Coordinates(int index, Shape? shape)
    {
        if (shape is null) return $"[{index}]";
        var coords = new int[shape.Rank];
        int rest = index;
        for (int axis = shape.Rank - 1; axis >= 0; axis--)
        {
            coords[axis] = rest % Math.Max(1, shape[axis]);
            rest /= Math.Max(1, shape[axis]);
        }
        return "[" + string.Join(", ", coords) + "]";
    }
}
