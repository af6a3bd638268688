using ConvViz.Cli;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Training;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Models;

/// <summary>The shipped default bundle weights/fashion-alexnet: what it is, what it holds, how well it
/// classifies its own samples, and that the copy embedded in convviz is the same model.</summary>
public sealed class DefaultBundleTests
{
    private static string Folder => Fixtures.Path("..", "..", "weights", "fashion-alexnet");

    [Fact]
    public void ShippedBundle_ClassifiesItsThousandSamples_AtLeast90Percent()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Folder, backend);
        var samples = LabeledImages.LoadSplit(Path.Combine(Folder, "samples"), LabeledImages.TestSplit);
        var result = Evaluator.Evaluate(bundle.Network, bundle.Preprocessing, samples, bundle.Classes.Count);
        Assert.Equal(1000, result.Count);
        Assert.True(result.Accuracy >= 0.90, $"accuracy on the bundled samples is {result.Accuracy:P2}; the bundle promises at least 90%");
    }

    [Fact]
    public void Samples_AreTheFirstHundredTestImagesOfEachClass()
    {
        var samples = LabeledImages.LoadSplit(Path.Combine(Folder, "samples"), LabeledImages.TestSplit);
        var expected = FashionMnist.Test.FirstOfEachClass(100);
        Assert.Equal(1000, samples.Count);
        for (int i = 0; i < samples.Count; i++)
        {
            Assert.Equal(expected.Label(i), samples.Label(i));
            Assert.True(expected.Image(i).SequenceEqual(samples.Image(i)), $"sample {i} is not test image of the same rank in its class");
        }
    }

    [Fact]
    public void ShippedBundle_IsAnAlexNetStyleNetwork_UnderTenMegabytes()
    {
        Assert.True(new FileInfo(Path.Combine(Folder, ModelBundle.ModelFile)).Length < 10_000_000, "model.onnx must stay under 10 MB");
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Folder, backend);
        Assert.Equal(FashionAlexNet.Classes, bundle.Classes);
        Assert.Empty(bundle.Notes);
        Assert.Equal(ChannelOrder.Gray, bundle.Preprocessing.Order);

        var layers = bundle.Network.Layers;
        Assert.Equal(["conv1", "conv2", "conv3", "conv4", "conv5"], layers.OfType<Conv2dLayer>().Select(l => l.Name));
        Assert.Equal([1, 2, 1, 2, 2], layers.OfType<Conv2dLayer>().Select(l => l.Geometry.Groups));
        Assert.Equal(["norm1", "norm2"], layers.OfType<LrnLayer>().Select(l => l.Name));
        Assert.Equal("pool1", layers[bundle.Network.IndexOf("norm1") + 1].Name);
        Assert.Equal("pool2", layers[bundle.Network.IndexOf("norm2") + 1].Name);
        foreach (var pool in layers.OfType<MaxPoolLayer>())
            Assert.Equal((3, 3, 2, 2), (pool.Geometry.KernelH, pool.Geometry.KernelW, pool.Geometry.StrideH, pool.Geometry.StrideW));
        Assert.Equal(["pool1", "pool2", "pool5"], layers.OfType<MaxPoolLayer>().Select(l => l.Name));
        Assert.Equal(["fc6", "fc7", "fc8"], layers.OfType<FullyConnectedLayer>().Select(l => l.Name));
        Assert.Equal(["drop6", "drop7"], layers.OfType<DropoutLayer>().Select(l => l.Name));
    }

    [Fact]
    public void EmbeddedDefaultModel_IsTheShippedBundle()
    {
        Assert.Equal(EmbeddedModels.FashionAlexNet, ModelCatalog.Default);
        using var backend = new CpuBackend();
        using var embedded = ModelCatalog.Open(ModelCatalog.Default, backend);
        using var shipped = ModelBundle.Load(Folder, backend);
        Assert.Equal(shipped.Classes, embedded.Classes);
        Assert.NotNull(embedded.Samples);
        foreach (var (a, b) in shipped.Network.Parameters.Zip(embedded.Network.Parameters, (a, b) => (a, b)))
            Assert.True(backend.Download(a.Value).SequenceEqual(backend.Download(b.Value)), $"{a.Name} of the embedded model differs from weights/fashion-alexnet");
    }
}
