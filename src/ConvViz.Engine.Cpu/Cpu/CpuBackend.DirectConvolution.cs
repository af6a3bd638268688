using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Backends.Cpu;

// The driver of the direct convolution forward (kernels in DirectConvolution.cs).
public sealed unsafe partial class CpuBackend
{
    /// <summary>Everything one direct-convolution call needs, passed by value to the workers.</summary>
    private readonly struct DirectPlan
    {
        public float* Source { get; init; }      // input, zero-bordered copy when padded: (N, C, PaddedH, PaddedW)
        public float* Packed { get; init; }      // weights as (G, Kg/block, Cg, R, S, block)
        public float* Bias { get; init; }        // (K) or null
        public float* Y { get; init; }           // (N, K, OH, OW)
        public int[] Offsets { get; init; }      // tap (r, s) → r·dh·PaddedW + s·dw
        public (int First, int Width)[] Strips { get; init; } // an output row cut into strips of <= MaxPixels
        public Conv D { get; init; }
        public int PaddedH { get; init; }
        public int PaddedW { get; init; }
    }

    private void DirectConv2dForward(in Conv d, float* x, float* w, float* bias, float* y)
    {
        var g = d.G;
        bool padded = g.PadTop + g.PadLeft + g.PadBottom + g.PadRight > 0;
        int paddedH = d.H + g.PadTop + g.PadBottom, paddedW = d.W + g.PadLeft + g.PadRight;
        long packedLength = (long)d.K * d.CRS; // a multiple of the 16- or 32-float block, so the input copy stays 64-byte aligned
        float* packed = Scratch(packedLength + (padded ? (long)d.N * d.C * paddedH * paddedW : 0));
        float* source = padded ? packed + packedLength : x;
        PackWeightsForDirectConvolution(d, w, packed);
        if (padded) CopyIntoZeroBorder(d, x, source, paddedH, paddedW);

        var offsets = new int[d.R * d.S];
        for (int r = 0; r < d.R; r++)
        for (int s = 0; s < d.S; s++)
            offsets[r * d.S + s] = r * g.DilationH * paddedW + s * g.DilationW;
        int outputWidth = d.OW, strips = (outputWidth + DirectConvolution.MaxPixels - 1) / DirectConvolution.MaxPixels;
        var plan = new DirectPlan
        {
            Source = source, Packed = packed, Bias = bias, Y = y, Offsets = offsets, D = d, PaddedH = paddedH, PaddedW = paddedW,
            // Even strips: 55 pixels → 13, 14, 14, 14 rather than 14, 14, 14, 13 or a lone 13 + 42.
            Strips = Enumerable.Range(0, strips)
                .Select(i => (outputWidth * i / strips, outputWidth * (i + 1) / strips - outputWidth * i / strips)).ToArray(),
        };
        int items = d.N * g.Groups * (d.Kg / DirectConvolution.ChannelBlock) * d.OH;
        // Each item is computed alone, so handing them out in small blocks changes no result.
        ParallelRange(items, (first, end) => DirectRows(plan, first, end), workPerItem: (long)d.OW * d.CRS * DirectConvolution.ChannelBlock,
            blocksPerWorker: 8);
    }

    /// <summary>Work items (n, group, 32-channel block, output row) in [first, end).</summary>
    private static void DirectRows(in DirectPlan plan, int first, int end)
    {
        var d = plan.D;
        var kernels = DirectConvolution.KernelsFor(d.G.StrideW);
        int channelBlock = DirectConvolution.ChannelBlock;
        int blocks = d.Kg / channelBlock, taps = d.R * d.S, plane = plan.PaddedH * plan.PaddedW;
        float* tile = stackalloc float[DirectConvolution.MaxPixels * channelBlock];
        fixed (int* offsets = plan.Offsets)
        {
            for (int item = first; item < end; item++)
            {
                int oh = item % d.OH, rest = item / d.OH;
                int block = rest % blocks;
                rest /= blocks;
                int group = rest % d.G.Groups, n = rest / d.G.Groups;
                float* weights = plan.Packed + ((long)group * blocks + block) * d.CRS * channelBlock;
                float* row = plan.Source + ((long)n * d.C + group * d.Cg) * plane + (long)oh * d.G.StrideH * plan.PaddedW;
                int k0 = group * d.Kg + block * channelBlock;
                float* output = plan.Y + ((long)n * d.K + k0) * d.P + (long)oh * d.OW;
                foreach (var (firstPixel, width) in plan.Strips)
                {
                    kernels[width - 1](row + firstPixel * d.G.StrideW, offsets, taps, d.Cg, plane, weights, tile);
                    // tile is (pixel, channel); y wants (channel, pixel).
                    for (int l = 0; l < channelBlock; l++)
                    {
                        float b = plan.Bias == null ? 0f : plan.Bias[k0 + l];
                        float* target = output + (long)l * d.P + firstPixel;
                        for (int j = 0; j < width; j++) target[j] = tile[j * channelBlock + l] + b;
                    }
                }
            }
        }
    }

    /// <summary>
    /// w (K, Cg, R, S) → (G, Kg/block, Cg·R·S, block): each kernel step loads a block of output
    /// channels' weights as two vectors. It is a transpose of each block of rows, done with the
    /// GEMM's 16x16 (8x8 on AVX2) vector transposes (a scalar loop measured ~1.2 ms for AlexNet
    /// conv3's weights, most of a batch-1 conv3).
    /// </summary>
    private void PackWeightsForDirectConvolution(in Conv d, float* w, float* packed)
    {
        int crs = d.CRS, blocks = d.K / DirectConvolution.ChannelBlock;
        ParallelRange(blocks, (first, end) =>
        {
            for (int block = first; block < end; block++)
            {
                long offset = (long)block * DirectConvolution.ChannelBlock * crs;
                Sgemm.PackPanels(w + offset, crs, 1, DirectConvolution.ChannelBlock, DirectConvolution.ChannelBlock, crs, packed + offset);
            }
        }, workPerItem: (long)crs * DirectConvolution.ChannelBlock);
    }

    /// <summary>x (N, C, H, W) → padded (N, C, H + pt + pb, W + pl + pr) with zeros in the border.</summary>
    private void CopyIntoZeroBorder(in Conv d, float* x, float* padded, int paddedH, int paddedW)
    {
        var dims = d;
        ParallelRange(d.N * d.C, (first, end) =>
        {
            var g = dims.G;
            for (int plane = first; plane < end; plane++)
            {
                float* target = padded + (long)plane * paddedH * paddedW;
                new Span<float>(target, g.PadTop * paddedW).Clear();
                new Span<float>(target + (long)(g.PadTop + dims.H) * paddedW, g.PadBottom * paddedW).Clear();
                for (int h = 0; h < dims.H; h++)
                {
                    float* line = target + (long)(g.PadTop + h) * paddedW;
                    new Span<float>(line, g.PadLeft).Clear();
                    new ReadOnlySpan<float>(x + ((long)plane * dims.H + h) * dims.W, dims.W).CopyTo(new Span<float>(line + g.PadLeft, dims.W));
                    new Span<float>(line + g.PadLeft + dims.W, g.PadRight).Clear();
                }
            }
        }, workPerItem: (long)paddedH * paddedW);
    }
}
