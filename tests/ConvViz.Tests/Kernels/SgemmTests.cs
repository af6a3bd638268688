using System.Runtime.InteropServices;
using ConvViz.Engine.Backends.Cpu;

namespace ConvViz.Tests.Kernels;

/// Sgemm.Multiply against a naive triple loop in double precision.
///
/// Tolerance |actual - expected| <= 1e-4 + 1e-4 * |expected|: inputs are uniform in
/// [-0.5, 0.5], so partial sums of K products stay around sqrt(K) / 12 (about 5 at K = 3456) and
/// the float rounding error of the accumulation random-walks to roughly
/// sqrt(K) * (eps / 2) * 5 ~ 2e-5 at the largest K tested: an order of magnitude inside the bound.
public sealed unsafe class SgemmTests
{
    private const float Pad = -12345f;

    public static IEnumerable<object[]> SmallCases()
    {
        (int M, int N, int K)[] shapes =
        [
            (1, 1, 1), (1, 1, 7), (2, 3, 1), (3, 2, 5), (13, 17, 31), (17, 13, 33), (31, 33, 17),
            (33, 31, 63), (63, 65, 3), (65, 63, 127), (14, 32, 16), (15, 33, 17), (1, 65, 300), (127, 2, 13),
        ];
        (float Alpha, float Beta)[] scalings = [(1f, 0f), (1f, 1f), (-0.75f, 0.5f)];
        int index = 0;
        foreach (var (m, n, k) in shapes)
        {
            foreach (var (alpha, beta) in scalings)
            {
                foreach (bool transA in new[] { false, true })
                {
                    foreach (bool transB in new[] { false, true })
                    {
                        // Every other case has leading dimensions larger than the row length.
                        yield return [transA, transB, m, n, k, alpha, beta, index++ % 2 == 1];
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(SmallCases))]
    public void SmallShapesMatchReference(bool transA, bool transB, int M, int N, int K, float alpha, float beta, bool padded)
        => Check(transA, transB, M, N, K, alpha, beta, padded ? 3 : 0, threads: 1);

    /// Shapes above the parallel threshold, including the small-M transposed-B streaming path
    /// (transB with M <= 8 and K >= 256, or M <= 64 and N * K >= 4M) and the blocked path split
    /// along rows (N small) or columns (N large).
    public static IEnumerable<object[]> ThreadedCases()
    {
        (int M, int N, int K)[] shapes =
        [
            (127, 300, 65), (300, 127, 131), (65, 1000, 100), (3, 1000, 2000), (8, 700, 1000), (9, 500, 1000),
            (300, 33, 301),
        ];
        foreach (var (m, n, k) in shapes)
        {
            foreach (bool transA in new[] { false, true })
            {
                foreach (bool transB in new[] { false, true })
                {
                    yield return [transA, transB, m, n, k, 1.5f, 0.5f, 2];
                    yield return [transA, transB, m, n, k, 1f, 0f, 1];
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(ThreadedCases))]
    public void LargerShapesMatchReference(bool transA, bool transB, int M, int N, int K, float alpha, float beta, int threads)
        => Check(transA, transB, M, N, K, alpha, beta, ldPadding: 5, threads);

    /// AlexNet-like shapes: conv1 and conv3 as im2col GEMMs; fc6 at batch 1, fc8 at batch 8 and
    /// a 1024 x 4096 fully connected layer at batch 16 (weights N x K, so transB).
    [Theory]
    [InlineData(false, 96, 3025, 363)]
    [InlineData(false, 384, 169, 2304)]
    [InlineData(true, 1, 4096, 9216)]
    [InlineData(true, 8, 1000, 4096)]
    [InlineData(true, 16, 1024, 4096)]
    public void AlexNetShapesMatchReference(bool transB, int M, int N, int K)
    {
        using var problem = new Problem(false, transB, M, N, K, 0, seed: M + N + K);
        double[] expected = problem.Reference(1f, 0f);
        foreach (int threads in new[] { 1, 2 })
        {
            problem.FillC(float.NaN);
            problem.Run(1f, 0f, threads);
            problem.AssertMatches(expected);
        }
    }

    // Few rows of A with a plain K x N B of at least 1 M floats take the row-streaming path (a fully
    // connected layer's backward-data, dx = dy · W): B split by rows across threads, partial sums added.
    [Theory]
    [InlineData(false, 1, 1100, 1000, 1f, 0f, 1)]
    [InlineData(false, 1, 1100, 1000, 1f, 0f, 2)]
    [InlineData(true, 3, 1031, 1100, 0.5f, 1f, 2)]
    [InlineData(false, 8, 1024, 1030, -1f, 0.5f, 2)]
    [InlineData(true, 5, 2049, 517, 2f, 0f, 2)]
    public void FewRowsWithPlainBStreamAndMatchReference(bool transA, int M, int N, int K, float alpha, float beta, int threads) =>
        Check(transA, false, M, N, K, alpha, beta, ldPadding: 3, threads);

    /// Every micro-tile edge: M = 1..30 covers all row counts of the 14- and 6-row kernels twice,
    /// N = 1..66 all column counts of the 32- and 16-column kernels.
    [Fact]
    public void EveryEdgeTileSizeMatchesReference()
    {
        for (int m = 1; m <= 30; m++)
        {
            for (int n = 1; n <= 66; n++)
            {
                Check((m + n) % 2 == 0, (m + n) % 4 >= 2, m, n, 19, 1f, 0.5f, ldPadding: (m * n) % 3, threads: 1);
            }
        }
    }

    [Theory]
    [InlineData(false, false, 0f)]
    [InlineData(true, true, 0f)]
    [InlineData(false, true, 1f)]
    [InlineData(true, false, 0.5f)]
    public void ZeroKScalesC(bool transA, bool transB, float beta)
        => Check(transA, transB, 17, 33, 0, 1f, beta, ldPadding: 2, threads: 2);

    [Theory]
    [InlineData(0f)]
    [InlineData(0.5f)]
    public void ZeroAlphaScalesCWithoutReadingAOrB(float beta)
    {
        using var problem = new Problem(false, true, 20, 40, 30, 1, seed: 7);
        problem.FillInputs(float.NaN);
        double[] expected = problem.Reference(0f, beta);
        problem.Run(0f, beta, threads: 1);
        problem.AssertMatches(expected);
    }

    [Fact]
    public void RejectsInvalidArguments()
    {
        float* data = stackalloc float[16];
        Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(false, false, -1, 2, 2, 1f, data, 2, data, 2, 0f, data, 2, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(false, false, 2, 2, 3, 1f, data, 2, data, 2, 0f, data, 2, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(true, true, 2, 3, 2, 1f, data, 2, data, 1, 0f, data, 3, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(false, false, 2, 3, 2, 1f, data, 2, data, 3, 0f, data, 2, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Sgemm.Multiply(false, false, 2, 2, 2, 1f, data, 2, data, 2, 0f, data, 2, 0));
    }

    /// One case: beta == 0 runs on a NaN-filled C (NaN must not leak); padding between rows of C
    /// must come back untouched.
    private static void Check(bool transA, bool transB, int M, int N, int K, float alpha, float beta, int ldPadding, int threads)
    {
        using var problem = new Problem(transA, transB, M, N, K, ldPadding, seed: M * 1_000_003 + N * 1009 + K * 17 + ldPadding * 5 + (transA ? 1 : 0) + (transB ? 2 : 0));
        if (beta == 0f)
        {
            problem.FillC(float.NaN);
        }

        double[] expected = problem.Reference(alpha, beta);
        problem.Run(alpha, beta, threads);
        problem.AssertMatches(expected);
    }

    /// Row-major operands in native memory, with leading dimensions ldPadding floats longer than
    /// the rows; C's padding holds a sentinel.
    private sealed class Problem : IDisposable
    {
        private readonly bool transA, transB;
        private readonly int m, n, k, lda, ldb, ldc;
        private readonly float* a, b, c;
        private readonly int aLength, bLength, cLength;

        public Problem(bool transA, bool transB, int M, int N, int K, int ldPadding, int seed)
        {
            (this.transA, this.transB, m, n, k) = (transA, transB, M, N, K);
            lda = (transA ? M : K) + ldPadding;
            ldb = (transB ? K : N) + ldPadding;
            ldc = N + ldPadding;
            aLength = (transA ? K : M) * lda;
            bLength = (transB ? N : K) * ldb;
            cLength = M * ldc;
            a = Allocate(aLength);
            b = Allocate(bLength);
            c = Allocate(cLength);

            var random = new Random(seed);
            Fill(a, aLength, random);
            Fill(b, bLength, random);
            Fill(c, cLength, random);
            for (int i = 0; i < M; i++)
            {
                new Span<float>(c + i * ldc + N, ldPadding).Fill(Pad);
            }
        }

        public void FillC(float value)
        {
            for (int i = 0; i < m; i++)
            {
                new Span<float>(c + i * ldc, n).Fill(value);
            }
        }

        public void FillInputs(float value)
        {
            new Span<float>(a, aLength).Fill(value);
            new Span<float>(b, bLength).Fill(value);
        }

        public void Run(float alpha, float beta, int threads)
            => Sgemm.Multiply(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);

        /// alpha * op(A) * op(B) + beta * C in double; beta == 0 ignores C, alpha == 0 ignores A and B.
        public double[] Reference(float alpha, float beta)
        {
            // op(A) row by row and op(B) column by column, so each output is a contiguous dot product.
            var rowsOfA = new double[m * k];
            var columnsOfB = new double[n * k];
            for (int i = 0; i < m; i++)
            {
                for (int p = 0; p < k; p++)
                {
                    rowsOfA[i * k + p] = transA ? a[p * lda + i] : a[i * lda + p];
                }
            }

            for (int j = 0; j < n; j++)
            {
                for (int p = 0; p < k; p++)
                {
                    columnsOfB[j * k + p] = transB ? b[j * ldb + p] : b[p * ldb + j];
                }
            }

            var expected = new double[m * n];
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double sum = 0;
                    if (alpha != 0f)
                    {
                        ReadOnlySpan<double> row = rowsOfA.AsSpan(i * k, k), column = columnsOfB.AsSpan(j * k, k);
                        for (int p = 0; p < k; p++)
                        {
                            sum += row[p] * column[p];
                        }
                    }

                    double scaled = alpha == 0f ? 0 : alpha * sum;
                    expected[i * n + j] = beta == 0f ? scaled : scaled + beta * (double)c[i * ldc + j];
                }
            }

            return expected;
        }

        public void AssertMatches(double[] expected)
        {
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double want = expected[i * n + j];
                    float got = c[i * ldc + j];
                    if (!(Math.Abs(got - want) <= 1e-4 + 1e-4 * Math.Abs(want)))
                    {
                        Assert.Fail($"C[{i},{j}] = {got}, expected {want} (transA={transA}, transB={transB}, M={m}, N={n}, K={k})");
                    }
                }

                for (int j = n; j < ldc; j++)
                {
                    Assert.Equal(Pad, c[i * ldc + j]);
                }
            }
        }

        public void Dispose()
        {
            NativeMemory.AlignedFree(a);
            NativeMemory.AlignedFree(b);
            NativeMemory.AlignedFree(c);
        }

        private static float* Allocate(int length) => (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, length) * sizeof(float), 64);

        private static void Fill(float* data, int length, Random random)
        {
            for (int i = 0; i < length; i++)
            {
                data[i] = (float)random.NextDouble() - 0.5f;
            }
        }
    }
}
