/* blur.cl: separable Gaussian blur of every (n, c) plane, a row pass then a column pass, with
 * scipy's "reflect" border (... c b a | a b c ... c | c b a ...). taps has 2 * radius + 1 weights. */

INLINE int mirror_index(int i, int n)
{
    const int period = 2 * n;
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - 1 - i;
}

/* One work-item per element: out[plane, h, w] = sum_t taps[t] * in[plane, h, mirror(w + t - radius)]. */
KERNEL void blur_rows(int count, int H, int W, int radius, GLOBAL const float* RESTRICT taps,
                      GLOBAL const float* RESTRICT in, GLOBAL float* RESTRICT out)
{
    const int i = GID(0);
    if (i >= count) return;
    const int w = i % W;
    GLOBAL const float* row = in + (i - w);
    float sum = 0.0f;
    for (int t = -radius; t <= radius; t++) sum += taps[t + radius] * row[mirror_index(w + t, W)];
    out[i] = sum;
}

/* One work-item per element: the same along the column. */
KERNEL void blur_columns(int count, int H, int W, int radius, GLOBAL const float* RESTRICT taps,
                         GLOBAL const float* RESTRICT in, GLOBAL float* RESTRICT out)
{
    const int i = GID(0);
    if (i >= count) return;
    const int w = i % W, h = (i / W) % H;
    GLOBAL const float* column = in + (i - h * W - w) + w;
    float sum = 0.0f;
    for (int t = -radius; t <= radius; t++) sum += taps[t + radius] * column[mirror_index(h + t, H) * W];
    out[i] = sum;
}
