using ConvViz.Cli;
using ConvViz.Engine.IO;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>convviz forward, backward, gradcheck and model export/info on real ONNX files, and the
/// one-line errors for the bad inputs a user will meet.</summary>
[Collection(CliHarness.Collection)]
public sealed class ModelCommandTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("convviz-cli-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static string Fixture(string name) => Fixtures.Path("onnx", name);

    private static (int Exit, string Output, string Error) Run(params string[] args) => CliHarness.Run(args);

    [Fact]
    public void ForwardDumpsEveryLayerAndListsTheTopClasses()
    {
        string dump = Path.Combine(folder, "dump");
        var (exit, output, error) = Run("forward", "--model", Fixture("alexnet_style.onnx"), "--input", Fixture("alexnet_style.input.npy"),
            "--dump", dump, "--top", "3");
        Assert.True(exit == 0, error);
        Assert.Equal(21, Directory.GetFiles(dump, "*.npy").Length);
        var expected = Npy.Read(Fixture("alexnet_style.output.npy")).Data;
        int best = Array.IndexOf(expected, expected.Max());
        Assert.Contains($"class {best}", output);
        Assert.Contains("probability", output);
        // The dump of the last layer is the model's output.
        var last = Directory.GetFiles(dump, "*fc8*").Single();
        TensorAssert.Close(expected, Npy.Read(last).Data, 1e-5, 1e-4, "fc8 dump");
    }

    /// <summary>A residual graph (y = relu(conv(x)) + x) loads; model info says what each layer reads,
    /// and gradcheck checks the input, every layer output and every parameter through both paths.</summary>
    [Fact]
    public void ModelInfoShowsWhatEachLayerOfAGraphReads()
    {
        var (exit, output, error) = Run("model", "info", "--model", Fixture("branching.onnx"));
        Assert.True(exit == 0, error);
        Assert.Contains("reads", output);
        var addRow = output.Split('\n').Single(line => line.Contains(" Add "));
        Assert.Contains(" + input", addRow);
        Assert.Contains(output.Split('\n'), line => line.Contains(" Conv ") && line.Contains(" input "));
        var check = Run("gradcheck", "--model", Fixture("branching.onnx"), "--points", "2");
        Assert.True(check.Exit == 0, check.Error);
        Assert.Contains(check.Output.Split('\n'), line => line.Contains(" input ") && line.Contains("E-0"));
        Assert.Contains(".weight", check.Output);
    }

    [Fact]
    public void BackwardWritesTheGradientArrivingAtEveryLayer()
    {
        string dump = Path.Combine(folder, "grads");
        var (exit, output, error) = Run("backward", "--model", Fixture("alexnet_style.onnx"), "--input", Fixture("alexnet_style.input.npy"),
            "--class", "4", "--rule", "Guided", "--dump", dump);
        Assert.True(exit == 0, error);
        var files = Directory.GetFiles(dump, "*.grad.npy");
        Assert.Equal(22, files.Length); // 21 layers + the network input
        var input = Npy.Read(Path.Combine(dump, "input.grad.npy"));
        Assert.Equal([1, 3, 67, 67], input.Shape);
        Assert.Contains(input.Data, v => v != 0);
        Assert.Contains("guided rule", output);
        Assert.Contains("L2 norm", output);
    }

    [Fact]
    public void GradcheckAgreesOnASmallModel()
    {
        var (exit, output, error) = Run("gradcheck", "--model", Fixture("batchnorm_matmul.onnx"), "--points", "2");
        Assert.True(exit == 0, error);
        Assert.Contains("worst relative error", output);
        Assert.Contains(".weight", output);
    }

    [Fact]
    public void ExportedBundlesLoadBackWithTheirMetadata()
    {
        string bundle = Path.Combine(folder, "bundle");
        var (exit, _, error) = Run("model", "export", "--model", "alexnet", "--out", bundle);
        Assert.True(exit == 0, error);
        var info = Run("model", "info", "--model", bundle);
        Assert.True(info.Exit == 0, info.Error);
        Assert.Contains("60,965,224", info.Output);
        Assert.Contains("BGR 3x227x227", info.Output);
        Assert.DoesNotContain("no preprocessing metadata", info.Output);
    }

    public static TheoryData<string[], string> BadInputs => new()
    {
        { ["model", "info", "--model", "/nonexistent/model.onnx"], "unknown model '/nonexistent/model.onnx'" },
        { ["model", "info", "--model", Fixture("unsupported_op.onnx")], "Sigmoid node '/Sigmoid': operator Sigmoid is not supported" },
        { ["forward", "--model", Fixture("alexnet_style.onnx"), "--input", Fixture("torchvision_style.input.npy")], "shape (1, 3, 64, 64) does not fit the model; expected (1, 3, 67, 67)" },
        { ["forward", "--model", Fixture("alexnet_style.onnx"), "--input", "/nonexistent.npy"], "--input /nonexistent.npy: no such file" },
        { ["backward", "--model", Fixture("alexnet_style.onnx"), "--input", Fixture("alexnet_style.input.npy"), "--class", "10"], "--class 10 is outside the model's 10 classes" },
        { ["backward", "--model", Fixture("alexnet_style.onnx"), "--input", Fixture("alexnet_style.input.npy"), "--unit", "1", "--class", "2"], "give exactly one target" },
        { ["backward", "--model", Fixture("alexnet_style.onnx"), "--input", Fixture("alexnet_style.input.npy"), "--layer", "/relu5/Relu", "--unit", "1,2"], "--unit '1,2' is not C or C,Y,X" },
        { ["backward", "--model", Fixture("alexnet_style.onnx"), "--input", Fixture("alexnet_style.input.npy"), "--layer", "conv9", "--unit", "1"], "--layer 'conv9' is not a layer of the model" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputEndsWithOneLine(string[] args, string message)
    {
        CliHarness.AssertOneLineError(Run(args), message);
    }

    [Fact]
    public void DamagedModelFilesEndWithOneLine()
    {
        var bytes = File.ReadAllBytes(Fixture("alexnet_style.onnx"));
        string truncated = Path.Combine(folder, "truncated.onnx"), random = Path.Combine(folder, "random.onnx");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        var noise = new byte[4096];
        new Random(3).NextBytes(noise);
        File.WriteAllBytes(random, noise);
        foreach (var path in new[] { truncated, random })
        {
            CliHarness.AssertOneLineError(Run("model", "info", "--model", path), path);
        }
    }

    [Fact]
    public void WrongDtypeInputsAreNamed()
    {
        string path = Path.Combine(folder, "double.npy");
        string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 3, 67, 67), }".PadRight(117) + "\n";
        using (var file = File.Create(path))
        {
            file.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
            file.Write(BitConverter.GetBytes((ushort)header.Length));
            file.Write(System.Text.Encoding.Latin1.GetBytes(header));
            file.Write(new byte[3 * 67 * 67 * 8]);
        }
        var (exit, _, error) = Run("forward", "--model", Fixture("alexnet_style.onnx"), "--input", path);
        Assert.Equal(2, exit);
        Assert.Contains("dtype '<f8' is not supported", error);
    }
}
