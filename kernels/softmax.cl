/* softmax.cl: softmax along one axis, its backward, and softmax cross-entropy. A tensor is seen
 * as (outer, classes, inner) around the axis; one work-item owns one (outer, inner) column. */

KERNEL void softmax_forward(int columns, int classes, int inner,
                            GLOBAL const float* RESTRICT x, GLOBAL float* RESTRICT y)
{
    const int column = GID(0);
    if (column >= columns) return;
    const long base = (long)(column / inner) * classes * inner + column % inner;
    float max = x[base];
    for (int k = 1; k < classes; k++) max = fmax(max, x[base + (long)k * inner]);
    float sum = 0.0f;
    for (int k = 0; k < classes; k++) sum += exp(x[base + (long)k * inner] - max);
    const float inverse = 1.0f / sum;
    for (int k = 0; k < classes; k++) y[base + (long)k * inner] = exp(x[base + (long)k * inner] - max) * inverse;
}

/* dx = y * (dy - sum over classes of dy * y). dx may be dy. */
KERNEL void softmax_backward(int columns, int classes, int inner,
                             GLOBAL const float* y, GLOBAL const float* dy, GLOBAL float* dx)
{
    const int column = GID(0);
    if (column >= columns) return;
    const long base = (long)(column / inner) * classes * inner + column % inner;
    float dot = 0.0f;
    for (int k = 0; k < classes; k++) dot += dy[base + (long)k * inner] * y[base + (long)k * inner];
    for (int k = 0; k < classes; k++)
    {
        const long at = base + (long)k * inner;
        dx[at] = y[at] * (dy[at] - dot);
    }
}

/* logits, probs, dlogits (N, K); labels, losses (N). One work-item per sample; labels are checked
 * on the host before the launch. loss = log(sum exp(z - max)) + max - z[label];
 * dlogits = (probs - onehot(label)) / N when has_dlogits. */
KERNEL void softmax_cross_entropy(int rows, int classes, int has_dlogits,
                                  GLOBAL const float* RESTRICT logits, GLOBAL const int* RESTRICT labels,
                                  GLOBAL float* RESTRICT probs, GLOBAL float* RESTRICT losses, GLOBAL float* RESTRICT dlogits)
{
    const int row = GID(0);
    if (row >= rows) return;
    GLOBAL const float* z = logits + (long)row * classes;
    GLOBAL float* p = probs + (long)row * classes;
    const int label = labels[row];
    float max = z[0];
    for (int k = 1; k < classes; k++) max = fmax(max, z[k]);
    float sum = 0.0f;
    for (int k = 0; k < classes; k++) sum += exp(z[k] - max);
    const float inverse = 1.0f / sum;
    for (int k = 0; k < classes; k++) p[k] = exp(z[k] - max) * inverse;
    losses[row] = log(sum) + max - z[label];
    if (!has_dlogits) return;
    GLOBAL float* d = dlogits + (long)row * classes;
    const float per_sample = 1.0f / (float)rows;
    for (int k = 0; k < classes; k++) d[k] = (p[k] - (k == label ? 1.0f : 0.0f)) * per_sample;
}
