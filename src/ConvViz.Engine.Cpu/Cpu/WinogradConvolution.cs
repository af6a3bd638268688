using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ConvViz.Engine.Backends.Cpu;

/// <summary>
/// The transforms of Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms
/// for Convolutional Neural Networks", arXiv 1509.09308) for 3x3, stride-1, undilated, ungrouped
/// convolutions: each 2x2 block of output pixels (a tile) of output channel k is
/// Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A, where d_c is the 4x4 input window of the tile in channel c.
/// Scattered over the 16 positions ξ of the 4x4 transformed tile, the sum over c is 16 independent
/// GEMMs M[ξ] (K x T) = U[ξ] (K x C) · V[ξ] (C x T) for T tiles, 16·K·C·T multiplies where the
/// direct convolution does 36·K·C·T (2.25x fewer). F(2x2) rather than F(4x4, 3x3) because its
/// transforms hold only 0, ±1 and ±½ (exact in float): the rounding stays within a few ulps of the
/// direct sum, where F(4x4)'s larger constants cost about a decimal digit.
///
/// The input and output transforms run 8 horizontally adjacent tiles per AVX2 vector: a tile starts
/// every 2 columns, so the 4 columns of 8 tiles are the even and odd elements of two 16-float loads
/// (at the tiles' first column and 2 further), split apart with a shuffle and a lane permute.
/// Matrices: U (16, K, C), V (16, C, T), M (16, K, T), T = images x tile rows x tile columns, the
/// tiles of one image row-major.
/// </summary>
internal static unsafe class WinogradConvolution
{
    /// <summary>Tiles per vector: one AVX2 vector of floats.</summary>
    public const int TilesPerVector = 8;

    /// <summary>The 16 transformed positions of a 4x4 tile.</summary>
    public const int Positions = 16;

    /// <summary>The transforms use AVX2 shuffles and gathers; the GEMM wants FMA.</summary>
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Tiles per image below which the direct convolution or im2col + SGEMM stays faster: each
    /// transformed weight serves one image's tiles, so with few tiles the weight transform (16·K·C
    /// floats written, 16/9 of the weights) and the GEMM's packing of U outweigh the multiplies
    /// saved. Measured on one AVX2 thread (minima, batch 1): 7x7 outputs with 512 channels (16
    /// tiles) 5.3-5.7 ms against 4.5-4.9 ms, 14x14 with 256 (49 tiles) 2.7 against 3.4. It counts
    /// one image, not the batch, so an image's result does not depend on the batch it is in.
    /// </summary>
    public const int MinTilesPerImage = 32;

    public static bool Applies(int kernelH, int kernelW, int outputH, int outputW, Conv2dGeometry g) =>
        IsSupported && kernelH == 3 && kernelW == 3 && g.StrideH == 1 && g.StrideW == 1 &&
        g.DilationH == 1 && g.DilationW == 1 && g.Groups == 1 &&
        (long)((outputH + 1) / 2) * ((outputW + 1) / 2) >= MinTilesPerImage;

    /// <summary>
    /// U[ξ = 4i + j][f] = (G g_f Gᵀ)[i][j] for the filters f = k·C + c of w (K, C, 3, 3) in
    /// [0, filters), G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]: U is (16, K, C), each position's K x C
    /// matrix row-major. 8 filters per vector: their first 8 taps as an 8x8 transpose of 8 loads,
    /// the ninth gathered by element (AVX2 gathers of all 9 measured ~1.5x slower on 512x512 filters).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TransformWeights(float* w, int filters, float* u)
    {
        const int lanes = 8;
        float* tail = stackalloc float[Positions * lanes];
        float* lastFilters = stackalloc float[9 * lanes];
        var half = Vector256.Create(0.5f);
        for (int f = 0; f < filters; f += lanes)
        {
            bool whole = f + lanes <= filters;
            float* p = w + (long)f * 9;
            if (!whole)
            {
                // Past the last filter there is nothing to read: the tail's filters, then zeros.
                new Span<float>(lastFilters, 9 * lanes).Clear();
                new ReadOnlySpan<float>(p, (filters - f) * 9).CopyTo(new Span<float>(lastFilters, (filters - f) * 9));
                p = lastFilters;
            }
            var (g00, g01, g02, g10, g11, g12, g20, g21) = Transpose8(
                Vector256.Load(p), Vector256.Load(p + 9), Vector256.Load(p + 18), Vector256.Load(p + 27),
                Vector256.Load(p + 36), Vector256.Load(p + 45), Vector256.Load(p + 54), Vector256.Load(p + 63));
            var g22 = Vector256.Create(p[8], p[17], p[26], p[35], p[44], p[53], p[62], p[71]);
            // Rows of G g: (4 x 3).
            var q10 = half * (g00 + g10 + g20);
            var q11 = half * (g01 + g11 + g21);
            var q12 = half * (g02 + g12 + g22);
            var q20 = half * (g00 - g10 + g20);
            var q21 = half * (g01 - g11 + g21);
            var q22 = half * (g02 - g12 + g22);
            float* target = whole ? u + f : tail;
            long stride = whole ? filters : lanes;
            StoreFilterRow(g00, g01, g02, target, stride, 0);
            StoreFilterRow(q10, q11, q12, target, stride, 1);
            StoreFilterRow(q20, q21, q22, target, stride, 2);
            StoreFilterRow(g20, g21, g22, target, stride, 3);
            if (whole) continue;
            for (int position = 0; position < Positions; position++)
                new ReadOnlySpan<float>(tail + position * lanes, filters - f)
                    .CopyTo(new Span<float>(u + (long)position * filters + f, filters - f));
        }
    }

    /// <summary>Columns of the 8x8 matrix with rows r0..r7: column j is (r0[j], .., r7[j]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>,
        Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) Transpose8(
        Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7)
    {
        // Pairs of rows interleaved, then pairs of pairs (64-bit halves), then 128-bit lanes across.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        return (Avx.Permute2x128(u0, u4, 0x20), Avx.Permute2x128(u1, u5, 0x20),
            Avx.Permute2x128(u2, u6, 0x20), Avx.Permute2x128(u3, u7, 0x20),
            Avx.Permute2x128(u0, u4, 0x31), Avx.Permute2x128(u1, u5, 0x31),
            Avx.Permute2x128(u2, u6, 0x31), Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>Row i of (G g) Gᵀ from row i of G g, into positions 4i .. 4i + 3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreFilterRow(Vector256<float> a, Vector256<float> b, Vector256<float> e, float* target, long positionStride, int i)
    {
        var half = Vector256.Create(0.5f);
        float* row = target + 4 * i * positionStride;
        a.Store(row);
        (half * (a + b + e)).Store(row + positionStride);
        (half * (a - b + e)).Store(row + 2 * positionStride);
        e.Store(row + 3 * positionStride);
    }

    /// <summary>
    /// V[ξ][tile] = (Bᵀ d B)[i][j] for every tile of one padded input plane, Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
    /// plane: (2·tilesH + 2) rows of paddedWidth ≥ 2·RoundUp(tilesW, 8) + 2 floats, zero outside the image.
    /// v points at this plane's first tile in V[0]; positions are positionStride floats apart.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TransformInputPlane(float* plane, int paddedWidth, int tilesH, int tilesW, float* v, long positionStride)
    {
        float* tail = stackalloc float[Positions * TilesPerVector];
        for (int th = 0; th < tilesH; th++)
        {
            float* rows = plane + 2L * th * paddedWidth;
            for (int tw = 0; tw < tilesW; tw += TilesPerVector)
            {
                float* p = rows + 2 * tw;
                // Bᵀ d: rows 0 - 2, 1 + 2, 2 - 1, 1 - 3, over the 16 + 2 columns the 8 tiles span,
                // as the vectors at the tiles' first column (lo, hi) and two columns on (lo2, hi2).
                var (lo0, hi0, lo20, hi20) = LoadRow(p);
                var (lo1, hi1, lo21, hi21) = LoadRow(p + paddedWidth);
                var (lo2, hi2, lo22, hi22) = LoadRow(p + 2 * paddedWidth);
                var (lo3, hi3, lo23, hi23) = LoadRow(p + 3 * paddedWidth);
                // A vector past the row's last tile spills into the next rows' tiles, which this
                // loop writes later; only one that would spill past this plane's tiles goes
                // through the tail buffer.
                bool whole = (long)th * tilesW + tw + TilesPerVector <= (long)tilesH * tilesW;
                float* target = whole ? v + (long)th * tilesW + tw : tail;
                long stride = whole ? positionStride : TilesPerVector;
                StoreInputRow(lo0 - lo2, hi0 - hi2, lo20 - lo22, hi20 - hi22, target, stride, 0);
                StoreInputRow(lo1 + lo2, hi1 + hi2, lo21 + lo22, hi21 + hi22, target, stride, 1);
                StoreInputRow(lo2 - lo1, hi2 - hi1, lo22 - lo21, hi22 - hi21, target, stride, 2);
                StoreInputRow(lo1 - lo3, hi1 - hi3, lo21 - lo23, hi21 - hi23, target, stride, 3);
                if (whole) continue;
                int count = tilesW - tw;
                for (int position = 0; position < Positions; position++)
                    new ReadOnlySpan<float>(tail + position * TilesPerVector, count)
                        .CopyTo(new Span<float>(v + position * positionStride + (long)th * tilesW + tw, count));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>, Vector256<float>, Vector256<float>) LoadRow(float* p) =>
        (Vector256.Load(p), Vector256.Load(p + 8), Vector256.Load(p + 2), Vector256.Load(p + 10));

    /// <summary>Row i of (Bᵀ d) B for 8 tiles: columns 0 - 2, 1 + 2, 2 - 1, 1 - 3 of row i of Bᵀ d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreInputRow(Vector256<float> lo, Vector256<float> hi, Vector256<float> lo2, Vector256<float> hi2,
        float* target, long positionStride, int i)
    {
        // Tile t's columns 0..3 are the elements 2t and 2t + 1 of (lo, hi) and of (lo2, hi2).
        var column0 = Even(lo, hi);
        var column1 = Odd(lo, hi);
        var column2 = Even(lo2, hi2);
        var column3 = Odd(lo2, hi2);
        float* row = target + 4 * i * positionStride;
        (column0 - column2).Store(row);
        (column1 + column2).Store(row + positionStride);
        (column2 - column1).Store(row + 2 * positionStride);
        (column1 - column3).Store(row + 3 * positionStride);
    }

    /// <summary>Elements 0, 2, .., 14 of the 16 floats (lo, hi) (also max pooling's stride-2 taps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Even(Vector256<float> lo, Vector256<float> hi) =>
        // shufps gives lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6; the 64-bit permute (0, 2, 1, 3) puts the lo pairs first.
        Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0x88).AsDouble(), 0xD8).AsSingle();

    /// <summary>Elements 1, 3, .., 15 of the 16 floats (lo, hi).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Odd(Vector256<float> lo, Vector256<float> hi) =>
        Avx2.Permute4x64(Avx.Shuffle(lo, hi, 0xDD).AsDouble(), 0xD8).AsSingle();

    /// <summary>
    /// y (outputH x outputW) of one output channel = Aᵀ M A + bias for every tile, Aᵀ = [1 1 1 0; 0 1 -1 -1].
    /// m points at this plane's first tile in M[0]; positions are positionStride floats apart, and
    /// reading up to 7 tiles past a row's last one must stay inside the buffer (their results are dropped).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void TransformOutputPlane(float* m, long positionStride, int tilesH, int tilesW, float bias, float* y, int outputH, int outputW)
    {
        float* tail = stackalloc float[4 * TilesPerVector];
        var b = Vector256.Create(bias);
        int lastVector = (tilesW - 1) / TilesPerVector * TilesPerVector;
        for (int th = 0; th < tilesH; th++)
        {
            // Right to left, so that what the last vector of 8 tiles writes past the end of both
            // its rows (into the starts of the next rows) is overwritten by the vectors after it or
            // by the next row of tiles.
            for (int tw = lastVector; tw >= 0; tw -= TilesPerVector)
            {
                float* source = m + (long)th * tilesW + tw;
                // Aᵀ M: rows 0 + 1 + 2 and 1 - 2 - 3, then the same over the columns.
                var (s00, s10) = CombineRows(source, positionStride, 0);
                var (s01, s11) = CombineRows(source, positionStride, 1);
                var (s02, s12) = CombineRows(source, positionStride, 2);
                var (s03, s13) = CombineRows(source, positionStride, 3);
                var y00 = s00 + s01 + s02 + b;
                var y01 = s01 - s02 - s03 + b;
                var y10 = s10 + s11 + s12 + b;
                var y11 = s11 - s12 - s13 + b;
                int row = 2 * th, column = 2 * tw;
                if (row + 2 <= outputH && (long)(row + 1) * outputW + column + 2 * TilesPerVector <= (long)outputH * outputW)
                {
                    float* top = y + (long)row * outputW + column;
                    StoreInterleaved(y00, y01, top);
                    StoreInterleaved(y10, y11, top + outputW);
                    continue;
                }
                StoreInterleaved(y00, y01, tail);
                StoreInterleaved(y10, y11, tail + 2 * TilesPerVector);
                int columns = Math.Min(2 * TilesPerVector, outputW - column);
                for (int r = 0; r < 2 && row + r < outputH; r++)
                    new ReadOnlySpan<float>(tail + r * 2 * TilesPerVector, columns)
                        .CopyTo(new Span<float>(y + (long)(row + r) * outputW + column, columns));
            }
        }
    }

    /// <summary>Column j of Aᵀ M for 8 tiles: M[0][j] + M[1][j] + M[2][j] and M[1][j] - M[2][j] - M[3][j].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float>, Vector256<float>) CombineRows(float* source, long positionStride, int j)
    {
        var m0 = Vector256.Load(source + j * positionStride);
        var m1 = Vector256.Load(source + (4 + j) * positionStride);
        var m2 = Vector256.Load(source + (8 + j) * positionStride);
        var m3 = Vector256.Load(source + (12 + j) * positionStride);
        return (m0 + m1 + m2, m1 - m2 - m3);
    }

    /// <summary>a0 b0 a1 b1 .. a7 b7 at target: 8 tiles' two output columns side by side.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreInterleaved(Vector256<float> a, Vector256<float> b, float* target)
    {
        // unpack works within 128-bit lanes: a0 b0 a1 b1 | a4 b4 a5 b5 and a2 b2 a3 b3 | a6 b6 a7 b7.
        var low = Avx.UnpackLow(a, b);
        var high = Avx.UnpackHigh(a, b);
        Avx.Permute2x128(low, high, 0x20).Store(target);
        Avx.Permute2x128(low, high, 0x31).Store(target + TilesPerVector);
    }
}
