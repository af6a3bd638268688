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

    /// <summary>Measured: 87.36% 10-NN agreement; KL 2.280 at iteration 50, 1.719 at 250, 0.517 at 300, 0.320 at 1000.</summary>
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

    [Fact]
    public void SeededRun_RepeatsExactly_WhateverTheThreadCount_AndAnotherSeedDiffers()
    {
        var points = fixture.Points.AsSpan(0, 300 * fixture.Dimensions).ToArray();
        foreach (var method in new[] { TsneMethod.Exact, TsneMethod.BarnesHut })
        {
            var options = new TsneOptions { Iterations = 300, Method = method, Seed = 5 };
            var one = Tsne.Run(points, 300, fixture.Dimensions, options with { Threads = 1 });
            var two = Tsne.Run(points, 300, fixture.Dimensions, options with { Threads = 2 });
            var again = Tsne.Run(points, 300, fixture.Dimensions, options);
            Assert.Equal(one.Coordinates, two.Coordinates);
            Assert.Equal(one.Coordinates, again.Coordinates);
            Assert.Equal(one.KlCurve, again.KlCurve);
            var other = Tsne.Run(points, 300, fixture.Dimensions, options with { Seed = 6 });
            Assert.NotEqual(one.Coordinates, other.Coordinates);
        }
    }

    [Fact]
    public void BarnesHutGradient_WithThetaZeroAndFullP_EqualsTheExactGradientAndKl()
    {
        const int n = 200;
        var points = fixture.Points.AsSpan(0, n * fixture.Dimensions).ToArray();
        var dense = Affinities.Exact(points, n, fixture.Dimensions, 30);
        var rowStarts = new int[n + 1];
        var columns = new List<int>();
        var values = new List<double>();
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
                if (dense[i * n + j] > 0) { columns.Add(j); values.Add(dense[i * n + j]); }
            rowStarts[i + 1] = columns.Count;
        }
        var y = Tsne.InitialMap(n, seed: 3).Select(v => v * 1e5).ToArray();
        var exactGradient = new double[2 * n];
        var treeGradient = new double[2 * n];

        double exactKl = new ExactTsneGradient(dense, n, threads: null).Compute(y, 12, exactGradient, withKl: true);
        double treeKl = new BarnesHutTsneGradient(new SparseAffinities(rowStarts, columns.ToArray(), values.ToArray()), theta: 0, threads: null)
            .Compute(y, 12, treeGradient, withKl: true);

        double scale = exactGradient.Max(Math.Abs);
        for (int k = 0; k < 2 * n; k++) Assert.Equal(exactGradient[k], treeGradient[k], 1e-9 * scale);
        Assert.Equal(exactKl, treeKl, 1e-9);
    }

    [Fact]
    public void BarnesHutMap_OfTheSamples_KeepsTheClasses_AndEndsWithinFivePercentOfExactKl()
    {
        var result = Tsne.Run(fixture.Points, fixture.Samples.Count, fixture.Dimensions, new TsneOptions { Method = TsneMethod.BarnesHut });
        double agreement = NeighbourLabelAgreement(result.Coordinates, fixture.Samples.Labels, 10);
        double exactKl = fixture.Exact.KlCurve[^1].Kl, treeKl = result.KlCurve[^1].Kl;
        output.WriteLine($"Barnes-Hut: 10-NN agreement {agreement:P2}, final KL {treeKl:F4} (exact {exactKl:F4}); " +
                         $"affinities {result.AffinitySeconds:F2} s, optimization {result.OptimizationSeconds:F2} s");
        Assert.Equal(TsneMethod.BarnesHut, result.Method);
        Assert.True(agreement >= 0.80, $"10-NN label agreement {agreement:P2}");
        Assert.True(Math.Abs(treeKl / exactKl - 1) < 0.05, $"Barnes-Hut KL {treeKl:F4}, exact {exactKl:F4}");
    }

    [Theory]
    [InlineData(5, 1e-3)]
    [InlineData(30, 1.0)]
    [InlineData(50, 1e4)]
    public void Calibrate_MakesEachRowsEntropyLogPerplexity(double perplexity, double distanceScale)
    {
        var random = new Random((int)perplexity);
        for (int row = 0; row < 20; row++)
        {
            var distances = Enumerable.Range(0, 150).Select(_ => distanceScale * (0.5 + random.NextDouble() * random.NextDouble() * 10)).ToArray();
            var probabilities = new double[distances.Length];
            double beta = Affinities.Calibrate(distances, perplexity, probabilities);
            double entropy = -probabilities.Where(p => p > 0).Sum(p => p * Math.Log(p));
            Assert.Equal(1.0, probabilities.Sum(), 1e-12);
            Assert.True(Math.Abs(entropy - Math.Log(perplexity)) < 1e-4, $"entropy {entropy:F6}, log({perplexity}) = {Math.Log(perplexity):F6}");
            Assert.True(beta > 0);
            // The Gaussian kernel: nearer points are more probable.
            int nearest = Array.IndexOf(distances, distances.Min()), farthest = Array.IndexOf(distances, distances.Max());
            Assert.True(probabilities[nearest] > probabilities[farthest]);
        }
    }

    [Fact]
    public void QuadTree_ThetaZeroIsTheExactSum_ThetaHalfIsClose_AndDuplicatesShareALeaf()
    {
        var random = new Random(2);
        var y = new double[2 * 500];
        for (int k = 0; k < y.Length; k++) y[k] = random.NextDouble() * 20 - 10;
        for (int k = 0; k < 20; k++) y[2 * (400 + k)] = y[2 * 400]; // 21 points at one position
        for (int k = 0; k < 20; k++) y[2 * (400 + k) + 1] = y[2 * 400 + 1];
        var tree = new QuadTree();
        tree.Build(y);
        for (int i = 0; i < 500; i += 7)
        {
            double sum = 0, fx = 0, fy = 0;
            for (int j = 0; j < 500; j++)
            {
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                double q = 1 / (1 + dx * dx + dy * dy);
                sum += q;
                fx += q * q * dx;
                fy += q * q * dy;
            }
            var exact = tree.Repulsion(y[2 * i], y[2 * i + 1], theta: 0);
            Assert.Equal(sum, exact.SumQ, 1e-10 * sum);
            Assert.Equal(fx, exact.ForceX, 1e-10);
            Assert.Equal(fy, exact.ForceY, 1e-10);
            var approximate = tree.Repulsion(y[2 * i], y[2 * i + 1], theta: 0.5);
            Assert.True(Math.Abs(approximate.SumQ / sum - 1) < 0.02, $"theta 0.5: sum {approximate.SumQ:F5}, exact {sum:F5}");
        }
    }

    [Fact]
    public void Options_RefuseAPerplexityTooLargeForN_AndNonPositiveRatesAndIterations()
    {
        Assert.Contains("N - 1 > 3 x perplexity", Assert.Throws<ArgumentException>(() => new TsneOptions { Perplexity = 30 }.Validate(90)).Message);
        new TsneOptions { Perplexity = 30 }.Validate(92);
        Assert.Equal("LearningRate", Assert.ThrowsAny<ArgumentException>(() => new TsneOptions { LearningRate = 0 }.Validate(1000)).ParamName);
        Assert.StartsWith("Iterations 0 must be at least 1", Assert.ThrowsAny<ArgumentException>(() => new TsneOptions { Iterations = 0 }.Validate(1000)).Message);
        Assert.Equal(50, new TsneOptions { LearningRate = null }.LearningRateFor(1000));
        Assert.Equal(5000 / 12.0 / 4, new TsneOptions { LearningRate = null }.LearningRateFor(5000), 1e-12);
    }

    [Fact]
    public void ImageMap_GivesEachPointItsOwnCell_OrFillsEveryCellWhenThereAreMorePoints()
    {
        var map = fixture.Exact.Coordinates;
        var few = ImageMap.Assign(map, 1000, side: 40);
        Assert.Equal(1000, few.Distinct().Count());
        Assert.All(few, cell => Assert.InRange(cell, 0, 40 * 40 - 1));
        var many = ImageMap.Assign(map, 1000, side: 20);
        Assert.Equal(400, many.Count(cell => cell >= 0));
        Assert.Equal(400, many.Where(cell => cell >= 0).Distinct().Count());
        // The map's leftmost point lands in the grid's left half.
        int leftmost = Enumerable.Range(0, 1000).MinBy(i => map[2 * i]);
        Assert.True(few[leftmost] % 40 < 20, $"leftmost point in column {few[leftmost] % 40}");
        var image = ImageMap.Render(map, fixture.Samples, side: 40);
        Assert.Equal((1120, 1120, 1), (image.Width, image.Height, image.Channels));
    }
}
