using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Parity;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Visualization;

/// <summary>
/// The layer-by-layer backward pass: its gradients are exactly what <see cref="Network.Backward"/>'s observer sees
/// (on a sequential AlexNet-like network and on a residual + concat graph, under each ReLU rule), each step's windows
/// hold values of the gradients they name, the explanations carry the layers' own parameters, and the signed grid
/// puts 0 at mid gray. Bound to Reference and Cpu.
/// </summary>
public abstract class BackwardTraceTests : BackendTest
{
    public static TheoryData<string, string, int, int?, ReluRule> Targets => new()
    {
        { "alexnet", "fc5", 2, null, ReluRule.Gradient },
        { "alexnet", "relu3", 4, null, ReluRule.Deconvnet },
        { "alexnet", "conv2", 5, 3, ReluRule.Guided },
        { "graph", "fc4", 1, null, ReluRule.Guided },
        { "graph", "concat3", 7, null, ReluRule.Gradient },
    };

    private Network Create(string kind) =>
        kind == "alexnet" ? SmallNetworks.AlexNetStyle(Backend, seed: 5, classes: 4) : SmallNetworks.ResidualConcat(Backend, seed: 5, classes: 3);

    private Tensor Input(Network network, int seed) => Backend.Upload(TestData.Uniform(network.InputShape(1).ElementCount, seed), network.InputShape(1));

    [Theory]
    [MemberData(nameof(Targets))]
    public void Gradients_AreWhatBackwardObserves_TopDownThenTheInput(string kind, string layer, int channel, int? position, ReluRule rule)
    {
        using var network = Create(kind);
        using var input = Input(network, seed: 1);
        var target = new Target(layer, channel, position, position);
        var trace = BackwardTrace.Run(network, input, target, rule);

        using var pass = network.Forward(input, upTo: layer);
        using var seed = network.UnitSeed(pass, layer, channel, position, position);
        var observed = new List<(string Layer, Shape Shape, float[] Values)>();
        using var dx = network.Backward(pass, layer, seed, new BackwardOptions(rule), (i, dy) => observed.Add((network.Layers[i].Name, dy.Shape, Backend.Download(dy))))!;
        observed.Add((BackwardTrace.InputName, dx.Shape, Backend.Download(dx)));

        Assert.Equal(target, trace.Target);
        Assert.Equal(rule, trace.Rule);
        Assert.Equal(observed.Select(o => o.Layer), trace.Gradients.Select(g => g.Layer));
        Assert.Equal(layer, trace.Gradients[0].Layer);
        foreach (var (expected, actual) in observed.Zip(trace.Gradients))
        {
            Assert.Equal(expected.Shape, actual.Shape);
            Assert.Equal(expected.Values, actual.Values);
            Assert.Equal(Math.Sqrt(expected.Values.Sum(v => (double)v * v)), actual.Norm, 12);
            Assert.Equal(expected.Values.Max(v => Math.Abs((double)v)), actual.MaxAbs);
        }
        Assert.True(trace.Gradients[^1].Norm > 0, "the input receives a gradient");
        // One step per layer walked, in the same order, each naming its layer and operator.
        Assert.Equal(trace.Gradients.SkipLast(1).Select(g => g.Layer), trace.Steps.Select(s => s.Layer));
        Assert.All(trace.Steps, s => Assert.Equal(network[s.Layer].OpType, s.OpType));
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Steps_ShowWindowsOfTheGradientsTheyName(string kind, string layer, int channel, int? position, ReluRule rule)
    {
        using var network = Create(kind);
        using var input = Input(network, seed: 2);
        var trace = BackwardTrace.Run(network, input, new Target(layer, channel, position, position), rule);
        var byLayer = trace.Gradients.ToDictionary(g => g.Layer);
        foreach (var step in trace.Steps)
        {
            var before = byLayer[step.Before.Layer];
            Assert.Equal(step.Layer, step.Before.Layer);
            AssertWindowOf(before, step.Before);
            // Before is centered on the gradient's largest magnitude.
            Assert.Equal(before.MaxAbs, Math.Abs(ValueAt(before, step.Before.Channel, step.Before.Y, step.Before.X)));

            // After names one of the layer's inputs (or the network input) and holds its values.
            var inputs = network.InputsOf(network.IndexOf(step.Layer)).Select(j => j == Network.Input ? BackwardTrace.InputName : network.Layers[j].Name);
            Assert.Contains(step.After.Layer, inputs);
            AssertWindowOf(byLayer[step.After.Layer], step.After);
            Assert.Contains(step.After.Layer, step.Explanation);
            Assert.DoesNotContain('\n', step.Explanation);
        }
    }

    private static void AssertWindowOf(LayerGradient gradient, GradientWindow window)
    {
        var shape = gradient.Shape;
        int height = shape.Rank == 4 ? shape.H : 1, width = shape.Rank == 4 ? shape.W : 1;
        Assert.Equal(BackwardTrace.WindowSize, window.Size);
        // Size x Size around (Y, X), clipped to the map.
        Assert.Equal((Math.Max(0, window.Y - 1), Math.Max(0, window.X - 1)), (window.Top, window.Left));
        Assert.Equal((Math.Min(height, window.Y + 2) - window.Top, Math.Min(width, window.X + 2) - window.Left), (window.Rows, window.Columns));
        var expected = new List<float>();
        for (int y = window.Top; y < window.Top + window.Rows; y++)
            for (int x = window.Left; x < window.Left + window.Columns; x++)
                expected.Add(ValueAt(gradient, window.Channel, y, x));
        Assert.Equal(expected, window.Values);
    }

    private static float ValueAt(LayerGradient gradient, int channel, int y, int x)
    {
        var shape = gradient.Shape;
        int height = shape.Rank == 4 ? shape.H : 1, width = shape.Rank == 4 ? shape.W : 1;
        return gradient.Values[(channel * height + y) * width + x];
    }

    [Fact]
    public void Steps_ExplainEachBackwardWithTheLayersOwnParameters()
    {
        using var network = Create("alexnet");
        using var input = Input(network, seed: 3);
        string Explain(BackwardTrace trace, string layer) => trace.Steps.Single(s => s.Layer == layer).Explanation;
        var traces = Enum.GetValues<ReluRule>().ToDictionary(rule => rule, rule => BackwardTrace.Run(network, input, new Target("fc5", 1), rule));
        var gradient = traces[ReluRule.Gradient];
        Assert.Contains("flipped", Explain(gradient, "conv1"));
        Assert.Contains("kernel 3x3, stride 2x2, padding 0", Explain(gradient, "conv1"));
        Assert.Contains("kernel 3x3, stride 1x1, padding 1, 2 groups", Explain(gradient, "conv2"));
        Assert.Contains("LRN (size 3, alpha 0.5, beta 0.75, k 2)", Explain(gradient, "norm1"));
        Assert.Contains("MaxPool 3x3, stride 2x2, padding 1: routes each gradient to the input position its window's maximum came from", Explain(gradient, "pool1"));
        Assert.Contains("AveragePool 2x2, stride 1x1, padding 0", Explain(gradient, "pool2"));
        Assert.Contains("Fully connected (16x40 weights W)", Explain(gradient, "fc4"));
        Assert.Contains("Dropout (ratio 0.25) is the identity at inference", Explain(gradient, "drop4"));
        Assert.Contains("Flatten", Explain(gradient, "flatten"));
        Assert.Contains("where the forward input was > 0", Explain(gradient, "relu1"));
        Assert.Contains("max(dy, 0)", Explain(traces[ReluRule.Deconvnet], "relu1"));
        Assert.Contains("guided backprop", Explain(traces[ReluRule.Guided], "relu1"));

        // A reshape moves no value: its After is the very element its Before is centered on.
        var flatten = gradient.Steps.Single(s => s.Layer == "flatten");
        int center = Array.IndexOf(flatten.Before.Values, flatten.Before.Values.MaxBy(Math.Abs));
        Assert.Equal(flatten.Before.Values[center], ValueAt(gradient.Gradients.Single(g => g.Layer == "pool3"), flatten.After.Channel, flatten.After.Y, flatten.After.X));
        Assert.Contains("the same element viewed in the input's shape", flatten.Explanation);
        // A fully connected layer's places do not map: its After is around its input's largest value, and it says so.
        Assert.Contains("around the largest |value| of the gradient at 'drop4'", Explain(gradient, "fc5"));

        using var graph = Create("graph");
        using var graphInput = Input(graph, seed: 3);
        var graphTrace = BackwardTrace.Run(graph, graphInput, new Target("fc4", 0), ReluRule.Gradient);
        Assert.Contains("Add of 2 inputs", Explain(graphTrace, "add2"));
        Assert.Contains("Concat of 2 inputs along the channels: splits the gradient back, channels 0..3 to 'conv3', channels 4..9 to 'relu2'", Explain(graphTrace, "concat3"));
        Assert.Contains("'relu1' is read by 2 layers", Explain(graphTrace, "conv2a"));
    }

    [Fact]
    public void Render_IsASignedGrid_ZeroAtMidGray_OneSharedScale()
    {
        // Four channels of 1 x 1: -2, 0, 1, 2 on a 2 x 2 grid of equal tiles.
        var gradient = new LayerGradient("fc", new Shape(1, 4), [-2f, 0f, 1f, 2f], 3, 2);
        var image = BackwardTrace.Render(gradient);
        Assert.Equal(1, image.Channels);
        int tile = (image.Width - 3) / 2;
        Assert.Equal(image.Width, image.Height);
        byte At(int channel) => image.Pixels[(1 + channel / 2 * (tile + 1)) * image.Width + 1 + channel % 2 * (tile + 1)];
        Assert.Equal([0, 128, 191, 255], Enumerable.Range(0, 4).Select(At));

        // A map keeps its positions: channel 1 of (2, 3, 4) at (2, 3) is its largest value, white.
        var values = new float[24];
        values[12 + 2 * 4 + 3] = 5f;
        values[0] = -1f;
        var map = BackwardTrace.Render(new LayerGradient("conv", new Shape(1, 2, 3, 4), values, 5.1, 5));
        int scale = (map.Height - 2) / 3;
        Assert.Equal(2 * 4 * scale + 3, map.Width);
        Assert.Equal(255, map.Pixels[(1 + 2 * scale) * map.Width + 1 + (4 * scale + 1) + 3 * scale]);
        Assert.Equal(128 - 26, map.Pixels[map.Width + 1]);
        Assert.Equal(128, map.Pixels[map.Width + 1 + scale]);
    }
}
