using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;
using Xunit.Sdk;

namespace ConvViz.Tests.Gradients;

/// <summary>
/// Every backward op checked against finite differences of its forward op (see
/// <see cref="GradientChecker"/>), with respect to inputs and parameters, plus the exact definitions of
/// the non-gradient ReLU rules, the dropout mask's contract and the Gaussian blur against a direct
/// host convolution. Backend-agnostic: bound to a backend by a one-line sealed subclass.
/// </summary>
public abstract class GradientChecks : BackendTest
{
    /// <summary>Poison written into every output before a backward op: the op must overwrite it.</summary>
    private const float Poison = 123.25f;

    protected GradientChecker Checker { get; } = new();

    // ================================================================ convolution

    private sealed record ConvCase(Shape X, int K, Conv2dGeometry G);

    private static ConvCase Conv(string name) => name switch
    {
        "plain3x3Pad1" => new(Shape.Nchw(2, 3, 7, 7), 4, Conv2dGeometry.Square(3, pad: 1)),
        "stride2AsymmetricPads" => new(Shape.Nchw(2, 3, 8, 7), 4,
            new Conv2dGeometry(3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 0, PadBottom: 2, PadRight: 1)),
        "dilation2" => new(Shape.Nchw(2, 3, 9, 9), 4, Conv2dGeometry.Square(3, pad: 2, dilation: 2)),
        "groups2" => new(Shape.Nchw(2, 4, 6, 6), 6, Conv2dGeometry.Square(3, pad: 1, groups: 2)),
        // 9 input and 15 output channels: 3 and 5 per group, both odd.
        "groups3OddChannels" => new(Shape.Nchw(2, 9, 5, 5), 15, Conv2dGeometry.Square(3, pad: 1, groups: 3)),
        "depthwiseStride2" => new(Shape.Nchw(2, 3, 7, 7), 3, Conv2dGeometry.Square(3, stride: 2, pad: 1, groups: 3)),
        // AlexNet conv1 (11x11 stride 4) on a 23x23 input: 4x4 outputs (Caffe, pad 0) or 5x5 (torchvision, pad 2).
        "alexnetConv1" => new(Shape.Nchw(2, 3, 23, 23), 4, Conv2dGeometry.Square(11, stride: 4)),
        "alexnetConv1Pad2" => new(Shape.Nchw(2, 3, 23, 23), 4, Conv2dGeometry.Square(11, stride: 4, pad: 2)),
        "pointwise1x1Batch3" => new(Shape.Nchw(3, 5, 4, 4), 4, Conv2dGeometry.Square(1)),
        // A 1x1 kernel with stride 2 never reads the odd rows and columns: their gradient must be 0.
        "pointwise1x1Stride2" => new(Shape.Nchw(2, 3, 5, 5), 4, Conv2dGeometry.Square(1, stride: 2)),
        // Everything differs between H and W, so a swapped index cannot cancel out.
        "rectangular" => new(Shape.Nchw(2, 3, 7, 8), 4,
            new Conv2dGeometry(3, 2, StrideH: 1, StrideW: 2, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 1, DilationH: 2, DilationW: 1)),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown conv case"),
    };

    private sealed class ConvFixture : IDisposable
    {
        public required Shape XShape, WShape, YShape;
        public required float[] XData, WData, BData, R;
        public required Tensor X, W, Bias, Y, Dy;

        public void Dispose()
        {
            foreach (var t in new[] { X, W, Bias, Y, Dy }) t.Dispose();
        }
    }

    private ConvFixture MakeConv(ConvCase c)
    {
        var wShape = new Shape(c.K, c.X.C / c.G.Groups, c.G.KernelH, c.G.KernelW);
        var yShape = Backend.ConvOutputShape(c.X, wShape, c.G);
        var xData = TestData.Uniform(c.X.ElementCount, 101);
        var wData = TestData.Uniform(wShape.ElementCount, 102);
        var bData = TestData.Uniform(c.K, 103);
        var r = Checker.Weights(yShape.ElementCount);
        return new ConvFixture
        {
            XShape = c.X, WShape = wShape, YShape = yShape,
            XData = xData, WData = wData, BData = bData, R = r,
            X = Backend.Upload(xData, c.X), W = Backend.Upload(wData, wShape), Bias = Backend.Upload(bData, new Shape(c.K)),
            Y = Backend.Allocate(yShape), Dy = Backend.Upload(r, yShape),
        };
    }

    private float[] ConvForward(ConvFixture f, Conv2dGeometry g)
    {
        Backend.Conv2dForward(f.X, f.W, f.Bias, f.Y, g);
        return Backend.Download(f.Y);
    }

    [Theory]
    [InlineData("plain3x3Pad1")]
    [InlineData("stride2AsymmetricPads")]
    [InlineData("dilation2")]
    [InlineData("groups2")]
    [InlineData("groups3OddChannels")]
    [InlineData("depthwiseStride2")]
    [InlineData("alexnetConv1")]
    [InlineData("alexnetConv1Pad2")]
    [InlineData("pointwise1x1Batch3")]
    [InlineData("pointwise1x1Stride2")]
    [InlineData("rectangular")]
    public void Conv2dBackwardData_MatchesFiniteDifferences(string name)
    {
        var c = Conv(name);
        using var f = MakeConv(c);
        using var dx = Backend.Allocate(f.XShape);
        Backend.Fill(dx, Poison);
        Backend.Conv2dBackwardData(f.Dy, f.W, dx, c.G);

        Checker.Check($"Conv2dBackwardData {name} ({c.G}) dx", f.XData,
            xs => { Backend.Upload(xs, f.X); return ConvForward(f, c.G); },
            f.R, Backend.Download(dx), f.XShape);
    }

    [Theory]
    [InlineData("plain3x3Pad1")]
    [InlineData("stride2AsymmetricPads")]
    [InlineData("dilation2")]
    [InlineData("groups2")]
    [InlineData("groups3OddChannels")]
    [InlineData("depthwiseStride2")]
    [InlineData("alexnetConv1")]
    [InlineData("alexnetConv1Pad2")]
    [InlineData("pointwise1x1Batch3")]
    [InlineData("pointwise1x1Stride2")]
    [InlineData("rectangular")]
    public void Conv2dBackwardFilter_MatchesFiniteDifferences(string name)
    {
        var c = Conv(name);
        using var f = MakeConv(c);
        using var dw = Backend.Allocate(f.WShape);
        using var dbias = Backend.Allocate(new Shape(c.K));
        Backend.Fill(dw, Poison);
        Backend.Fill(dbias, Poison);
        Backend.Conv2dBackwardFilter(f.X, f.Dy, dw, dbias, c.G);
        var dwData = Backend.Download(dw);

        Checker.Check($"Conv2dBackwardFilter {name} ({c.G}) dw", f.WData,
            ws => { Backend.Upload(ws, f.W); return ConvForward(f, c.G); },
            f.R, dwData, f.WShape);
        Backend.Upload(f.WData, f.W);
        Checker.Check($"Conv2dBackwardFilter {name} ({c.G}) dbias", f.BData,
            bs => { Backend.Upload(bs, f.Bias); return ConvForward(f, c.G); },
            f.R, Backend.Download(dbias), new Shape(c.K));

        // Without dbias the weights' gradient is the same.
        using var dwAlone = Backend.Allocate(f.WShape);
        Backend.Fill(dwAlone, Poison);
        Backend.Conv2dBackwardFilter(f.X, f.Dy, dwAlone, null, c.G);
        TensorAssert.Close(dwData, Backend.Download(dwAlone), 0, 0, $"Conv2dBackwardFilter {name}: dw without dbias", f.WShape);
    }

    // ================================================================ relu

    private static readonly Shape ReluShape = Shape.Nchw(2, 3, 7, 7);

    /// <summary>Random x and dy with exact zeros (and a negative zero) sprinkled in, to pin down the strict inequalities.</summary>
    private static (float[] X, float[] Dy) ReluData()
    {
        int n = ReluShape.ElementCount;
        var x = TestData.Uniform(n, 201);
        var dy = TestData.Uniform(n, 202);
        for (int i = 0; i < n; i += 7) x[i] = 0f;
        for (int i = 3; i < n; i += 5) dy[i] = 0f;
        x[1] = -0f;
        dy[2] = -0f;
        return (x, dy);
    }

    private float[] ReluBackward(float[] xData, float[] dyData, ReluRule rule, bool inPlace = false)
    {
        using var x = Backend.Upload(xData, ReluShape);
        using var dy = Backend.Upload(dyData, ReluShape);
        using var dx = Backend.Allocate(ReluShape);
        Backend.Fill(dx, Poison);
        Backend.ReluBackward(x, dy, inPlace ? dy : dx, rule);
        return Backend.Download(inPlace ? dy : dx);
    }

    [Fact]
    public void ReluBackward_GradientRule_MatchesFiniteDifferences()
    {
        int n = ReluShape.ElementCount;
        var xData = TestData.Uniform(n, 203);
        // Points on or next to the kink: the checker must skip them (their central difference is neither 0 nor 1).
        xData[0] = 0f;
        xData[1] = 0.005f;
        xData[2] = -0.001f;
        var r = Checker.Weights(n);
        var analytic = ReluBackward(xData, r, ReluRule.Gradient);

        using var x = Backend.Upload(xData, ReluShape);
        using var y = Backend.Allocate(ReluShape);
        double kink = 2 * Checker.Step;
        var report = Checker.Check("ReluBackward Gradient", xData,
            xs => { Backend.Upload(xs, x); Backend.ReluForward(x, y); return Backend.Download(y); },
            r, analytic, ReluShape, skip: j => Math.Abs(xData[j]) < kink);
        Assert.InRange(report.SkippedByPredicate, 3, n / 10);
    }

    [Fact]
    public void ReluBackward_GradientRule_IsItsDefinition()
    {
        var (x, dy) = ReluData();
        var dx = ReluBackward(x, dy, ReluRule.Gradient);
        AssertExact(i => x[i] > 0 ? dy[i] : 0f, dx, "Gradient: dx = dy where x > 0, else 0");
    }

    [Fact]
    public void ReluBackward_DeconvnetRule_IsPositivePartOfDyIgnoringX()
    {
        var (x, dy) = ReluData();
        var dx = ReluBackward(x, dy, ReluRule.Deconvnet);
        AssertExact(i => Math.Max(dy[i], 0f), dx, "Deconvnet: dx = max(dy, 0)");
        // x really is ignored: flipping its sign changes nothing.
        var dxFlipped = ReluBackward(x.Select(v => -v).ToArray(), dy, ReluRule.Deconvnet);
        AssertExact(i => dx[i], dxFlipped, "Deconvnet with -x");
    }

    [Fact]
    public void ReluBackward_GuidedRule_PassesDyOnlyWhereDyAndXArePositive()
    {
        var (x, dy) = ReluData();
        var dx = ReluBackward(x, dy, ReluRule.Guided);
        AssertExact(i => dy[i] > 0 && x[i] > 0 ? dy[i] : 0f, dx, "Guided: dx = dy where dy > 0 and x > 0, else 0");
    }

    [Theory]
    [InlineData(ReluRule.Gradient)]
    [InlineData(ReluRule.Deconvnet)]
    [InlineData(ReluRule.Guided)]
    public void ReluBackward_InPlaceOnDy_MatchesOutOfPlace(ReluRule rule)
    {
        var (x, dy) = ReluData();
        var expected = ReluBackward(x, dy, rule);
        var actual = ReluBackward(x, dy, rule, inPlace: true);
        AssertExact(i => expected[i], actual, $"{rule} with dx = dy");
    }

    private static void AssertExact(Func<int, float> expected, float[] actual, string label)
    {
        for (int i = 0; i < actual.Length; i++)
        {
            float e = expected(i);
            if (!(actual[i] == e))
                throw new XunitException($"{label}: at [{i}] expected {e:G9}, got {actual[i]:G9}");
        }
    }

    // ================================================================ pooling

    private static (Shape X, PoolGeometry G) Pool(string name) => name switch
    {
        "3x3Stride2Overlapping" => (Shape.Nchw(2, 3, 7, 7), PoolGeometry.Square(3, 2)),
        // Floor mode drops the last row and column of a 7x7 input.
        "2x2Stride2" => (Shape.Nchw(2, 3, 7, 7), PoolGeometry.Square(2, 2)),
        "3x3Stride2Pad1" => (Shape.Nchw(2, 3, 7, 7), PoolGeometry.Square(3, 2, pad: 1)),
        // Ceil mode adds a last window that hangs over the end of the input.
        "3x3Stride2Ceil" => (Shape.Nchw(2, 3, 8, 8), PoolGeometry.Square(3, 2, ceilMode: true)),
        "2x2Stride2Ceil" => (Shape.Nchw(2, 3, 7, 7), PoolGeometry.Square(2, 2, ceilMode: true)),
        // The last window covers one input row, one bottom-pad row and one row beyond it.
        "3x3Stride2Pad1Ceil" => (Shape.Nchw(2, 3, 8, 8), PoolGeometry.Square(3, 2, pad: 1, ceilMode: true)),
        "rectangularAsymmetricPads" => (Shape.Nchw(2, 3, 7, 8),
            new PoolGeometry(2, 3, StrideH: 2, StrideW: 1, PadTop: 1, PadLeft: 0, PadBottom: 0, PadRight: 2)),
        "dilated2Pad1" => (Shape.Nchw(2, 3, 9, 9),
            new PoolGeometry(3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, DilationH: 2, DilationW: 2)),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown pool case"),
    };

    /// <summary>Distinct values 0.1 apart: 5 steps h, so a perturbation never changes a max-pool winner
    /// (the checker also compares the switches at x +- h, and would skip a coordinate that did).</summary>
    private static float[] MaxPoolInput(Shape x) => TestData.Distinct(x.ElementCount, 301, gap: 0.1f);

    private GradientReport CheckMaxPool(string label, Shape xShape, PoolGeometry g, float[] xData)
    {
        var yShape = Backend.PoolOutputShape(xShape, g);
        var r = Checker.Weights(yShape.ElementCount);
        using var x = Backend.Upload(xData, xShape);
        using var y = Backend.Allocate(yShape);
        using var switches = Backend.Allocate(yShape, DataType.Int32);
        using var dy = Backend.Upload(r, yShape);
        using var dx = Backend.Allocate(xShape);
        Backend.MaxPoolForward(x, y, switches, g);
        Backend.Fill(dx, Poison);
        Backend.MaxPoolBackward(dy, switches, dx, g);
        var analytic = Backend.Download(dx);

        return Checker.Check(label, xData, xs =>
        {
            Backend.Upload(xs, x);
            Backend.MaxPoolForward(x, y, switches, g);
            return new ForwardResult(Backend.Download(y), Backend.DownloadInt32(switches));
        }, r, analytic, xShape);
    }

    [Theory]
    [InlineData("3x3Stride2Overlapping")]
    [InlineData("2x2Stride2")]
    [InlineData("3x3Stride2Pad1")]
    [InlineData("3x3Stride2Ceil")]
    [InlineData("2x2Stride2Ceil")]
    [InlineData("3x3Stride2Pad1Ceil")]
    [InlineData("rectangularAsymmetricPads")]
    [InlineData("dilated2Pad1")]
    public void MaxPoolBackward_MatchesFiniteDifferences(string name)
    {
        var (xShape, g) = Pool(name);
        CheckMaxPool($"MaxPoolBackward {name} ({g})", xShape, g, MaxPoolInput(xShape));
    }

    [Fact]
    public void MaxPoolBackward_FiniteDifferences_SkipNearTies()
    {
        var (xShape, g) = Pool("3x3Stride2Overlapping");
        var xData = MaxPoolInput(xShape);
        // In the first window of plane 0, put a runner-up h/2 below the winner: moving either of them by
        // h swaps the winner, a kink the checker must detect from the switches and skip.
        int W = xShape.W;
        var window = (from r in Enumerable.Range(0, 3) from s in Enumerable.Range(0, 3) select r * W + s).ToArray();
        int winner = window.MaxBy(i => xData[i]);
        int runnerUp = window.First(i => i != winner);
        xData[runnerUp] = (float)(xData[winner] - Checker.Step / 2);
        var report = CheckMaxPool("MaxPoolBackward near tie", xShape, g, xData);
        Assert.InRange(report.SkippedByRegime, 2, 10);
    }

    [Theory]
    [InlineData("3x3Stride2Overlapping")]
    [InlineData("2x2Stride2")]
    [InlineData("3x3Stride2Pad1")]
    [InlineData("3x3Stride2Ceil")]
    [InlineData("3x3Stride2Pad1Ceil")]
    [InlineData("rectangularAsymmetricPads")]
    [InlineData("dilated2Pad1")]
    public void MaxUnpool_EqualsMaxPoolBackwardScatter(string name)
    {
        var (xShape, g) = Pool(name);
        var yShape = Backend.PoolOutputShape(xShape, g);
        // All inputs negative, so a zero from the padding would win if padding were allowed to.
        var xData = MaxPoolInput(xShape).Select(v => v - 100f).ToArray();
        var dyData = TestData.Uniform(yShape.ElementCount, 302);
        using var x = Backend.Upload(xData, xShape);
        using var y = Backend.Allocate(yShape);
        using var switches = Backend.Allocate(yShape, DataType.Int32);
        using var dy = Backend.Upload(dyData, yShape);
        using var viaBackward = Backend.Allocate(xShape);
        using var viaUnpool = Backend.Allocate(xShape);
        Backend.MaxPoolForward(x, y, switches, g);
        Backend.Fill(viaBackward, Poison);
        Backend.Fill(viaUnpool, -Poison);
        Backend.MaxPoolBackward(dy, switches, viaBackward, g);
        Backend.MaxUnpool(dy, switches, viaUnpool);

        // The switches are the window's argmax over real inputs, and y is the value there.
        var yData = Backend.Download(y);
        var sw = Backend.DownloadInt32(switches);
        int H = xShape.H, W = xShape.W, OH = yShape.H, OW = yShape.W;
        var scatter = new float[xShape.ElementCount];
        for (int plane = 0; plane < xShape.N * xShape.C; plane++)
        for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++)
        {
            int o = (plane * OH + oh) * OW + ow, best = -1;
            for (int r = 0; r < g.KernelH; r++)
            for (int s = 0; s < g.KernelW; s++)
            {
                int ih = oh * g.StrideH - g.PadTop + r * g.DilationH, iw = ow * g.StrideW - g.PadLeft + s * g.DilationW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                if (best < 0 || xData[plane * H * W + ih * W + iw] > xData[plane * H * W + best]) best = ih * W + iw;
            }
            if (sw[o] != best) throw new XunitException($"MaxPoolForward {name}: switch of output {o} is {sw[o]}, expected the argmax {best}");
            if (yData[o] != xData[plane * H * W + best]) throw new XunitException($"MaxPoolForward {name}: y[{o}] = {yData[o]}, expected x at its switch");
            scatter[plane * H * W + best] += dyData[o];
        }

        var backward = Backend.Download(viaBackward);
        TensorAssert.Close(backward, Backend.Download(viaUnpool), 0, 0, $"MaxUnpool vs MaxPoolBackward {name}", xShape);
        var (atol, rtol) = Tolerance;
        TensorAssert.Close(scatter, backward, atol, rtol, $"MaxPoolBackward {name} vs host scatter through the switches", xShape);
    }

    [Theory]
    [InlineData("3x3Stride2Overlapping", false)]
    [InlineData("2x2Stride2Ceil", false)]
    [InlineData("2x2Stride2Ceil", true)]
    [InlineData("3x3Stride2Pad1", false)]
    [InlineData("3x3Stride2Pad1", true)]
    [InlineData("3x3Stride2Ceil", false)]
    [InlineData("3x3Stride2Ceil", true)]
    [InlineData("3x3Stride2Pad1Ceil", false)]
    [InlineData("3x3Stride2Pad1Ceil", true)]
    [InlineData("rectangularAsymmetricPads", false)]
    [InlineData("rectangularAsymmetricPads", true)]
    [InlineData("dilated2Pad1", false)]
    [InlineData("dilated2Pad1", true)]
    public void AvgPoolBackward_MatchesFiniteDifferences(string name, bool countIncludePad)
    {
        var (xShape, g0) = Pool(name);
        var g = g0 with { CountIncludePad = countIncludePad };
        var yShape = Backend.PoolOutputShape(xShape, g);
        var xData = TestData.Uniform(xShape.ElementCount, 311);
        var r = Checker.Weights(yShape.ElementCount);
        using var x = Backend.Upload(xData, xShape);
        using var y = Backend.Allocate(yShape);
        using var dy = Backend.Upload(r, yShape);
        using var dx = Backend.Allocate(xShape);
        Backend.Fill(dx, Poison);
        Backend.AvgPoolBackward(dy, dx, g);

        // Gradients are r / divisor summed over a few windows, about 0.1 to 0.5: with the default floor of 1
        // a divisor off by one (1/8 vs 1/9 of 0.5) would hide under 1e-2, so the floor is the gradient's scale.
        var checker = Checker with { Floor = 0.1 };
        checker.Check($"AvgPoolBackward {name} ({g})", xData,
            xs => { Backend.Upload(xs, x); Backend.AvgPoolForward(x, y, g); return Backend.Download(y); },
            r, Backend.Download(dx), xShape);
    }

    // ================================================================ lrn

    private static (int Channels, LrnParameters P) Lrn(string name) => name switch
    {
        "alexnetSize5" => (7, new LrnParameters(5, 1e-4f, 0.75f, 1f)),
        // alpha 0.5 makes the cross-channel term a large part of the gradient, so a bug in it shows.
        "size3Alpha0.5Bias2" => (6, new LrnParameters(3, 0.5f, 0.75f, 2f)),
        // An even size has an asymmetric window: one channel before, two after.
        "evenSize4" => (6, new LrnParameters(4, 0.5f, 0.75f, 2f)),
        "channelsFewerThanSize" => (3, new LrnParameters(5, 0.5f, 0.75f, 2f)),
        "beta1Size2" => (5, new LrnParameters(2, 0.8f, 1f, 1.5f)),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown lrn case"),
    };

    [Theory]
    [InlineData("alexnetSize5")]
    [InlineData("size3Alpha0.5Bias2")]
    [InlineData("evenSize4")]
    [InlineData("channelsFewerThanSize")]
    [InlineData("beta1Size2")]
    public void LrnBackward_MatchesFiniteDifferences(string name)
    {
        var (channels, p) = Lrn(name);
        var shape = Shape.Nchw(2, channels, 3, 3);
        var xData = TestData.Uniform(shape.ElementCount, 401, scale: 1.5f);
        var r = Checker.Weights(shape.ElementCount);
        using var x = Backend.Upload(xData, shape);
        using var y = Backend.Allocate(shape);
        using var scale = Backend.Allocate(shape);
        using var dy = Backend.Upload(r, shape);
        using var dx = Backend.Allocate(shape);
        Backend.LrnForward(x, y, scale, p);
        Backend.Fill(dx, Poison);
        Backend.LrnBackward(x, y, scale, dy, dx, p);
        var analytic = Backend.Download(dx);

        Checker.Check($"LrnBackward {name} ({p})", xData, xs =>
        {
            Backend.Upload(xs, x);
            Backend.LrnForward(x, y, scale, p);
            return Backend.Download(y);
        }, r, analytic, shape);

        if (p.Alpha < 0.1f) return;
        // Sanity: the cross-channel part (everything beyond dy * scale^-beta) is a sizeable share of the
        // gradient, so the check above really tested it.
        var s = Backend.Download(scale);
        double crossPart = 0, total = 0;
        for (int i = 0; i < analytic.Length; i++)
        {
            crossPart = Math.Max(crossPart, Math.Abs(analytic[i] - r[i] * Math.Pow(s[i], -p.Beta)));
            total = Math.Max(total, Math.Abs(analytic[i]));
        }
        Assert.True(crossPart > 0.1 * total, $"LrnBackward {name}: cross-channel term {crossPart:G3} is too small against {total:G3} to be tested");
    }

    // ================================================================ gemm

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Gemm_GradientsThroughGemm_MatchFiniteDifferences(bool transA, bool transB)
    {
        const int M = 5, K = 4, N = 3;
        const float alpha = 1.5f, beta = 0.5f;
        var aShape = transA ? new Shape(K, M) : new Shape(M, K);
        var bShape = transB ? new Shape(N, K) : new Shape(K, N);
        var yShape = new Shape(M, N);
        var aData = TestData.Uniform(aShape.ElementCount, 501);
        var bData = TestData.Uniform(bShape.ElementCount, 502);
        var r = Checker.Weights(yShape.ElementCount);
        using var a = Backend.Upload(aData, aShape);
        using var b = Backend.Upload(bData, bShape);
        using var c = Backend.Upload(TestData.Uniform(N, 503), new Shape(N));
        using var y = Backend.Allocate(yShape);
        using var dy = Backend.Upload(r, yShape);
        using var da = Backend.Allocate(aShape);
        using var db = Backend.Allocate(bShape);

        // y = alpha op(a) op(b) + beta c, L = sum r y, so d op(a) = alpha R op(b)^T and d op(b) = alpha op(a)^T R;
        // a transposed operand gets the transpose of its op's gradient. All of it with Gemm itself:
        //   da = transA ? alpha op(b) R^T : alpha R op(b)^T;   db = transB ? alpha R^T op(a) : alpha op(a)^T R.
        Backend.Fill(da, Poison);
        Backend.Fill(db, Poison);
        if (transA) Backend.Gemm(b, dy, null, da, transA: transB, transB: true, alpha: alpha);
        else Backend.Gemm(dy, b, null, da, transA: false, transB: !transB, alpha: alpha);
        if (transB) Backend.Gemm(dy, a, null, db, transA: true, transB: transA, alpha: alpha);
        else Backend.Gemm(a, dy, null, db, transA: !transA, transB: false, alpha: alpha);

        float[] Forward()
        {
            Backend.Gemm(a, b, c, y, transA, transB, alpha, beta);
            return Backend.Download(y);
        }
        string label = $"Gemm transA={transA} transB={transB}";
        Checker.Check($"{label} da", aData, xs => { Backend.Upload(xs, a); return Forward(); }, r, Backend.Download(da), aShape);
        Backend.Upload(aData, a);
        Checker.Check($"{label} db", bData, xs => { Backend.Upload(xs, b); return Forward(); }, r, Backend.Download(db), bShape);
    }

    // ================================================================ softmax and loss

    [Theory]
    [InlineData(new[] { 4, 6 }, 1)]
    [InlineData(new[] { 2, 5, 3, 3 }, 1)]
    [InlineData(new[] { 2, 3, 2, 5 }, -1)]
    [InlineData(new[] { 3, 4, 5 }, 2)]
    public void SoftmaxBackward_MatchesFiniteDifferences(int[] dims, int axis)
    {
        var shape = new Shape(dims);
        var xData = TestData.Uniform(shape.ElementCount, 601, scale: 2f);
        var r = Checker.Weights(shape.ElementCount);
        using var x = Backend.Upload(xData, shape);
        using var y = Backend.Allocate(shape);
        using var dy = Backend.Upload(r, shape);
        using var dx = Backend.Allocate(shape);
        Backend.Softmax(x, y, axis);
        Backend.Fill(dx, Poison);
        Backend.SoftmaxBackward(y, dy, dx, axis);

        // dx = y (dy - dot) with probabilities y ~ 1/classes: gradients are about 0.1, so the floor is 0.1.
        var checker = Checker with { Floor = 0.1 };
        checker.Check($"SoftmaxBackward {shape} axis {axis}", xData,
            xs => { Backend.Upload(xs, x); Backend.Softmax(x, y, axis); return Backend.Download(y); },
            r, Backend.Download(dx), shape);
    }

    [Fact]
    public void SoftmaxBackward_InPlaceOnDy_MatchesOutOfPlace()
    {
        var shape = new Shape(3, 7);
        using var x = Backend.Upload(TestData.Uniform(21, 602, 2f), shape);
        using var y = Backend.Allocate(shape);
        using var dy = Backend.Upload(TestData.Uniform(21, 603), shape);
        using var dx = Backend.Allocate(shape);
        Backend.Softmax(x, y);
        Backend.SoftmaxBackward(y, dy, dx);
        Backend.SoftmaxBackward(y, dy, dy);
        var (atol, rtol) = Tolerance;
        TensorAssert.Close(Backend.Download(dx), Backend.Download(dy), atol, rtol, "SoftmaxBackward with dx = dy", shape);
    }

    [Fact]
    public void SoftmaxCrossEntropy_Dlogits_MatchFiniteDifferencesOfMeanLoss()
    {
        const int N = 5, K = 7;
        var shape = new Shape(N, K);
        var logitsData = TestData.Uniform(N * K, 701, scale: 3f);
        var labelData = new[] { 3, 0, 6, 3, 1 };
        using var logits = Backend.Upload(logitsData, shape);
        using var labels = Backend.Upload(labelData, new Shape(N));
        using var probs = Backend.Allocate(shape);
        using var losses = Backend.Allocate(N);
        using var dlogits = Backend.Allocate(shape);
        Backend.Fill(dlogits, Poison);
        Backend.SoftmaxCrossEntropy(logits, labels, probs, losses, dlogits);
        var analytic = Backend.Download(dlogits);

        // The objective is the mean loss: weights 1/N. Its gradient (p - onehot) / N is at most 1/N = 0.2
        // and often ~0.02, so the floor is lowered to 0.01 to keep the check relative.
        var meanWeights = Enumerable.Repeat(1f / N, N).ToArray();
        var checker = Checker with { Floor = 0.01 };
        checker.Check("SoftmaxCrossEntropy dlogits", logitsData, xs =>
        {
            Backend.Upload(xs, logits);
            Backend.SoftmaxCrossEntropy(logits, labels, probs, losses, null);
            return Backend.Download(losses);
        }, meanWeights, analytic, shape);

        // And the definition: losses are -log p[label], probs the softmax.
        Backend.Upload(logitsData, logits);
        Backend.SoftmaxCrossEntropy(logits, labels, probs, losses, null);
        var p = Backend.Download(probs);
        var l = Backend.Download(losses);
        var (atol, rtol) = Tolerance;
        for (int n = 0; n < N; n++)
        {
            double max = Enumerable.Range(0, K).Max(k => (double)logitsData[n * K + k]);
            double sum = Enumerable.Range(0, K).Sum(k => Math.Exp(logitsData[n * K + k] - max));
            var expectedP = Enumerable.Range(0, K).Select(k => (float)(Math.Exp(logitsData[n * K + k] - max) / sum)).ToArray();
            TensorAssert.Close(expectedP, p.AsSpan(n * K, K), atol, rtol, $"SoftmaxCrossEntropy probs row {n}");
            TensorAssert.Close([(float)(Math.Log(sum) + max - logitsData[n * K + labelData[n]])], l.AsSpan(n, 1), atol, rtol, $"SoftmaxCrossEntropy loss {n}");
        }
    }

    // ================================================================ dropout

    [Fact]
    public void DropoutBackward_MultiplyByMask_MatchesFiniteDifferences()
    {
        const float ratio = 0.3f;
        const uint seed = 42;
        var shape = Shape.Nchw(2, 3, 7, 7);
        var xData = TestData.Uniform(shape.ElementCount, 801);
        var r = Checker.Weights(shape.ElementCount);
        using var x = Backend.Upload(xData, shape);
        using var y = Backend.Allocate(shape);
        using var mask = Backend.Allocate(shape);
        using var dy = Backend.Upload(r, shape);
        using var dx = Backend.Allocate(shape);
        Backend.DropoutForward(x, y, mask, ratio, seed);
        Backend.Fill(dx, Poison);
        Backend.Multiply(dy, mask, dx);

        Checker.Check("Dropout: Multiply(dy, mask)", xData, xs =>
        {
            Backend.Upload(xs, x);
            Backend.DropoutForward(x, y, mask, ratio, seed);
            return Backend.Download(y);
        }, r, Backend.Download(dx), shape);
    }

    private float[] DropoutMaskOf(Shape shape, float ratio, uint seed, out float[] xData, out float[] yData)
    {
        xData = TestData.Uniform(shape.ElementCount, 802);
        using var x = Backend.Upload(xData, shape);
        using var y = Backend.Allocate(shape);
        using var mask = Backend.Allocate(shape);
        Backend.Fill(mask, Poison);
        Backend.DropoutForward(x, y, mask, ratio, seed);
        yData = Backend.Download(y);
        return Backend.Download(mask);
    }

    [Fact]
    public void DropoutMask_IsDeterministicPerSeed_AndDiffersAcrossSeeds()
    {
        const float ratio = 0.5f;
        var shape = Shape.Nchw(2, 3, 16, 16);
        var first = DropoutMaskOf(shape, ratio, 7, out var xData, out var yData);
        var again = DropoutMaskOf(shape, ratio, 7, out _, out _);
        var other = DropoutMaskOf(shape, ratio, 8, out _, out _);
        AssertExact(i => first[i], again, "dropout mask, same seed");

        float keep = 1f / (1f - ratio);
        for (int i = 0; i < first.Length; i++)
        {
            float expected = DropoutMask.Keeps(7, (uint)i, ratio) ? keep : 0f;
            if (first[i] != expected) throw new XunitException($"dropout mask[{i}] = {first[i]}, expected {expected} (DropoutMask.Keeps)");
            if (yData[i] != xData[i] * first[i]) throw new XunitException($"dropout y[{i}] = {yData[i]}, expected x * mask = {xData[i] * first[i]}");
        }
        int differing = first.Zip(other).Count(pair => pair.First != pair.Second);
        // Two independent masks at ratio 0.5 differ in about half the elements.
        Assert.InRange(differing, first.Length / 3, 2 * first.Length / 3);
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    public void DropoutMask_KeepsAboutOneMinusRatio(float ratio)
    {
        var shape = new Shape(1 << 16);
        var mask = DropoutMaskOf(shape, ratio, 1234, out _, out _);
        float keep = 1f / (1f - ratio);
        int kept = mask.Count(m => m == keep);
        int dropped = mask.Count(m => m == 0f);
        Assert.Equal(mask.Length, kept + dropped);
        // Binomial: the standard deviation of the kept fraction is at most sqrt(0.25 / 65536) ~ 0.002.
        double fraction = (double)kept / mask.Length;
        Assert.InRange(fraction, 1 - ratio - 0.01, 1 - ratio + 0.01);
    }

    [Fact]
    public void DropoutMask_RatioZero_KeepsEverything()
    {
        var mask = DropoutMaskOf(new Shape(1000), 0f, 99, out var xData, out var yData);
        AssertExact(_ => 1f, mask, "dropout mask at ratio 0");
        AssertExact(i => xData[i], yData, "dropout y at ratio 0");
    }

    // ================================================================ gaussian blur

    /// <summary>scipy.ndimage's "reflect" extension (d c b a | a b c d | d c b a), by folding, for any offset.</summary>
    private static int Reflect(int i, int n)
    {
        while (i < 0 || i >= n)
        {
            if (i < 0) i = -i - 1;
            if (i >= n) i = 2 * n - 1 - i;
        }
        return i;
    }

    /// <summary>Normalized Gaussian taps out to radius int(4 sigma + 0.5), scipy's truncate = 4.</summary>
    private static double[] HostTaps(double sigma)
    {
        int radius = (int)(4 * sigma + 0.5);
        var taps = Enumerable.Range(-radius, 2 * radius + 1).Select(i => Math.Exp(-i * i / (2 * sigma * sigma))).ToArray();
        double sum = taps.Sum();
        return taps.Select(t => t / sum).ToArray();
    }

    /// <summary>The blur as one direct 2-D convolution with the outer product of the taps.</summary>
    private static float[] HostBlur(float[] x, Shape shape, double sigma)
    {
        var taps = HostTaps(sigma);
        int radius = taps.Length / 2, H = shape.H, W = shape.W;
        var y = new float[x.Length];
        for (int plane = 0; plane < shape.N * shape.C; plane++)
        for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
        {
            double sum = 0;
            for (int a = -radius; a <= radius; a++)
            for (int b = -radius; b <= radius; b++)
                sum += taps[a + radius] * taps[b + radius] * x[plane * H * W + Reflect(h + a, H) * W + Reflect(w + b, W)];
            y[plane * H * W + h * W + w] = (float)sum;
        }
        return y;
    }

    private float[] Blur(float[] data, Shape shape, float sigma)
    {
        using var x = Backend.Upload(data, shape);
        using var y = Backend.Allocate(shape);
        Backend.Fill(y, Poison);
        Backend.GaussianBlur(x, y, sigma);
        return Backend.Download(y);
    }

    [Theory]
    [InlineData(0.5f, 9, 11)]
    [InlineData(1f, 9, 11)]
    [InlineData(1.7f, 12, 10)]
    // Radius 10 on a 7x6 image: the taps reach past the mirrored copy, into the next period.
    [InlineData(2.5f, 7, 6)]
    [InlineData(1.3f, 1, 5)]
    public void GaussianBlur_MatchesDirect2dConvolutionWithReflectBorders(float sigma, int height, int width)
    {
        var shape = Shape.Nchw(2, 2, height, width);
        var x = TestData.Uniform(shape.ElementCount, 901);
        var (atol, rtol) = Tolerance;
        TensorAssert.Close(HostBlur(x, shape, sigma), Blur(x, shape, sigma), atol, rtol, $"GaussianBlur sigma {sigma} on {shape}", shape);
    }

    [Theory]
    [InlineData(0.3f)]
    [InlineData(1f)]
    [InlineData(2.5f)]
    public void GaussianTaps_AreScipysNormalizedGaussian(float sigma)
    {
        var expected = HostTaps(sigma).Select(t => (float)t).ToArray();
        var taps = Backend.GaussianTaps(sigma);
        TensorAssert.Close(expected, taps, 1e-7, 1e-6, $"GaussianTaps({sigma})");
    }

    [Fact]
    public void GaussianBlur_SigmaZero_Copies()
    {
        var shape = Shape.Nchw(2, 3, 5, 4);
        var x = TestData.Uniform(shape.ElementCount, 902);
        var y = Blur(x, shape, 0f);
        AssertExact(i => x[i], y, "GaussianBlur sigma 0");
    }

    [Theory]
    [InlineData(0.8f)]
    [InlineData(3f)]
    public void GaussianBlur_ConstantImage_StaysConstant(float sigma)
    {
        var shape = Shape.Nchw(1, 2, 6, 9);
        var x = Enumerable.Repeat(0.75f, shape.ElementCount).ToArray();
        var (atol, rtol) = Tolerance;
        TensorAssert.Close(x, Blur(x, shape, sigma), atol, rtol, $"GaussianBlur of a constant, sigma {sigma}", shape);
    }

    [Fact]
    public void GaussianBlur_CentredImpulse_SumsToOne()
    {
        const float sigma = 1.5f; // radius 6: the impulse at (10, 10) of a 21x21 image never meets a border
        var shape = Shape.Nchw(1, 1, 21, 21);
        var x = new float[shape.ElementCount];
        x[10 * 21 + 10] = 1f;
        var y = Blur(x, shape, sigma);
        double sum = y.Sum(v => (double)v);
        Assert.InRange(sum, 1 - 1e-5, 1 + 1e-5);
        // Symmetric, peaked at the centre, and the centre is the product of the two middle taps.
        var taps = HostTaps(sigma);
        double centre = taps[taps.Length / 2] * taps[taps.Length / 2];
        Assert.InRange(y[10 * 21 + 10], centre - 1e-6, centre + 1e-6);
        Assert.Equal(y[10 * 21 + 9], y[10 * 21 + 11], 6);
        Assert.Equal(y[9 * 21 + 10], y[11 * 21 + 10], 6);
    }
}
