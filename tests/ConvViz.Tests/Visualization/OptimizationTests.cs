using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Models;
using ConvViz.Engine.Training;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Visualization;

/// <summary>Regularized activation maximization: each regularizer against what it claims,
/// determinism, and bad options.</summary>
public sealed class OptimizationTests
{
    private static ModelBundle DefaultBundle(CpuBackend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    /// <summary>Sum of squared differences between horizontal and vertical neighbours: the energy a blur removes.</summary>
    private static double HighFrequencyEnergy(float[] u, int channels, int h, int w)
    {
        double energy = 0;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    float v = u[(c * h + y) * w + x];
                    if (x + 1 < w) energy += Math.Pow(v - u[(c * h + y) * w + x + 1], 2);
                    if (y + 1 < h) energy += Math.Pow(v - u[(c * h + y + 1) * w + x], 2);
                }
        return energy;
    }

    [Fact]
    public void Blur_LowersHighFrequencyEnergy()
    {
        using var backend = new CpuBackend();
        var u = TestData.Uniform(3 * 16 * 16, 1, 50f);
        double before = HighFrequencyEnergy(u, 3, 16, 16);
        Regularizers.Blur(u, 3, 16, 16, 1f, backend);
        Assert.True(HighFrequencyEnergy(u, 3, 16, 16) < 0.2 * before, "a sigma-1 blur of white noise keeps under a fifth of its neighbour energy");
    }

    [Fact]
    public void NormClip_ZeroesTheStatedShareOfPixels()
    {
        // 100 pixels of 3 channels with distinct norms: the 30th percentile leaves exactly 30 below it.
        var u = TestData.AwayFromZero(300, 2, 0.05f, 10f);
        Regularizers.ZeroSmallNorm(u, 3, 100, 30);
        int zeroed = Enumerable.Range(0, 100).Count(i => u[i] == 0 && u[100 + i] == 0 && u[200 + i] == 0);
        Assert.Equal(30, zeroed);
    }

    [Fact]
    public void ContributionClip_ZeroesThePixelsWithTheSmallestLinearizedContribution()
    {
        var u = TestData.AwayFromZero(2 * 50, 3, 0.05f, 5f);
        var g = TestData.AwayFromZero(2 * 50, 4, 0.05f, 1f);
        var contribution = Enumerable.Range(0, 50).Select(i => Math.Abs(-(u[i] * g[i]) - u[50 + i] * g[50 + i])).ToArray();
        var expectedZero = Enumerable.Range(0, 50).OrderBy(i => contribution[i]).Take(20).ToHashSet();
        Regularizers.ZeroSmallContribution(u, g, 2, 50, 40);
        for (int i = 0; i < 50; i++)
            Assert.Equal(expectedZero.Contains(i), u[i] == 0 && u[50 + i] == 0);
    }

    [Fact]
    public void Decay_ShrinksTheNormByTheStatedFactor()
    {
        var u = TestData.Uniform(64, 5, 20f);
        double before = Math.Sqrt(u.Sum(v => (double)v * v));
        Regularizers.Decay(u, 0.3f);
        Assert.Equal(0.7 * before, Math.Sqrt(u.Sum(v => (double)v * v)), 4);
    }

    [Fact]
    public void Percentile_IsNumpysLinearInterpolation()
    {
        Assert.Equal(2.5f, Regularizers.Percentile([4f, 1f, 3f, 2f], 50));
        Assert.Equal(1.3f, Regularizers.Percentile([1f, 2f, 3f, 4f], 10), 5);
    }

    [Fact]
    public void SameSeedSameImage_OtherSeedOtherImage()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var options = OptimizationOptions.Preset(1) with { Iterations = 20 };
        float[] Run(int seed) => ActivationMaximization.Run(bundle.Network, bundle.Preprocessing, new Target("fc8", 3), options with { Seed = seed }).Last;
        Assert.Equal(Run(1), Run(1));
        Assert.NotEqual(Run(1), Run(2));
    }

    /// <summary>The largest value of the target over the model's 1,000 bundled sample images (a unit at
    /// the center of its channel, as the optimizer measures it).</summary>
    private static float BestOverSamples(ModelBundle bundle, CpuBackend backend, Target target)
    {
        var data = LabeledImages.LoadSplit(bundle.Samples!, LabeledImages.TestSplit);
        var x = new float[data.Count * data.BytesPerImage];
        ImageBatches.Assemble(data, Enumerable.Range(0, data.Count).ToArray(), bundle.Preprocessing, x, new int[data.Count]);
        using var input = backend.Upload(x, bundle.Network.InputShape(data.Count));
        using var pass = bundle.Network.Forward(input, upTo: target.Layer);
        var output = backend.Download(pass.Last);
        var shape = pass.Last.Shape;
        int perItem = output.Length / data.Count;
        int offset = shape.Rank == 4 ? (target.Channel * shape.H + shape.H / 2) * shape.W + shape.W / 2 : target.Channel;
        Assert.Equal(1000, data.Count);
        return Enumerable.Range(0, data.Count).Max(i => output[i * perItem + offset]);
    }

    [Theory]
    [InlineData("fc8", 9)]
    [InlineData("conv5", 3)]
    public void Preset3_BeatsEveryBundledSample(string layer, int unit)
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var target = new Target(layer, unit);
        float samples = BestOverSamples(bundle, backend, target);
        var options = OptimizationOptions.Preset(3).AdaptedTo(bundle.Preprocessing);
        var result = ActivationMaximization.Run(bundle.Network, bundle.Preprocessing, target, options);
        Assert.Equal(1000, result.Objectives.Count);
        Assert.True(result.BestObjective > samples, $"{target}: preset 3 reached {result.BestObjective}, the best of the 1,000 samples {samples}");
    }

    [Fact]
    public void AdaptedTo_KeepsCaffeRatesAndScalesTheConstantRateOfScaledInputs()
    {
        var caffe = new Preprocessing(3, 227, 227, ChannelOrder.Bgr, 1f, [104f, 117f, 123f], [1f, 1f, 1f]);
        var fashion = FashionAlexNet.Preprocessing;
        Assert.Equal(100f, OptimizationOptions.Preset(3).AdaptedTo(caffe).LearningRate);
        Assert.Equal(100f * OptimizationOptions.ScaledInputRateFactor, OptimizationOptions.Preset(3).AdaptedTo(fashion).LearningRate, 4);
        Assert.Equal(OptimizationOptions.Preset(1).MaxLearningRate, OptimizationOptions.Preset(1).AdaptedTo(fashion).MaxLearningRate);
    }

    [Fact]
    public void BatchOfEightUnits_GivesTheImagesOfEightSingleRuns()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var options = OptimizationOptions.Preset(3).AdaptedTo(bundle.Preprocessing) with { Iterations = 40, Seed = 5 };
        var targets = Enumerable.Range(0, 8).Select(k => new Target("conv5", k * 3)).ToArray();
        var batched = ActivationMaximization.RunBatch(bundle.Network, bundle.Preprocessing, targets, options);
        for (int i = 0; i < targets.Length; i++)
        {
            var single = ActivationMaximization.Run(bundle.Network, bundle.Preprocessing, targets[i], options);
            Assert.Equal(targets[i], batched[i].Target);
            // Bit for bit: on the Cpu backend each image's sums run in the same order at any batch size.
            Assert.Equal(single.Last, batched[i].Last);
            Assert.Equal(single.Objectives, batched[i].Objectives);
            Assert.Equal(single.BestIteration, batched[i].BestIteration);
        }
        Assert.NotEqual(batched[0].Last, batched[1].Last);
    }

    [Theory]
    [InlineData("alexnet", "conv5", 6, 6, 163)]
    [InlineData("alexnet", "conv5", 2, 11, 131)]
    [InlineData("alexnet", "pool2", 12, 0, 51)]
    [InlineData("fashion-alexnet", "conv2", 7, 7, 15)]
    public void UnitOnItsWindow_HasTheWholeImagesValueAndGradient(string model, string layer, int y, int x, int windowHeight)
    {
        using var backend = new CpuBackend();
        using var bundle = model == "alexnet"
            ? new ModelBundle("alexnet", AlexNet.Create(backend, seed: 3), new Preprocessing(3, 227, 227, ChannelOrder.Bgr, 1f, [104f, 117f, 123f], [1f, 1f, 1f]), ModelBundle.NumberedClasses(1000), [])
            : DefaultBundle(backend);
        var network = bundle.Network;
        var sample = network.SampleShape;
        var window = InputWindow.ForUnit(network, layer, y, x);
        Assert.Equal(windowHeight, window.Height);
        var image = TestData.Uniform(sample.ElementCount, 12, 2f);
        using var whole = backend.Upload(image, network.InputShape(1));
        var expected = Attribution.InputGradient(network, whole, new Target(layer, 5, y, x), ConvViz.Engine.Backends.ReluRule.Gradient);
        using var wholePass = network.Forward(whole, upTo: layer);
        float expectedValue = backend.Download(wholePass.Last)[(5 * wholePass.Last.Shape.H + y) * wholePass.Last.Shape.W + x];

        var cropped = new float[sample[0] * window.Height * window.Width];
        window.Crop(image, sample[1], sample[2], cropped);
        using var input = backend.Upload(cropped, new ConvViz.Engine.Tensors.Shape(1, sample[0], window.Height, window.Width));
        var (wy, wx) = window.UnitPosition(ConvViz.Engine.Networks.ReceptiveFields.Of(network, layer), y, x);
        var windowGradient = Attribution.InputGradient(network, input, new Target(layer, 5, wy, wx), ConvViz.Engine.Backends.ReluRule.Gradient);
        using var pass = network.Forward(input, upTo: layer);
        float value = backend.Download(pass.Last)[(5 * pass.Last.Shape.H + wy) * pass.Last.Shape.W + wx];
        var pasted = new float[image.Length];
        window.Paste(windowGradient, sample[1], sample[2], pasted);
        // Same sums over the same pixels; only the summation order of the convolutions may differ with the map size.
        Assert.Equal(expectedValue, value, 3);
        TensorAssert.Close(expected, pasted, 1e-5 * expected.Max(Math.Abs), 1e-4, $"{layer} ({y}, {x})");
        Assert.True(expected.Any(v => v != 0), "the gradient reaches the input");
    }

    [Fact]
    public void LpNormGradient_MatchesFiniteDifferences()
    {
        var u = TestData.AwayFromZero(2 * 5 * 6, 7, 0.1f, 1.5f);
        CheckPenaltyGradient(u, (v, weight, gradient) => ImagePenalties.LpNorm(v, 6, weight, gradient));
        Assert.Equal(Math.Pow(u.Sum(v => Math.Pow(Math.Abs(v), 6)), 1 / 6.0) / u.Length, ImagePenalties.LpNorm(u, 6), 9);
    }

    [Fact]
    public void TotalVariationGradient_MatchesFiniteDifferences()
    {
        var u = TestData.AwayFromZero(2 * 5 * 6, 8, 0.1f, 1.5f);
        CheckPenaltyGradient(u, (v, weight, gradient) => ImagePenalties.TotalVariation(v, 2, 5, 6, 2, weight, gradient));
        CheckPenaltyGradient(u, (v, weight, gradient) => ImagePenalties.TotalVariation(v, 2, 5, 6, 1.5f, weight, gradient));
        var flat = Enumerable.Repeat(0.7f, 2 * 5 * 6).ToArray();
        Assert.Equal(0, ImagePenalties.TotalVariation(flat, 2, 5, 6, 2));
    }

    private delegate double Penalty(float[] u, float weight, Span<float> gradient);

    /// <summary>The analytic gradient against central differences (step 1e-4 on float inputs; the penalties
    /// sum in double, so the difference quotient is exact up to its O(h²) truncation, far below the 1e-3
    /// relative tolerance; a wrong factor or sign misses by 100% or more).</summary>
    private static void CheckPenaltyGradient(float[] u, Penalty penalty)
    {
        var gradient = new float[u.Length];
        penalty(u, 1f, gradient);
        for (int i = 0; i < u.Length; i++)
        {
            var plus = (float[])u.Clone();
            var minus = (float[])u.Clone();
            plus[i] += 1e-4f;
            minus[i] -= 1e-4f;
            double numeric = (penalty(plus, 0, default) - penalty(minus, 0, default)) / (plus[i] - minus[i]);
            Assert.True(Math.Abs(numeric - gradient[i]) <= 1e-3 * Math.Max(Math.Abs(numeric), 1e-4), $"value {i}: analytic {gradient[i]}, numeric {numeric}");
        }
    }

    [Fact]
    public void RobustnessTransform_IdentityCopies_AndTheAdjointIsTheTranspose()
    {
        var u = TestData.Uniform(2 * 9 * 11, 3);
        var copy = new float[u.Length];
        new RobustnessTransform(9, 11, 0, 0, 1, 0).Apply(u, copy);
        Assert.Equal(u, copy);

        // <T u, v> = <u, Tᵀ v> for a shift, a scale and a rotation together.
        var t = new RobustnessTransform(9, 11, 2, -1, 1.07f, 8f);
        var v = TestData.Uniform(u.Length, 4);
        var tu = new float[u.Length];
        var tv = new float[u.Length];
        t.Apply(u, tu);
        t.ApplyAdjoint(v, tv);
        double left = tu.Zip(v, (a, b) => (double)a * b).Sum(), right = u.Zip(tv, (a, b) => (double)a * b).Sum();
        Assert.Equal(left, right, 4);
        Assert.True(tu.Zip(u).Any(pair => Math.Abs(pair.First - pair.Second) > 0.1f), "the transform moves the image");
    }

    [Fact]
    public void RobustnessTransform_ShiftMovesPixels()
    {
        var u = new float[5 * 5];
        u[2 * 5 + 2] = 1;
        var moved = new float[u.Length];
        new RobustnessTransform(5, 5, 1, -2, 1, 0).Apply(u, moved);
        Assert.Equal(1f, moved[3 * 5 + 0]);
        Assert.Equal(1f, moved.Sum());
    }

    [Fact]
    public void TransformsAndPenalties_StillRaiseTheObjective()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var options = OptimizationOptions.Preset(3).AdaptedTo(bundle.Preprocessing) with
            { Iterations = 150, Jitter = 2, ScaleJitter = 0.05f, RotateDegrees = 5, LpWeight = 10, TvWeight = 10 };
        var result = ActivationMaximization.Run(bundle.Network, bundle.Preprocessing, new Target("fc8", 1), options);
        Assert.True(result.BestObjective > result.Objectives[0] + 5, $"objective {result.Objectives[0]} -> best {result.BestObjective}");
    }

    [Theory]
    [InlineData(5, 0, 0, 1, "Preset 5 is unknown; the paper's Table 1 has presets 1 to 4")]
    [InlineData(3, 101, 0, 1, "NormPercentile 101 must be in 0..100")]
    [InlineData(3, 0, -1, 1, "ContributionPercentile -1 must be in 0..100")]
    [InlineData(3, 0, 0, 0, "BlurSigma 0 must be positive when blurring every 4 iterations")]
    public void BadOptions_AreRejectedNamingTheOption(int preset, float norm, float contribution, float sigma, string message)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => (OptimizationOptions.Preset(preset) with
            { NormPercentile = norm, ContributionPercentile = contribution, BlurSigma = sigma }).Validate());
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void SweepDraws_StayInTheirRanges_CoverThem_AndRepeatWithTheSeed()
    {
        var baseOptions = OptimizationOptions.Preset(3) with { Iterations = 77, Seed = 4 };
        var draws = RegularizerSweep.Draw(baseOptions, 300, sweepSeed: 1);
        foreach (var o in draws)
        {
            o.Validate();
            Assert.True(o.Decay == 0 || o.Decay is >= RegularizerSweep.MinDecay and <= RegularizerSweep.MaxDecay, $"decay {o.Decay}");
            Assert.True(o.BlurEvery == 0 || (RegularizerSweep.BlurPeriods.Contains(o.BlurEvery) && o.BlurSigma is >= RegularizerSweep.MinSigma and <= RegularizerSweep.MaxSigma));
            Assert.InRange(o.NormPercentile, 0, RegularizerSweep.MaxNormPercentile);
            Assert.InRange(o.ContributionPercentile, 0, RegularizerSweep.MaxContributionPercentile);
            Assert.Equal((77, 4, baseOptions.LearningRate), (o.Iterations, o.Seed, o.LearningRate));
        }
        // Each regularizer is off in some draws and on in most of the others; blur periods all occur.
        Assert.InRange(draws.Count(o => o.Decay == 0), 40, 110);
        Assert.InRange(draws.Count(o => o.BlurEvery == 0), 40, 110);
        Assert.InRange(draws.Count(o => o.NormPercentile == 0), 110, 190);
        Assert.InRange(draws.Count(o => o.ContributionPercentile == 0), 110, 190);
        Assert.All(RegularizerSweep.BlurPeriods, period => Assert.Contains(draws, o => o.BlurEvery == period));
        Assert.Equal(draws, RegularizerSweep.Draw(baseOptions, 300, sweepSeed: 1));
        Assert.NotEqual(draws, RegularizerSweep.Draw(baseOptions, 300, sweepSeed: 2));
    }

    [Fact]
    public void BadPenaltyAndTransformOptions_AreRejectedNamingTheOption()
    {
        string Message(OptimizationOptions o) => Assert.ThrowsAny<ArgumentException>(o.Validate).Message.Split('\n')[0].Split(" (Parameter")[0];
        var preset = OptimizationOptions.Preset(3);
        Assert.Equal("LpWeight -1 must be zero (off) or positive", Message(preset with { LpWeight = -1 }));
        Assert.Equal("TvBeta 0 must be positive", Message(preset with { TvBeta = 0 }));
        Assert.Equal("Jitter -2 must be zero (off) or a positive number of pixels", Message(preset with { Jitter = -2 }));
        Assert.Equal("ScaleJitter 0.7 must be in [0, 0.5)", Message(preset with { ScaleJitter = 0.7f }));
        Assert.Equal("RotateDegrees 200 must be in 0..180 degrees", Message(preset with { RotateDegrees = 200 }));
    }
}
