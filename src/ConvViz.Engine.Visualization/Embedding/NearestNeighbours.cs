namespace ConvViz.Engine.Embedding;

/// <summary>Exact k-nearest-neighbour search by brute force (O(N²D), parallel over query points; ties go to the lower index).</summary>
internal static class NearestNeighbours
{
    /// <summary>
    /// Each point's <paramref name="k"/> nearest other points among N x D row-major
    /// <paramref name="points"/>: indices and squared Euclidean distances, N x k row-major, nearest first.
    /// </summary>
    public static (int[] Indices, double[] SquaredDistances) Find(double[] points, int count, int dimensions, int k)
    {
        if (k < 1 || k >= count) throw new ArgumentException($"{k} neighbours of {count} points: expected 1 to {count - 1}");
        var indices = new int[count * k];
        var distances = new double[count * k];
        Parallel.For(0, count, i =>
        {
            var a = points.AsSpan(i * dimensions, dimensions);
            var bestIndices = indices.AsSpan(i * k, k);
            var bestDistances = distances.AsSpan(i * k, k);
            bestDistances.Fill(double.PositiveInfinity);
            bestIndices.Fill(-1);
            for (int j = 0; j < count; j++)
            {
                if (j == i) continue;
                var b = points.AsSpan(j * dimensions, dimensions);
                double sum = 0;
                for (int c = 0; c < dimensions; c++) sum += (a[c] - b[c]) * (a[c] - b[c]);
                // Candidates arrive in index order, so a strict < keeps the lower index on ties.
                if (sum >= bestDistances[k - 1]) continue;
                int slot = k - 1;
                while (slot > 0 && bestDistances[slot - 1] > sum)
                {
                    bestDistances[slot] = bestDistances[slot - 1];
                    bestIndices[slot] = bestIndices[slot - 1];
                    slot--;
                }
                bestDistances[slot] = sum;
                bestIndices[slot] = j;
            }
        });
        return (indices, distances);
    }
}
