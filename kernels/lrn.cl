/* lrn.cl: local response normalization across channels (ONNX / Caffe). x, y, scale are
 * (N, C, H, W); the window of channel c is [c - before, c + after], clipped to [0, C).
 * scale = bias + alpha / size * sum of x^2 over the window; y = x * scale^-beta. */

/* One work-item per element. */
KERNEL void lrn_forward(int count, int C, int HW, int before, int after, float alpha_over_size, float beta, float bias,
                        GLOBAL const float* RESTRICT x, GLOBAL float* RESTRICT y, GLOBAL float* RESTRICT scale)
{
    const int o = GID(0);
    if (o >= count) return;
    const int i = o % HW, c = (o / HW) % C, n = o / (HW * C);
    GLOBAL const float* column = x + (long)n * C * HW + i;
    const int first = c - before < 0 ? 0 : c - before, last = c + after >= C ? C - 1 : c + after;
    float sum = 0.0f;
    for (int j = first; j <= last; j++)
    {
        const float v = column[j * HW];
        sum += v * v;
    }
    const float s = bias + alpha_over_size * sum;
    scale[o] = s;
    y[o] = x[o] * pow(s, -beta);
}

/* dx_c = dy_c * scale_c^-beta - (2 alpha beta / size) * x_c * sum over the channels j whose window
 * holds c (j in [c - after, c + before]) of dy_j * y_j / scale_j. One work-item per element. */
KERNEL void lrn_backward(int count, int C, int HW, int before, int after, float two_alpha_beta_over_size, float beta,
                         GLOBAL const float* RESTRICT x, GLOBAL const float* RESTRICT y, GLOBAL const float* RESTRICT scale,
                         GLOBAL const float* RESTRICT dy, GLOBAL float* RESTRICT dx)
{
    const int o = GID(0);
    if (o >= count) return;
    const int i = o % HW, c = (o / HW) % C, n = o / (HW * C);
    const long column = (long)n * C * HW + i;
    const int first = c - after < 0 ? 0 : c - after, last = c + before >= C ? C - 1 : c + before;
    float sum = 0.0f;
    for (int j = first; j <= last; j++)
    {
        const long at = column + (long)j * HW;
        sum += dy[at] * y[at] / scale[at];
    }
    dx[o] = dy[o] * pow(scale[o], -beta) - two_alpha_beta_over_size * x[o] * sum;
}
