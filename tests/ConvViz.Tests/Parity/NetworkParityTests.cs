using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Parity;

/// <summary>
/// Whole-network parity with the Reference backend: AlexNet forward (every layer's output) and the
/// three backward rules to the input, and a training step's parameter gradients on a small
/// AlexNet-style network with every layer type.
/// </summary>
public abstract class NetworkParityTests : BackendTest
{
    private readonly Backend reference = CreateReference();

    protected override void Cleanup() => reference.Dispose();

    private static float[] Input(Shape shape, int seed) => TestData.Uniform(shape.ElementCount, seed);

    // Float accumulation over up to 9216 terms per output against the double Reference; the bound
    // is relative to each tensor's largest magnitude (see BackendParityTests.AssertSame).
    private static void AssertSame(float[] expected, float[] actual, string label, Shape shape)
    {
        double scale = Math.Max(1e-6, expected.Max(v => Math.Abs((double)v)));
        TensorAssert.Close(expected, actual, 1e-4 * scale, 1e-4, label, shape);
    }

    [Fact]
    public void AlexNetForwardMatchesReferenceAtEveryLayer()
    {
        using var fast = AlexNet.Create(Backend, seed: 5);
        using var law = AlexNet.Create(reference, seed: 5);
        var shape = fast.InputShape(1);
        var data = Input(shape, 6);
        using var fastInput = Backend.Upload(data, shape);
        using var lawInput = reference.Upload(data, shape);
        using var fastPass = fast.Forward(fastInput);
        using var lawPass = law.Forward(lawInput);
        foreach (var layer in fast.Layers)
            AssertSame(reference.Download(lawPass.Output(layer.Name)), Backend.Download(fastPass.Output(layer.Name)),
                $"AlexNet {layer.Name}", fastPass.Output(layer.Name).Shape);
    }

    [Theory]
    [InlineData(ReluRule.Gradient, "fc8")]
    [InlineData(ReluRule.Deconvnet, "conv5")]
    [InlineData(ReluRule.Guided, "conv5")]
    [InlineData(ReluRule.Guided, "fc8")]
    public void AlexNetBackwardToInputMatchesReference(ReluRule rule, string from)
    {
        using var fast = AlexNet.Create(Backend, seed: 7);
        using var law = AlexNet.Create(reference, seed: 7);
        var shape = fast.InputShape(1);
        var data = Input(shape, 8);
        float[] Run(Network network, Backend backend)
        {
            using var input = backend.Upload(data, shape);
            using var pass = network.Forward(input, upTo: from);
            using var seed = network.UnitSeed(pass, from, 3);
            using var dx = network.Backward(pass, from, seed, new BackwardOptions(rule))!;
            return backend.Download(dx);
        }
        AssertSame(Run(law, reference), Run(fast, Backend), $"AlexNet d {from}[3] / d input, {rule} rule", shape);
    }

    [Fact]
    public void TrainingStepParameterGradientsMatchReference()
    {
        var (fastGrads, fastLoss) = TrainingGradients(Backend);
        var (lawGrads, lawLoss) = TrainingGradients(reference);
        Assert.Equal(lawLoss, fastLoss, 4);
        foreach (var (name, expected) in lawGrads)
            AssertSame(expected, fastGrads[name], $"gradient of {name}", new Shape(expected.Length));
    }

    /// <summary>One forward/backward of a softmax cross-entropy loss in training mode (dropout on).</summary>
    private static (Dictionary<string, float[]> Gradients, float Loss) TrainingGradients(Backend backend)
    {
        using var network = SmallNetworks.AlexNetStyle(backend, seed: 9, classes: 5);
        var shape = network.InputShape(3);
        using var input = backend.Upload(Input(shape, 10), shape);
        using var labels = backend.Upload(new[] { 4, 0, 2 }, new Shape(3));
        using var pass = network.Forward(input, training: true);
        using var probs = backend.Allocate(pass.Last.Shape);
        using var losses = backend.Allocate(3);
        using var dlogits = backend.Allocate(pass.Last.Shape);
        backend.SoftmaxCrossEntropy(pass.Last, labels, probs, losses, dlogits);
        var dx = network.Backward(pass, network.Layers[^1].Name, dlogits, new BackwardOptions(ParameterGradients: true, InputGradient: false));
        Assert.Null(dx);
        var gradients = network.Parameters.ToDictionary(p => p.Name, p => backend.Download(p.Gradient!));
        return (gradients, backend.Download(losses).Average());
    }
}

/// <summary>Small networks with every layer type, for tests that need the whole stack quickly.</summary>
public static class SmallNetworks
{
    /// <summary>
    /// An AlexNet in miniature, on (3, 19, 19) inputs: conv (stride 2) → relu → LRN → maxpool 3/2 →
    /// grouped conv (pad 1) → relu → LRN → avgpool → conv → relu → maxpool (ceil) → flatten → fc →
    /// relu → dropout → fc → softmax-free logits.
    /// </summary>
    public static Network AlexNetStyle(Backend backend, int seed, int classes)
    {
        var init = new WeightInitializer(backend, seed);
        var lrn = new LrnParameters(3, 0.5f, 0.75f, 2f);
        Layer[] layers =
        [
            init.Conv("conv1", 3, 8, Conv2dGeometry.Square(3, stride: 2)),
            new ReluLayer("relu1"),
            new LrnLayer("norm1", lrn),
            new MaxPoolLayer("pool1", PoolGeometry.Square(3, 2, pad: 1)),
            init.Conv("conv2", 8, 12, Conv2dGeometry.Square(3, pad: 1, groups: 2)),
            new ReluLayer("relu2"),
            new LrnLayer("norm2", lrn),
            new AveragePoolLayer("pool2", PoolGeometry.Square(2, 1)),
            init.Conv("conv3", 12, 10, Conv2dGeometry.Square(1)),
            new ReluLayer("relu3"),
            new MaxPoolLayer("pool3", PoolGeometry.Square(2, 2, ceilMode: true)),
            ReshapeLayer.Flatten("flatten"),
            init.FullyConnected("fc4", 10 * 2 * 2, 16),
            new ReluLayer("relu4"),
            new DropoutLayer("drop4", 0.25f, (uint)seed),
            init.FullyConnected("fc5", 16, classes),
        ];
        return new Network(new Shape(3, 19, 19), layers);
    }

    /// <summary>
    /// A graph on (3, 9, 9) inputs: conv → relu → a residual block (conv → relu → conv, added to its
    /// input) → relu → a 1x1 conv concatenated with its own input along the channels → maxpool 3/2 →
    /// flatten → fc. One tensor (relu1, relu2) feeds two layers, so backward must sum their
    /// gradients. Without <paramref name="rectified"/> each ReLU is an identity reshape instead (its
    /// backward hands back a view of dy) and the max pool an average pool, so the network is linear
    /// and finite differences have no kinks or pooling switches to cross.
    /// </summary>
    public static Network ResidualConcat(Backend backend, int seed, int classes, bool rectified = true)
    {
        var init = new WeightInitializer(backend, seed);
        Layer Rectifier(string name) => rectified ? new ReluLayer(name) : new ReshapeLayer(name, [6, 9, 9]);
        GraphNode[] nodes =
        [
            new(init.Conv("conv1", 3, 6, Conv2dGeometry.Square(3, pad: 1)), [Network.Input]),
            new(Rectifier("relu1"), [0]),
            new(init.Conv("conv2a", 6, 6, Conv2dGeometry.Square(3, pad: 1)), [1]),
            new(Rectifier("relu2a"), [2]),
            new(init.Conv("conv2b", 6, 6, Conv2dGeometry.Square(3, pad: 1)), [3]),
            new(new AddLayer("add2"), [4, 1]),
            new(Rectifier("relu2"), [5]),
            new(init.Conv("conv3", 6, 4, Conv2dGeometry.Square(1)), [6]),
            new(new ConcatLayer("concat3"), [7, 6]),
            new(rectified ? new MaxPoolLayer("pool3", PoolGeometry.Square(3, 2)) : new AveragePoolLayer("pool3", PoolGeometry.Square(3, 2)), [8]),
            new(ReshapeLayer.Flatten("flatten"), [9]),
            new(init.FullyConnected("fc4", 10 * 4 * 4, classes), [10]),
        ];
        return new Network(new Shape(3, 9, 9), nodes);
    }
}
