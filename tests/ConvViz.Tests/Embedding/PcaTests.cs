using ConvViz.Engine.Embedding;

namespace ConvViz.Tests.Embedding;

/// <summary>PCA and its symmetric eigen-solver against data whose principal axes and variances are known by construction.</summary>
public sealed class PcaTests
{
    /// <summary>A random rotation of R^d: Gram–Schmidt on seeded Gaussian columns; rows are the axes.</summary>
    private static double[,] Rotation(int d, int seed)
    {
        var random = new Random(seed);
        var axes = new double[d, d];
        for (int r = 0; r < d; r++)
        {
            for (int c = 0; c < d; c++) axes[r, c] = Gaussian(random);
            for (int prior = 0; prior < r; prior++)
            {
                double dot = 0;
                for (int c = 0; c < d; c++) dot += axes[r, c] * axes[prior, c];
                for (int c = 0; c < d; c++) axes[r, c] -= dot * axes[prior, c];
            }
            double norm = Math.Sqrt(Enumerable.Range(0, d).Sum(c => axes[r, c] * axes[r, c]));
            for (int c = 0; c < d; c++) axes[r, c] /= norm;
        }
        return axes;
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>N points Σ_k s_k z_k axis_k + offset with z ~ N(0, 1): axis k carries variance s_k².</summary>
    private static float[] Sample(double[,] axes, double[] deviations, int n, int d, int seed)
    {
        var random = new Random(seed);
        var data = new float[n * d];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < deviations.Length; k++)
            {
                double z = deviations[k] * Gaussian(random);
                for (int c = 0; c < d; c++) data[i * d + c] += (float)(z * axes[k, c] + (k == 0 ? 3.0 + c : 0));
            }
        return data;
    }

    [Fact]
    public void RotatedAnisotropicGaussian_ComponentsAreTheAxes_VariancesAreTheAxisVariances()
    {
        const int n = 20000, d = 6;
        var axes = Rotation(d, seed: 7);
        double[] deviations = [5, 3, 2, 1, 0.5, 0.25];
        var data = Sample(axes, deviations, n, d, seed: 11);

        var pca = Pca.Fit(data, n, d, components: 4);

        Assert.Equal(4, pca.ComponentCount);
        for (int k = 0; k < 4; k++)
        {
            double dot = Enumerable.Range(0, d).Sum(c => pca.Components[k * d + c] * axes[k, c]);
            Assert.True(Math.Abs(dot) > 0.998, $"component {k} is {Math.Acos(Math.Min(1, Math.Abs(dot))) * 180 / Math.PI:F2} degrees off its axis");
            double expected = deviations[k] * deviations[k];
            Assert.True(Math.Abs(pca.ExplainedVariance[k] / expected - 1) < 0.04, $"variance {k}: {pca.ExplainedVariance[k]:F4}, expected {expected}");
            int largest = Enumerable.Range(0, d).MaxBy(c => Math.Abs(pca.Components[k * d + c]));
            Assert.True(pca.Components[k * d + largest] > 0, "components are sign-normalized: largest entry positive");
        }
        // The mean is the offset (3, 4, ...) carried along axis 0's coordinates.
        for (int c = 0; c < d; c++) Assert.Equal(3.0 + c, pca.Mean[c], 0.1);
    }

    [Fact]
    public void WideData_UsesTheGramMatrix_AndFindsTheSameAxes()
    {
        // 40 points in 100 dimensions (D > N): a rotated 3-D Gaussian.
        const int n = 40, d = 100;
        var axes = Rotation(d, seed: 3);
        var data = Sample(axes, [4, 2, 1], n, d, seed: 5);

        var pca = Pca.Fit(data, n, d, components: 50);

        Assert.Equal(40, pca.ComponentCount);
        var projected = pca.Project(data, n);
        for (int k = 0; k < 3; k++)
        {
            double dot = Enumerable.Range(0, d).Sum(c => pca.Components[k * d + c] * axes[k, c]);
            Assert.True(Math.Abs(dot) > 0.95, $"component {k}: |cos| {Math.Abs(dot):F4} with its axis");
            // The projections' sample variance is the explained variance (N - 1 in both).
            double mean = Enumerable.Range(0, n).Average(i => projected[i * 40 + k]);
            double variance = Enumerable.Range(0, n).Sum(i => Math.Pow(projected[i * 40 + k] - mean, 2)) / (n - 1);
            Assert.Equal(pca.ExplainedVariance[k], variance, 1e-6 * pca.ExplainedVariance[0]);
        }
        Assert.True(pca.ExplainedVariance[3] < 1e-6 * pca.ExplainedVariance[0], $"the data is 3-D; the 4th variance is {pca.ExplainedVariance[3]:G3}");
    }

    [Fact]
    public void SymmetricEigen_RandomMatrix_VectorsAreOrthonormalEigenvectors_ValuesDescending()
    {
        const int n = 60;
        var random = new Random(1);
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = random.NextDouble() * 2 - 1;

        var (values, vectors) = SymmetricEigen.Decompose(a, n);

        for (int k = 0; k < n; k++)
        {
            if (k > 0) Assert.True(values[k] <= values[k - 1], "descending");
            for (int i = 0; i < n; i++)
            {
                double av = Enumerable.Range(0, n).Sum(j => a[i * n + j] * vectors[k * n + j]);
                Assert.Equal(values[k] * vectors[k * n + i], av, 1e-10);
            }
            for (int m = 0; m <= k; m++)
                Assert.Equal(m == k ? 1 : 0, Enumerable.Range(0, n).Sum(j => vectors[k * n + j] * vectors[m * n + j]), 1e-10);
        }
        Assert.Equal(Enumerable.Range(0, n).Sum(i => a[i * n + i]), values.Sum(), 1e-9);
    }
}
