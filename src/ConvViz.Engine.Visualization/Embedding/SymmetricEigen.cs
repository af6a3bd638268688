namespace ConvViz.Engine.Embedding;

/// <summary>
/// Eigen-decomposition of a real symmetric matrix in double precision: Householder reduction to
/// tridiagonal form, then implicit QR steps with Wilkinson shifts. Deterministic (no randomness,
/// no threads); O(n³).
/// </summary>
internal static class SymmetricEigen
{
    private const int MaxStepsPerEigenvalue = 60;

    /// <summary>
    /// Decomposes the n x n symmetric <paramref name="matrix"/> (row-major, n² values; only read).
    /// Returns the eigenvalues in descending order and the eigenvectors as rows of an n x n
    /// row-major array (row k belongs to value k), each of unit length with its largest-magnitude
    /// entry positive, so the result does not depend on arbitrary sign choices.
    /// </summary>
    public static (double[] Values, double[] Vectors) Decompose(double[] matrix, int n)
    {
        if (matrix.Length != (long)n * n) throw new ArgumentException($"a {n} x {n} matrix needs {(long)n * n} values, {matrix.Length} given");
        var a = (double[])matrix.Clone();
        // vectors holds Qᵀ: A = Q T Qᵀ, so row k of vectors is column k of Q.
        var vectors = new double[n * n];
        for (int i = 0; i < n; i++) vectors[i * n + i] = 1;
        var diagonal = new double[n];
        var offDiagonal = new double[Math.Max(0, n - 1)];
        Tridiagonalize(a, n, vectors, diagonal, offDiagonal);
        DiagonalizeTridiagonal(diagonal, offDiagonal, vectors, n);
        return SortedAndSigned(diagonal, vectors, n);
    }

    /// <summary>Householder reflections H_k = I - 2 v vᵀ zero column k below the subdiagonal; A ← H A H and Qᵀ ← H Qᵀ.</summary>
    private static void Tridiagonalize(double[] a, int n, double[] vectors, double[] diagonal, double[] offDiagonal)
    {
        var v = new double[n];
        var p = new double[n];
        for (int k = 0; k < n - 2; k++)
        {
            int start = k + 1;
            double norm = 0;
            for (int i = start; i < n; i++) norm += a[i * n + k] * a[i * n + k];
            norm = Math.Sqrt(norm);
            double head = a[start * n + k];
            double alpha = head >= 0 ? -norm : norm;
            double vNorm2 = norm * norm - head * head + (head - alpha) * (head - alpha);
            if (norm == 0 || vNorm2 <= double.Epsilon) continue;
            double scale = 1 / Math.Sqrt(vNorm2);
            for (int i = start; i < n; i++) v[i] = a[i * n + k] * scale;
            v[start] = (head - alpha) * scale;

            // p = A v on the trailing block, w = p - (vᵀp) v, then A ← A - 2 (v wᵀ + w vᵀ).
            Parallel.For(start, n, i =>
            {
                double sum = 0;
                for (int j = start; j < n; j++) sum += a[i * n + j] * v[j];
                p[i] = sum;
            });
            double vp = 0;
            for (int i = start; i < n; i++) vp += v[i] * p[i];
            for (int i = start; i < n; i++) p[i] -= vp * v[i];
            Parallel.For(start, n, i =>
            {
                for (int j = start; j < n; j++) a[i * n + j] -= 2 * (v[i] * p[j] + p[i] * v[j]);
            });
            a[start * n + k] = a[k * n + start] = alpha;
            for (int i = start + 1; i < n; i++) a[i * n + k] = a[k * n + i] = 0;

            // Qᵀ ← H Qᵀ: rows start..n-1 of Qᵀ lose 2 v (vᵀ Qᵀ).
            Parallel.For(0, n, column =>
            {
                double dot = 0;
                for (int i = start; i < n; i++) dot += v[i] * vectors[i * n + column];
                for (int i = start; i < n; i++) vectors[i * n + column] -= 2 * dot * v[i];
            });
        }
        for (int i = 0; i < n; i++) diagonal[i] = a[i * n + i];
        for (int i = 0; i < n - 1; i++) offDiagonal[i] = a[(i + 1) * n + i];
    }

    /// <summary>
    /// Implicit symmetric QR on the tridiagonal (diagonal, offDiagonal): each step chases a bulge down
    /// the unreduced block with Givens rotations R, T ← R T Rᵀ, and applies them to the rows of Qᵀ.
    /// </summary>
    private static void DiagonalizeTridiagonal(double[] d, double[] e, double[] vectors, int n)
    {
        int steps = 0;
        int high = n - 1;
        while (high > 0)
        {
            if (Negligible(e[high - 1], d[high - 1], d[high]))
            {
                e[high - 1] = 0;
                high--;
                continue;
            }
            if (++steps > MaxStepsPerEigenvalue * n) throw new InvalidOperationException("symmetric eigen-solver did not converge");
            int low = high - 1;
            while (low > 0 && !Negligible(e[low - 1], d[low - 1], d[low])) low--;

            // Wilkinson shift: the eigenvalue of the trailing 2x2 block nearer to its last entry.
            double delta = (d[high - 1] - d[high]) / 2;
            double last = e[high - 1];
            double shift = d[high] - last * last / (delta + (delta >= 0 ? 1 : -1) * double.Hypot(delta, last));
            double x = d[low] - shift, z = e[low];
            for (int k = low; k < high; k++)
            {
                double r = double.Hypot(x, z);
                double c = r == 0 ? 1 : x / r, s = r == 0 ? 0 : z / r;
                if (k > low) e[k - 1] = r;
                double dk = d[k], dk1 = d[k + 1], ek = e[k];
                d[k] = c * c * dk + 2 * c * s * ek + s * s * dk1;
                d[k + 1] = s * s * dk - 2 * c * s * ek + c * c * dk1;
                e[k] = c * s * (dk1 - dk) + (c * c - s * s) * ek;
                if (k < high - 1)
                {
                    x = e[k];
                    z = s * e[k + 1];
                    e[k + 1] *= c;
                }
                var rowK = vectors.AsSpan(k * n, n);
                var rowK1 = vectors.AsSpan((k + 1) * n, n);
                for (int j = 0; j < n; j++)
                {
                    double qk = rowK[j], qk1 = rowK1[j];
                    rowK[j] = c * qk + s * qk1;
                    rowK1[j] = -s * qk + c * qk1;
                }
            }
        }
    }

    private static bool Negligible(double offDiagonal, double left, double right) =>
        Math.Abs(offDiagonal) <= 1e-15 * (Math.Abs(left) + Math.Abs(right)) || Math.Abs(offDiagonal) < 1e-300;

    private static (double[] Values, double[] Vectors) SortedAndSigned(double[] values, double[] vectors, int n)
    {
        var order = Enumerable.Range(0, n).OrderByDescending(i => values[i]).ThenBy(i => i).ToArray();
        var sortedValues = new double[n];
        var sortedVectors = new double[n * n];
        for (int rank = 0; rank < n; rank++)
        {
            sortedValues[rank] = values[order[rank]];
            var source = vectors.AsSpan(order[rank] * n, n);
            var target = sortedVectors.AsSpan(rank * n, n);
            int largest = 0;
            for (int j = 1; j < n; j++)
                if (Math.Abs(source[j]) > Math.Abs(source[largest]) + 1e-12) largest = j;
            double sign = source[largest] < 0 ? -1 : 1;
            for (int j = 0; j < n; j++) target[j] = sign * source[j];
        }
        return (sortedValues, sortedVectors);
    }
}
