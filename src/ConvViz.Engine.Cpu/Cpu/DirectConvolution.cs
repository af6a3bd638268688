using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Backends.Cpu;

/// <summary>
/// Direct convolution forward: the kernel keeps a block of output channels x a strip of output
/// pixels of one output row in registers across the whole Cg·R·S reduction, loading the weights as
/// vectors and broadcasting input pixels, then transposes the tile into NCHW with the bias. On
/// AVX-512 the block is 32 channels (two zmm) x up to 14 pixels (28 accumulators); on AVX2 it is 16
/// channels (two ymm) x up to 6 pixels (12 accumulators, the SGEMM micro-tile's shape). Weights
/// are repacked per call to (G, Kg/block, Cg, R, S, block); the input is copied into a
/// zero-bordered buffer, so padding costs nothing inside the kernel. Work items (image, group,
/// channel block, output row) split evenly across the threads in one parallel region.
///
/// Measured against im2col + SGEMM on AlexNet's five conv layers with AVX-512 (interleaved runs,
/// medians): 1.15-1.55x faster on one thread and about 1.3-1.9x on two, because it skips the
/// column matrix and its packing and runs one parallel region per call instead of one per image
/// and group. It applies when Vector512 (or Vector256 with FMA) is hardware-accelerated, the output
/// channels of a group are a multiple of the block and the column stride is 1, 2 or 4; other
/// convolutions take im2col + SGEMM (see CpuBackend.Conv2dForwardCore for the AVX2 choice).
/// </summary>
internal static unsafe class DirectConvolution
{
    private static readonly bool Wide = Vector512.IsHardwareAccelerated;

    /// <summary>Output channels per kernel call: two vectors.</summary>
    public static readonly int ChannelBlock = Wide ? 32 : 16;

    /// <summary>The widest strip of output pixels one kernel call computes.</summary>
    public static readonly int MaxPixels = Wide ? 14 : 6;

    public static bool IsSupported => Wide || (Vector256.IsHardwareAccelerated && Fma.IsSupported);

    public static bool Applies(int outputChannelsPerGroup, Conv2dGeometry g) =>
        IsSupported && outputChannelsPerGroup % ChannelBlock == 0 && g.StrideW is 1 or 2 or 4;

    /// <summary>
    /// Whether an output row of this width cuts into strips that use at least 90% of the kernel's
    /// pixel slots: 56 and 28 pixels on AVX2 (10 strips of 5-6, 5 of 5-6) do, 14 and 7 (3 strips
    /// for 14, 2 of 3-4 for 7) do not and measured slower than im2col + SGEMM on ResNet-18's
    /// 14x14 and 7x7 layers, whose GEMM tiles stay full; on AVX-512 AlexNet's 55, 27 and 13 do.
    /// </summary>
    public static bool StripsFillKernel(int outputWidth)
    {
        int strips = (outputWidth + MaxPixels - 1) / MaxPixels;
        return outputWidth >= 0.9 * strips * MaxPixels;
    }

    /// <summary>Kernels by [pixels - 1] for a column stride of 1, 2 or 4, for this CPU.</summary>
    public static delegate*<float*, int*, int, int, int, float*, float*, void>[] KernelsFor(int strideW) => Wide
        ? strideW switch { 1 => Stride1, 2 => Stride2, _ => Stride4 }
        : strideW switch { 1 => Stride1Avx2, 2 => Stride2Avx2, _ => Stride4Avx2 };

    /// <summary>
    /// The micro-kernel: tile (TPixels x 32) = sum over c, tap of w[c, tap, 0..31] * x[c, offsets[tap] + pixel·TStride].
    /// x points at the first input pixel of the strip in channel 0 of the group (padded planes of
    /// planeSize floats); w at the packed (Cg, R, S, 32) block of this channel block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile512<TPixels, TStride>(float* x, int* offsets, int taps, int channels, int planeSize, float* w, float* tile)
        where TPixels : struct, IConstant where TStride : struct, IConstant
    {
        Vector512<float> low0 = default, high0 = default;
        Vector512<float> low1 = default, high1 = default;
        Vector512<float> low2 = default, high2 = default;
        Vector512<float> low3 = default, high3 = default;
        Vector512<float> low4 = default, high4 = default;
        Vector512<float> low5 = default, high5 = default;
        Vector512<float> low6 = default, high6 = default;
        Vector512<float> low7 = default, high7 = default;
        Vector512<float> low8 = default, high8 = default;
        Vector512<float> low9 = default, high9 = default;
        Vector512<float> low10 = default, high10 = default;
        Vector512<float> low11 = default, high11 = default;
        Vector512<float> low12 = default, high12 = default;
        Vector512<float> low13 = default, high13 = default;
        for (int c = 0; c < channels; c++, x += planeSize)
        {
            for (int t = 0; t < taps; t++, w += ChannelBlock)
            {
                float* p = x + offsets[t];
                Vector512<float> w0 = Vector512.Load(w), w1 = Vector512.Load(w + 16);
                { var v = Vector512.Create(p[0 * TStride.Value]); low0 = Vector512.FusedMultiplyAdd(w0, v, low0); high0 = Vector512.FusedMultiplyAdd(w1, v, high0); }
                if (TPixels.Value > 1) { var v = Vector512.Create(p[1 * TStride.Value]); low1 = Vector512.FusedMultiplyAdd(w0, v, low1); high1 = Vector512.FusedMultiplyAdd(w1, v, high1); }
                if (TPixels.Value > 2) { var v = Vector512.Create(p[2 * TStride.Value]); low2 = Vector512.FusedMultiplyAdd(w0, v, low2); high2 = Vector512.FusedMultiplyAdd(w1, v, high2); }
                if (TPixels.Value > 3) { var v = Vector512.Create(p[3 * TStride.Value]); low3 = Vector512.FusedMultiplyAdd(w0, v, low3); high3 = Vector512.FusedMultiplyAdd(w1, v, high3); }
                if (TPixels.Value > 4) { var v = Vector512.Create(p[4 * TStride.Value]); low4 = Vector512.FusedMultiplyAdd(w0, v, low4); high4 = Vector512.FusedMultiplyAdd(w1, v, high4); }
                if (TPixels.Value > 5) { var v = Vector512.Create(p[5 * TStride.Value]); low5 = Vector512.FusedMultiplyAdd(w0, v, low5); high5 = Vector512.FusedMultiplyAdd(w1, v, high5); }
                if (TPixels.Value > 6) { var v = Vector512.Create(p[6 * TStride.Value]); low6 = Vector512.FusedMultiplyAdd(w0, v, low6); high6 = Vector512.FusedMultiplyAdd(w1, v, high6); }
                if (TPixels.Value > 7) { var v = Vector512.Create(p[7 * TStride.Value]); low7 = Vector512.FusedMultiplyAdd(w0, v, low7); high7 = Vector512.FusedMultiplyAdd(w1, v, high7); }
                if (TPixels.Value > 8) { var v = Vector512.Create(p[8 * TStride.Value]); low8 = Vector512.FusedMultiplyAdd(w0, v, low8); high8 = Vector512.FusedMultiplyAdd(w1, v, high8); }
                if (TPixels.Value > 9) { var v = Vector512.Create(p[9 * TStride.Value]); low9 = Vector512.FusedMultiplyAdd(w0, v, low9); high9 = Vector512.FusedMultiplyAdd(w1, v, high9); }
                if (TPixels.Value > 10) { var v = Vector512.Create(p[10 * TStride.Value]); low10 = Vector512.FusedMultiplyAdd(w0, v, low10); high10 = Vector512.FusedMultiplyAdd(w1, v, high10); }
                if (TPixels.Value > 11) { var v = Vector512.Create(p[11 * TStride.Value]); low11 = Vector512.FusedMultiplyAdd(w0, v, low11); high11 = Vector512.FusedMultiplyAdd(w1, v, high11); }
                if (TPixels.Value > 12) { var v = Vector512.Create(p[12 * TStride.Value]); low12 = Vector512.FusedMultiplyAdd(w0, v, low12); high12 = Vector512.FusedMultiplyAdd(w1, v, high12); }
                if (TPixels.Value > 13) { var v = Vector512.Create(p[13 * TStride.Value]); low13 = Vector512.FusedMultiplyAdd(w0, v, low13); high13 = Vector512.FusedMultiplyAdd(w1, v, high13); }
            }
        }
        { low0.Store(tile + 0); high0.Store(tile + 16); }
        if (TPixels.Value > 1) { low1.Store(tile + 32); high1.Store(tile + 48); }
        if (TPixels.Value > 2) { low2.Store(tile + 64); high2.Store(tile + 80); }
        if (TPixels.Value > 3) { low3.Store(tile + 96); high3.Store(tile + 112); }
        if (TPixels.Value > 4) { low4.Store(tile + 128); high4.Store(tile + 144); }
        if (TPixels.Value > 5) { low5.Store(tile + 160); high5.Store(tile + 176); }
        if (TPixels.Value > 6) { low6.Store(tile + 192); high6.Store(tile + 208); }
        if (TPixels.Value > 7) { low7.Store(tile + 224); high7.Store(tile + 240); }
        if (TPixels.Value > 8) { low8.Store(tile + 256); high8.Store(tile + 272); }
        if (TPixels.Value > 9) { low9.Store(tile + 288); high9.Store(tile + 304); }
        if (TPixels.Value > 10) { low10.Store(tile + 320); high10.Store(tile + 336); }
        if (TPixels.Value > 11) { low11.Store(tile + 352); high11.Store(tile + 368); }
        if (TPixels.Value > 12) { low12.Store(tile + 384); high12.Store(tile + 400); }
        if (TPixels.Value > 13) { low13.Store(tile + 416); high13.Store(tile + 432); }
    }

    /// <summary>The AVX2 micro-kernel, same contract with 16 channels: tile (TPixels x 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile256<TPixels, TStride>(float* x, int* offsets, int taps, int channels, int planeSize, float* w, float* tile)
        where TPixels : struct, IConstant where TStride : struct, IConstant
    {
        Vector256<float> low0 = default, high0 = default;
        Vector256<float> low1 = default, high1 = default;
        Vector256<float> low2 = default, high2 = default;
        Vector256<float> low3 = default, high3 = default;
        Vector256<float> low4 = default, high4 = default;
        Vector256<float> low5 = default, high5 = default;
        for (int c = 0; c < channels; c++, x += planeSize)
        {
            for (int t = 0; t < taps; t++, w += 16)
            {
                float* p = x + offsets[t];
                Vector256<float> w0 = Vector256.Load(w), w1 = Vector256.Load(w + 8);
                { var v = Vector256.Create(p[0 * TStride.Value]); low0 = Vector256.FusedMultiplyAdd(w0, v, low0); high0 = Vector256.FusedMultiplyAdd(w1, v, high0); }
                if (TPixels.Value > 1) { var v = Vector256.Create(p[1 * TStride.Value]); low1 = Vector256.FusedMultiplyAdd(w0, v, low1); high1 = Vector256.FusedMultiplyAdd(w1, v, high1); }
                if (TPixels.Value > 2) { var v = Vector256.Create(p[2 * TStride.Value]); low2 = Vector256.FusedMultiplyAdd(w0, v, low2); high2 = Vector256.FusedMultiplyAdd(w1, v, high2); }
                if (TPixels.Value > 3) { var v = Vector256.Create(p[3 * TStride.Value]); low3 = Vector256.FusedMultiplyAdd(w0, v, low3); high3 = Vector256.FusedMultiplyAdd(w1, v, high3); }
                if (TPixels.Value > 4) { var v = Vector256.Create(p[4 * TStride.Value]); low4 = Vector256.FusedMultiplyAdd(w0, v, low4); high4 = Vector256.FusedMultiplyAdd(w1, v, high4); }
                if (TPixels.Value > 5) { var v = Vector256.Create(p[5 * TStride.Value]); low5 = Vector256.FusedMultiplyAdd(w0, v, low5); high5 = Vector256.FusedMultiplyAdd(w1, v, high5); }
            }
        }
        { low0.Store(tile + 0); high0.Store(tile + 8); }
        if (TPixels.Value > 1) { low1.Store(tile + 16); high1.Store(tile + 24); }
        if (TPixels.Value > 2) { low2.Store(tile + 32); high2.Store(tile + 40); }
        if (TPixels.Value > 3) { low3.Store(tile + 48); high3.Store(tile + 56); }
        if (TPixels.Value > 4) { low4.Store(tile + 64); high4.Store(tile + 72); }
        if (TPixels.Value > 5) { low5.Store(tile + 80); high5.Store(tile + 88); }
    }

    private static readonly delegate*<float*, int*, int, int, int, float*, float*, void>[] Stride1Avx2 = [&Tile256<N1, N1>, &Tile256<N2, N1>, &Tile256<N3, N1>, &Tile256<N4, N1>, &Tile256<N5, N1>, &Tile256<N6, N1>];
    private static readonly delegate*<float*, int*, int, int, int, float*, float*, void>[] Stride2Avx2 = [&Tile256<N1, N2>, &Tile256<N2, N2>, &Tile256<N3, N2>, &Tile256<N4, N2>, &Tile256<N5, N2>, &Tile256<N6, N2>];
    private static readonly delegate*<float*, int*, int, int, int, float*, float*, void>[] Stride4Avx2 = [&Tile256<N1, N4>, &Tile256<N2, N4>, &Tile256<N3, N4>, &Tile256<N4, N4>, &Tile256<N5, N4>, &Tile256<N6, N4>];

    /// <summary>Kernels by [pixels - 1], one table per column stride; pixels and stride are
    /// compile-time constants of each instantiation, so unused accumulators vanish.</summary>
    private static readonly delegate*<float*, int*, int, int, int, float*, float*, void>[] Stride1 = [&Tile512<N1, N1>, &Tile512<N2, N1>, &Tile512<N3, N1>, &Tile512<N4, N1>, &Tile512<N5, N1>, &Tile512<N6, N1>, &Tile512<N7, N1>, &Tile512<N8, N1>, &Tile512<N9, N1>, &Tile512<N10, N1>, &Tile512<N11, N1>, &Tile512<N12, N1>, &Tile512<N13, N1>, &Tile512<N14, N1>];
    private static readonly delegate*<float*, int*, int, int, int, float*, float*, void>[] Stride2 = [&Tile512<N1, N2>, &Tile512<N2, N2>, &Tile512<N3, N2>, &Tile512<N4, N2>, &Tile512<N5, N2>, &Tile512<N6, N2>, &Tile512<N7, N2>, &Tile512<N8, N2>, &Tile512<N9, N2>, &Tile512<N10, N2>, &Tile512<N11, N2>, &Tile512<N12, N2>, &Tile512<N13, N2>, &Tile512<N14, N2>];
    private static readonly delegate*<float*, int*, int, int, int, float*, float*, void>[] Stride4 = [&Tile512<N1, N4>, &Tile512<N2, N4>, &Tile512<N3, N4>, &Tile512<N4, N4>, &Tile512<N5, N4>, &Tile512<N6, N4>, &Tile512<N7, N4>, &Tile512<N8, N4>, &Tile512<N9, N4>, &Tile512<N10, N4>, &Tile512<N11, N4>, &Tile512<N12, N4>, &Tile512<N13, N4>, &Tile512<N14, N4>];
}

/// <summary>A compile-time integer for generic specialization of the kernel.</summary>
internal interface IConstant
{
    static abstract int Value { get; }
}

file struct N1 : IConstant { public static int Value => 1; }
file struct N2 : IConstant { public static int Value => 2; }
file struct N3 : IConstant { public static int Value => 3; }
file struct N4 : IConstant { public static int Value => 4; }
file struct N5 : IConstant { public static int Value => 5; }
file struct N6 : IConstant { public static int Value => 6; }
file struct N7 : IConstant { public static int Value => 7; }
file struct N8 : IConstant { public static int Value => 8; }
file struct N9 : IConstant { public static int Value => 9; }
file struct N10 : IConstant { public static int Value => 10; }
file struct N11 : IConstant { public static int Value => 11; }
file struct N12 : IConstant { public static int Value => 12; }
file struct N13 : IConstant { public static int Value => 13; }
file struct N14 : IConstant { public static int Value => 14; }
