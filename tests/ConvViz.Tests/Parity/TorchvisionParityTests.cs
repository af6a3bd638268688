using System.Collections.Concurrent;
using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.IO;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ConvViz.Tests.Parity;

/// <summary>ONNX Runtime's value of every tensor of a torchvision network, computed once per network
/// for all the backends that test it.</summary>
public sealed class TorchvisionReferenceValues
{
    private readonly ConcurrentDictionary<string, Lazy<IReadOnlyDictionary<string, ReferenceTensor>>> values = new();

    public IReadOnlyDictionary<string, ReferenceTensor> Of(string network, NpyArray input) => values.GetOrAdd(network,
        name => new(() => OnnxRuntimeReference.Run(TorchvisionModels.Path($"{name}.onnx"), input.Data, input.Shape))).Value;
}

/// <summary>
/// Six torchvision networks (resnet18, resnet50, googlenet, squeezenet1_1, vgg16_bn, mobilenet_v2;
/// random weights, every BatchNorm a random non-trivial map, exported by torch 1.13: see
/// tests/fixtures/torchvision/export_models.py and <see cref="TorchvisionModels"/>) imported by ConvViz:
/// every layer's output matches ONNX Runtime's value of the ONNX tensor that layer stands for
/// (<see cref="ImportedModel.LayerTensors"/>), and the network's output matches torch's own, on the seeded
/// input the script saved. Cpu runs all six; Reference all but vgg16_bn (15 GFLOP at 224x224 in plain
/// loops with double sums would take minutes).
/// </summary>
public sealed class TorchvisionParityTests(TorchvisionReferenceValues onnxRuntime, ITestOutputHelper output)
    : IClassFixture<TorchvisionReferenceValues>
{
    /// <summary>
    /// The largest error allowed at a layer, relative to the largest magnitude in ONNX Runtime's tensor
    /// (or torch's output). The Cpu backend, ONNX Runtime and torch all compute in float32 but sum a
    /// convolution's or a matrix product's products in different orders (blocking, vectorization); the
    /// Reference backend sums in double, so it differs from the others by their float32 rounding alone.
    /// Either way equal models differ by a few float32 ulps of the tensor's scale per layer, growing
    /// slowly with depth (resnet50 has 50 convolutions in a row): measured at most 5.8e-6, except in
    /// mobilenet_v2 (3.8e-5 on Cpu, 2.9e-5 on Reference, so it is ONNX Runtime's own rounding): its
    /// ReLU6 layers' inputs reach 20 to 28 while their outputs stop at 6, so the rounding of the
    /// convolution before, set by its larger scale, is 3 to 5 times larger beside the clipped
    /// tensor's scale. A wrong weight, fold, padding or pooling geometry is orders of magnitude larger.
    /// </summary>
    private const double Tolerance = 1e-4;

    public static TheoryData<string, string> Cases => new()
    {
        { "resnet18", "cpu" }, { "resnet18", "reference" },
        { "resnet50", "cpu" }, { "resnet50", "reference" },
        { "googlenet", "cpu" }, { "googlenet", "reference" },
        { "squeezenet1_1", "cpu" }, { "squeezenet1_1", "reference" },
        { "mobilenet_v2", "cpu" }, { "mobilenet_v2", "reference" },
        { "vgg16_bn", "cpu" },
    };

    private static Backend CreateBackend(string name) => BackendCatalog.Create(name);

    private sealed record LayerError(string Layer, string OpType, string Tensor, double Relative);

    [Theory]
    [MemberData(nameof(Cases))]
    public void TorchvisionNetworkMatchesOnnxRuntimeAtEveryLayer(string name, string backendName)
    {
        var input = Npy.Read(TorchvisionModels.Path($"{name}.input.npy"));
        var torchOutput = Npy.Read(TorchvisionModels.Path($"{name}.output.npy"));
        var clock = Stopwatch.StartNew();
        var reference = onnxRuntime.Of(name, input);
        // Only the first backend that tests a network waits for ONNX Runtime; the others find its values.
        var onnxRuntimeTime = clock.Elapsed;

        using var backend = CreateBackend(backendName);
        clock.Restart();
        // A missing operator fails here, naming the node: no network is skipped.
        var imported = OnnxImporter.Load(TorchvisionModels.Path($"{name}.onnx"), backend);
        using var network = imported.Network;
        var loadTime = clock.Elapsed;
        Assert.Equal(input.Shape, network.InputShape(1).ToArray());
        using var x = backend.Upload(input.Data, new Shape(input.Shape));
        clock.Restart();
        using var pass = network.Forward(x);
        var forwardTime = clock.Elapsed;

        var errors = new List<LayerError>();
        for (int i = 0; i < network.Layers.Count; i++)
        {
            var layer = network.Layers[i];
            string tensor = imported.LayerTensors[layer.Name];
            Assert.True(reference.TryGetValue(tensor, out var expected), $"ONNX Runtime returned no float tensor '{tensor}' for layer '{layer.Name}'");
            var y = pass.Outputs[i].Y;
            Assert.Equal(expected.Dims, y.Shape.ToArray());
            errors.Add(new LayerError(layer.Name, layer.OpType, tensor, TensorAssert.RelativeToScale(backend.Download(y), expected.Values)));
        }
        var last = backend.Download(pass.Last);
        Assert.Equal(torchOutput.Shape, pass.Last.Shape.ToArray());
        double againstOnnxRuntime = TensorAssert.RelativeToScale(last, reference["output"].Values);
        double againstTorch = TensorAssert.RelativeToScale(last, torchOutput.Data);

        var worst = errors.MaxBy(e => e.Relative)!;
        output.WriteLine($"{name} on {backendName}: {network.Layers.Count} layers; ONNX Runtime values in {onnxRuntimeTime.TotalSeconds:F1} s, "
            + $"import {loadTime.TotalSeconds:F1} s, forward {forwardTime.TotalSeconds:F1} s");
        foreach (var e in errors) output.WriteLine($"  {e.Layer,-40} {e.OpType,-18} {e.Relative:G3}");
        output.WriteLine($"  worst layer: '{worst.Layer}' ({worst.OpType}, tensor '{worst.Tensor}'), relative error {worst.Relative:G3}");
        output.WriteLine($"  output: {againstOnnxRuntime:G3} against ONNX Runtime, {againstTorch:G3} against torch");

        var failures = errors.Where(e => !(e.Relative <= Tolerance))
            .Select(e => $"layer '{e.Layer}' ({e.OpType}, ONNX tensor '{e.Tensor}') differs from ONNX Runtime by {e.Relative:G3} of its largest magnitude").ToList();
        if (!(againstOnnxRuntime <= Tolerance)) failures.Add($"the output differs from ONNX Runtime's by {againstOnnxRuntime:G3} of its largest magnitude");
        if (!(againstTorch <= Tolerance)) failures.Add($"the output differs from torch's by {againstTorch:G3} of its largest magnitude");
        if (failures.Count > 0)
            throw new XunitException($"{name} on {backendName}, tolerance {Tolerance}:\n" + string.Join("\n", failures.Take(10))
                + (failures.Count > 10 ? $"\n... and {failures.Count - 10} more" : ""));
    }

}
