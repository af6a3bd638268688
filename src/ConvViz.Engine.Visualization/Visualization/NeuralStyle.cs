using System.Text.Json.Serialization;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

[JsonConverter(typeof(JsonStringEnumConverter<StyleOptimizer>))]
public enum StyleOptimizer { Adam, Lbfgs }

/// <summary>Where the image starts: the model's zero input (the mean image) plus N(0, 0.001²) noise in pixel
/// levels (neural-style's randn·0.001 in its Caffe pixel units), or the content image.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<StyleInit>))]
public enum StyleInit { Noise, Content }

/// <summary>
/// Neural style (Gatys et al. 2016) with jcjohnson/neural-style's definitions and default weights.
/// The image is optimized in the model's input units, where every loss term is measured, as in
/// neural-style (whose Caffe models take mean-subtracted pixels); so are Adam's learning rate and
/// the TV term. On a model that scales its pixels down (fashion-alexnet: 1 input unit ≈ 90 pixel
/// levels) the activations, and with them the content and style losses, are far smaller than
/// VGG's, so neural-style's weights balance the terms differently there.
/// </summary>
public sealed record StyleOptions
{
    /// <summary>null: the ReLU after the 4th conv (after the last conv when there are fewer).</summary>
    public string? ContentLayer { get; init; }
    /// <summary>null: the ReLU after every conv.</summary>
    public IReadOnlyList<string>? StyleLayers { get; init; }
    public float ContentWeight { get; init; } = 5f;
    public float StyleWeight { get; init; } = 100f;
    public float TvWeight { get; init; } = 1e-3f;
    /// <summary>Optimizer steps; the image after the last one is the result.</summary>
    public int Iterations { get; init; } = 200;
    /// <summary>Adam by default: on fashion-alexnet, 200 steps reached a lower total loss than L-BFGS
    /// (0.083 vs 0.089 at the default weights, 1.97 vs 2.75 at style weight 1e4).</summary>
    public StyleOptimizer Optimizer { get; init; } = StyleOptimizer.Adam;
    /// <summary>Adam's step in model input units; 0.1 (≈ 9 pixel levels on fashion-alexnet, near neural-style's
    /// 10 in Caffe pixels) gave the lowest loss of 0.01, 0.03, 0.1, 0.3 and 1 after 200 steps.</summary>
    public float LearningRate { get; init; } = 0.1f;
    /// <summary>L-BFGS's number of stored (s, y) pairs.</summary>
    public int History { get; init; } = 20;
    public StyleInit Init { get; init; } = StyleInit.Noise;
    public int Seed { get; init; }

    /// <summary>Deviation of the start noise in pixel levels (neural-style's randn·0.001).</summary>
    public const float NoiseStd = 1e-3f;

    public void Validate()
    {
        if (!(ContentWeight >= 0) || float.IsInfinity(ContentWeight))
            throw new ArgumentOutOfRangeException(nameof(ContentWeight), ContentWeight, $"{nameof(ContentWeight)} {ContentWeight} must be a finite number, zero or positive");
        if (!(StyleWeight >= 0) || float.IsInfinity(StyleWeight))
            throw new ArgumentOutOfRangeException(nameof(StyleWeight), StyleWeight, $"{nameof(StyleWeight)} {StyleWeight} must be a finite number, zero or positive");
        if (!(TvWeight >= 0) || float.IsInfinity(TvWeight))
            throw new ArgumentOutOfRangeException(nameof(TvWeight), TvWeight, $"{nameof(TvWeight)} {TvWeight} must be a finite number, zero or positive");
        if (Iterations < 1) throw new ArgumentOutOfRangeException(nameof(Iterations), Iterations, $"{nameof(Iterations)} {Iterations} must be at least 1");
        if (!(LearningRate > 0) || float.IsInfinity(LearningRate))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, $"{nameof(LearningRate)} {LearningRate} must be a positive number (model input units per Adam step)");
        if (History < 1) throw new ArgumentOutOfRangeException(nameof(History), History, $"{nameof(History)} {History} must be at least 1");
        if (StyleLayers is { Count: 0 }) throw new ArgumentException($"{nameof(StyleLayers)} is empty; give at least one layer, e.g. relu1,relu2", nameof(StyleLayers));
        if (StyleLayers is not null && StyleLayers.Distinct().Count() != StyleLayers.Count)
            throw new ArgumentException($"{nameof(StyleLayers)} {string.Join(",", StyleLayers)} names a layer twice", nameof(StyleLayers));
    }

    /// <summary>
    /// "-stylerelu1+relu2-sw10000-it50-seed7": each setting but the content layer that differs from <paramref name="reference"/>,
    /// for file names; the style layers are compared as given, so give both resolved (<see cref="Resolve"/>).
    /// </summary>
    public string DifferencesFrom(StyleOptions reference)
    {
        var parts = new List<string>();
        void Add<T>(string key, T mine, T theirs)
        {
            if (!EqualityComparer<T>.Default.Equals(mine, theirs)) parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"-{key}{mine}"));
        }
        Add("style", string.Join("+", StyleLayers ?? []), string.Join("+", reference.StyleLayers ?? []));
        Add("cw", ContentWeight, reference.ContentWeight);
        Add("sw", StyleWeight, reference.StyleWeight);
        Add("tv", TvWeight, reference.TvWeight);
        Add("it", Iterations, reference.Iterations);
        Add("", Optimizer.ToString().ToLowerInvariant(), reference.Optimizer.ToString().ToLowerInvariant());
        Add("lr", LearningRate, reference.LearningRate);
        Add("history", History, reference.History);
        Add("init", Init.ToString().ToLowerInvariant(), reference.Init.ToString().ToLowerInvariant());
        Add("seed", Seed, reference.Seed);
        return string.Concat(parts);
    }

    /// <summary>These options with the default layers filled in for <paramref name="network"/>, after checking that
    /// every layer exists and every style layer has feature maps (a Gram matrix correlates channels over positions).</summary>
    public StyleOptions Resolve(Network network)
    {
        Validate();
        var rectified = LayerRoles.RectifiedConvolutions(network);
        string content = ContentLayer ?? (rectified.Count > 0 ? rectified[Math.Min(3, rectified.Count - 1)]
            : throw new ArgumentException($"the model has no conv layer; give {nameof(ContentLayer)} and {nameof(StyleLayers)}", nameof(ContentLayer)));
        var style = StyleLayers ?? rectified.ToArray();
        Require(nameof(ContentLayer), content, network);
        foreach (string layer in style)
        {
            Require(nameof(StyleLayers), layer, network);
            var shape = network.OutputShape(layer, 1);
            if (shape.Rank != 4)
                throw new ArgumentException($"{nameof(StyleLayers)} {layer}: Gram matrices need feature maps (C, H, W), but '{layer}' outputs {shape}; " +
                                            $"choose conv-stage layers, e.g. {string.Join(",", rectified)}", nameof(StyleLayers));
        }
        return this with { ContentLayer = content, StyleLayers = style.ToArray() };
    }

    private static void Require(string parameter, string layer, Network network)
    {
        try { network.IndexOf(layer); }
        catch (ArgumentException e) { throw new ArgumentException($"{parameter} {layer}: {e.Message}", parameter); }
    }
}

/// <summary>The stylized image as a model input (C, H, W), clipped to the valid pixel range; the losses at each
/// iteration (0 = the start, k = after step k) and of the returned image; how many evaluations it took.</summary>
public sealed record StyleResult(float[] Image, StyleOptions Options, IReadOnlyList<StyleLosses> Losses, StyleLosses Final, int Evaluations, string Stop);

/// <summary>After iteration <see cref="Iteration"/> of <see cref="Iterations"/> (0 = the start, k = after step k): the losses there.</summary>
public readonly record struct StyleProgress(int Iteration, int Iterations, StyleLosses Losses);

public static class NeuralStyle
{
    /// <summary>
    /// Minimizes <see cref="StyleObjective"/> over the model input from noise or the content image.
    /// Adam clips to the valid pixel range after every step. L-BFGS cannot clip its iterate between
    /// steps (that would break its curvature pairs), so it minimizes f(clip(x)) instead, with the
    /// gradient zero where x is outside the range: every evaluated image is valid, and clipping x
    /// at the end does not change the loss. (Clipping only at the end, unconstrained before, lost
    /// much of the gain: 1.62 → 2.86 total loss at style weight 1e4 on fashion-alexnet.) The
    /// returned image is evaluated again for <see cref="StyleResult.Final"/>.
    /// </summary>
    /// <param name="content">The content image as a model input (C, H, W).</param>
    /// <param name="style">The style image as a model input (C, H, W).</param>
    public static StyleResult Run(Network network, Preprocessing p, float[] content, float[] style, StyleOptions options,
        IProgress<StyleProgress>? progress = null, CancellationToken cancellation = default)
    {
        options = options.Resolve(network);
        using var objective = new StyleObjective(network, p, content, style, options);
        var image = options.Init == StyleInit.Content ? (float[])content.Clone() : Noise(p, options.Seed);
        var gradient = new float[image.Length];
        var losses = new List<StyleLosses>();
        void Record(int iteration)
        {
            losses.Add(objective.Latest);
            progress?.Report(new StyleProgress(iteration, options.Iterations, objective.Latest));
        }

        int evaluations;
        string stop;
        if (options.Optimizer == StyleOptimizer.Adam)
        {
            var adam = new Adam(image.Length, options.LearningRate);
            for (int it = 0; ; it++)
            {
                cancellation.ThrowIfCancellationRequested();
                objective.Evaluate(image, gradient);
                Record(it);
                if (it == options.Iterations) break;
                adam.Step(image, gradient);
                p.ClampToPixelRange(image);
            }
            evaluations = options.Iterations + 1;
            stop = "iterations";
        }
        else
        {
            var clipped = new float[image.Length];
            double Clipped(float[] x, float[] g)
            {
                x.CopyTo(clipped, 0);
                p.ClampToPixelRange(clipped);
                double loss = objective.Evaluate(clipped, g);
                for (int i = 0; i < x.Length; i++)
                    if (clipped[i] != x[i]) g[i] = 0;
                return loss;
            }
            var outcome = new Lbfgs { History = options.History }.Minimize(image, Clipped, options.Iterations, new ProgressAction<LbfgsProgress>(s => Record(s.Step)), cancellation);
            p.ClampToPixelRange(image);
            (evaluations, stop) = (outcome.Evaluations, outcome.Reason.ToString().ToLowerInvariant());
        }
        objective.Evaluate(image, gradient);
        return new StyleResult(image, options, losses, objective.Latest, evaluations + 1, stop);
    }

    /// <summary>The start noise as a model input: N(0, NoiseStd²) pixel levels around the model's zero input, seeded.</summary>
    public static float[] Noise(Preprocessing p, int seed)
    {
        var random = new Random(seed);
        int plane = p.Height * p.Width;
        var image = new float[p.Channels * plane];
        for (int i = 0; i < image.Length; i++)
        {
            image[i] = (float)(StyleOptions.NoiseStd * GaussianNoise.Next(random) * p.InputPerPixel(i / plane));
        }
        return image;
    }
}
