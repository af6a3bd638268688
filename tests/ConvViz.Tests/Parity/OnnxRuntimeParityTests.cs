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

    /// <summary>
    /// The ops real networks add (opset 13): input normalization by Sub, Div and Mul with constants,
    /// Pad in all three modes, ReLU6 (Clip 0..6) and a one-sided Clip, a Split whose two parts take
    /// their own branches and one part also feeds a Concat, an Add join, a standalone
    /// BatchNormalization, Sub(constant, x) and a channel Slice: every layer matches ONNX Runtime.
    /// </summary>
    [Fact]
    public void AGraphWithPadClipSplitSliceAndConstantArithmeticMatchesOnnxRuntimeAtEveryLayer()
    {
        var model = RealNetOpsModel();
        var imported = OnnxImporter.Import(model.Clone(), backend, "real-net ops");
        var layers = imported.Network.Layers;
        Assert.Equal(3, layers.OfType<PadLayer>().Select(p => p.Geometry.Mode).Distinct().Count());
        Assert.Equal(2, layers.OfType<ClipLayer>().Count());
        Assert.Equal(3, layers.OfType<ChannelSliceLayer>().Count());
        Assert.Single(layers.OfType<AddLayer>());
        Assert.Single(layers.OfType<ConcatLayer>());
        // Sub, Div, Mul of the input, the standalone BatchNormalization and Sub(c, x): depthwise 1x1 convs.
        Assert.Equal(5, layers.OfType<Conv2dLayer>().Count(c => c.Geometry.KernelH == 1 && c.Geometry.Groups == c.OutputChannels));
        // ReLU6 really cuts on both sides of this input.
        var shape = imported.Network.InputShape(1);
        using (var x = backend.Upload(TestData.Uniform(shape.ElementCount, 12), shape))
        using (var pass = imported.Network.Forward(x, upTo: "conv1"))
        {
            var conv1 = backend.Download(pass.Last);
            Assert.True(conv1.Min() < 0f && conv1.Max() > 6f, $"conv1 spans [{conv1.Min()}, {conv1.Max()}], not both sides of ReLU6's bounds");
        }
        var errors = Compare(imported, model.ToByteArray(), seed: 12, out double final);
        Report(errors);
        AssertWithinTolerance(errors);
        Assert.True(final <= Tolerance, $"the graph output differs from ONNX Runtime's by {final:G3} of its largest magnitude");
    }

    /// <summary>The same graph exported by ConvViz (Pad, Clip and Slice nodes of its own) runs the
    /// same in ONNX Runtime and imports back to the same layers with bit-identical outputs.</summary>
    [Fact]
    public void TheGraphWithPadClipSplitAndArithmeticExportsAndImportsBackExactly()
    {
        using var network = OnnxImporter.Import(RealNetOpsModel(), backend, "real-net ops").Network;
        CheckExported(network);
        var exported = OnnxExporter.ToModel(network);
        using var imported = OnnxImporter.Import(exported, backend, "exported").Network;
        Assert.Equal(network.Layers.Select(l => (l.Name, l.OpType)), imported.Layers.Select(l => (l.Name, l.OpType)));
        Assert.Equal(Enumerable.Range(0, network.Layers.Count).Select(i => string.Join(",", network.InputsOf(i))),
            Enumerable.Range(0, imported.Layers.Count).Select(i => string.Join(",", imported.InputsOf(i))));
        var shape = network.InputShape(2);
        using var x = backend.Upload(TestData.Uniform(shape.ElementCount, 13), shape);
        using var original = network.Forward(x);
        using var again = imported.Forward(x);
        Assert.Equal(backend.Download(original.Last), backend.Download(again.Last));
    }

    /// <summary>The attribute forms of opset 9: Pad's pads, mode and value, Clip's min and max,
    /// Split's split and Slice's starts, ends and axes as attributes.</summary>
    [Fact]
    public void TheOpset9FormsOfPadClipSplitAndSliceMatchOnnxRuntimeAtEveryLayer()
    {
        var b = new OnnxGraphBuilder("opset9_forms", 4, 7, 6);
        string input = OnnxGraphBuilder.Input;
        var padded = b.Node("Pad", [input], "padded", OnnxGraphBuilder.Ints("pads", 0, 0, 2, 1, 0, 0, 1, 3),
            OnnxGraphBuilder.String("mode", "constant"), OnnxGraphBuilder.Float("value", -0.25f));
        var edge = b.Node("Pad", [padded], "edge", OnnxGraphBuilder.Ints("pads", 0, 0, 1, 0, 0, 0, -2, 2), OnnxGraphBuilder.String("mode", "edge"));
        var clipped = b.Node("Clip", [edge], "clipped", OnnxGraphBuilder.Float("min", -0.3f), OnnxGraphBuilder.Float("max", 0.4f));
        var parts = b.Node("Split", [clipped], ["low", "high"], OnnxGraphBuilder.Int("axis", 1), OnnxGraphBuilder.Ints("split", 3, 1));
        var scaled = b.Node("Mul", [parts[1], b.Floats("three", [1], 3f)], "scaled");
        var joined = b.Node("Concat", [scaled, parts[0]], "joined", OnnxGraphBuilder.Int("axis", 1));
        var sliced = b.Node("Slice", [joined], "sliced", OnnxGraphBuilder.Ints("starts", 1, 0), OnnxGraphBuilder.Ints("ends", -1, 1000),
            OnnxGraphBuilder.Ints("axes", 1, 2));
        var model = b.Build(sliced, opset: 9);
        var errors = Compare(OnnxImporter.Import(model.Clone(), backend, "opset 9 forms"), model.ToByteArray(), seed: 14, out double final);
        Report(errors);
        AssertWithinTolerance(errors);
        Assert.True(final <= Tolerance, $"the graph output differs from ONNX Runtime's by {final:G3} of its largest magnitude");
    }

    /// <summary>
    /// GoogLeNet's transform_input as PyTorch 1.13 exports it: each colour plane taken by Gather
    /// (x[:, k], a scalar index; here also a negative one and a one-element index vector), put back
    /// to (N, 1, H, W) by Unsqueeze, scaled and shifted by constants, and concatenated.
    /// </summary>
    [Fact]
    public void GoogLeNetsTransformInputMatchesOnnxRuntimeAtEveryLayer()
    {
        var b = new OnnxGraphBuilder("transform_input", 3, 9, 7);
        string input = OnnxGraphBuilder.Input;
        var planes = new List<string>();
        float[] std = [0.229f, 0.224f, 0.225f], mean = [0.485f, 0.456f, 0.406f];
        for (int c = 0; c < 3; c++)
        {
            string plane = c == 1
                ? b.Node("Gather", [input, b.Int64s($"index{c}", c)], $"plane{c}", OnnxGraphBuilder.Int("axis", 1))
                : b.Node("Unsqueeze", [b.Node("Gather", [input, b.Int64Scalar($"index{c}", c == 2 ? -1 : c)], $"gathered{c}", OnnxGraphBuilder.Int("axis", 1)),
                    b.Int64s($"axes{c}", 1)], $"plane{c}");
            var scaled = b.Node("Mul", [plane, b.Floats($"scale{c}", [], std[c] / 0.5f)], $"scaled{c}");
            planes.Add(b.Node("Add", [scaled, b.Floats($"shift{c}", [], (mean[c] - 0.5f) / 0.5f)], $"shifted{c}"));
        }
        var joined = b.Node("Concat", [.. planes], "joined", OnnxGraphBuilder.Int("axis", 1));
        var conv = b.Node("Conv", [joined, b.Weight("w", [4, 3, 3, 3], 31, 0.3f)], "conv");
        var model = b.Build(conv);
        var imported = OnnxImporter.Import(model.Clone(), backend, "transform_input");
        Assert.Equal(3, imported.Network.Layers.OfType<ChannelSliceLayer>().Count());
        var errors = Compare(imported, model.ToByteArray(), seed: 15, out double final);
        Report(errors);
        AssertWithinTolerance(errors);
        Assert.True(final <= Tolerance, $"the graph output differs from ONNX Runtime's by {final:G3} of its largest magnitude");
    }

    private static ModelProto RealNetOpsModel()
    {
        var b = new OnnxGraphBuilder("real_net_ops", 3, 12, 10);
        string Input = OnnxGraphBuilder.Input;
        var centred = b.Node("Sub", [Input, b.Floats("mean", [1, 3, 1, 1], 0.485f, 0.456f, 0.406f)], "centred");
        var scaled = b.Node("Div", [centred, b.Floats("std", [3, 1, 1], 0.229f, 0.224f, 0.225f)], "scaled");
        var doubled = b.Node("Mul", [b.Floats("two", [], 2f), scaled], "doubled");
        var padded = b.Node("Pad", [doubled, b.Int64s("pads1", 0, 0, 1, 2, 0, 0, 2, 1)], "padded", OnnxGraphBuilder.String("mode", "reflect"));
        var conv1 = b.Node("Conv", [padded, b.Weight("w1", [8, 3, 3, 3], 21, 0.3f), b.Weight("b1", [8], 22)], "conv1");
        var relu6 = b.Node("Clip", [conv1, b.Floats("zero", [], 0f), b.Floats("six", [], 6f)], "relu6");
        var parts = b.Node("Split", [relu6, b.Int64s("sizes", 3, 5)], ["part0", "part1"], OnnxGraphBuilder.Int("axis", 1));
        var edge = b.Node("Pad", [parts[0], b.Int64s("pads2", 0, 0, 1, 1, 0, 0, 1, 1)], "edge", OnnxGraphBuilder.String("mode", "edge"));
        var convA = b.Node("Conv", [edge, b.Weight("wa", [4, 3, 3, 3], 23, 0.3f)], "convA");
        var constant = b.Node("Pad", [parts[1], b.Int64s("pads3", 0, 0, 2, 0, 0, 0, 0, 2), b.Floats("half", [], 0.5f)], "constant",
            OnnxGraphBuilder.String("mode", "constant"));
        var convB = b.Node("Conv", [constant, b.Weight("wb", [4, 5, 3, 3], 24, 0.3f)], "convB");
        var sum = b.Node("Add", [convA, convB], "sum");
        var bn = b.Node("BatchNormalization", [sum, b.Weight("gamma", [4], 25), b.Weight("beta", [4], 26), b.Weight("mu", [4], 27),
            b.Floats("var", [4], 0.5f, 1f, 1.5f, 2f)], "bn");
        var floor = b.Node("Clip", [bn, b.Floats("minus_one", [], -1f), ""], "floor");
        var flipped = b.Node("Sub", [b.Weight("c", [1, 4, 1, 1], 28), floor], "flipped");
        var joined = b.Node("Concat", [flipped, parts[0]], "joined", OnnxGraphBuilder.Int("axis", 1));
        var middle = b.Node("Slice", [joined, b.Int64s("starts", 1), b.Int64s("ends", 6), b.Int64s("axes", 1)], "middle");
        var pooled = b.Node("GlobalAveragePool", [middle], "pooled");
        var flat = b.Node("Flatten", [pooled], "flat", OnnxGraphBuilder.Int("axis", 1));
        var logits = b.Node("Gemm", [flat, b.Weight("wfc", [6, 5], 29), b.Weight("bfc", [6], 30)], "logits", OnnxGraphBuilder.Int("transB", 1));
        return b.Build(logits);
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
            errors.Add(new LayerError(name, tensor, TensorAssert.RelativeToScale(backend.Download(y), expected.Values)));
        }
        string graphOutput = ModelProto.Parser.ParseFrom(model).Graph.Output.Single().Name;
        final = TensorAssert.RelativeToScale(backend.Download(pass.Last), reference[graphOutput].Values);
        return errors;
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
