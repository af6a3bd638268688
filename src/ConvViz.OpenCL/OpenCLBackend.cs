using System.Runtime.InteropServices;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.OpenCL;

/// <summary>The two kernel families for the compute-heavy ops (convolution forward, GEMM).</summary>
public enum OpenCLKernelVariant
{
    /// <summary>Vectorized on CPU devices, tiled elsewhere.</summary>
    Auto,
    /// <summary>Local-memory tiles with register blocking: the kernels for GPUs.</summary>
    Tiled,
    /// <summary>Explicit vectors within each work-item: the kernels for CPU devices such as PoCL,
    /// which run a work-group's items as a loop and vectorize poorly across them.</summary>
    Vectorized,
}

/// <summary>
/// The backend interface on an OpenCL device, every op a hand-written kernel from kernels/ (one
/// source file per op family, see kernels/README.md). Ops are enqueued on one in-order queue and
/// run asynchronously; Download and <see cref="Synchronize"/> wait. This file holds memory and the
/// simple ops; OpenCLBackend.Convolution.cs holds the tiled convolution and GEMM.
/// </summary>
public sealed partial class OpenCLBackend : Backend
{
    /// <summary>Work-items per work-group of the one-item-per-element kernels.</summary>
    private const int ElementGroupSize = 64;

    private readonly OpenCLContext context;

    /// <summary>Opens device <paramref name="deviceIndex"/> of <see cref="OpenCLDevices.List"/>
    /// (<see cref="OpenCLUnavailableException"/> when this machine has no OpenCL device).
    /// <paramref name="variant"/> picks the convolution and GEMM kernels; Auto takes the vectorized
    /// ones on CPU devices and the tiled ones elsewhere.</summary>
    public OpenCLBackend(int deviceIndex = 0, OpenCLKernelVariant variant = OpenCLKernelVariant.Auto)
    {
        context = new OpenCLContext(deviceIndex);
        var device = context.Device;
        if (variant == OpenCLKernelVariant.Tiled && device.MaxWorkGroupSize < TiledWorkGroupSize)
        {
            context.Dispose();
            throw new ArgumentException($"the tiled kernels need work-groups of {TiledWorkGroupSize}; device {device.Index} allows {device.MaxWorkGroupSize}");
        }
        // The vectorized kernels run on any device (they fix no work-group size); the tiled ones
        // are for GPUs that allow 16x16 work-groups.
        Variant = variant != OpenCLKernelVariant.Auto ? variant
            : device.DeviceType.Contains("CPU", StringComparison.Ordinal) || device.MaxWorkGroupSize < TiledWorkGroupSize
                ? OpenCLKernelVariant.Vectorized
                : OpenCLKernelVariant.Tiled;
    }

    /// <summary>The kernel family this backend runs convolutions and GEMMs with (never Auto).</summary>
    public OpenCLKernelVariant Variant { get; }

    public override string Name => "opencl";

    public override string Description
    {
        get
        {
            var d = context.Device;
            return $"opencl [{d.Index}]: {d.DeviceName} ({d.PlatformName}, {d.DeviceType}, {d.ComputeUnits} compute units, " +
                   $"{d.GlobalMemoryBytes / (1024.0 * 1024 * 1024):F1} GiB, {Variant.ToString().ToLowerInvariant()} kernels)";
        }
    }

    /// <summary>The device and queue behind this backend (for profiling and tests).</summary>
    internal OpenCLContext Context => context;

    public override void Dispose()
    {
        foreach (var buffer in workspaces) buffer?.Dispose();
        Array.Clear(workspaces);
        context.Dispose();
        base.Dispose();
    }

    // ---------------------------------------------------------------- memory

    protected override DeviceBuffer AllocateCore(int elementCount)
    {
        // OpenCL has no empty buffers: an empty tensor still gets one (unused) element.
        var buffer = context.CreateBuffer(Math.Max(1, elementCount));
        context.Fill(buffer, 0f);
        return buffer;
    }

    protected override void WriteCore(DeviceBuffer buffer, ReadOnlySpan<byte> source) =>
        context.Write((OpenCLBuffer)buffer, MemoryMarshal.Cast<byte, float>(source));

    protected override void ReadCore(DeviceBuffer buffer, Span<byte> destination) =>
        context.Read((OpenCLBuffer)buffer, MemoryMarshal.Cast<byte, float>(destination));

    public override void Synchronize() => context.Finish();

    private static OpenCLBuffer Mem(Tensor t) => (OpenCLBuffer)BufferOf(t);

    /// <summary>Enqueues a one-work-item-per-element kernel over <paramref name="count"/> items
    /// (rounded up to whole work-groups; the kernels check their count).</summary>
    private void RunElements(string source, string kernel, long count, params ReadOnlySpan<KernelArg> args)
    {
        if (count == 0) return;
        long global = (count + ElementGroupSize - 1) / ElementGroupSize * ElementGroupSize;
        context.Enqueue(context.GetKernel(source, kernel), [global], [ElementGroupSize], args);
    }

    // ---------------------------------------------------------------- relu, dropout, element-wise

    protected override void ReluForwardCore(Tensor x, Tensor y) =>
        RunElements("elementwise.cl", "relu_forward", x.ElementCount, x.ElementCount, Mem(x), Mem(y));

    protected override void ReluBackwardCore(Tensor x, Tensor dy, Tensor dx, ReluRule rule) =>
        RunElements("elementwise.cl", "relu_backward", x.ElementCount, x.ElementCount, (int)rule, Mem(x), Mem(dy), Mem(dx));

    protected override void ClipForwardCore(Tensor x, Tensor y, ClipBounds bounds) =>
        RunElements("elementwise.cl", "clip_forward", x.ElementCount, x.ElementCount, bounds.Min, bounds.Max, Mem(x), Mem(y));

    protected override void ClipBackwardCore(Tensor x, Tensor dy, Tensor dx, ClipBounds bounds, ReluRule rule) =>
        RunElements("elementwise.cl", "clip_backward", x.ElementCount, x.ElementCount, (int)rule, bounds.Min, bounds.Max, Mem(x), Mem(dy), Mem(dx));

    protected override void DropoutForwardCore(Tensor x, Tensor y, Tensor mask, float ratio, uint seed)
    {
        // DropoutMask.Keeps: hash / 2^32 >= ratio  <=>  hash >= ceil(ratio * 2^32), exact in double.
        uint keepThreshold = (uint)Math.Ceiling(ratio * 4294967296.0);
        RunElements("elementwise.cl", "dropout_forward", x.ElementCount,
            x.ElementCount, seed, keepThreshold, 1f / (1f - ratio), Mem(x), Mem(y), Mem(mask));
    }

    protected override void MultiplyCore(Tensor a, Tensor b, Tensor y) =>
        RunElements("elementwise.cl", "multiply", a.ElementCount, a.ElementCount, Mem(a), Mem(b), Mem(y));

    protected override void AxpyCore(float alpha, Tensor x, Tensor y) =>
        RunElements("elementwise.cl", "axpy", x.ElementCount, x.ElementCount, alpha, Mem(x), Mem(y));

    protected override void ScaleCore(Tensor x, float alpha) =>
        RunElements("elementwise.cl", "scale", x.ElementCount, x.ElementCount, alpha, Mem(x));

    protected override void ClampCore(Tensor x, float low, float high) =>
        RunElements("elementwise.cl", "clamp_range", x.ElementCount, x.ElementCount, low, high, Mem(x));

    protected override void FillCore(Tensor x, float value) => context.Fill(Mem(x), value, 0, x.ElementCount);

    protected override void CopyCore(Tensor source, Tensor destination) =>
        context.Copy(Mem(source), Mem(destination), source.ElementCount);

    // One launch for the whole batch rather than one clEnqueueCopyBuffer per item.
    protected override void CopyChannelsCore(Tensor source, int sourceChannel, Tensor destination, int destinationChannel, int channels, int plane)
    {
        int block = channels * plane;
        RunElements("elementwise.cl", "copy_channels", (long)source.Shape.N * block,
            source.Shape.N * block, block, source.Shape.C * plane, sourceChannel * plane,
            destination.Shape.C * plane, destinationChannel * plane, Mem(source), Mem(destination));
    }

    // ---------------------------------------------------------------- pooling

    protected override void MaxPoolForwardCore(Tensor x, Tensor y, Tensor switches, PoolGeometry g) =>
        RunElements("pool.cl", "maxpool_forward", y.ElementCount,
            y.ElementCount, x.Shape.H, x.Shape.W, y.Shape.H, y.Shape.W,
            g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.DilationH, g.DilationW,
            Mem(x), Mem(y), Mem(switches));

    protected override void MaxUnpoolCore(Tensor y, Tensor switches, Tensor x)
    {
        int planes = y.Shape.N * y.Shape.C;
        if (planes == 0) return;
        RunElements("pool.cl", "max_unpool", planes,
            planes, x.Shape.H * x.Shape.W, y.Shape.H * y.Shape.W, Mem(y), Mem(switches), Mem(x));
    }

    protected override void AvgPoolForwardCore(Tensor x, Tensor y, PoolGeometry g) =>
        RunElements("pool.cl", "avgpool_forward", y.ElementCount,
            y.ElementCount, x.Shape.H, x.Shape.W, y.Shape.H, y.Shape.W,
            g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight,
            g.DilationH, g.DilationW, g.CountIncludePad ? 1 : 0, Mem(x), Mem(y));

    protected override void AvgPoolBackwardCore(Tensor dy, Tensor dx, PoolGeometry g) =>
        RunElements("pool.cl", "avgpool_backward", dx.ElementCount,
            dx.ElementCount, dx.Shape.H, dx.Shape.W, dy.Shape.H, dy.Shape.W,
            g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight,
            g.DilationH, g.DilationW, g.CountIncludePad ? 1 : 0, Mem(dy), Mem(dx));

    // ---------------------------------------------------------------- padding

    protected override void Pad2dForwardCore(Tensor x, Tensor y, PadGeometry g) =>
        RunElements("pad.cl", "pad2d_forward", y.ElementCount,
            y.ElementCount, x.Shape.H, x.Shape.W, y.Shape.H, y.Shape.W, g.Top, g.Left, (int)g.Mode, g.Value, Mem(x), Mem(y));

    protected override void Pad2dBackwardCore(Tensor dy, Tensor dx, PadGeometry g) =>
        RunElements("pad.cl", "pad2d_backward", dx.ElementCount,
            dx.ElementCount, dx.Shape.H, dx.Shape.W, dy.Shape.H, dy.Shape.W, g.Top, g.Left, g.Bottom, g.Right, (int)g.Mode, Mem(dy), Mem(dx));

    // ---------------------------------------------------------------- lrn

    // The vectorized (CPU device) kernels take VLANES pixels of one image per work-item; the
    // others one (n, h, w) column each. Both walk the channels.
    protected override void LrnForwardCore(Tensor x, Tensor y, Tensor scale, LrnParameters p)
    {
        var (n, c, hw) = (x.Shape.N, x.Shape.C, x.Shape.H * x.Shape.W);
        if (x.ElementCount == 0) return;
        KernelArg[] tail = [c, hw, p.WindowBefore, p.WindowAfter, p.Alpha / p.Size, p.Beta, p.Bias, Mem(x), Mem(y), Mem(scale)];
        if (Variant == OpenCLKernelVariant.Vectorized)
            context.Enqueue(context.GetKernel("lrn.cl", "lrn_forward_vectorized"), [(hw + VectorLanes - 1) / VectorLanes, n], [], tail);
        else
            RunElements("lrn.cl", "lrn_forward", (long)n * hw, [n * hw, .. tail]);
    }

    protected override void LrnBackwardCore(Tensor x, Tensor y, Tensor scale, Tensor dy, Tensor dx, LrnParameters p)
    {
        var (n, c, hw) = (x.Shape.N, x.Shape.C, x.Shape.H * x.Shape.W);
        if (x.ElementCount == 0) return;
        KernelArg[] tail = [c, hw, p.WindowBefore, p.WindowAfter, (float)(2.0 * p.Alpha * p.Beta / p.Size), p.Beta,
            Mem(x), Mem(y), Mem(scale), Mem(dy), Mem(dx)];
        if (Variant == OpenCLKernelVariant.Vectorized)
            context.Enqueue(context.GetKernel("lrn.cl", "lrn_backward_vectorized"), [(hw + VectorLanes - 1) / VectorLanes, n], [], tail);
        else
            RunElements("lrn.cl", "lrn_backward", (long)n * hw, [n * hw, .. tail]);
    }

    // ---------------------------------------------------------------- softmax and loss

    protected override void SoftmaxCore(Tensor x, Tensor y, int outer, int classes, int inner) =>
        RunElements("softmax.cl", "softmax_forward", (long)outer * inner, outer * inner, classes, inner, Mem(x), Mem(y));

    protected override void SoftmaxBackwardCore(Tensor y, Tensor dy, Tensor dx, int outer, int classes, int inner) =>
        RunElements("softmax.cl", "softmax_backward", (long)outer * inner, outer * inner, classes, inner, Mem(y), Mem(dy), Mem(dx));

    protected override void SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor probs, Tensor losses, Tensor? dlogits)
    {
        int n = logits.Shape[0], k = logits.Shape[1];
        // A label outside [0, K) would read out of bounds on the device: check the (small) label
        // vector on the host first, with the same message as the other backends.
        var host = context.Read<int>(Mem(labels));
        for (int row = 0; row < n; row++)
            if (host[row] < 0 || host[row] >= k)
                throw new ArgumentException($"SoftmaxCrossEntropy: label {host[row]} of sample {row} is outside [0, {k})");
        RunElements("softmax.cl", "softmax_cross_entropy", n,
            n, k, dlogits is null ? 0 : 1, Mem(logits), Mem(labels), Mem(probs), Mem(losses), Mem(dlogits ?? probs));
    }

    // ---------------------------------------------------------------- blur

    protected override void GaussianBlurCore(Tensor x, Tensor y, float[] taps)
    {
        int radius = taps.Length / 2, count = x.ElementCount;
        if (count == 0) return;
        // Released right away: OpenCL keeps a buffer alive until the commands using it are done.
        using var tapBuffer = context.CreateBuffer<float>(taps);
        using var rows = context.CreateBuffer(count);
        RunElements("blur.cl", "blur_rows", count, count, x.Shape.H, x.Shape.W, radius, tapBuffer, Mem(x), rows);
        RunElements("blur.cl", "blur_columns", count, count, x.Shape.H, x.Shape.W, radius, tapBuffer, rows, Mem(y));
    }
}
