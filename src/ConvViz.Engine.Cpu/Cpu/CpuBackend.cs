using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using ConvViz.Engine.Backends.Host;
using ConvViz.Engine.Tensors;
using Tensor = ConvViz.Engine.Tensors.Tensor;

namespace ConvViz.Engine.Backends.Cpu;

/// <summary>
/// The default backend: SIMD kernels (Vector512 where the CPU runs it at full width, else
/// Vector256, with scalar tails) on all cores, over 64-byte aligned native memory. Convolution
/// forward is Winograd F(2x2, 3x3) for 3x3 stride-1 ungrouped convolutions with enough output
/// tiles (<see cref="WinogradConvolution"/>), a direct convolution where it applies
/// (<see cref="DirectConvolution"/>), else im2col + the packed, register-blocked
/// <see cref="Sgemm"/>; backward-data (GEMM then col2im) and
/// backward-filter are always im2col + SGEMM. One parallel region per op. Ops run one at a time: a backend
/// instance is not meant to be called from several threads at once (its scratch buffer is shared).
/// </summary>
public sealed unsafe partial class CpuBackend : HostBackend
{
    private float* scratch;
    private long scratchLength;

    /// <param name="threads">Worker threads per op; results are bit-identical for a given count.</param>
    public CpuBackend(int? threads = null)
    {
        int count = threads ?? Environment.ProcessorCount;
        if (count < 1) throw new ArgumentException($"CpuBackend: threads {count} must be at least 1");
        Threads = count;
    }

    public int Threads { get; }

    public override string Name => "cpu";

    public override string Description =>
        $"cpu: {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "scalar")} kernels on {Threads} thread(s)";

    public override void Dispose()
    {
        if (scratch != null) NativeMemory.AlignedFree(scratch);
        scratch = null;
        scratchLength = 0;
        base.Dispose();
    }

    /// <summary>A reusable aligned buffer of at least length floats (contents undefined).</summary>
    private float* Scratch(long length)
    {
        if (length > scratchLength)
        {
            if (scratch != null) NativeMemory.AlignedFree(scratch);
            scratch = (float*)NativeMemory.AlignedAlloc((nuint)(length * sizeof(float)), 64);
            scratchLength = length;
        }
        return scratch;
    }

    /// <summary>Runs body(i) for i in [0, count) on up to Threads workers, in contiguous blocks:
    /// one per worker, or <paramref name="blocksPerWorker"/> per worker handed out as workers free
    /// up, for bodies whose items do not depend on how they are grouped (so a worker that starts
    /// late or is preempted, common when other processes share the cores, takes fewer).</summary>
    private void ParallelRange(int count, Action<int, int> body, long workPerItem = 1, int blocksPerWorker = 1)
    {
        // Below ~64k elementary steps, the ~2 µs cost of waking a second thread is not worth it.
        int workers = (int)Math.Min(Threads, Math.Max(1, count * workPerItem / 65536));
        workers = Math.Min(workers, count);
        if (workers <= 1)
        {
            if (count > 0) body(0, count);
            return;
        }
        int blocks = Math.Min(count, workers * blocksPerWorker);
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = workers }, b =>
        {
            int start = (int)((long)count * b / blocks), end = (int)((long)count * (b + 1) / blocks);
            if (end > start) body(start, end);
        });
    }

    // ---------------------------------------------------------------- gemm

    protected override void GemmCore(Tensor a, Tensor b, Tensor? c, Tensor y, bool transA, bool transB, float alpha, float beta)
    {
        int m = y.Shape[0], n = y.Shape[1], k = transA ? a.Shape[0] : a.Shape[1];
        float* Y = P(y);
        if (c is not null && beta != 0f && !c.SharesMemoryWith(y))
        {
            // Broadcast beta * c into y first, then accumulate the product onto it.
            float* C = P(c);
            var cs = c.Shape;
            for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                Y[i * n + j] = beta * C[BroadcastIndex(cs, i, j)];
            beta = 1f;
        }
        Sgemm.Multiply(transA, transB, m, n, k, alpha, P(a), a.Shape[1], P(b), b.Shape[1], c is null ? 0f : beta, Y, n, Threads);
    }

    // ---------------------------------------------------------------- convolution

    /// <summary>Sizes of one convolution; the per-group GEMM is (Kg x CRS) · (CRS x P).</summary>
    private readonly record struct Conv(int N, int C, int H, int W, int K, int R, int S, int OH, int OW, Conv2dGeometry G)
    {
        public Conv(Shape x, Shape w, Shape y, Conv2dGeometry g) : this(x.N, x.C, x.H, x.W, w[0], w[2], w[3], y.H, y.W, g) { }
        public int Cg => C / G.Groups;
        public int Kg => K / G.Groups;
        public int CRS => Cg * R * S;
        public int P => OH * OW;
        /// <summary>A 1x1, stride 1, unpadded conv reads its input as the im2col matrix itself.</summary>
        public bool IsPointwise => R == 1 && S == 1 && G.StrideH == 1 && G.StrideW == 1 &&
                                   G.PadTop == 0 && G.PadLeft == 0 && G.PadBottom == 0 && G.PadRight == 0;
    }

    /// <summary>
    /// How many images share one GEMM: their im2col matrices sit side by side as (CRS x nb·P), so
    /// 13x13 layers (P = 169) get a GEMM about a thousand columns wide, enough to keep both cores
    /// and the 32-wide micro-kernel busy. Layers with large planes already have wide GEMMs and
    /// measured slower when batched (the bigger column matrix falls out of L2), so they go one image
    /// at a time. The column matrix is also capped at 16 MB, half the L3.
    /// </summary>
    private static int ImagesPerGemm(in Conv d)
    {
        const int targetColumns = 1024, budgetFloats = 1 << 22;
        if (d.IsPointwise || d.P >= targetColumns / 2) return 1;
        int wanted = (targetColumns + d.P - 1) / d.P;
        return Math.Clamp(Math.Min(wanted, budgetFloats / Math.Max(1, d.CRS * d.P)), 1, d.N);
    }

    /// <summary>
    /// The images per GEMM, and the scratch of one conv op: the column matrix (CRS x nb·P), then,
    /// when images are batched, room for the per-image outputs or gradients side by side (Kg x nb·P).
    /// </summary>
    private int Workspace(in Conv d, out float* col, out float* sideBySide)
    {
        int batch = ImagesPerGemm(d);
        long columns = (long)batch * d.P;
        // A pointwise conv reads its input as the column matrix and is never batched: no scratch.
        col = d.IsPointwise ? null : Scratch(d.CRS * columns + (batch > 1 ? d.Kg * columns : 0));
        sideBySide = col == null ? null : col + d.CRS * columns;
        return batch;
    }

    // Forward dispatch: Winograd F(2x2, 3x3) for 3x3 stride-1 undilated ungrouped convolutions
    // with at least 32 2x2 output tiles per image (ResNet's 56-, 28- and 14-wide 3x3 layers:
    // 1.3-1.6x faster than the paths below on one AVX2 thread, see
    // WinogradConvolution.MinTilesPerImage); then the direct convolution where it applies and its
    // pixel strips fill the kernel (measured faster on every AlexNet conv layer with AVX-512, and
    // on ResNet-18's 7x7 stem and 28-wide stride-2 3x3 layer with AVX2, see DirectConvolution),
    // else im2col + SGEMM, which
    // handles every geometry. 1x1 convolutions take the GEMM: there is no column matrix to build
    // at stride 1 and only a subsample at stride 2, and the GEMM's tile has no ragged strips.
    protected override void Conv2dForwardCore(Tensor x, Tensor w, Tensor? bias, Tensor y, Conv2dGeometry g)
    {
        var d = new Conv(x.Shape, w.Shape, y.Shape, g);
        float* X = P(x), Wt = P(w), Y = P(y), B = bias is null ? null : P(bias);
        bool direct = DirectConvolution.Applies(d.Kg, g) && d.R * d.S > 1 && DirectConvolution.StripsFillKernel(d.OW);
        if (WinogradConvolution.Applies(d.R, d.S, d.OH, d.OW, g)) WinogradConv2dForward(d, X, Wt, B, Y);
        else if (direct) DirectConv2dForward(d, X, Wt, B, Y);
        else Im2ColConv2dForward(d, X, Wt, B, Y);
    }

    private void Im2ColConv2dForward(in Conv d, float* X, float* Wt, float* B, float* Y)
    {
        var g = d.G;
        int batch = Workspace(d, out float* col, out float* product);
        for (int n0 = 0; n0 < d.N; n0 += batch)
        {
            int nb = Math.Min(batch, d.N - n0);
            int ld = nb * d.P;
            for (int group = 0; group < g.Groups; group++)
            {
                for (int i = 0; i < nb; i++)
                    if (!d.IsPointwise) Im2Col(d, X + ((long)(n0 + i) * d.C + group * d.Cg) * d.H * d.W, col + (long)i * d.P, ld);
                float* wg = Wt + (long)group * d.Kg * d.CRS;
                float* yg = Y + ((long)n0 * d.K + group * d.Kg) * d.P;
                float* target = nb == 1 ? yg : product;
                float* bg = B == null ? null : B + group * d.Kg;
                float* columnsOfX = d.IsPointwise ? X + ((long)n0 * d.C + group * d.Cg) * d.H * d.W : col;
                // The bias is added after the whole sum over CRS at any nb: seeding C with it would
                // add it before the GEMM's later k-blocks, so an image's output would depend on
                // whether it shared a GEMM, i.e. on the batch size.
                Sgemm.Multiply(false, false, d.Kg, ld, d.CRS, 1f, wg, d.CRS, columnsOfX, ld, 0f, target, ld, Threads);
                if (nb > 1 || bg != null) ScatterImages(d, target, yg, nb, bg);
            }
        }
    }

    /// <summary>product (Kg x nb·P) → y[n, k, p] for the nb images (group offset already applied), plus bias.
    /// With nb == 1, product may be y itself: the bias is then added in place.</summary>
    private void ScatterImages(in Conv d, float* product, float* y, int nb, float* bias)
    {
        var dims = d;
        ParallelRange(nb * d.Kg, (first, end) =>
        {
            for (int item = first; item < end; item++)
            {
                int i = item / dims.Kg, k = item % dims.Kg;
                var source = new ReadOnlySpan<float>(product + ((long)k * nb + i) * dims.P, dims.P);
                var destination = new Span<float>(y + ((long)i * dims.K + k) * dims.P, dims.P);
                if (bias == null) source.CopyTo(destination);
                else TensorPrimitives.Add(source, bias[k], destination);
            }
        }, workPerItem: d.P);
    }

    /// <summary>The inverse of ScatterImages: dy[n, k, p] of nb images → (Kg x nb·P).</summary>
    private void GatherImages(in Conv d, float* dy, float* gathered, int nb)
    {
        var dims = d;
        ParallelRange(nb * d.Kg, (first, end) =>
        {
            for (int item = first; item < end; item++)
            {
                int i = item / dims.Kg, k = item % dims.Kg;
                new ReadOnlySpan<float>(dy + ((long)i * dims.K + k) * dims.P, dims.P)
                    .CopyTo(new Span<float>(gathered + ((long)k * nb + i) * dims.P, dims.P));
            }
        }, workPerItem: d.P);
    }

    protected override void Conv2dBackwardDataCore(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g)
    {
        var d = new Conv(dx.Shape, w.Shape, dy.Shape, g);
        float* DY = P(dy), Wt = P(w), DX = P(dx);
        int batch = Workspace(d, out float* col, out float* gathered);
        for (int n0 = 0; n0 < d.N; n0 += batch)
        {
            int nb = Math.Min(batch, d.N - n0);
            int ld = nb * d.P;
            for (int group = 0; group < g.Groups; group++)
            {
                float* dyg = DY + ((long)n0 * d.K + group * d.Kg) * d.P;
                if (nb > 1) GatherImages(d, dyg, gathered, nb);
                float* dxg = DX + ((long)n0 * d.C + group * d.Cg) * d.H * d.W;
                // col (CRS x nb·P) = W_gᵀ (CRS x Kg) · dy_g (Kg x nb·P), then scattered back onto each input grid.
                Sgemm.Multiply(true, false, d.CRS, ld, d.Kg, 1f, Wt + (long)group * d.Kg * d.CRS, d.CRS,
                    nb > 1 ? gathered : dyg, ld, 0f, d.IsPointwise ? dxg : col, ld, Threads);
                if (d.IsPointwise) continue;
                for (int i = 0; i < nb; i++)
                    Col2Im(d, col + (long)i * d.P, ld, DX + ((long)(n0 + i) * d.C + group * d.Cg) * d.H * d.W);
            }
        }
    }

    protected override void Conv2dBackwardFilterCore(Tensor x, Tensor dy, Tensor dw, Tensor? dbias, Conv2dGeometry g)
    {
        var d = new Conv(x.Shape, dw.Shape, dy.Shape, g);
        float* X = P(x), DY = P(dy), DW = P(dw);
        int batch = Workspace(d, out float* col, out float* gathered);
        for (int n0 = 0; n0 < d.N; n0 += batch)
        {
            int nb = Math.Min(batch, d.N - n0);
            int ld = nb * d.P;
            for (int group = 0; group < g.Groups; group++)
            {
                float* xg = X + ((long)n0 * d.C + group * d.Cg) * d.H * d.W;
                float* dyg = DY + ((long)n0 * d.K + group * d.Kg) * d.P;
                for (int i = 0; i < nb; i++)
                    if (!d.IsPointwise) Im2Col(d, xg + (long)i * d.C * d.H * d.W, col + (long)i * d.P, ld);
                if (nb > 1) GatherImages(d, dyg, gathered, nb);
                // dW_g (Kg x CRS) += dy_g (Kg x nb·P) · colᵀ (nb·P x CRS); the first chunk overwrites.
                Sgemm.Multiply(false, true, d.Kg, d.CRS, ld, 1f, nb > 1 ? gathered : dyg, ld, d.IsPointwise ? xg : col, ld,
                    n0 == 0 ? 0f : 1f, DW + (long)group * d.Kg * d.CRS, d.CRS, Threads);
            }
        }
        if (dbias is null) return;
        float* DB = P(dbias);
        for (int k = 0; k < d.K; k++)
        {
            double sum = 0;
            for (int n = 0; n < d.N; n++)
                sum += TensorPrimitives.Sum(new ReadOnlySpan<float>(DY + ((long)n * d.K + k) * d.P, d.P));
            DB[k] = (float)sum;
        }
    }

    /// <summary>col (CRS x P, row stride ld), row (c, r, s), column (oh, ow) = x[c, oh·sh - pt + r·dh, ow·sw - pl + s·dw], 0 in the padding.</summary>
    private void Im2Col(in Conv d, float* x, float* col, int ld)
    {
        var dims = d;
        ParallelRange(d.CRS, (first, end) =>
        {
            var g = dims.G;
            for (int row = first; row < end; row++)
            {
                int c = row / (dims.R * dims.S), r = row / dims.S % dims.R, s = row % dims.S;
                float* plane = x + (long)c * dims.H * dims.W;
                float* output = col + (long)row * ld;
                int colOffset = s * g.DilationW - g.PadLeft;
                // Output columns whose input column lies inside [0, W): ow in [owLow, owHigh).
                int owLow = Math.Clamp(CeilDiv(-colOffset, g.StrideW), 0, dims.OW);
                int owHigh = Math.Clamp(CeilDiv(dims.W - colOffset, g.StrideW), owLow, dims.OW);
                for (int oh = 0; oh < dims.OH; oh++, output += dims.OW)
                {
                    int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                    if (ih < 0 || ih >= dims.H)
                    {
                        new Span<float>(output, dims.OW).Clear();
                        continue;
                    }
                    float* source = plane + (long)ih * dims.W + colOffset;
                    for (int ow = 0; ow < owLow; ow++) output[ow] = 0f;
                    if (g.StrideW == 1)
                        new ReadOnlySpan<float>(source + owLow, owHigh - owLow).CopyTo(new Span<float>(output + owLow, owHigh - owLow));
                    else
                        for (int ow = owLow; ow < owHigh; ow++) output[ow] = source[ow * g.StrideW];
                    for (int ow = owHigh; ow < dims.OW; ow++) output[ow] = 0f;
                }
            }
        }, workPerItem: d.P);
    }

    /// <summary>The adjoint of Im2Col: dx[c, ih, iw] = sum of the col entries that read it. Parallel over
    /// input channels, whose rows of col write disjoint planes.</summary>
    private void Col2Im(in Conv d, float* col, int ld, float* dx)
    {
        var dims = d;
        ParallelRange(d.Cg, (first, end) =>
        {
            var g = dims.G;
            for (int c = first; c < end; c++)
            {
                float* plane = dx + (long)c * dims.H * dims.W;
                new Span<float>(plane, dims.H * dims.W).Clear();
                for (int r = 0; r < dims.R; r++)
                for (int s = 0; s < dims.S; s++)
                {
                    float* input = col + ((long)(c * dims.R + r) * dims.S + s) * ld;
                    int colOffset = s * g.DilationW - g.PadLeft;
                    int owLow = Math.Clamp(CeilDiv(-colOffset, g.StrideW), 0, dims.OW);
                    int owHigh = Math.Clamp(CeilDiv(dims.W - colOffset, g.StrideW), owLow, dims.OW);
                    for (int oh = 0; oh < dims.OH; oh++, input += dims.OW)
                    {
                        int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                        if (ih < 0 || ih >= dims.H) continue;
                        float* target = plane + (long)ih * dims.W + colOffset;
                        if (g.StrideW == 1)
                        {
                            var destination = new Span<float>(target + owLow, owHigh - owLow);
                            TensorPrimitives.Add(destination, new ReadOnlySpan<float>(input + owLow, owHigh - owLow), destination);
                        }
                        else
                            for (int ow = owLow; ow < owHigh; ow++) target[ow * g.StrideW] += input[ow];
                    }
                }
            }
        }, workPerItem: (long)d.R * d.S * d.P);
    }

    private static int CeilDiv(int a, int b) => a >= 0 ? (a + b - 1) / b : -(-a / b);
}
