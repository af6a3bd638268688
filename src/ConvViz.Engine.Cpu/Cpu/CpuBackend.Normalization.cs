using System.Numerics.Tensors;
using ConvViz.Engine.Tensors;
using Tensor = ConvViz.Engine.Tensors.Tensor;

namespace ConvViz.Engine.Backends.Cpu;

// LRN across channels and softmax. LRN works a whole (H·W) plane at a time with vector ops: the
// window sum for channel c adds the squared planes of its neighbours, so the inner loops are
// TensorPrimitives calls over contiguous planes.
public sealed unsafe partial class CpuBackend
{
    protected override void LrnForwardCore(Tensor x, Tensor y, Tensor scale, LrnParameters p)
    {
        float* X = P(x), Y = P(y), SC = P(scale);
        int C = x.Shape.C, HW = x.Shape.H * x.Shape.W;
        float* squares = Scratch((long)x.ElementCount);
        ElementWise(x.ElementCount, (s, e) => TensorPrimitives.Multiply(Span(X, s, e), Span(X, s, e), new Span<float>(squares + s, e - s)));
        ParallelRange(x.Shape.N * C, (first, end) =>
        {
            for (int item = first; item < end; item++)
            {
                int n = item / C, c = item % C;
                var sum = new Span<float>(SC + (long)item * HW, HW);
                sum.Clear();
                for (int j = Math.Max(0, c - p.WindowBefore); j <= Math.Min(C - 1, c + p.WindowAfter); j++)
                    TensorPrimitives.Add(sum, new ReadOnlySpan<float>(squares + ((long)n * C + j) * HW, HW), sum);
                // scale = bias + alpha/size · sum;  y = x · scale^-beta = x · exp(-beta · ln scale)
                TensorPrimitives.Multiply(sum, p.Alpha / p.Size, sum);
                TensorPrimitives.Add(sum, p.Bias, sum);
                var output = new Span<float>(Y + (long)item * HW, HW);
                PowerOf(sum, -p.Beta, output);
                TensorPrimitives.Multiply(output, new ReadOnlySpan<float>(X + (long)item * HW, HW), output);
            }
        }, workPerItem: (long)HW * (p.Size + 6));
    }

    // dx_c = dy_c · scale_c^-beta - (2·alpha·beta/size) · x_c · Σ_{j : c in window(j)} dy_j · y_j / scale_j
    protected override void LrnBackwardCore(Tensor x, Tensor y, Tensor scale, Tensor dy, Tensor dx, LrnParameters p)
    {
        float* X = P(x), Y = P(y), SC = P(scale), DY = P(dy), DX = P(dx);
        int C = x.Shape.C, HW = x.Shape.H * x.Shape.W;
        float* ratio = Scratch((long)x.ElementCount);
        ElementWise(x.ElementCount, (s, e) =>
        {
            var r = new Span<float>(ratio + s, e - s);
            TensorPrimitives.Multiply(Span(DY, s, e), Span(Y, s, e), r);
            TensorPrimitives.Divide(r, Span(SC, s, e), r);
        });
        float factor = -2f * p.Alpha * p.Beta / p.Size;
        ParallelRange(x.Shape.N * C, (first, end) =>
        {
            var sum = new float[HW];
            for (int item = first; item < end; item++)
            {
                int n = item / C, c = item % C;
                Array.Clear(sum);
                for (int j = Math.Max(0, c - p.WindowAfter); j <= Math.Min(C - 1, c + p.WindowBefore); j++)
                    TensorPrimitives.Add(sum, new ReadOnlySpan<float>(ratio + ((long)n * C + j) * HW, HW), sum);
                var output = new Span<float>(DX + (long)item * HW, HW);
                PowerOf(new ReadOnlySpan<float>(SC + (long)item * HW, HW), -p.Beta, output);
                TensorPrimitives.Multiply(output, new ReadOnlySpan<float>(DY + (long)item * HW, HW), output);
                TensorPrimitives.Multiply(sum, new ReadOnlySpan<float>(X + (long)item * HW, HW), sum);
                TensorPrimitives.MultiplyAdd(sum, factor, output, output);
            }
        }, workPerItem: (long)HW * (p.Size + 8));
    }

    /// <summary>
    /// destination = x^exponent for positive x. AlexNet's -0.75 is 1 / (√x · ⁴√x), two square roots
    /// instead of a log and an exp (measured ~3x faster); any other exponent goes through exp(e · ln x).
    /// destination must not overlap x.
    /// </summary>
    private static void PowerOf(ReadOnlySpan<float> x, float exponent, Span<float> destination)
    {
        if (exponent == -0.75f)
        {
            TensorPrimitives.Sqrt(x, destination);
            var fourthRoot = destination.Length <= 4096 ? stackalloc float[destination.Length] : new float[destination.Length];
            TensorPrimitives.Sqrt(destination, fourthRoot);
            TensorPrimitives.Multiply(destination, fourthRoot, destination);
            TensorPrimitives.Reciprocal(destination, destination);
            return;
        }
        TensorPrimitives.Log(x, destination);
        TensorPrimitives.Multiply(destination, exponent, destination);
        TensorPrimitives.Exp(destination, destination);
    }

    // ---------------------------------------------------------------- softmax and loss

    protected override void SoftmaxCore(Tensor x, Tensor y, int outer, int classes, int inner)
    {
        float* X = P(x), Y = P(y);
        ParallelRange(outer * inner, (first, end) =>
        {
            var line = new float[classes];
            for (int item = first; item < end; item++)
            {
                int o = item / inner, i = item % inner;
                for (int k = 0; k < classes; k++) line[k] = X[((long)o * classes + k) * inner + i];
                SoftmaxLine(line);
                for (int k = 0; k < classes; k++) Y[((long)o * classes + k) * inner + i] = line[k];
            }
        }, workPerItem: classes * 4);
    }

    /// <summary>In place: line = exp(line - max) / sum.</summary>
    private static void SoftmaxLine(Span<float> line)
    {
        TensorPrimitives.Subtract(line, TensorPrimitives.Max(line), line);
        TensorPrimitives.Exp(line, line);
        TensorPrimitives.Divide(line, TensorPrimitives.Sum(line), line);
    }

    protected override void SoftmaxBackwardCore(Tensor y, Tensor dy, Tensor dx, int outer, int classes, int inner)
    {
        float* Y = P(y), DY = P(dy), DX = P(dx);
        ParallelRange(outer * inner, (first, end) =>
        {
            for (int item = first; item < end; item++)
            {
                long o = item / inner, i = item % inner;
                double dot = 0;
                for (int k = 0; k < classes; k++) dot += (double)DY[(o * classes + k) * inner + i] * Y[(o * classes + k) * inner + i];
                for (int k = 0; k < classes; k++)
                {
                    long at = (o * classes + k) * inner + i;
                    DX[at] = (float)(Y[at] * (DY[at] - dot));
                }
            }
        }, workPerItem: classes * 4);
    }

    protected override void SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor probs, Tensor losses, Tensor? dlogits)
    {
        float* Z = P(logits), PR = P(probs), LOSS = P(losses), D = dlogits is null ? null : P(dlogits);
        int* L = PI(labels);
        int n = logits.Shape[0], k = logits.Shape[1];
        for (int row = 0; row < n; row++)
            if ((uint)L[row] >= (uint)k)
                throw new ArgumentException($"SoftmaxCrossEntropy: label {L[row]} of sample {row} is outside [0, {k})");
        ParallelRange(n, (first, end) =>
        {
            for (int row = first; row < end; row++)
            {
                var z = new ReadOnlySpan<float>(Z + (long)row * k, k);
                var p = new Span<float>(PR + (long)row * k, k);
                float max = TensorPrimitives.Max(z);
                TensorPrimitives.Subtract(z, max, p);
                TensorPrimitives.Exp(p, p);
                float sum = TensorPrimitives.Sum(p);
                TensorPrimitives.Divide(p, sum, p);
                // -log softmax[label] = log(sum) + max - z[label], exact even when p[label] underflows.
                LOSS[row] = MathF.Log(sum) + max - z[L[row]];
                if (D == null) continue;
                var d = new Span<float>(D + (long)row * k, k);
                TensorPrimitives.Divide(p, n, d);
                d[L[row]] -= 1f / n;
            }
        }, workPerItem: k * 4);
    }
}
