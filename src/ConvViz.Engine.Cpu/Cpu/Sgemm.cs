using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

using unsafe MicroKernel = delegate*<int, float*, float*, float*, int, float, float, void>;

namespace ConvViz.Engine.Backends.Cpu;

/// <summary>
/// Single-precision GEMM on row-major matrices, structured like BLIS: op(B) is packed into
/// kc x NR column panels, op(A) into MR x kc row panels, and a register-blocked micro-kernel
/// multiplies one A panel by one B panel into an MR x NR tile of C.
/// Small-M products with a transposed B (fully connected layers) take a streaming dot-product
/// path instead, because they are bound by reading B once from memory, not by arithmetic.
/// </summary>
internal static unsafe class Sgemm
{
    // AVX-512 micro-tile: 14 rows x 32 columns = 28 zmm accumulators, plus 2 zmm for the B row
    // and 1 for the broadcast A element: 31 of the 32 zmm registers.
    private const int Mr512 = 14;
    private const int Nr512 = 32;

    // AVX2 micro-tile: 6 rows x 16 columns = 12 ymm accumulators + 2 B + 1 broadcast = 15 of 16.
    private const int Mr256 = 6;
    private const int Nr256 = 16;

    // kc x NR B micro-panel (256 x 32 floats = 32 KB) is reused by every A panel of the
    // macro-kernel's inner loop, so it should stay in L1; A panels stream from L2.
    // (Measured: 192..384 perform within noise of each other on the AlexNet conv shapes.)
    private const int KcMax = 256;

    // mc x kc packed A block (504 x 256 floats = 504 KB) stays in the 1 MB L2.
    // 504 is a multiple of both MR values (14 and 6).
    private const int McMax = 504;

    // kc x nc packed B block (256 x 1024 floats = 1 MB per thread) stays in L2 / L3. Measured
    // best among 256..4096; larger blocks mainly slow the packing of a transposed B, whose rows
    // then span more pages per k-block than the TLB covers.
    private const int NcMax = 1024;

    // Below this much work, waking a second thread costs more than it saves (measured break-even
    // 2..4 MFLOP with the worker warm, higher when it has gone to sleep).
    private const double ParallelMinFlops = 4e6;

    // transB products take the streaming dot-product path instead of packing (and so transposing)
    // B when op(A) has few rows and either B is too large for the caches (FC weights: packing
    // would read and write it through memory once more) or there are very few rows and K is long
    // enough to amortize the dot products' horizontal sums. Crossovers measured on AlexNet-like
    // FC shapes.
    private const int StreamingMaxRows = 64;
    private const long StreamingMinWeights = 4 << 20; // floats of B, i.e. 16 MB
    private const int StreamingFewRows = 8;
    private const int StreamingFewRowsMinK = 256;

    // A plain (K x N) B with very few rows of A is the backward pass of a fully connected layer
    // (dx = dy · W with W as (outputs, inputs)): packing would copy all of W for a handful of rows,
    // so B's rows are streamed once instead, each scaled into the rows of C (measured: AlexNet's
    // fc6 backward at batch 1, 151 MB of weights, runs about as fast as fc6 forward).
    private const long StreamingPlainMinWeights = 1 << 20; // floats of B, i.e. 4 MB

    // The streaming path's chunks share nothing but the read-only A, so many small ones cost
    // little and let a thread that starts late (a worker waking up, a preempted vCPU) take less.
    private const int StreamingChunksPerThread = 8;

    // The dot-product kernel's tile: this many rows of B (outputs per row of A) at a time.
    private const int StreamingBRows = 4;

    // Room past the end of a packed buffer for the 16 - width floats that the transposing
    // packer's 16-lane stores spill beyond a panel narrower than 16 (14- or 6-wide A panels).
    private const int PackPadding = 16;

    /// C (M x N, row stride ldc) = alpha * op(A) * op(B) + beta * C.
    /// op(A) is M x K: A is row-major M x K (lda >= K) or, when transA, row-major K x M (lda >= M).
    /// op(B) is K x N: B is row-major K x N (ldb >= N) or, when transB, row-major N x K (ldb >= K).
    /// beta == 0 means C is written without being read (NaNs in C must not leak).
    /// threads: how many threads to use (1..Environment.ProcessorCount); the call splits work itself.
    public static void Multiply(bool transA, bool transB, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(M);
        ArgumentOutOfRangeException.ThrowIfNegative(N);
        ArgumentOutOfRangeException.ThrowIfNegative(K);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(lda, transA ? M : K);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldb, transB ? K : N);
        ArgumentOutOfRangeException.ThrowIfLessThan(ldc, N);
        if (M == 0 || N == 0)
        {
            return;
        }

        ArgumentNullException.ThrowIfNull(C);
        if (K == 0 || alpha == 0f)
        {
            ScaleC(M, N, beta, C, ldc);
            return;
        }

        ArgumentNullException.ThrowIfNull(A);
        ArgumentNullException.ThrowIfNull(B);

        threads = Math.Min(threads, Environment.ProcessorCount);
        if (2.0 * M * N * K < ParallelMinFlops)
        {
            threads = 1;
        }

        if (transB && M <= StreamingMaxRows
            && ((long)N * K >= StreamingMinWeights || (M <= StreamingFewRows && K >= StreamingFewRowsMinK)))
        {
            MultiplyStreamingTransposedB(transA, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
        }
        else if (!transB && M <= StreamingFewRows && (long)N * K >= StreamingPlainMinWeights)
        {
            MultiplyStreamingB(transA, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
        }
        else if (threads == 1)
        {
            MultiplyBlocked(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        }
        else
        {
            var job = new BlockedJob(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
            Parallel.For(0, threads, job.RunChunk);
        }
    }

    /// C = beta * C, the whole result when K == 0 or alpha == 0.
    private static void ScaleC(int M, int N, float beta, float* C, int ldc)
    {
        if (beta == 1f)
        {
            return;
        }

        for (int i = 0; i < M; i++)
        {
            Span<float> row = new(C + (nint)i * ldc, N);
            if (beta == 0f)
            {
                row.Clear();
            }
            else
            {
                for (int j = 0; j < row.Length; j++)
                {
                    row[j] *= beta;
                }
            }
        }
    }

    /// One parallel region's worth of the blocked product: chunk i computes a contiguous band of
    /// C's columns (when N is the better split) or rows, each as an independent blocked product
    /// with its own packing buffers. One chunk per thread: splitting finer, so that a thread that
    /// starts late could hand over work, measured slower because every chunk repacks the shared
    /// operand.
    private sealed class BlockedJob(bool transA, bool transB, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc, int chunks)
    {
        private readonly bool splitColumns = PreferColumnSplit(M, N, chunks);

        public void RunChunk(int chunk)
        {
            if (splitColumns)
            {
                // Column bands start on vector boundaries so only the last band has a ragged edge.
                int width = Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;
                int vectors = (N + width - 1) / width;
                int start = Math.Min(N, (int)((long)vectors * chunk / chunks) * width);
                int end = Math.Min(N, (int)((long)vectors * (chunk + 1) / chunks) * width);
                if (start < end)
                {
                    float* bandOfB = transB ? B + (nint)start * ldb : B + start;
                    MultiplyBlocked(transA, transB, M, end - start, K, alpha, A, lda, bandOfB, ldb, beta, C + start, ldc);
                }
            }
            else
            {
                int start = (int)((long)M * chunk / chunks);
                int end = (int)((long)M * (chunk + 1) / chunks);
                if (start < end)
                {
                    float* bandOfA = transA ? A + start : A + (nint)start * lda;
                    MultiplyBlocked(transA, transB, end - start, N, K, alpha, bandOfA, lda, B, ldb, beta, C + (nint)start * ldc, ldc);
                }
            }
        }

        /// Estimated critical-path cost of each split, in units of one vector FMA per k:
        /// the largest band's micro-kernel work plus the packing every band repeats
        /// (all of A for a column split, all of B for a row split).
        private static bool PreferColumnSplit(int M, int N, int chunks)
        {
            int width = Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256<float>.Count;
            long vectors = (N + width - 1) / width;
            long columnSplitCost = (vectors + chunks - 1) / chunks * M + M;
            long rowSplitCost = (M + chunks - 1) / chunks * vectors + N;
            return columnSplitCost <= rowSplitCost;
        }
    }

    /// Single-threaded BLIS loop nest: nc columns of C at a time (B block in L2 / L3), kc of the
    /// inner dimension at a time (B micro-panel in L1), mc rows at a time (A block in L2).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MultiplyBlocked(bool transA, bool transB, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc)
    {
        bool wide = Vector512.IsHardwareAccelerated;
        int mr = wide ? Mr512 : Mr256;
        int nr = wide ? Nr512 : Nr256;

        // Equal-sized blocks rather than full blocks plus a sliver.
        int kc = DivideEvenly(K, KcMax);
        int mc = RoundUp(DivideEvenly(M, McMax), mr);
        int nc = RoundUp(DivideEvenly(N, NcMax), nr);

        PackBuffers buffers = PackBuffers.ForCurrentThread();
        float* packedA = buffers.EnsureA((nint)mc * kc + PackPadding);
        float* packedB = buffers.EnsureB((nint)nc * kc + PackPadding);

        // Strides of element (row, k) of op(A) and of element (column, k) of op(B).
        nint aRowStride = transA ? 1 : lda;
        nint aKStride = transA ? lda : 1;
        nint bColumnStride = transB ? ldb : 1;
        nint bKStride = transB ? 1 : ldb;

        for (int jc = 0; jc < N; jc += nc)
        {
            int ncCur = Math.Min(nc, N - jc);
            for (int pc = 0; pc < K; pc += kc)
            {
                int kcCur = Math.Min(kc, K - pc);

                // Only the first pass over k applies beta; later passes accumulate into C.
                float betaPass = pc == 0 ? beta : 1f;

                PackPanels(B + jc * bColumnStride + pc * bKStride, bColumnStride, bKStride, ncCur, nr, kcCur, packedB);

                for (int ic = 0; ic < M; ic += mc)
                {
                    int mcCur = Math.Min(mc, M - ic);
                    PackPanels(A + ic * aRowStride + pc * aKStride, aRowStride, aKStride, mcCur, mr, kcCur, packedA);
                    MacroKernel(mcCur, ncCur, kcCur, alpha, packedA, packedB, betaPass, C + (nint)ic * ldc + jc, ldc, mr, nr);
                }
            }
        }
    }

    /// C block (mc x nc) = alpha * packed A block * packed B block + beta * C block, one
    /// MR x NR tile at a time. The B micro-panel is fixed across the inner loop so it stays in L1.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MacroKernel(int mc, int nc, int kc, float alpha, float* packedA, float* packedB,
        float beta, float* C, int ldc, int mr, int nr)
    {
        MicroKernel[] kernels = mr == Mr512 ? s_kernels512 : s_kernels256;
        int vectorWidth = nr / 2;
        float* edgeTile = stackalloc float[Mr512 * Nr512];
        for (int jr = 0; jr < nc; jr += nr)
        {
            int columns = Math.Min(nr, nc - jr);
            int vectors = columns > vectorWidth ? 2 : 1;
            bool ragged = columns != vectors * vectorWidth;
            float* panelB = packedB + (nint)jr * kc;
            for (int ir = 0; ir < mc; ir += mr)
            {
                int rows = Math.Min(mr, mc - ir);
                MicroKernel kernel = kernels[(rows - 1) * 2 + vectors - 1];
                float* panelA = packedA + (nint)ir * kc;
                float* tileC = C + (nint)ir * ldc + jr;
                if (!ragged)
                {
                    kernel(kc, panelA, panelB, tileC, ldc, alpha, beta);
                }
                else
                {
                    // Columns past N are padding: compute the whole vectors into a scratch tile,
                    // then merge only the real columns.
                    kernel(kc, panelA, panelB, edgeTile, nr, 1f, 0f);
                    MergeTile(edgeTile, nr, rows, columns, alpha, beta, tileC, ldc);
                }
            }
        }
    }

    private static void MergeTile(float* tile, int tileStride, int rows, int columns, float alpha, float beta,
        float* C, int ldc)
    {
        for (int r = 0; r < rows; r++)
        {
            float* source = tile + r * tileStride;
            float* target = C + (nint)r * ldc;
            for (int j = 0; j < columns; j++)
            {
                target[j] = beta == 0f ? alpha * source[j] : alpha * source[j] + beta * target[j];
            }
        }
    }

    /// Packs count rows (rows of op(A), or columns of op(B)) by kc into ceil(count / width)
    /// panels of kc x width floats, panel element [k * width + row], zero-filling the rows past
    /// count in the last panel so the micro-kernel never needs an edge case along MR / NR.
    /// Element (row, k) of the source is at src[row * rowStride + k * kStride]; row-major A and
    /// transposed B have kStride == 1 (a transpose), the others have rowStride == 1 (a copy).
    /// Also used by the direct convolution to lay out its weights (see CpuBackend.DirectConvolution.cs).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackPanels(float* src, nint rowStride, nint kStride, int count, int width, int kc, float* dst)
    {
        if (rowStride == 1)
        {
            // Walk a few source rows across all panels at a time: reading one panel's columns
            // down all kc rows would touch a new page per row and defeat the hardware prefetcher.
            const int RowsPerSweep = 8;
            for (int k0 = 0; k0 < kc; k0 += RowsPerSweep)
            {
                int kEnd = Math.Min(kc, k0 + RowsPerSweep);
                for (int first = 0; first < count; first += width)
                {
                    int rows = Math.Min(width, count - first);
                    float* panel = dst + (nint)first * kc;
                    for (int k = k0; k < kEnd; k++)
                    {
                        float* dstK = panel + (nint)k * width;
                        CopyRun(src + first + k * kStride, dstK, rows);
                        for (int r = rows; r < width; r++)
                        {
                            dstK[r] = 0f;
                        }
                    }
                }
            }

            return;
        }

        for (int first = 0; first < count; first += width)
        {
            TransposePanel(src + first * rowStride, rowStride, kStride, Math.Min(width, count - first), width, kc,
                dst + (nint)first * kc);
        }
    }

    /// One kc x width panel of PackPanels when rows are not contiguous: 16 x 16 AVX-512 (or 8 x 8
    /// AVX2) block transposes where the source runs along k, element by element otherwise and for
    /// the k tail. (On AVX2 the element loop measured about a tenth of a batch-1 ResNet-18 forward:
    /// every conv repacks its weights as A.)
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposePanel(float* src, nint rowStride, nint kStride, int count, int width, int kc, float* dst)
    {
        int k0 = 0;
        if (kStride == 1 && Avx512F.IsSupported && (width % 16 == 0 || width < 16))
        {
            for (; k0 + 16 <= kc; k0 += 16)
            {
                for (int group = 0; group < width; group += 16)
                {
                    TransposeBlock16(src + group * rowStride + k0, rowStride, Math.Clamp(count - group, 0, 16),
                        dst + (nint)k0 * width + group, width);
                }
            }
        }
        else if (kStride == 1 && Avx.IsSupported && (width % 8 == 0 || width < 8))
        {
            for (; k0 + 8 <= kc; k0 += 8)
            {
                for (int group = 0; group < width; group += 8)
                {
                    TransposeBlock8(src + group * rowStride + k0, rowStride, Math.Clamp(count - group, 0, 8),
                        dst + (nint)k0 * width + group, width);
                }
            }
        }

        for (int k = k0; k < kc; k++)
        {
            float* dstK = dst + (nint)k * width;
            for (int r = 0; r < count; r++)
            {
                dstK[r] = src[r * rowStride + k * kStride];
            }

            for (int r = count; r < width; r++)
            {
                dstK[r] = 0f;
            }
        }
    }

    /// Copies count floats with 8-wide vector moves; a final overlapping vector covers the rest.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRun(float* src, float* dst, int count)
    {
        if (count < Vector256<float>.Count)
        {
            for (int i = 0; i < count; i++)
            {
                dst[i] = src[i];
            }

            return;
        }

        int last = count - Vector256<float>.Count;
        for (int i = 0; i < last; i += Vector256<float>.Count)
        {
            Vector256.Load(src + i).Store(dst + i);
        }

        Vector256.Load(src + last).Store(dst + last);
    }

    /// Transposes a 16 x 16 block: row r (16 consecutive k from src + r * rowStride; rows at or
    /// past validRows read as zero) becomes lanes r of dst + k * dstStride for k = 0..15.
    /// With dstStride < 16 each 16-lane store spills into the following k; stores go in increasing k
    /// so the next store, the caller's tail loop or the next panel overwrites the spill, and after
    /// the last panel it lands in PackPadding.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeBlock16(float* src, nint rowStride, int validRows, float* dst, nint dstStride)
    {
        Vector512<float> r0 = LoadRow(src, rowStride, 0, validRows), r1 = LoadRow(src, rowStride, 1, validRows);
        Vector512<float> r2 = LoadRow(src, rowStride, 2, validRows), r3 = LoadRow(src, rowStride, 3, validRows);
        Vector512<float> r4 = LoadRow(src, rowStride, 4, validRows), r5 = LoadRow(src, rowStride, 5, validRows);
        Vector512<float> r6 = LoadRow(src, rowStride, 6, validRows), r7 = LoadRow(src, rowStride, 7, validRows);
        Vector512<float> r8 = LoadRow(src, rowStride, 8, validRows), r9 = LoadRow(src, rowStride, 9, validRows);
        Vector512<float> r10 = LoadRow(src, rowStride, 10, validRows), r11 = LoadRow(src, rowStride, 11, validRows);
        Vector512<float> r12 = LoadRow(src, rowStride, 12, validRows), r13 = LoadRow(src, rowStride, 13, validRows);
        Vector512<float> r14 = LoadRow(src, rowStride, 14, validRows), r15 = LoadRow(src, rowStride, 15, validRows);

        // Within each 128-bit lane L, quad s (rows 4q..4q+3) gathers column 4L + s.
        Transpose4(r0, r1, r2, r3, out Vector512<float> q0s0, out Vector512<float> q0s1, out Vector512<float> q0s2, out Vector512<float> q0s3);
        Transpose4(r4, r5, r6, r7, out Vector512<float> q1s0, out Vector512<float> q1s1, out Vector512<float> q1s2, out Vector512<float> q1s3);
        Transpose4(r8, r9, r10, r11, out Vector512<float> q2s0, out Vector512<float> q2s1, out Vector512<float> q2s2, out Vector512<float> q2s3);
        Transpose4(r12, r13, r14, r15, out Vector512<float> q3s0, out Vector512<float> q3s1, out Vector512<float> q3s2, out Vector512<float> q3s3);

        GatherColumns(q0s0, q1s0, q2s0, q3s0, out Vector512<float> c0, out Vector512<float> c4, out Vector512<float> c8, out Vector512<float> c12);
        GatherColumns(q0s1, q1s1, q2s1, q3s1, out Vector512<float> c1, out Vector512<float> c5, out Vector512<float> c9, out Vector512<float> c13);
        GatherColumns(q0s2, q1s2, q2s2, q3s2, out Vector512<float> c2, out Vector512<float> c6, out Vector512<float> c10, out Vector512<float> c14);
        GatherColumns(q0s3, q1s3, q2s3, q3s3, out Vector512<float> c3, out Vector512<float> c7, out Vector512<float> c11, out Vector512<float> c15);

        // In increasing order, so that each store's spill is overwritten by the next one.
        c0.Store(dst);
        c1.Store(dst + dstStride);
        c2.Store(dst + 2 * dstStride);
        c3.Store(dst + 3 * dstStride);
        c4.Store(dst + 4 * dstStride);
        c5.Store(dst + 5 * dstStride);
        c6.Store(dst + 6 * dstStride);
        c7.Store(dst + 7 * dstStride);
        c8.Store(dst + 8 * dstStride);
        c9.Store(dst + 9 * dstStride);
        c10.Store(dst + 10 * dstStride);
        c11.Store(dst + 11 * dstStride);
        c12.Store(dst + 12 * dstStride);
        c13.Store(dst + 13 * dstStride);
        c14.Store(dst + 14 * dstStride);
        c15.Store(dst + 15 * dstStride);
    }

    /// The AVX2 form of TransposeBlock16: an 8 x 8 block, row r (8 consecutive k; rows at or past
    /// validRows read as zero) becomes lanes r of dst + k * dstStride, with the same spill rule.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TransposeBlock8(float* src, nint rowStride, int validRows, float* dst, nint dstStride)
    {
        Vector256<float> r0 = LoadRow8(src, rowStride, 0, validRows), r1 = LoadRow8(src, rowStride, 1, validRows);
        Vector256<float> r2 = LoadRow8(src, rowStride, 2, validRows), r3 = LoadRow8(src, rowStride, 3, validRows);
        Vector256<float> r4 = LoadRow8(src, rowStride, 4, validRows), r5 = LoadRow8(src, rowStride, 5, validRows);
        Vector256<float> r6 = LoadRow8(src, rowStride, 6, validRows), r7 = LoadRow8(src, rowStride, 7, validRows);

        // Within each 128-bit half H, s-th output of a row quad holds column 4H + s of its four rows.
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1);
        Vector256<float> t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5);
        Vector256<float> t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> low0 = Avx.Shuffle(t0, t2, 0x44), low1 = Avx.Shuffle(t0, t2, 0xEE);
        Vector256<float> low2 = Avx.Shuffle(t1, t3, 0x44), low3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> high0 = Avx.Shuffle(t4, t6, 0x44), high1 = Avx.Shuffle(t4, t6, 0xEE);
        Vector256<float> high2 = Avx.Shuffle(t5, t7, 0x44), high3 = Avx.Shuffle(t5, t7, 0xEE);

        // Rows 0..3 from the low quad, rows 4..7 from the high quad; in increasing k for the spill rule.
        Avx.Permute2x128(low0, high0, 0x20).Store(dst);
        Avx.Permute2x128(low1, high1, 0x20).Store(dst + dstStride);
        Avx.Permute2x128(low2, high2, 0x20).Store(dst + 2 * dstStride);
        Avx.Permute2x128(low3, high3, 0x20).Store(dst + 3 * dstStride);
        Avx.Permute2x128(low0, high0, 0x31).Store(dst + 4 * dstStride);
        Avx.Permute2x128(low1, high1, 0x31).Store(dst + 5 * dstStride);
        Avx.Permute2x128(low2, high2, 0x31).Store(dst + 6 * dstStride);
        Avx.Permute2x128(low3, high3, 0x31).Store(dst + 7 * dstStride);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LoadRow8(float* src, nint rowStride, int row, int validRows)
        => row < validRows ? Vector256.Load(src + row * rowStride) : Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LoadRow(float* src, nint rowStride, int row, int validRows)
        => row < validRows ? Vector512.Load(src + row * rowStride) : Vector512<float>.Zero;

    /// 4 x 4 transposes inside every 128-bit lane: column s of the output holds, in lane L,
    /// elements 4L + s of rows a, b, c, d.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d,
        out Vector512<float> s0, out Vector512<float> s1, out Vector512<float> s2, out Vector512<float> s3)
    {
        Vector512<float> abLow = Avx512F.UnpackLow(a, b), abHigh = Avx512F.UnpackHigh(a, b);
        Vector512<float> cdLow = Avx512F.UnpackLow(c, d), cdHigh = Avx512F.UnpackHigh(c, d);
        s0 = Avx512F.Shuffle(abLow, cdLow, 0x44);
        s1 = Avx512F.Shuffle(abLow, cdLow, 0xEE);
        s2 = Avx512F.Shuffle(abHigh, cdHigh, 0x44);
        s3 = Avx512F.Shuffle(abHigh, cdHigh, 0xEE);
    }

    /// Given, for one s, the four row quads whose lane L holds column 4L + s, regroups 128-bit
    /// lanes so each output is one full column (rows 0..15): columns s, s + 4, s + 8, s + 12.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GatherColumns(Vector512<float> quad0, Vector512<float> quad1, Vector512<float> quad2,
        Vector512<float> quad3, out Vector512<float> column, out Vector512<float> columnPlus4,
        out Vector512<float> columnPlus8, out Vector512<float> columnPlus12)
    {
        // 0x88 picks lanes (0, 2) of each source, 0xDD picks lanes (1, 3).
        Vector512<float> top0And8 = Avx512F.Shuffle4x128(quad0, quad1, 0x88);
        Vector512<float> top4And12 = Avx512F.Shuffle4x128(quad0, quad1, 0xDD);
        Vector512<float> bottom0And8 = Avx512F.Shuffle4x128(quad2, quad3, 0x88);
        Vector512<float> bottom4And12 = Avx512F.Shuffle4x128(quad2, quad3, 0xDD);
        column = Avx512F.Shuffle4x128(top0And8, bottom0And8, 0x88);
        columnPlus4 = Avx512F.Shuffle4x128(top4And12, bottom4And12, 0x88);
        columnPlus8 = Avx512F.Shuffle4x128(top0And8, bottom0And8, 0xDD);
        columnPlus12 = Avx512F.Shuffle4x128(top4And12, bottom4And12, 0xDD);
    }

    private static readonly MicroKernel[] s_kernels512 =
    [
        &Kernel512<Count1, Count1>, &Kernel512<Count1, Count2>,
        &Kernel512<Count2, Count1>, &Kernel512<Count2, Count2>,
        &Kernel512<Count3, Count1>, &Kernel512<Count3, Count2>,
        &Kernel512<Count4, Count1>, &Kernel512<Count4, Count2>,
        &Kernel512<Count5, Count1>, &Kernel512<Count5, Count2>,
        &Kernel512<Count6, Count1>, &Kernel512<Count6, Count2>,
        &Kernel512<Count7, Count1>, &Kernel512<Count7, Count2>,
        &Kernel512<Count8, Count1>, &Kernel512<Count8, Count2>,
        &Kernel512<Count9, Count1>, &Kernel512<Count9, Count2>,
        &Kernel512<Count10, Count1>, &Kernel512<Count10, Count2>,
        &Kernel512<Count11, Count1>, &Kernel512<Count11, Count2>,
        &Kernel512<Count12, Count1>, &Kernel512<Count12, Count2>,
        &Kernel512<Count13, Count1>, &Kernel512<Count13, Count2>,
        &Kernel512<Count14, Count1>, &Kernel512<Count14, Count2>,
    ];

    private static readonly MicroKernel[] s_kernels256 =
    [
        &Kernel256<Count1, Count1>, &Kernel256<Count1, Count2>,
        &Kernel256<Count2, Count1>, &Kernel256<Count2, Count2>,
        &Kernel256<Count3, Count1>, &Kernel256<Count3, Count2>,
        &Kernel256<Count4, Count1>, &Kernel256<Count4, Count2>,
        &Kernel256<Count5, Count1>, &Kernel256<Count5, Count2>,
        &Kernel256<Count6, Count1>, &Kernel256<Count6, Count2>,
    ];

    /// AVX-512 micro-kernel: C tile (TRows x 16*TVectors) = alpha * A panel * B panel + beta * C tile.
    /// packedA holds Mr512 floats per k (one per row), packedB holds Nr512 floats per k; only the
    /// first TRows / 16*TVectors of them are used, so edge tiles cost only what they compute.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512<TRows, TVectors>(int kc, float* packedA, float* packedB, float* c, int ldc,
        float alpha, float beta)
        where TRows : struct, ICount
        where TVectors : struct, ICount
    {
        Vector512<float> row0Lo = default, row0Hi = default;
        Vector512<float> row1Lo = default, row1Hi = default;
        Vector512<float> row2Lo = default, row2Hi = default;
        Vector512<float> row3Lo = default, row3Hi = default;
        Vector512<float> row4Lo = default, row4Hi = default;
        Vector512<float> row5Lo = default, row5Hi = default;
        Vector512<float> row6Lo = default, row6Hi = default;
        Vector512<float> row7Lo = default, row7Hi = default;
        Vector512<float> row8Lo = default, row8Hi = default;
        Vector512<float> row9Lo = default, row9Hi = default;
        Vector512<float> row10Lo = default, row10Hi = default;
        Vector512<float> row11Lo = default, row11Hi = default;
        Vector512<float> row12Lo = default, row12Hi = default;
        Vector512<float> row13Lo = default, row13Hi = default;
        for (int k = 0; k < kc; k++)
        {
            Vector512<float> b0 = Vector512.Load(packedB);
            Vector512<float> b1 = TVectors.Value == 2 ? Vector512.Load(packedB + 16) : default;
            {
                Vector512<float> a0 = Vector512.Create(packedA[0]);
                row0Lo = Vector512.FusedMultiplyAdd(a0, b0, row0Lo);
                if (TVectors.Value == 2) row0Hi = Vector512.FusedMultiplyAdd(a0, b1, row0Hi);
            }
            if (TRows.Value > 1) {
                Vector512<float> a1 = Vector512.Create(packedA[1]);
                row1Lo = Vector512.FusedMultiplyAdd(a1, b0, row1Lo);
                if (TVectors.Value == 2) row1Hi = Vector512.FusedMultiplyAdd(a1, b1, row1Hi);
            }
            if (TRows.Value > 2) {
                Vector512<float> a2 = Vector512.Create(packedA[2]);
                row2Lo = Vector512.FusedMultiplyAdd(a2, b0, row2Lo);
                if (TVectors.Value == 2) row2Hi = Vector512.FusedMultiplyAdd(a2, b1, row2Hi);
            }
            if (TRows.Value > 3) {
                Vector512<float> a3 = Vector512.Create(packedA[3]);
                row3Lo = Vector512.FusedMultiplyAdd(a3, b0, row3Lo);
                if (TVectors.Value == 2) row3Hi = Vector512.FusedMultiplyAdd(a3, b1, row3Hi);
            }
            if (TRows.Value > 4) {
                Vector512<float> a4 = Vector512.Create(packedA[4]);
                row4Lo = Vector512.FusedMultiplyAdd(a4, b0, row4Lo);
                if (TVectors.Value == 2) row4Hi = Vector512.FusedMultiplyAdd(a4, b1, row4Hi);
            }
            if (TRows.Value > 5) {
                Vector512<float> a5 = Vector512.Create(packedA[5]);
                row5Lo = Vector512.FusedMultiplyAdd(a5, b0, row5Lo);
                if (TVectors.Value == 2) row5Hi = Vector512.FusedMultiplyAdd(a5, b1, row5Hi);
            }
            if (TRows.Value > 6) {
                Vector512<float> a6 = Vector512.Create(packedA[6]);
                row6Lo = Vector512.FusedMultiplyAdd(a6, b0, row6Lo);
                if (TVectors.Value == 2) row6Hi = Vector512.FusedMultiplyAdd(a6, b1, row6Hi);
            }
            if (TRows.Value > 7) {
                Vector512<float> a7 = Vector512.Create(packedA[7]);
                row7Lo = Vector512.FusedMultiplyAdd(a7, b0, row7Lo);
                if (TVectors.Value == 2) row7Hi = Vector512.FusedMultiplyAdd(a7, b1, row7Hi);
            }
            if (TRows.Value > 8) {
                Vector512<float> a8 = Vector512.Create(packedA[8]);
                row8Lo = Vector512.FusedMultiplyAdd(a8, b0, row8Lo);
                if (TVectors.Value == 2) row8Hi = Vector512.FusedMultiplyAdd(a8, b1, row8Hi);
            }
            if (TRows.Value > 9) {
                Vector512<float> a9 = Vector512.Create(packedA[9]);
                row9Lo = Vector512.FusedMultiplyAdd(a9, b0, row9Lo);
                if (TVectors.Value == 2) row9Hi = Vector512.FusedMultiplyAdd(a9, b1, row9Hi);
            }
            if (TRows.Value > 10) {
                Vector512<float> a10 = Vector512.Create(packedA[10]);
                row10Lo = Vector512.FusedMultiplyAdd(a10, b0, row10Lo);
                if (TVectors.Value == 2) row10Hi = Vector512.FusedMultiplyAdd(a10, b1, row10Hi);
            }
            if (TRows.Value > 11) {
                Vector512<float> a11 = Vector512.Create(packedA[11]);
                row11Lo = Vector512.FusedMultiplyAdd(a11, b0, row11Lo);
                if (TVectors.Value == 2) row11Hi = Vector512.FusedMultiplyAdd(a11, b1, row11Hi);
            }
            if (TRows.Value > 12) {
                Vector512<float> a12 = Vector512.Create(packedA[12]);
                row12Lo = Vector512.FusedMultiplyAdd(a12, b0, row12Lo);
                if (TVectors.Value == 2) row12Hi = Vector512.FusedMultiplyAdd(a12, b1, row12Hi);
            }
            if (TRows.Value > 13) {
                Vector512<float> a13 = Vector512.Create(packedA[13]);
                row13Lo = Vector512.FusedMultiplyAdd(a13, b0, row13Lo);
                if (TVectors.Value == 2) row13Hi = Vector512.FusedMultiplyAdd(a13, b1, row13Hi);
            }
            packedA += Mr512;
            packedB += Nr512;
        }

        StoreRow512<TVectors>(c + 0 * ldc, row0Lo, row0Hi, alpha, beta);
        if (TRows.Value > 1) StoreRow512<TVectors>(c + 1 * ldc, row1Lo, row1Hi, alpha, beta);
        if (TRows.Value > 2) StoreRow512<TVectors>(c + 2 * ldc, row2Lo, row2Hi, alpha, beta);
        if (TRows.Value > 3) StoreRow512<TVectors>(c + 3 * ldc, row3Lo, row3Hi, alpha, beta);
        if (TRows.Value > 4) StoreRow512<TVectors>(c + 4 * ldc, row4Lo, row4Hi, alpha, beta);
        if (TRows.Value > 5) StoreRow512<TVectors>(c + 5 * ldc, row5Lo, row5Hi, alpha, beta);
        if (TRows.Value > 6) StoreRow512<TVectors>(c + 6 * ldc, row6Lo, row6Hi, alpha, beta);
        if (TRows.Value > 7) StoreRow512<TVectors>(c + 7 * ldc, row7Lo, row7Hi, alpha, beta);
        if (TRows.Value > 8) StoreRow512<TVectors>(c + 8 * ldc, row8Lo, row8Hi, alpha, beta);
        if (TRows.Value > 9) StoreRow512<TVectors>(c + 9 * ldc, row9Lo, row9Hi, alpha, beta);
        if (TRows.Value > 10) StoreRow512<TVectors>(c + 10 * ldc, row10Lo, row10Hi, alpha, beta);
        if (TRows.Value > 11) StoreRow512<TVectors>(c + 11 * ldc, row11Lo, row11Hi, alpha, beta);
        if (TRows.Value > 12) StoreRow512<TVectors>(c + 12 * ldc, row12Lo, row12Hi, alpha, beta);
        if (TRows.Value > 13) StoreRow512<TVectors>(c + 13 * ldc, row13Lo, row13Hi, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow512<TVectors>(float* c, Vector512<float> low, Vector512<float> high, float alpha, float beta)
        where TVectors : struct, ICount
    {
        Vector512<float> alphas = Vector512.Create(alpha);
        if (beta == 0f)
        {
            (low * alphas).Store(c);
            if (TVectors.Value == 2)
            {
                (high * alphas).Store(c + 16);
            }
        }
        else
        {
            Vector512<float> betas = Vector512.Create(beta);
            Vector512.FusedMultiplyAdd(low, alphas, Vector512.Load(c) * betas).Store(c);
            if (TVectors.Value == 2)
            {
                Vector512.FusedMultiplyAdd(high, alphas, Vector512.Load(c + 16) * betas).Store(c + 16);
            }
        }
    }

    /// AVX2 micro-kernel, same contract as Kernel512 with Mr256 x Nr256 panels and 8-float vectors.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256<TRows, TVectors>(int kc, float* packedA, float* packedB, float* c, int ldc,
        float alpha, float beta)
        where TRows : struct, ICount
        where TVectors : struct, ICount
    {
        Vector256<float> row0Lo = default, row0Hi = default;
        Vector256<float> row1Lo = default, row1Hi = default;
        Vector256<float> row2Lo = default, row2Hi = default;
        Vector256<float> row3Lo = default, row3Hi = default;
        Vector256<float> row4Lo = default, row4Hi = default;
        Vector256<float> row5Lo = default, row5Hi = default;
        for (int k = 0; k < kc; k++)
        {
            Vector256<float> b0 = Vector256.Load(packedB);
            Vector256<float> b1 = TVectors.Value == 2 ? Vector256.Load(packedB + 8) : default;
            {
                Vector256<float> a0 = Vector256.Create(packedA[0]);
                row0Lo = Vector256.FusedMultiplyAdd(a0, b0, row0Lo);
                if (TVectors.Value == 2) row0Hi = Vector256.FusedMultiplyAdd(a0, b1, row0Hi);
            }
            if (TRows.Value > 1) {
                Vector256<float> a1 = Vector256.Create(packedA[1]);
                row1Lo = Vector256.FusedMultiplyAdd(a1, b0, row1Lo);
                if (TVectors.Value == 2) row1Hi = Vector256.FusedMultiplyAdd(a1, b1, row1Hi);
            }
            if (TRows.Value > 2) {
                Vector256<float> a2 = Vector256.Create(packedA[2]);
                row2Lo = Vector256.FusedMultiplyAdd(a2, b0, row2Lo);
                if (TVectors.Value == 2) row2Hi = Vector256.FusedMultiplyAdd(a2, b1, row2Hi);
            }
            if (TRows.Value > 3) {
                Vector256<float> a3 = Vector256.Create(packedA[3]);
                row3Lo = Vector256.FusedMultiplyAdd(a3, b0, row3Lo);
                if (TVectors.Value == 2) row3Hi = Vector256.FusedMultiplyAdd(a3, b1, row3Hi);
            }
            if (TRows.Value > 4) {
                Vector256<float> a4 = Vector256.Create(packedA[4]);
                row4Lo = Vector256.FusedMultiplyAdd(a4, b0, row4Lo);
                if (TVectors.Value == 2) row4Hi = Vector256.FusedMultiplyAdd(a4, b1, row4Hi);
            }
            if (TRows.Value > 5) {
                Vector256<float> a5 = Vector256.Create(packedA[5]);
                row5Lo = Vector256.FusedMultiplyAdd(a5, b0, row5Lo);
                if (TVectors.Value == 2) row5Hi = Vector256.FusedMultiplyAdd(a5, b1, row5Hi);
            }
            packedA += Mr256;
            packedB += Nr256;
        }

        StoreRow256<TVectors>(c + 0 * ldc, row0Lo, row0Hi, alpha, beta);
        if (TRows.Value > 1) StoreRow256<TVectors>(c + 1 * ldc, row1Lo, row1Hi, alpha, beta);
        if (TRows.Value > 2) StoreRow256<TVectors>(c + 2 * ldc, row2Lo, row2Hi, alpha, beta);
        if (TRows.Value > 3) StoreRow256<TVectors>(c + 3 * ldc, row3Lo, row3Hi, alpha, beta);
        if (TRows.Value > 4) StoreRow256<TVectors>(c + 4 * ldc, row4Lo, row4Hi, alpha, beta);
        if (TRows.Value > 5) StoreRow256<TVectors>(c + 5 * ldc, row5Lo, row5Hi, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow256<TVectors>(float* c, Vector256<float> low, Vector256<float> high, float alpha, float beta)
        where TVectors : struct, ICount
    {
        Vector256<float> alphas = Vector256.Create(alpha);
        if (beta == 0f)
        {
            (low * alphas).Store(c);
            if (TVectors.Value == 2)
            {
                (high * alphas).Store(c + 8);
            }
        }
        else
        {
            Vector256<float> betas = Vector256.Create(beta);
            Vector256.FusedMultiplyAdd(low, alphas, Vector256.Load(c) * betas).Store(c);
            if (TVectors.Value == 2)
            {
                Vector256.FusedMultiplyAdd(high, alphas, Vector256.Load(c + 8) * betas).Store(c + 8);
            }
        }
    }

    /// C (M x N) = alpha * op(A) * B + beta * C for M <= StreamingFewRows with B a plain K x N
    /// matrix. Each thread takes a contiguous range of B's rows, so it streams one unbroken region
    /// of memory, and accumulates op(A)[i, k] * B[k, :] into a private M x N sum; the sums are
    /// added in thread order at the end (deterministic for a given thread count). Splitting by
    /// columns instead measured at about 14 GB/s on AlexNet's fc6, well below memory speed.
    private static void MultiplyStreamingB(bool transA, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc, int threads)
    {
        threads = Math.Min(threads, K);
        var sums = new float[threads][];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var sum = GC.AllocateArray<float>(M * N, pinned: true);
            fixed (float* partial = sum)
                AccumulateRowsOfB((int)((long)K * t / threads), (int)((long)K * (t + 1) / threads), transA, M, N, A, lda, B, ldb, partial);
            sums[t] = sum;
        });

        for (int i = 0; i < M; i++)
        {
            Span<float> row = new(C + (nint)i * ldc, N);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
            foreach (var sum in sums)
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(sum.AsSpan(i * N, N), alpha, row, row);
        }
    }

    /// sum (M x N) = Σ_{k in [kStart, kEnd)} op(A)[:, k] ⊗ B[k, :], four rows of B per pass over
    /// sum: the partial sum (36 KB per row for fc6) lives in L2, so reading and writing it once
    /// per four rows instead of once per row measured ~1.4x faster, level with the forward pass.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AccumulateRowsOfB(int kStart, int kEnd, bool transA, int M, int N,
        float* A, int lda, float* B, int ldb, float* sum)
    {
        int k = kStart;
        for (; k + 4 <= kEnd; k += 4)
        {
            float* b0 = B + (nint)k * ldb;
            for (int i = 0; i < M; i++)
            {
                float a0 = ElementOfA(transA, A, lda, i, k), a1 = ElementOfA(transA, A, lda, i, k + 1);
                float a2 = ElementOfA(transA, A, lda, i, k + 2), a3 = ElementOfA(transA, A, lda, i, k + 3);
                AddFourScaledRows(sum + (nint)i * N, b0, ldb, a0, a1, a2, a3, N);
            }
        }

        for (; k < kEnd; k++)
        {
            ReadOnlySpan<float> rowOfB = new(B + (nint)k * ldb, N);
            for (int i = 0; i < M; i++)
            {
                Span<float> row = new(sum + (nint)i * N, N);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(rowOfB, ElementOfA(transA, A, lda, i, k), row, row);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ElementOfA(bool transA, float* A, int lda, int i, int k) => transA ? A[(nint)k * lda + i] : A[(nint)i * lda + k];

    /// sum[j] += a0·b[j] + a1·b[ldb + j] + a2·b[2·ldb + j] + a3·b[3·ldb + j] for j in [0, n).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddFourScaledRows(float* sum, float* b, int ldb, float a0, float a1, float a2, float a3, int n)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> v0 = Vector256.Create(a0), v1 = Vector256.Create(a1), v2 = Vector256.Create(a2), v3 = Vector256.Create(a3);
            for (; j + Vector256<float>.Count <= n; j += Vector256<float>.Count)
            {
                var acc = Vector256.Load(sum + j);
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(b + j), v0, acc);
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(b + ldb + j), v1, acc);
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(b + 2 * (nint)ldb + j), v2, acc);
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(b + 3 * (nint)ldb + j), v3, acc);
                acc.Store(sum + j);
            }
        }

        for (; j < n; j++)
        {
            sum[j] += a0 * b[j] + a1 * b[ldb + j] + a2 * b[2 * (nint)ldb + j] + a3 * b[3 * (nint)ldb + j];
        }
    }

    /// C (M x N) = alpha * op(A) * B^T + beta * C for small M, where B is the N x K weight matrix
    /// of a fully connected layer. Each output is a dot product of a row of op(A) with a row of B;
    /// B is read exactly once, straight from memory (no packing), split by rows across threads.
    private static void MultiplyStreamingTransposedB(bool transA, int M, int N, int K, float alpha,
        float* A, int lda, float* B, int ldb, float beta, float* C, int ldc, int threads)
    {
        // The dot products need each row of op(A) contiguous; a transposed A (K x M) is gathered
        // into an M x K copy first (at most StreamingMaxRows x K floats).
        float* rowsOfA = A;
        int aStride = lda;
        if (transA)
        {
            rowsOfA = PackBuffers.ForCurrentThread().EnsureA((nint)M * K);
            for (int k = 0; k < K; k++)
            {
                float* rowK = A + (nint)k * lda;
                for (int i = 0; i < M; i++)
                {
                    rowsOfA[(nint)i * K + k] = rowK[i];
                }
            }

            aStride = K;
        }

        if (threads == 1)
        {
            StreamRows(0, N, M, K, alpha, rowsOfA, aStride, B, ldb, beta, C, ldc);
            return;
        }

        int groups = (N + StreamingBRows - 1) / StreamingBRows;
        int chunks = threads * StreamingChunksPerThread;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, chunk =>
        {
            int start = Math.Min(N, (int)((long)groups * chunk / chunks) * StreamingBRows);
            int end = Math.Min(N, (int)((long)groups * (chunk + 1) / chunks) * StreamingBRows);
            StreamRows(start, end, M, K, alpha, rowsOfA, aStride, B, ldb, beta, C, ldc);
        });
    }

    /// Columns [start, end) of C, StreamingBRows rows of B at a time against every row of A.
    /// Each group of B rows (4 x K floats) comes from memory once and stays in L2 while every
    /// group of A rows passes over it; A (at most StreamingMaxRows x K floats) stays in L2 / L3.
    /// Reading each B row in one sequential run keeps the hardware prefetcher streaming; slicing K
    /// to fit L1 was measured slower at small M.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StreamRows(int start, int end, int M, int K, float alpha, float* A, int lda,
        float* B, int ldb, float beta, float* C, int ldc)
    {
        float* dots = stackalloc float[4 * StreamingBRows];
        for (int j = start; j < end; j += StreamingBRows)
        {
            int bRows = Math.Min(StreamingBRows, end - j);

            // A short final group repeats its last row; the duplicate dot products are discarded.
            float* b0 = B + (nint)j * ldb;
            float* b1 = B + (nint)(j + Math.Min(1, bRows - 1)) * ldb;
            float* b2 = B + (nint)(j + Math.Min(2, bRows - 1)) * ldb;
            float* b3 = B + (nint)(j + Math.Min(3, bRows - 1)) * ldb;
            for (int i = 0; i < M; i += 4)
            {
                int aRows = Math.Min(4, M - i);
                float* a = A + (nint)i * lda;
                switch (aRows)
                {
                    case 1: DotKernel<Count1>(K, a, lda, b0, b1, b2, b3, dots); break;
                    case 2: DotKernel<Count2>(K, a, lda, b0, b1, b2, b3, dots); break;
                    case 3: DotKernel<Count3>(K, a, lda, b0, b1, b2, b3, dots); break;
                    default: DotKernel<Count4>(K, a, lda, b0, b1, b2, b3, dots); break;
                }

                MergeTile(dots, StreamingBRows, aRows, bRows, alpha, beta, C + (nint)i * ldc + j, ldc);
            }
        }
    }

    /// dots[r * 4 + q] = dot(row r of A, row q of B) for r < TRows, q < 4, over K elements.
    /// 8-float vectors: the loop is bound by bringing B in from memory (and both operands in from
    /// L2), not by FMAs; 16-float vectors would move the same bytes.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void DotKernel<TRows>(int K, float* a, int lda, float* b0, float* b1, float* b2, float* b3, float* dots)
        where TRows : struct, ICount
    {
        float* a0 = a, a1 = a + lda, a2 = a + 2 * (nint)lda, a3 = a + 3 * (nint)lda;
        Vector256<float> dot00 = default, dot01 = default, dot02 = default, dot03 = default;
        Vector256<float> dot10 = default, dot11 = default, dot12 = default, dot13 = default;
        Vector256<float> dot20 = default, dot21 = default, dot22 = default, dot23 = default;
        Vector256<float> dot30 = default, dot31 = default, dot32 = default, dot33 = default;
        int k = 0;
        for (; k + 8 <= K; k += 8)
        {
            Vector256<float> w0 = Vector256.Load(b0 + k), w1 = Vector256.Load(b1 + k);
            Vector256<float> w2 = Vector256.Load(b2 + k), w3 = Vector256.Load(b3 + k);
            Vector256<float> x0 = Vector256.Load(a0 + k);
            dot00 = Vector256.FusedMultiplyAdd(x0, w0, dot00);
            dot01 = Vector256.FusedMultiplyAdd(x0, w1, dot01);
            dot02 = Vector256.FusedMultiplyAdd(x0, w2, dot02);
            dot03 = Vector256.FusedMultiplyAdd(x0, w3, dot03);

            if (TRows.Value > 1)
            {
                Vector256<float> x1 = Vector256.Load(a1 + k);
                dot10 = Vector256.FusedMultiplyAdd(x1, w0, dot10);
                dot11 = Vector256.FusedMultiplyAdd(x1, w1, dot11);
                dot12 = Vector256.FusedMultiplyAdd(x1, w2, dot12);
                dot13 = Vector256.FusedMultiplyAdd(x1, w3, dot13);
            }

            if (TRows.Value > 2)
            {
                Vector256<float> x2 = Vector256.Load(a2 + k);
                dot20 = Vector256.FusedMultiplyAdd(x2, w0, dot20);
                dot21 = Vector256.FusedMultiplyAdd(x2, w1, dot21);
                dot22 = Vector256.FusedMultiplyAdd(x2, w2, dot22);
                dot23 = Vector256.FusedMultiplyAdd(x2, w3, dot23);
            }

            if (TRows.Value > 3)
            {
                Vector256<float> x3 = Vector256.Load(a3 + k);
                dot30 = Vector256.FusedMultiplyAdd(x3, w0, dot30);
                dot31 = Vector256.FusedMultiplyAdd(x3, w1, dot31);
                dot32 = Vector256.FusedMultiplyAdd(x3, w2, dot32);
                dot33 = Vector256.FusedMultiplyAdd(x3, w3, dot33);
            }
        }

        dots[0] = Vector256.Sum(dot00);
        dots[1] = Vector256.Sum(dot01);
        dots[2] = Vector256.Sum(dot02);
        dots[3] = Vector256.Sum(dot03);
        if (TRows.Value > 1)
        {
            dots[4] = Vector256.Sum(dot10);
            dots[5] = Vector256.Sum(dot11);
            dots[6] = Vector256.Sum(dot12);
            dots[7] = Vector256.Sum(dot13);
        }

        if (TRows.Value > 2)
        {
            dots[8] = Vector256.Sum(dot20);
            dots[9] = Vector256.Sum(dot21);
            dots[10] = Vector256.Sum(dot22);
            dots[11] = Vector256.Sum(dot23);
        }

        if (TRows.Value > 3)
        {
            dots[12] = Vector256.Sum(dot30);
            dots[13] = Vector256.Sum(dot31);
            dots[14] = Vector256.Sum(dot32);
            dots[15] = Vector256.Sum(dot33);
        }

        float** rowsOfB = stackalloc float*[] { b0, b1, b2, b3 };
        for (int r = 0; r < TRows.Value; r++)
        {
            float* rowOfA = a + (nint)r * lda;
            for (int q = 0; q < StreamingBRows; q++)
            {
                float tail = 0f;
                for (int kt = k; kt < K; kt++)
                {
                    tail += rowOfA[kt] * rowsOfB[q][kt];
                }

                dots[r * StreamingBRows + q] += tail;
            }
        }
    }

    /// n / (number of chunks of at most max), rounded up: the most even split of n into chunks.
    private static int DivideEvenly(int n, int max)
    {
        int chunks = (n + max - 1) / max;
        return (n + chunks - 1) / chunks;
    }

    private static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;

    /// Compile-time constant for generic specialization: the JIT folds TCount.Value in each
    /// instantiation, so unused accumulators and branches vanish from the generated code.
    private interface ICount
    {
        static abstract int Value { get; }
    }

    private readonly struct Count1 : ICount { public static int Value => 1; }
    private readonly struct Count2 : ICount { public static int Value => 2; }
    private readonly struct Count3 : ICount { public static int Value => 3; }
    private readonly struct Count4 : ICount { public static int Value => 4; }
    private readonly struct Count5 : ICount { public static int Value => 5; }
    private readonly struct Count6 : ICount { public static int Value => 6; }
    private readonly struct Count7 : ICount { public static int Value => 7; }
    private readonly struct Count8 : ICount { public static int Value => 8; }
    private readonly struct Count9 : ICount { public static int Value => 9; }
    private readonly struct Count10 : ICount { public static int Value => 10; }
    private readonly struct Count11 : ICount { public static int Value => 11; }
    private readonly struct Count12 : ICount { public static int Value => 12; }
    private readonly struct Count13 : ICount { public static int Value => 13; }
    private readonly struct Count14 : ICount { public static int Value => 14; }

    /// Per-thread packing buffers, 64-byte aligned, grown on demand and reused across calls.
    /// The finalizer returns the native memory once the owning thread is gone.
    private sealed class PackBuffers
    {
        [ThreadStatic]
        private static PackBuffers? t_current;

        private float* a;
        private nint aCapacity;
        private float* b;
        private nint bCapacity;

        public static PackBuffers ForCurrentThread() => t_current ??= new PackBuffers();

        public float* EnsureA(nint floats) => Ensure(ref a, ref aCapacity, floats);

        public float* EnsureB(nint floats) => Ensure(ref b, ref bCapacity, floats);

        private static float* Ensure(ref float* buffer, ref nint capacity, nint floats)
        {
            if (floats > capacity)
            {
                NativeMemory.AlignedFree(buffer);
                buffer = null;
                capacity = 0;
                buffer = (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64);
                capacity = floats;
            }

            return buffer;
        }

        ~PackBuffers()
        {
            NativeMemory.AlignedFree(a);
            NativeMemory.AlignedFree(b);
        }
    }
}
