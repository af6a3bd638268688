using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Models;
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

    [Theory]
    [InlineData(5, 0, 0, 1, "--preset 5 is unknown; the paper's Table 1 has presets 1 to 4")]
    [InlineData(3, 101, 0, 1, "--norm-percentile 101 must be in 0..100")]
    [InlineData(3, 0, -1, 1, "--contribution-percentile -1 must be in 0..100")]
    [InlineData(3, 0, 0, 0, "--blur-sigma 0 must be positive when blurring every 4 iterations")]
    public void BadOptions_AreRejectedNamingTheOption(int preset, float norm, float contribution, float sigma, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => (OptimizationOptions.Preset(preset) with
            { NormPercentile = norm, ContributionPercentile = contribution, BlurSigma = sigma }).Validate());
        Assert.Equal(message, e.Message);
    }
}
