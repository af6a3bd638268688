using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.OpenCL;

// Convolution and GEMM (kernels/conv2d.cl, kernels/gemm.cl). Where two kernel families exist, the
// choice is made here on Variant: tiled (local memory, tile.h) for GPUs, vectorized (floatv) for
// CPU devices.
public sealed partial class OpenCLBackend
{
    /// <summary>Output tile edge and work-group edge of tile.h (TILE, TILE / WPT).</summary>
    private const int Tile = 64, TileThreads = 16, TileK = 16, TiledWorkGroupSize = TileThreads * TileThreads;

    /// <summary>The vectorized kernels' blocking: floatv lanes (portability.h VLANES), rows of
    /// sgemm_vectorized (VGEMM_ROWS), rows x columns of sgemm_nt_vectorized (NT_ROWS, NT_COLS),
    /// pixels of conv2d_forward_vectorized (VCONV_PIXELS).</summary>
    private const int VectorLanes = 16, VectorGemmRows = 8, DotRows = 8, DotColumns = 2, VectorConvPixels = 8;

    /// <summary>Upper bound on the backward-data column workspace; larger batches run in chunks of images.</summary>
    private const long ColumnWorkspaceElements = 32L << 20;

    /// <summary>Scratch buffers that grow to the largest request and are reused (conv column
    /// blocks, split partial sums, packed weights, padded inputs); an op needing two takes slots 0 and 1.</summary>
    private readonly OpenCLBuffer?[] workspaces = new OpenCLBuffer?[2];

    private OpenCLBuffer Workspace(int slot, long elements)
    {
        var buffer = workspaces[slot];
        if (buffer is null || buffer.ElementCount < elements)
        {
            // Released at once: OpenCL keeps it alive until the commands already using it finish.
            buffer?.Dispose();
            buffer = workspaces[slot] = context.CreateBuffer(Math.Max(1, elements));
        }
        return buffer;
    }

    private static long Tiles(long size) => (size + Tile - 1) / Tile;

    private void RunTiled(string source, string kernel, long columns, long rows, long layers, params ReadOnlySpan<KernelArg> args) =>
        context.Enqueue(context.GetKernel(source, kernel),
            [Tiles(columns) * TileThreads, Tiles(rows) * TileThreads, layers], [TileThreads, TileThreads, 1], args);

    /// <summary>The 16 geometry arguments every conv2d.cl kernel starts with (CONV_GEOMETRY).</summary>
    private static KernelArg[] ConvArgs(Shape x, Shape w, Shape y, Conv2dGeometry g, params KernelArg[] rest) =>
    [
        x.N, x.C, x.H, x.W, w[0], y.H, y.W, w[2], w[3],
        g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.DilationH, g.DilationW, g.Groups,
        .. rest,
    ];

    protected override void Conv2dForwardCore(Tensor x, Tensor w, Tensor? bias, Tensor y, Conv2dGeometry g)
    {
        long pixels = (long)y.Shape.N * y.Shape.H * y.Shape.W;
        if (pixels == 0) return;
        int kPerGroup = w.Shape[0] / g.Groups;
        if (Variant == OpenCLKernelVariant.Tiled)
        {
            RunTiled("conv2d.cl", "conv2d_forward", pixels, kPerGroup, g.Groups,
                ConvArgs(x.Shape, w.Shape, y.Shape, g, Mem(x), Mem(w), bias is null ? 0 : 1, Mem(bias ?? w), Mem(y)));
            return;
        }
        // Vectorized: weights repacked as (depth, Kg rounded up to VLANES) per group and the input
        // zero-padded, so the kernel's inner loop is loads and FMAs only.
        int depth = w.Shape[1] * w.Shape[2] * w.Shape[3];
        int kPadded = (kPerGroup + VectorLanes - 1) / VectorLanes * VectorLanes;
        int packed = g.Groups * depth * kPadded;
        var packedWeights = Workspace(0, packed);
        RunElements("conv2d.cl", "conv2d_pack_weights", packed, packed, w.Shape[0], g.Groups, depth, kPadded, Mem(w), packedWeights);

        var padded = x.Shape;
        var input = Mem(x);
        if (g.PadTop + g.PadBottom + g.PadLeft + g.PadRight > 0)
        {
            padded = Shape.Nchw(x.Shape.N, x.Shape.C, x.Shape.H + g.PadTop + g.PadBottom, x.Shape.W + g.PadLeft + g.PadRight);
            input = Workspace(1, padded.ElementCount);
            RunElements("conv2d.cl", "pad_planes", padded.ElementCount, padded.ElementCount,
                x.Shape.H, x.Shape.W, padded.H, padded.W, g.PadTop, g.PadLeft, Mem(x), input);
        }
        context.Enqueue(context.GetKernel("conv2d.cl", "conv2d_forward_vectorized"),
            [(pixels + VectorConvPixels - 1) / VectorConvPixels, kPadded / VectorLanes, g.Groups], [],
            ConvArgs(padded, w.Shape, y.Shape, g, kPadded, input, packedWeights, bias is null ? 0 : 1, Mem(bias ?? w), Mem(y)));
    }

    protected override void Conv2dBackwardDataCore(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g)
    {
        var (x, y) = (dx.Shape, dy.Shape);
        int groups = g.Groups, kPerGroup = w.Shape[0] / groups, depth = w.Shape[1] * w.Shape[2] * w.Shape[3];
        int outputPlane = y.H * y.W;
        long perImage = (long)depth * outputPlane;
        if (x.N == 0) return;
        int chunk = (int)Math.Clamp(ColumnWorkspaceElements / Math.Max(1, perImage), 1, x.N);
        var columns = Workspace(0, chunk * perImage);
        for (int image0 = 0; image0 < x.N; image0 += chunk)
        {
            int images = Math.Min(chunk, x.N - image0);
            for (int group = 0; group < groups; group++)
            {
                // columns[n] (depth, OH OW) = w_g^T (depth, Kg) * dy[n, g] (Kg, OH OW)
                EnqueueGemm(depth, outputPlane, kPerGroup, images, 1f,
                    Mem(w), group * kPerGroup * depth, depth, true, 0,
                    Mem(dy), (image0 * y.C + group * kPerGroup) * outputPlane, outputPlane, false, y.C * outputPlane,
                    null, 0f, 0, 0, 0,
                    columns, 0, outputPlane, (int)perImage);
                RunElements("conv2d.cl", "col2im", (long)images * (x.C / groups) * x.H * x.W,
                    ConvArgs(x, w.Shape, y, g, group, image0, images, columns, Mem(dx)));
            }
        }
    }

    protected override void Conv2dBackwardFilterCore(Tensor x, Tensor dy, Tensor dw, Tensor? dbias, Conv2dGeometry g)
    {
        var y = dy.Shape;
        int k = dw.Shape[0];
        if (y.N * y.H * y.W == 0)
        {
            context.Fill(Mem(dw), 0f, 0, dw.ElementCount);
            if (dbias is not null) context.Fill(Mem(dbias), 0f, 0, dbias.ElementCount);
            return;
        }

        if (Variant == OpenCLKernelVariant.Vectorized) BackwardFilterByImages(x, dy, dw, g);
        else BackwardFilterTiled(x, dy, dw, g);

        if (dbias is not null)
        {
            const int reduceThreads = 64;
            context.Enqueue(context.GetKernel("conv2d.cl", "conv2d_bias_gradient"), [(long)k * reduceThreads], [reduceThreads],
                y.N, k, y.H * y.W, Mem(dy), Mem(dbias));
        }
    }

    /// <summary>Vectorized family: per image and group, the transposed columns, then
    /// dw_g (+)= dy[n, g] (Kg, OH OW) * cols_t (OH OW, depth) with sgemm_vectorized (the first image
    /// overwrites, the others accumulate).</summary>
    private void BackwardFilterByImages(Tensor x, Tensor dy, Tensor dw, Conv2dGeometry g)
    {
        var y = dy.Shape;
        int k = dw.Shape[0], kPerGroup = k / g.Groups, depth = dw.Shape[1] * dw.Shape[2] * dw.Shape[3];
        int outputPlane = y.H * y.W, perImage = outputPlane * depth;
        var colsT = Workspace(0, perImage);
        for (int n = 0; n < y.N; n++)
            for (int group = 0; group < g.Groups; group++)
            {
                RunElements("conv2d.cl", "im2col_transposed", perImage, ConvArgs(x.Shape, dw.Shape, y, g, group, n, Mem(x), colsT));
                EnqueueGemm(kPerGroup, depth, outputPlane, 1, 1f,
                    Mem(dy), (n * k + group * kPerGroup) * outputPlane, outputPlane, false, 0,
                    colsT, 0, depth, false, 0,
                    n == 0 ? null : Mem(dw), 1f, depth, 1, 0,
                    Mem(dw), group * kPerGroup * depth, depth, 0, offsetC: group * kPerGroup * depth);
            }
    }

    /// <summary>Tiled family: one implicit-GEMM launch over all images.</summary>
    private void BackwardFilterTiled(Tensor x, Tensor dy, Tensor dw, Conv2dGeometry g)
    {
        var y = dy.Shape;
        int k = dw.Shape[0], groups = g.Groups, kPerGroup = k / groups;
        int depth = dw.Shape[1] * dw.Shape[2] * dw.Shape[3], pixels = y.N * y.H * y.W;

        // Few output tiles (a small layer, a large batch) leave the device idle: split the pixel sum
        // into slices that run side by side, then add the slices' partial gradients in order.
        long tiles = Tiles(depth) * Tiles(kPerGroup) * groups;
        long wanted = 4L * context.Device.ComputeUnits;
        int splits = (int)Math.Clamp((wanted + tiles - 1) / tiles, 1, Math.Max(1, pixels / 1024));
        int perSplit = ((pixels + splits - 1) / splits + TileK - 1) / TileK * TileK;
        splits = (pixels + perSplit - 1) / perSplit;

        var part = splits == 1 ? Mem(dw) : Workspace(0, (long)splits * dw.ElementCount);
        RunTiled("conv2d.cl", "conv2d_backward_filter", depth, kPerGroup, (long)groups * splits,
            ConvArgs(x.Shape, dw.Shape, y, g, splits, perSplit, Mem(x), Mem(dy), part));
        if (splits > 1)
            RunElements("conv2d.cl", "sum_partials", dw.ElementCount, dw.ElementCount, splits, part, Mem(dw));
    }

    protected override void GemmCore(Tensor a, Tensor b, Tensor? c, Tensor y, bool transA, bool transB, float alpha, float beta)
    {
        int m = y.Shape[0], n = y.Shape[1], k = transA ? a.Shape[0] : a.Shape[1];
        if (m == 0 || n == 0) return;
        bool hasC = c is not null && beta != 0f;
        // A broadcast c is read with zero strides along the axes it is broadcast over.
        int cRowStride = 0, cColStride = 0;
        if (hasC)
        {
            var s = c!.Shape;
            if (s.Rank == 1) cColStride = s[0] == 1 ? 0 : 1;
            else (cRowStride, cColStride) = (s[0] == 1 ? 0 : s[1], s[1] == 1 ? 0 : 1);
        }
        EnqueueGemm(m, n, k, 1, alpha,
            Mem(a), 0, a.Shape[1], transA, 0,
            Mem(b), 0, b.Shape[1], transB, 0,
            hasC ? Mem(c!) : null, beta, cRowStride, cColStride, 0,
            Mem(y), 0, n, 0);
    }

    /// <summary>
    /// The GEMM dispatch table: y[batch] = alpha op(a) op(b) + beta c for <paramref name="batches"/>
    /// batch items, operands as in kernels/gemm.cl. Tiled devices use sgemm_tiled for everything;
    /// vectorized (CPU) devices use sgemm_vectorized when b is not transposed, sgemm_nt_vectorized
    /// when only b is, and sgemm_tiled for the rare case of both.
    /// </summary>
    private void EnqueueGemm(int m, int n, int k, int batches, float alpha,
        OpenCLBuffer a, int offsetA, int lda, bool transA, int batchStrideA,
        OpenCLBuffer b, int offsetB, int ldb, bool transB, int batchStrideB,
        OpenCLBuffer? c, float beta, int cRowStride, int cColStride, int batchStrideC,
        OpenCLBuffer y, int offsetY, int ldy, int batchStrideY, int offsetC = 0)
    {
        KernelArg[] args =
        [
            m, n, k, alpha,
            a, offsetA, lda, transA ? 1 : 0, batchStrideA,
            b, offsetB, ldb, transB ? 1 : 0, batchStrideB,
            c is null ? 0 : 1, beta, c ?? y, offsetC, cRowStride, cColStride, batchStrideC,
            y, offsetY, ldy, batchStrideY,
        ];
        if (Variant == OpenCLKernelVariant.Vectorized && !transB)
            context.Enqueue(context.GetKernel("gemm.cl", "sgemm_vectorized"),
                [(n + VectorLanes - 1) / VectorLanes, (m + VectorGemmRows - 1) / VectorGemmRows, batches], [], args);
        else if (Variant == OpenCLKernelVariant.Vectorized && !transA)
            context.Enqueue(context.GetKernel("gemm.cl", "sgemm_nt_vectorized"),
                [(n + DotColumns - 1) / DotColumns, (m + DotRows - 1) / DotRows, batches], [], args);
        else
            RunTiled("gemm.cl", "sgemm_tiled", n, m, batches, args);
    }
}
