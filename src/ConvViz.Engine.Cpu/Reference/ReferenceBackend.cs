using ConvViz.Engine.Backends.Host;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Backends.Reference;

/// <summary>
/// The law: every op as the plainest loop nest that states its definition, single-threaded, with
/// double accumulators. Every fast backend is tested against this one by the same test bodies.
/// Shapes: x (N, C, H, W); conv weights w (K, C/G, R, S); y (N, K, OH, OW).
/// </summary>
public sealed class ReferenceBackend : HostBackend
{
    public override string Name => "reference";
    public override string Description => "reference: plain loops on the host CPU (the correctness baseline)";

    // ---------------------------------------------------------------- convolution

    protected override void Conv2dForwardCore(Tensor x, Tensor w, Tensor? bias, Tensor y, Conv2dGeometry g)
    {
        var X = F(x); var W = F(w); var Y = F(y);
        var B = bias is null ? Span<float>.Empty : F(bias);
        var d = new ConvDims(x.Shape, w.Shape, y.Shape, g);
        for (int n = 0; n < d.N; n++)
        for (int k = 0; k < d.K; k++)
        {
            int group = k / d.KPerGroup;
            for (int oh = 0; oh < d.OH; oh++)
            for (int ow = 0; ow < d.OW; ow++)
            {
                double sum = B.IsEmpty ? 0 : B[k];
                for (int c = 0; c < d.CPerGroup; c++)
                for (int r = 0; r < d.R; r++)
                {
                    int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                    if (ih < 0 || ih >= d.H) continue;
                    for (int s = 0; s < d.S; s++)
                    {
                        int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                        if (iw < 0 || iw >= d.W) continue;
                        sum += (double)X[d.XIndex(n, group * d.CPerGroup + c, ih, iw)] * W[d.WIndex(k, c, r, s)];
                    }
                }
                Y[d.YIndex(n, k, oh, ow)] = (float)sum;
            }
        }
    }

    protected override void Conv2dBackwardDataCore(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g)
    {
        var DY = F(dy); var W = F(w); var DX = F(dx);
        var d = new ConvDims(dx.Shape, w.Shape, dy.Shape, g);
        var acc = new double[DX.Length];
        for (int n = 0; n < d.N; n++)
        for (int k = 0; k < d.K; k++)
        {
            int group = k / d.KPerGroup;
            for (int oh = 0; oh < d.OH; oh++)
            for (int ow = 0; ow < d.OW; ow++)
            {
                double grad = DY[d.YIndex(n, k, oh, ow)];
                for (int c = 0; c < d.CPerGroup; c++)
                for (int r = 0; r < d.R; r++)
                {
                    int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                    if (ih < 0 || ih >= d.H) continue;
                    for (int s = 0; s < d.S; s++)
                    {
                        int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                        if (iw < 0 || iw >= d.W) continue;
                        acc[d.XIndex(n, group * d.CPerGroup + c, ih, iw)] += grad * W[d.WIndex(k, c, r, s)];
                    }
                }
            }
        }
        for (int i = 0; i < acc.Length; i++) DX[i] = (float)acc[i];
    }

    protected override void Conv2dBackwardFilterCore(Tensor x, Tensor dy, Tensor dw, Tensor? dbias, Conv2dGeometry g)
    {
        var X = F(x); var DY = F(dy); var DW = F(dw);
        var d = new ConvDims(x.Shape, dw.Shape, dy.Shape, g);
        for (int k = 0; k < d.K; k++)
        {
            int group = k / d.KPerGroup;
            for (int c = 0; c < d.CPerGroup; c++)
            for (int r = 0; r < d.R; r++)
            for (int s = 0; s < d.S; s++)
            {
                double sum = 0;
                for (int n = 0; n < d.N; n++)
                for (int oh = 0; oh < d.OH; oh++)
                {
                    int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                    if (ih < 0 || ih >= d.H) continue;
                    for (int ow = 0; ow < d.OW; ow++)
                    {
                        int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                        if (iw < 0 || iw >= d.W) continue;
                        sum += (double)X[d.XIndex(n, group * d.CPerGroup + c, ih, iw)] * DY[d.YIndex(n, k, oh, ow)];
                    }
                }
                DW[d.WIndex(k, c, r, s)] = (float)sum;
            }
        }
        if (dbias is null) return;
        var DB = F(dbias);
        for (int k = 0; k < d.K; k++)
        {
            double sum = 0;
            for (int n = 0; n < d.N; n++)
            for (int i = 0; i < d.OH * d.OW; i++)
                sum += DY[(n * d.K + k) * d.OH * d.OW + i];
            DB[k] = (float)sum;
        }
    }

    /// <summary>Sizes and flat-index helpers of one convolution.</summary>
    private readonly record struct ConvDims(int N, int C, int H, int W, int K, int R, int S, int OH, int OW, int Groups)
    {
        public ConvDims(Shape x, Shape w, Shape y, Conv2dGeometry g)
            : this(x.N, x.C, x.H, x.W, w[0], w[2], w[3], y.H, y.W, g.Groups) { }

        public int CPerGroup => C / Groups;
        public int KPerGroup => K / Groups;
        public int XIndex(int n, int c, int h, int w) => ((n * C + c) * H + h) * W + w;
        public int WIndex(int k, int c, int r, int s) => ((k * CPerGroup + c) * R + r) * S + s;
        public int YIndex(int n, int k, int oh, int ow) => ((n * K + k) * OH + oh) * OW + ow;
    }

    // ---------------------------------------------------------------- relu

    protected override void ReluForwardCore(Tensor x, Tensor y)
    {
        var X = F(x); var Y = F(y);
        for (int i = 0; i < X.Length; i++) Y[i] = X[i] > 0 ? X[i] : 0f;
    }

    protected override void ReluBackwardCore(Tensor x, Tensor dy, Tensor dx, ReluRule rule)
    {
        var X = F(x); var DY = F(dy); var DX = F(dx);
        for (int i = 0; i < X.Length; i++)
        {
            bool pass = rule switch
            {
                ReluRule.Gradient => X[i] > 0,
                ReluRule.Deconvnet => DY[i] > 0,
                _ => X[i] > 0 && DY[i] > 0,
            };
            DX[i] = pass ? DY[i] : 0f;
        }
    }

    // ---------------------------------------------------------------- clip

    protected override void ClipForwardCore(Tensor x, Tensor y, ClipBounds bounds)
    {
        var X = F(x); var Y = F(y);
        for (int i = 0; i < X.Length; i++) Y[i] = X[i] < bounds.Min ? bounds.Min : X[i] > bounds.Max ? bounds.Max : X[i];
    }

    protected override void ClipBackwardCore(Tensor x, Tensor dy, Tensor dx, ClipBounds bounds, ReluRule rule)
    {
        var X = F(x); var DY = F(dy); var DX = F(dx);
        for (int i = 0; i < X.Length; i++) DX[i] = bounds.Passes(X[i], DY[i], rule) ? DY[i] : 0f;
    }

    // ---------------------------------------------------------------- padding

    protected override void Pad2dForwardCore(Tensor x, Tensor y, PadGeometry g)
    {
        var X = F(x); var Y = F(y);
        int H = x.Shape.H, W = x.Shape.W, OH = y.Shape.H, OW = y.Shape.W;
        for (int plane = 0; plane < x.Shape.N * x.Shape.C; plane++)
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            int ih = PadGeometry.SourceIndex(oh, g.Top, H, g.Mode), iw = PadGeometry.SourceIndex(ow, g.Left, W, g.Mode);
            Y[(plane * OH + oh) * OW + ow] = ih < 0 || iw < 0 ? g.Value : X[(plane * H + ih) * W + iw];
        }
    }

    // The definition: every output adds its dy to the input it read.
    protected override void Pad2dBackwardCore(Tensor dy, Tensor dx, PadGeometry g)
    {
        var DY = F(dy); var DX = F(dx);
        int H = dx.Shape.H, W = dx.Shape.W, OH = dy.Shape.H, OW = dy.Shape.W;
        var acc = new double[DX.Length];
        for (int plane = 0; plane < dx.Shape.N * dx.Shape.C; plane++)
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            int ih = PadGeometry.SourceIndex(oh, g.Top, H, g.Mode), iw = PadGeometry.SourceIndex(ow, g.Left, W, g.Mode);
            if (ih >= 0 && iw >= 0) acc[(plane * H + ih) * W + iw] += DY[(plane * OH + oh) * OW + ow];
        }
        for (int i = 0; i < acc.Length; i++) DX[i] = (float)acc[i];
    }

    // ---------------------------------------------------------------- pooling

    protected override void MaxPoolForwardCore(Tensor x, Tensor y, Tensor switches, PoolGeometry g)
    {
        var X = F(x); var Y = F(y); var SW = I(switches);
        int H = x.Shape.H, W = x.Shape.W, OH = y.Shape.H, OW = y.Shape.W;
        for (int plane = 0; plane < x.Shape.N * x.Shape.C; plane++)
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            float best = float.NegativeInfinity;
            int bestIndex = -1;
            for (int r = 0; r < g.KernelH; r++)
            {
                int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                if (ih < 0 || ih >= H) continue;
                for (int s = 0; s < g.KernelW; s++)
                {
                    int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                    if (iw < 0 || iw >= W) continue;
                    float v = X[plane * H * W + ih * W + iw];
                    if (bestIndex < 0 || v > best) (best, bestIndex) = (v, ih * W + iw);
                }
            }
            int o = (plane * OH + oh) * OW + ow;
            Y[o] = bestIndex < 0 ? 0f : best;
            SW[o] = bestIndex;
        }
    }

    protected override void MaxUnpoolCore(Tensor y, Tensor switches, Tensor x)
    {
        var Y = F(y); var SW = I(switches); var X = F(x);
        int planeIn = x.Shape.H * x.Shape.W, planeOut = y.Shape.H * y.Shape.W;
        X.Clear();
        for (int plane = 0; plane < y.Shape.N * y.Shape.C; plane++)
        for (int i = 0; i < planeOut; i++)
        {
            int target = SW[plane * planeOut + i];
            if (target >= 0 && target < planeIn) X[plane * planeIn + target] += Y[plane * planeOut + i];
        }
    }

    protected override void AvgPoolForwardCore(Tensor x, Tensor y, PoolGeometry g)
    {
        var X = F(x); var Y = F(y);
        int H = x.Shape.H, W = x.Shape.W, OH = y.Shape.H, OW = y.Shape.W;
        for (int plane = 0; plane < x.Shape.N * x.Shape.C; plane++)
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            double sum = 0;
            for (int r = 0; r < g.KernelH; r++)
            {
                int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                if (ih < 0 || ih >= H) continue;
                for (int s = 0; s < g.KernelW; s++)
                {
                    int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                    if (iw >= 0 && iw < W) sum += X[plane * H * W + ih * W + iw];
                }
            }
            int count = g.AverageDivisor(H, W, oh, ow);
            Y[(plane * OH + oh) * OW + ow] = count == 0 ? 0f : (float)(sum / count);
        }
    }

    protected override void AvgPoolBackwardCore(Tensor dy, Tensor dx, PoolGeometry g)
    {
        var DY = F(dy); var DX = F(dx);
        int H = dx.Shape.H, W = dx.Shape.W, OH = dy.Shape.H, OW = dy.Shape.W;
        DX.Clear();
        for (int plane = 0; plane < dx.Shape.N * dx.Shape.C; plane++)
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            int count = g.AverageDivisor(H, W, oh, ow);
            if (count == 0) continue;
            float share = DY[(plane * OH + oh) * OW + ow] / count;
            for (int r = 0; r < g.KernelH; r++)
            {
                int ih = oh * g.StrideH - g.PadTop + r * g.DilationH;
                if (ih < 0 || ih >= H) continue;
                for (int s = 0; s < g.KernelW; s++)
                {
                    int iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                    if (iw >= 0 && iw < W) DX[plane * H * W + ih * W + iw] += share;
                }
            }
        }
    }

    // ---------------------------------------------------------------- lrn

    protected override void LrnForwardCore(Tensor x, Tensor y, Tensor scale, LrnParameters p)
    {
        var X = F(x); var Y = F(y); var SC = F(scale);
        int C = x.Shape.C, HW = x.Shape.H * x.Shape.W;
        for (int n = 0; n < x.Shape.N; n++)
        for (int c = 0; c < C; c++)
        for (int i = 0; i < HW; i++)
        {
            double sum = 0;
            for (int j = Math.Max(0, c - p.WindowBefore); j <= Math.Min(C - 1, c + p.WindowAfter); j++)
            {
                double v = X[(n * C + j) * HW + i];
                sum += v * v;
            }
            int o = (n * C + c) * HW + i;
            double s = p.Bias + (double)p.Alpha / p.Size * sum;
            SC[o] = (float)s;
            Y[o] = (float)(X[o] * Math.Pow(s, -p.Beta));
        }
    }

    // dx_c = dy_c * scale_c^-beta - (2 alpha beta / size) * x_c * sum over the j whose window holds c of dy_j y_j / scale_j
    protected override void LrnBackwardCore(Tensor x, Tensor y, Tensor scale, Tensor dy, Tensor dx, LrnParameters p)
    {
        var X = F(x); var Y = F(y); var SC = F(scale); var DY = F(dy); var DX = F(dx);
        int C = x.Shape.C, HW = x.Shape.H * x.Shape.W;
        double factor = 2.0 * p.Alpha * p.Beta / p.Size;
        for (int n = 0; n < x.Shape.N; n++)
        for (int c = 0; c < C; c++)
        for (int i = 0; i < HW; i++)
        {
            double sum = 0;
            for (int j = Math.Max(0, c - p.WindowAfter); j <= Math.Min(C - 1, c + p.WindowBefore); j++)
            {
                int o = (n * C + j) * HW + i;
                sum += (double)DY[o] * Y[o] / SC[o];
            }
            int at = (n * C + c) * HW + i;
            DX[at] = (float)(DY[at] * Math.Pow(SC[at], -p.Beta) - factor * X[at] * sum);
        }
    }

    // ---------------------------------------------------------------- gemm

    protected override void GemmCore(Tensor a, Tensor b, Tensor? c, Tensor y, bool transA, bool transB, float alpha, float beta)
    {
        var A = F(a); var B = F(b); var Y = F(y);
        var C = c is null ? Span<float>.Empty : F(c);
        int m = y.Shape[0], n = y.Shape[1], k = transA ? a.Shape[0] : a.Shape[1];
        int lda = a.Shape[1], ldb = b.Shape[1];
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double sum = 0;
            for (int p = 0; p < k; p++)
                sum += (double)A[transA ? p * lda + i : i * lda + p] * B[transB ? j * ldb + p : p * ldb + j];
            double result = alpha * sum;
            if (c is not null && beta != 0) result += (double)beta * C[BroadcastIndex(c.Shape, i, j)];
            Y[i * n + j] = (float)result;
        }
    }

    // ---------------------------------------------------------------- softmax and loss

    protected override void SoftmaxCore(Tensor x, Tensor y, int outer, int classes, int inner)
    {
        var X = F(x); var Y = F(y);
        for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
        {
            int at(int k) => (o * classes + k) * inner + i;
            double max = double.NegativeInfinity;
            for (int k = 0; k < classes; k++) max = Math.Max(max, X[at(k)]);
            double sum = 0;
            for (int k = 0; k < classes; k++) sum += Math.Exp(X[at(k)] - max);
            for (int k = 0; k < classes; k++) Y[at(k)] = (float)(Math.Exp(X[at(k)] - max) / sum);
        }
    }

    protected override void SoftmaxBackwardCore(Tensor y, Tensor dy, Tensor dx, int outer, int classes, int inner)
    {
        var Y = F(y); var DY = F(dy); var DX = F(dx);
        for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++)
        {
            int at(int k) => (o * classes + k) * inner + i;
            double dot = 0;
            for (int k = 0; k < classes; k++) dot += (double)DY[at(k)] * Y[at(k)];
            for (int k = 0; k < classes; k++) DX[at(k)] = (float)(Y[at(k)] * (DY[at(k)] - dot));
        }
    }

    protected override void SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor probs, Tensor losses, Tensor? dlogits)
    {
        var Z = F(logits); var L = I(labels); var P = F(probs); var LOSS = F(losses);
        int n = logits.Shape[0], k = logits.Shape[1];
        for (int row = 0; row < n; row++)
        {
            int label = L[row];
            if (label < 0 || label >= k)
                throw new ArgumentException($"SoftmaxCrossEntropy: label {label} of sample {row} is outside [0, {k})");
            double max = double.NegativeInfinity;
            for (int j = 0; j < k; j++) max = Math.Max(max, Z[row * k + j]);
            double sum = 0;
            for (int j = 0; j < k; j++) sum += Math.Exp(Z[row * k + j] - max);
            for (int j = 0; j < k; j++) P[row * k + j] = (float)(Math.Exp(Z[row * k + j] - max) / sum);
            LOSS[row] = (float)(Math.Log(sum) + max - Z[row * k + label]);
            if (dlogits is null) continue;
            var D = F(dlogits);
            for (int j = 0; j < k; j++) D[row * k + j] = (P[row * k + j] - (j == label ? 1f : 0f)) / n;
        }
    }

    // ---------------------------------------------------------------- dropout and element-wise

    protected override void DropoutForwardCore(Tensor x, Tensor y, Tensor mask, float ratio, uint seed)
    {
        var X = F(x); var Y = F(y); var M = F(mask);
        float keepScale = 1f / (1f - ratio);
        for (int i = 0; i < X.Length; i++)
        {
            M[i] = DropoutMask.Keeps(seed, (uint)i, ratio) ? keepScale : 0f;
            Y[i] = X[i] * M[i];
        }
    }

    protected override void MultiplyCore(Tensor a, Tensor b, Tensor y)
    {
        var A = F(a); var B = F(b); var Y = F(y);
        for (int i = 0; i < A.Length; i++) Y[i] = A[i] * B[i];
    }

    protected override void AxpyCore(float alpha, Tensor x, Tensor y)
    {
        var X = F(x); var Y = F(y);
        for (int i = 0; i < X.Length; i++) Y[i] += alpha * X[i];
    }

    protected override void ScaleCore(Tensor x, float alpha)
    {
        var X = F(x);
        for (int i = 0; i < X.Length; i++) X[i] *= alpha;
    }

    protected override void FillCore(Tensor x, float value)
    {
        var X = F(x);
        for (int i = 0; i < X.Length; i++) X[i] = value;
    }

    protected override void CopyCore(Tensor source, Tensor destination)
    {
        var S = F(source); var D = F(destination);
        for (int i = 0; i < S.Length; i++) D[i] = S[i];
    }

    protected override void CopyChannelsCore(Tensor source, int sourceChannel, Tensor destination, int destinationChannel, int channels, int plane)
    {
        var S = F(source); var D = F(destination);
        int sourceChannels = source.Shape.C, destinationChannels = destination.Shape.C;
        for (int n = 0; n < source.Shape.N; n++)
        for (int c = 0; c < channels; c++)
        for (int i = 0; i < plane; i++)
            D[(n * destinationChannels + destinationChannel + c) * plane + i] = S[(n * sourceChannels + sourceChannel + c) * plane + i];
    }

    protected override void ClampCore(Tensor x, float low, float high)
    {
        var X = F(x);
        for (int i = 0; i < X.Length; i++) X[i] = X[i] < low ? low : X[i] > high ? high : X[i];
    }

    protected override void GaussianBlurCore(Tensor x, Tensor y, float[] taps)
    {
        var X = F(x); var Y = F(y);
        int H = x.Shape.H, W = x.Shape.W, radius = taps.Length / 2;
        var rows = new double[H * W];
        for (int plane = 0; plane < x.Shape.N * x.Shape.C; plane++)
        {
            int offset = plane * H * W;
            for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
            {
                double sum = 0;
                for (int t = -radius; t <= radius; t++) sum += (double)taps[t + radius] * X[offset + h * W + MirrorIndex(w + t, W)];
                rows[h * W + w] = sum;
            }
            for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
            {
                double sum = 0;
                for (int t = -radius; t <= radius; t++) sum += taps[t + radius] * rows[MirrorIndex(h + t, H) * W + w];
                Y[offset + h * W + w] = (float)sum;
            }
        }
    }
}
