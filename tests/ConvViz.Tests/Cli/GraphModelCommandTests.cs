using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>
/// A small residual + Concat network on Fashion-MNIST's 1x28x28 images, exported to ONNX, goes
/// through the commands that walk a whole data set or train: train (loss falls, accuracy above
/// chance), then topk, tsne, report, style and optimize on the trained graph bundle.
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class GraphModelCommandTests
{
    private static readonly Lazy<string> Data = new(() => FashionMnist.SubsetFolder(train: 1000, test: 200));

    /// <summary>conv → relu (r1) → conv → relu → conv, added to r1 → relu → maxpool 2 → a 1x1 conv
    /// concatenated with the pool's output → flatten → fc (10 classes).</summary>
    private static string ExportResidualModel(string folder)
    {
        using var backend = new CpuBackend();
        var init = new WeightInitializer(backend, 5);
        GraphNode[] nodes =
        [
            new(init.Conv("conv1", 1, 8, Conv2dGeometry.Square(3, pad: 1)), [Network.Input]),
            new(new ReluLayer("relu1"), [0]),
            new(init.Conv("conv2", 8, 8, Conv2dGeometry.Square(3, pad: 1)), [1]),
            new(new ReluLayer("relu2"), [2]),
            new(init.Conv("conv3", 8, 8, Conv2dGeometry.Square(3, pad: 1)), [3]),
            new(new AddLayer("add3"), [4, 1]),
            new(new ReluLayer("relu3"), [5]),
            new(new MaxPoolLayer("pool3", PoolGeometry.Square(2, 2)), [6]),
            new(init.Conv("conv4", 8, 4, Conv2dGeometry.Square(1)), [7]),
            new(new ReluLayer("relu4"), [8]),
            new(new ConcatLayer("concat4"), [9, 7]),
            new(ReshapeLayer.Flatten("flatten"), [10]),
            new(init.FullyConnected("fc", 12 * 14 * 14, 10), [11]),
        ];
        using var network = new Network(new Shape(1, 28, 28), nodes);
        string path = Path.Combine(folder, "residual.onnx");
        OnnxExporter.Save(network, path);
        return path;
    }

    [Fact]
    public void AResidualNetworkTrainsAndEveryDataSetCommandRunsOnIt()
    {
        string folder = FashionMnist.TempFolder();
        string model = ExportResidualModel(folder);
        string trained = Path.Combine(folder, "trained");
        var train = CliHarness.Run("train", "--model", model, "--data", Data.Value, "--out", trained, "--epochs", "2", "--threads", "2");
        Assert.True(train.Exit == 0, train.Error);
        Assert.True(File.Exists(Path.Combine(trained, ModelBundle.ModelFile)));
        using (var backend = new CpuBackend())
        using (var bundle = ModelBundle.Load(trained, backend))
        {
            Assert.False(bundle.Network.IsSequential);
            var eval = CliHarness.Run("eval", "--model", trained, "--data", Data.Value);
            Assert.True(eval.Exit == 0, eval.Error);
            // Ten classes: chance is 10%; two epochs on 1,000 images reach far more.
            var accuracy = double.Parse(eval.Output.Split("accuracy ")[1].Split('%')[0].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(accuracy > 40, $"accuracy {accuracy}% after training the residual network");
        }
        string image = Fixtures.Path("images", "ankle_boot.png");
        foreach (var args in new[]
                 {
                     new[] { "topk", "--model", trained, "--data", Data.Value, "--layer", "relu3", "--limit", "200", "--out", Path.Combine(folder, "topk") },
                     ["tsne", "--model", trained, "--data", Data.Value, "--layer", "flatten", "--n", "150", "--out", Path.Combine(folder, "tsne")],
                     ["report", "--model", trained, "--input", image, "--out", Path.Combine(folder, "report")],
                     ["style", "--model", trained, "--content", image, "--style", image, "--iterations", "3", "--out", Path.Combine(folder, "style")],
                     ["optimize", "--model", trained, "--layer", "relu3", "--unit", "2", "--iterations", "10", "--out", Path.Combine(folder, "optimize")],
                 })
        {
            var result = CliHarness.Run(args);
            Assert.True(result.Exit == 0, $"convviz {string.Join(' ', args)}: {result.Error}");
            Assert.NotEmpty(Directory.GetFiles(args[^1], "*", SearchOption.AllDirectories));
        }
    }
}
