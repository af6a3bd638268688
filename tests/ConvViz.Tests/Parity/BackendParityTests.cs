using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Parity;

/// <summary>
/// Every op of the backend under test against the Reference backend on the same inputs: AlexNet's
/// exact layer shapes and odd ones (1x1 images, channel counts that are not a multiple of the
/// vector width, batch 3, lengths 0..257 for element-wise ops).
/// </summary>
public abstract class BackendParityTests : BackendTest
{
    private readonly Backend reference = CreateReference();

    /// <summary>
    /// Compares with a tolerance relative to the tensor's own scale: the fast path accumulates in
    /// float (in a different order), the Reference in double, so an output that sums K products of
    /// size ~s may differ by ~K·eps·s while being individually near zero.
    /// </summary>
    private void AssertSame(float[] expected, float[] actual, string label, Shape shape)
    {
        double scale = expected.Length == 0 ? 1 : Math.Max(1e-3, expected.Max(v => Math.Abs((double)v)));
        TensorAssert.Close(expected, actual, Tolerance.Atol * scale, Tolerance.Rtol, $"{Backend.Name} vs reference: {label}", shape);
    }

    /// <summary>Runs op on both backends with copies of the same inputs and compares each output.</summary>
    private void Compare(string label, float[][] inputs, Shape[] inputShapes, Shape[] outputShapes, Action<Backend, Tensor[], Tensor[]> op)
    {
        float[][] Run(Backend b)
        {
            var ins = inputs.Select((d, i) => b.Upload(d, inputShapes[i])).ToArray();
            var outs = outputShapes.Select(s => b.Allocate(s)).ToArray();
            try
            {
                op(b, ins, outs);
                return outs.Select(b.Download).ToArray();
            }
            finally
            {
                foreach (var t in ins.Concat(outs)) t.Dispose();
            }
        }
        var expected = Run(reference);
        var actual = Run(Backend);
        for (int i = 0; i < expected.Length; i++) AssertSame(expected[i], actual[i], $"{label} output {i}", outputShapes[i]);
    }

    public static TheoryData<string, int[], int[], int, int, int> ConvCases => new()
    {
        // name, x (N,C,H,W), w (K,C/G,R,S), stride, pad, groups
        { "alexnet conv1", [1, 3, 227, 227], [96, 3, 11, 11], 4, 0, 1 },
        { "alexnet conv2", [1, 96, 27, 27], [256, 48, 5, 5], 1, 2, 2 },
        { "alexnet conv3", [1, 256, 13, 13], [384, 256, 3, 3], 1, 1, 1 },
        { "alexnet conv4", [1, 384, 13, 13], [384, 192, 3, 3], 1, 1, 2 },
        { "alexnet conv5", [1, 384, 13, 13], [256, 192, 3, 3], 1, 1, 2 },
        { "odd channels batch 3", [3, 5, 9, 11], [7, 5, 3, 3], 2, 1, 1 },
        { "1x1 image", [2, 17, 1, 1], [19, 17, 1, 1], 1, 0, 1 },
        { "1x1 image padded 3x3", [3, 3, 1, 1], [5, 3, 3, 3], 1, 1, 1 },
        { "pointwise groups 3", [2, 9, 6, 5], [6, 3, 1, 1], 1, 0, 3 },
        { "wide stride 3", [1, 4, 20, 23], [33, 4, 5, 5], 3, 2, 1 },
    };

    [Theory]
    [MemberData(nameof(ConvCases))]
    public void Conv2dMatchesReference(string name, int[] xDims, int[] wDims, int stride, int pad, int groups)
    {
        var g = Conv2dGeometry.Square(wDims[2], stride, pad, groups);
        RunConv(name, new Shape(xDims), new Shape(wDims), g);
    }

    [Fact]
    public void Conv2dWithAsymmetricPadsAndDilationMatchesReference() =>
        RunConv("asymmetric pads, dilation 2", Shape.Nchw(3, 6, 13, 10), new Shape(10, 3, 3, 2),
            new Conv2dGeometry(3, 2, 2, 1, PadTop: 1, PadLeft: 0, PadBottom: 2, PadRight: 3, DilationH: 2, DilationW: 3, Groups: 2));

    // Output channels per group a multiple of 32 select the Cpu backend's direct convolution (see
    // DirectConvolution.Applies); these cover its strips (a row wider and narrower than 14 pixels),
    // padding copy, groups, dilation and each supported column stride, plus a stride it leaves to
    // im2col; the last two have whole channel blocks on the input side as well.
    [Theory]
    [InlineData(1, 1, 2, 0, 1, 1, 4)]
    [InlineData(2, 2, 2, 1, 2, 1, 4)]
    [InlineData(1, 4, 2, 3, 1, 2, 4)]
    [InlineData(3, 3, 1, 2, 1, 1, 4)]
    [InlineData(1, 1, 1, 0, 1, 2, 32)]
    [InlineData(1, 1, 2, 1, 2, 1, 64)]
    public void Conv2dWithWholeChannelBlocksMatchesReference(int strideH, int strideW, int dilation, int padBottom, int groups, int batch, int inputChannelsPerGroup) =>
        RunConv($"64 channels per group, {inputChannelsPerGroup} inputs per group, stride {strideH}x{strideW}, dilation {dilation}, groups {groups}",
            Shape.Nchw(batch, inputChannelsPerGroup * groups, 19, 37),
            new Shape(64 * groups, inputChannelsPerGroup, 3, 2),
            new Conv2dGeometry(3, 2, strideH, strideW, PadTop: 1, PadLeft: 1, PadBottom: padBottom, PadRight: 0, DilationH: dilation, DilationW: dilation, Groups: groups));

    // ResNet's convolution geometries, one per Cpu path, at sizes that keep the Reference passes
    // short: the 7x7 stride-2 stem with the CNTK ResNet-18's asymmetric pads (at 112x112, 56-pixel
    // output rows) and the 3x3 stride-2 layer to 28x28 take the direct convolution (whole strips
    // on AVX2 and AVX-512), a 28-wide 3x3 stride 1 takes Winograd F(2x2, 3x3), a 1x1 stride-2
    // projection (its real size) and a 7-wide 3x3 take im2col + SGEMM, and a stride-4 row of 24
    // pixels covers the direct kernel's widest column stride.
    public static TheoryData<string, int[], int[], Conv2dGeometry> ResNetConvCases => new()
    {
        { "resnet stem 7x7 stride 2 pads [3,3,2,2]", [1, 3, 112, 112], [64, 3, 7, 7], new Conv2dGeometry(7, 7, 2, 2, PadTop: 3, PadLeft: 3, PadBottom: 2, PadRight: 2) },
        { "resnet 3x3 at 28x28", [1, 64, 28, 28], [64, 64, 3, 3], Conv2dGeometry.Square(3, 1, 1) },
        { "resnet 3x3 stride 2 pads [1,1,0,0] to 28x28", [1, 64, 56, 56], [128, 64, 3, 3], new Conv2dGeometry(3, 3, 2, 2, PadTop: 1, PadLeft: 1) },
        { "resnet 1x1 stride 2 projection", [1, 64, 56, 56], [128, 64, 1, 1], Conv2dGeometry.Square(1, 2, 0) },
        { "resnet 3x3 at 7x7", [1, 64, 7, 7], [128, 64, 3, 3], Conv2dGeometry.Square(3, 1, 1) },
        { "stride 4, 24-pixel rows", [2, 4, 9, 95], [32, 4, 3, 3], Conv2dGeometry.Square(3, 4, 1) },
    };

    [Theory]
    [MemberData(nameof(ResNetConvCases))]
    public void ResNetConvolutionsMatchReference(string name, int[] xDims, int[] wDims, Conv2dGeometry g) =>
        RunConv(name, new Shape(xDims), new Shape(wDims), g);

    // 3x3 stride-1 ungrouped convolutions with at least 32 2x2 output tiles per image take the Cpu
    // backend's Winograd F(2x2, 3x3) (see WinogradConvolution.Applies): ResNet-18's 3x3 layer
    // sizes that do at their real shapes, then odd output sizes (a last tile half outside the
    // output), rows of tiles not a multiple of the 8-tile vector and narrower than it, pads 0, 1
    // and 2 (asymmetric too), batch 2 and 3, 1, 3 and 65 input channels (none, a few and one
    // past the 8-channel vectors of the weight transform), and an image whose tiles outgrow the
    // Cpu backend's 16 MB chunk (bands of 109 and 42 tile rows, the last one odd). Forward only: the
    // backward passes share their code with the other 3x3 cases above.
    public static TheoryData<string, int[], int[], Conv2dGeometry> WinogradConvCases => new()
    {
        { "resnet 3x3 at 56x56, 64 channels", [1, 64, 56, 56], [64, 64, 3, 3], Conv2dGeometry.Square(3, 1, 1) },
        { "resnet 3x3 at 28x28, 128 channels", [1, 128, 28, 28], [128, 128, 3, 3], Conv2dGeometry.Square(3, 1, 1) },
        { "resnet 3x3 at 14x14, 256 channels", [1, 256, 14, 14], [256, 256, 3, 3], Conv2dGeometry.Square(3, 1, 1) },
        { "odd 17x23, pad 0, batch 2", [2, 8, 19, 25], [16, 8, 3, 3], Conv2dGeometry.Square(3, 1, 0) },
        { "odd 13x9, pad 2, batch 3, 3 channels", [3, 3, 11, 7], [5, 3, 3, 3], Conv2dGeometry.Square(3, 1, 2) },
        { "1 channel, 1 output, pad 1", [1, 1, 9, 33], [1, 1, 3, 3], Conv2dGeometry.Square(3, 1, 1) },
        { "65 channels, pads [2,0,1,2]", [2, 65, 10, 15], [70, 65, 3, 3], new Conv2dGeometry(3, 3, PadTop: 2, PadLeft: 0, PadBottom: 1, PadRight: 2) },
        { "narrow 41x7 output, batch 2", [2, 4, 41, 7], [16, 4, 3, 3], Conv2dGeometry.Square(3, 1, 1) },
        { "301x301 output in bands of tile rows, batch 2", [2, 8, 301, 301], [8, 8, 3, 3], Conv2dGeometry.Square(3, 1, 1) },
    };

    [Theory]
    [MemberData(nameof(WinogradConvCases))]
    public void WinogradConvolutionsMatchReference(string name, int[] xDims, int[] wDims, Conv2dGeometry g)
    {
        Shape x = new(xDims), w = new(wDims), y = Backend.ConvOutputShape(x, w, g), bias = new(w[0]);
        float[] xs = TestData.Uniform(x.ElementCount, 1), ws = TestData.Uniform(w.ElementCount, 2, 0.1f), bs = TestData.Uniform(w[0], 3);
        Compare(name + " forward", [xs, ws, bs], [x, w, bias], [y], (b, i, o) => b.Conv2dForward(i[0], i[1], i[2], o[0], g));
    }

    // Each image of a batch against the same image run alone, bit for bit: what makes a batched
    // activation maximization equal its single runs. The first two shapes sum over more
    // than one of the Cpu GEMM's k-blocks (CRS > 256) on planes small enough that the Cpu backend puts
    // several images in one GEMM: the first is fashion-alexnet's conv2 (im2col unless AVX-512 takes
    // the direct convolution), the second has 33 outputs per group, im2col on every machine. The
    // last two take the Cpu backend's Winograd path, whose GEMMs split a batch's tile columns into
    // ranges on several threads but not a single image's: 16 channels (one k-block) and 288 (two).
    [Theory]
    [InlineData(new[] { 8, 32, 14, 14 }, new[] { 64, 32, 5, 5 }, 2, 1)]
    [InlineData(new[] { 5, 64, 9, 9 }, new[] { 66, 32, 3, 3 }, 1, 2)]
    [InlineData(new[] { 3, 16, 20, 20 }, new[] { 32, 16, 3, 3 }, 1, 1)]
    [InlineData(new[] { 3, 288, 16, 16 }, new[] { 32, 288, 3, 3 }, 1, 1)]
    public void Conv2dItemMatchesItsBatchOfOne(int[] xDims, int[] wDims, int pad, int groups)
    {
        var x = new Shape(xDims);
        var w = new Shape(wDims);
        var g = Conv2dGeometry.Square(wDims[2], 1, pad, groups);
        var y = Backend.ConvOutputShape(x, w, g);
        int n = x.N, xItem = x.ElementCount / n, yItem = y.ElementCount / n;
        float[] xs = TestData.Uniform(x.ElementCount, 21), ws = TestData.Uniform(w.ElementCount, 22, 0.1f);
        float[] bs = TestData.Uniform(w[0], 23), dys = TestData.Uniform(y.ElementCount, 24);
        using var wt = Backend.Upload(ws, w);
        using var bias = Backend.Upload(bs, new Shape(w[0]));

        float[] Forward(float[] input, Shape shape)
        {
            using var xt = Backend.Upload(input, shape);
            using var yt = Backend.Allocate(Backend.ConvOutputShape(shape, w, g));
            Backend.Conv2dForward(xt, wt, bias, yt, g);
            return Backend.Download(yt);
        }

        float[] BackwardData(float[] gradient, Shape shape)
        {
            using var dyt = Backend.Upload(gradient, shape);
            using var dxt = Backend.Allocate(new Shape(shape.N, x.C, x.H, x.W));
            Backend.Conv2dBackwardData(dyt, wt, dxt, g);
            return Backend.Download(dxt);
        }

        float[] forward = Forward(xs, x), backwardData = BackwardData(dys, y);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(Forward(xs[(i * xItem)..((i + 1) * xItem)], Shape.Nchw(1, x.C, x.H, x.W)), forward[(i * yItem)..((i + 1) * yItem)]);
            Assert.Equal(BackwardData(dys[(i * yItem)..((i + 1) * yItem)], Shape.Nchw(1, y.C, y.H, y.W)), backwardData[(i * xItem)..((i + 1) * xItem)]);
        }
    }

    private void RunConv(string name, Shape x, Shape w, Conv2dGeometry g)
    {
        var y = Backend.ConvOutputShape(x, w, g);
        var bias = new Shape(w[0]);
        float[] xs = TestData.Uniform(x.ElementCount, 1), ws = TestData.Uniform(w.ElementCount, 2, 0.1f), bs = TestData.Uniform(w[0], 3);
        float[] dys = TestData.Uniform(y.ElementCount, 4);
        Compare(name + " forward", [xs, ws, bs], [x, w, bias], [y], (b, i, o) => b.Conv2dForward(i[0], i[1], i[2], o[0], g));
        Compare(name + " backward data", [dys, ws], [y, w], [x], (b, i, o) => b.Conv2dBackwardData(i[0], i[1], o[0], g));
        Compare(name + " backward filter", [xs, dys], [x, y], [w, bias], (b, i, o) => b.Conv2dBackwardFilter(i[0], i[1], o[0], o[1], g));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(31)]
    [InlineData(100_003)]
    public void AllFiniteFindsEveryNonFiniteValue(int length)
    {
        float[] values = TestData.Uniform(length, 5, 1e30f);
        using (var finite = Backend.Upload(values, new Shape(length))) Assert.True(Backend.AllFinite(finite));
        foreach (int position in new[] { 0, length / 2, length - 1 })
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            float[] copy = (float[])values.Clone();
            copy[position] = bad;
            using var tensor = Backend.Upload(copy, new Shape(length));
            Assert.False(Backend.AllFinite(tensor), $"{bad} at {position} of {length}");
        }
    }

    public static TheoryData<int> Lengths => new(Enumerable.Range(0, 258).Where(n => n < 40 || n % 16 is 0 or 1 or 15).Append(100_003));

    [Theory]
    [MemberData(nameof(Lengths))]
    public void ElementWiseOpsMatchReference(int length)
    {
        var s = new Shape(length);
        float[] a = TestData.Uniform(length, 10 + length), b = TestData.Uniform(length, 20 + length);
        Compare("relu", [a], [s], [s], (k, i, o) => k.ReluForward(i[0], o[0]));
        foreach (var rule in Enum.GetValues<ReluRule>())
            Compare($"relu backward {rule}", [a, b], [s, s], [s], (k, i, o) => k.ReluBackward(i[0], i[1], o[0], rule));
        Compare("multiply", [a, b], [s, s], [s], (k, i, o) => k.Multiply(i[0], i[1], o[0]));
        Compare("axpy", [a, b], [s, s], [], (k, i, o) => { k.Axpy(0.7f, i[0], i[1]); AssertSame(Apply(a, b, (x, y) => y + 0.7f * x), k.Download(i[1]), "axpy", s); });
        Compare("scale", [a], [s], [], (k, i, o) => { k.Scale(i[0], -1.5f); AssertSame(Apply(a, a, (x, _) => -1.5f * x), k.Download(i[0]), "scale", s); });
        Compare("clamp", [a], [s], [], (k, i, o) => { k.Clamp(i[0], -0.25f, 0.5f); AssertSame(Apply(a, a, (x, _) => Math.Clamp(x, -0.25f, 0.5f)), k.Download(i[0]), "clamp", s); });
        Compare("fill and copy", [a], [s], [s, s], (k, i, o) => { k.Fill(o[0], 3.25f); k.Copy(i[0], o[1]); });
        Compare("dropout", [a], [s], [s, s], (k, i, o) => k.DropoutForward(i[0], o[0], o[1], 0.3f, 1234u));
        foreach (var bounds in new[] { new ClipBounds(-0.25f, 0.5f), new ClipBounds(float.NegativeInfinity, 0.1f), ClipBounds.Relu6 })
        {
            Compare($"clip {bounds}", [a], [s], [s], (k, i, o) => k.ClipForward(i[0], o[0], bounds));
            foreach (var rule in Enum.GetValues<ReluRule>())
                Compare($"clip backward {bounds} {rule}", [a, b], [s, s], [s], (k, i, o) => k.ClipBackward(i[0], i[1], o[0], bounds, rule));
        }
    }

    private static float[] Apply(float[] a, float[] b, Func<float, float, float> f) => a.Select((v, i) => f(v, b[i])).ToArray();

    public static TheoryData<string, int[], int, int, int, int, PadMode> PadCases => new()
    {
        // name, x (N,C,H,W), top, left, bottom, right, mode
        { "mobilenet-size constant", [1, 32, 112, 112], 1, 1, 1, 1, PadMode.Constant },
        { "227 reflect asymmetric", [1, 3, 227, 227], 3, 0, 2, 5, PadMode.Reflect },
        { "edge batch 3 odd channels", [3, 5, 13, 9], 4, 2, 0, 7, PadMode.Edge },
        { "reflect with crops", [2, 7, 11, 6], -3, 5, 2, -2, PadMode.Reflect },
        { "constant crop only", [2, 3, 9, 9], -1, -2, -3, 0, PadMode.Constant },
        { "edge on a 1x1 image", [2, 17, 1, 1], 2, 3, 1, 0, PadMode.Edge },
    };

    [Theory]
    [MemberData(nameof(PadCases))]
    public void Pad2dMatchesReference(string name, int[] xDims, int top, int left, int bottom, int right, PadMode mode)
    {
        var x = new Shape(xDims);
        var g = new PadGeometry(top, left, bottom, right, mode, mode == PadMode.Constant ? -0.5f : 0f);
        var y = g.OutputShape(x, "test");
        Compare($"{name} pad forward", [TestData.Uniform(x.ElementCount, 41)], [x], [y], (b, i, o) => b.Pad2dForward(i[0], o[0], g));
        Compare($"{name} pad backward", [TestData.Uniform(y.ElementCount, 42)], [y], [x], (b, i, o) => b.Pad2dBackward(i[0], o[0], g));
    }

    public static TheoryData<string, int[], int, int, int, bool> PoolCases => new()
    {
        // name, x, kernel, stride, pad, ceil
        { "alexnet pool1", [1, 96, 55, 55], 3, 2, 0, false },
        { "alexnet pool2", [1, 256, 27, 27], 3, 2, 0, false },
        { "alexnet pool5", [1, 256, 13, 13], 3, 2, 0, false },
        { "odd batch 3 ceil", [3, 5, 8, 9], 3, 2, 1, true },
        { "1x1 image", [2, 3, 1, 1], 1, 1, 0, false },
        { "2x2 stride 2", [2, 7, 10, 11], 2, 2, 0, true },
        { "resnet maxpool", [1, 64, 112, 112], 3, 2, 1, false },
        { "3x3 stride 1 pad 1", [2, 3, 20, 21], 3, 1, 1, false },
    };

    [Theory]
    [MemberData(nameof(PoolCases))]
    public void PoolingMatchesReference(string name, int[] xDims, int kernel, int stride, int pad, bool ceil)
    {
        var x = new Shape(xDims);
        foreach (bool includePad in new[] { false, true })
        {
            var g = PoolGeometry.Square(kernel, stride, pad, ceil, includePad);
            var y = Backend.PoolOutputShape(x, g);
            float[] xs = TestData.Distinct(x.ElementCount, 5), dys = TestData.Uniform(y.ElementCount, 6);
            Compare($"{name} avgpool (include pad {includePad})", [xs], [x], [y], (b, i, o) => b.AvgPoolForward(i[0], o[0], g));
            Compare($"{name} avgpool backward (include pad {includePad})", [dys], [y], [x], (b, i, o) => b.AvgPoolBackward(i[0], o[0], g));
        }
        var mg = PoolGeometry.Square(kernel, stride, pad, ceil);
        var my = Backend.PoolOutputShape(x, mg);
        float[] input = TestData.Distinct(x.ElementCount, 7), grad = TestData.Uniform(my.ElementCount, 8);
        int[] Switches(Backend b)
        {
            using var xt = b.Upload(input, x);
            using var yt = b.Allocate(my);
            using var sw = b.Allocate(my, DataType.Int32);
            b.MaxPoolForward(xt, yt, sw, mg);
            return b.DownloadInt32(sw);
        }
        Assert.Equal(Switches(reference), Switches(Backend));
        Compare(name + " maxpool", [input], [x], [my], (b, i, o) =>
        {
            using var sw = b.Allocate(my, DataType.Int32);
            b.MaxPoolForward(i[0], o[0], sw, mg);
        });
        Compare(name + " maxpool backward", [input, grad], [x, my], [x, x], (b, i, o) =>
        {
            using var y = b.Allocate(my);
            using var sw = b.Allocate(my, DataType.Int32);
            b.MaxPoolForward(i[0], y, sw, mg);
            b.MaxPoolBackward(i[1], sw, o[0], mg);
            b.MaxUnpool(i[1], sw, o[1]);
        });
    }

    [Theory]
    [InlineData(1, 96, 55, 55, 5)]
    [InlineData(1, 256, 27, 27, 5)]
    [InlineData(3, 7, 3, 5, 4)]
    [InlineData(2, 2, 1, 1, 5)]
    public void LrnMatchesReference(int n, int c, int h, int w, int size)
    {
        var x = Shape.Nchw(n, c, h, w);
        var p = new LrnParameters(size, 0.5f, 0.75f, 2f);
        float[] xs = TestData.Uniform(x.ElementCount, 9, 3f), dys = TestData.Uniform(x.ElementCount, 10);
        Compare("lrn forward", [xs], [x], [x, x], (b, i, o) => b.LrnForward(i[0], o[0], o[1], p));
        Compare("lrn backward", [xs, dys], [x, x], [x], (b, i, o) =>
        {
            using var y = b.Allocate(x);
            using var scale = b.Allocate(x);
            b.LrnForward(i[0], y, scale, p);
            b.LrnBackward(i[0], y, scale, i[1], o[0], p);
        });
    }

    public static TheoryData<int, int, int, bool, bool, int[]?> GemmCases => new()
    {
        // m, n, k, transA, transB, c shape
        { 1, 4096, 9216, false, true, [4096] },
        { 8, 4096, 4096, false, true, [4096] },
        { 3, 1000, 4096, false, true, [1, 1000] },
        { 4096, 4096, 8, true, false, null },
        { 17, 13, 31, true, true, [17, 1] },
        { 1, 1, 1, false, false, [1] },
        { 5, 33, 7, true, false, [5, 33] },
    };

    [Theory]
    [MemberData(nameof(GemmCases))]
    public void GemmMatchesReference(int m, int n, int k, bool transA, bool transB, int[]? cDims)
    {
        var a = transA ? new Shape(k, m) : new Shape(m, k);
        var bShape = transB ? new Shape(n, k) : new Shape(k, n);
        var y = new Shape(m, n);
        float[] av = TestData.Uniform(a.ElementCount, 11), bv = TestData.Uniform(bShape.ElementCount, 12, 0.05f);
        if (cDims is null)
            Compare("gemm", [av, bv], [a, bShape], [y], (b, i, o) => b.Gemm(i[0], i[1], null, o[0], transA, transB, 0.5f));
        else
        {
            var c = new Shape(cDims);
            Compare("gemm with c", [av, bv, TestData.Uniform(c.ElementCount, 13)], [a, bShape, c], [y],
                (b, i, o) => b.Gemm(i[0], i[1], i[2], o[0], transA, transB, 1.5f, 0.25f));
        }
    }

    [Fact]
    public void GemmAccumulatesIntoY()
    {
        float[] av = TestData.Uniform(6 * 4, 14), bv = TestData.Uniform(4 * 5, 15), yv = TestData.Uniform(6 * 5, 16);
        Compare("gemm y += a b", [av, bv, yv], [new Shape(6, 4), new Shape(4, 5), new Shape(6, 5)], [],
            (b, i, o) => { b.Gemm(i[0], i[1], i[2], i[2], beta: 0.5f); AssertSame(Expected(), b.Download(i[2]), "gemm accumulate", new Shape(6, 5)); });

        float[] Expected()
        {
            using var r = new Engine.Backends.Reference.ReferenceBackend();
            using var at = r.Upload(av, new Shape(6, 4));
            using var bt = r.Upload(bv, new Shape(4, 5));
            using var ct = r.Upload(yv, new Shape(6, 5));
            using var yt = r.Allocate(6, 5);
            r.Gemm(at, bt, ct, yt, beta: 0.5f);
            return r.Download(yt);
        }
    }

    [Theory]
    [InlineData(new[] { 8, 1000 }, 1)]
    [InlineData(new[] { 3, 10 }, -1)]
    [InlineData(new[] { 2, 5, 3, 4 }, 1)]
    [InlineData(new[] { 3, 4, 5 }, 0)]
    public void SoftmaxMatchesReference(int[] dims, int axis)
    {
        var s = new Shape(dims);
        float[] x = TestData.Uniform(s.ElementCount, 17, 8f), dy = TestData.Uniform(s.ElementCount, 18);
        Compare("softmax", [x], [s], [s], (b, i, o) => b.Softmax(i[0], o[0], axis));
        Compare("softmax backward", [x, dy], [s, s], [s], (b, i, o) =>
        {
            using var y = b.Allocate(s);
            b.Softmax(i[0], y, axis);
            b.SoftmaxBackward(y, i[1], o[0], axis);
        });
    }

    [Fact]
    public void SoftmaxCrossEntropyMatchesReference()
    {
        var logits = new Shape(6, 10);
        float[] z = TestData.Uniform(logits.ElementCount, 19, 20f);
        int[] labels = [0, 9, 3, 3, 7, 1];
        Compare("softmax cross-entropy", [z], [logits], [logits, new Shape(6), logits], (b, i, o) =>
        {
            using var l = b.Upload(labels, new Shape(6));
            b.SoftmaxCrossEntropy(i[0], l, o[0], o[1], o[2]);
        });
    }

    /// <summary>
    /// Channel concatenation as Concat's forward runs it, inputs of 2, 5 and 3 channels into one of
    /// 10 at their channel offsets, and the split back as its backward runs it; plus a middle range
    /// of one input into a sentinel-filled tensor, which must keep every other channel. A copy does
    /// no arithmetic, so each result must equal Reference's exactly and the law computed here.
    /// </summary>
    [Theory]
    [InlineData(4)]
    [InlineData(2)]
    public void CopyChannelsConcatenatesAndSplitsExactlyLikeReference(int rank)
    {
        const int n = 3, total = 10;
        const float sentinel = 9f;
        int plane = rank == 4 ? 7 * 5 : 1;
        Shape Of(int c) => rank == 4 ? Shape.Nchw(n, c, 7, 5) : new Shape(n, c);
        int[] parts = [2, 5, 3];
        int[] offsets = [0, 2, 7];
        var inputs = parts.Select((c, i) => TestData.Uniform(Of(c).ElementCount, 30 + i)).ToArray();

        // The law: channel offsets[i] + c of the concatenation is channel c of input i.
        var concat = new float[Of(total).ElementCount];
        for (int i = 0; i < parts.Length; i++)
            for (int item = 0; item < n; item++)
                Array.Copy(inputs[i], item * parts[i] * plane, concat, (item * total + offsets[i]) * plane, parts[i] * plane);
        // Channels [1, 4) of input 1 at channel 6 of a (n, 10) tensor full of the sentinel.
        var partial = Enumerable.Repeat(sentinel, concat.Length).ToArray();
        for (int item = 0; item < n; item++)
            Array.Copy(inputs[1], (item * parts[1] + 1) * plane, partial, (item * total + 6) * plane, 3 * plane);

        float[][] Run(Backend b)
        {
            var ins = inputs.Select((d, i) => b.Upload(d, Of(parts[i]))).ToArray();
            var outs = new[] { b.Allocate(Of(total)), b.Allocate(Of(total)) }.Concat(parts.Select(c => b.Allocate(Of(c)))).ToArray();
            try
            {
                for (int i = 0; i < parts.Length; i++) b.CopyChannels(ins[i], 0, outs[0], offsets[i], parts[i]);
                b.Fill(outs[1], sentinel);
                b.CopyChannels(ins[1], 1, outs[1], 6, 3);
                for (int i = 0; i < parts.Length; i++) b.CopyChannels(outs[0], offsets[i], outs[2 + i], 0, parts[i]);
                return outs.Select(b.Download).ToArray();
            }
            finally
            {
                foreach (var t in ins.Concat(outs)) t.Dispose();
            }
        }
        float[][] law = [concat, partial, .. inputs];
        string[] labels = ["concatenation", "middle range into a filled tensor", "split 0", "split 1", "split 2"];
        var expected = Run(reference);
        var actual = Run(Backend);
        for (int i = 0; i < law.Length; i++)
        {
            var shape = i < 2 ? Of(total) : Of(parts[i - 2]);
            TensorAssert.Close(law[i], expected[i], 0, 0, $"reference vs the law: {labels[i]}", shape);
            TensorAssert.Close(expected[i], actual[i], 0, 0, $"{Backend.Name} vs reference: {labels[i]}", shape);
        }
    }

    [Theory]
    [InlineData(1, 3, 227, 227, 1.0f)]
    [InlineData(2, 1, 5, 7, 0.5f)]
    [InlineData(1, 2, 3, 2, 2.5f)]
    public void GaussianBlurMatchesReference(int n, int c, int h, int w, float sigma)
    {
        var s = Shape.Nchw(n, c, h, w);
        Compare($"blur sigma {sigma}", [TestData.Uniform(s.ElementCount, 21)], [s], [s], (b, i, o) => b.GaussianBlur(i[0], o[0], sigma));
    }

    protected override void Cleanup() => reference.Dispose();
}
