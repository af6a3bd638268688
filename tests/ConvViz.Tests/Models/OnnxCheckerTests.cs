using System.Diagnostics;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx;

namespace ConvViz.Tests.Models;

/// <summary>
/// The models ConvViz writes pass the ONNX project's own checker (Debian's python3-onnx, which the
/// test script installs), with full_check: opset import, graph inputs and outputs with shapes,
/// initializers, node attributes, and shape inference over the whole graph.
/// </summary>
public sealed class OnnxCheckerTests : IDisposable
{
    private readonly CpuBackend backend = new();
    private readonly string folder = Directory.CreateTempSubdirectory("convviz-checker-").FullName;

    public void Dispose()
    {
        backend.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    private const string CheckerScript =
        "import sys, onnx\n" +
        "m = onnx.load(sys.argv[1])\n" +
        "onnx.checker.check_model(m, full_check=True)\n" +
        "inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)\n" +
        "out = inferred.graph.output[0].type.tensor_type.shape.dim\n" +
        "print('checked', m.opset_import[0].version, len(m.graph.node), [d.dim_value or d.dim_param for d in out], sorted(p.key for p in m.metadata_props))\n";

    private static string Check(string path)
    {
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(CheckerScript);
        start.ArgumentList.Add(path);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        string output = process.StandardOutput.ReadToEnd(), error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"the ONNX checker refused {path} (is python3-onnx installed? ./tests/run-all.sh installs it):\n{error}");
        return output;
    }

    [Fact]
    public void ExportedAlexNetBundlePassesTheChecker()
    {
        var preprocessing = new Preprocessing(3, 227, 227, ChannelOrder.Bgr, 1f, [104f, 117f, 123f], [1f, 1f, 1f], 256);
        using var bundle = new ModelBundle("alexnet", AlexNet.Create(backend, seed: 1), preprocessing, ModelBundle.NumberedClasses(1000), []);
        bundle.Save(folder);
        string output = Check(Path.Combine(folder, ModelBundle.ModelFile));
        Assert.Contains("checked 13 23", output); // 22 layers + the Flatten before fc6
        Assert.Contains("['N', 1000]", output);
        Assert.Contains("'channel_order'", output);
        Assert.Contains("'mean'", output);
    }

    [Fact]
    public void ExportedNetworksWithEveryLayerTypePassTheChecker()
    {
        // The small network's layers with a softmax on top; the outer network owns (and disposes) them all.
        var small = Parity.SmallNetworks.AlexNetStyle(backend, seed: 2, classes: 4);
        using var withSoftmax = new Network(small.SampleShape, [.. small.Layers, new Engine.Layers.SoftmaxLayer("prob")]);
        string path = Path.Combine(folder, "small.onnx");
        OnnxExporter.Save(withSoftmax, path);
        string output = Check(path);
        Assert.Contains("['N', 4]", output);
    }
    /// <summary>Pad (each mode, with a crop), Clip (both bounds, and one absent) and a channel Slice
    /// export as opset-13 nodes with constant inputs that the checker and its shape inference accept.</summary>
    [Fact]
    public void ExportedPadClipAndSliceLayersPassTheChecker()
    {
        using var network = new Network(new Engine.Tensors.Shape(3, 9, 8),
        [
            new Engine.Layers.Conv2dLayer("conv", backend.Upload(Support.TestData.Uniform(4 * 3 * 9, 1), Engine.Tensors.Shape.Nchw(4, 3, 3, 3)), null,
                Engine.Backends.Conv2dGeometry.Square(3)),
            new Engine.Layers.PadLayer("mirror", new Engine.Backends.PadGeometry(1, 2, 2, 1, Engine.Backends.PadMode.Reflect)),
            new Engine.Layers.ClipLayer("relu6", Engine.Backends.ClipBounds.Relu6),
            new Engine.Layers.ClipLayer("cap", new Engine.Backends.ClipBounds(float.NegativeInfinity, 2f)),
            new Engine.Layers.ChannelSliceLayer("middle", 1, 2),
            new Engine.Layers.PadLayer("border", new Engine.Backends.PadGeometry(-1, 1, 0, 2, Engine.Backends.PadMode.Constant, 0.5f)),
            new Engine.Layers.PadLayer("repeat", new Engine.Backends.PadGeometry(2, 0, 1, 1, Engine.Backends.PadMode.Edge)),
        ]);
        string path = Path.Combine(folder, "pad_clip_slice.onnx");
        OnnxExporter.Save(network, path);
        string output = Check(path);
        // conv 9x8 -> 7x6; mirror -> 10x9; middle keeps 2 channels; border -> 9x12; repeat -> 12x13.
        Assert.Contains("checked 13 7 ['N', 2, 12, 13]", output);
    }
}
