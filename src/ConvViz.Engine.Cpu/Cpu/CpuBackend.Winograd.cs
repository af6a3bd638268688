using System.Runtime.InteropServices;

namespace ConvViz.Engine.Backends.Cpu;

// The driver of the Winograd F(2x2, 3x3) convolution forward (transforms in WinogradConvolution.cs).
public sealed unsafe partial class CpuBackend
{
    /// <summary>
    /// Scratch for V and M of one chunk of tiles, in floats (16 MB): 56x56 ResNet layers with 64
    /// channels take 1.6M floats per image, so batches go through a few images at a time, and an
    /// image larger than this (a 1024x768 input to a 64-channel layer would take 1.6 GB) through
    /// bands of tile rows, so neither matrix outgrows the L3. Chunking changes no result: each
    /// GEMM column is one tile.
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
    /// images (or band of one image's tile rows), transform the input tiles into V (16, C, T); then per block of output channels
    /// transform their weights into U (16, rows, C) and run the 16 GEMMs M[ξ] rows = U[ξ] · V[ξ];
    /// then transform M back into y. Blocks (and, with several threads, ranges of tile columns) are
    /// items on the threads; each element of M is one micro-kernel sum over the same C, so neither
    /// the blocks, the ranges, the threads nor the chunk of images change a result.
    /// </summary>
    private void WinogradConv2dForward(in Conv d, float* x, float* w, float* bias, float* y)
    {
        const int positions = WinogradConvolution.Positions, tilesPerVector = WinogradConvolution.TilesPerVector;
        int tilesH = (d.OH + 1) / 2, tilesW = (d.OW + 1) / 2, tilesPerImage = tilesH * tilesW;
        long floatsPerTile = (long)positions * (d.C + d.K);
        int bandRows = (int)Math.Clamp(WinogradChunkFloats / (floatsPerTile * tilesW), 1, tilesH);
        int images = bandRows < tilesH ? 1 : (int)Math.Clamp(WinogradChunkFloats / (floatsPerTile * tilesPerImage), 1, d.N);
        long chunkTiles = (long)images * bandRows * tilesW;
        // M's last row of tiles is read a whole vector at a time: tilesPerVector floats of slack.
        float* v = Scratch((long)positions * (d.C + d.K) * chunkTiles + tilesPerVector);
        float* m = v + positions * d.C * chunkTiles;
        // Whole 6-row panels of the AVX2 SGEMM micro-tile per block.
        int rowsPerBlock = Math.Min(d.K, Math.Max(6, WinogradWeightBlockFloats / (positions * d.C) / 6 * 6));
        int blocks = (d.K + rowsPerBlock - 1) / rowsPerBlock;

        for (int n0 = 0; n0 < d.N; n0 += images)
        for (int th0 = 0; th0 < tilesH; th0 += bandRows)
        {
            int nb = Math.Min(images, d.N - n0), rowsOfTiles = Math.Min(bandRows, tilesH - th0);
            long tiles = (long)nb * rowsOfTiles * tilesW;
            var band = new WinogradBand(th0, rowsOfTiles, tilesW);
            WinogradInput(d, x + (long)n0 * d.C * d.H * d.W, nb, band, v, tiles);
            int outputs = d.K, channels = d.C, t = (int)tiles;
            // Items are (block, range of tile columns). One thread takes whole rows of M; more
            // threads also split the columns, so that a layer of one block (64 channels) still
            // has work for every thread: ranges start on 16-column panels, each item transforms
            // its block's weights unless its worker's previous item had the same block.
            int ranges = Threads == 1 ? 1 : (int)Math.Clamp((2L * Threads + blocks - 1) / blocks, 1, Math.Max(1, tiles / 64));
            int RangeStart(int range) => range == ranges ? t : (int)((long)t * range / ranges) / 16 * 16;
            ParallelRange(blocks * ranges, (first, end) =>
            {
                float* u = (float*)NativeMemory.AlignedAlloc((nuint)((long)positions * rowsPerBlock * channels * sizeof(float)), 64);
                try
                {
                    int transformed = -1;
                    for (int item = first; item < end; item++)
                    {
                        int block = item / ranges, range = item % ranges;
                        int k0 = block * rowsPerBlock, rows = Math.Min(rowsPerBlock, outputs - k0);
                        int t0 = RangeStart(range), columns = RangeStart(range + 1) - t0;
                        if (block != transformed) WinogradConvolution.TransformWeights(w + (long)k0 * channels * 9, rows * channels, u);
                        transformed = block;
                        for (int position = 0; position < positions; position++)
                            Sgemm.Multiply(false, false, rows, columns, channels, 1f, u + position * rows * channels, channels,
                                v + position * channels * tiles + t0, t, 0f, m + position * outputs * tiles + k0 * tiles + t0, t, threads: 1);
                    }
                }
                finally
                {
                    NativeMemory.AlignedFree(u);
                }
            }, workPerItem: (long)rowsPerBlock * d.C * tiles / ranges * positions, blocksPerWorker: blocks * ranges);
            WinogradOutput(d, m, nb, band, tiles, bias, y + (long)n0 * d.K * d.P);
        }
    }

    /// <summary>Tile rows [First, First + Rows) of every image in a chunk, Columns tiles wide.</summary>
    private readonly record struct WinogradBand(int First, int Rows, int Columns)
    {
        public long Tiles => (long)Rows * Columns;
    }

    /// <summary>
    /// V (16, C, T) from one band of tile rows of nb images of x (nb, C, H, W): the input rows the
    /// band reads are copied into a zero-bordered buffer (the pads, plus the rows and columns the
    /// last tiles and vectors reach past the image), then transformed. Items are (image, channel)
    /// planes, which write disjoint parts of V.
    /// </summary>
    private void WinogradInput(in Conv d, float* x, int nb, WinogradBand band, float* v, long tiles)
    {
        var dims = d;
        // The band's 2·Rows + 2 padded rows (for the whole image 2·tilesH + 2 ≥ OH + 2 = H + PadTop
        // + PadBottom), and a width that also covers the last vector of 8 tiles (16 + 2 columns
        // from its first tile's).
        int paddedH = 2 * band.Rows + 2;
        int paddedW = 2 * ((band.Columns + WinogradConvolution.TilesPerVector - 1) / WinogradConvolution.TilesPerVector * WinogradConvolution.TilesPerVector) + 2;
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
                    // Rows and columns outside the image stay zero from the clear: only the image is
                    // rewritten. Padded row r of the band is image row 2·First + r - PadTop.
                    for (int r = 0; r < paddedH; r++)
                    {
                        int h = 2 * band.First + r - g.PadTop;
                        if (h < 0 || h >= dims.H) continue;
                        new ReadOnlySpan<float>(x + ((long)plane * dims.H + h) * dims.W, dims.W)
                            .CopyTo(new Span<float>(padded + (long)r * paddedW + g.PadLeft, dims.W));
                    }
                    WinogradConvolution.TransformInputPlane(padded, paddedW, band.Rows, band.Columns,
                        v + (long)c * tiles + n * band.Tiles, dims.C * tiles);
                }
            }
            finally
            {
                NativeMemory.AlignedFree(padded);
            }
        }, workPerItem: (long)paddedH * paddedW * 4);
    }

    /// <summary>One band of tile rows of y (nb, K, OH, OW) from M (16, K, T), plus bias; items are (image, output channel) planes.</summary>
    private void WinogradOutput(in Conv d, float* m, int nb, WinogradBand band, long tiles, float* bias, float* y)
    {
        var dims = d;
        int firstRow = 2 * band.First, rows = Math.Min(2 * band.Rows, d.OH - firstRow);
        ParallelRange(nb * d.K, (first, end) =>
        {
            for (int plane = first; plane < end; plane++)
            {
                int n = plane / dims.K, k = plane % dims.K;
                WinogradConvolution.TransformOutputPlane(m + (long)k * tiles + n * band.Tiles,
                    dims.K * tiles, band.Rows, band.Columns,
                    bias == null ? 0f : bias[k], y + (long)plane * dims.P + (long)firstRow * dims.OW, rows, dims.OW);
            }
        }, workPerItem: band.Tiles * 4 * 16);
    }
}
