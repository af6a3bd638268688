namespace ConvViz.Engine.Embedding;

/// <summary>
/// A sparse symmetric affinity matrix in compressed rows: row i's neighbours are
/// Columns[RowStarts[i]..RowStarts[i + 1]) with joint probabilities Values (all of them sum to 1).
/// </summary>
internal sealed record SparseAffinities(int[] RowStarts, int[] Columns, double[] Values)
{
    public int Count => RowStarts.Length - 1;
}

/// <summary>
/// t-SNE's input affinities (van der Maaten and Hinton 2008): each point's conditional
/// p(j|i) ∝ exp(-βᵢ‖xᵢ - xⱼ‖²) with βᵢ found by bisection so the row's entropy is log(perplexity)
/// (nats), then symmetrized p_ij = (p(j|i) + p(i|j)) / 2N. Exact: over all pairs (N x N dense).
/// Sparse (van der Maaten 2014): over each point's ⌊3·perplexity⌋ nearest neighbours only.
/// </summary>
internal static class Affinities
{
    public const double EntropyTolerance = 1e-5;
    private const int MaxBisections = 200;

    /// <summary>Every pair's p_ij, N x N row-major with a zero diagonal, from N x D row-major points.</summary>
    public static double[] Exact(double[] points, int count, int dimensions, double perplexity)
    {
        var distances = SquaredDistances(points, count, dimensions);
        var conditional = new double[(long)count * count];
        Parallel.For(0, count, i =>
        {
            var row = distances.AsSpan(i * count, count);
            var neighbours = new double[count - 1];
            for (int j = 0, m = 0; j < count; j++) if (j != i) neighbours[m++] = row[j];
            var probabilities = new double[count - 1];
            Calibrate(neighbours, perplexity, probabilities);
            var target = conditional.AsSpan(i * count, count);
            for (int j = 0, m = 0; j < count; j++) if (j != i) target[j] = probabilities[m++];
        });
        var joint = new double[(long)count * count];
        double scale = 1.0 / (2.0 * count);
        Parallel.For(0, count, i =>
        {
            for (int j = 0; j < count; j++) joint[i * count + j] = (conditional[i * count + j] + conditional[j * count + i]) * scale;
        });
        return joint;
    }

    /// <summary>Sparse p_ij from each point's <paramref name="neighbours"/> nearest others (exact search, Euclidean).</summary>
    public static SparseAffinities Sparse(double[] points, int count, int dimensions, double perplexity, int neighbours)
    {
        var (indices, distances) = NearestNeighbours.Find(points, count, dimensions, neighbours);
        var conditional = new double[count * neighbours];
        Parallel.For(0, count, i => Calibrate(distances.AsSpan(i * neighbours, neighbours), perplexity, conditional.AsSpan(i * neighbours, neighbours)));

        // Symmetrize: collect (i, j, p(j|i)) both ways, then sum duplicates per row in column order.
        var rows = new List<(int Column, double Value)>[count];
        for (int i = 0; i < count; i++) rows[i] = new List<(int, double)>(2 * neighbours);
        for (int i = 0; i < count; i++)
            for (int m = 0; m < neighbours; m++)
            {
                int j = indices[i * neighbours + m];
                double p = conditional[i * neighbours + m];
                rows[i].Add((j, p));
                rows[j].Add((i, p));
            }
        var rowStarts = new int[count + 1];
        var columns = new List<int>(count * neighbours * 2);
        var values = new List<double>(count * neighbours * 2);
        double scale = 1.0 / (2.0 * count);
        for (int i = 0; i < count; i++)
        {
            foreach (var group in rows[i].GroupBy(entry => entry.Column).OrderBy(g => g.Key))
            {
                columns.Add(group.Key);
                values.Add(group.Sum(entry => entry.Value) * scale);
            }
            rowStarts[i + 1] = columns.Count;
        }
        return new SparseAffinities(rowStarts, columns.ToArray(), values.ToArray());
    }

    /// <summary>
    /// Fills <paramref name="probabilities"/> with p_j ∝ exp(-β d_j) over squared distances d_j,
    /// with β bisected until the entropy -Σ p_j log p_j is log(perplexity) within
    /// <see cref="EntropyTolerance"/> nats. Returns β.
    /// </summary>
    public static double Calibrate(ReadOnlySpan<double> squaredDistances, double perplexity, Span<double> probabilities)
    {
        double target = Math.Log(perplexity);
        double nearest = double.PositiveInfinity;
        foreach (double d in squaredDistances) nearest = Math.Min(nearest, d);
        double beta = 1, low = double.NegativeInfinity, high = double.PositiveInfinity;
        for (int step = 0; step < MaxBisections; step++)
        {
            // Shifting by the nearest distance cancels in the normalization and keeps exp() from underflowing.
            double sum = 0, weighted = 0;
            for (int j = 0; j < squaredDistances.Length; j++)
            {
                double shifted = squaredDistances[j] - nearest;
                double p = Math.Exp(-beta * shifted);
                probabilities[j] = p;
                sum += p;
                weighted += shifted * p;
            }
            double entropy = Math.Log(sum) + beta * weighted / sum;
            for (int j = 0; j < probabilities.Length; j++) probabilities[j] /= sum;
            double error = entropy - target;
            if (Math.Abs(error) < EntropyTolerance) break;
            if (error > 0)
            {
                low = beta;
                beta = double.IsPositiveInfinity(high) ? beta * 2 : (beta + high) / 2;
            }
            else
            {
                high = beta;
                beta = double.IsNegativeInfinity(low) ? beta / 2 : (beta + low) / 2;
            }
        }
        return beta;
    }

    /// <summary>‖xᵢ - xⱼ‖² for every pair, N x N row-major.</summary>
    public static double[] SquaredDistances(double[] points, int count, int dimensions)
    {
        var distances = new double[(long)count * count];
        Parallel.For(0, count, i =>
        {
            var a = points.AsSpan(i * dimensions, dimensions);
            for (int j = 0; j < count; j++)
            {
                var b = points.AsSpan(j * dimensions, dimensions);
                double sum = 0;
                for (int k = 0; k < dimensions; k++) sum += (a[k] - b[k]) * (a[k] - b[k]);
                distances[i * count + j] = sum;
            }
        });
        return distances;
    }
}
