using ConvViz.Engine;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Parity;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Networks;

/// <summary>The Network's contract: named layers, partial forward, backward from any layer with any
/// seed, parameter gradients that agree with finite differences of the training loss, clear errors.</summary>
public abstract class NetworkTests : BackendTest
{
    [Fact]
    public void AlexNetHasTheCaffeLayoutShapesAndParameterCount()
    {
        using var network = AlexNet.Create(Backend, seed: 1);
        var rows = network.Summarize(1);
        Assert.Equal(
            ["conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2", "conv3", "relu3", "conv4", "relu4",
             "conv5", "relu5", "pool5", "fc6", "relu6", "drop6", "fc7", "relu7", "drop7", "fc8"],
            rows.Select(r => r.Name));
        Assert.Equal(Shape.Nchw(1, 96, 55, 55), network.OutputShape("conv1", 1));
        Assert.Equal(Shape.Nchw(1, 96, 27, 27), network.OutputShape("pool1", 1));
        Assert.Equal(Shape.Nchw(1, 256, 13, 13), network.OutputShape("pool2", 1));
        Assert.Equal(Shape.Nchw(1, 256, 6, 6), network.OutputShape("pool5", 1));
        Assert.Equal(new Shape(1, 1000), network.OutputShape("fc8", 1));
        // bvlc_alexnet: 60,965,224 parameters and 724.4 M multiply-accumulates per image.
        Assert.Equal(60_965_224, rows.Sum(r => r.Parameters));
        Assert.Equal(724_406_816, rows.Sum(r => r.MultiplyAccumulates));
    }

    [Fact]
    public void InferenceThatOverflowsNamesTheFirstNonFiniteLayer()
    {
        using var network = SmallNetworks.AlexNetStyle(Backend, seed: 1, classes: 4);
        var conv2 = network.Layers.OfType<Conv2dLayer>().ElementAt(1);
        // Weights at float.MaxValue make conv2's sums overflow to infinity, and every layer after it
        // (inputs of up to ±100 make each window's sum of inputs well above 1).
        Backend.Fill(conv2.Weight.Value, float.MaxValue);
        var shape = network.InputShape(1);
        var values = TestData.Uniform(shape.ElementCount, 2, scale: 100f);
        using var input = Backend.Upload(values, shape);

        var e = Assert.Throws<InvalidDataException>(() => network.Forward(input));
        Assert.StartsWith($"layer '{conv2.Name}' (Conv) produced ", e.Message);
        Assert.EndsWith("from a finite input: the model's weights overflow float32 there", e.Message);
        // A pass that stops before the overflow is a result; a training pass is left to the trainer.
        using (network.Forward(input, upTo: network.Layers[network.IndexOf(conv2.Name) - 1].Name)) { }
        using (network.Forward(input, training: true)) { }

        values[5] = float.NaN;
        using var nan = Backend.Upload(values, shape);
        var refused = Assert.Throws<ArgumentException>(() => network.Forward(nan));
        Assert.Equal("network input holds NaN at element 5; inputs must be finite numbers", refused.Message);
    }

    [Fact]
    public void ForwardStopsAtTheNamedLayer()
    {
        using var network = SmallNetworks.AlexNetStyle(Backend, seed: 1, classes: 4);
        var shape = network.InputShape(2);
        using var input = Backend.Upload(TestData.Uniform(shape.ElementCount, 2), shape);
        using var pass = network.Forward(input, upTo: "norm2");
        Assert.Equal(network.IndexOf("norm2") + 1, pass.Count);
        Assert.Equal(network.OutputShape("norm2", 2), pass.Last.Shape);
        var error = Assert.Throws<ArgumentException>(() => pass.Output("fc5"));
        Assert.Contains("fc5", error.Message);
        using var seed = Backend.Allocate(network.OutputShape("fc5", 2));
        Assert.Contains("stopped at 'norm2'", Assert.Throws<ArgumentException>(() => network.Backward(pass, "fc5", seed)).Message);
    }

    [Fact]
    public void UnknownLayerNamesAreNamedInTheError()
    {
        using var network = SmallNetworks.AlexNetStyle(Backend, seed: 1, classes: 4);
        var shape = network.InputShape(1);
        using var input = Backend.Upload(new float[shape.ElementCount], shape);
        var error = Assert.Throws<ArgumentException>(() => network.Forward(input, upTo: "conv9"));
        Assert.Contains("no layer named 'conv9'", error.Message);
        Assert.Contains("conv1", error.Message);
    }

    [Fact]
    public void WrongInputAndSeedShapesAreRejected()
    {
        using var network = SmallNetworks.AlexNetStyle(Backend, seed: 1, classes: 4);
        using var wrong = Backend.Allocate(1, 3, 20, 19);
        Assert.Contains("expected (1, 3, 19, 19)", Assert.Throws<ArgumentException>(() => network.Forward(wrong)).Message);
        using var input = Backend.Allocate(network.InputShape(1));
        using var pass = network.Forward(input);
        using var seed = Backend.Allocate(1, 5);
        Assert.Contains("expected (1, 4)", Assert.Throws<ArgumentException>(() => network.Backward(pass, "fc5", seed)).Message);
        Assert.Contains("outside layer 'conv2'", Assert.Throws<ArgumentException>(() => network.UnitSeed(pass, "conv2", 12)).Message);
        Assert.Contains("position", Assert.Throws<ArgumentException>(() => network.UnitSeed(pass, "conv2", 1, 99, 0)).Message);
    }

    [Fact]
    public void DuplicateLayerNamesAndMismatchedLayersAreRejected()
    {
        Assert.Contains("'relu'", Assert.Throws<ArgumentException>(() =>
            new Network(new Shape(3, 8, 8), [new ReluLayer("relu"), new ReluLayer("relu")])).Message);
        var init = new WeightInitializer(Backend, 1);
        var error = Assert.Throws<ArgumentException>(() =>
            new Network(new Shape(3, 8, 8), [init.Conv("conv1", 4, 8, Conv2dGeometry.Square(3))]));
        Assert.Contains("layer 'conv1'", error.Message);
        Assert.Contains("(1, 3, 8, 8)", error.Message);
    }

    /// <summary>A seed of one unit at (c, y, x) equals the gradient of that single activation: the
    /// backward through a pointwise network from one unit touches only its receptive field.</summary>
    [Fact]
    public void BackwardFromOneUnitOnlyReachesItsReceptiveField()
    {
        using var network = SmallNetworks.AlexNetStyle(Backend, seed: 3, classes: 4);
        var shape = network.InputShape(1);
        using var input = Backend.Upload(TestData.Uniform(shape.ElementCount, 4), shape);
        using var pass = network.Forward(input, upTo: "conv1");
        using var seed = network.UnitSeed(pass, "conv1", 2, 0, 0);
        using var dx = network.Backward(pass, "conv1", seed)!;
        var g = Backend.Download(dx);
        // conv1 is 3x3 stride 2: unit (0, 0) sees input rows and columns 0..2 only.
        for (int c = 0; c < 3; c++)
        for (int y = 0; y < 19; y++)
        for (int x = 0; x < 19; x++)
            if (y > 2 || x > 2) Assert.Equal(0f, g[(c * 19 + y) * 19 + x]);
        Assert.Contains(g, v => v != 0f);
    }

    /// <summary>
    /// Backprop through the whole stack agrees with central differences of the training loss
    /// (mean softmax cross-entropy, dropout mask fixed by its seed) for a sample of every
    /// parameter tensor and of the input.
    /// </summary>
    [Fact]
    public void ParameterAndInputGradientsMatchFiniteDifferencesOfTheLoss()
    {
        using var network = SmallNetworks.AlexNetStyle(Backend, seed: 11, classes: 5);
        CheckLossGradients(network);
    }

    /// <summary>
    /// The same on a graph: a residual Add and a Concat whose inputs also feed other layers, so the
    /// gradients of two readers must be summed (and a reshape's view of dy handed on). The check runs
    /// on the linear form of the graph: with its ReLUs and max pool, a step in a conv1 weight moves
    /// about a thousand rectified units and pooling windows and crosses kinks and switches the
    /// second-difference test cannot see (3-10% off on every backend alike, exact without them),
    /// while the routing under test is linear; the ReLU and pooling rules have their own checks.
    /// </summary>
    [Fact]
    public void GraphGradientsMatchFiniteDifferencesOfTheLoss()
    {
        using var network = SmallNetworks.ResidualConcat(Backend, seed: 11, classes: 5, rectified: false);
        Assert.False(network.IsSequential);
        CheckLossGradients(network);
    }

    /// <summary>
    /// The library's gradient check on the same linear graph: J is linear in every single coordinate,
    /// so central differences are exact for any step up to float32 rounding, and a step of 1 keeps
    /// that rounding (~1e-7 of J, with gradients ~1e-3) small against the difference; the check covers the input, every
    /// layer output that feeds the objective (outputs read by two layers included) and every parameter.
    /// </summary>
    [Fact]
    public void GradientCheckOfAGraphAgreesOnEveryTensor()
    {
        using var network = SmallNetworks.ResidualConcat(Backend, seed: 11, classes: 5, rectified: false);
        var shape = network.InputShape(1);
        using var input = Backend.Upload(TestData.Uniform(shape.ElementCount, 21), shape);
        var reports = new List<GradientCheckProgress>();

        var report = GradientCheck.Run(network, input, "fc4", new GradientCheckOptions { Points = 3, Step = 1f, Tolerance = 1e-3 }, new Random(5),
            new ProgressAction<GradientCheckProgress>(reports.Add));
        var rows = report.Rows;

        // 1 input + 11 layer outputs below fc4 + 5 conv/fc layers x (weight, bias).
        Assert.Equal(1 + 11 + 10, rows.Count);
        Assert.Contains(rows, r => r.Layer == "relu1" && r.Tensor == "output");
        
        Assert.All(rows, r => Assert.True(r.WorstRelativeError < 1e-3, $"{r.Layer} {r.Tensor}: {r.WorstRelativeError:E2} (analytic {r.Analytic}, numeric {r.Numeric})"));
        Assert.True(report.Passed);
        Assert.Equal(0, report.Kinks);
        Assert.Equal(Enumerable.Range(1, 12), reports.Select(r => r.LayersChecked));
        Assert.All(reports, r => Assert.Equal(12, r.Layers));
    }

    private void CheckLossGradients(Network network)
    {
        var shape = network.InputShape(2);
        var inputData = TestData.Uniform(shape.ElementCount, 12);
        using var input = Backend.Upload(inputData, shape);
        using var labels = Backend.Upload(new[] { 1, 3 }, new Shape(2));
        var dropouts = network.Layers.OfType<DropoutLayer>().ToArray();
        string output = network.Layers[^1].Name;

        double Loss(bool withGradients, out float[]? inputGradient)
        {
            foreach (var dropout in dropouts) dropout.Step = 0; // the same mask every evaluation
            using var pass = network.Forward(input, training: true);
            using var probs = Backend.Allocate(pass.Last.Shape);
            using var losses = Backend.Allocate(2);
            using var dlogits = Backend.Allocate(pass.Last.Shape);
            Backend.SoftmaxCrossEntropy(pass.Last, labels, probs, losses, dlogits);
            inputGradient = null;
            if (withGradients)
            {
                using var dx = network.Backward(pass, output, dlogits, new BackwardOptions(ParameterGradients: true))!;
                inputGradient = Backend.Download(dx);
            }
            return Backend.Download(losses).Sum(v => (double)v) / 2;
        }

        double center = Loss(true, out var analyticInput);
        var random = new Random(13);
        // Float32 forward: the loss (~1.6) carries rounding noise ~2e-7, so a step of 1e-3 leaves
        // ~1e-4 of noise in the difference quotient, far inside the tolerance (2e-3 at the floor).
        // A larger step crosses too many ReLU kinks and pooling ties in this small network: at 1e-2
        // one conv1 bias measured 7% off on every backend, while 1e-3 agrees to 0.1%.
        const float h = 1e-3f;
        int checkedCount = 0;

        // Perturbs one coordinate through set(value) and compares; a second difference far above
        // the smooth-curvature level means the step crossed a ReLU kink or a pooling switch: skipped.
        void Check(string label, float original, float analytic, Action<float> set)
        {
            set(original + h);
            double plus = Loss(false, out _);
            set(original - h);
            double minus = Loss(false, out _);
            set(original);
            if (Math.Abs(plus - 2 * center + minus) > 0.1 * Math.Abs(plus - minus) + 1e-5) return;
            double numeric = (plus - minus) / (2 * h);
            Assert.True(Math.Abs(numeric - analytic) <= 2e-2 * Math.Max(1e-1, Math.Max(Math.Abs(numeric), Math.Abs(analytic))),
                $"{label}: backprop {analytic}, finite difference {numeric}");
            checkedCount++;
        }

        foreach (var parameter in network.Parameters)
        {
            var analytic = Backend.Download(parameter.Gradient!);
            var values = Backend.Download(parameter.Value);
            for (int trial = 0; trial < 6; trial++)
            {
                int i = random.Next(values.Length);
                Check($"{parameter.Name}[{i}]", values[i], analytic[i], v => { values[i] = v; Backend.Upload(values, parameter.Value); });
            }
        }
        for (int trial = 0; trial < 10; trial++)
        {
            int i = random.Next(inputData.Length);
            Check($"input[{i}]", inputData[i], analyticInput![i], v => { inputData[i] = v; Backend.Upload(inputData, input); });
        }
        Assert.True(checkedCount >= 50, $"only {checkedCount} coordinates were checked");
    }
}
