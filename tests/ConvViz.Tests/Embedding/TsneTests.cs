using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Embedding;
using ConvViz.Engine.Models;
using ConvViz.Tests.Support;
using Xunit.Abstractions;

namespace ConvViz.Tests.Embedding;

/// <summary>The default model's fc7 codes of its 1,000 bundled samples, reduced by PCA to 50
/// dimensions, and their exact t-SNE map with the default options (seed 0), made once for the class.</summary>
public sealed class Fc7MapFixture
{
    public Fc7MapFixture()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        Samples = LabeledImages.LoadSplit(bundle.Samples!, LabeledImages.TestSplit);
        var codes = LayerCodes.Extract(bundle.Network, bundle.Preprocessing, Samples, "fc7");
        var pca = Pca.Fit(codes.Values, codes.Count, codes.Dimensions, 50);
        Dimensions = pca.ComponentCount;
        Points = pca.Project(codes.Values, codes.Count);
        Exact = Tsne.Run(Points, Samples.Count, Dimensions, new TsneOptions());
    }

    public LabeledImages Samples { get; }
    public double[] Points { get; }
    public int Dimensions { get; }
    public TsneResult Exact { get; }
}

/// <summary>t-SNE: the map of fc7 codes keeps classes together and its KL falls; seeds repeat; Barnes–Hut
/// agrees with the exact gradient; perplexity calibration hits its entropy; the quadtree's sums.</summary>
public sealed class TsneTests(Fc7MapFixture fixture, ITestOutputHelper output) : IClassFixture<Fc7MapFixture>
{
    /// <summary>The share of each point's k nearest map neighbours (2-D, Euclidean) that share its label.</summary>
    public static double NeighbourLabelAgreement(double[] map, ReadOnlySpan<byte> labels, int k)
    {
        int n = labels.Length, agree = 0;
        var (nearest, _) = NearestNeighbours.Find(map, n, 2, k);
        for (int i = 0; i < n; i++)
            for (int m = 0; m < k; m++)
                if (labels[nearest[i * k + m]] == labels[i]) agree++;
        return (double)agree / (n * k);
    }

    [Fact]
    public void Fc7MapOfTheSamples_KeepsTenNearestNeighboursInClass_AndItsKlFalls()
    {
        var result = fixture.Exact;
        double agreement = NeighbourLabelAgreement(result.Coordinates, fixture.Samples.Labels, 10);
        output.WriteLine($"10-NN label agreement {agreement:P2}; KL {string.Join(", ", result.KlCurve.Select(p => $"{p.Iteration}:{p.Kl:F4}"))}; " +
                         $"affinities {result.AffinitySeconds:F2} s, optimization {result.OptimizationSeconds:F2} s");
        Assert.Equal(TsneMethod.Exact, result.Method);
        Assert.True(agreement >= 0.80, $"10-NN label agreement {agreement:P2}, expected at least 80%");

        // After the early exaggeration (250 iterations) KL may rise by at most 0.002 nats between records.
        var after = result.KlCurve.Where(p => p.Iteration >= 250).ToArray();
        Assert.Equal(1000, after[^1].Iteration);
        for (int k = 1; k < after.Length; k++)
            Assert.True(after[k].Kl <= after[k - 1].Kl + 2e-3, $"KL rose from {after[k - 1].Kl:F4} at {after[k - 1].Iteration} to {after[k].Kl:F4} at {after[k].Iteration}");
        Assert.True(result.KlCurve[^1].Kl < 0.5 * result.KlCurve[0].Kl, $"KL {result.KlCurve[0].Kl:F4} at 50, {result.KlCurve[^1].Kl:F4} at the end");
    }
}
