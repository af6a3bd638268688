using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Onnx.Protos;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;
using Xunit.Sdk;
using B = ConvViz.Tests.Support.OnnxGraphBuilder;

namespace ConvViz.Tests.Gradients;

/// <summary>
/// The ops real networks add to plain conv stacks, checked against finite differences on the
/// backend under test: the Pad and Clip backward ops themselves, and whole imported graphs for the
/// joins (Add, Concat), a standalone BatchNormalization (its depthwise 1x1 conv), arithmetic with
/// constants (affine layers), Pad in each mode and Split, where the network's backward must route
/// and sum the gradients. The graphs are piecewise linear away from Clip's bounds, so the central
/// differences are exact up to float rounding. Also the three Clip rules on a hand-computable tensor.
/// </summary>
public abstract class GraphOpGradientChecks : BackendTest
{
    /// <summary>Poison written into every output before a backward op: the op must overwrite it.</summary>
    private const float Poison = 123.25f;

    private GradientChecker Checker { get; } = new();

    // ================================================================ pad

    public static TheoryData<string, PadGeometry> PadCases => new()
    {
        { "constant", new PadGeometry(2, 1, 1, 3, PadMode.Constant, 0.75f) },
        { "constant with crop", new PadGeometry(-1, 2, 1, -2, PadMode.Constant) },
        { "reflect", new PadGeometry(1, 3, 3, 2, PadMode.Reflect) },
        { "reflect with crop", new PadGeometry(2, -1, -2, 4, PadMode.Reflect) },
        { "edge", new PadGeometry(3, 0, 1, 4, PadMode.Edge) },
        { "edge with crop", new PadGeometry(-2, 3, 2, -1, PadMode.Edge) },
    };

    [Theory]
    [MemberData(nameof(PadCases))]
    public void Pad2dBackward_MatchesFiniteDifferences(string name, PadGeometry g)
    {
        var xShape = Shape.Nchw(2, 3, 4, 5);
        var yShape = g.OutputShape(xShape, "test");
        var xData = TestData.Uniform(xShape.ElementCount, 211);
        var r = Checker.Weights(yShape.ElementCount);
        using var x = Backend.Upload(xData, xShape);
        using var y = Backend.Allocate(yShape);
        using var dy = Backend.Upload(r, yShape);
        using var dx = Backend.Allocate(xShape);
        Backend.Fill(dx, Poison);
        Backend.Pad2dBackward(dy, dx, g);
        Checker.Check($"Pad2dBackward {name} {g}", xData,
            xs => { Backend.Upload(xs, x); Backend.Pad2dForward(x, y, g); return Backend.Download(y); },
            r, Backend.Download(dx), xShape);
    }

    /// <summary>Reflect and edge on a 1-row, 3-column plane, by hand: what each output reads, and
    /// that backward sums dy into the inputs read more than once.</summary>
    [Fact]
    public void Pad2d_ReflectAndEdge_AreTheirDefinitions()
    {
        var xShape = Shape.Nchw(1, 1, 1, 3);
        using var x = Backend.Upload(new[] { 1f, 2f, 3f }, xShape);
        var reflect = new PadGeometry(0, 2, 0, 1, PadMode.Reflect);
        var edge = new PadGeometry(0, 2, 0, 1, PadMode.Edge);
        foreach (var (g, expectedY, expectedDx) in new[]
        {
            // reflect: 3 2 | 1 2 3 | 2   dy = 1..6 → dx[0] = 3, dx[1] = 2 + 4 + 6, dx[2] = 1 + 5
            (reflect, new[] { 3f, 2f, 1f, 2f, 3f, 2f }, new[] { 3f, 12f, 6f }),
            // edge: 1 1 | 1 2 3 | 3   dx[0] = 1 + 2 + 3, dx[1] = 4, dx[2] = 5 + 6
            (edge, new[] { 1f, 1f, 1f, 2f, 3f, 3f }, new[] { 6f, 4f, 11f }),
        })
        {
            using var y = Backend.Allocate(g.OutputShape(xShape, "test"));
            Backend.Pad2dForward(x, y, g);
            Assert.Equal(expectedY, Backend.Download(y));
            using var dy = Backend.Upload(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, y.Shape);
            using var dx = Backend.Allocate(xShape);
            Backend.Fill(dx, Poison);
            Backend.Pad2dBackward(dy, dx, g);
            Assert.Equal(expectedDx, Backend.Download(dx));
        }
    }

    [Fact]
    public void Pad2d_RefusesReflectPadsAsLargeAsTheSide()
    {
        using var x = Backend.Allocate(Shape.Nchw(1, 1, 3, 4));
        using var y = Backend.Allocate(Shape.Nchw(1, 1, 3, 8));
        var e = Assert.Throws<ArgumentException>(() => Backend.Pad2dForward(x, y, new PadGeometry(0, 4, 0, 0, PadMode.Reflect)));
        Assert.Contains("smaller than the side", e.Message);
    }

    // ================================================================ clip

    private static readonly ClipBounds Bounds = new(-0.4f, 0.5f);

    private float[] ClipBackward(float[] xData, float[] dyData, ClipBounds bounds, ReluRule rule)
    {
        var shape = new Shape(xData.Length);
        using var x = Backend.Upload(xData, shape);
        using var dy = Backend.Upload(dyData, shape);
        using var dx = Backend.Allocate(shape);
        Backend.Fill(dx, Poison);
        Backend.ClipBackward(x, dy, dx, bounds, rule);
        return Backend.Download(dx);
    }

    /// <summary>The gradient rule against central differences, at points away from both bounds
    /// (within 2h of a bound the difference is neither 0 nor 1, so those are skipped).</summary>
    [Fact]
    public void ClipBackward_GradientRule_MatchesFiniteDifferences()
    {
        var shape = Shape.Nchw(2, 3, 5, 4);
        var xData = TestData.Uniform(shape.ElementCount, 221);
        var r = Checker.Weights(shape.ElementCount);
        var analytic = ClipBackward(xData, r, Bounds, ReluRule.Gradient);
        using var x = Backend.Upload(xData, shape);
        using var y = Backend.Allocate(shape);
        double kink = 2 * Checker.Step;
        var report = Checker.Check("ClipBackward Gradient [-0.4, 0.5]", xData,
            xs => { Backend.Upload(xs, x); Backend.ClipForward(x, y, Bounds); return Backend.Download(y); },
            r, analytic, shape, skip: j => Math.Abs(xData[j] - Bounds.Min) < kink || Math.Abs(xData[j] - Bounds.Max) < kink);
        // Both gates are exercised: some inputs lie below, inside and above the bounds.
        Assert.Contains(xData, v => v < Bounds.Min - kink);
        Assert.Contains(xData, v => v > Bounds.Max + kink);
        Assert.True(report.Checked > shape.ElementCount / 2, $"only {report.Checked} coordinates checked");
    }

    /// <summary>
    /// ReLU6's three rules on x = [-1, 0, 3, 6, 7, 3, -1, 7] and dy = [2, 2, 2, 2, 2, -2, -2, -2], by hand:
    /// gradient dy·[0 &lt; x &lt; 6], deconvnet max(dy, 0)·[x &lt; 6], guided max(dy, 0)·[0 &lt; x &lt; 6].
    /// </summary>
    [Fact]
    public void ClipBackward_ThreeRules_OnAHandComputedTensor()
    {
        float[] x = [-1f, 0f, 3f, 6f, 7f, 3f, -1f, 7f];
        float[] dy = [2f, 2f, 2f, 2f, 2f, -2f, -2f, -2f];
        var relu6 = ClipBounds.Relu6;
        Assert.Equal(new[] { 0f, 0f, 2f, 0f, 0f, -2f, 0f, 0f }, ClipBackward(x, dy, relu6, ReluRule.Gradient));
        Assert.Equal(new[] { 2f, 2f, 2f, 0f, 0f, 0f, 0f, 0f }, ClipBackward(x, dy, relu6, ReluRule.Deconvnet));
        Assert.Equal(new[] { 0f, 0f, 2f, 0f, 0f, 0f, 0f, 0f }, ClipBackward(x, dy, relu6, ReluRule.Guided));

        var shape = new Shape(x.Length);
        using var xs = Backend.Upload(x, shape);
        using var y = Backend.Allocate(shape);
        Backend.ClipForward(xs, y, relu6);
        Assert.Equal(new[] { 0f, 0f, 3f, 6f, 6f, 3f, 0f, 6f }, Backend.Download(y));
    }

    /// <summary>Every rule on random data is its definition (<see cref="ClipBounds.Passes"/>), in
    /// place on dy too, with one bound absent (an infinity).</summary>
    [Theory]
    [InlineData(ReluRule.Gradient)]
    [InlineData(ReluRule.Deconvnet)]
    [InlineData(ReluRule.Guided)]
    public void ClipBackward_EveryRule_IsItsDefinition(ReluRule rule)
    {
        var x = TestData.Uniform(301, 231);
        var dy = TestData.Uniform(301, 232);
        foreach (var bounds in new[] { Bounds, new ClipBounds(float.NegativeInfinity, 0.25f), new ClipBounds(-0.25f, float.PositiveInfinity) })
        {
            var dx = ClipBackward(x, dy, bounds, rule);
            for (int i = 0; i < x.Length; i++)
                Assert.True(dx[i] == (bounds.Passes(x[i], dy[i], rule) ? dy[i] : 0f), $"{rule} {bounds} at [{i}]: x {x[i]}, dy {dy[i]}, dx {dx[i]}");
            var shape = new Shape(x.Length);
            using var xs = Backend.Upload(x, shape);
            using var inPlace = Backend.Upload(dy, shape);
            Backend.ClipBackward(xs, inPlace, inPlace, bounds, rule);
            Assert.Equal(dx, Backend.Download(inPlace));
        }
    }

    // ================================================================ imported graphs

    /// <summary>
    /// Imports <paramref name="model"/> on the backend and compares the network's input gradient of
    /// L = sum r·y (y the last layer's output, seeded backward with r) with central differences of
    /// the network's forward.
    /// </summary>
    private void CheckGraph(string label, ModelProto model, Func<Layer, bool> expectLayer)
    {
        using var network = OnnxImporter.Import(model, Backend, label).Network;
        Assert.Contains(network.Layers, l => expectLayer(l));
        var shape = network.InputShape(2);
        var xData = TestData.Uniform(shape.ElementCount, 241);
        using var x = Backend.Upload(xData, shape);
        float[] analytic;
        float[] r;
        using (var pass = network.Forward(x))
        {
            r = Checker.Weights(pass.Last.ElementCount);
            using var seed = Backend.Upload(r, pass.Last.Shape);
            using var dx = network.Backward(pass, network.Layers[^1].Name, seed)
                ?? throw new XunitException($"{label}: backward returned no input gradient");
            analytic = Backend.Download(dx);
        }
        Checker.Check($"{label} d/dx", xData, xs =>
        {
            Backend.Upload(xs, x);
            using var pass = network.Forward(x);
            return Backend.Download(pass.Last);
        }, r, analytic, shape);
    }

    /// <summary>Add joining two affine branches of the input: dx = dy·scale1 + dy·scale2.</summary>
    [Fact]
    public void AddJoin_OfTwoBranches_MatchesFiniteDifferences()
    {
        var b = new B("add", 3, 4, 5);
        var scaled = b.Node("Mul", [B.Input, b.Weight("scale", [3, 1, 1], 1)], "scaled");
        var shifted = b.Node("Add", [b.Weight("shift", [1, 3, 1, 1], 2), B.Input], "shifted");
        var sum = b.Node("Add", [scaled, shifted], "sum");
        CheckGraph("Add join", b.Build(sum), l => l is AddLayer);
    }

    /// <summary>Concat of a branch and the input itself: the input's gradient sums its own slice of
    /// dy and what comes back through the branch.</summary>
    [Fact]
    public void ConcatJoin_WithTheInputReadTwice_MatchesFiniteDifferences()
    {
        var b = new B("concat", 3, 4, 5);
        var scaled = b.Node("Mul", [B.Input, b.Weight("scale", [1, 3, 1, 1], 3)], "scaled");
        var joined = b.Node("Concat", [scaled, B.Input], "joined", B.Int("axis", 1));
        CheckGraph("Concat", b.Build(joined), l => l is ConcatLayer);
    }

    /// <summary>A BatchNormalization of the graph input has no Conv to fold into: it becomes a
    /// depthwise 1x1 conv of its own.</summary>
    [Fact]
    public void StandaloneBatchNormalization_MatchesFiniteDifferences()
    {
        var b = new B("bn", 3, 4, 5);
        var bn = b.Node("BatchNormalization", [B.Input, b.Weight("gamma", [3], 4), b.Weight("beta", [3], 5), b.Weight("mean", [3], 6),
            b.Floats("var", [3], 0.5f, 1.5f, 2.5f)], "bn");
        CheckGraph("standalone BatchNormalization", b.Build(bn), l => l is Conv2dLayer { Geometry.Groups: 3 });
    }

    /// <summary>Sub(c, x), Div(x, c) and Mul(x, scalar), the normalization layers of an input
    /// transform, as a chain of affine layers.</summary>
    [Fact]
    public void ArithmeticWithConstants_MatchesFiniteDifferences()
    {
        var b = new B("affine", 3, 4, 5);
        var negated = b.Node("Sub", [b.Weight("c", [1, 3, 1, 1], 7), B.Input], "negated");
        var divided = b.Node("Div", [negated, b.Floats("std", [3, 1, 1], 0.229f, -0.224f, 0.225f)], "divided");
        var scaled = b.Node("Mul", [b.Floats("half", [], 0.5f), divided], "scaled");
        CheckGraph("Sub, Div, Mul by constants", b.Build(scaled), l => l is Conv2dLayer);
    }

    public static TheoryData<string, long[]> GraphPadCases => new()
    {
        { "constant", [0, 0, 1, 2, 0, 0, 2, -1] },
        { "reflect", [0, 0, 3, 1, 0, 0, 1, 4] },
        { "edge", [0, 0, 2, 0, 0, 0, 3, 2] },
    };

    /// <summary>Pad in each mode after an affine layer (so the pad's dx is routed on).</summary>
    [Theory]
    [MemberData(nameof(GraphPadCases))]
    public void PadLayer_MatchesFiniteDifferences(string mode, long[] pads)
    {
        var b = new B("pad", 3, 4, 5);
        var scaled = b.Node("Mul", [B.Input, b.Weight("scale", [3, 1, 1], 8)], "scaled");
        string[] inputs = mode == "constant" ? [scaled, b.Int64s("pads", pads), b.Floats("value", [], 0.3f)] : [scaled, b.Int64s("pads", pads)];
        var padded = b.Node("Pad", inputs, "padded", B.String("mode", mode));
        CheckGraph($"Pad {mode}", b.Build(padded), l => l is PadLayer p && p.Geometry.Mode.ToString().Equals(mode, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Split into 1 and 3 channels, each part through its own layer, joined back in the
    /// other order: each part's gradient lands in its own channels of dx.</summary>
    [Fact]
    public void Split_MatchesFiniteDifferences()
    {
        var b = new B("split", 4, 3, 5);
        var parts = b.Node("Split", [B.Input, b.Int64s("sizes", 1, 3)], ["first", "rest"], B.Int("axis", 1));
        var scaled = b.Node("Mul", [parts[1], b.Weight("scale", [3, 1, 1], 9)], "scaled");
        var shifted = b.Node("Sub", [parts[0], b.Floats("c", [], 0.25f)], "shifted");
        var joined = b.Node("Concat", [scaled, shifted], "joined", B.Int("axis", 1));
        CheckGraph("Split", b.Build(joined), l => l is ChannelSliceLayer);
    }
}
