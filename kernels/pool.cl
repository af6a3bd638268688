/* pool.cl: max pooling with switches, unpooling through switches (max pooling's backward), and
 * average pooling forward and backward. Planes are (n, c) pairs: x is (planes, H, W), y is
 * (planes, OH, OW). A switch is the plane-local index h * W + w of the input a max came from. */

/* One work-item per output. Padding never wins; the first maximum in scan order does. */
KERNEL void maxpool_forward(int count, int H, int W, int OH, int OW,
                            int kernel_h, int kernel_w, int stride_h, int stride_w,
                            int pad_top, int pad_left, int dilation_h, int dilation_w,
                            GLOBAL const float* RESTRICT x, GLOBAL float* RESTRICT y, GLOBAL int* RESTRICT switches)
{
    const int o = GID(0);
    if (o >= count) return;
    const int ow = o % OW, oh = (o / OW) % OH, plane = o / (OW * OH);
    GLOBAL const float* xp = x + (long)plane * H * W;
    float best = 0.0f;
    int best_index = -1;
    for (int r = 0; r < kernel_h; r++)
    {
        const int ih = oh * stride_h - pad_top + r * dilation_h;
        if (ih < 0 || ih >= H) continue;
        for (int s = 0; s < kernel_w; s++)
        {
            const int iw = ow * stride_w - pad_left + s * dilation_w;
            if (iw < 0 || iw >= W) continue;
            const float v = xp[ih * W + iw];
            if (best_index < 0 || v > best) { best = v; best_index = ih * W + iw; }
        }
    }
    y[o] = best;
    switches[o] = best_index;
}

/* One work-item per plane, walking its outputs in order: overlapping windows may send several
 * outputs to one input, and a serial walk adds them without atomics and in the same order as the
 * Reference backend. x = 0, then x[plane, switch] += y[plane, i]; switches outside the plane are
 * ignored. */
KERNEL void max_unpool(int planes, int plane_in, int plane_out,
                       GLOBAL const float* RESTRICT y, GLOBAL const int* RESTRICT switches, GLOBAL float* RESTRICT x)
{
    const int plane = GID(0);
    if (plane >= planes) return;
    GLOBAL float* xp = x + (long)plane * plane_in;
    GLOBAL const float* yp = y + (long)plane * plane_out;
    GLOBAL const int* sp = switches + (long)plane * plane_out;
    for (int i = 0; i < plane_in; i++) xp[i] = 0.0f;
    for (int i = 0; i < plane_out; i++)
    {
        const int target = sp[i];
        if (target >= 0 && target < plane_in) xp[target] += yp[i];
    }
}

/* PoolGeometry.AverageDivisor: the taps of output (oh, ow) that land on real inputs, or with
 * count_include_pad those inside the padded extent (taps that exist only by ceil mode never count). */
INLINE int average_divisor(int H, int W, int oh, int ow, int kernel_h, int kernel_w, int stride_h, int stride_w,
                           int pad_top, int pad_left, int pad_bottom, int pad_right,
                           int dilation_h, int dilation_w, int count_include_pad)
{
    const int low_h = count_include_pad ? -pad_top : 0, high_h = count_include_pad ? H + pad_bottom : H;
    const int low_w = count_include_pad ? -pad_left : 0, high_w = count_include_pad ? W + pad_right : W;
    int rows = 0, cols = 0;
    for (int r = 0; r < kernel_h; r++)
    {
        const int ih = oh * stride_h - pad_top + r * dilation_h;
        rows += ih >= low_h && ih < high_h;
    }
    for (int s = 0; s < kernel_w; s++)
    {
        const int iw = ow * stride_w - pad_left + s * dilation_w;
        cols += iw >= low_w && iw < high_w;
    }
    return rows * cols;
}

/* One work-item per output. */
KERNEL void avgpool_forward(int count, int H, int W, int OH, int OW,
                            int kernel_h, int kernel_w, int stride_h, int stride_w,
                            int pad_top, int pad_left, int pad_bottom, int pad_right,
                            int dilation_h, int dilation_w, int count_include_pad,
                            GLOBAL const float* RESTRICT x, GLOBAL float* RESTRICT y)
{
    const int o = GID(0);
    if (o >= count) return;
    const int ow = o % OW, oh = (o / OW) % OH, plane = o / (OW * OH);
    GLOBAL const float* xp = x + (long)plane * H * W;
    float sum = 0.0f;
    for (int r = 0; r < kernel_h; r++)
    {
        const int ih = oh * stride_h - pad_top + r * dilation_h;
        if (ih < 0 || ih >= H) continue;
        for (int s = 0; s < kernel_w; s++)
        {
            const int iw = ow * stride_w - pad_left + s * dilation_w;
            if (iw >= 0 && iw < W) sum += xp[ih * W + iw];
        }
    }
    const int divisor = average_divisor(H, W, oh, ow, kernel_h, kernel_w, stride_h, stride_w,
                                        pad_top, pad_left, pad_bottom, pad_right, dilation_h, dilation_w, count_include_pad);
    y[o] = divisor == 0 ? 0.0f : sum / (float)divisor;
}

/* One work-item per input: gathers dy / divisor from every output whose window holds it, so no
 * two work-items write the same element. */
KERNEL void avgpool_backward(int count, int H, int W, int OH, int OW,
                             int kernel_h, int kernel_w, int stride_h, int stride_w,
                             int pad_top, int pad_left, int pad_bottom, int pad_right,
                             int dilation_h, int dilation_w, int count_include_pad,
                             GLOBAL const float* RESTRICT dy, GLOBAL float* RESTRICT dx)
{
    const int i = GID(0);
    if (i >= count) return;
    const int iw = i % W, ih = (i / W) % H, plane = i / (W * H);
    GLOBAL const float* dyp = dy + (long)plane * OH * OW;
    float sum = 0.0f;
    for (int r = 0; r < kernel_h; r++)
    {
        const int th = ih + pad_top - r * dilation_h;          /* = oh * stride_h */
        if (th < 0 || th % stride_h != 0) continue;
        const int oh = th / stride_h;
        if (oh >= OH) continue;
        for (int s = 0; s < kernel_w; s++)
        {
            const int tw = iw + pad_left - s * dilation_w;
            if (tw < 0 || tw % stride_w != 0) continue;
            const int ow = tw / stride_w;
            if (ow >= OW) continue;
            const int divisor = average_divisor(H, W, oh, ow, kernel_h, kernel_w, stride_h, stride_w,
                                                pad_top, pad_left, pad_bottom, pad_right, dilation_h, dilation_w, count_include_pad);
            if (divisor != 0) sum += dyp[oh * OW + ow] / (float)divisor;
        }
    }
    dx[i] = sum;
}
