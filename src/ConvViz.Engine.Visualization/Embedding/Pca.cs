namespace ConvViz.Engine.Embedding;

/// <summary>
/// A principal component analysis: the mean (D), the components as rows (K x D, unit length,
/// largest-magnitude entry positive, by descending variance) and the variance along each (K,
/// sample variance with N - 1).
/// </summary>
public sealed record PcaResult(double[] Mean, double[] Components, double[] ExplainedVariance, int Dimensions)
{
    public int ComponentCount => ExplainedVariance.Length;

    /// <summary>Projects N x D row-major <paramref name="data"/> onto the components: N x K row-major.</summary>
    public double[] Project(ReadOnlySpan<float> data, int count)
    {
        if (data.Length != (long)count * Dimensions) throw new ArgumentException($"{count} rows of {Dimensions} need {(long)count * Dimensions} values, {data.Length} given");
        int k = ComponentCount, d = Dimensions;
        var projected = new double[count * k];
        var rows = data.ToArray();
        Parallel.For(0, count, i =>
        {
            var centered = new double[d];
            for (int j = 0; j < d; j++) centered[j] = rows[(long)i * d + j] - Mean[j];
            for (int c = 0; c < k; c++)
            {
                double sum = 0;
                var component = Components.AsSpan(c * d, d);
                for (int j = 0; j < d; j++) sum += centered[j] * component[j];
                projected[i * k + c] = sum;
            }
        });
        return projected;
    }
}

/// <summary>
/// Exact, deterministic PCA in double precision: the eigen-decomposition of the D x D covariance
/// when D ≤ N, else of the N x N Gram matrix of the centered rows (components = Xᵀu / √λ), so
/// wide codes (flattened conv maps) cost O(N²D + N³) rather than O(D³).
/// </summary>
public static class Pca
{
    /// <summary>Fits up to <paramref name="components"/> components (at most min(N, D)) to N x D row-major <paramref name="data"/>.</summary>
    public static PcaResult Fit(ReadOnlySpan<float> data, int count, int dimensions, int components)
    {
        if (count < 2) throw new ArgumentException($"PCA needs at least 2 rows, {count} given");
        if (dimensions < 1) throw new ArgumentException($"PCA needs at least 1 dimension, {dimensions} given");
        if (data.Length != (long)count * dimensions) throw new ArgumentException($"{count} rows of {dimensions} need {(long)count * dimensions} values, {data.Length} given");
        if (components < 1) throw new ArgumentException($"PCA components {components} must be at least 1");
        int n = count, d = dimensions, k = Math.Min(components, Math.Min(n, d));
        var mean = new double[d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) mean[j] += data[i * d + j];
        for (int j = 0; j < d; j++) mean[j] /= n;
        var centered = new double[(long)n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) centered[(long)i * d + j] = data[i * d + j] - mean[j];

        var componentRows = new double[k * d];
        var variances = new double[k];
        if (d <= n)
        {
            var covariance = Covariance(centered, n, d);
            var (values, vectors) = SymmetricEigen.Decompose(covariance, d);
            for (int c = 0; c < k; c++) variances[c] = Math.Max(0, values[c]) / (n - 1);
            Array.Copy(vectors, componentRows, k * d);
        }
        else
        {
            var gram = Gram(centered, n, d);
            var (values, vectors) = SymmetricEigen.Decompose(gram, n);
            for (int c = 0; c < k; c++)
            {
                variances[c] = Math.Max(0, values[c]) / (n - 1);
                var row = componentRows.AsSpan(c * d, d);
                for (int i = 0; i < n; i++)
                {
                    double u = vectors[c * n + i];
                    for (int j = 0; j < d; j++) row[j] += u * centered[(long)i * d + j];
                }
                Normalize(row);
            }
        }
        return new PcaResult(mean, componentRows, variances, d);
    }

    /// <summary>Xᵀ X (D x D) of the centered N x D rows, the upper triangle computed and mirrored.</summary>
    private static double[] Covariance(double[] centered, int n, int d)
    {
        // Columns made contiguous (D x N) so each entry is one streaming dot product.
        var columns = new double[(long)d * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) columns[(long)j * n + i] = centered[(long)i * d + j];
        var covariance = new double[d * d];
        Parallel.For(0, d, a =>
        {
            var columnA = columns.AsSpan((int)((long)a * n), n);
            for (int b = a; b < d; b++)
            {
                var columnB = columns.AsSpan((int)((long)b * n), n);
                double sum = 0;
                for (int i = 0; i < n; i++) sum += columnA[i] * columnB[i];
                covariance[a * d + b] = covariance[b * d + a] = sum;
            }
        });
        return covariance;
    }

    /// <summary>X Xᵀ (N x N) of the centered N x D rows.</summary>
    private static double[] Gram(double[] centered, int n, int d)
    {
        var gram = new double[n * n];
        Parallel.For(0, n, a =>
        {
            var rowA = centered.AsSpan((int)((long)a * d), d);
            for (int b = a; b < n; b++)
            {
                var rowB = centered.AsSpan((int)((long)b * d), d);
                double sum = 0;
                for (int j = 0; j < d; j++) sum += rowA[j] * rowB[j];
                gram[a * n + b] = gram[b * n + a] = sum;
            }
        });
        return gram;
    }

    /// <summary>Scales to unit length and flips so the largest-magnitude entry is positive (as SymmetricEigen does).</summary>
    private static void Normalize(Span<double> row)
    {
        double norm = 0;
        int largest = 0;
        for (int j = 0; j < row.Length; j++)
        {
            norm += row[j] * row[j];
            if (Math.Abs(row[j]) > Math.Abs(row[largest]) + 1e-12) largest = j;
        }
        double scale = norm == 0 ? 0 : (row[largest] < 0 ? -1 : 1) / Math.Sqrt(norm);
        for (int j = 0; j < row.Length; j++) row[j] *= scale;
    }
}
