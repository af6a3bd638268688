using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>How the step size is chosen: a constant, or Yosinski's "progress" policy
/// lr = min(MaxLearningRate, DesiredProgress / |g|²), which aims at a fixed first-order gain per step.</summary>
public enum StepPolicy { Constant, Progress }

/// <summary>
/// Regularized activation maximization as in Yosinski et al. 2015 (the Deep Visualization
/// Toolbox's gradient_optimizer.py). The image is optimized in the model's own input space: for a
/// Caffe model that is the paper's mean-subtracted pixel space exactly; for a model that scales
/// its pixels (e.g. by 1/255 and 1/std) the step, decay, blur and clips act on its scaled input,
/// where a pixel-space rate would be far too small. The start noise and the [0, 255] clip are in
/// pixels, mapped through the model's preprocessing.
/// </summary>
public sealed record OptimizationOptions
{
    public int Iterations { get; init; } = 1000;
    public StepPolicy Policy { get; init; } = StepPolicy.Constant;
    public float LearningRate { get; init; } = 100f;
    public float MaxLearningRate { get; init; } = 100f;
    public float DesiredProgress { get; init; } = 2f;
    /// <summary>L2 decay: after each step u *= (1 - Decay).</summary>
    public float Decay { get; init; } = 1e-4f;
    public float BlurSigma { get; init; } = 1f;
    /// <summary>Blur every this many iterations (0: never).</summary>
    public int BlurEvery { get; init; } = 4;
    /// <summary>Zero the pixels whose channel L2 norm is below this percentile (0: off).</summary>
    public float NormPercentile { get; init; }
    /// <summary>Zero the pixels whose |Σ_c u·(-g)| is below this percentile (0: off).</summary>
    public float ContributionPercentile { get; init; }
    /// <summary>Maximize (+1) or minimize (-1) the objective.</summary>
    public bool Minimize { get; init; }
    public int Seed { get; init; }
    /// <summary>The start image's deviation in pixel units (mean plus N(0, StartStd²) noise, as the Toolbox's mean_plus_rand).</summary>
    public float StartStd { get; init; } = 10f;

    /// <summary>The four settings of the paper's Table 1, in its order.</summary>
    public static OptimizationOptions Preset(int number) => number switch
    {
        1 => new() { Decay = 0, BlurSigma = 0.5f, BlurEvery = 4, NormPercentile = 50, ContributionPercentile = 0, Iterations = 500, Policy = StepPolicy.Progress, MaxLearningRate = 100, DesiredProgress = 2 },
        2 => new() { Decay = 0.3f, BlurSigma = 0, BlurEvery = 0, NormPercentile = 20, ContributionPercentile = 0, Iterations = 750, Policy = StepPolicy.Constant, LearningRate = 100 },
        3 => new() { Decay = 1e-4f, BlurSigma = 1f, BlurEvery = 4, NormPercentile = 0, ContributionPercentile = 0, Iterations = 1000, Policy = StepPolicy.Constant, LearningRate = 100 },
        4 => new() { Decay = 0, BlurSigma = 0.5f, BlurEvery = 4, NormPercentile = 0, ContributionPercentile = 90, Iterations = 1000, Policy = StepPolicy.Progress, MaxLearningRate = 1e8f, DesiredProgress = 2 },
        _ => throw new ArgumentException($"--preset {number} is unknown; the paper's Table 1 has presets 1 to 4"),
    };

    public void Validate()
    {
        if (Iterations < 1) throw new ArgumentException($"--iterations {Iterations} must be at least 1");
        if (!(NormPercentile is >= 0 and <= 100)) throw new ArgumentException($"--norm-percentile {NormPercentile} must be in 0..100");
        if (!(ContributionPercentile is >= 0 and <= 100)) throw new ArgumentException($"--contribution-percentile {ContributionPercentile} must be in 0..100");
        if (BlurEvery > 0 && !(BlurSigma > 0)) throw new ArgumentException($"--blur-sigma {BlurSigma} must be positive when blurring every {BlurEvery} iterations");
        if (BlurEvery < 0) throw new ArgumentException($"--blur-every {BlurEvery} must be zero (never) or positive");
        if (!(Decay is >= 0 and < 1)) throw new ArgumentException($"--decay {Decay} must be in [0, 1)");
        if (!(LearningRate > 0) || !(MaxLearningRate > 0) || !(DesiredProgress > 0)) throw new ArgumentException("learning rates and the desired progress must be positive");
    }
}

/// <summary>The result: the last, the best and (when reached) the first "majority" iterate, as model inputs (C, H, W).</summary>
public sealed record OptimizationResult(float[] Last, float[] Best, float BestObjective, int BestIteration, float[]? Majority, int? MajorityIteration,
    IReadOnlyList<float> Objectives);

public static class ActivationMaximization
{
    /// <summary>
    /// Runs the optimization for batch item 0. Each iteration: clip u + mean to [0, 255]; forward;
    /// objective = the target's value (a unit at its position, or at the center of its channel); backward
    /// with seed ±1 at the target; then (except after the last forward) u += lr·g, u *= 1 - decay,
    /// blur every N iterations, zero small-norm pixels, zero small-contribution pixels.
    /// </summary>
    /// <param name="start">A start image as a model input (C, H, W); null for the mean plus noise.</param>
    public static OptimizationResult Run(Network network, Preprocessing p, Target target, OptimizationOptions o, float[]? start = null,
        Action<int, float>? onIteration = null, CancellationToken cancellation = default)
    {
        o.Validate();
        var layerShape = network.OutputShape(target.Layer, 1);
        int units = layerShape.Rank >= 2 ? layerShape[1] : 1;
        if (target.Channel < 0 || target.Channel >= units)
            throw new ArgumentException($"unit {target.Channel} is outside layer '{target.Layer}' with {units} channels, shape {layerShape}");
        if (target.Y is { } ty && (layerShape.Rank != 4 || ty < 0 || ty >= layerShape.H || target.X is not { } tx || tx < 0 || tx >= layerShape.W))
            throw new ArgumentException($"position ({target.Y}, {target.X}) is outside layer '{target.Layer}' of shape {layerShape}");
        var backend = network.Parameters.First().Value.Backend;
        int c = p.Channels, plane = p.Height * p.Width;
        // u is the model input (C, H, W); the start noise is in pixel units.
        var u = start is null ? Start(c, plane, o).Select((v, i) => v * p.InputPerPixel(i / plane)).ToArray() : (float[])start.Clone();
        if (u.Length != c * plane) throw new ArgumentException($"the start image has {u.Length} values, the model takes ({c}, {p.Height}, {p.Width})");
        var objectives = new List<float>();
        float[] best = [];
        float bestObjective = float.NegativeInfinity;
        int bestIteration = -1;
        float[]? majority = null;
        int? majorityIteration = null;
        float sign = o.Minimize ? -1f : 1f;

        for (int it = 0; it < o.Iterations; it++)
        {
            cancellation.ThrowIfCancellationRequested();
            p.ClampToPixelRange(u);
            var x = (float[])u.Clone();
            using var input = backend.Upload(x, network.InputShape(1));
            using var pass = network.Forward(input, upTo: target.Layer);
            var output = backend.Download(pass.Last);
            var (y, xPos) = Position(pass.Last.Shape, target);
            int unitPlane = pass.Last.Shape.Rank == 4 ? pass.Last.Shape.H * pass.Last.Shape.W : 1;
            int index = target.Channel * unitPlane + (pass.Last.Shape.Rank == 4 ? y * pass.Last.Shape.W + xPos : 0);
            float objective = output[index];
            objectives.Add(objective);
            if (sign * objective > sign * bestObjective || bestIteration < 0)
            {
                (best, bestObjective, bestIteration) = (x, objective, it);
            }
            if (majority is null && IsArgMax(output, index, unitPlane, target.Channel, pass.Last.Shape, o.Minimize))
                (majority, majorityIteration) = (x, it);
            onIteration?.Invoke(it, objective);
            if (it == o.Iterations - 1) break;

            using var seed = network.UnitSeed(pass, target.Layer, target.Channel, pass.Last.Shape.Rank == 4 ? y : null, pass.Last.Shape.Rank == 4 ? xPos : null, n: 0);
            if (o.Minimize) backend.Scale(seed, -1f);
            using var dx = network.Backward(pass, target.Layer, seed)!;
            Step(u, backend.Download(dx), it, c, plane, o, p, backend);
        }
        return new OptimizationResult(u, best, bestObjective, bestIteration, majority, majorityIteration, objectives);
    }

    /// <summary>One update of the input u from the gradient g (both (C, H, W)).</summary>
    public static void Step(float[] u, float[] g, int iteration, int channels, int plane, OptimizationOptions o, Preprocessing p, Backend backend)
    {
        double squared = 0;
        foreach (float v in g) squared += (double)v * v;
        float lr = o.Policy == StepPolicy.Constant ? o.LearningRate : (float)Math.Min(o.MaxLearningRate, o.DesiredProgress / Math.Max(squared, 1e-30));
        for (int i = 0; i < u.Length; i++) u[i] += lr * g[i];
        Regularizers.Decay(u, o.Decay);
        if (o.BlurEvery > 0 && iteration % o.BlurEvery == 0) Regularizers.Blur(u, channels, p.Height, p.Width, o.BlurSigma, backend);
        if (o.NormPercentile > 0) Regularizers.ZeroSmallNorm(u, channels, plane, o.NormPercentile);
        if (o.ContributionPercentile > 0) Regularizers.ZeroSmallContribution(u, g, channels, plane, o.ContributionPercentile);
    }

    private static float[] Start(int channels, int plane, OptimizationOptions o)
    {
        var random = new Random(o.Seed);
        var u = new float[channels * plane];
        for (int i = 0; i < u.Length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            u[i] = (float)(o.StartStd * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return u;
    }

    /// <summary>The unit's position: the given one, or the center of its channel.</summary>
    private static (int Y, int X) Position(Shape shape, Target target) =>
        shape.Rank != 4 ? (0, 0) : (target.Y ?? shape.H / 2, target.X ?? shape.W / 2);

    /// <summary>Whether the target is the largest (smallest when minimizing) unit of its layer at its position.</summary>
    private static bool IsArgMax(float[] output, int index, int plane, int channel, Shape shape, bool minimize)
    {
        int offset = index - channel * plane, channels = shape[1];
        for (int ch = 0; ch < channels; ch++)
        {
            float v = output[ch * plane + offset];
            if (ch != channel && (minimize ? v <= output[index] : v >= output[index])) return false;
        }
        return true;
    }
}

/// <summary>The Toolbox's image regularizers, each on u (C, H, W) in place.</summary>
public static class Regularizers
{
    /// <summary>u *= 1 - decay.</summary>
    public static void Decay(float[] u, float decay)
    {
        if (decay == 0) return;
        for (int i = 0; i < u.Length; i++) u[i] *= 1 - decay;
    }

    /// <summary>A Gaussian blur of each channel (sigma in pixels), through the backend's blur op.</summary>
    public static void Blur(float[] u, int channels, int height, int width, float sigma, Backend backend)
    {
        using var x = backend.Upload(u, new Shape(1, channels, height, width));
        using var y = backend.Allocate(x.Shape);
        backend.GaussianBlur(x, y, sigma);
        backend.Download(y).CopyTo(u, 0);
    }

    /// <summary>Zeroes every pixel whose L2 norm over channels is below the given percentile of those norms.</summary>
    public static void ZeroSmallNorm(float[] u, int channels, int plane, float percentile)
    {
        var norms = new float[plane];
        for (int i = 0; i < plane; i++)
        {
            double sum = 0;
            for (int c = 0; c < channels; c++) sum += (double)u[c * plane + i] * u[c * plane + i];
            norms[i] = (float)Math.Sqrt(sum);
        }
        ZeroBelow(u, channels, plane, norms, percentile);
    }

    /// <summary>Zeroes every pixel whose linearized contribution |Σ_c u·(-g)| (the objective's change if
    /// the pixel were set to 0) is below the given percentile.</summary>
    public static void ZeroSmallContribution(float[] u, float[] g, int channels, int plane, float percentile)
    {
        var contributions = new float[plane];
        for (int i = 0; i < plane; i++)
        {
            double sum = 0;
            for (int c = 0; c < channels; c++) sum += -(double)u[c * plane + i] * g[c * plane + i];
            contributions[i] = (float)Math.Abs(sum);
        }
        ZeroBelow(u, channels, plane, contributions, percentile);
    }

    /// <summary>numpy's percentile (linear interpolation between order statistics).</summary>
    public static float Percentile(float[] values, float percentile)
    {
        var sorted = values.Order().ToArray();
        double rank = percentile / 100.0 * (sorted.Length - 1);
        int low = (int)Math.Floor(rank), high = Math.Min(low + 1, sorted.Length - 1);
        return (float)(sorted[low] + (sorted[high] - sorted[low]) * (rank - low));
    }

    private static void ZeroBelow(float[] u, int channels, int plane, float[] scores, float percentile)
    {
        float threshold = Percentile(scores, percentile);
        for (int i = 0; i < plane; i++)
            if (scores[i] < threshold)
                for (int c = 0; c < channels; c++) u[c * plane + i] = 0;
    }
}
