using ConvViz.Cli;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Onnx.Protos;
using ConvViz.Tests.Support;
using Google.Protobuf;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ConvViz.Tests.Parity;

/// <summary>
/// ConvViz and ONNX Runtime, an independent implementation, run the same ONNX files on the same
/// seeded input, and every ConvViz layer's output matches ONNX Runtime's value of the ONNX tensor
/// that layer stands for (<see cref="ImportedModel.LayerTensors"/>; for an exported network, the
/// tensor named after the layer). The files: PyTorch's exports in tests/fixtures/onnx, the
/// embedded default model, and networks ConvViz exports itself.
/// </summary>
public sealed class OnnxRuntimeParityTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>
    /// The largest error allowed at a layer, relative to the largest magnitude in ONNX Runtime's
    /// tensor: both sides compute in float32 but sum the products of a convolution or a matrix
    /// product in different orders (blocking, vectorization), so equal models differ by rounding,
    /// a few float32 ulps of the tensor's scale; a wrong weight, geometry or operator is far larger.
    /// </summary>
    private const double Tolerance = 1e-4;

    private readonly CpuBackend backend = new();

    public void Dispose() => backend.Dispose();

    /// <summary>One layer's comparison: the largest |ConvViz − ONNX Runtime| over the largest |ONNX Runtime|.</summary>
    private sealed record LayerError(string Layer, string Tensor, double Relative);

    [Theory]
    [InlineData("alexnet_style.onnx")]
    [InlineData("alexnet_style_opset13.onnx")]
    [InlineData("torchvision_style.onnx")]
    [InlineData("batchnorm_matmul.onnx")]
    [InlineData("branching.onnx")]
    public void PyTorchExportsMatchOnnxRuntimeAtEveryLayer(string file) => CheckFile(Fixtures.Path("onnx", file));

    /// <summary>A graph network: the CNTK ImageNet ResNet-18 of NuGet's Microsoft.ML.DnnImageFeaturizer.ResNet18
    /// (residual Adds, projection shortcuts, every BatchNormalization folded), at 224x224.</summary>
    [Fact]
    public void TheImageNetResNet18MatchesOnnxRuntimeAtEveryLayer() =>
        CheckFile(Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18.onnx"));

    [Fact]
    public void TheEmbeddedDefaultModelMatchesOnnxRuntimeAtEveryLayer() =>
        CheckFile(Path.Combine(EmbeddedModels.Folder(EmbeddedModels.FashionAlexNet), ModelBundle.ModelFile));

    [Fact]
    public void AnExportedSmallNetworkWithEveryLayerTypeMatchesOnnxRuntimeAtEveryLayer()
    {
        var small = SmallNetworks.AlexNetStyle(backend, seed: 3, classes: 6);
        using var network = new Network(small.SampleShape, [.. small.Layers, new SoftmaxLayer("prob")]);
        CheckExported(network);
    }

    /// <summary>A graph network (residual Add, Concat) exported by ConvViz runs the same in ONNX Runtime,
    /// and imports back to the same layers, reading the same inputs, with bit-identical outputs.</summary>
    [Fact]
    public void AnExportedGraphNetworkMatchesOnnxRuntimeAndImportsBackExactly()
    {
        using var network = SmallNetworks.ResidualConcat(backend, seed: 5, classes: 7);
        CheckExported(network);
        string path = Path.Combine(Path.GetTempPath(), $"convviz-graph-{Guid.NewGuid():N}.onnx");
        try
        {
            OnnxExporter.Save(network, path);
            using var imported = OnnxImporter.Load(path, backend).Network;
            Assert.Equal(network.Layers.Select(l => (l.Name, l.OpType)), imported.Layers.Select(l => (l.Name, l.OpType)));
            Assert.Equal(Enumerable.Range(0, network.Layers.Count).Select(i => string.Join(",", network.InputsOf(i))),
                Enumerable.Range(0, imported.Layers.Count).Select(i => string.Join(",", imported.InputsOf(i))));
            var shape = network.InputShape(2);
            using var x = backend.Upload(TestData.Uniform(shape.ElementCount, 9), shape);
            using var original = network.Forward(x);
            using var again = imported.Forward(x);
            Assert.Equal(backend.Download(original.Last), backend.Download(again.Last));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void TheExportedBuiltInAlexNetMatchesOnnxRuntimeAtEveryLayer()
    {
        using var network = AlexNet.Create(backend, seed: 4);
        CheckExported(network);
    }

    [Fact]
    public void AWrongWeightInOnnxRuntimesCopyIsReportedAtItsLayer()
    {
        string path = Fixtures.Path("onnx", "alexnet_style.onnx");
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var conv3 = model.Graph.Node.Where(n => n.OpType == "Conv").ElementAt(2);
        var weight = model.Graph.Initializer.Single(i => i.Name == conv3.Input[1]);
        var values = OnnxTensors.Read(weight, path).Floats;
        values[0] += 1f;
        weight.RawData = ByteString.CopyFrom(values.SelectMany(BitConverter.GetBytes).ToArray());
        weight.FloatData.Clear();

        var errors = Compare(OnnxImporter.Load(path, backend), model.ToByteArray(), seed: 11, out _);
        string perturbed = errors.Single(e => e.Tensor == conv3.Output[0]).Layer;
        output.WriteLine($"one weight of {perturbed} changed by 1 in ONNX Runtime's copy:");
        Report(errors);

        int at = errors.FindIndex(e => e.Layer == perturbed);
        Assert.All(errors.Take(at), e => Assert.True(e.Relative <= Tolerance, $"{e.Layer} is before the changed weight but differs by {e.Relative:G3}"));
        Assert.True(errors[at].Relative > Tolerance, $"the changed weight's layer {perturbed} differs by only {errors[at].Relative:G3}");
        var failure = Assert.Throws<XunitException>(() => AssertWithinTolerance(errors));
        Assert.Contains($"'{perturbed}'", failure.Message);
    }

    /// <summary>Imports the file, runs both sides, and asserts every layer and the graph output.</summary>
    private void CheckFile(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var errors = Compare(OnnxImporter.Load(path, backend), bytes, seed: 7, out double final);
        output.WriteLine(Path.GetFileName(path));
        Report(errors);
        AssertWithinTolerance(errors);
        Assert.True(final <= Tolerance, $"the graph output differs from ONNX Runtime's by {final:G3} of its largest magnitude");
    }

    /// <summary>Exports the network, runs the export in ONNX Runtime and the network itself in ConvViz.
    /// The exporter names each layer's output tensor after the layer.</summary>
    private void CheckExported(Network network)
    {
        byte[] bytes = OnnxExporter.ToModel(network).ToByteArray();
        var tensors = network.Layers.ToDictionary(l => l.Name, l => l.Name);
        var errors = Compare(network, tensors, bytes, seed: 8, out double final);
        output.WriteLine($"exported {network.Layers.Count}-layer network");
        Report(errors);
        AssertWithinTolerance(errors);
        Assert.True(final <= Tolerance, $"the graph output differs from ONNX Runtime's by {final:G3} of its largest magnitude");
    }

    private List<LayerError> Compare(ImportedModel imported, byte[] model, int seed, out double final)
    {
        using var network = imported.Network;
        return Compare(network, imported.LayerTensors, model, seed, out final);
    }

    /// <summary>
    /// Runs <paramref name="network"/> on the CPU backend and <paramref name="model"/> in ONNX Runtime on
    /// the same uniform input; returns each layer's relative error against the tensor
    /// <paramref name="tensors"/> names for it, and <paramref name="final"/>, the graph output's.
    /// </summary>
    private List<LayerError> Compare(Network network, IReadOnlyDictionary<string, string> tensors, byte[] model, int seed, out double final)
    {
        var shape = network.InputShape(1);
        var input = TestData.Uniform(shape.ElementCount, seed);
        var reference = OnnxRuntimeReference.Run(model, input, shape.ToArray());
        using var x = backend.Upload(input, shape);
        using var pass = network.Forward(x);
        var errors = new List<LayerError>();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            string name = network.Layers[i].Name;
            var y = pass.Outputs[i].Y;
            string tensor = tensors[name];
            Assert.True(reference.TryGetValue(tensor, out var expected), $"ONNX Runtime returned no float tensor '{tensor}' for layer '{name}'");
            Assert.Equal(expected.Dims, y.Shape.ToArray());
            errors.Add(new LayerError(name, tensor, RelativeError(backend.Download(y), expected.Values)));
        }
        string graphOutput = ModelProto.Parser.ParseFrom(model).Graph.Output.Single().Name;
        final = RelativeError(backend.Download(pass.Last), reference[graphOutput].Values);
        return errors;
    }

    /// <summary>max |actual − expected| / max |expected| (0 when both are all zeros).</summary>
    private static double RelativeError(float[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double difference = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            difference = Math.Max(difference, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }
        return difference == 0 ? 0 : difference / scale;
    }

    private void Report(List<LayerError> errors)
    {
        foreach (var e in errors) output.WriteLine($"  {e.Layer,-24} {e.Tensor,-24} {e.Relative:G3}");
        var worst = errors.MaxBy(e => e.Relative)!;
        output.WriteLine($"  worst: layer '{worst.Layer}' (tensor '{worst.Tensor}'), relative error {worst.Relative:G3}");
    }

    private static void AssertWithinTolerance(List<LayerError> errors)
    {
        var worst = errors.MaxBy(e => e.Relative)!;
        if (!(worst.Relative <= Tolerance))
            throw new XunitException($"layer '{worst.Layer}' (ONNX tensor '{worst.Tensor}') differs from ONNX Runtime by {worst.Relative:G3} of its largest magnitude, more than {Tolerance}; "
                + $"first over: '{errors.First(e => !(e.Relative <= Tolerance)).Layer}'");
    }
}
