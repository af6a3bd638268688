using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Models;

/// <summary>
/// ONNX in and out: models made by PyTorch (tests/fixtures/onnx, with the script that made them)
/// load and match PyTorch's outputs; every network ConvViz builds survives export and re-import
/// bit for bit; bundles keep their preprocessing and class names.
/// </summary>
public sealed class OnnxModelTests : IDisposable
{
    private readonly CpuBackend backend = new();

    public void Dispose() => backend.Dispose();

    private static string Fixture(string name) => Fixtures.Path("onnx", name);

    private float[] Run(Network network, float[] input, out ForwardPass pass)
    {
        using var x = backend.Upload(input, network.InputShape(1));
        pass = network.Forward(x);
        return backend.Download(pass.Last);
    }

    /// <summary>PyTorch's float32 result against ours: 1e-4 of the tensor's largest magnitude
    /// (both accumulate in float, in different orders).</summary>
    private static void AssertMatchesTorch(NpyArray expected, float[] actual, string label)
    {
        double scale = Math.Max(1e-6, expected.Data.Max(v => Math.Abs((double)v)));
        TensorAssert.Close(expected.Data, actual, 1e-4 * scale, 1e-4, label, new Shape(expected.Shape));
    }

    [Theory]
    [InlineData("alexnet_style.onnx")]
    [InlineData("alexnet_style_opset13.onnx")]
    public void TorchAlexNetStyleModelMatchesAtEveryStage(string file)
    {
        using var imported = OnnxImporter.Load(Fixture(file), backend).Network;
        Assert.Equal(["Conv", "Relu", "LRN", "MaxPool", "Conv", "Relu", "LRN", "MaxPool", "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"],
            imported.Layers.Select(l => l.OpType));
        var output = Run(imported, Npy.Read(Fixture("alexnet_style.input.npy")).Data, out var pass);
        using (pass)
        {
            AssertMatchesTorch(Npy.Read(Fixture("alexnet_style.output.npy")), output, $"{file} output");
            // The stages the fixture script saved, found by position among the layers of each op type.
            foreach (var (stage, op, occurrence) in new[] { ("conv1_relu", "Relu", 0), ("norm1", "LRN", 0), ("pool1", "MaxPool", 0),
                         ("norm2", "LRN", 1), ("pool2", "MaxPool", 1), ("conv5_relu", "Relu", 4), ("pool5", "MaxPool", 2) })
            {
                var layer = imported.Layers.Where(l => l.OpType == op).ElementAt(occurrence);
                AssertMatchesTorch(Npy.Read(Fixture($"alexnet_style.{stage}.npy")), backend.Download(pass.Output(layer.Name)), $"{file} {stage}");
            }
        }
    }

    [Theory]
    [InlineData("torchvision_style", new[] { "Conv", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm" })]
    [InlineData("batchnorm_matmul", new[] { "Conv", "Relu", "MaxPool", "Reshape", "Gemm", "Softmax" })]
    public void TorchExportsLoadAndMatch(string name, string[] opTypes)
    {
        using var imported = OnnxImporter.Load(Fixture(name + ".onnx"), backend).Network;
        Assert.Equal(opTypes.Order(), imported.Layers.Select(l => l.OpType).Distinct().Order());
        var output = Run(imported, Npy.Read(Fixture(name + ".input.npy")).Data, out var pass);
        pass.Dispose();
        AssertMatchesTorch(Npy.Read(Fixture(name + ".output.npy")), output, name);
    }

    public static TheoryData<string> Family => ["alexnet", "caffenet", "zfnet", "vgg16-small"];

    private Network Build(string name) => name switch
    {
        "alexnet" => AlexNet.Create(backend, seed: 1),
        "caffenet" => ClassicNets.CaffeNet(backend, seed: 2),
        "zfnet" => ClassicNets.ZfNet(backend, seed: 3),
        // VGG-16's exact layer structure at an eighth of its widths and a 64x64 input, to keep the test quick.
        _ => ClassicNets.Vgg16(backend, seed: 4, classes: 10, widthDivisor: 8, inputSize: 64),
    };

    [Theory]
    [MemberData(nameof(Family))]
    public void ExportedNetworksReimportWithBitIdenticalOutputs(string name)
    {
        using var original = Build(name);
        var model = OnnxExporter.ToModel(original);
        using var reimported = OnnxImporter.Import(model, backend, name).Network;
        var input = TestData.Uniform(original.InputShape(1).ElementCount, 5);
        var expected = Run(original, input, out var before);
        var actual = Run(reimported, input, out var after);
        before.Dispose();
        after.Dispose();
        Assert.Equal(expected, actual);
        Assert.Equal(original.Parameters.Sum(p => (long)p.Value.ElementCount), reimported.Parameters.Sum(p => (long)p.Value.ElementCount));
        foreach (var layer in original.Layers) Assert.Contains(reimported.Layers, l => l.Name == layer.Name && l.OpType == layer.OpType);
    }

    [Fact]
    public void BundlesKeepPreprocessingAndClassNames()
    {
        string folder = Path.Combine(Path.GetTempPath(), "convviz-bundle-" + Guid.NewGuid().ToString("N"));
        try
        {
            var preprocessing = new Preprocessing(3, 64, 64, ChannelOrder.Bgr, 1f, [104f, 117f, 123f], [0.5f, 0.5f, 0.5f], ResizeShorter: 72);
            var classes = Enumerable.Range(0, 10).Select(i => $"thing {i}").ToArray();
            using (var bundle = new ModelBundle("test", Build("vgg16-small"), preprocessing, classes, []))
                bundle.Save(folder);
            using var loaded = ModelBundle.Load(folder, backend);
            Assert.Equal(classes, loaded.Classes);
            Assert.Equal(preprocessing.ToString(), loaded.Preprocessing.ToString());
            Assert.Empty(loaded.Notes);

            File.WriteAllLines(Path.Combine(folder, ModelBundle.ClassesFile), classes.Take(9));
            var e = Assert.Throws<InvalidDataException>(() => ModelBundle.Load(folder, backend).Dispose());
            Assert.Contains("9 class names for a model with 10 outputs", e.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void ABareOnnxFileLoadsWithStatedDefaults()
    {
        using var bundle = ModelBundle.Load(Fixture("torchvision_style.onnx"), backend);
        Assert.Equal(ChannelOrder.Rgb, bundle.Preprocessing.Order);
        Assert.Equal((64, 64), (bundle.Preprocessing.Height, bundle.Preprocessing.Width));
        Assert.Equal("class 6", bundle.Classes[6]);
        Assert.Contains(bundle.Notes, n => n.Contains("no preprocessing metadata"));
        Assert.Contains(bundle.Notes, n => n.Contains("classes are numbered"));
    }

    [Fact]
    public void ModelsOver200MegabytesLoadFromFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"convviz-alexnet-{Guid.NewGuid():N}.onnx");
        try
        {
            using var original = AlexNet.Create(backend, seed: 8);
            OnnxExporter.Save(original, path);
            Assert.True(new FileInfo(path).Length > 200L << 20, $"the file has {new FileInfo(path).Length} bytes");
            using var loaded = OnnxImporter.Load(path, backend).Network;
            var input = TestData.Uniform(original.InputShape(1).ElementCount, 9);
            var expected = Run(original, input, out var before);
            var actual = Run(loaded, input, out var after);
            before.Dispose();
            after.Dispose();
            Assert.Equal(expected, actual);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
