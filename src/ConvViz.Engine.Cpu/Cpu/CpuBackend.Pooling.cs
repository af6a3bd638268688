using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Backends.Cpu;

// Pooling: loops over (n, c) planes in parallel; windows are small (AlexNet: 3x3), so the inner
// loops stay scalar and the parallelism comes from the planes.
public sealed unsafe partial class CpuBackend
{
    protected override void MaxPoolForwardCore(Tensor x, Tensor y, Tensor switches, PoolGeometry g)
    {
        float* X = P(x), Y = P(y);
        int* SW = PI(switches);
        int H = x.Shape.H, W = x.Shape.W, OH = y.Shape.H, OW = y.Shape.W;
        // The taps of each window that land inside the input, computed once per op so the inner
        // loops run without bounds checks: rows [rowFirst, rowEnd) and columns [colFirst, colEnd).
        var rows = WindowTaps(OH, H, g.KernelH, g.StrideH, g.PadTop, g.DilationH);
        var cols = WindowTaps(OW, W, g.KernelW, g.StrideW, g.PadLeft, g.DilationW);
        ParallelRange(x.Shape.N * x.Shape.C, (first, end) => MaxPoolPlanes(X, Y, SW, first, end, H, W, OH, OW, rows, cols, g.KernelW, g.StrideW, g.DilationH, g.DilationW),
            workPerItem: (long)OH * OW * g.KernelH * g.KernelW);
    }

    // A static body: the loops read locals and parameters, not a closure's fields, so the JIT keeps
    // them in registers. Scalar code pays a mispredicted branch (or a long select chain) per tap on
    // real data, so interior windows are computed 8 output columns at a time: one AVX2 gather per
    // tap, compare, and two blends (measured ~8x faster than the scalar loop on AlexNet's pool1).
    // Border windows, where some taps fall in the padding, take the scalar path.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void MaxPoolPlanes(float* X, float* Y, int* SW, int first, int end, int H, int W, int OH, int OW,
        (int Origin, int First, int End)[] rows, (int Origin, int First, int End)[] cols, int kernelW, int strideW, int dilationH, int dilationW)
    {
        // Output columns [interiorFirst, interiorEnd) have every column tap inside the input.
        int interiorFirst = 0, interiorEnd = 0;
        for (int ow = 0; ow < OW; ow++)
            if (cols[ow].First == 0 && cols[ow].End == kernelW)
            {
                if (interiorEnd == 0) interiorFirst = ow;
                interiorEnd = ow + 1;
            }
        bool vectorize = Avx2.IsSupported && interiorEnd - interiorFirst >= 8;
        var laneColumns = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * strideW;
        for (int plane = first; plane < end; plane++)
        {
            float* input = X + (long)plane * H * W;
            float* output = Y + (long)plane * OH * OW;
            int* chosen = SW + (long)plane * OH * OW;
            for (int oh = 0; oh < OH; oh++)
            {
                var (rowOrigin, rowFirst, rowEnd) = rows[oh];
                int ow = 0;
                while (ow < OW)
                {
                    if (vectorize && ow >= interiorFirst && ow + 8 <= interiorEnd && rowFirst < rowEnd)
                    {
                        // Column origins of 8 adjacent windows; each tap adds its row and column offset.
                        int origin = cols[ow].Origin;
                        var origins = Vector256.Create(origin) + laneColumns;
                        // At column stride 1 or 2 a tap of the 8 windows is one load, or the even
                        // elements of two, where those stay inside the row; else a gather.
                        bool loads = strideW == 1 || (strideW == 2 && origin + (kernelW - 1) * dilationW + 2 * 8 <= W);
                        int firstIndex = (rowOrigin + rowFirst * dilationH) * W + origin;
                        var bestIndex = origins + Vector256.Create((rowOrigin + rowFirst * dilationH) * W);
                        var best = loads ? WindowTap(input + firstIndex, strideW) : Avx2.GatherVector256(input, bestIndex, 4);
                        for (int r = rowFirst; r < rowEnd; r++)
                        {
                            int rowIndex = (rowOrigin + r * dilationH) * W + origin;
                            var rowOffset = origins + Vector256.Create((rowOrigin + r * dilationH) * W);
                            for (int t = r == rowFirst ? 1 : 0; t < kernelW; t++)
                            {
                                var index = rowOffset + Vector256.Create(t * dilationW);
                                var v = loads ? WindowTap(input + rowIndex + t * dilationW, strideW) : Avx2.GatherVector256(input, index, 4);
                                // Strictly greater: the first maximum in scan order (row by row) wins ties.
                                var greater = Vector256.GreaterThan(v, best);
                                best = Vector256.ConditionalSelect(greater, v, best);
                                bestIndex = Vector256.ConditionalSelect(greater.AsInt32(), index, bestIndex);
                            }
                        }
                        best.Store(output + oh * OW + ow);
                        bestIndex.Store(chosen + oh * OW + ow);
                        ow += 8;
                        continue;
                    }
                    var (colOrigin, colFirst, colEnd) = cols[ow];
                    if (rowFirst >= rowEnd || colFirst >= colEnd)
                    {
                        output[oh * OW + ow] = 0f;
                        chosen[oh * OW + ow] = -1;
                        ow++;
                        continue;
                    }
                    int bestAt = (rowOrigin + rowFirst * dilationH) * W + colOrigin + colFirst * dilationW;
                    float bestValue = input[bestAt];
                    for (int r = rowFirst; r < rowEnd; r++)
                    {
                        int rowIndex = (rowOrigin + r * dilationH) * W + colOrigin;
                        for (int t = colFirst; t < colEnd; t++)
                        {
                            int index = rowIndex + t * dilationW;
                            if (input[index] > bestValue)
                            {
                                bestValue = input[index];
                                bestAt = index;
                            }
                        }
                    }
                    output[oh * OW + ow] = bestValue;
                    chosen[oh * OW + ow] = bestAt;
                    ow++;
                }
            }
        }
    }

    /// <summary>Elements 0..7 (stride 1) or 0, 2, .., 14 (stride 2) from p: one tap of 8 adjacent windows.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WindowTap(float* p, int strideW) =>
        strideW == 1 ? Vector256.Load(p) : WinogradConvolution.Even(Vector256.Load(p), Vector256.Load(p + 8));

    /// <summary>For each output position: the window origin (may be negative) and the range of taps
    /// [first, end) whose input index origin + tap·dilation lies in [0, size).</summary>
    private static (int Origin, int First, int End)[] WindowTaps(int outputs, int size, int kernel, int stride, int padBegin, int dilation)
    {
        var taps = new (int, int, int)[outputs];
        for (int o = 0; o < outputs; o++)
        {
            int origin = o * stride - padBegin;
            int first = origin >= 0 ? 0 : (-origin + dilation - 1) / dilation;
            int end = Math.Min(kernel, size - origin <= 0 ? 0 : (size - origin + dilation - 1) / dilation);
            taps[o] = (origin, first, Math.Max(first, end));
        }
        return taps;
    }

    protected override void MaxUnpoolCore(Tensor y, Tensor switches, Tensor x)
    {
        float* Y = P(y), X = P(x);
        int* SW = PI(switches);
        int planeIn = x.Shape.H * x.Shape.W, planeOut = y.Shape.H * y.Shape.W;
        ParallelRange(y.Shape.N * y.Shape.C, (first, end) =>
        {
            for (int plane = first; plane < end; plane++)
            {
                float* target = X + (long)plane * planeIn;
                new Span<float>(target, planeIn).Clear();
                float* source = Y + (long)plane * planeOut;
                int* chosen = SW + (long)plane * planeOut;
                for (int i = 0; i < planeOut; i++)
                    if ((uint)chosen[i] < (uint)planeIn) target[chosen[i]] += source[i];
            }
        }, workPerItem: planeIn + planeOut);
    }

    protected override void AvgPoolForwardCore(Tensor x, Tensor y, PoolGeometry g)
    {
        float* X = P(x), Y = P(y);
        int H = x.Shape.H, W = x.Shape.W, OH = y.Shape.H, OW = y.Shape.W;
        var divisors = AverageDivisors(g, H, W, OH, OW);
        ParallelRange(x.Shape.N * x.Shape.C, (first, end) =>
        {
            for (int plane = first; plane < end; plane++)
            {
                float* input = X + (long)plane * H * W;
                float* output = Y + (long)plane * OH * OW;
                for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                {
                    float sum = 0f;
                    for (int r = 0; r < g.KernelH; r++)
                    {
                        int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                        if ((uint)ih >= (uint)H) continue;
                        for (int s = 0; s < g.KernelW; s++)
                        {
                            int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                            if ((uint)iw < (uint)W) sum += input[ih * W + iw];
                        }
                    }
                    int count = divisors[oh * OW + ow];
                    output[oh * OW + ow] = count == 0 ? 0f : sum / count;
                }
            }
        }, workPerItem: (long)OH * OW * g.KernelH * g.KernelW);
    }

    protected override void AvgPoolBackwardCore(Tensor dy, Tensor dx, PoolGeometry g)
    {
        float* DY = P(dy), DX = P(dx);
        int H = dx.Shape.H, W = dx.Shape.W, OH = dy.Shape.H, OW = dy.Shape.W;
        var divisors = AverageDivisors(g, H, W, OH, OW);
        ParallelRange(dx.Shape.N * dx.Shape.C, (first, end) =>
        {
            for (int plane = first; plane < end; plane++)
            {
                float* target = DX + (long)plane * H * W;
                float* source = DY + (long)plane * OH * OW;
                new Span<float>(target, H * W).Clear();
                for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                {
                    int count = divisors[oh * OW + ow];
                    if (count == 0) continue;
                    float share = source[oh * OW + ow] / count;
                    for (int r = 0; r < g.KernelH; r++)
                    {
                        int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                        if ((uint)ih >= (uint)H) continue;
                        for (int s = 0; s < g.KernelW; s++)
                        {
                            int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                            if ((uint)iw < (uint)W) target[ih * W + iw] += share;
                        }
                    }
                }
            }
        }, workPerItem: (long)OH * OW * g.KernelH * g.KernelW);
    }

    private static int[] AverageDivisors(PoolGeometry g, int H, int W, int OH, int OW)
    {
        var divisors = new int[OH * OW];
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
            divisors[oh * OW + ow] = g.AverageDivisor(H, W, oh, ow);
        return divisors;
    }
    // ---------------------------------------------------------------- padding

    // One plane per work item. Each output row is a constant row or a copy of its source row:
    // the interior columns as one span copy, the border columns through the mode's index map.
    protected override void Pad2dForwardCore(Tensor x, Tensor y, PadGeometry g)
    {
        float* X = P(x), Y = P(y);
        int H = x.Shape.H, W = x.Shape.W, OH = y.Shape.H, OW = y.Shape.W;
        // Output columns [first, last) read input columns [first - Left, last - Left) as they are.
        int first = Math.Max(0, g.Left), last = Math.Min(OW, W + g.Left);
        ParallelRange(x.Shape.N * x.Shape.C, (start, end) =>
        {
            for (int plane = start; plane < end; plane++)
            for (int oh = 0; oh < OH; oh++)
            {
                var row = new Span<float>(Y + ((long)plane * OH + oh) * OW, OW);
                int ih = PadGeometry.SourceIndex(oh, g.Top, H, g.Mode);
                if (ih < 0)
                {
                    row.Fill(g.Value);
                    continue;
                }
                float* source = X + ((long)plane * H + ih) * W;
                if (last > first) new ReadOnlySpan<float>(source + first - g.Left, last - first).CopyTo(row[first..last]);
                for (int ow = 0; ow < Math.Min(first, OW); ow++) row[ow] = BorderValue(ow);
                for (int ow = Math.Max(first, last); ow < OW; ow++) row[ow] = BorderValue(ow);

                float BorderValue(int ow)
                {
                    int iw = PadGeometry.SourceIndex(ow, g.Left, W, g.Mode);
                    return iw < 0 ? g.Value : source[iw];
                }
            }
        }, workPerItem: (long)OH * OW);
    }

    // One plane per work item (planes do not overlap, so the scatter needs no atomics): dx = 0,
    // then every output adds its dy to the input it read.
    protected override void Pad2dBackwardCore(Tensor dy, Tensor dx, PadGeometry g)
    {
        float* DY = P(dy), DX = P(dx);
        int H = dx.Shape.H, W = dx.Shape.W, OH = dy.Shape.H, OW = dy.Shape.W;
        ParallelRange(dx.Shape.N * dx.Shape.C, (start, end) =>
        {
            var columns = new int[OW];
            for (int ow = 0; ow < OW; ow++) columns[ow] = PadGeometry.SourceIndex(ow, g.Left, W, g.Mode);
            for (int plane = start; plane < end; plane++)
            {
                float* target = DX + (long)plane * H * W;
                new Span<float>(target, H * W).Clear();
                for (int oh = 0; oh < OH; oh++)
                {
                    int ih = PadGeometry.SourceIndex(oh, g.Top, H, g.Mode);
                    if (ih < 0) continue;
                    float* row = DY + ((long)plane * OH + oh) * OW, into = target + (long)ih * W;
                    for (int ow = 0; ow < OW; ow++)
                        if (columns[ow] >= 0) into[columns[ow]] += row[ow];
                }
            }
        }, workPerItem: (long)OH * OW);
    }
}
