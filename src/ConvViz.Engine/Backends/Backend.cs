using System.Runtime.InteropServices;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Backends;

/// <summary>
/// The compute interface every backend implements: memory (allocate, upload, download,
/// synchronize) and about twenty coarse ops. Each public method validates its arguments (backend
/// ownership, element types, shapes, aliasing) and then calls the backend's protected core, so a
/// core may assume consistent shapes. Errors name the op, the shape given and the shape expected.
/// Shapes in comments: x (N, C, H, W) input, y output, w (K, C/groups, R, S) conv weights.
/// </summary>
public abstract class Backend : IDisposable
{
    /// <summary>Short name used on the command line: "reference", "cpu", "opencl".</summary>
    public abstract string Name { get; }

    /// <summary>Human-readable description of the device behind this backend.</summary>
    public virtual string Description => Name;

    public virtual void Dispose() => GC.SuppressFinalize(this);

    // ---------------------------------------------------------------- memory

    /// <summary>A new zero-filled tensor.</summary>
    public Tensor Allocate(Shape shape, DataType dataType = DataType.Float32) =>
        new(this, AllocateCore(shape.ElementCount), shape, dataType, ownsBuffer: true);

    public Tensor Allocate(params int[] dims) => Allocate(new Shape(dims));

    public Tensor Upload(ReadOnlySpan<float> data, Shape shape)
    {
        RequireLength("Upload", data.Length, shape);
        var t = Allocate(shape);
        WriteCore(t.Buffer, MemoryMarshal.AsBytes(data));
        return t;
    }

    public Tensor Upload(ReadOnlySpan<int> data, Shape shape)
    {
        RequireLength("Upload", data.Length, shape);
        var t = Allocate(shape, DataType.Int32);
        WriteCore(t.Buffer, MemoryMarshal.AsBytes(data));
        return t;
    }

    /// <summary>Overwrites an existing Float32 tensor with host data.</summary>
    public void Upload(ReadOnlySpan<float> data, Tensor destination)
    {
        Require("Upload", "destination", destination, DataType.Float32);
        RequireLength("Upload", data.Length, destination.Shape);
        WriteCore(destination.Buffer, MemoryMarshal.AsBytes(data));
    }

    public float[] Download(Tensor tensor)
    {
        Require("Download", "tensor", tensor, DataType.Float32);
        var data = new float[tensor.ElementCount];
        ReadCore(tensor.Buffer, MemoryMarshal.AsBytes(data.AsSpan()));
        return data;
    }

    public int[] DownloadInt32(Tensor tensor)
    {
        Require("Download", "tensor", tensor, DataType.Int32);
        var data = new int[tensor.ElementCount];
        ReadCore(tensor.Buffer, MemoryMarshal.AsBytes(data.AsSpan()));
        return data;
    }

    /// <summary>True when no element of a float tensor is NaN or infinite.</summary>
    public bool AllFinite(Tensor tensor)
    {
        Require("AllFinite", "tensor", tensor, DataType.Float32);
        return AllFiniteCore(tensor);
    }

    /// <summary>Device backends scan a downloaded copy; host backends scan in place.</summary>
    protected virtual bool AllFiniteCore(Tensor tensor) => System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(Download(tensor));

    /// <summary>Waits until every op issued so far has finished (a no-op on synchronous backends).</summary>
    public virtual void Synchronize() { }

    protected abstract DeviceBuffer AllocateCore(int elementCount);

    /// <summary>The buffer behind a tensor (shared by its views), for backends in other assemblies.</summary>
    protected static DeviceBuffer BufferOf(Tensor t) => t.Buffer;

    protected abstract void WriteCore(DeviceBuffer buffer, ReadOnlySpan<byte> source);
    protected abstract void ReadCore(DeviceBuffer buffer, Span<byte> destination);

    // ---------------------------------------------------------------- convolution

    /// <summary>y = conv(x, w) + bias. x (N,C,H,W), w (K,C/groups,R,S), bias (K) or null, y (N,K,OH,OW).</summary>
    public void Conv2dForward(Tensor x, Tensor w, Tensor? bias, Tensor y, Conv2dGeometry g)
    {
        const string op = "Conv2dForward";
        Require(op, "x", x);
        var expectedY = ConvShapes(op, x.Shape, w, bias, g);
        Require(op, "y", y, expectedY);
        RequireDistinct(op, ("x", x), ("w", w), ("y", y));
        if (bias is not null) RequireDistinct(op, ("bias", bias), ("y", y));
        Conv2dForwardCore(x, w, bias, y, g);
    }

    /// <summary>dx = d(conv)/dx applied to dy (a transposed convolution). dy (N,K,OH,OW), w (K,C/groups,R,S), dx (N,C,H,W).</summary>
    public void Conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g)
    {
        const string op = "Conv2dBackwardData";
        Require(op, "dx", dx);
        var expectedDy = ConvShapes(op, dx.Shape, w, null, g);
        Require(op, "dy", dy, expectedDy);
        RequireDistinct(op, ("dy", dy), ("w", w), ("dx", dx));
        Conv2dBackwardDataCore(dy, w, dx, g);
    }

    /// <summary>dw = sum over the batch of x ⋆ dy; dbias = sum of dy over N, OH, OW. Both overwritten.</summary>
    public void Conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor? dbias, Conv2dGeometry g)
    {
        const string op = "Conv2dBackwardFilter";
        Require(op, "x", x);
        var expectedDy = ConvShapes(op, x.Shape, dw, dbias, g);
        Require(op, "dy", dy, expectedDy);
        RequireDistinct(op, ("x", x), ("dy", dy), ("dw", dw));
        if (dbias is not null) RequireDistinct(op, ("dbias", dbias), ("dw", dw), ("dy", dy));
        Conv2dBackwardFilterCore(x, dy, dw, dbias, g);
    }

    /// <summary>The output shape of a convolution, after checking the input, weight and bias shapes.</summary>
    public static Shape ConvOutputShape(Shape x, Shape w, Conv2dGeometry g, string op = "Conv2d")
    {
        g.Validate(op);
        RequireRank(op, "x", x, 4);
        RequireRank(op, "w", w, 4);
        if (w[0] % g.Groups != 0)
            throw new ArgumentException($"{op}: w has shape {w} but its {w[0]} output channels do not divide into {g.Groups} groups");
        if (x.C != w[1] * g.Groups)
            throw new ArgumentException($"{op}: x has shape {x} with {x.C} channels, expected {w[1] * g.Groups} (w {w} has {w[1]} input channels per group x {g.Groups} groups)");
        if (w[2] != g.KernelH || w[3] != g.KernelW)
            throw new ArgumentException($"{op}: w has shape {w}, expected a {g.KernelH}x{g.KernelW} kernel");
        int oh = g.OutputHeight(x.H), ow = g.OutputWidth(x.W);
        if (oh < 1 || ow < 1)
            throw new ArgumentException($"{op}: input {x} is smaller than the {g} window (output would be {oh}x{ow})");
        return Shape.Nchw(x.N, w[0], oh, ow);
    }

    private Shape ConvShapes(string op, Shape x, Tensor w, Tensor? bias, Conv2dGeometry g)
    {
        Require(op, "w", w);
        var y = ConvOutputShape(x, w.Shape, g, op);
        if (bias is not null) Require(op, "bias", bias, new Shape(w.Shape[0]));
        return y;
    }

    protected abstract void Conv2dForwardCore(Tensor x, Tensor w, Tensor? bias, Tensor y, Conv2dGeometry g);
    protected abstract void Conv2dBackwardDataCore(Tensor dy, Tensor w, Tensor dx, Conv2dGeometry g);
    protected abstract void Conv2dBackwardFilterCore(Tensor x, Tensor dy, Tensor dw, Tensor? dbias, Conv2dGeometry g);

    // ---------------------------------------------------------------- relu

    /// <summary>y = max(x, 0). y may be x.</summary>
    public void ReluForward(Tensor x, Tensor y)
    {
        Require("ReluForward", "x", x);
        Require("ReluForward", "y", y, x.Shape);
        ReluForwardCore(x, y);
    }

    /// <summary>dx = dy masked by the rule (see <see cref="ReluRule"/>); x is the forward input. dx may be dy.</summary>
    public void ReluBackward(Tensor x, Tensor dy, Tensor dx, ReluRule rule)
    {
        const string op = "ReluBackward";
        Require(op, "x", x);
        Require(op, "dy", dy, x.Shape);
        Require(op, "dx", dx, x.Shape);
        if (!Enum.IsDefined(rule)) throw new ArgumentException($"{op}: unknown rule {(int)rule}");
        ReluBackwardCore(x, dy, dx, rule);
    }

    protected abstract void ReluForwardCore(Tensor x, Tensor y);
    protected abstract void ReluBackwardCore(Tensor x, Tensor dy, Tensor dx, ReluRule rule);

    // ---------------------------------------------------------------- clip

    /// <summary>y = min(max(x, bounds.Min), bounds.Max) (ONNX Clip; ReLU6). y may be x.</summary>
    public void ClipForward(Tensor x, Tensor y, ClipBounds bounds)
    {
        const string op = "ClipForward";
        bounds.Validate(op);
        Require(op, "x", x);
        Require(op, "y", y, x.Shape);
        ClipForwardCore(x, y, bounds);
    }

    /// <summary>dx = dy where the rule passes at the forward input x (see <see cref="ClipBounds"/>), else 0. dx may be dy.</summary>
    public void ClipBackward(Tensor x, Tensor dy, Tensor dx, ClipBounds bounds, ReluRule rule)
    {
        const string op = "ClipBackward";
        bounds.Validate(op);
        Require(op, "x", x);
        Require(op, "dy", dy, x.Shape);
        Require(op, "dx", dx, x.Shape);
        if (!Enum.IsDefined(rule)) throw new ArgumentException($"{op}: unknown rule {(int)rule}");
        ClipBackwardCore(x, dy, dx, bounds, rule);
    }

    protected abstract void ClipForwardCore(Tensor x, Tensor y, ClipBounds bounds);
    protected abstract void ClipBackwardCore(Tensor x, Tensor dy, Tensor dx, ClipBounds bounds, ReluRule rule);

    // ---------------------------------------------------------------- padding

    /// <summary>y (N, C, H + top + bottom, W + left + right) = x with its planes padded (or cropped) by g.</summary>
    public void Pad2dForward(Tensor x, Tensor y, PadGeometry g)
    {
        const string op = "Pad2dForward";
        Require(op, "x", x);
        Require(op, "y", y, g.OutputShape(x.Shape, op));
        RequireDistinct(op, ("x", x), ("y", y));
        Pad2dForwardCore(x, y, g);
    }

    /// <summary>dx (N, C, H, W) = the sum of dy over the outputs that read each input (one for the
    /// interior; the mirrored and repeated border outputs of reflect and edge add theirs).</summary>
    public void Pad2dBackward(Tensor dy, Tensor dx, PadGeometry g)
    {
        const string op = "Pad2dBackward";
        Require(op, "dx", dx);
        Require(op, "dy", dy, g.OutputShape(dx.Shape, op));
        RequireDistinct(op, ("dy", dy), ("dx", dx));
        Pad2dBackwardCore(dy, dx, g);
    }

    protected abstract void Pad2dForwardCore(Tensor x, Tensor y, PadGeometry g);
    protected abstract void Pad2dBackwardCore(Tensor dy, Tensor dx, PadGeometry g);

    // ---------------------------------------------------------------- pooling

    /// <summary>
    /// Max pooling that records its switches: switches (Int32, shape of y) holds, for every output,
    /// the index h*W + w of the chosen input inside its (n, c) plane. Padding never wins.
    /// </summary>
    public void MaxPoolForward(Tensor x, Tensor y, Tensor switches, PoolGeometry g)
    {
        const string op = "MaxPoolForward";
        Require(op, "x", x);
        var expectedY = PoolOutputShape(x.Shape, g, op);
        Require(op, "y", y, expectedY);
        Require(op, "switches", switches, expectedY, DataType.Int32);
        RequireDistinct(op, ("x", x), ("y", y), ("switches", switches));
        MaxPoolForwardCore(x, y, switches, g);
    }

    /// <summary>dx = 0, then each dy is added to the input its switch points at.</summary>
    public void MaxPoolBackward(Tensor dy, Tensor switches, Tensor dx, PoolGeometry g)
    {
        const string op = "MaxPoolBackward";
        Require(op, "dx", dx);
        var expectedDy = PoolOutputShape(dx.Shape, g, op);
        Require(op, "dy", dy, expectedDy);
        RequireUnpoolArguments(op, dy, switches, dx);
        MaxUnpoolCore(dy, switches, dx);
    }

    /// <summary>
    /// Unpooling through recorded switches (the deconvnet's unpool; also max pooling's backward):
    /// x = 0, then x[n, c, switch] += y[n, c, i]. y and switches are (N, C, OH, OW); x is (N, C, H, W).
    /// </summary>
    public void MaxUnpool(Tensor y, Tensor switches, Tensor x)
    {
        RequireUnpoolArguments("MaxUnpool", y, switches, x);
        MaxUnpoolCore(y, switches, x);
    }

    private void RequireUnpoolArguments(string op, Tensor y, Tensor switches, Tensor x)
    {
        Require(op, "y", y);
        RequireRank(op, "y", y.Shape, 4);
        Require(op, "switches", switches, y.Shape, DataType.Int32);
        Require(op, "x", x);
        RequireRank(op, "x", x.Shape, 4);
        if (x.Shape.N != y.Shape.N || x.Shape.C != y.Shape.C)
            throw new ArgumentException($"{op}: x has shape {x.Shape}, expected ({y.Shape.N}, {y.Shape.C}, H, W) to match y {y.Shape}");
        RequireDistinct(op, ("y", y), ("switches", switches), ("x", x));
    }

    /// <summary>Average pooling; g.CountIncludePad chooses the divisor (window incl. pads, or valid inputs only).</summary>
    public void AvgPoolForward(Tensor x, Tensor y, PoolGeometry g)
    {
        const string op = "AvgPoolForward";
        Require(op, "x", x);
        Require(op, "y", y, PoolOutputShape(x.Shape, g, op));
        RequireDistinct(op, ("x", x), ("y", y));
        AvgPoolForwardCore(x, y, g);
    }

    public void AvgPoolBackward(Tensor dy, Tensor dx, PoolGeometry g)
    {
        const string op = "AvgPoolBackward";
        Require(op, "dx", dx);
        Require(op, "dy", dy, PoolOutputShape(dx.Shape, g, op));
        RequireDistinct(op, ("dy", dy), ("dx", dx));
        AvgPoolBackwardCore(dy, dx, g);
    }

    public static Shape PoolOutputShape(Shape x, PoolGeometry g, string op = "Pool")
    {
        g.Validate(op);
        RequireRank(op, "x", x, 4);
        int oh = g.OutputHeight(x.H), ow = g.OutputWidth(x.W);
        if (oh < 1 || ow < 1)
            throw new ArgumentException($"{op}: input {x} is smaller than the {g} window (output would be {oh}x{ow})");
        return Shape.Nchw(x.N, x.C, oh, ow);
    }

    protected abstract void MaxPoolForwardCore(Tensor x, Tensor y, Tensor switches, PoolGeometry g);
    protected abstract void MaxUnpoolCore(Tensor y, Tensor switches, Tensor x);
    protected abstract void AvgPoolForwardCore(Tensor x, Tensor y, PoolGeometry g);
    protected abstract void AvgPoolBackwardCore(Tensor dy, Tensor dx, PoolGeometry g);

    // ---------------------------------------------------------------- local response normalization

    /// <summary>y = x / scale^beta with scale = bias + alpha/size * (sum of squares in the channel window); scale is kept for backward.</summary>
    public void LrnForward(Tensor x, Tensor y, Tensor scale, LrnParameters p)
    {
        const string op = "LrnForward";
        p.Validate(op);
        Require(op, "x", x);
        RequireRank(op, "x", x.Shape, 4);
        Require(op, "y", y, x.Shape);
        Require(op, "scale", scale, x.Shape);
        RequireDistinct(op, ("x", x), ("y", y), ("scale", scale));
        LrnForwardCore(x, y, scale, p);
    }

    /// <summary>dx from dy, given the forward's x, y and scale.</summary>
    public void LrnBackward(Tensor x, Tensor y, Tensor scale, Tensor dy, Tensor dx, LrnParameters p)
    {
        const string op = "LrnBackward";
        p.Validate(op);
        Require(op, "x", x);
        RequireRank(op, "x", x.Shape, 4);
        foreach (var (name, t) in new[] { ("y", y), ("scale", scale), ("dy", dy), ("dx", dx) })
            Require(op, name, t, x.Shape);
        RequireDistinct(op, ("x", x), ("y", y), ("scale", scale), ("dy", dy), ("dx", dx));
        LrnBackwardCore(x, y, scale, dy, dx, p);
    }

    protected abstract void LrnForwardCore(Tensor x, Tensor y, Tensor scale, LrnParameters p);
    protected abstract void LrnBackwardCore(Tensor x, Tensor y, Tensor scale, Tensor dy, Tensor dx, LrnParameters p);

    // ---------------------------------------------------------------- gemm

    /// <summary>
    /// y (M, N) = alpha * op(a) * op(b) + beta * c. op(a) is (M, K): a is (M, K), or (K, M) when transA.
    /// op(b) is (K, N): b is (K, N), or (N, K) when transB. c broadcasts to (M, N) from a scalar, (N),
    /// (1, N), (M, 1) or (M, N); c may be y itself (accumulate). Without c, beta is ignored.
    /// </summary>
    public void Gemm(Tensor a, Tensor b, Tensor? c, Tensor y, bool transA = false, bool transB = false, float alpha = 1f, float beta = 1f)
    {
        const string op = "Gemm";
        Require(op, "a", a);
        Require(op, "b", b);
        RequireRank(op, "a", a.Shape, 2);
        RequireRank(op, "b", b.Shape, 2);
        int m = transA ? a.Shape[1] : a.Shape[0];
        int k = transA ? a.Shape[0] : a.Shape[1];
        int kb = transB ? b.Shape[1] : b.Shape[0];
        int n = transB ? b.Shape[0] : b.Shape[1];
        if (k != kb)
            throw new ArgumentException($"{op}: inner dimensions differ: op(a) is ({m}, {k}) from a {a.Shape}{(transA ? " transposed" : "")}, op(b) is ({kb}, {n}) from b {b.Shape}{(transB ? " transposed" : "")}");
        Require(op, "y", y, new Shape(m, n));
        RequireDistinct(op, ("a", a), ("y", y));
        RequireDistinct(op, ("b", b), ("y", y));
        if (c is not null)
        {
            Require(op, "c", c);
            if (!BroadcastsTo(c.Shape, m, n))
                throw new ArgumentException($"{op}: c has shape {c.Shape}, expected one that broadcasts to ({m}, {n}): (1), ({n}), (1, {n}), ({m}, 1) or ({m}, {n})");
        }
        GemmCore(a, b, c, y, transA, transB, alpha, c is null ? 0f : beta);
    }

    private static bool BroadcastsTo(Shape c, int m, int n) => c.Rank switch
    {
        1 => c[0] == 1 || c[0] == n,
        2 => (c[0] == 1 || c[0] == m) && (c[1] == 1 || c[1] == n),
        _ => false,
    };

    /// <summary>Element (i, j) of a c that broadcasts to (M, N): the flat index into c.</summary>
    protected static int BroadcastIndex(Shape c, int i, int j) => c.Rank == 1
        ? (c[0] == 1 ? 0 : j)
        : (c[0] == 1 ? 0 : i) * c[1] + (c[1] == 1 ? 0 : j);

    protected abstract void GemmCore(Tensor a, Tensor b, Tensor? c, Tensor y, bool transA, bool transB, float alpha, float beta);

    // ---------------------------------------------------------------- softmax and loss

    /// <summary>Softmax along one axis: the shape is seen as (outer, classes, inner) around that axis.</summary>
    public void Softmax(Tensor x, Tensor y, int axis = 1)
    {
        const string op = "Softmax";
        Require(op, "x", x);
        Require(op, "y", y, x.Shape);
        var (outer, classes, inner) = SplitAroundAxis(op, x.Shape, axis);
        SoftmaxCore(x, y, outer, classes, inner);
    }

    /// <summary>dx = y * (dy - sum over the axis of dy * y), given the forward output y. dx may be dy.</summary>
    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int axis = 1)
    {
        const string op = "SoftmaxBackward";
        Require(op, "y", y);
        Require(op, "dy", dy, y.Shape);
        Require(op, "dx", dx, y.Shape);
        RequireDistinct(op, ("y", y), ("dx", dx));
        var (outer, classes, inner) = SplitAroundAxis(op, y.Shape, axis);
        SoftmaxBackwardCore(y, dy, dx, outer, classes, inner);
    }

    /// <summary>
    /// Softmax cross-entropy over logits (N, K) and labels (N, Int32 in [0, K)): probs (N, K) gets the
    /// softmax, losses (N) gets -log p[label] per sample, and dlogits, when given, gets the gradient of
    /// the mean loss, (probs - onehot) / N. Averaging the losses is host work for the caller.
    /// </summary>
    public void SoftmaxCrossEntropy(Tensor logits, Tensor labels, Tensor probs, Tensor losses, Tensor? dlogits)
    {
        const string op = "SoftmaxCrossEntropy";
        Require(op, "logits", logits);
        RequireRank(op, "logits", logits.Shape, 2);
        int n = logits.Shape[0];
        Require(op, "labels", labels, new Shape(n), DataType.Int32);
        Require(op, "probs", probs, logits.Shape);
        Require(op, "losses", losses, new Shape(n));
        RequireDistinct(op, ("logits", logits), ("probs", probs), ("losses", losses));
        if (dlogits is not null) Require(op, "dlogits", dlogits, logits.Shape);
        SoftmaxCrossEntropyCore(logits, labels, probs, losses, dlogits);
    }

    private static (int Outer, int Classes, int Inner) SplitAroundAxis(string op, Shape s, int axis)
    {
        int a = axis < 0 ? axis + s.Rank : axis;
        if (a < 0 || a >= s.Rank)
            throw new ArgumentException($"{op}: axis {axis} is out of range for shape {s} (rank {s.Rank})");
        int outer = 1, inner = 1;
        for (int i = 0; i < a; i++) outer *= s[i];
        for (int i = a + 1; i < s.Rank; i++) inner *= s[i];
        return (outer, s[a], inner);
    }

    protected abstract void SoftmaxCore(Tensor x, Tensor y, int outer, int classes, int inner);
    protected abstract void SoftmaxBackwardCore(Tensor y, Tensor dy, Tensor dx, int outer, int classes, int inner);
    protected abstract void SoftmaxCrossEntropyCore(Tensor logits, Tensor labels, Tensor probs, Tensor losses, Tensor? dlogits);

    // ---------------------------------------------------------------- dropout

    /// <summary>
    /// Training-time dropout: mask[i] = 1/(1-ratio) where <see cref="DropoutMask.Keeps"/>(seed, i, ratio),
    /// else 0; y = x * mask. The mask depends only on (seed, i, ratio), so every backend draws the same one.
    /// At inference dropout is the identity: the layer copies instead of calling this.
    /// </summary>
    public void DropoutForward(Tensor x, Tensor y, Tensor mask, float ratio, uint seed)
    {
        const string op = "DropoutForward";
        if (!(ratio >= 0f && ratio < 1f)) throw new ArgumentException($"{op}: ratio {ratio} must be in [0, 1)");
        Require(op, "x", x);
        Require(op, "y", y, x.Shape);
        Require(op, "mask", mask, x.Shape);
        RequireDistinct(op, ("x", x), ("mask", mask));
        RequireDistinct(op, ("y", y), ("mask", mask));
        DropoutForwardCore(x, y, mask, ratio, seed);
    }

    protected abstract void DropoutForwardCore(Tensor x, Tensor y, Tensor mask, float ratio, uint seed);

    // ---------------------------------------------------------------- element-wise

    /// <summary>y = a * b element by element (dropout's backward: dx = dy * mask). y may be a or b.</summary>
    public void Multiply(Tensor a, Tensor b, Tensor y)
    {
        Require("Multiply", "a", a);
        Require("Multiply", "b", b, a.Shape);
        Require("Multiply", "y", y, a.Shape);
        MultiplyCore(a, b, y);
    }

    /// <summary>y += alpha * x.</summary>
    public void Axpy(float alpha, Tensor x, Tensor y)
    {
        Require("Axpy", "x", x);
        Require("Axpy", "y", y, x.Shape);
        AxpyCore(alpha, x, y);
    }

    /// <summary>x *= alpha.</summary>
    public void Scale(Tensor x, float alpha)
    {
        Require("Scale", "x", x);
        ScaleCore(x, alpha);
    }

    /// <summary>Every element of x becomes value.</summary>
    public void Fill(Tensor x, float value)
    {
        Require("Fill", "x", x);
        FillCore(x, value);
    }

    /// <summary>destination = source (same element count and type; shapes may differ, as for a flatten).</summary>
    public void Copy(Tensor source, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(source, "Copy: source");
        Require("Copy", "source", source, source.DataType);
        Require("Copy", "destination", destination, source.DataType);
        if (source.ElementCount != destination.ElementCount)
            throw new ArgumentException($"Copy: destination has shape {destination.Shape} ({destination.ElementCount} elements), expected {source.ElementCount} elements like source {source.Shape}");
        if (!ReferenceEquals(source.Buffer, destination.Buffer)) CopyCore(source, destination);
    }

    /// <summary>
    /// Channels [sourceChannel, sourceChannel + channels) of every batch item of source (N, Cs, H, W)
    /// into channels [destinationChannel, destinationChannel + channels) of destination (N, Cd, H, W);
    /// the rest of destination is kept. Rank-2 (N, C) tensors count as H = W = 1. Channel concatenation
    /// (ONNX Concat on axis 1) is one call per input, and its backward one call per input's slice of dy.
    /// </summary>
    public void CopyChannels(Tensor source, int sourceChannel, Tensor destination, int destinationChannel, int channels)
    {
        const string op = "CopyChannels";
        Require(op, "source", source);
        Require(op, "destination", destination);
        var s = source.Shape;
        var d = destination.Shape;
        RequireChannelRank(op, "source", s);
        RequireChannelRank(op, "destination", d);
        if (d.N != s.N || PlaneHeight(d) != PlaneHeight(s) || PlaneWidth(d) != PlaneWidth(s))
            throw new ArgumentException($"{op}: destination has shape {d}, expected {(s.Rank == 2 ? $"({s.N}, C)" : $"({s.N}, C, {s.H}, {s.W})")} to match source {s} in N, H and W");
        if (channels < 1) throw new ArgumentException($"{op}: channels {channels} must be at least 1 (source {s}, destination {d})");
        RequireChannelRange(op, "source", s, sourceChannel, channels);
        RequireChannelRange(op, "destination", d, destinationChannel, channels);
        RequireDistinct(op, ($"source {s}", source), ($"destination {d}", destination));
        CopyChannelsCore(source, sourceChannel, destination, destinationChannel, channels, PlaneSize(s));
    }

    private static void RequireChannelRank(string op, string name, Shape s)
    {
        if (s.Rank != 2 && s.Rank != 4)
            throw new ArgumentException($"{op}: {name} has shape {s} (rank {s.Rank}), expected rank 2 (N, C) or 4 (N, C, H, W)");
    }

    private static void RequireChannelRange(string op, string name, Shape s, int first, int channels)
    {
        if (first < 0 || first > s.C - channels)
            throw new ArgumentException($"{op}: {name} channels [{first}, {(long)first + channels}) lie outside {name} {s}, which has channels [0, {s.C})");
    }

    // A rank-2 (N, C) tensor is (N, C, 1, 1): one float per channel.
    private static int PlaneHeight(Shape s) => s.Rank == 4 ? s.H : 1;
    private static int PlaneWidth(Shape s) => s.Rank == 4 ? s.W : 1;
    private static int PlaneSize(Shape s) => PlaneHeight(s) * PlaneWidth(s);

    /// <summary>x = min(max(x, low), high).</summary>
    public void Clamp(Tensor x, float low, float high)
    {
        if (!(low <= high)) throw new ArgumentException($"Clamp: low {low} must not exceed high {high}");
        Require("Clamp", "x", x);
        ClampCore(x, low, high);
    }

    /// <summary>
    /// Separable Gaussian blur of every (n, c) plane of x (N, C, H, W) into y, with standard deviation
    /// sigma in pixels, taps out to radius round(4 sigma) and mirrored borders (scipy.ndimage's
    /// gaussian_filter defaults, as the Deep Visualization Toolbox uses). sigma 0 copies.
    /// </summary>
    public void GaussianBlur(Tensor x, Tensor y, float sigma)
    {
        const string op = "GaussianBlur";
        if (!(sigma >= 0f) || float.IsInfinity(sigma)) throw new ArgumentException($"{op}: sigma {sigma} must be a finite number >= 0");
        Require(op, "x", x);
        RequireRank(op, "x", x.Shape, 4);
        Require(op, "y", y, x.Shape);
        RequireDistinct(op, ("x", x), ("y", y));
        if (sigma == 0f) CopyCore(x, y);
        else GaussianBlurCore(x, y, GaussianTaps(sigma));
    }

    /// <summary>Normalized 1-D Gaussian taps, index r = radius + offset.</summary>
    public static float[] GaussianTaps(float sigma)
    {
        int radius = (int)(4.0 * sigma + 0.5);
        var taps = new double[2 * radius + 1];
        double sum = 0;
        for (int i = -radius; i <= radius; i++) sum += taps[i + radius] = Math.Exp(-0.5 * i * i / ((double)sigma * sigma));
        return taps.Select(t => (float)(t / sum)).ToArray();
    }

    /// <summary>scipy's "reflect" border: ... c b a | a b c ... c | c b a ..., periodic with period 2n.</summary>
    protected static int MirrorIndex(int i, int n)
    {
        int period = 2 * n;
        i %= period;
        if (i < 0) i += period;
        return i < n ? i : period - 1 - i;
    }

    protected abstract void MultiplyCore(Tensor a, Tensor b, Tensor y);
    protected abstract void AxpyCore(float alpha, Tensor x, Tensor y);
    protected abstract void ScaleCore(Tensor x, float alpha);
    protected abstract void FillCore(Tensor x, float value);
    protected abstract void CopyCore(Tensor source, Tensor destination);
    protected abstract void ClampCore(Tensor x, float low, float high);
    protected abstract void GaussianBlurCore(Tensor x, Tensor y, float[] taps);

    /// <summary>
    /// Shapes are checked: source (N, Cs, plane) and destination (N, Cd, plane) with plane = H * W
    /// floats per channel, both channel ranges inside, distinct buffers. Each item's copied block of
    /// channels * plane floats is contiguous in both tensors.
    /// </summary>
    protected abstract void CopyChannelsCore(Tensor source, int sourceChannel, Tensor destination, int destinationChannel, int channels, int plane);

    // ---------------------------------------------------------------- validation helpers

    /// <summary>Checks that a tensor is alive, belongs to this backend and has the element type.</summary>
    protected void Require(string op, string name, Tensor t, DataType type = DataType.Float32)
    {
        ArgumentNullException.ThrowIfNull(t, $"{op}: {name}");
        if (!ReferenceEquals(t.Backend, this))
            throw new ArgumentException($"{op}: {name} lives on backend '{t.Backend.Name}', expected '{Name}' (move it with Download/Upload)");
        if (t.IsDisposed) throw new ObjectDisposedException($"{op}: {name} {t.Shape} was disposed");
        if (t.DataType != type) throw new ArgumentException($"{op}: {name} {t.Shape} has element type {t.DataType}, expected {type}");
    }

    protected void Require(string op, string name, Tensor t, Shape expected, DataType type = DataType.Float32)
    {
        Require(op, name, t, type);
        if (t.Shape != expected) throw new ArgumentException($"{op}: {name} has shape {t.Shape}, expected {expected}");
    }

    protected static void RequireRank(string op, string name, Shape s, int rank)
    {
        if (s.Rank != rank) throw new ArgumentException($"{op}: {name} has shape {s} (rank {s.Rank}), expected rank {rank}");
    }

    private static void RequireLength(string op, int length, Shape shape)
    {
        if (length != shape.ElementCount)
            throw new ArgumentException($"{op}: {length} values given for shape {shape}, expected {shape.ElementCount}");
    }

    private static void RequireDistinct(string op, params (string Name, Tensor Tensor)[] tensors)
    {
        for (int i = 0; i < tensors.Length; i++)
            for (int j = i + 1; j < tensors.Length; j++)
                if (ReferenceEquals(tensors[i].Tensor.Buffer, tensors[j].Tensor.Buffer))
                    throw new ArgumentException($"{op}: {tensors[i].Name} and {tensors[j].Name} share memory; this op needs them distinct");
    }
}
