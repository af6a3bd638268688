#include "vector.h"

/* lrn.cl: local response normalization across channels (ONNX / Caffe). x, y, scale are
 * (N, C, H, W); the window of channel c is [c - before, c + after], clipped to [0, C).
 * scale = bias + alpha / size * sum of x^2 over the window; y = x * scale^-beta, computed as
 * exp(-beta log scale): scale >= bias > 0, and a general pow() is several times slower on CPU
 * devices. One work-item per (n, h, w) column walks the channels, so neighbouring work-items
 * touch neighbouring pixels and no index is divided inside the loop. The *_vectorized variants,
 * for CPU devices, walk VLANES neighbouring columns of one image at once as vectors. */

KERNEL void lrn_forward(int columns, int C, int HW, int before, int after, float alpha_over_size, float beta, float bias,
                        GLOBAL const float* RESTRICT x, GLOBAL float* RESTRICT y, GLOBAL float* RESTRICT scale)
{
    const int column = GID(0);
    if (column >= columns) return;
    const long base = (long)(column / HW) * C * HW + column % HW;
    for (int c = 0; c < C; c++)
    {
        const int first = c - before < 0 ? 0 : c - before, last = c + after >= C ? C - 1 : c + after;
        float sum = 0.0f;
        for (int j = first; j <= last; j++)
        {
            const float v = x[base + (long)j * HW];
            sum += v * v;
        }
        const long at = base + (long)c * HW;
        const float s = bias + alpha_over_size * sum;
        scale[at] = s;
        y[at] = x[at] * exp(-beta * log(s));
    }
}

/* dx_c = dy_c * scale_c^-beta - (2 alpha beta / size) * x_c * sum over the channels j whose window
 * holds c (j in [c - after, c + before]) of dy_j * y_j / scale_j. */
KERNEL void lrn_backward(int columns, int C, int HW, int before, int after, float two_alpha_beta_over_size, float beta,
                         GLOBAL const float* RESTRICT x, GLOBAL const float* RESTRICT y, GLOBAL const float* RESTRICT scale,
                         GLOBAL const float* RESTRICT dy, GLOBAL float* RESTRICT dx)
{
    const int column = GID(0);
    if (column >= columns) return;
    const long base = (long)(column / HW) * C * HW + column % HW;
    for (int c = 0; c < C; c++)
    {
        const int first = c - after < 0 ? 0 : c - after, last = c + before >= C ? C - 1 : c + before;
        float sum = 0.0f;
        for (int j = first; j <= last; j++)
        {
            const long at = base + (long)j * HW;
            sum += dy[at] * y[at] / scale[at];
        }
        const long at = base + (long)c * HW;
        dx[at] = dy[at] * exp(-beta * log(scale[at])) - two_alpha_beta_over_size * x[at] * sum;
    }
}

/* Work-item (i, n) owns pixels [i VLANES, +VLANES) of image n (fewer at the end of the plane).
 * NDRange: (ceil(HW / VLANES), N); any local size. */
KERNEL void lrn_forward_vectorized(int C, int HW, int before, int after, float alpha_over_size, float beta, float bias,
                                   GLOBAL const float* RESTRICT x, GLOBAL float* RESTRICT y, GLOBAL float* RESTRICT scale)
{
    const int i0 = GID(0) * VLANES;
    if (i0 >= HW) return;
    const int lanes = HW - i0 < VLANES ? HW - i0 : VLANES;
    const long base = (long)GID(1) * C * HW + i0;
    for (int c = 0; c < C; c++)
    {
        const int first = c - before < 0 ? 0 : c - before, last = c + after >= C ? C - 1 : c + after;
        floatv sum = VZERO;
        for (int j = first; j <= last; j++)
        {
            const floatv v = vload_partial(x + base + (long)j * HW, lanes);
            sum = VFMAV(v, v, sum);
        }
        const long at = base + (long)c * HW;
        const floatv s = VFMA(alpha_over_size, sum, VSPLAT(bias));
        vstore_partial(s, scale + at, lanes);
        vstore_partial(VMUL(vload_partial(x + at, lanes), VEXP(VSCALE(-beta, VLOG(s)))), y + at, lanes);
    }
}

/* NDRange: (ceil(HW / VLANES), N); any local size. */
KERNEL void lrn_backward_vectorized(int C, int HW, int before, int after, float two_alpha_beta_over_size, float beta,
                                    GLOBAL const float* RESTRICT x, GLOBAL const float* RESTRICT y, GLOBAL const float* RESTRICT scale,
                                    GLOBAL const float* RESTRICT dy, GLOBAL float* RESTRICT dx)
{
    const int i0 = GID(0) * VLANES;
    if (i0 >= HW) return;
    const int lanes = HW - i0 < VLANES ? HW - i0 : VLANES;
    const long base = (long)GID(1) * C * HW + i0;
    for (int c = 0; c < C; c++)
    {
        const int first = c - after < 0 ? 0 : c - after, last = c + before >= C ? C - 1 : c + before;
        floatv sum = VZERO;
        for (int j = first; j <= last; j++)
        {
            const long at = base + (long)j * HW;
            sum = VADD(sum, VDIV(VMUL(vload_partial(dy + at, lanes), vload_partial(y + at, lanes)), vload_partial(scale + at, lanes)));
        }
        const long at = base + (long)c * HW;
        const floatv gain = VEXP(VSCALE(-beta, VLOG(vload_partial(scale + at, lanes))));
        const floatv dxv = VFMAV(vload_partial(dy + at, lanes), gain, VSCALE(-two_alpha_beta_over_size, VMUL(vload_partial(x + at, lanes), sum)));
        vstore_partial(dxv, dx + at, lanes);
    }
}
