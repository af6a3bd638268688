using ConvViz.Engine.Onnx.Protos;
using ConvViz.Tests.Support;
using Google.Protobuf;
using B = ConvViz.Tests.Support.OnnxGraphBuilder;

namespace ConvViz.Tests.Cli;

/// <summary>
/// Graph models a user may bring that ConvViz cannot run: `convviz model info` ends each with one
/// line `error: ...` that names the node at fault, and exit code 2. (An unsupported operator in a
/// PyTorch export is covered by <see cref="ModelCommandTests"/>.)
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class GraphModelErrorTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("convviz-graph-errors-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>x (N, 3, 8, 8) and a 3x3 conv "conv" to 4 channels, which the cases build on.</summary>
    private static (B Builder, string Conv) Base()
    {
        var b = new B("bad", 3, 8, 8);
        var conv = b.Node("Conv", [B.Input, b.Weight("w", [4, 3, 3, 3], 1)], "conv", B.Ints("pads", 1, 1, 1, 1));
        return (b, conv);
    }

    private static ModelProto Cycle()
    {
        var b = new B("cycle", 3, 8, 8);
        var first = b.Node("Relu", ["second"], "first");
        return b.Build(b.Node("Relu", [first], "second"));
    }

    private static ModelProto Undefined()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("Add", [conv, "ghost"], "sum"));
    }

    private static ModelProto ConcatMismatch()
    {
        var (b, conv) = Base();
        var pooled = b.Node("MaxPool", [conv], "pooled", B.Ints("kernel_shape", 2, 2), B.Ints("strides", 2, 2));
        return b.Build(b.Node("Concat", [conv, pooled], "joined", B.Int("axis", 1)));
    }

    private static ModelProto AddMismatch()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("Add", [conv, B.Input], "residual"));
    }

    private static ModelProto BatchNormWrongLength()
    {
        var (b, conv) = Base();
        var relu = b.Node("Relu", [conv], "relu");
        return b.Build(b.Node("BatchNormalization", [relu, b.Weight("g", [4], 2), b.Weight("beta", [4], 3), b.Weight("mean", [3], 4),
            b.Floats("var", [4], 1f, 1f, 1f, 1f)], "norm"));
    }

    private static ModelProto UnsupportedOp()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("HardSigmoid", [conv], "gate"));
    }

    private static ModelProto PadOnChannels()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("Pad", [conv, b.Int64s("pads", 0, 1, 1, 1, 0, 0, 1, 1)], "widen"));
    }

    private static ModelProto SplitAlongHeight()
    {
        var (b, conv) = Base();
        var halves = b.Node("Split", [conv], ["top", "bottom"], B.Int("axis", 2));
        return b.Build(b.Node("Concat", [halves[0], halves[1]], "joined", B.Int("axis", 1)));
    }

    private static ModelProto MulOfTwoLayers()
    {
        var (b, conv) = Base();
        var relu = b.Node("Relu", [conv], "relu");
        return b.Build(b.Node("Mul", [conv, relu], "gated"));
    }

    private static ModelProto DivOfConstantByLayer()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("Div", [b.Floats("one", [], 1f), conv], "inverse"));
    }

    private static ModelProto ConstantAlongWidth()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("Mul", [conv, b.Weight("columns", [8], 5)], "scaled"));
    }

    private static ModelProto DivisionByZero()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("Div", [conv, b.Floats("scale", [1, 4, 1, 1], 1f, 2f, 0f, 4f)], "normalized"));
    }

    private static ModelProto ClipBoundsCrossed()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("Clip", [conv, b.Floats("low", [], 6f), b.Floats("high", [], 0f)], "crossed"));
    }

    private static ModelProto GatheredChannelReadAsIs()
    {
        var (b, conv) = Base();
        var plane = b.Node("Gather", [conv, b.Int64Scalar("index", 2)], "plane", B.Int("axis", 1));
        return b.Build(b.Node("Relu", [plane], "rectified"));
    }

    private static ModelProto ReflectPadTooWide()
    {
        var (b, conv) = Base();
        return b.Build(b.Node("Pad", [conv, b.Int64s("pads", 0, 0, 0, 8, 0, 0, 0, 0)], "mirror", B.String("mode", "reflect")));
    }

    public static TheoryData<string, string> Cases => new()
    {
        { nameof(Cycle), "Relu node 'first': reads 'second', which no earlier node produces" },
        { nameof(Undefined), "Add node 'sum': reads 'ghost', which no earlier node produces" },
        { nameof(ConcatMismatch), "Concat node 'joined': layer 'joined' (Concat): inputs of shapes (1, 4, 8, 8), (1, 4, 4, 4) do not share a batch size and plane" },
        { nameof(AddMismatch), "Add node 'residual': layer 'residual' (Add): inputs of shapes (1, 4, 8, 8), (1, 3, 8, 8) do not have one shape" },
        { nameof(BatchNormWrongLength), "BatchNormalization node 'norm': its parameters do not have 4 values" },
        { nameof(UnsupportedOp), "HardSigmoid node 'gate': operator HardSigmoid is not supported" },
        { nameof(PadOnChannels), "Pad node 'widen': pads [0, 1, 1, 1, 0, 0, 1, 1] pad the batch or channel axis" },
        { nameof(SplitAlongHeight), "Split node 'top': Split along axis 2 of 'conv' (1, 4, 8, 8) is not supported (only the channel axis" },
        { nameof(MulOfTwoLayers), "Mul node 'gated': Mul of two layer outputs (conv, relu) is not supported" },
        { nameof(DivOfConstantByLayer), "Div node 'inverse': Div of a constant by a layer output is not supported" },
        { nameof(ConstantAlongWidth), "Mul node 'scaled': the constant 'columns' has dims [8], which do not broadcast onto 'conv' (1, 4, 8, 8) as one value or one per channel" },
        { nameof(ReflectPadTooWide), "Pad node 'mirror': reflect pads" },
        { nameof(GatheredChannelReadAsIs), "Relu node 'rectified': reads 'plane', one channel a Gather took out of its tensor" },
        { nameof(DivisionByZero), "Div node 'normalized': divides by zero (the constant is 0 at channel 2)" },
        { nameof(ClipBoundsCrossed), "Clip node 'crossed': bounds [6, 0] must be numbers with min <= max" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ModelInfoEndsWithOneLineNamingTheNode(string model, string message)
    {
        var proto = (ModelProto)typeof(GraphModelErrorTests).GetMethod(model, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.Invoke(null, null)!;
        string path = Path.Combine(folder, model + ".onnx");
        File.WriteAllBytes(path, proto.ToByteArray());
        CliHarness.AssertOneLineError(CliHarness.Run(["model", "info", "--model", path]), message);
    }
}
