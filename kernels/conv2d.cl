#include "tile.h"
#include "vector.h"

/* conv2d.cl: 2-D convolution forward, backward-filter and the col2im half of backward-data, with
 * groups, strides, asymmetric pads and dilation.
 *
 * x (N, C, H, W); w (K, C/G, R, S); y (N, K, OH, OW). Per group g the convolution is a GEMM over
 * depth q = (c, r, s) in [0, Cg R S) and pixels p = (n, oh, ow) in [0, N OH OW):
 *   forward          y[g Kg + m, p]  = sum_q w[g Kg + m, q] * col[q, p]
 *   backward filter  dw[g Kg + m, q] = sum_p dy[g Kg + m, p] * col[q, p]
 * where col[q, p] = x[n, g Cg + c, oh stride_h - pad_top + r dilation_h, ow stride_w - pad_left + s dilation_w]
 * (0 outside the image). Both kernels gather col on the fly into the tile.h tile ("implicit GEMM"):
 * no im2col buffer. Backward data is sgemm_tiled (w^T dy into columns) followed by col2im here. */

/* The geometry every convolution kernel takes, in this order. */
#define CONV_GEOMETRY int N, int C, int H, int W, int K, int OH, int OW, int R, int S, \
    int stride_h, int stride_w, int pad_top, int pad_left, int dilation_h, int dilation_w, int groups

/* NDRange: (ceil(N OH OW / TILE) * TILE_THREADS_X, ceil(Kg / TILE) * TILE_THREADS_Y, groups). */
KERNEL void conv2d_forward(CONV_GEOMETRY, GLOBAL const float* RESTRICT x, GLOBAL const float* RESTRICT w,
                           int has_bias, GLOBAL const float* RESTRICT bias, GLOBAL float* RESTRICT y)
{
    LOCAL float As[TILE_K * TILE];
    LOCAL float Bs[TILE_K * TILE];
    const int tx = LID(0), ty = LID(1), tid = ty * TILE_THREADS_X + tx;
    const int g = GROUP_ID(2);
    const int Cg = C / groups, Kg = K / groups, RS = R * S, depth = Cg * RS;
    const int OHW = OH * OW, pixels = N * OHW;
    const int row0 = GROUP_ID(1) * TILE, col0 = GROUP_ID(0) * TILE;

    /* Each work-item always stages the same pixel column of the col slice: decompose it once. */
    const int bp = col0 + tid % TILE, bq0 = tid / TILE;
    const int bn = bp / OHW, bo = bp % OHW;
    const int ih0 = (bo / OW) * stride_h - pad_top, iw0 = (bo % OW) * stride_w - pad_left;
    GLOBAL const float* xg = x + ((long)bn * C + (long)g * Cg) * H * W;
    GLOBAL const float* wg = w + (long)g * Kg * depth;

    float acc[WPT * WPT];
    for (int i = 0; i < WPT * WPT; i++) acc[i] = 0.0f;

    for (int q0 = 0; q0 < depth; q0 += TILE_K)
    {
        for (int l = 0; l < TILE_LOADS; l++)
        {
            const int e = tid + TILE_THREADS * l;
            const int am = e / TILE_K, aq = e % TILE_K;
            As[aq * TILE + am] = row0 + am < Kg && q0 + aq < depth ? wg[(long)(row0 + am) * depth + q0 + aq] : 0.0f;

            const int bq = bq0 + l * (TILE_THREADS / TILE), q = q0 + bq;
            float v = 0.0f;
            if (bp < pixels && q < depth)
            {
                const int c = q / RS, rs = q % RS;
                const int ih = ih0 + (rs / S) * dilation_h, iw = iw0 + (rs % S) * dilation_w;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = xg[((long)c * H + ih) * W + iw];
            }
            Bs[bq * TILE + tid % TILE] = v;
        }
        BARRIER();
        tile_accumulate(As, Bs, acc, tx, ty);
        BARRIER();
    }

    for (int j = 0; j < WPT; j++)
    {
        const int p = col0 + tx + TILE_THREADS_X * j;
        if (p >= pixels) continue;
        const int n = p / OHW, o = p % OHW;
        for (int i = 0; i < WPT; i++)
        {
            const int m = row0 + ty + TILE_THREADS_Y * i;
            if (m >= Kg) continue;
            const int k = g * Kg + m;
            y[((long)n * K + k) * OHW + o] = acc[i * WPT + j] + (has_bias ? bias[k] : 0.0f);
        }
    }
}

/* Pixels per work-item of conv2d_forward_vectorized; its output channels are one floatv. */
#define VCONV_PIXELS 8

/* wt[(g depth + q) kg_pad + m] = w[g Kg + m, q] for m < Kg, else 0: each group's weights as a
 * (depth, kg_pad) matrix, so VLANES consecutive output channels are one vector load.
 * One work-item per element of wt (groups * depth * kg_pad). */
KERNEL void conv2d_pack_weights(int count, int K, int groups, int depth, int kg_pad,
                                GLOBAL const float* RESTRICT w, GLOBAL float* RESTRICT wt)
{
    const int e = GID(0);
    if (e >= count) return;
    const int Kg = K / groups;
    const int m = e % kg_pad, q = (e / kg_pad) % depth, g = e / (kg_pad * depth);
    wt[e] = m < Kg ? w[((long)g * Kg + m) * depth + q] : 0.0f;
}

/* xp = x with pad_top / pad_left zeros before and enough zeros after each plane to make it
 * (Hp, Wp). One work-item per element of xp. */
KERNEL void pad_planes(int count, int H, int W, int Hp, int Wp, int pad_top, int pad_left,
                       GLOBAL const float* RESTRICT x, GLOBAL float* RESTRICT xp)
{
    const int e = GID(0);
    if (e >= count) return;
    const int w = e % Wp - pad_left, h = (e / Wp) % Hp - pad_top, plane = e / (Wp * Hp);
    xp[e] = h >= 0 && h < H && w >= 0 && w < W ? x[((long)plane * H + h) * W + w] : 0.0f;
}

/* Work-item (i, j, g) computes output channels g Kg + [j VLANES, +VLANES) at the VCONV_PIXELS
 * pixels [i VCONV_PIXELS, +VCONV_PIXELS) of the flattened (n, oh, ow): per tap (c, r, s), one
 * vector of packed weights (wt from conv2d_pack_weights) and one broadcast input per pixel.
 * The input is pre-padded (pad_planes): H and W are the padded sizes, so every tap is inside and
 * the loop needs no bounds checks; the pad arguments are ignored.
 * NDRange: (ceil(N OH OW / VCONV_PIXELS), kg_pad / VLANES, groups); any local size. */
KERNEL void conv2d_forward_vectorized(CONV_GEOMETRY, int kg_pad,
                                      GLOBAL const float* RESTRICT xp, GLOBAL const float* RESTRICT wt,
                                      int has_bias, GLOBAL const float* RESTRICT bias, GLOBAL float* RESTRICT y)
{
    const int p0 = GID(0) * VCONV_PIXELS, m0 = GID(1) * VLANES, g = GID(2);
    const int Cg = C / groups, Kg = K / groups, OHW = OH * OW, pixels = N * OHW, HW = H * W;
    if (p0 >= pixels) return;

    /* Where each pixel's window starts in its image's group planes. Pixels past the end repeat
     * the last one (computed, never stored). */
    long window[VCONV_PIXELS];
    floatv acc[VCONV_PIXELS];
    UNROLL for (int j = 0; j < VCONV_PIXELS; j++)
    {
        const int p = p0 + j < pixels ? p0 + j : pixels - 1;
        const int n = p / OHW, o = p % OHW;
        window[j] = ((long)n * C + (long)g * Cg) * HW + (long)(o / OW) * stride_h * W + (o % OW) * stride_w;
        acc[j] = VZERO;
    }

    GLOBAL const float* wq = wt + (long)g * Cg * R * S * kg_pad + m0;
    for (int c = 0; c < Cg; c++)
        for (int r = 0; r < R; r++)
        {
            const long tap_row = (long)c * HW + (long)r * dilation_h * W;
            for (int s = 0; s < S; s++, wq += kg_pad)
            {
                const floatv wv = VLOAD(wq);
                const long tap = tap_row + s * dilation_w;
                UNROLL for (int j = 0; j < VCONV_PIXELS; j++) acc[j] = VFMA(xp[window[j] + tap], wv, acc[j]);
            }
        }

    const int channels = Kg - m0 < VLANES ? Kg - m0 : VLANES;
    for (int j = 0; j < VCONV_PIXELS && p0 + j < pixels; j++)
    {
        const int n = (p0 + j) / OHW, o = (p0 + j) % OHW;
        float lanes[VLANES];
        VSTORE(acc[j], lanes);
        for (int l = 0; l < channels; l++)
        {
            const int k = g * Kg + m0 + l;
            y[((long)n * K + k) * OHW + o] = lanes[l] + (has_bias ? bias[k] : 0.0f);
        }
    }
}

/* Partial weight gradients over one slice of the pixels: part[split][g Kg + m][q] for pixels
 * [split * pixels_per_split, (split + 1) * pixels_per_split). pixels_per_split is a multiple of
 * TILE_K. With one split, part is dw itself.
 * NDRange: (ceil(depth / TILE) * TILE_THREADS_X, ceil(Kg / TILE) * TILE_THREADS_Y, groups * splits). */
KERNEL void conv2d_backward_filter(CONV_GEOMETRY, int splits, int pixels_per_split,
                                   GLOBAL const float* RESTRICT x, GLOBAL const float* RESTRICT dy, GLOBAL float* RESTRICT part)
{
    LOCAL float As[TILE_K * TILE];
    LOCAL float Bs[TILE_K * TILE];
    const int tx = LID(0), ty = LID(1), tid = ty * TILE_THREADS_X + tx;
    const int g = GROUP_ID(2) % groups, split = GROUP_ID(2) / groups;
    const int Cg = C / groups, Kg = K / groups, RS = R * S, depth = Cg * RS;
    const int OHW = OH * OW, pixels = N * OHW;
    const int row0 = GROUP_ID(1) * TILE, col0 = GROUP_ID(0) * TILE;
    const int p_begin = split * pixels_per_split;
    const int p_end = p_begin + pixels_per_split < pixels ? p_begin + pixels_per_split : pixels;

    /* Each work-item always stages the same depth column q of the col slice. */
    const int bq = col0 + tid % TILE, bp0 = tid / TILE;
    const int bc = bq / RS, brs = bq % RS;
    const int br = (brs / S) * dilation_h - pad_top, bs = (brs % S) * dilation_w - pad_left;

    float acc[WPT * WPT];
    for (int i = 0; i < WPT * WPT; i++) acc[i] = 0.0f;

    for (int p0 = p_begin; p0 < p_end; p0 += TILE_K)
    {
        for (int l = 0; l < TILE_LOADS; l++)
        {
            const int e = tid + TILE_THREADS * l;
            const int am = e / TILE_K, ap = e % TILE_K, pa = p0 + ap;
            As[ap * TILE + am] = row0 + am < Kg && pa < p_end
                ? dy[((long)(pa / OHW) * K + g * Kg + row0 + am) * OHW + pa % OHW] : 0.0f;

            const int bpl = bp0 + l * (TILE_THREADS / TILE), p = p0 + bpl;
            float v = 0.0f;
            if (bq < depth && p < p_end)
            {
                const int n = p / OHW, o = p % OHW;
                const int ih = (o / OW) * stride_h + br, iw = (o % OW) * stride_w + bs;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = x[(((long)n * C + g * Cg + bc) * H + ih) * W + iw];
            }
            Bs[bpl * TILE + tid % TILE] = v;
        }
        BARRIER();
        tile_accumulate(As, Bs, acc, tx, ty);
        BARRIER();
    }

    GLOBAL float* out = part + (long)split * K * depth;
    for (int i = 0; i < WPT; i++)
    {
        const int m = row0 + ty + TILE_THREADS_Y * i;
        if (m >= Kg) continue;
        for (int j = 0; j < WPT; j++)
        {
            const int q = col0 + tx + TILE_THREADS_X * j;
            if (q < depth) out[(long)(g * Kg + m) * depth + q] = acc[i * WPT + j];
        }
    }
}

/* Backward filter on CPU devices, first half: the transposed columns of image n, group g,
 * cols_t[p][q] = col[q, p] for the image's pixels p in [0, OH OW) and q in [0, depth). The second
 * half is sgemm_vectorized: dw_g += dy[n, g] (Kg, OH OW) * cols_t (OH OW, depth), whose rows are
 * contiguous along q. One work-item per element; loop-free, so CPU devices vectorize it. */
KERNEL void im2col_transposed(CONV_GEOMETRY, int g, int n, GLOBAL const float* RESTRICT x, GLOBAL float* RESTRICT cols_t)
{
    const int Cg = C / groups, RS = R * S, depth = Cg * RS;
    const int e = GID(0);
    if (e >= OH * OW * depth) return;
    const int q = e % depth, p = e / depth;
    const int c = q / RS, rs = q % RS;
    const int ih = (p / OW) * stride_h - pad_top + (rs / S) * dilation_h;
    const int iw = (p % OW) * stride_w - pad_left + (rs % S) * dilation_w;
    cols_t[e] = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[(((long)n * C + (long)g * Cg + c) * H + ih) * W + iw] : 0.0f;
}

/* sum[i] = sum over s of part[s * count + i], in split order (deterministic). */
KERNEL void sum_partials(int count, int splits, GLOBAL const float* RESTRICT part, GLOBAL float* RESTRICT sum)
{
    const int i = GID(0);
    if (i >= count) return;
    float total = 0.0f;
    for (int s = 0; s < splits; s++) total += part[(long)s * count + i];
    sum[i] = total;
}

/* dbias[k] = sum of dy[n, k, :] over n and the pixels: one work-group of REDUCE_THREADS per channel,
 * a strided pass then a tree in local memory. NDRange (K * REDUCE_THREADS), local REDUCE_THREADS. */
#define REDUCE_THREADS 64
KERNEL void conv2d_bias_gradient(int N, int K, int OHW, GLOBAL const float* RESTRICT dy, GLOBAL float* RESTRICT dbias)
{
    LOCAL float partial[REDUCE_THREADS];
    const int k = GROUP_ID(0), t = LID(0);
    float sum = 0.0f;
    for (int n = 0; n < N; n++)
    {
        GLOBAL const float* plane = dy + ((long)n * K + k) * OHW;
        for (int i = t; i < OHW; i += REDUCE_THREADS) sum += plane[i];
    }
    partial[t] = sum;
    BARRIER();
    for (int width = REDUCE_THREADS / 2; width > 0; width /= 2)
    {
        if (t < width) partial[t] += partial[t + width];
        BARRIER();
    }
    if (t == 0) dbias[k] = partial[0];
}

/* Backward data, second half: dx[n, g Cg + c, ih, iw] = sum over the taps (r, s) that reach
 * (ih, iw) of cols[n][(c R + r) S + s][oh OW + ow], for one group g and images
 * [image0, image0 + images). cols is that group's (images, Cg R S, OH OW) from sgemm_tiled.
 * One work-item per dx element of the group; each gathers, so no two write the same element. */
KERNEL void col2im(CONV_GEOMETRY, int g, int image0, int images,
                   GLOBAL const float* RESTRICT cols, GLOBAL float* RESTRICT dx)
{
    const int Cg = C / groups, HW = H * W;
    const int e = GID(0);
    if (e >= images * Cg * HW) return;
    const int iw = e % W, ih = (e / W) % H, c = (e / HW) % Cg, n = e / (HW * Cg);
    const int OHW = OH * OW, RS = R * S;
    GLOBAL const float* col = cols + ((long)n * Cg + c) * RS * OHW;
    float sum = 0.0f;
    for (int r = 0; r < R; r++)
    {
        const int th = ih + pad_top - r * dilation_h;     /* = oh * stride_h */
        if (th < 0 || th % stride_h != 0) continue;
        const int oh = th / stride_h;
        if (oh >= OH) continue;
        for (int s = 0; s < S; s++)
        {
            const int tw = iw + pad_left - s * dilation_w;
            if (tw < 0 || tw % stride_w != 0) continue;
            const int ow = tw / stride_w;
            if (ow < OW) sum += col[(long)(r * S + s) * OHW + oh * OW + ow];
        }
    }
    dx[(((long)(image0 + n) * C + g * Cg + c) * H + ih) * W + iw] = sum;
}
