using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Validation;

/// <summary>
/// Bad arguments to every public op: each must be refused with an ArgumentException (or an
/// ObjectDisposedException for a disposed tensor) whose message names the op and the offending
/// shape or value, before anything is written; never a crash inside a kernel or a silent wrong answer.
/// Backend-agnostic: bound to a backend by a one-line sealed subclass.
/// </summary>
public abstract class BadInputTests : BackendTest
{
    private const float Sentinel = 7.5f;

    /// <summary>Asserts that call throws an ArgumentException (or a subclass) whose message holds every fragment.</summary>
    private static ArgumentException Rejects(Action call, params string[] fragments)
    {
        var e = Assert.ThrowsAny<ArgumentException>(call);
        foreach (var fragment in fragments) Assert.Contains(fragment, e.Message);
        return e;
    }

    private static void RejectsDisposed(Action call, params string[] fragments)
    {
        var e = Assert.Throws<ObjectDisposedException>(call);
        foreach (var fragment in fragments) Assert.Contains(fragment, e.Message);
    }

    /// <summary>A float tensor filled with the sentinel, to prove that a refused op wrote nothing.</summary>
    private Tensor Filled(params int[] dims)
    {
        var t = Backend.Allocate(dims);
        Backend.Fill(t, Sentinel);
        return t;
    }

    private Tensor Ints(params int[] dims) => Backend.Allocate(new Shape(dims), DataType.Int32);

    private void AssertUntouched(Tensor t, string label)
    {
        var data = Backend.Download(t);
        for (int i = 0; i < data.Length; i++)
            Assert.True(data[i] == Sentinel, $"{label}: element {i} was overwritten with {data[i]} by a refused op");
    }

    // ================================================================ shapes and memory

    [Fact]
    public void Shape_NegativeDimension_IsRejected()
    {
        Rejects(() => new Shape(-1, 3), "(-1, 3)", "negative");
        Rejects(() => Shape.Nchw(1, 3, -2, 4), "(1, 3, -2, 4)", "negative");
        Rejects(() => Backend.Allocate(-1, 3), "(-1, 3)", "negative");
    }

    [Fact]
    public void Shape_RankOutsideOneToFour_IsRejected()
    {
        Rejects(() => new Shape(), "rank 0");
        Rejects(() => new Shape(1, 2, 3, 4, 5), "rank 5");
    }

    [Fact]
    public void Shape_MoreThanIntMaxElements_IsRejected()
    {
        Rejects(() => new Shape(65536, 65536), "(65536, 65536)", "more than");
    }

    [Fact]
    public void Upload_LengthDiffersFromShape_IsRejected()
    {
        Rejects(() => Backend.Upload(new float[5], new Shape(2, 3)), "Upload", "5 values", "(2, 3)", "expected 6");
        Rejects(() => Backend.Upload(new int[7], new Shape(2, 3)), "Upload", "7 values", "(2, 3)");
        using var t = Filled(2, 3);
        Rejects(() => Backend.Upload(new float[7], t), "Upload", "7 values", "(2, 3)");
        AssertUntouched(t, "Upload");
    }

    [Fact]
    public void Download_WrongElementType_IsRejected()
    {
        using var ints = Ints(2);
        using var floats = Backend.Allocate(2);
        Rejects(() => Backend.Download(ints), "Download", "Int32", "Float32");
        Rejects(() => Backend.DownloadInt32(floats), "Download", "Float32", "Int32");
        Rejects(() => Backend.Upload(new float[2], ints), "Upload", "Int32");
    }

    [Fact]
    public void Reshape_ElementCountDiffers_IsRejected()
    {
        using var t = Backend.Allocate(2, 3);
        Rejects(() => t.Reshape(4, 2), "Reshape", "(2, 3)", "(4, 2)");
    }

    [Fact]
    public void TensorFromAnotherBackendInstance_IsRejected()
    {
        using var other = CreateBackend();
        using var xOther = other.Allocate(1, 3, 5, 5);
        using var wOther = other.Allocate(4, 3, 3, 3);
        using var x = Backend.Allocate(1, 3, 5, 5);
        using var w = Backend.Allocate(4, 3, 3, 3);
        using var y = Filled(1, 4, 5, 5);
        var g = Conv2dGeometry.Square(3, pad: 1);
        Rejects(() => Backend.Conv2dForward(xOther, w, null, y, g), "Conv2dForward", "x lives on backend");
        Rejects(() => Backend.Conv2dForward(x, wOther, null, y, g), "Conv2dForward", "w lives on backend");
        AssertUntouched(y, "Conv2dForward");
        Rejects(() => Backend.Download(xOther), "Download", "lives on backend");
        Rejects(() => Backend.ReluBackward(x, xOther, x, ReluRule.Gradient), "ReluBackward", "dy lives on backend");
        Rejects(() => Backend.Copy(x, xOther), "Copy", "destination lives on backend");
        using var a = Backend.Allocate(2, 3);
        using var bOther = other.Allocate(3, 2);
        using var gy = Backend.Allocate(2, 2);
        Rejects(() => Backend.Gemm(a, bOther, null, gy), "Gemm", "b lives on backend");
    }

    [Fact]
    public void DisposedTensor_IsRejected()
    {
        var x = Backend.Allocate(1, 3, 5, 5);
        using var view = x.Reshape(3, 25);
        x.Dispose();
        using var w = Backend.Allocate(4, 3, 3, 3);
        using var y = Filled(1, 4, 5, 5);
        RejectsDisposed(() => Backend.Conv2dForward(x, w, null, y, Conv2dGeometry.Square(3, pad: 1)), "Conv2dForward", "x", "(1, 3, 5, 5)");
        AssertUntouched(y, "Conv2dForward");
        RejectsDisposed(() => Backend.Download(x), "Download", "(1, 3, 5, 5)");
        RejectsDisposed(() => Backend.Upload(new float[75], x), "Upload", "(1, 3, 5, 5)");
        RejectsDisposed(() => Backend.Fill(x, 1f), "Fill", "(1, 3, 5, 5)");
        // A view shares its owner's buffer, so it is dead too.
        RejectsDisposed(() => Backend.ReluForward(view, view), "ReluForward", "(3, 25)");
    }

    /// <summary>A null tensor is a caller bug too: it must be an ArgumentNullException that names the
    /// op, not a NullReferenceException from inside the validation.</summary>
    [Theory]
    [InlineData("Conv2dForward")]
    [InlineData("Conv2dBackwardData")]
    [InlineData("Conv2dBackwardFilter")]
    [InlineData("ReluForward")]
    [InlineData("ReluBackward")]
    [InlineData("MaxPoolForward")]
    [InlineData("MaxPoolBackward")]
    [InlineData("MaxUnpool")]
    [InlineData("AvgPoolForward")]
    [InlineData("AvgPoolBackward")]
    [InlineData("LrnForward")]
    [InlineData("LrnBackward")]
    [InlineData("Gemm")]
    [InlineData("Softmax")]
    [InlineData("SoftmaxBackward")]
    [InlineData("SoftmaxCrossEntropy")]
    [InlineData("DropoutForward")]
    [InlineData("Multiply")]
    [InlineData("Copy")]
    [InlineData("CopyChannels")]
    [InlineData("GaussianBlur")]
    [InlineData("Download")]
    public void NullTensor_IsRejectedWithTheOpName(string op)
    {
        using var t4 = Backend.Allocate(1, 3, 5, 5);
        using var w = Backend.Allocate(3, 3, 3, 3);
        using var ints = Ints(1, 3, 5, 5);
        using var t2 = Backend.Allocate(4, 5);
        using var labels = Ints(4);
        using var losses = Backend.Allocate(4);
        var conv = Conv2dGeometry.Square(3, pad: 1);
        var pool = PoolGeometry.Square(1, 1);
        var lrn = new LrnParameters(3);
        Tensor none = null!;
        Action call = op switch
        {
            "Conv2dForward" => () => Backend.Conv2dForward(none, w, null, t4, conv),
            "Conv2dBackwardData" => () => Backend.Conv2dBackwardData(none, w, t4, conv),
            "Conv2dBackwardFilter" => () => Backend.Conv2dBackwardFilter(none, t4, w, null, conv),
            "ReluForward" => () => Backend.ReluForward(none, t4),
            "ReluBackward" => () => Backend.ReluBackward(none, t4, t4, ReluRule.Gradient),
            "MaxPoolForward" => () => Backend.MaxPoolForward(none, t4, ints, pool),
            "MaxPoolBackward" => () => Backend.MaxPoolBackward(none, ints, t4, pool),
            "MaxUnpool" => () => Backend.MaxUnpool(none, ints, t4),
            "AvgPoolForward" => () => Backend.AvgPoolForward(none, t4, pool),
            "AvgPoolBackward" => () => Backend.AvgPoolBackward(none, t4, pool),
            "LrnForward" => () => Backend.LrnForward(none, t4, w, lrn),
            "LrnBackward" => () => Backend.LrnBackward(none, t4, t4, t4, t4, lrn),
            "Gemm" => () => Backend.Gemm(none, t2, null, t2),
            "Softmax" => () => Backend.Softmax(none, t2),
            "SoftmaxBackward" => () => Backend.SoftmaxBackward(none, t2, t2),
            "SoftmaxCrossEntropy" => () => Backend.SoftmaxCrossEntropy(none, labels, t2, losses, null),
            "DropoutForward" => () => Backend.DropoutForward(none, t4, t4, 0.5f, 1),
            "Multiply" => () => Backend.Multiply(none, t4, t4),
            "Copy" => () => Backend.Copy(none, t4),
            "CopyChannels" => () => Backend.CopyChannels(none, 0, t4, 0, 1),
            "GaussianBlur" => () => Backend.GaussianBlur(none, t4, 1f),
            "Download" => () => Backend.Download(none),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "unknown op"),
        };
        var e = Rejects(call, op);
        Assert.IsType<ArgumentNullException>(e);
    }

    // ================================================================ convolution

    private static readonly Conv2dGeometry Pad1 = Conv2dGeometry.Square(3, pad: 1);

    [Fact]
    public void Conv2dForward_XChannelsDifferFromW_IsRejected()
    {
        using var x = Backend.Allocate(1, 3, 5, 5);
        using var w = Backend.Allocate(4, 2, 3, 3);
        using var y = Filled(1, 4, 5, 5);
        Rejects(() => Backend.Conv2dForward(x, w, null, y, Pad1), "Conv2dForward", "(1, 3, 5, 5)", "(4, 2, 3, 3)");
        AssertUntouched(y, "Conv2dForward");
    }

    [Fact]
    public void Conv2dForward_WrongYShape_IsRejected()
    {
        using var x = Backend.Allocate(1, 3, 5, 5);
        using var w = Backend.Allocate(4, 3, 3, 3);
        using var y = Filled(1, 4, 4, 4);
        Rejects(() => Backend.Conv2dForward(x, w, null, y, Pad1), "Conv2dForward", "y has shape (1, 4, 4, 4)", "(1, 4, 5, 5)");
        AssertUntouched(y, "Conv2dForward");
        using var yRank2 = Filled(4, 25);
        Rejects(() => Backend.Conv2dForward(x, w, null, yRank2, Pad1), "Conv2dForward", "(4, 25)", "(1, 4, 5, 5)");
    }

    [Fact]
    public void Conv2dForward_KernelDiffersFromGeometry_IsRejected()
    {
        using var x = Backend.Allocate(1, 3, 5, 5);
        using var w = Backend.Allocate(4, 3, 3, 3);
        using var y = Filled(1, 4, 5, 5);
        Rejects(() => Backend.Conv2dForward(x, w, null, y, Conv2dGeometry.Square(5, pad: 2)), "Conv2dForward", "(4, 3, 3, 3)", "5x5");
    }

    [Fact]
    public void Conv2dForward_BiasLengthDiffersFromOutputChannels_IsRejected()
    {
        using var x = Backend.Allocate(1, 3, 5, 5);
        using var w = Backend.Allocate(4, 3, 3, 3);
        using var bias = Backend.Allocate(3);
        using var y = Filled(1, 4, 5, 5);
        Rejects(() => Backend.Conv2dForward(x, w, bias, y, Pad1), "Conv2dForward", "bias has shape (3)", "expected (4)");
        AssertUntouched(y, "Conv2dForward");
        using var bias2d = Backend.Allocate(1, 4);
        Rejects(() => Backend.Conv2dForward(x, w, bias2d, y, Pad1), "Conv2dForward", "bias has shape (1, 4)", "expected (4)");
    }

    [Fact]
    public void Conv2dForward_OutputChannelsNotDivisibleByGroups_IsRejected()
    {
        using var x = Backend.Allocate(1, 4, 5, 5);
        using var w = Backend.Allocate(3, 2, 3, 3);
        using var y = Filled(1, 3, 5, 5);
        Rejects(() => Backend.Conv2dForward(x, w, null, y, Conv2dGeometry.Square(3, pad: 1, groups: 2)),
            "Conv2dForward", "(3, 2, 3, 3)", "2 groups");
    }

    [Fact]
    public void Conv2dForward_InputSmallerThanWindow_IsRejected()
    {
        using var x = Backend.Allocate(1, 3, 2, 2);
        using var w = Backend.Allocate(4, 3, 3, 3);
        using var y = Filled(1, 4, 1, 1);
        Rejects(() => Backend.Conv2dForward(x, w, null, y, Conv2dGeometry.Square(3)), "Conv2dForward", "(1, 3, 2, 2)", "smaller");
        // Dilation makes the window larger than the kernel: 3 taps dilated by 3 span 7 pixels.
        using var x6 = Backend.Allocate(1, 3, 6, 6);
        Rejects(() => Backend.Conv2dForward(x6, w, null, y, Conv2dGeometry.Square(3, dilation: 3)), "Conv2dForward", "(1, 3, 6, 6)", "smaller");
    }

    [Fact]
    public void Conv2dForward_WrongRank_IsRejected()
    {
        using var x = Backend.Allocate(3, 5, 5);
        using var w = Backend.Allocate(4, 3, 3, 3);
        using var y = Filled(1, 4, 5, 5);
        Rejects(() => Backend.Conv2dForward(x, w, null, y, Pad1), "Conv2dForward", "(3, 5, 5)", "rank 4");
        using var x4 = Backend.Allocate(1, 3, 5, 5);
        using var w2 = Backend.Allocate(4, 27);
        Rejects(() => Backend.Conv2dForward(x4, w2, null, y, Pad1), "Conv2dForward", "(4, 27)", "rank 4");
    }

    [Fact]
    public void Conv2dBackwardData_MismatchedShapes_AreRejected()
    {
        using var w = Backend.Allocate(4, 3, 3, 3);
        using var dx = Filled(1, 3, 5, 5);
        using var badDy = Backend.Allocate(1, 4, 4, 4);
        Rejects(() => Backend.Conv2dBackwardData(badDy, w, dx, Pad1), "Conv2dBackwardData", "dy has shape (1, 4, 4, 4)", "(1, 4, 5, 5)");
        AssertUntouched(dx, "Conv2dBackwardData");
        using var dy = Backend.Allocate(1, 4, 5, 5);
        using var badDx = Filled(1, 2, 5, 5);
        Rejects(() => Backend.Conv2dBackwardData(dy, w, badDx, Pad1), "Conv2dBackwardData", "(1, 2, 5, 5)", "(4, 3, 3, 3)");
        AssertUntouched(badDx, "Conv2dBackwardData");
    }

    [Fact]
    public void Conv2dBackwardFilter_MismatchedShapes_AreRejected()
    {
        using var x = Backend.Allocate(1, 3, 5, 5);
        using var dy = Backend.Allocate(1, 4, 5, 5);
        using var badDw = Filled(4, 2, 3, 3);
        Rejects(() => Backend.Conv2dBackwardFilter(x, dy, badDw, null, Pad1), "Conv2dBackwardFilter", "(1, 3, 5, 5)", "(4, 2, 3, 3)");
        AssertUntouched(badDw, "Conv2dBackwardFilter");
        using var dw = Filled(4, 3, 3, 3);
        using var badDbias = Filled(5);
        Rejects(() => Backend.Conv2dBackwardFilter(x, dy, dw, badDbias, Pad1), "Conv2dBackwardFilter", "(5)", "expected (4)");
        AssertUntouched(dw, "Conv2dBackwardFilter");
        using var badDy = Backend.Allocate(2, 4, 5, 5);
        Rejects(() => Backend.Conv2dBackwardFilter(x, badDy, dw, null, Pad1), "Conv2dBackwardFilter", "dy has shape (2, 4, 5, 5)", "(1, 4, 5, 5)");
        AssertUntouched(dw, "Conv2dBackwardFilter");
    }

    [Theory]
    [InlineData(0, 3, 1, 1, 0, 1, "kernel 0x3")]
    [InlineData(3, -1, 1, 1, 0, 1, "kernel 3x-1")]
    [InlineData(3, 3, 0, 1, 0, 1, "stride 0x0")]
    [InlineData(3, 3, -2, 1, 0, 1, "stride -2x-2")]
    [InlineData(3, 3, 1, 0, 0, 1, "dilation 0x0")]
    [InlineData(3, 3, 1, -1, 0, 1, "dilation -1x-1")]
    [InlineData(3, 3, 1, 1, -1, 1, "pads (top -1")]
    [InlineData(3, 3, 1, 1, 0, 0, "groups 0")]
    [InlineData(3, 3, 1, 1, 0, -2, "groups -2")]
    public void Conv2d_InvalidGeometry_IsRejectedByEveryConvOp(int kernelH, int kernelW, int stride, int dilation, int pad, int groups, string fragment)
    {
        var g = new Conv2dGeometry(kernelH, kernelW, stride, stride, pad, pad, pad, pad, dilation, dilation, groups);
        using var x = Filled(1, 4, 5, 5);
        using var w = Filled(4, 4, 3, 3);
        using var y = Filled(1, 4, 3, 3);
        Rejects(() => Backend.Conv2dForward(x, w, null, y, g), "Conv2dForward", fragment);
        Rejects(() => Backend.Conv2dBackwardData(y, w, x, g), "Conv2dBackwardData", fragment);
        Rejects(() => Backend.Conv2dBackwardFilter(x, y, w, null, g), "Conv2dBackwardFilter", fragment);
        Rejects(() => Backend.ConvOutputShape(x.Shape, w.Shape, g), fragment);
        AssertUntouched(x, "conv ops");
        AssertUntouched(w, "conv ops");
        AssertUntouched(y, "conv ops");
    }

    [Fact]
    public void Conv2d_AliasedTensors_AreRejected()
    {
        using var x = Filled(1, 3, 5, 5);
        using var w = Backend.Allocate(3, 3, 3, 3);
        // Same shape in and out: only the aliasing is wrong.
        Rejects(() => Backend.Conv2dForward(x, w, null, x, Pad1), "Conv2dForward", "x and y share memory");
        using var view = x.Reshape(1, 3, 5, 5);
        Rejects(() => Backend.Conv2dForward(x, w, null, view, Pad1), "Conv2dForward", "x and y share memory");
        AssertUntouched(x, "Conv2dForward in place");
        Rejects(() => Backend.Conv2dBackwardData(x, w, x, Pad1), "Conv2dBackwardData", "dy and dx share memory");
        Rejects(() => Backend.Conv2dBackwardFilter(x, x, w, null, Pad1), "Conv2dBackwardFilter", "x and dy share memory");
        AssertUntouched(x, "conv backward in place");
    }

    // ================================================================ pooling

    [Theory]
    [InlineData(0, 1, 1, 0, 0, "kernel 0x0")]
    [InlineData(2, 0, 1, 0, 0, "stride 0x0")]
    [InlineData(2, 2, 0, 0, 0, "dilation 0x0")]
    [InlineData(2, 2, 1, -1, 0, "pads (top -1")]
    // Pads beyond the window's reach, (kernel - 1) * dilation, would make windows of padding only.
    [InlineData(2, 2, 1, 2, 0, "pads (top 2, left 2, bottom 2, right 2) must not exceed the window's reach (1 rows, 1 columns)")]
    [InlineData(3, 1, 1, 0, 3, "right 3) must not exceed the window's reach (2 rows, 2 columns)")]
    [InlineData(2, 1, 2, 3, 0, "must not exceed the window's reach (2 rows, 2 columns)")]
    public void Pool_InvalidGeometry_IsRejectedByEveryPoolOp(int kernel, int stride, int dilation, int pad, int padRight, string fragment)
    {
        var g = new PoolGeometry(kernel, kernel, stride, stride, pad, pad, pad, padRight == 0 ? pad : padRight, dilation, dilation);
        using var x = Filled(1, 2, 6, 6);
        using var y = Filled(1, 2, 3, 3);
        using var switches = Ints(1, 2, 3, 3);
        Rejects(() => Backend.MaxPoolForward(x, y, switches, g), "MaxPoolForward", fragment);
        Rejects(() => Backend.MaxPoolBackward(y, switches, x, g), "MaxPoolBackward", fragment);
        Rejects(() => Backend.AvgPoolForward(x, y, g), "AvgPoolForward", fragment);
        Rejects(() => Backend.AvgPoolBackward(y, x, g), "AvgPoolBackward", fragment);
        Rejects(() => Backend.PoolOutputShape(x.Shape, g), fragment);
        AssertUntouched(x, "pool ops");
        AssertUntouched(y, "pool ops");
    }

    [Fact]
    public void MaxPoolForward_MismatchedOutputs_AreRejected()
    {
        var g = PoolGeometry.Square(2, 2);
        using var x = Backend.Allocate(1, 2, 6, 6);
        using var badY = Filled(1, 2, 2, 2);
        using var switches = Ints(1, 2, 3, 3);
        Rejects(() => Backend.MaxPoolForward(x, badY, switches, g), "MaxPoolForward", "y has shape (1, 2, 2, 2)", "(1, 2, 3, 3)");
        AssertUntouched(badY, "MaxPoolForward");
        using var y = Filled(1, 2, 3, 3);
        using var floatSwitches = Backend.Allocate(1, 2, 3, 3);
        Rejects(() => Backend.MaxPoolForward(x, y, floatSwitches, g), "MaxPoolForward", "switches", "Float32", "Int32");
        using var badSwitches = Ints(1, 2, 2, 2);
        Rejects(() => Backend.MaxPoolForward(x, y, badSwitches, g), "MaxPoolForward", "switches has shape (1, 2, 2, 2)", "(1, 2, 3, 3)");
        AssertUntouched(y, "MaxPoolForward");
        using var tiny = Backend.Allocate(1, 2, 2, 2);
        Rejects(() => Backend.MaxPoolForward(tiny, y, switches, PoolGeometry.Square(3, 1)), "MaxPoolForward", "(1, 2, 2, 2)", "smaller");
        using var rank2 = Backend.Allocate(2, 36);
        Rejects(() => Backend.MaxPoolForward(rank2, y, switches, g), "MaxPoolForward", "(2, 36)", "rank 4");
    }

    [Fact]
    public void MaxPoolBackward_WrongDyShape_IsRejected()
    {
        var g = PoolGeometry.Square(2, 2);
        using var dy = Backend.Allocate(1, 2, 2, 2);
        using var switches = Ints(1, 2, 2, 2);
        using var dx = Filled(1, 2, 6, 6);
        Rejects(() => Backend.MaxPoolBackward(dy, switches, dx, g), "MaxPoolBackward", "dy has shape (1, 2, 2, 2)", "(1, 2, 3, 3)");
        AssertUntouched(dx, "MaxPoolBackward");
    }

    /// <summary>Switches of the wrong type or shape given to MaxPoolBackward: the error must name the
    /// op the caller called (MaxPoolBackward), not only the op it delegates to.</summary>
    [Fact]
    public void MaxPoolBackward_BadSwitches_AreRejectedNamingMaxPoolBackward()
    {
        var g = PoolGeometry.Square(2, 2);
        using var dy = Backend.Allocate(1, 2, 3, 3);
        using var dx = Filled(1, 2, 6, 6);
        using var floatSwitches = Backend.Allocate(1, 2, 3, 3);
        Rejects(() => Backend.MaxPoolBackward(dy, floatSwitches, dx, g), "switches", "Float32", "Int32");
        using var badSwitches = Ints(1, 2, 3, 2);
        Rejects(() => Backend.MaxPoolBackward(dy, badSwitches, dx, g), "switches has shape (1, 2, 3, 2)", "(1, 2, 3, 3)");
        AssertUntouched(dx, "MaxPoolBackward");
        Rejects(() => Backend.MaxPoolBackward(dy, floatSwitches, dx, g), "MaxPoolBackward");
        Rejects(() => Backend.MaxPoolBackward(dy, badSwitches, dx, g), "MaxPoolBackward");
    }

    [Fact]
    public void MaxUnpool_MismatchedShapes_AreRejected()
    {
        using var y = Backend.Allocate(1, 3, 2, 2);
        using var switches = Ints(1, 3, 2, 2);
        using var x = Filled(1, 2, 4, 4);
        Rejects(() => Backend.MaxUnpool(y, switches, x), "MaxUnpool", "x has shape (1, 2, 4, 4)", "(1, 3, 2, 2)");
        AssertUntouched(x, "MaxUnpool");
        using var x3 = Filled(1, 3, 4, 4);
        using var badSwitches = Ints(1, 3, 2, 3);
        Rejects(() => Backend.MaxUnpool(y, badSwitches, x3), "MaxUnpool", "switches has shape (1, 3, 2, 3)", "(1, 3, 2, 2)");
        using var floatSwitches = Backend.Allocate(1, 3, 2, 2);
        Rejects(() => Backend.MaxUnpool(y, floatSwitches, x3), "MaxUnpool", "switches", "Float32", "Int32");
        using var yRank3 = Backend.Allocate(3, 2, 2);
        using var switchesRank3 = Ints(3, 2, 2);
        Rejects(() => Backend.MaxUnpool(yRank3, switchesRank3, x3), "MaxUnpool", "(3, 2, 2)", "rank 4");
        AssertUntouched(x3, "MaxUnpool");
    }

    [Fact]
    public void AvgPool_MismatchedShapes_AreRejected()
    {
        var g = PoolGeometry.Square(3, 2, pad: 1);
        using var x = Backend.Allocate(1, 2, 6, 6);
        using var badY = Filled(1, 2, 4, 4);
        Rejects(() => Backend.AvgPoolForward(x, badY, g), "AvgPoolForward", "y has shape (1, 2, 4, 4)", "(1, 2, 3, 3)");
        AssertUntouched(badY, "AvgPoolForward");
        using var badDy = Backend.Allocate(1, 3, 3, 3);
        using var dx = Filled(1, 2, 6, 6);
        Rejects(() => Backend.AvgPoolBackward(badDy, dx, g), "AvgPoolBackward", "dy has shape (1, 3, 3, 3)", "(1, 2, 3, 3)");
        AssertUntouched(dx, "AvgPoolBackward");
    }

    [Fact]
    public void Pool_AliasedTensors_AreRejected()
    {
        var identity = PoolGeometry.Square(1, 1); // output shape = input shape: only the aliasing is wrong
        using var x = Filled(1, 2, 4, 4);
        using var switches = Ints(1, 2, 4, 4);
        Rejects(() => Backend.MaxPoolForward(x, x, switches, identity), "MaxPoolForward", "x and y share memory");
        Rejects(() => Backend.AvgPoolForward(x, x, identity), "AvgPoolForward", "x and y share memory");
        Rejects(() => Backend.AvgPoolBackward(x, x, identity), "AvgPoolBackward", "dy and dx share memory");
        Rejects(() => Backend.MaxUnpool(x, switches, x), "MaxUnpool", "y and x share memory");
        AssertUntouched(x, "pool in place");
    }

    // ================================================================ relu

    [Fact]
    public void Relu_MismatchedShapes_AreRejected()
    {
        using var x = Backend.Allocate(2, 3);
        using var y = Filled(3, 2);
        Rejects(() => Backend.ReluForward(x, y), "ReluForward", "y has shape (3, 2)", "expected (2, 3)");
        AssertUntouched(y, "ReluForward");
        using var dy = Backend.Allocate(6);
        using var dx = Filled(2, 3);
        Rejects(() => Backend.ReluBackward(x, dy, dx, ReluRule.Gradient), "ReluBackward", "dy has shape (6)", "expected (2, 3)");
        Rejects(() => Backend.ReluBackward(x, x, y, ReluRule.Guided), "ReluBackward", "dx has shape (3, 2)", "expected (2, 3)");
        AssertUntouched(dx, "ReluBackward");
        using var ints = Ints(2, 3);
        Rejects(() => Backend.ReluForward(ints, dx), "ReluForward", "Int32");
    }

    [Fact]
    public void ReluBackward_UnknownRule_IsRejected()
    {
        using var x = Backend.Allocate(2, 3);
        using var dx = Filled(2, 3);
        Rejects(() => Backend.ReluBackward(x, x, dx, (ReluRule)7), "ReluBackward", "rule 7");
        AssertUntouched(dx, "ReluBackward");
    }

    // ================================================================ lrn

    [Theory]
    [InlineData(0, 1e-4f, 1f, "size 0")]
    [InlineData(-3, 1e-4f, 1f, "size -3")]
    [InlineData(5, 1e-4f, 0f, "bias 0")]
    [InlineData(5, 1e-4f, -1f, "bias -1")]
    [InlineData(5, 1e-4f, float.NaN, "bias NaN")]
    [InlineData(5, -1f, 1f, "alpha -1")]
    [InlineData(5, float.NaN, 1f, "alpha NaN")]
    public void Lrn_InvalidParameters_AreRejected(int size, float alpha, float bias, string fragment)
    {
        var p = new LrnParameters(size, alpha, 0.75f, bias);
        using var x = Backend.Allocate(1, 4, 2, 2);
        using var y = Filled(1, 4, 2, 2);
        using var scale = Filled(1, 4, 2, 2);
        using var dy = Backend.Allocate(1, 4, 2, 2);
        using var dx = Filled(1, 4, 2, 2);
        Rejects(() => Backend.LrnForward(x, y, scale, p), "LrnForward", fragment);
        Rejects(() => Backend.LrnBackward(x, y, scale, dy, dx, p), "LrnBackward", fragment);
        AssertUntouched(y, "LrnForward");
        AssertUntouched(dx, "LrnBackward");
    }

    [Fact]
    public void Lrn_MismatchedShapes_AreRejected()
    {
        var p = new LrnParameters(5);
        using var x2 = Backend.Allocate(2, 3);
        using var y2 = Filled(2, 3);
        using var s2 = Filled(2, 3);
        Rejects(() => Backend.LrnForward(x2, y2, s2, p), "LrnForward", "(2, 3)", "rank 4");
        using var x = Backend.Allocate(1, 4, 2, 2);
        using var y = Filled(1, 4, 2, 2);
        using var badScale = Filled(1, 4, 2, 1);
        Rejects(() => Backend.LrnForward(x, y, badScale, p), "LrnForward", "scale has shape (1, 4, 2, 1)", "(1, 4, 2, 2)");
        AssertUntouched(y, "LrnForward");
        using var scale = Filled(1, 4, 2, 2);
        using var badDy = Backend.Allocate(1, 3, 2, 2);
        using var dx = Filled(1, 4, 2, 2);
        Rejects(() => Backend.LrnBackward(x, y, scale, badDy, dx, p), "LrnBackward", "dy has shape (1, 3, 2, 2)", "(1, 4, 2, 2)");
        AssertUntouched(dx, "LrnBackward");
    }

    [Fact]
    public void Lrn_AliasedTensors_AreRejected()
    {
        var p = new LrnParameters(3);
        using var x = Filled(1, 4, 2, 2);
        using var y = Filled(1, 4, 2, 2);
        using var scale = Filled(1, 4, 2, 2);
        using var dy = Filled(1, 4, 2, 2);
        Rejects(() => Backend.LrnForward(x, x, scale, p), "LrnForward", "x and y share memory");
        Rejects(() => Backend.LrnForward(x, y, y, p), "LrnForward", "y and scale share memory");
        Rejects(() => Backend.LrnBackward(x, y, scale, dy, dy, p), "LrnBackward", "dy and dx share memory");
        foreach (var t in new[] { x, y, scale, dy }) AssertUntouched(t, "LRN in place");
    }

    // ================================================================ gemm

    [Fact]
    public void Gemm_InnerDimensionsDiffer_IsRejected()
    {
        using var a = Backend.Allocate(2, 3);
        using var b = Backend.Allocate(4, 5);
        using var y = Filled(2, 5);
        Rejects(() => Backend.Gemm(a, b, null, y), "Gemm", "inner dimensions", "(2, 3)", "(4, 5)");
        AssertUntouched(y, "Gemm");
        using var aT = Backend.Allocate(3, 2);
        using var bT = Backend.Allocate(5, 4);
        Rejects(() => Backend.Gemm(aT, bT, null, y, transA: true, transB: true), "Gemm", "inner dimensions", "(3, 2) transposed", "(5, 4) transposed");
    }

    [Fact]
    public void Gemm_MismatchedOutputAndBias_AreRejected()
    {
        using var a = Backend.Allocate(2, 3);
        using var b = Backend.Allocate(3, 5);
        using var badY = Filled(5, 2);
        Rejects(() => Backend.Gemm(a, b, null, badY), "Gemm", "y has shape (5, 2)", "expected (2, 5)");
        AssertUntouched(badY, "Gemm");
        using var y = Filled(2, 5);
        using var c3 = Backend.Allocate(3);
        Rejects(() => Backend.Gemm(a, b, c3, y), "Gemm", "c has shape (3)", "(2, 5)");
        using var c52 = Backend.Allocate(5, 2);
        Rejects(() => Backend.Gemm(a, b, c52, y), "Gemm", "c has shape (5, 2)", "(2, 5)");
        using var c3d = Backend.Allocate(1, 2, 5);
        Rejects(() => Backend.Gemm(a, b, c3d, y), "Gemm", "c has shape (1, 2, 5)");
        AssertUntouched(y, "Gemm");
    }

    [Fact]
    public void Gemm_OperandNotAMatrix_IsRejected()
    {
        using var a = Backend.Allocate(2, 3, 1);
        using var b = Backend.Allocate(3, 5);
        using var y = Filled(2, 5);
        Rejects(() => Backend.Gemm(a, b, null, y), "Gemm", "a has shape (2, 3, 1)", "rank 2");
        using var b1 = Backend.Allocate(15);
        using var a2 = Backend.Allocate(2, 3);
        Rejects(() => Backend.Gemm(a2, b1, null, y), "Gemm", "b has shape (15)", "rank 2");
        AssertUntouched(y, "Gemm");
    }

    [Fact]
    public void Gemm_OutputAliasingAnOperand_IsRejected()
    {
        using var a = Filled(3, 3);
        using var b = Filled(3, 3);
        Rejects(() => Backend.Gemm(a, b, null, a), "Gemm", "a and y share memory");
        Rejects(() => Backend.Gemm(a, b, null, b), "Gemm", "b and y share memory");
        AssertUntouched(a, "Gemm");
        AssertUntouched(b, "Gemm");
    }

    // ================================================================ softmax and loss

    [Theory]
    [InlineData(new[] { 2, 3 }, 2, "axis 2", "(2, 3)")]
    [InlineData(new[] { 2, 3 }, -3, "axis -3", "(2, 3)")]
    [InlineData(new[] { 2, 3, 4, 5 }, 4, "axis 4", "(2, 3, 4, 5)")]
    [InlineData(new[] { 2, 3, 4, 5 }, -5, "axis -5", "(2, 3, 4, 5)")]
    public void Softmax_AxisOutOfRange_IsRejected(int[] dims, int axis, string axisText, string shapeText)
    {
        using var x = Backend.Allocate(dims);
        using var y = Filled(dims);
        using var dx = Filled(dims);
        Rejects(() => Backend.Softmax(x, y, axis), "Softmax", axisText, shapeText);
        Rejects(() => Backend.SoftmaxBackward(y, x, dx, axis), "SoftmaxBackward", axisText, shapeText);
        AssertUntouched(y, "Softmax");
        AssertUntouched(dx, "SoftmaxBackward");
    }

    [Fact]
    public void Softmax_MismatchedShapesAndAliasing_AreRejected()
    {
        using var x = Backend.Allocate(2, 3);
        using var badY = Filled(3, 2);
        Rejects(() => Backend.Softmax(x, badY), "Softmax", "y has shape (3, 2)", "expected (2, 3)");
        AssertUntouched(badY, "Softmax");
        using var y = Filled(2, 3);
        using var badDy = Backend.Allocate(6);
        using var dx = Filled(2, 3);
        Rejects(() => Backend.SoftmaxBackward(y, badDy, dx), "SoftmaxBackward", "dy has shape (6)", "expected (2, 3)");
        Rejects(() => Backend.SoftmaxBackward(y, x, y), "SoftmaxBackward", "y and dx share memory");
        AssertUntouched(y, "SoftmaxBackward");
        AssertUntouched(dx, "SoftmaxBackward");
    }

    [Fact]
    public void SoftmaxCrossEntropy_BadLabelsAndShapes_AreRejected()
    {
        using var logits = Backend.Allocate(4, 5);
        using var probs = Filled(4, 5);
        using var losses = Filled(4);
        using var floatLabels = Backend.Allocate(4);
        Rejects(() => Backend.SoftmaxCrossEntropy(logits, floatLabels, probs, losses, null), "SoftmaxCrossEntropy", "labels", "Float32", "Int32");
        using var shortLabels = Ints(3);
        Rejects(() => Backend.SoftmaxCrossEntropy(logits, shortLabels, probs, losses, null), "SoftmaxCrossEntropy", "labels has shape (3)", "expected (4)");
        using var labels = Ints(4);
        using var badLosses = Filled(4, 1);
        Rejects(() => Backend.SoftmaxCrossEntropy(logits, labels, probs, badLosses, null), "SoftmaxCrossEntropy", "losses has shape (4, 1)", "expected (4)");
        using var badDlogits = Filled(5, 4);
        Rejects(() => Backend.SoftmaxCrossEntropy(logits, labels, probs, losses, badDlogits), "SoftmaxCrossEntropy", "dlogits has shape (5, 4)", "expected (4, 5)");
        using var logits4d = Backend.Allocate(4, 5, 1, 1);
        Rejects(() => Backend.SoftmaxCrossEntropy(logits4d, labels, probs, losses, null), "SoftmaxCrossEntropy", "(4, 5, 1, 1)", "rank 2");
        Rejects(() => Backend.SoftmaxCrossEntropy(probs, labels, probs, losses, null), "SoftmaxCrossEntropy", "logits and probs share memory");
        AssertUntouched(probs, "SoftmaxCrossEntropy");
        AssertUntouched(losses, "SoftmaxCrossEntropy");
    }

    [Theory]
    [InlineData(7)]
    [InlineData(5)]
    [InlineData(-1)]
    public void SoftmaxCrossEntropy_LabelOutOfRange_IsRejected(int badLabel)
    {
        using var logits = Backend.Allocate(4, 5);
        using var labels = Backend.Upload(new[] { 0, badLabel, 4, 2 }, new Shape(4));
        using var probs = Backend.Allocate(4, 5);
        using var losses = Backend.Allocate(4);
        Rejects(() => Backend.SoftmaxCrossEntropy(logits, labels, probs, losses, null), "SoftmaxCrossEntropy", $"label {badLabel}", "[0, 5)");
    }

    // ================================================================ dropout

    [Theory]
    [InlineData(1f, "ratio 1 ")]
    [InlineData(1.5f, "ratio 1.5")]
    [InlineData(-0.1f, "ratio -0.1")]
    [InlineData(float.NaN, "ratio NaN")]
    public void DropoutForward_RatioOutsideZeroToOne_IsRejected(float ratio, string fragment)
    {
        using var x = Backend.Allocate(2, 3);
        using var y = Filled(2, 3);
        using var mask = Filled(2, 3);
        Rejects(() => Backend.DropoutForward(x, y, mask, ratio, 1), "DropoutForward", fragment);
        AssertUntouched(y, "DropoutForward");
        AssertUntouched(mask, "DropoutForward");
    }

    [Fact]
    public void DropoutForward_MismatchedShapesAndAliasing_AreRejected()
    {
        using var x = Filled(2, 3);
        using var y = Filled(2, 3);
        using var badMask = Filled(3, 2);
        Rejects(() => Backend.DropoutForward(x, y, badMask, 0.5f, 1), "DropoutForward", "mask has shape (3, 2)", "expected (2, 3)");
        using var badY = Filled(6);
        Rejects(() => Backend.DropoutForward(x, badY, y, 0.5f, 1), "DropoutForward", "y has shape (6)", "expected (2, 3)");
        Rejects(() => Backend.DropoutForward(x, y, x, 0.5f, 1), "DropoutForward", "x and mask share memory");
        Rejects(() => Backend.DropoutForward(x, y, y, 0.5f, 1), "DropoutForward", "y and mask share memory");
        foreach (var t in new[] { x, y, badMask, badY }) AssertUntouched(t, "DropoutForward");
    }

    // ================================================================ element-wise

    [Fact]
    public void ElementWise_MismatchedShapes_AreRejected()
    {
        using var a = Backend.Allocate(2, 3);
        using var b = Backend.Allocate(2, 4);
        using var y = Filled(2, 3);
        Rejects(() => Backend.Multiply(a, b, y), "Multiply", "b has shape (2, 4)", "expected (2, 3)");
        using var flat = Filled(6);
        Rejects(() => Backend.Multiply(a, a, flat), "Multiply", "y has shape (6)", "expected (2, 3)");
        Rejects(() => Backend.Axpy(2f, a, flat), "Axpy", "y has shape (6)", "expected (2, 3)");
        AssertUntouched(y, "Multiply");
        AssertUntouched(flat, "Multiply/Axpy");
        using var ints = Ints(2, 3);
        Rejects(() => Backend.Scale(ints, 2f), "Scale", "Int32");
        Rejects(() => Backend.Fill(ints, 2f), "Fill", "Int32");
        Rejects(() => Backend.Clamp(ints, 0f, 1f), "Clamp", "Int32");
    }

    [Fact]
    public void Copy_ElementCountsOrTypesDiffer_AreRejected()
    {
        using var source = Backend.Allocate(2, 4);
        using var destination = Filled(2, 3);
        Rejects(() => Backend.Copy(source, destination), "Copy", "(2, 3)", "6 elements", "8 elements", "(2, 4)");
        AssertUntouched(destination, "Copy");
        using var ints = Ints(6);
        Rejects(() => Backend.Copy(ints, destination), "Copy", "destination", "Float32", "Int32");
        AssertUntouched(destination, "Copy");
        // The same count under another shape is a legal flatten.
        using var flat = Backend.Allocate(6);
        Backend.Copy(destination, flat);
        AssertUntouched(flat, "Copy (flatten)");
    }

    [Fact]
    public void CopyChannels_MismatchedItemsOrPlanes_AreRejected()
    {
        using var source = Backend.Allocate(2, 3, 4, 5);
        using var otherN = Filled(3, 6, 4, 5);
        using var otherH = Filled(2, 6, 5, 5);
        using var otherW = Filled(2, 6, 4, 4);
        using var rank2 = Filled(2, 6);
        using var rank3 = Filled(2, 6, 20);
        Rejects(() => Backend.CopyChannels(source, 0, otherN, 0, 3), "CopyChannels", "destination has shape (3, 6, 4, 5)", "expected (2, C, 4, 5)", "source (2, 3, 4, 5)");
        Rejects(() => Backend.CopyChannels(source, 0, otherH, 0, 3), "CopyChannels", "destination has shape (2, 6, 5, 5)", "expected (2, C, 4, 5)");
        Rejects(() => Backend.CopyChannels(source, 0, otherW, 0, 3), "CopyChannels", "destination has shape (2, 6, 4, 4)", "expected (2, C, 4, 5)");
        Rejects(() => Backend.CopyChannels(source, 0, rank2, 0, 3), "CopyChannels", "destination has shape (2, 6)", "expected (2, C, 4, 5)");
        Rejects(() => Backend.CopyChannels(source, 0, rank3, 0, 3), "CopyChannels", "destination has shape (2, 6, 20)", "rank 2 (N, C) or 4 (N, C, H, W)");
        using var source2 = Backend.Allocate(2, 3);
        Rejects(() => Backend.CopyChannels(source2, 0, otherN, 0, 3), "CopyChannels", "destination has shape (3, 6, 4, 5)", "expected (2, C)", "source (2, 3)");
        foreach (var t in new[] { otherN, otherH, otherW, rank2, rank3 }) AssertUntouched(t, "CopyChannels");
    }

    [Theory]
    [InlineData(-1, 0, 2, "source channels [-1, 1)", "source (2, 3, 4, 5)")]
    [InlineData(2, 0, 2, "source channels [2, 4)", "source (2, 3, 4, 5)")]
    [InlineData(0, -1, 2, "destination channels [-1, 1)", "destination (2, 6, 4, 5)")]
    [InlineData(0, 5, 2, "destination channels [5, 7)", "destination (2, 6, 4, 5)")]
    [InlineData(0, 0, 4, "source channels [0, 4)", "source (2, 3, 4, 5)")]
    [InlineData(0, 0, 0, "channels 0", "(2, 3, 4, 5)")]
    [InlineData(0, 0, -3, "channels -3", "(2, 6, 4, 5)")]
    [InlineData(int.MaxValue, 0, 2, "source channels [2147483647, 2147483649)", "source (2, 3, 4, 5)")]
    public void CopyChannels_ChannelRangeOutsideEitherTensor_IsRejected(int sourceChannel, int destinationChannel, int channels, string range, string shape)
    {
        using var source = Backend.Allocate(2, 3, 4, 5);
        using var destination = Filled(2, 6, 4, 5);
        Rejects(() => Backend.CopyChannels(source, sourceChannel, destination, destinationChannel, channels), "CopyChannels", range, shape);
        AssertUntouched(destination, "CopyChannels");
    }

    [Fact]
    public void CopyChannels_SameBufferOrWrongElementType_IsRejected()
    {
        using var x = Filled(2, 6, 4, 5);
        using var view = x.Reshape(2, 6, 4, 5);
        Rejects(() => Backend.CopyChannels(x, 0, x, 3, 3), "CopyChannels", "source (2, 6, 4, 5) and destination (2, 6, 4, 5) share memory");
        Rejects(() => Backend.CopyChannels(x, 0, view, 3, 3), "CopyChannels", "source (2, 6, 4, 5) and destination (2, 6, 4, 5) share memory");
        AssertUntouched(x, "CopyChannels");
        using var ints = Ints(2, 3, 4, 5);
        Rejects(() => Backend.CopyChannels(ints, 0, x, 0, 3), "CopyChannels", "source (2, 3, 4, 5)", "Int32", "Float32");
        using var intDestination = Ints(2, 6, 4, 5);
        using var source = Backend.Allocate(2, 3, 4, 5);
        Rejects(() => Backend.CopyChannels(source, 0, intDestination, 0, 3), "CopyChannels", "destination (2, 6, 4, 5)", "Int32", "Float32");
        Assert.All(Backend.DownloadInt32(intDestination), v => Assert.Equal(0, v));
        AssertUntouched(x, "CopyChannels");
    }

    [Fact]
    public void Clamp_LowAboveHigh_IsRejected()
    {
        using var x = Filled(2, 3);
        Rejects(() => Backend.Clamp(x, 2f, 1f), "Clamp", "low 2", "high 1");
        Rejects(() => Backend.Clamp(x, float.NaN, 1f), "Clamp", "low NaN");
        Rejects(() => Backend.Clamp(x, 0f, float.NaN), "Clamp", "high NaN");
        AssertUntouched(x, "Clamp");
    }

    // ================================================================ gaussian blur

    [Theory]
    [InlineData(-1f, "sigma -1")]
    [InlineData(-0.5f, "sigma -0.5")]
    [InlineData(float.NaN, "sigma NaN")]
    [InlineData(float.PositiveInfinity, "sigma ")]
    public void GaussianBlur_BadSigma_IsRejected(float sigma, string fragment)
    {
        using var x = Backend.Allocate(1, 1, 4, 4);
        using var y = Filled(1, 1, 4, 4);
        Rejects(() => Backend.GaussianBlur(x, y, sigma), "GaussianBlur", fragment);
        AssertUntouched(y, "GaussianBlur");
    }

    [Fact]
    public void GaussianBlur_MismatchedShapesAndAliasing_AreRejected()
    {
        using var x2 = Backend.Allocate(4, 4);
        using var y2 = Filled(4, 4);
        Rejects(() => Backend.GaussianBlur(x2, y2, 1f), "GaussianBlur", "(4, 4)", "rank 4");
        using var x = Filled(1, 1, 4, 4);
        using var badY = Filled(1, 1, 4, 5);
        Rejects(() => Backend.GaussianBlur(x, badY, 1f), "GaussianBlur", "y has shape (1, 1, 4, 5)", "(1, 1, 4, 4)");
        Rejects(() => Backend.GaussianBlur(x, x, 1f), "GaussianBlur", "x and y share memory");
        Rejects(() => Backend.GaussianBlur(x, x, 0f), "GaussianBlur", "x and y share memory");
        foreach (var t in new[] { y2, x, badY }) AssertUntouched(t, "GaussianBlur");
    }
}
