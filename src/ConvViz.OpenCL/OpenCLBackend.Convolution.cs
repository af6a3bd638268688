using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.OpenCL;

// Convolution and GEMM: the tiled kernels of kernels/conv2d.cl and kernels/gemm.cl (tile.h).
public sealed partial class OpenCLBackend
{
    /// <summary>Output tile edge and work-group edge of tile.h (TILE, TILE / WPT).</summary>
    private const int Tile = 64, TileThreads = 16, TileK = 16;

    /// <summary>Upper bound on the backward-data column workspace; larger batches run in chunks of images.</summary>
    private const long ColumnWorkspaceElements = 32L << 20;

    /// <summary>Scratch that grows to the largest request and is reused: conv column blocks and split partial sums.</summary>
    private OpenCLBuffer? workspace;

    private OpenCLBuffer Workspace(long elements)
    {
        if (workspace is null || workspace.ElementCount < elements)
        {
            workspace?.Dispose();
            workspace = context.CreateBuffer(Math.Max(1, elements));
        }
        return workspace;
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
        var args = ConvArgs(x.Shape, w.Shape, y.Shape, g, Mem(x), Mem(w), bias is null ? 0 : 1, Mem(bias ?? w), Mem(y));
        RunTiled("conv2d.cl", "conv2d_forward", pixels, w.Shape[0] / g.Groups, g.Groups, args);
    }

    protected override void Conv2dBackwardDataCore(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g)
    {
        var (x, y) = (dx.Shape, dy.Shape);
        int groups = g.Groups, kPerGroup = w.Shape[0] / groups, depth = w.Shape[1] * w.Shape[2] * w.Shape[3];
        int outputPlane = y.H * y.W;
        long perImage = (long)depth * outputPlane;
        if (x.N == 0) return;
        int chunk = (int)Math.Clamp(ColumnWorkspaceElements / Math.Max(1, perImage), 1, x.N);
        var columns = Workspace(chunk * perImage);
        for (int image0 = 0; image0 < x.N; image0 += chunk)
        {
            int images = Math.Min(chunk, x.N - image0);
            for (int group = 0; group < groups; group++)
            {
                // columns[n] (depth, OH OW) = w_g^T (depth, Kg) * dy[n, g] (Kg, OH OW)
                RunTiled("gemm.cl", "sgemm_tiled", outputPlane, depth, images,
                    depth, outputPlane, kPerGroup, 1f,
                    Mem(w), group * kPerGroup * depth, depth, 1, 0,
                    Mem(dy), (image0 * y.C + group * kPerGroup) * outputPlane, outputPlane, 0, y.C * outputPlane,
                    0, 0f, columns, 0, 0, 0, 0,
                    columns, 0, outputPlane, (int)perImage);
                RunElements("conv2d.cl", "col2im", (long)images * (x.C / groups) * x.H * x.W,
                    ConvArgs(x, w.Shape, y, g, group, image0, images, columns, Mem(dx)));
            }
        }
    }

    protected override void Conv2dBackwardFilterCore(Tensor x, Tensor dy, Tensor dw, Tensor? dbias, Conv2dGeometry g)
    {
        var y = dy.Shape;
        int k = dw.Shape[0], groups = g.Groups, kPerGroup = k / groups;
        int depth = dw.Shape[1] * dw.Shape[2] * dw.Shape[3], pixels = y.N * y.H * y.W;
        if (pixels == 0)
        {
            context.Fill(Mem(dw), 0f, 0, dw.ElementCount);
            if (dbias is not null) context.Fill(Mem(dbias), 0f, 0, dbias.ElementCount);
            return;
        }

        // Few output tiles (a small layer, a large batch) leave the device idle: split the pixel sum
        // into slices that run side by side, then add the slices' partial gradients in order.
        long tiles = Tiles(depth) * Tiles(kPerGroup) * groups;
        long wanted = 4L * context.Device.ComputeUnits;
        int splits = (int)Math.Clamp((wanted + tiles - 1) / tiles, 1, Math.Max(1, pixels / 1024));
        int perSplit = ((pixels + splits - 1) / splits + TileK - 1) / TileK * TileK;
        splits = (pixels + perSplit - 1) / perSplit;

        var part = splits == 1 ? Mem(dw) : Workspace((long)splits * dw.ElementCount);
        RunTiled("conv2d.cl", "conv2d_backward_filter", depth, kPerGroup, (long)groups * splits,
            ConvArgs(x.Shape, dw.Shape, y, g, splits, perSplit, Mem(x), Mem(dy), part));
        if (splits > 1)
            RunElements("conv2d.cl", "sum_partials", dw.ElementCount, dw.ElementCount, splits, part, Mem(dw));

        if (dbias is not null)
        {
            const int reduceThreads = 256;
            context.Enqueue(context.GetKernel("conv2d.cl", "conv2d_bias_gradient"), [(long)k * reduceThreads], [reduceThreads],
                y.N, k, y.H * y.W, Mem(dy), Mem(dbias));
        }
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
        RunTiled("gemm.cl", "sgemm_tiled", n, m, 1,
            m, n, k, alpha,
            Mem(a), 0, a.Shape[1], transA ? 1 : 0, 0,
            Mem(b), 0, b.Shape[1], transB ? 1 : 0, 0,
            hasC ? 1 : 0, beta, Mem(hasC ? c! : y), 0, cRowStride, cColStride, 0,
            Mem(y), 0, n, 0);
    }
}
