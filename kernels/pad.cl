/* pad.cl: padding (or cropping) the planes of an (N, C, H, W) tensor, ONNX Pad's three modes.
 * mode follows PadMode: 0 constant, 1 reflect, 2 edge. Output row oh reads input row oh - top,
 * mapped into [0, H) by the mode (PadGeometry.SourceIndex); a negative pad crops that side.
 *
 * pad2d_forward   one work-item per output element
 * pad2d_backward  one work-item per input element, gathering the dy of every output that read it
 *                 (a gather, so no two work-items write one element) */

#define PAD_CONSTANT 0
#define PAD_REFLECT 1
#define PAD_EDGE 2

/* The input index output index o reads along one axis, or -1 for a constant border. */
INLINE int pad_source(int o, int begin, int size, int mode)
{
    const int i = o - begin;
    if (i >= 0 && i < size) return i;
    if (mode == PAD_CONSTANT) return -1;
    if (mode == PAD_EDGE) return i < 0 ? 0 : size - 1;
    return i < 0 ? -i : 2 * (size - 1) - i;
}

KERNEL void pad2d_forward(int count, int H, int W, int OH, int OW, int top, int left, int mode, float value,
                          GLOBAL const float* x, GLOBAL float* y)
{
    const int o = GID(0);
    if (o >= count) return;
    const int ow = o % OW, oh = (o / OW) % OH, plane = o / (OW * OH);
    const int ih = pad_source(oh, top, H, mode), iw = pad_source(ow, left, W, mode);
    y[o] = ih < 0 || iw < 0 ? value : x[(plane * H + ih) * W + iw];
}

/* Along one axis, the unpadded indices j = o - begin whose outputs read input index i, in up to
 * three ranges [lo, hi]: part 0 is i itself (for edge, stretched over the repeated border when i
 * is a first or last index), parts 1 and 2 its two mirror images under reflect (-i and
 * 2 (size - 1) - i; reflect pads are smaller than size, so there are no further images). Every
 * range is clipped to the outputs that exist, [-begin, size - 1 + end]; an empty one has lo > hi. */
INLINE void pad_readers(int part, int i, int begin, int end, int size, int mode, int* lo, int* hi)
{
    int l = 1, h = 0;
    if (part == 0)
    {
        l = i;
        h = i;
        if (mode == PAD_EDGE && i == 0) l = -begin;
        if (mode == PAD_EDGE && i == size - 1) h = size - 1 + end;
    }
    else if (mode == PAD_REFLECT && part == 1 && i > 0) l = h = -i;
    else if (mode == PAD_REFLECT && part == 2 && i < size - 1) l = h = 2 * (size - 1) - i;
    *lo = l > -begin ? l : -begin;
    *hi = h < size - 1 + end ? h : size - 1 + end;
}

KERNEL void pad2d_backward(int count, int H, int W, int OH, int OW, int top, int left, int bottom, int right, int mode,
                           GLOBAL const float* dy, GLOBAL float* dx)
{
    const int i = GID(0);
    if (i >= count) return;
    const int iw = i % W, ih = (i / W) % H, plane = i / (W * H);
    float sum = 0.0f;
    for (int a = 0; a < 3; a++)
    {
        int hlo, hhi;
        pad_readers(a, ih, top, bottom, H, mode, &hlo, &hhi);
        for (int jh = hlo; jh <= hhi; jh++)
        {
            GLOBAL const float* row = dy + (plane * OH + jh + top) * OW + left;
            for (int b = 0; b < 3; b++)
            {
                int wlo, whi;
                pad_readers(b, iw, left, right, W, mode, &wlo, &whi);
                for (int jw = wlo; jw <= whi; jw++) sum += row[jw];
            }
        }
    }
    dx[i] = sum;
}
