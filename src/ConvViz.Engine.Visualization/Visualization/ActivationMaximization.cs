using System.Text.Json.Serialization;
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
/// its pixels (e.g. by 1/255 and 1/std) the step, decay, blur and clips act on its scaled input.
/// The start noise and the [0, 255] clip are in pixels, mapped through the model's preprocessing.
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
    /// <summary>keras-vis's Lp-norm penalty weight (0: off; keras-vis uses 10) and its p.</summary>
    public float LpWeight { get; init; }
    public float LpPower { get; init; } = 6;
    /// <summary>keras-vis's total-variation penalty weight (0: off; keras-vis uses 10) and its β.</summary>
    public float TvWeight { get; init; }
    public float TvBeta { get; init; } = 2;
    /// <summary>Transformation robustness: each step the network sees the image shifted by up to this
    /// many pixels, scaled by up to ±ScaleJitter and rotated by up to ±RotateDegrees (0: off).</summary>
    public int Jitter { get; init; }
    public float ScaleJitter { get; init; }
    public float RotateDegrees { get; init; }
    [JsonIgnore] public bool UsesTransforms => Jitter > 0 || ScaleJitter > 0 || RotateDegrees > 0;
    /// <summary>The start image's deviation in pixel units (mean plus N(0, StartStd²) noise, as the Toolbox's mean_plus_rand).</summary>
    public float StartStd { get; init; } = 10f;

    /// <summary>The four settings of the paper's Table 1, in its order.</summary>
    public static OptimizationOptions Preset(int number) => number switch
    {
        1 => new() { Decay = 0, BlurSigma = 0.5f, BlurEvery = 4, NormPercentile = 50, ContributionPercentile = 0, Iterations = 500, Policy = StepPolicy.Progress, MaxLearningRate = 100, DesiredProgress = 2 },
        2 => new() { Decay = 0.3f, BlurSigma = 0, BlurEvery = 0, NormPercentile = 20, ContributionPercentile = 0, Iterations = 750, Policy = StepPolicy.Constant, LearningRate = 100 },
        3 => new() { Decay = 1e-4f, BlurSigma = 1f, BlurEvery = 4, NormPercentile = 0, ContributionPercentile = 0, Iterations = 1000, Policy = StepPolicy.Constant, LearningRate = 100 },
        4 => new() { Decay = 0, BlurSigma = 0.5f, BlurEvery = 4, NormPercentile = 0, ContributionPercentile = 90, Iterations = 1000, Policy = StepPolicy.Progress, MaxLearningRate = 1e8f, DesiredProgress = 2 },
        _ => throw new ArgumentOutOfRangeException("Preset", number, $"Preset {number} is unknown; the paper's Table 1 has presets 1 to 4"),
    };

    /// <summary>
    /// The factor <see cref="AdaptedTo"/> applies to the constant learning rate of a model whose input
    /// is scaled. Table 1's constant rate (100) was tuned on CaffeNet, whose input is raw pixels. In a
    /// model's scaled input space the same number overshoots: the step saturates the pixel clip every
    /// iteration (on the default Fashion-MNIST model, rate 100 stays below the best bundled sample's
    /// logit for 9 of 10 classes), while the exact pixel-space equivalent (rate × (input units per
    /// pixel)², 0.012 there) barely moves. pytorch-cnn-visualizations runs this preset (blur 1 every 4
    /// steps, decay 1e-4) on torchvision's normalized input with rate 6; ConvViz adopts that ratio.
    /// </summary>
    public const float ScaledInputRateFactor = 0.06f;

    /// <summary>These options for a model with preprocessing <paramref name="p"/>: unchanged for a
    /// raw-pixel (Caffe) input; the constant learning rate times <see cref="ScaledInputRateFactor"/>
    /// otherwise. The progress policy sets its own rate from the gradient and is left alone.</summary>
    public OptimizationOptions AdaptedTo(Preprocessing p) =>
        IsRawPixelInput(p) ? this : this with { LearningRate = LearningRate * ScaledInputRateFactor };

    /// <summary>Whether one input unit is one pixel level in every channel, as in Caffe models.</summary>
    public static bool IsRawPixelInput(Preprocessing p) => Enumerable.Range(0, p.Channels).All(c => Math.Abs(p.InputPerPixel(c) - 1f) < 1e-6f);

    public void Validate()
    {
        if (Iterations < 1) throw new ArgumentOutOfRangeException(nameof(Iterations), Iterations, $"{nameof(Iterations)} {Iterations} must be at least 1");
        if (!(NormPercentile is >= 0 and <= 100))
            throw new ArgumentOutOfRangeException(nameof(NormPercentile), NormPercentile, $"{nameof(NormPercentile)} {NormPercentile} must be in 0..100");
        if (!(ContributionPercentile is >= 0 and <= 100))
            throw new ArgumentOutOfRangeException(nameof(ContributionPercentile), ContributionPercentile, $"{nameof(ContributionPercentile)} {ContributionPercentile} must be in 0..100");
        if (BlurEvery > 0 && !(BlurSigma > 0))
            throw new ArgumentOutOfRangeException(nameof(BlurSigma), BlurSigma, $"{nameof(BlurSigma)} {BlurSigma} must be positive when blurring every {BlurEvery} iterations");
        if (BlurEvery < 0) throw new ArgumentOutOfRangeException(nameof(BlurEvery), BlurEvery, $"{nameof(BlurEvery)} {BlurEvery} must be zero (never) or positive");
        if (!(Decay is >= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(Decay), Decay, $"{nameof(Decay)} {Decay} must be in [0, 1)");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, $"{nameof(LearningRate)} {LearningRate} must be positive");
        if (!(MaxLearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(MaxLearningRate), MaxLearningRate, $"{nameof(MaxLearningRate)} {MaxLearningRate} must be positive");
        if (!(DesiredProgress > 0)) throw new ArgumentOutOfRangeException(nameof(DesiredProgress), DesiredProgress, $"{nameof(DesiredProgress)} {DesiredProgress} must be positive");
        if (!(LpWeight >= 0)) throw new ArgumentOutOfRangeException(nameof(LpWeight), LpWeight, $"{nameof(LpWeight)} {LpWeight} must be zero (off) or positive");
        if (!(LpPower >= 1)) throw new ArgumentOutOfRangeException(nameof(LpPower), LpPower, $"{nameof(LpPower)} {LpPower} must be at least 1");
        if (!(TvWeight >= 0)) throw new ArgumentOutOfRangeException(nameof(TvWeight), TvWeight, $"{nameof(TvWeight)} {TvWeight} must be zero (off) or positive");
        if (!(TvBeta > 0)) throw new ArgumentOutOfRangeException(nameof(TvBeta), TvBeta, $"{nameof(TvBeta)} {TvBeta} must be positive");
        if (Jitter < 0) throw new ArgumentOutOfRangeException(nameof(Jitter), Jitter, $"{nameof(Jitter)} {Jitter} must be zero (off) or a positive number of pixels");
        if (!(ScaleJitter is >= 0 and < 0.5f)) throw new ArgumentOutOfRangeException(nameof(ScaleJitter), ScaleJitter, $"{nameof(ScaleJitter)} {ScaleJitter} must be in [0, 0.5)");
        if (!(RotateDegrees is >= 0 and <= 180))
            throw new ArgumentOutOfRangeException(nameof(RotateDegrees), RotateDegrees, $"{nameof(RotateDegrees)} {RotateDegrees} must be in 0..180 degrees");
    }

    /// <summary>
    /// The settings of these options that differ from <paramref name="reference"/> (the preset, adapted to the model),
    /// as a file-name part such as "-it60-lr0.5" (empty when none differs): two runs into one folder with different
    /// settings write different files. The seed is not listed; file names carry it on their own.
    /// </summary>
    public string DifferencesFrom(OptimizationOptions reference)
    {
        var parts = new List<string>();
        void Add<T>(string key, T mine, T theirs) where T : IEquatable<T>
        {
            if (!mine.Equals(theirs)) parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"-{key}{mine}"));
        }
        Add("it", Iterations, reference.Iterations);
        Add("policy", Policy.ToString(), reference.Policy.ToString());
        Add("lr", LearningRate, reference.LearningRate);
        Add("maxlr", MaxLearningRate, reference.MaxLearningRate);
        Add("progress", DesiredProgress, reference.DesiredProgress);
        Add("decay", Decay, reference.Decay);
        Add("blur", BlurSigma, reference.BlurSigma);
        Add("blurevery", BlurEvery, reference.BlurEvery);
        Add("norm", NormPercentile, reference.NormPercentile);
        Add("contribution", ContributionPercentile, reference.ContributionPercentile);
        Add("lp", LpWeight, reference.LpWeight);
        Add("lppower", LpPower, reference.LpPower);
        Add("tv", TvWeight, reference.TvWeight);
        Add("tvbeta", TvBeta, reference.TvBeta);
        Add("jitter", Jitter, reference.Jitter);
        Add("scalejitter", ScaleJitter, reference.ScaleJitter);
        Add("rotate", RotateDegrees, reference.RotateDegrees);
        Add("startstd", StartStd, reference.StartStd);
        if (Minimize != reference.Minimize) parts.Add(Minimize ? "-minimize" : "-maximize");
        return string.Concat(parts);
    }
}

/// <summary>The result: the last, the best and (when reached) the first "majority" iterate, as model inputs (C, H, W).</summary>
public sealed record OptimizationResult(Target Target, float[] Last, float[] Best, float BestObjective, int BestIteration, float[]? Majority, int? MajorityIteration,
    IReadOnlyList<float> Objectives);

/// <summary>After the forward of step <see cref="Iteration"/> (from 0) of <see cref="Iterations"/>: the target's value there.</summary>
public readonly record struct OptimizeProgress(int Iteration, int Iterations, float Objective);

/// <summary>After the forward of step <see cref="Iteration"/> (from 0) of <see cref="Iterations"/>: every item's objective, in target order.</summary>
public readonly record struct OptimizeBatchProgress(int Iteration, int Iterations, IReadOnlyList<float> Objectives);

public static class ActivationMaximization
{
    /// <summary>Optimizes one target; the same as a batch of one.</summary>
    public static OptimizationResult Run(Network network, Preprocessing p, Target target, OptimizationOptions o, float[]? start = null,
        IProgress<OptimizeProgress>? progress = null, CancellationToken cancellation = default) =>
        RunBatch(network, p, [target], o, start,
            progress is null ? null : new ProgressAction<OptimizeBatchProgress>(b => progress.Report(new OptimizeProgress(b.Iteration, b.Iterations, b.Objectives[0]))), cancellation)[0];

    /// <summary>
    /// Optimizes one image per target as one batch (one forward and one backward per step for all of
    /// them); the targets share a layer, and every image starts from the same start (the seeded noise
    /// or <paramref name="start"/>), so item i equals a single run for target i. Each iteration: clip
    /// u + mean to [0, 255]; forward; objective = the target's value (a unit at its position, or at the
    /// center of its channel); backward with seed ±1 at each item's target; then (except after the
    /// last forward) u += lr·g, u *= 1 - decay, blur every N iterations, zero small-norm pixels, zero
    /// small-contribution pixels, each per image.
    /// </summary>
    /// <param name="start">A start image as a model input (C, H, W); null for the mean plus noise.</param>
    /// <param name="progress">Told after each forward, on the calling thread.</param>
    public static IReadOnlyList<OptimizationResult> RunBatch(Network network, Preprocessing p, IReadOnlyList<Target> targets, OptimizationOptions o,
        float[]? start = null, IProgress<OptimizeBatchProgress>? progress = null, CancellationToken cancellation = default)
    {
        o.Validate();
        if (targets.Count == 0) throw new ArgumentException("give at least one unit to optimize", nameof(targets));
        string layer = targets[0].Layer;
        if (targets.Any(t => t.Layer != layer)) throw new ArgumentException("the units of one batch must belong to one layer", nameof(targets));
        int n = targets.Count, c = p.Channels, plane = p.Height * p.Width, size = c * plane;
        var wholeShape = network.OutputShape(layer, n);
        foreach (var target in targets) UnitIndex(wholeShape, target);
        // The network runs on the window that holds the targets' receptive field (they share a position).
        var positions = targets.Select(t => Position(wholeShape, t)).Distinct().ToArray();
        var window = wholeShape.Rank == 4 && positions.Length == 1
            ? InputWindow.ForUnit(network, layer, positions[0].Y, positions[0].X)
            : InputWindow.Whole(p.Height, p.Width);
        bool cropped = window != InputWindow.Whole(p.Height, p.Width);
        var inputShape = new Shape(n, c, window.Height, window.Width);
        var layerShape = cropped ? network.OutputShape(layer, inputShape) : wholeShape;
        var field = ReceptiveFields.Of(network, layer);
        var unitIndex = targets.Select(t => UnitIndex(layerShape, WindowTarget(field, window, wholeShape, t))).ToArray();
        int perItem = layerShape.ElementCount / n;
        var backend = network.Parameters.First().Value.Backend;

        // u holds the n model inputs (N, C, H, W); the start noise is in pixel units.
        var first = start is null ? Start(c, plane, o).Select((v, i) => v * p.InputPerPixel(i / plane)).ToArray() : (float[])start.Clone();
        if (first.Length != size) throw new ArgumentException($"the start image has {first.Length} values, the model takes ({c}, {p.Height}, {p.Width})");
        var u = new float[n * size];
        for (int i = 0; i < n; i++) first.CopyTo(u, i * size);

        var seedValues = new float[layerShape.ElementCount];
        for (int i = 0; i < n; i++) seedValues[i * perItem + unitIndex[i]] = o.Minimize ? -1f : 1f;
        using var seed = backend.Upload(seedValues, layerShape);
        using var input = backend.Allocate(inputShape);
        var windowValues = cropped ? new float[inputShape.ElementCount] : [];
        var wholeGradient = cropped ? new float[u.Length] : [];
        float sign = o.Minimize ? -1f : 1f;
        var best = new float[n][];
        var bestObjective = new float[n];
        var bestIteration = new int[n];
        var majority = new float[n][];
        var majorityIteration = new int?[n];
        var objectives = Enumerable.Range(0, n).Select(_ => new List<float>(o.Iterations)).ToArray();
        var current = new float[n];
        // Buffers reused every step: the transformed images, and the gradients pulled back through the transform.
        var seen = o.UsesTransforms ? new float[u.Length] : [];
        var pulledBack = o.UsesTransforms ? new float[u.Length] : [];

        for (int it = 0; it < o.Iterations; it++)
        {
            cancellation.ThrowIfCancellationRequested();
            p.ClampToPixelRange(u);
            var transform = o.UsesTransforms ? RobustnessTransform.Random(p.Height, p.Width, o.Jitter, o.ScaleJitter, o.RotateDegrees, o.Seed, it) : null;
            transform?.Apply(u, seen);
            var shown = transform is null ? u : seen;
            if (cropped) window.Crop(shown, p.Height, p.Width, windowValues);
            backend.Upload(cropped ? windowValues : shown, input);
            using var pass = network.Forward(input, upTo: layer);
            var output = backend.Download(pass.Last);
            for (int i = 0; i < n; i++)
            {
                float objective = current[i] = output[i * perItem + unitIndex[i]];
                objectives[i].Add(objective);
                if (it == 0 || sign * objective > sign * bestObjective[i])
                {
                    best[i] = u.AsSpan(i * size, size).ToArray();
                    (bestObjective[i], bestIteration[i]) = (objective, it);
                }
                if (majority[i] is null && IsArgMax(output.AsSpan(i * perItem, perItem), unitIndex[i], layerShape, o.Minimize))
                    (majority[i], majorityIteration[i]) = (u.AsSpan(i * size, size).ToArray(), it);
            }
            progress?.Report(new OptimizeBatchProgress(it, o.Iterations, (float[])current.Clone()));
            if (it == o.Iterations - 1) break;

            using var dx = network.Backward(pass, layer, seed)!;
            var g = backend.Download(dx);
            if (cropped)
            {
                window.Paste(g, p.Height, p.Width, wholeGradient);
                g = wholeGradient;
            }
            if (transform is not null)
            {
                transform.ApplyAdjoint(g, pulledBack);
                g = pulledBack;
            }
            Step(u, g, it, c, plane, o, p, backend);
        }
        return Enumerable.Range(0, n).Select(i => new OptimizationResult(targets[i], u.AsSpan(i * size, size).ToArray(), best[i], bestObjective[i], bestIteration[i],
            majority[i], majorityIteration[i], objectives[i])).ToArray();
    }

    /// <summary>One update of the inputs u from their objective gradients g (both (N, C, H, W)); the
    /// penalties' gradients are subtracted from g first; the step size and the percentile clips are per image.</summary>
    public static void Step(float[] u, float[] g, int iteration, int channels, int plane, OptimizationOptions o, Preprocessing p, Backend backend)
    {
        int size = channels * plane;
        for (int item = 0; item < u.Length; item += size)
        {
            if (o.LpWeight > 0) ImagePenalties.LpNorm(u.AsSpan(item, size), o.LpPower, -o.LpWeight, g.AsSpan(item, size));
            if (o.TvWeight > 0) ImagePenalties.TotalVariation(u.AsSpan(item, size), channels, p.Height, p.Width, o.TvBeta, -o.TvWeight, g.AsSpan(item, size));

            double squared = 0;
            for (int i = item; i < item + size; i++) squared += (double)g[i] * g[i];
            float lr = o.Policy == StepPolicy.Constant ? o.LearningRate : (float)Math.Min(o.MaxLearningRate, o.DesiredProgress / Math.Max(squared, 1e-30));
            for (int i = item; i < item + size; i++) u[i] += lr * g[i];
        }
        Regularizers.Decay(u, o.Decay);
        if (o.BlurEvery > 0 && iteration % o.BlurEvery == 0) Regularizers.Blur(u, channels, p.Height, p.Width, o.BlurSigma, backend);
        for (int item = 0; item < u.Length; item += size)
        {
            var image = u.AsSpan(item, size);
            if (o.NormPercentile > 0) Regularizers.ZeroSmallNorm(image, channels, plane, o.NormPercentile);
            if (o.ContributionPercentile > 0) Regularizers.ZeroSmallContribution(image, g.AsSpan(item, size), channels, plane, o.ContributionPercentile);
        }
    }

    private static float[] Start(int channels, int plane, OptimizationOptions o)
    {
        var random = new Random(o.Seed);
        var u = new float[channels * plane];
        for (int i = 0; i < u.Length; i++) u[i] = (float)(o.StartStd * GaussianNoise.Next(random));
        return u;
    }

    /// <summary>The target's channel at its position (the given one, or the center of its channel).</summary>
    private static (int Y, int X) Position(Shape shape, Target target) =>
        shape.Rank != 4 ? (0, 0) : (target.Y ?? shape.H / 2, target.X ?? shape.W / 2);

    /// <summary>The target as a unit of the layer's output on <paramref name="window"/>.</summary>
    private static Target WindowTarget(ReceptiveField field, InputWindow window, Shape wholeShape, Target target)
    {
        if (wholeShape.Rank != 4) return target;
        var (y, x) = Position(wholeShape, target);
        var (wy, wx) = window.UnitPosition(field, y, x);
        return target with { Y = wy, X = wx };
    }

    /// <summary>The target's offset within one item of a layer output of <paramref name="shape"/>: its
    /// channel at the given position, or at the center of its channel.</summary>
    private static int UnitIndex(Shape shape, Target target)
    {
        int units = shape.Rank >= 2 ? shape[1] : 1;
        if (target.Channel < 0 || target.Channel >= units)
            throw new ArgumentException($"unit {target.Channel} is outside layer '{target.Layer}' with {units} channels, shape {shape}");
        if (shape.Rank != 4) return target.Channel;
        if (target.Y is { } ty && (ty < 0 || ty >= shape.H || target.X is not { } tx || tx < 0 || tx >= shape.W))
            throw new ArgumentException($"position ({target.Y}, {target.X}) is outside layer '{target.Layer}' of shape {shape}");
        var (y, x) = Position(shape, target);
        return (target.Channel * shape.H + y) * shape.W + x;
    }

    /// <summary>Whether the unit at <paramref name="index"/> of one item's output is the largest (smallest
    /// when minimizing) of its layer at its position.</summary>
    private static bool IsArgMax(ReadOnlySpan<float> output, int index, Shape shape, bool minimize)
    {
        int plane = shape.Rank == 4 ? shape.H * shape.W : 1, channels = shape.Rank >= 2 ? shape[1] : 1;
        int offset = index % plane;
        for (int ch = 0; ch < channels; ch++)
        {
            float v = output[ch * plane + offset];
            if (ch * plane + offset != index && (minimize ? v <= output[index] : v >= output[index])) return false;
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

    /// <summary>A Gaussian blur of each channel of the images u (N, C, H, W) (sigma in pixels), through the backend's blur op.</summary>
    public static void Blur(float[] u, int channels, int height, int width, float sigma, Backend backend)
    {
        using var x = backend.Upload(u, new Shape(u.Length / (channels * height * width), channels, height, width));
        using var y = backend.Allocate(x.Shape);
        backend.GaussianBlur(x, y, sigma);
        backend.Download(y).CopyTo(u, 0);
    }

    /// <summary>Zeroes every pixel whose L2 norm over channels is below the given percentile of those norms.</summary>
    public static void ZeroSmallNorm(Span<float> u, int channels, int plane, float percentile)
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
    public static void ZeroSmallContribution(Span<float> u, ReadOnlySpan<float> g, int channels, int plane, float percentile)
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

    private static void ZeroBelow(Span<float> u, int channels, int plane, float[] scores, float percentile)
    {
        float threshold = Percentile(scores, percentile);
        for (int i = 0; i < plane; i++)
            if (scores[i] < threshold)
                for (int c = 0; c < channels; c++) u[c * plane + i] = 0;
    }
}
