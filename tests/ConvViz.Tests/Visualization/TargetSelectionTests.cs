using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Visualization;

/// <summary>The one default-target rule (a class by number or name, a unit of a layer or of the last
/// convolution, or the predicted class), on the sequential default model and on a residual graph.</summary>
public sealed class TargetSelectionTests
{
    private static ModelBundle DefaultBundle(CpuBackend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    [Fact]
    public void Sequential_DefaultsToThePredictedClass_AndAUnitToTheLastConvolution()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        using var boot = backend.Upload(ImageTensors.ToInput(ImageFile.Read(Fixtures.Path("images", "ankle_boot.png")), bundle.Preprocessing), bundle.Network.InputShape(1));

        Assert.Equal(new Target("fc8", 9), TargetSelection.Resolve(bundle, boot));
        Assert.Equal(new Target("conv5", 3, 2, 4), TargetSelection.Resolve(bundle, boot, unit: new UnitCoordinates(3, 2, 4)));
        Assert.Equal(new Target("relu2", 1), TargetSelection.Resolve(bundle, boot, layer: "relu2", unit: new UnitCoordinates(1)));
        Assert.Equal(new Target("fc8", 9), TargetSelection.Resolve(bundle, null, "ANKLE boot"));
        Assert.Equal(new Target("fc8", 1), TargetSelection.Resolve(bundle, null, "1"));
    }

    [Fact]
    public void ClassNames_AreCaseInsensitive_AndAnUnknownOneListsSomeNames()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        Assert.Equal(8, TargetSelection.ClassIndex(bundle, "bag"));
        Assert.Equal(0, TargetSelection.ClassIndex(bundle, " T-SHIRT/TOP "));
        var unknown = Assert.Throws<ArgumentException>(() => TargetSelection.ClassIndex(bundle, "boot"));
        Assert.Equal("Class", unknown.ParamName);
        Assert.StartsWith("Class 'boot' is not one of the model's classes ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', ...; 10 in all)", unknown.Message);
        var outside = Assert.Throws<ArgumentOutOfRangeException>(() => TargetSelection.ClassIndex(bundle, "10"));
        Assert.StartsWith("Class 10 is outside the model's classes 0..9", outside.Message);
        Assert.Throws<ArgumentException>(() => TargetSelection.Resolve(bundle, null, layer: "conv5"));
        Assert.Throws<ArgumentException>(() => TargetSelection.Resolve(bundle, null));
    }

    /// <summary>conv1 → relu1 → conv2 added to relu1 → relu2 → conv3 (1x1) → flatten → fc → softmax (3 classes):
    /// a unit defaults to conv3, and the logits are fc's, the last layer before the softmax.</summary>
    [Fact]
    public void Graph_UsesTheSameRule()
    {
        using var backend = new CpuBackend();
        var init = new WeightInitializer(backend, 3);
        GraphNode[] nodes =
        [
            new(init.Conv("conv1", 1, 4, Conv2dGeometry.Square(3, pad: 1)), [Network.Input]),
            new(new ReluLayer("relu1"), [0]),
            new(init.Conv("conv2", 4, 4, Conv2dGeometry.Square(3, pad: 1)), [1]),
            new(new AddLayer("add2"), [2, 1]),
            new(new ReluLayer("relu2"), [3]),
            new(init.Conv("conv3", 4, 2, Conv2dGeometry.Square(1)), [4]),
            new(ReshapeLayer.Flatten("flatten"), [5]),
            new(init.FullyConnected("fc", 2 * 8 * 8, 3), [6]),
            new(new SoftmaxLayer("prob"), [7]),
        ];
        var network = new Network(new Shape(1, 8, 8), nodes);
        using var bundle = new ModelBundle("graph", network, Preprocessing.Default(network.SampleShape), ["cat", "dog", "bird"], []);
        var random = new Random(1);
        using var x = backend.Upload(Enumerable.Range(0, 64).Select(_ => (float)random.NextDouble()).ToArray(), network.InputShape(1));

        using var pass = network.Forward(x, "fc");
        var logits = backend.Download(pass.Last);
        int top = Array.IndexOf(logits, logits.Max());
        Assert.Equal(new Target("fc", top), TargetSelection.Resolve(bundle, x));
        Assert.Equal(new Target("fc", 2), TargetSelection.Resolve(bundle, x, "Bird"));
        Assert.Equal(new Target("conv3", 1), TargetSelection.Resolve(bundle, x, unit: new UnitCoordinates(1)));
    }

    [Fact]
    public void AModelWithoutClasses_RefusesAClassAndTheDefault_ButTakesAUnit()
    {
        using var backend = new CpuBackend();
        var init = new WeightInitializer(backend, 3);
        var network = new Network(new Shape(1, 8, 8), [init.Conv("conv1", 1, 4, Conv2dGeometry.Square(3)), new ReluLayer("relu1")]);
        using var bundle = new ModelBundle("features", network, Preprocessing.Default(network.SampleShape), [], []);
        using var x = backend.Upload(new float[64], network.InputShape(1));
        Assert.StartsWith("the default target (the top class) needs class scores, and features has no classifier",
            Assert.Throws<ArgumentException>(() => TargetSelection.Resolve(bundle, x)).Message);
        Assert.StartsWith("Class 2 needs class scores", Assert.Throws<ArgumentException>(() => TargetSelection.Resolve(bundle, x, "2")).Message);
        Assert.Equal(new Target("conv1", 0), TargetSelection.Resolve(bundle, x, unit: new UnitCoordinates(0)));
    }
}

/// <summary>The sweep's ranking and the file-name part of changed settings.</summary>
public sealed class SweepRankingTests
{
    private static OptimizationResult Reached(float best) => new(new Target("fc8", 0), [], [], best, 0, null, null, [best]);

    [Fact]
    public void Ranking_PutsTheBestObjectiveFirst_LowestWhenMinimizing_TiesInDrawOrder()
    {
        OptimizationResult[] results = [Reached(1f), Reached(5f), Reached(-2f), Reached(5f), Reached(3f)];
        Assert.Equal([1, 3, 4, 0, 2], RegularizerSweep.Ranking(results, minimize: false));
        Assert.Equal([2, 0, 4, 1, 3], RegularizerSweep.Ranking(results, minimize: true));
    }

    [Fact]
    public void DifferencesFrom_NamesEveryChangedSetting_AndNothingForThePresetItself()
    {
        var preset = OptimizationOptions.Preset(3);
        Assert.Equal("", preset.DifferencesFrom(OptimizationOptions.Preset(3)));
        Assert.Equal("", (preset with { Seed = 4 }).DifferencesFrom(preset));
        Assert.Equal("-it60-lr0.5-rotate10-minimize", (preset with { Iterations = 60, LearningRate = 0.5f, RotateDegrees = 10, Minimize = true }).DifferencesFrom(preset));
    }
}
