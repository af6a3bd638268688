/* elementwise.cl: ReLU and Clip forward and backward, dropout, the element-wise arithmetic and the
 * channel block copy of concatenation.
 * One work-item per element; every kernel takes the element count, so the host may round the
 * NDRange up to a whole number of work-groups. x and y may be the same buffer where the backend
 * interface allows it, so no pointer here is RESTRICT. */

KERNEL void relu_forward(int count, GLOBAL const float* x, GLOBAL float* y)
{
    const int i = GID(0);
    if (i < count) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* rule follows ReluRule: 0 gradient (pass where x > 0), 1 deconvnet (pass where dy > 0),
 * 2 guided (pass where both are > 0). */
KERNEL void relu_backward(int count, int rule, GLOBAL const float* x, GLOBAL const float* dy, GLOBAL float* dx)
{
    const int i = GID(0);
    if (i >= count) return;
    const float g = dy[i];
    const int pass = rule == 0 ? x[i] > 0.0f : rule == 1 ? g > 0.0f : (x[i] > 0.0f && g > 0.0f);
    dx[i] = pass ? g : 0.0f;
}

/* DropoutMask.Hash: the lowbias32 finalizer of (seed, index), bit for bit as on the host. */
INLINE unsigned int dropout_hash(unsigned int seed, unsigned int index)
{
    unsigned int h = (seed + 0x6A09E667u) * 0x9E3779B9u ^ index;
    h ^= h >> 16;
    h *= 0x7FEB352Du;
    h ^= h >> 15;
    h *= 0x846CA68Bu;
    h ^= h >> 16;
    return h;
}

/* An element survives when hash / 2^32 >= ratio, i.e. hash >= keep_threshold = ceil(ratio * 2^32)
 * (computed on the host in double, so the kernel needs no double arithmetic; ratio < 1 keeps the
 * threshold below 2^32). */
KERNEL void dropout_forward(int count, unsigned int seed, unsigned int keep_threshold, float keep_scale,
                            GLOBAL const float* x, GLOBAL float* y, GLOBAL float* mask)
{
    const int i = GID(0);
    if (i >= count) return;
    const float m = dropout_hash(seed, (unsigned int)i) >= keep_threshold ? keep_scale : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
}

KERNEL void multiply(int count, GLOBAL const float* a, GLOBAL const float* b, GLOBAL float* y)
{
    const int i = GID(0);
    if (i < count) y[i] = a[i] * b[i];
}

/* y += alpha * x */
KERNEL void axpy(int count, float alpha, GLOBAL const float* x, GLOBAL float* y)
{
    const int i = GID(0);
    if (i < count) y[i] += alpha * x[i];
}

KERNEL void scale(int count, float alpha, GLOBAL float* x)
{
    const int i = GID(0);
    if (i < count) x[i] *= alpha;
}

KERNEL void clamp_range(int count, float low, float high, GLOBAL float* x)
{
    const int i = GID(0);
    if (i >= count) return;
    const float v = x[i];
    x[i] = v < low ? low : v > high ? high : v;
}

/* Channel concatenation and its backward: item n of the batch copies its block of `block` floats
 * (channels * H * W, contiguous) from source[n * source_item + source_start ...] to
 * destination[n * destination_item + destination_start ...]; the rest of destination is kept. */
KERNEL void copy_channels(int count, int block, int source_item, int source_start,
                          int destination_item, int destination_start,
                          GLOBAL const float* source, GLOBAL float* destination)
{
    const int i = GID(0);
    if (i >= count) return;
    const int n = i / block, j = i - n * block;
    destination[n * destination_item + destination_start + j] = source[n * source_item + source_start + j];
}

/* y = min(max(x, low), high): ONNX Clip, ReLU6. */
KERNEL void clip_forward(int count, float low, float high, GLOBAL const float* x, GLOBAL float* y)
{
    const int i = GID(0);
    if (i >= count) return;
    const float v = x[i];
    y[i] = v < low ? low : v > high ? high : v;
}

/* rule follows ReluRule, with the bounds as gates (ClipBounds): 0 gradient (pass where
 * low < x < high), 1 deconvnet (pass where dy > 0 and x < high), 2 guided (pass where dy > 0 and
 * low < x < high). */
KERNEL void clip_backward(int count, int rule, float low, float high,
                          GLOBAL const float* x, GLOBAL const float* dy, GLOBAL float* dx)
{
    const int i = GID(0);
    if (i >= count) return;
    const float g = dy[i], v = x[i];
    const int inside = v < high && (rule == 1 || v > low);
    const int pass = inside && (rule == 0 || g > 0.0f);
    dx[i] = pass ? g : 0.0f;
}
