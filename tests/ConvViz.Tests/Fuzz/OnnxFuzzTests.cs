using System.Diagnostics;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Models;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Onnx.Protos;
using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;
using Google.Protobuf;
using Xunit.Abstractions;
using AttributeType = ConvViz.Engine.Onnx.Protos.AttributeProto.Types.AttributeType;
using OnnxDataType = ConvViz.Engine.Onnx.Protos.TensorProto.Types.DataType;

namespace ConvViz.Tests.Fuzz;

/// <summary>
/// Hostile ONNX models, generated from three PyTorch-made fixtures and one model built here that uses
/// every supported operator: byte flips and truncations of the files; every attribute of every node
/// at 0, negative, 2^31-1, 2^31, 2^63-1, NaN and infinities; weights holding NaN or infinity or
/// values that overflow; dims whose products overflow; initializers whose data does not fit their
/// dims; cycles and duplicated outputs; a 50,000-node graph; hostile preprocessing metadata; node
/// names that are console markup. Each case goes through <see cref="ModelBundle.Load"/> (plus a forward
/// pass when it loads) and through `convviz model info` in process (see <see cref="FuzzRun"/> for what fails a case).
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class OnnxFuzzTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Bytes one case may allocate on its thread: the largest base model is 200 KB with
    /// inputs of 3x67x67; 64 MiB leaves room for parsing, the import and a forward pass, and is far
    /// below what a model declaring gigabytes would take.</summary>
    private const long AllocationBudget = 64L << 20;

    private static readonly TimeSpan TimeBudget = TimeSpan.FromSeconds(20);

    private readonly string folder = FashionMnist.TempFolder();
    private readonly CpuBackend backend = new(1);
    private int fileCounter;

    public void Dispose()
    {
        backend.Dispose();
        Directory.Delete(folder, recursive: true);
    }

    private static ModelProto Fixture(string name) => ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixtures.Path("onnx", name)));

    private static IEnumerable<(string Name, ModelProto Model)> Bases() =>
    [
        ("alexnet_style", Fixture("alexnet_style_opset13.onnx")),
        ("torchvision_style", Fixture("torchvision_style.onnx")),
        ("batchnorm_matmul", Fixture("batchnorm_matmul.onnx")),
        ("every_op", EveryOpModel()),
    ];

    /// <summary>Writes the bytes as a bare .onnx and runs the case through the loader (and a forward
    /// pass when it loads) and through the command line.</summary>
    private void Run(FuzzRun run, string name, bool? valid, byte[] bytes)
    {
        string path = Path.Combine(folder, $"case{fileCounter++ % 8}.onnx");
        File.WriteAllBytes(path, bytes);
        run.Library(name, valid, () =>
        {
            using var bundle = ModelBundle.Load(path, backend);
            var shape = bundle.Network.InputShape(1);
            var random = new Random(1);
            var input = new float[shape.ElementCount];
            for (int i = 0; i < input.Length; i++) input[i] = (float)random.NextDouble();
            using var x = backend.Upload(input, shape);
            using var pass = bundle.Network.Forward(x);
        });
        run.Cli(name, valid, "model", "info", "--model", path);
    }

    private void Run(FuzzRun run, string name, bool? valid, ModelProto model) => Run(run, name, valid, model.ToByteArray());

    [Fact]
    public void ByteFlipsAndTruncations_NeverCrash()
    {
        var run = new FuzzRun(output, "ONNX byte flips and truncations", AllocationBudget, TimeBudget);
        var random = new Random(14);
        foreach (var (baseName, model) in Bases())
        {
            var bytes = model.ToByteArray();
            Run(run, $"{baseName} unchanged", true, bytes);
            for (int i = 0; i < 60; i++)
            {
                var flipped = (byte[])bytes.Clone();
                int flips = 1 + random.Next(8);
                for (int f = 0; f < flips; f++) flipped[random.Next(flipped.Length)] ^= (byte)(1 << random.Next(8));
                Run(run, $"{baseName} {flips} bit flips #{i}", null, flipped);
            }
            for (int i = 0; i < 30; i++)
            {
                int length = random.Next(bytes.Length);
                Run(run, $"{baseName} cut to {length} bytes", null, bytes[..length]);
            }
        }
        run.AssertClean();
    }

    /// <summary>Hostile values for each attribute type.</summary>
    private static readonly long[] HostileInts = [0, -1, -2, 2, int.MaxValue, 1L << 31, int.MinValue, long.MaxValue, long.MinValue, 65536];
    private static readonly float[] HostileFloats = [0, -1, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e30f, float.Epsilon, -1e30f];
    private static readonly string[] HostileStrings = ["", "SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET", "XYZ", "[red]"];

    /// <summary>The attributes the importer reads, by operator, so absent ones are added too.</summary>
    private static readonly Dictionary<string, (string Name, AttributeType Type)[]> ReadAttributes = new()
    {
        ["Conv"] = [("kernel_shape", AttributeType.Ints), ("strides", AttributeType.Ints), ("pads", AttributeType.Ints), ("dilations", AttributeType.Ints), ("group", AttributeType.Int), ("auto_pad", AttributeType.String)],
        ["MaxPool"] = [("kernel_shape", AttributeType.Ints), ("strides", AttributeType.Ints), ("pads", AttributeType.Ints), ("dilations", AttributeType.Ints), ("ceil_mode", AttributeType.Int), ("storage_order", AttributeType.Int), ("auto_pad", AttributeType.String)],
        ["AveragePool"] = [("kernel_shape", AttributeType.Ints), ("strides", AttributeType.Ints), ("pads", AttributeType.Ints), ("ceil_mode", AttributeType.Int), ("count_include_pad", AttributeType.Int), ("auto_pad", AttributeType.String)],
        ["LRN"] = [("size", AttributeType.Int), ("alpha", AttributeType.Float), ("beta", AttributeType.Float), ("bias", AttributeType.Float)],
        ["BatchNormalization"] = [("epsilon", AttributeType.Float)],
        ["Gemm"] = [("alpha", AttributeType.Float), ("beta", AttributeType.Float), ("transA", AttributeType.Int), ("transB", AttributeType.Int)],
        ["Flatten"] = [("axis", AttributeType.Int)],
        ["Softmax"] = [("axis", AttributeType.Int)],
        ["Gather"] = [("axis", AttributeType.Int)],
        ["Concat"] = [("axis", AttributeType.Int)],
        ["Cast"] = [("to", AttributeType.Int)],
        ["Shape"] = [("start", AttributeType.Int), ("end", AttributeType.Int)],
        ["Reshape"] = [("allowzero", AttributeType.Int)],
        ["Dropout"] = [("seed", AttributeType.Int)],
    };

    /// <summary>
    /// Whether a model with attribute <paramref name="name"/> of <paramref name="op"/> set to this
    /// value must be refused (false) or may go either way (null). The rules are ONNX's own (sizes,
    /// strides and dilations at least 1, pads at least 0, ceil_mode 0 or 1, finite parameters, a Conv's
    /// kernel_shape equal to its weight's) plus ConvViz's stated limits (window extents at most 65,535,
    /// LRN bias positive, transA 0, storage_order 0).
    /// </summary>
    private static bool? Validity(string op, string name, long? integer, float? real, string? text, long? original)
    {
        if (real is { } f)
        {
            bool read = (op, name) is ("LRN", _) or ("BatchNormalization", "epsilon") or ("Gemm", "alpha" or "beta");
            if (read && !float.IsFinite(f)) return false;
            if (op == "LRN" && (name == "bias" && f <= 0 || name == "alpha" && f < 0)) return false;
            if (op == "BatchNormalization" && name == "epsilon" && f < 0) return false;
            return null;
        }
        if (text is not null)
            return text is "" or "XYZ" or "[red]" ? false : null;
        long v = integer!.Value;
        if (v == original) return null;
        return (op, name) switch
        {
            ("Conv", "kernel_shape") => false,
            (_, "kernel_shape" or "strides" or "dilations") when v < 1 || v > 65535 => false,
            (_, "pads") when v < 0 || v > 65535 => false,
            ("Conv", "group") => false,
            (_, "ceil_mode") when v is not (0 or 1) => false,
            (_, "storage_order" or "transA") when v != 0 => false,
            ("LRN", "size") when v < 1 => false,
            _ => null,
        };
    }

    [Fact]
    public void HostileAttributeValues_AreRefusedOrHarmless()
    {
        var run = new FuzzRun(output, "ONNX attributes", AllocationBudget, TimeBudget);
        foreach (var (baseName, model) in Bases())
        {
            for (int n = 0; n < model.Graph.Node.Count; n++)
            {
                var node = model.Graph.Node[n];
                if (!ReadAttributes.TryGetValue(node.OpType, out var attributes)) continue;
                foreach (var (attrName, type) in attributes)
                {
                    var existing = node.Attribute.FirstOrDefault(a => a.Name == attrName);
                    switch (type)
                    {
                        case AttributeType.Int:
                            foreach (long v in HostileInts)
                                Run(run, $"{baseName} {Describe(node)} {attrName}={v}", Validity(node.OpType, attrName, v, null, null, existing?.I),
                                    WithAttribute(model, n, new AttributeProto { Name = attrName, Type = type, I = v }));
                            break;
                        case AttributeType.Ints:
                            foreach (long v in HostileInts)
                            {
                                int length = attrName == "pads" ? 4 : 2;
                                var all = new AttributeProto { Name = attrName, Type = type };
                                all.Ints.AddRange(Enumerable.Repeat(v, length));
                                bool? validity = existing is not null && existing.Ints.All(e => e == v) ? null : Validity(node.OpType, attrName, v, null, null, null);
                                Run(run, $"{baseName} {Describe(node)} {attrName}=[{v} x{length}]", validity, WithAttribute(model, n, all));
                                var one = new AttributeProto { Name = attrName, Type = type };
                                one.Ints.Add(v);
                                Run(run, $"{baseName} {Describe(node)} {attrName}=[{v}]", false, WithAttribute(model, n, one));
                            }
                            break;
                        case AttributeType.Float:
                            foreach (float v in HostileFloats)
                                Run(run, $"{baseName} {Describe(node)} {attrName}={v}", Validity(node.OpType, attrName, null, v, null, null),
                                    WithAttribute(model, n, new AttributeProto { Name = attrName, Type = type, F = v }));
                            break;
                        case AttributeType.String:
                            foreach (string v in HostileStrings)
                                Run(run, $"{baseName} {Describe(node)} {attrName}='{v}'", Validity(node.OpType, attrName, null, null, v, null),
                                    WithAttribute(model, n, new AttributeProto { Name = attrName, Type = type, S = ByteString.CopyFromUtf8(v) }));
                            break;
                    }
                    // The attribute with the wrong type is refused, whatever its value.
                    var wrong = type == AttributeType.Float ? new AttributeProto { Name = attrName, Type = AttributeType.Int, I = 1 }
                        : new AttributeProto { Name = attrName, Type = AttributeType.Float, F = 1 };
                    Run(run, $"{baseName} {Describe(node)} {attrName} of the wrong type", false, WithAttribute(model, n, wrong));
                }
            }
        }
        run.AssertClean();
    }

    [Fact]
    public void HostileWeightsAndDims_AreRefusedOrHarmless()
    {
        var run = new FuzzRun(output, "ONNX weights, dims and graph structure", AllocationBudget, TimeBudget);
        foreach (var (baseName, model) in Bases())
        {
            for (int i = 0; i < model.Graph.Initializer.Count; i++)
            {
                var init = model.Graph.Initializer[i];
                string where = $"{baseName} initializer '{init.Name}'";
                if (init.DataType == (int)OnnxDataType.Float)
                {
                    foreach (float v in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
                        Run(run, $"{where} holding {v}", false, WithInitializer(model, i, t => SetFloat(t, 0, v)));
                    // Finite but overflowing: the forward pass must either stay finite or say where it overflowed.
                    Run(run, $"{where} holding 3e38", null, WithInitializer(model, i, t => { for (int k = 0; k < Math.Min(8, Count(t)); k++) SetFloat(t, k, 3e38f); }));
                    if (baseName == "batchnorm_matmul" || baseName == "every_op")
                        Run(run, $"{where} holding -1 (a negative variance where it is one)", init.Name.Contains("var", StringComparison.OrdinalIgnoreCase) ? false : null,
                            WithInitializer(model, i, t => SetFloat(t, 0, -1)));
                }
                foreach (long[] dims in new long[][] { [int.MaxValue, int.MaxValue], [65536, 65536, 65536], [-1], [0], [1L << 40], [long.MaxValue, 2], [] })
                    Run(run, $"{where} with dims [{string.Join(", ", dims)}]", false, WithInitializer(model, i, t => { t.Dims.Clear(); t.Dims.AddRange(dims); }));
                if (!init.RawData.IsEmpty)
                {
                    Run(run, $"{where} with 4 bytes more", false, WithInitializer(model, i, t => t.RawData = ByteString.CopyFrom([.. t.RawData.ToByteArray(), 0, 0, 0, 0])));
                    Run(run, $"{where} with 1 byte less", false, WithInitializer(model, i, t => t.RawData = ByteString.CopyFrom(t.RawData.Span[..^1])));
                }
                Run(run, $"{where} of type 999", false, WithInitializer(model, i, t => t.DataType = 999));
                Run(run, $"{where} stored externally", false, WithInitializer(model, i, t =>
                {
                    t.DataLocation = TensorProto.Types.DataLocation.External;
                    t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../../../etc/passwd" });
                }));
            }

            var graph = model.Graph;
            var dataInput = graph.Input.First(input => graph.Initializer.All(init => init.Name != input.Name));
            int inputIndex = graph.Input.IndexOf(dataInput);
            foreach (long batch in new long[] { 0, -1, long.MinValue })
                Run(run, $"{baseName} batch dimension {batch}", false, With(model, m => m.Graph.Input[inputIndex].Type.TensorType.Shape.Dim[0].DimValue = batch));
            // 2,000,000 rows of 3 x 64 or more are over the stated limit of 2^28 values per sample.
            foreach (long size in new long[] { 0, -5, int.MaxValue, 1L << 32, 1L << 40, 2_000_000 })
                Run(run, $"{baseName} input height {size}", false, With(model, m => m.Graph.Input[inputIndex].Type.TensorType.Shape.Dim[2].DimValue = size));

            // Structure: cycles, a node writing a weight, duplicated outputs, a missing input, nodes out of order.
            int last = graph.Node.Count - 1;
            Run(run, $"{baseName} first node reads the last node's output (a cycle)", false, With(model, m => m.Graph.Node[0].Input[0] = m.Graph.Node[last].Output[0]));
            Run(run, $"{baseName} a node reads its own output", false, With(model, m => m.Graph.Node[1].Input[0] = m.Graph.Node[1].Output[0]));
            Run(run, $"{baseName} two nodes write one tensor", false, With(model, m => m.Graph.Node[1].Output[0] = m.Graph.Node[0].Output[0]));
            if (graph.Initializer.Count > 0)
                Run(run, $"{baseName} a node writes over a weight", false, With(model, m => m.Graph.Node[0].Output[0] = m.Graph.Initializer[0].Name));
            Run(run, $"{baseName} a node reads a tensor nobody makes", false, With(model, m => m.Graph.Node[last].Input[0] = "nowhere"));
            Run(run, $"{baseName} nodes in reverse order", false, With(model, m =>
            {
                var nodes = m.Graph.Node.Reverse().ToArray();
                m.Graph.Node.Clear();
                m.Graph.Node.AddRange(nodes);
            }));
            Run(run, $"{baseName} no output", false, With(model, m => m.Graph.Output.Clear()));
            Run(run, $"{baseName} a node without outputs", false, With(model, m => m.Graph.Node[0].Output.Clear()));
            Run(run, $"{baseName} opset 99", false, With(model, m => { m.OpsetImport.Clear(); m.OpsetImport.Add(new OperatorSetIdProto { Version = 99 }); }));
            Run(run, $"{baseName} no graph", false, With(model, m => m.Graph = null));
            Run(run, $"{baseName} node names are console markup", true, With(model, m =>
            {
                foreach (var node in m.Graph.Node) node.Name = $"[bold red]{node.Name}[/] [link=x]";
            }));
            Run(run, $"{baseName} a node name of 100,000 characters", true, With(model, m => m.Graph.Node[0].Name = new string('n', 100_000)));
        }
        run.AssertClean();
    }

    [Fact]
    public void HostileShapeSubgraphsAndDropout_AreRefused()
    {
        var run = new FuzzRun(output, "ONNX shape subgraphs", AllocationBudget, TimeBudget);
        var model = EveryOpModel();
        int Node(string name) => model.Graph.Node.IndexOf(model.Graph.Node.First(n => n.Name == name));
        ModelProto WithConstant(string node, TensorProto value) => With(model, m =>
        {
            var constant = m.Graph.Node[Node(node)];
            constant.Attribute.Clear();
            constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeType.Tensor, T = value });
        });
        foreach (long index in new long[] { 4, -5, int.MaxValue, long.MinValue, 100 })
            Run(run, $"Gather index {index}", false, WithConstant("gather_index", Int64s([], index)));
        Run(run, "Gather indices empty", false, WithConstant("gather_index", Int64s([0])));
        foreach (long axis in new long[] { 2, -3, 7, long.MaxValue, long.MinValue })
            Run(run, $"Unsqueeze axis {axis}", false, WithConstant("unsqueeze_axes", Int64s([1], axis)));
        Run(run, "Unsqueeze axes repeated", false, WithConstant("unsqueeze_axes", Int64s([2], 0, 0)));
        foreach (long axis in new long[] { 2, -3, long.MaxValue, long.MinValue })
            Run(run, $"Squeeze axis {axis}", false, WithConstant("squeeze_axes", Int64s([1], axis)));
        Run(run, "Slice starts empty", false, WithConstant("slice_starts", Int64s([0])));
        Run(run, "Slice ends of two values", false, WithConstant("slice_ends", Int64s([2], 1, 2)));
        foreach (long end in new long[] { long.MinValue, long.MaxValue, -1 })
            Run(run, $"Slice end {end}", end == long.MaxValue ? null : false, WithConstant("slice_ends", Int64s([1], end)));
        foreach (long divisor in new long[] { 0, -1, 2, long.MaxValue })
            Run(run, $"Div by {divisor}", divisor == 1 ? true : false, WithConstant("divisor", Int64s([1], divisor)));
        Run(run, "Div of long.MinValue by -1", false, With(WithConstant("divisor", Int64s([1], -1)), m =>
        {
            var minus = m.Graph.Node[Node("minus_one")];
            minus.Attribute.Clear();
            minus.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeType.Tensor, T = Int64s([1], long.MinValue) });
        }));
        foreach (long target in new long[] { 0, -2, int.MaxValue, 1L << 40, long.MaxValue })
            Run(run, $"Reshape to [1, {target}]", false, WithConstant("minus_one", Int64s([1], target)));
        foreach (float ratio in new[] { float.NaN, 1f, -0.5f, float.PositiveInfinity })
            Run(run, $"Dropout ratio {ratio}", false, WithConstant("dropout_ratio", Floats([], ratio)));
        Run(run, "Dropout ratio empty", false, WithConstant("dropout_ratio", Floats([0])));
        Run(run, "Dropout ratio of three values", false, WithConstant("dropout_ratio", Floats([3], 0.1f, 0.2f, 0.3f)));
        Run(run, "Dropout ratio as an integer", false, WithConstant("dropout_ratio", Int64s([], 0)));
        Run(run, "Conv bias of 5 values for 4 channels", false, With(model, m => ReplaceInitializer(m, Weight("b1", [5], 2))));
        Run(run, "Gemm C of 11 values for 10 outputs", false, With(model, m => ReplaceInitializer(m, Weight("cg", [11], 9))));
        Run(run, "BatchNormalization scale of 3 values for 4 channels", false, With(model, m => ReplaceInitializer(m, Weight("bn_scale", [3], 3))));
        Run(run, "BatchNormalization variance 0 with epsilon 0", false, With(model, m =>
        {
            ReplaceInitializer(m, Floats([4], 0, 1, 1, 1), "bn_var");
            m.Graph.Node[Node("bn1")].Attribute[0].F = 0;
        }));
        Run(run, "Conv weight with a zero dimension", false, With(model, m => ReplaceInitializer(m, Weight("w1", [0, 2, 3, 3], 1))));
        Run(run, "Cast of NaN to INT64", false, With(WithConstant("minus_one", Floats([1], float.NaN)), m =>
        {
            m.Graph.Node[Node("target_cast")].Input[0] = "minus_one_value";
        }));
        run.AssertClean();
    }

    [Fact]
    public void HostilePreprocessingMetadata_IsRefused()
    {
        var run = new FuzzRun(output, "preprocessing metadata", AllocationBudget, TimeBudget);
        var model = Fixture("alexnet_style_opset13.onnx");
        var cases = new (string Key, string Value, bool? Valid)[]
        {
            ("resize_shorter", "46341", false), ("resize_shorter", "1e30", false), ("resize_shorter", "-1", false), ("resize_shorter", "0", false),
            ("resize_shorter", "NaN", false), ("resize_shorter", "7.5", false), ("resize_shorter", "256,256", false), ("resize_shorter", "80", true),
            ("pixel_scale", "NaN", false), ("pixel_scale", "Infinity", false), ("pixel_scale", "0", false), ("pixel_scale", "1e38", false),
            ("pixel_scale", "1,2", false), ("pixel_scale", "0.5", true),
            ("mean", "NaN", false), ("mean", "1e39", false), ("mean", "1,2", false), ("mean", "-Infinity,0,0", false), ("mean", "3e38", true),
            ("scale", "0", false), ("scale", "NaN", false), ("scale", "1e38", null), ("scale", "1,2,3,4", false), ("scale", "-2", true),
            ("channel_order", "7", false), ("channel_order", "XYZ", false), ("channel_order", "bgr", true),
            ("input_size", "1e30,1,1", false), ("input_size", "3,67", false), ("input_size", "3,67,67.5", false), ("input_size", "3,67,67", true),
        };
        foreach (var (key, value, valid) in cases)
            Run(run, $"metadata {key}='{value}'", valid, With(model, m => m.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value })));
        run.AssertClean();
    }

    /// <summary>A chain of 50,000 Relu layers loads in time that grows linearly (it once took 42 s).</summary>
    [Fact]
    public void DeepGraph_LoadsInLinearTime()
    {
        var run = new FuzzRun(output, "deep graphs", 512L << 20, TimeSpan.FromSeconds(20));
        foreach (int depth in new[] { 5_000, 50_000 })
        {
            var model = Fixture("alexnet_style_opset13.onnx");
            var graph = model.Graph;
            string last = graph.Output[0].Name;
            for (int i = 0; i < depth; i++)
            {
                string next = $"deep{i}";
                graph.Node.Add(new NodeProto { OpType = "Relu", Input = { last }, Output = { next } });
                last = next;
            }
            graph.Output[0].Name = last;
            var clock = Stopwatch.StartNew();
            string path = Path.Combine(folder, $"deep{depth}.onnx");
            File.WriteAllBytes(path, model.ToByteArray());
            run.Library($"{depth} Relu nodes", true, () => OnnxImporter.Load(path, backend).Network.Dispose());
            output.WriteLine($"{depth} nodes: {clock.Elapsed.TotalSeconds:F2} s");
        }
        run.AssertClean();
    }

    // ---------------------------------------------------------------- building and mutating models

    private static string Describe(NodeProto node) => string.IsNullOrEmpty(node.Name) ? node.OpType : $"{node.OpType} '{node.Name}'";

    private static ModelProto With(ModelProto model, Action<ModelProto> change)
    {
        var copy = model.Clone();
        change(copy);
        return copy;
    }

    private static ModelProto WithAttribute(ModelProto model, int node, AttributeProto attribute) => With(model, m =>
    {
        var target = m.Graph.Node[node];
        var old = target.Attribute.FirstOrDefault(a => a.Name == attribute.Name);
        if (old is not null) target.Attribute.Remove(old);
        target.Attribute.Add(attribute);
    });

    private static ModelProto WithInitializer(ModelProto model, int index, Action<TensorProto> change) => With(model, m => change(m.Graph.Initializer[index]));

    private static void ReplaceInitializer(ModelProto model, TensorProto tensor, string? name = null)
    {
        tensor.Name = name ?? tensor.Name;
        var old = model.Graph.Initializer.First(t => t.Name == tensor.Name);
        model.Graph.Initializer[model.Graph.Initializer.IndexOf(old)] = tensor;
    }

    private static int Count(TensorProto t) => t.RawData.IsEmpty ? t.FloatData.Count : t.RawData.Length / 4;

    private static void SetFloat(TensorProto t, int index, float value)
    {
        if (t.RawData.IsEmpty)
        {
            if (index < t.FloatData.Count) t.FloatData[index] = value;
            return;
        }
        var bytes = t.RawData.ToByteArray();
        if (index * 4 + 4 <= bytes.Length) BitConverter.TryWriteBytes(bytes.AsSpan(index * 4), value);
        t.RawData = ByteString.CopyFrom(bytes);
    }

    private static TensorProto Int64s(long[] dims, params long[] values)
    {
        var t = new TensorProto { DataType = (int)OnnxDataType.Int64 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        return t;
    }

    private static TensorProto Floats(long[] dims, params float[] values)
    {
        var t = new TensorProto { DataType = (int)OnnxDataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        return t;
    }

    private static TensorProto Weight(string name, long[] dims, int seed, float scale = 0.3f)
    {
        var t = Floats(dims, TestData.Uniform((int)dims.Aggregate(1L, (a, d) => a * d), seed, scale));
        t.Name = name;
        return t;
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name, Output = { output } };
        node.Input.AddRange(inputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static NodeProto SplitNode()
    {
        var split = Node("Split", "halves", ["clipped", "split_sizes"], "part0", new AttributeProto { Name = "axis", Type = AttributeType.Int, I = 1 });
        split.Output.Add("part1");
        return split;
    }

    private static NodeProto Constant(string name, TensorProto value) =>
        Node("Constant", name, [], name + "_value", new AttributeProto { Name = "value", Type = AttributeType.Tensor, T = value });

    /// <summary>
    /// One model (opset 13) with every operator the importer reads: x (N, 2, 8, 8) → Conv 3x3 pad 1 →
    /// BatchNormalization → Relu → LRN → MaxPool 2 → AveragePool 3 pad 1 → depthwise Conv SAME_UPPER →
    /// Add (bias) → Pad reflect → Clip → Split into 1 + 3 channels → Sub and Mul by constants → Concat →
    /// Slice of the channels → Div by a constant → Reshape to (N, -1) computed by Shape, Gather,
    /// Unsqueeze, Squeeze, Concat, Slice, Cast, Div → Dropout (ratio input) → Gemm (transB) →
    /// Identity → Softmax.
    /// </summary>
    private static ModelProto EveryOpModel()
    {
        var graph = new GraphProto { Name = "every_op" };
        graph.Initializer.Add(Weight("w1", [4, 2, 3, 3], 1));
        graph.Initializer.Add(Weight("b1", [4], 2));
        graph.Initializer.Add(Weight("bn_scale", [4], 3));
        graph.Initializer.Add(Weight("bn_bias", [4], 4));
        graph.Initializer.Add(Weight("bn_mean", [4], 5));
        var variance = Floats([4], 0.5f, 1f, 1.5f, 2f);
        variance.Name = "bn_var";
        graph.Initializer.Add(variance);
        graph.Initializer.Add(Weight("w2", [4, 1, 3, 3], 6));
        graph.Initializer.Add(Weight("b2", [4, 1, 1], 7));
        graph.Initializer.Add(Weight("wg", [10, 144], 8, 0.1f));
        graph.Initializer.Add(Int64s([8], 0, 0, 1, 1, 0, 0, 1, 1));
        graph.Initializer[^1].Name = "pads";
        graph.Initializer.Add(Int64s([2], 1, 3));
        graph.Initializer[^1].Name = "split_sizes";
        graph.Initializer.Add(Weight("channel_scale", [3, 1, 1], 10));
        graph.Initializer.Add(Int64s([1], 0));
        graph.Initializer[^1].Name = "channel_starts";
        graph.Initializer.Add(Int64s([1], 4));
        graph.Initializer[^1].Name = "channel_ends";
        graph.Initializer.Add(Int64s([1], 1));
        graph.Initializer[^1].Name = "channel_axes";
        graph.Initializer.Add(Weight("cg", [10], 9));
        var sample = new TensorShapeProto();
        sample.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (long d in new long[] { 2, 8, 8 }) sample.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        graph.Input.Add(new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)OnnxDataType.Float, Shape = sample } } });
        graph.Output.Add(new ValueInfoProto { Name = "probabilities" });
        graph.Node.AddRange(
        [
            Node("Conv", "conv1", ["x", "w1", "b1"], "c1", Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)),
            Node("BatchNormalization", "bn1", ["c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"], "bn", new AttributeProto { Name = "epsilon", Type = AttributeType.Float, F = 1e-5f }),
            Node("Relu", "relu1", ["bn"], "r1"),
            Node("LRN", "norm1", ["r1"], "n1", new AttributeProto { Name = "size", Type = AttributeType.Int, I = 3 }),
            Node("MaxPool", "pool1", ["n1"], "p1", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)),
            Node("AveragePool", "pool2", ["p1"], "a1", Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)),
            Node("Conv", "conv2", ["a1", "w2"], "c2", new AttributeProto { Name = "group", Type = AttributeType.Int, I = 4 },
                new AttributeProto { Name = "auto_pad", Type = AttributeType.String, S = ByteString.CopyFromUtf8("SAME_UPPER") }),
            Node("Add", "bias2", ["c2", "b2"], "c2b"),
            Node("Pad", "mirror", ["c2b", "pads"], "padded", new AttributeProto { Name = "mode", Type = AttributeType.String, S = ByteString.CopyFromUtf8("reflect") }),
            Constant("clip_min", Floats([], 0f)),
            Constant("clip_max", Floats([], 6f)),
            Node("Clip", "relu6", ["padded", "clip_min_value", "clip_max_value"], "clipped"),
            SplitNode(),
            Constant("offset", Floats([], 0.25f)),
            Node("Sub", "shift", ["part0", "offset_value"], "shifted"),
            Node("Mul", "scale", ["part1", "channel_scale"], "scaled"),
            Node("Concat", "rejoin", ["shifted", "scaled"], "rejoined", new AttributeProto { Name = "axis", Type = AttributeType.Int, I = 1 }),
            Node("Slice", "channels", ["rejoined", "channel_starts", "channel_ends", "channel_axes"], "sliced"),
            Constant("two", Floats([], 2f)),
            Node("Div", "halve", ["sliced", "two_value"], "features"),
            Node("Shape", "shape", ["c2b"], "s"),
            Constant("gather_index", Int64s([], 0)),
            Node("Gather", "batch", ["s", "gather_index_value"], "n"),
            Constant("unsqueeze_axes", Int64s([2], 0, 1)),
            Node("Unsqueeze", "unsqueeze", ["n", "unsqueeze_axes_value"], "n2d"),
            Constant("squeeze_axes", Int64s([1], 0)),
            Node("Squeeze", "squeeze", ["n2d", "squeeze_axes_value"], "n1d"),
            Constant("minus_one", Int64s([1], -1)),
            Node("Cast", "target_cast", ["minus_one_value"], "m1", new AttributeProto { Name = "to", Type = AttributeType.Int, I = (long)OnnxDataType.Int64 }),
            Node("Concat", "target", ["n1d", "m1"], "t", new AttributeProto { Name = "axis", Type = AttributeType.Int, I = 0 }),
            Constant("slice_starts", Int64s([1], 0)),
            Constant("slice_ends", Int64s([1], 2)),
            Node("Slice", "slice", ["t", "slice_starts_value", "slice_ends_value"], "t2"),
            Constant("divisor", Int64s([1], 1)),
            Node("Div", "div", ["t2", "divisor_value"], "t3"),
            Node("Reshape", "flatten", ["features", "t3"], "flat"),
            Constant("dropout_ratio", Floats([], 0.3f)),
            Node("Dropout", "drop", ["flat", "dropout_ratio_value"], "d"),
            Node("Gemm", "fc", ["d", "wg", "cg"], "g", new AttributeProto { Name = "transB", Type = AttributeType.Int, I = 1 }),
            Node("Identity", "same", ["g"], "i"),
            Node("Softmax", "prob", ["i"], "probabilities"),
        ]);
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        return model;
    }
}
