using System.Runtime.InteropServices;

namespace ConvViz.Engine.Backends.Cpu;

// The driver of the Winograd F(2x2, 3x3) convolution forward (transforms in WinogradConvolution.cs).
public sealed unsafe partial class CpuBackend
{
    /// <summary>
    /// Scratch for V and M of one chunk of images, in floats (16 MB): 56x56 ResNet layers with 64
    /// channels take 1.6M floats per image, so batches go through a few images at a time and
    /// neither matrix outgrows the L3. Chunking changes no result: each GEMM column is one tile.
    /// </summary>
    private const long WinogradChunkFloats = 4L << 20;

    /// <summary>
    /// Transformed weights per block of output channels, in floats (768 KB): the GEMMs read each
    /// block right after its transform, from L2 or L3, instead of the whole U (16·K·C floats, 4 MB
    /// at 256 channels, 16 MB at 512) going out to memory and back.
    /// </summary>
    private const int WinogradWeightBlockFloats = 3 << 16;

    /// <summary>
    /// y (N, K, OH, OW) = x (N, C, H, W) ⋆ w (K, C, 3, 3) + bias, stride 1, any pads: per chunk of
    /// images, transform the input tiles into V (16, C, T); then per block of output channels
    /// transform their weights into U (16, rows, C) and run the 16 GEMMs M[ξ] rows = U[ξ] · V[ξ];
    /// then transform M back into y. Blocks are items on the threads; each row of M is one GEMM
    /// over the same C, so neither the blocks, the threads nor the chunk of images change a result.
    /// </summary>
    private void WinogradConv2dForward(in Conv d, float* x, float* w, float* bias, float* y)
    {
        const int positions = WinogradConvolution.Positions, tilesPerVector = WinogradConvolution.TilesPerVector;
        int tilesH = (d.OH + 1) / 2, tilesW = (d.OW + 1) / 2, tilesPerImage = tilesH * tilesW;
        int images = (int)Math.Clamp(WinogradChunkFloats / ((long)positions * (d.C + d.K) * tilesPerImage), 1, d.N);
        long chunkTiles = (long)images * tilesPerImage;
        // M's last row of tiles is read a whole vector at a time: tilesPerVector floats of slack.
        float* v = Scratch((long)positions * (d.C + d.K) * chunkTiles + tilesPerVector);
        float* m = v + positions * d.C * chunkTiles;
        // Whole 6-row panels of the AVX2 SGEMM micro-tile per block.
        int rowsPerBlock = Math.Min(d.K, Math.Max(6, WinogradWeightBlockFloats / (positions * d.C) / 6 * 6));
        int blocks = (d.K + rowsPerBlock - 1) / rowsPerBlock;

        for (int n0 = 0; n0 < d.N; n0 += images)
        {
            int nb = Math.Min(images, d.N - n0);
            long tiles = (long)nb * tilesPerImage;
            WinogradInput(d, x + (long)n0 * d.C * d.H * d.W, nb, tilesH, tilesW, v, tiles);
            int outputs = d.K, channels = d.C, t = (int)tiles;
            ParallelRange(blocks, (first, end) =>
            {
                float* u = (float*)NativeMemory.AlignedAlloc((nuint)((long)positions * rowsPerBlock * channels * sizeof(float)), 64);
                try
                {
                    for (int block = first; block < end; block++)
                    {
                        int k0 = block * rowsPerBlock, rows = Math.Min(rowsPerBlock, outputs - k0);
                        WinogradConvolution.TransformWeights(w + (long)k0 * channels * 9, rows * channels, u);
                        for (int position = 0; position < positions; position++)
                            Sgemm.Multiply(false, false, rows, t, channels, 1f, u + position * rows * channels, channels,
                                v + position * channels * tiles, t, 0f, m + position * outputs * tiles + k0 * tiles, t, threads: 1);
                    }
                }
                finally
                {
                    NativeMemory.AlignedFree(u);
                }
            }, workPerItem: (long)rowsPerBlock * d.C * tiles * positions, blocksPerWorker: blocks);
            WinogradOutput(d, m, nb, tilesH, tilesW, tiles, bias, y + (long)n0 * d.K * d.P);
        }
    }

    /// <summary>
    /// V (16, C, T) from nb images of x (nb, C, H, W): each plane is copied into a zero-bordered
    /// buffer (the pads, plus the rows and columns the last tiles and vectors reach past the
    /// image), then transformed. Items are (image, channel) planes, which write disjoint parts of V.
    /// </summary>
    private void WinogradInput(in Conv d, float* x, int nb, int tilesH, int tilesW, float* v, long tiles)
    {
        var dims = d;
        // 2·tilesH + 2 ≥ OH + 2 = H + PadTop + PadBottom rows, and the width also covers the last
        // vector of 8 tiles (16 + 2 columns from its first tile's).
        int paddedH = 2 * tilesH + 2;
        int paddedW = 2 * ((tilesW + WinogradConvolution.TilesPerVector - 1) / WinogradConvolution.TilesPerVector * WinogradConvolution.TilesPerVector) + 2;
        ParallelRange(nb * d.C, (first, end) =>
        {
            var g = dims.G;
            float* padded = (float*)NativeMemory.AlignedAlloc((nuint)((long)paddedH * paddedW * sizeof(float)), 64);
            try
            {
                var whole = new Span<float>(padded, paddedH * paddedW);
                whole.Clear();
                for (int plane = first; plane < end; plane++)
                {
                    int n = plane / dims.C, c = plane % dims.C;
                    // Rows and columns outside the image stay zero from the clear: only the image is rewritten.
                    for (int h = 0; h < dims.H; h++)
                        new ReadOnlySpan<float>(x + ((long)plane * dims.H + h) * dims.W, dims.W)
                            .CopyTo(new Span<float>(padded + (long)(g.PadTop + h) * paddedW + g.PadLeft, dims.W));
                    WinogradConvolution.TransformInputPlane(padded, paddedW, tilesH, tilesW,
                        v + (long)c * tiles + (long)n * tilesH * tilesW, dims.C * tiles);
                }
            }
            finally
            {
                NativeMemory.AlignedFree(padded);
            }
        }, workPerItem: (long)paddedH * paddedW * 4);
    }

    /// <summary>y (nb, K, OH, OW) from M (16, K, T), plus bias; items are (image, output channel) planes.</summary>
    private void WinogradOutput(in Conv d, float* m, int nb, int tilesH, int tilesW, long tiles, float* bias, float* y)
    {
        var dims = d;
        ParallelRange(nb * d.K, (first, end) =>
        {
            for (int plane = first; plane < end; plane++)
            {
                int n = plane / dims.K, k = plane % dims.K;
                WinogradConvolution.TransformOutputPlane(m + (long)k * tiles + (long)n * tilesH * tilesW,
                    dims.K * tiles, tilesH, tilesW,
                    bias == null ? 0f : bias[k], y + (long)plane * dims.P, dims.OH, dims.OW);
            }
        }, workPerItem: (long)tilesH * tilesW * 4 * 16);
    }
}
