using ConvViz.Engine.Backends;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Onnx.Protos;
using ConvViz.Engine.Tensors;
using OnnxDataType = ConvViz.Engine.Onnx.Protos.TensorProto.Types.DataType;

namespace ConvViz.Tests.Conformance;

/// <summary>
/// One value flowing through an ONNX graph while a test runs it on a backend. Float data lives on
/// the backend as a <see cref="Engine.Tensors.Tensor"/>; integer and boolean data (pooling indices,
/// shapes, dropout masks) stay on the host. <see cref="Dims"/> keeps the ONNX shape, which may be a
/// scalar (rank 0), while engine tensors have rank 1 to 4 (a scalar is held as shape (1)).
/// </summary>
public sealed class OnnxValue
{
    private OnnxValue(int[] dims, Tensor? tensor, long[]? integers, bool[]? bools, bool transposed)
    {
        Dims = dims;
        Tensor = tensor;
        Integers = integers;
        Bools = bools;
        IsPendingTranspose = transposed;
    }

    public int[] Dims { get; }
    public Tensor? Tensor { get; }
    public long[]? Integers { get; }
    public bool[]? Bools { get; }

    /// <summary>
    /// A 2-D Transpose that has not been carried out: <see cref="Tensor"/> is the untransposed source
    /// and <see cref="Dims"/> the transposed shape. The engine has no transpose op, but Gemm takes
    /// transA/transB, so only Gemm and MatMul may consume such a value.
    /// </summary>
    public bool IsPendingTranspose { get; }

    public static OnnxValue Float(Tensor tensor, int[] dims) => new(dims, tensor, null, null, false);
    public static OnnxValue Integer(long[] data, int[] dims) => new(dims, null, data, null, false);
    public static OnnxValue Boolean(bool[] data, int[] dims) => new(dims, null, null, data, false);
    public static OnnxValue TransposeOf(OnnxValue source) =>
        new([source.Dims[1], source.Dims[0]], source.Tensor, null, null, true);

    public string Kind => Tensor is not null ? (IsPendingTranspose ? "transposed float" : "float")
        : Integers is not null ? "integer" : "bool";

    public override string ToString() => $"{Kind} [{string.Join(", ", Dims)}]";
}

/// <summary>
/// Runs the nodes of an ONNX model (the one-node graphs of the ONNX backend test vectors) on a
/// <see cref="Backend"/>, mapping each ONNX operator onto the engine's ops. Every attribute and input
/// is either honoured or rejected with <see cref="NotSupportedException"/>; nothing is ignored
/// silently. Host work is limited to format conversions (ONNX int64 indices to and from the engine's
/// Int32 switches) and the ConvTranspose bias, which the engine's transposed convolution lacks.
/// </summary>
internal sealed class OnnxNodeRunner : IDisposable
{
    private readonly Backend backend;
    private readonly ModelProto model;
    private readonly string source;
    private readonly List<Tensor> owned = [];

    public OnnxNodeRunner(Backend backend, ModelProto model, string source)
    {
        this.backend = backend;
        this.model = model;
        this.source = source;
        if (model.Graph is null) throw new InvalidDataException($"{source}: the model has no graph");
        Opset = DefaultOpset(model, source);
    }

    /// <summary>The version of the default ("" / "ai.onnx") operator set the model imports.</summary>
    public long Opset { get; }

    /// <summary>
    /// Binds the initializers and the given inputs (in the order of the graph inputs that no
    /// initializer provides), runs every node, and returns the graph outputs in order.
    /// </summary>
    public IReadOnlyList<(string Name, OnnxValue Value)> Run(IReadOnlyList<OnnxTensorData> inputs)
    {
        var graph = model.Graph;
        var values = new Dictionary<string, OnnxValue>();
        foreach (var initializer in graph.Initializer)
            values[initializer.Name] = Bind(OnnxTensors.Read(initializer, $"{source} initializer '{initializer.Name}'"));

        var free = graph.Input.Where(i => !values.ContainsKey(i.Name)).Select(i => i.Name).ToArray();
        if (free.Length != inputs.Count)
            throw new InvalidDataException(
                $"{source}: the graph has {free.Length} inputs without initializer ({string.Join(", ", free)}) but {inputs.Count} input files were given");
        for (int i = 0; i < free.Length; i++) values[free[i]] = Bind(inputs[i]);

        foreach (var node in graph.Node)
        {
            var args = node.Input.Select(name => name.Length == 0 ? null
                : values.TryGetValue(name, out var v) ? v
                : throw new InvalidDataException($"{source}: {OnnxAttributes.Describe(node)} reads '{name}', which no initializer, input or earlier node provides")).ToArray();
            var results = RunNode(node, args);
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i].Length == 0) continue;
                values[node.Output[i]] = results[i]
                    ?? throw new InvalidOperationException($"{source}: {OnnxAttributes.Describe(node)} did not produce output {i} '{node.Output[i]}'");
            }
        }

        return graph.Output.Select(o =>
        {
            var v = values.TryGetValue(o.Name, out var found) ? found
                : throw new InvalidDataException($"{source}: graph output '{o.Name}' is not produced by any node");
            if (v.IsPendingTranspose)
                throw new NotSupportedException($"{source}: graph output '{o.Name}' is a Transpose result; the engine has no transpose op (it can only fold a 2-D Transpose into Gemm)");
            return (o.Name, v);
        }).ToArray();
    }

    public void Dispose()
    {
        foreach (var t in owned) t.Dispose();
        owned.Clear();
    }

    // ---------------------------------------------------------------- dispatch

    private OnnxValue?[] RunNode(NodeProto node, OnnxValue?[] inputs)
    {
        if (node.Domain is not ("" or "ai.onnx"))
            throw new NotSupportedException($"{source}: {OnnxAttributes.Describe(node)} is in domain '{node.Domain}'; only the default ONNX domain is supported");
        return node.OpType switch
        {
            "Conv" => [Conv(node, inputs)],
            "ConvTranspose" => [ConvTranspose(node, inputs)],
            "MaxPool" => MaxPool(node, inputs),
            "MaxUnpool" => [MaxUnpool(node, inputs)],
            "AveragePool" => [AveragePool(node, inputs)],
            "GlobalAveragePool" => [GlobalAveragePool(node, inputs)],
            "LRN" => [Lrn(node, inputs)],
            "Relu" => [Relu(node, inputs)],
            "Gemm" => [Gemm(node, inputs)],
            "MatMul" => [MatMul(node, inputs)],
            "Transpose" => [Transpose(node, inputs)],
            "Softmax" => [Softmax(node, inputs)],
            "Flatten" => [Flatten(node, inputs)],
            "Dropout" => Dropout(node, inputs),
            "Pad" => [Pad(node, inputs)],
            "Clip" => [Clip(node, inputs)],
            "Split" => Split(node, inputs),
            "Add" or "Sub" or "Mul" or "Div" => [Arithmetic(node, inputs)],
            _ => throw new NotSupportedException($"{source}: operator {node.OpType} has no mapping onto the engine"),
        };
    }

    // ---------------------------------------------------------------- convolution

    /// <summary>Conv: Conv2dForward with auto_pad turned into explicit pads.</summary>
    private OnnxValue Conv(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "auto_pad", "dilations", "group", "kernel_shape", "pads", "strides");
        RequireInputCount(node, inputs, 2, 3);
        var x = FloatInput(node, inputs, 0, "X", rank: 4);
        var w = FloatInput(node, inputs, 1, "W", rank: 4);
        var bias = OptionalFloatInput(node, inputs, 2, "B", rank: 1);
        var g = OnnxGeometry.Conv(node, x.Dims[2], x.Dims[3], w.Dims[2], w.Dims[3]);
        var y = Allocate(Backend.ConvOutputShape(x.Tensor!.Shape, w.Tensor!.Shape, g));
        backend.Conv2dForward(x.Tensor, w.Tensor, bias?.Tensor, y, g);
        return Result(y);
    }

    /// <summary>
    /// ConvTranspose as the backward-data pass of a convolution: a transposed conv with weight
    /// (Cin, Cout/group, kH, kW) is exactly the input gradient of a conv with that weight layout
    /// (K = Cin, C/G = Cout/group), with dy = the ConvTranspose input and dx = its output. The output
    /// size and pads follow the ONNX spec (pads, output_padding, output_shape, auto_pad).
    /// </summary>
    private OnnxValue ConvTranspose(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "auto_pad", "dilations", "group", "kernel_shape", "output_padding", "output_shape", "pads", "strides");
        RequireInputCount(node, inputs, 2, 3);
        var x = FloatInput(node, inputs, 0, "X", rank: 4);
        var w = FloatInput(node, inputs, 1, "W", rank: 4);
        var bias = OptionalFloatInput(node, inputs, 2, "B", rank: 1);
        int group = node.GetInt32("group", 1);
        var kernel = KernelShape(node, w.Dims[2], w.Dims[3]);
        var strides = Pair(node, "strides", 1);
        var dilations = Pair(node, "dilations", 1);
        var outputPadding = Pair(node, "output_padding", 0);
        string autoPad = node.GetString("auto_pad", "NOTSET");
        var outputShape = node.GetInt32s("output_shape");
        if (outputShape is { Length: 4 }) outputShape = outputShape[2..];
        if (outputShape is not null && outputShape.Length != 2)
            throw new NotSupportedException($"{Where(node)}: output_shape [{string.Join(", ", outputShape)}] is not 2-D");
        int[] explicitPads = autoPad switch
        {
            "NOTSET" => Pads(node),
            "VALID" => NoPads(node, autoPad),
            "SAME_UPPER" or "SAME_LOWER" => NoPads(node, autoPad),
            _ => throw new NotSupportedException($"{Where(node)}: auto_pad '{autoPad}' is not supported"),
        };

        int[] input = [x.Dims[2], x.Dims[3]];
        var outSize = new int[2];
        var begin = new int[2];
        var end = new int[2];
        for (int i = 0; i < 2; i++)
        {
            int window = (kernel[i] - 1) * dilations[i] + 1;
            int natural = strides[i] * (input[i] - 1) + outputPadding[i] + window;
            if (outputShape is not null || autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                outSize[i] = outputShape is not null ? outputShape[i] : input[i] * strides[i];
                int total = natural - outSize[i];
                // The ONNX rule (floor division, as its reference implementation computes it).
                int half = FloorDiv(total, 2);
                (begin[i], end[i]) = autoPad == "SAME_UPPER" ? (half, total - half) : (total - half, half);
            }
            else
            {
                begin[i] = explicitPads[i];
                end[i] = explicitPads[i + 2];
                outSize[i] = natural - begin[i] - end[i];
            }
        }

        // The end pad only decides the output size, which dx's shape fixes; an end pad below zero
        // (an output_shape larger than the natural size: trailing zeros) is the same transposed conv
        // as end pad 0 with that larger dx, provided the forward conv still yields x's size.
        if (begin[0] < 0 || begin[1] < 0)
            throw new NotSupportedException($"{Where(node)}: the begin pads come out negative ({begin[0]}, {begin[1]}); the engine's convolution cannot express that");
        var g = new Conv2dGeometry(kernel[0], kernel[1], strides[0], strides[1], begin[0], begin[1],
            Math.Max(0, end[0]), Math.Max(0, end[1]), dilations[0], dilations[1], group);
        var dxShape = Shape.Nchw(x.Dims[0], w.Dims[1] * group, outSize[0], outSize[1]);
        var forward = Backend.ConvOutputShape(dxShape, w.Tensor!.Shape, g, "ConvTranspose");
        if (forward != x.Tensor!.Shape)
            throw new NotSupportedException(
                $"{Where(node)}: an output of {dxShape} (pads [{begin[0]}, {begin[1]}, {end[0]}, {end[1]}], output_padding [{outputPadding[0]}, {outputPadding[1]}]) is not the backward-data of a conv whose output is the input {x.Tensor.Shape} (it gives {forward})");

        var dx = Allocate(dxShape);
        backend.Conv2dBackwardData(x.Tensor, w.Tensor, dx, g);
        if (bias is not null)
        {
            // Host work: the engine's transposed convolution (Conv2dBackwardData) has no bias term,
            // so the per-channel bias is added here on the host.
            var b = backend.Download(bias.Tensor!);
            if (b.Length != dxShape.C)
                throw new InvalidDataException($"{Where(node)}: bias has {b.Length} values, expected {dxShape.C} (the output channels)");
            var data = backend.Download(dx);
            int plane = dxShape.H * dxShape.W;
            for (int i = 0; i < data.Length; i++) data[i] += b[i / plane % dxShape.C];
            backend.Upload(data, dx);
        }
        return Result(dx);
    }

    // ---------------------------------------------------------------- pooling

    /// <summary>MaxPool: MaxPoolForward; the Indices output converts the engine's per-plane Int32
    /// switches h*W+w into ONNX's int64 index over the whole (N, C, H, W) input.</summary>
    private OnnxValue?[] MaxPool(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides");
        RequireInputCount(node, inputs, 1, 1);
        var x = FloatInput(node, inputs, 0, "X", rank: 4);
        var g = OnnxGeometry.Pool(node, x.Dims[2], x.Dims[3]);
        var shape = Backend.PoolOutputShape(x.Tensor!.Shape, g, "MaxPool");
        var y = Allocate(shape);
        var switches = Allocate(shape, DataType.Int32);
        backend.MaxPoolForward(x.Tensor, y, switches, g);
        if (node.Output.Count < 2 || node.Output[1].Length == 0) return [Result(y)];

        long storageOrder = node.GetInt("storage_order", 0);
        if (storageOrder is not (0 or 1))
            throw new NotSupportedException($"{Where(node)}: storage_order {storageOrder} is not 0 (row major) or 1 (column major)");
        var sw = backend.DownloadInt32(switches);
        int H = x.Dims[2], W = x.Dims[3], outPlane = shape.H * shape.W;
        var indices = new long[sw.Length];
        for (int i = 0; i < sw.Length; i++)
        {
            if (sw[i] < 0 || sw[i] >= H * W)
                throw new NotSupportedException($"{Where(node)}: output {i} has no input in its window (switch {sw[i]}); ONNX has no index for that");
            long plane = i / outPlane;
            int h = sw[i] / W, w = sw[i] % W;
            indices[i] = plane * H * W + (storageOrder == 0 ? h * W + w : w * H + h);
        }
        return [Result(y), OnnxValue.Integer(indices, shape.ToArray())];
    }

    /// <summary>
    /// MaxUnpool: ONNX's int64 indices become the engine's per-plane Int32 switches, then MaxUnpool
    /// scatters. The indices address the default unpooled shape, (in - 1) * stride + kernel - pads
    /// per axis. An output_shape input only enlarges the output, which holds that unpooled tensor
    /// at its top-left (trailing rows and columns zero): so the ONNX reference evaluator computes it,
    /// and so test_maxunpool_export_with_output_shape expects it. (ONNX Runtime and PyTorch read the
    /// indices in output_shape's coordinates instead; see onnx/onnx#2398.)
    /// </summary>
    private OnnxValue MaxUnpool(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "kernel_shape", "pads", "strides");
        RequireInputCount(node, inputs, 2, 3);
        var x = FloatInput(node, inputs, 0, "X", rank: 4);
        var indices = IntegerInput(node, inputs, 1, "I");
        if (!indices.Dims.SequenceEqual(x.Dims))
            throw new InvalidDataException($"{Where(node)}: I has shape [{string.Join(", ", indices.Dims)}], expected X's [{string.Join(", ", x.Dims)}]");
        var kernel = node.GetInt32s("kernel_shape")
            ?? throw new InvalidDataException($"{Where(node)}: kernel_shape is required");
        RequireLength(node, "kernel_shape", kernel, 2);
        var strides = Pair(node, "strides", 1);
        var pads = Pads(node);

        int n = x.Dims[0], c = x.Dims[1];
        // The default unpooled size, in which the indices are expressed.
        int unpooledH = (x.Dims[2] - 1) * strides[0] + kernel[0] - pads[0] - pads[2];
        int unpooledW = (x.Dims[3] - 1) * strides[1] + kernel[1] - pads[1] - pads[3];
        int H = unpooledH, W = unpooledW;
        if (inputs.Length > 2 && inputs[2] is not null)
        {
            var outputShape = IntegerInput(node, inputs, 2, "output_shape").Integers!;
            if (outputShape.Length != 4 || outputShape[0] != n || outputShape[1] != c)
                throw new NotSupportedException($"{Where(node)}: output_shape [{string.Join(", ", outputShape)}] must be ({n}, {c}, H, W)");
            (H, W) = (checked((int)outputShape[2]), checked((int)outputShape[3]));
            if (H < unpooledH || W < unpooledW)
                throw new NotSupportedException($"{Where(node)}: output_shape {H}x{W} is smaller than the unpooled {unpooledH}x{unpooledW}");
        }

        var onnx = indices.Integers!;
        int inPlane = x.Dims[2] * x.Dims[3];
        long unpooledPlane = (long)unpooledH * unpooledW;
        var switches = new int[onnx.Length];
        var seen = new HashSet<long>();
        for (int i = 0; i < onnx.Length; i++)
        {
            long plane = i / inPlane;
            long index = onnx[i];
            if (index < 0 || index >= n * c * unpooledPlane)
                throw new InvalidDataException($"{Where(node)}: index {index} at position {i} is outside the unpooled ({n}, {c}, {unpooledH}, {unpooledW})");
            if (index / unpooledPlane != plane)
                throw new NotSupportedException($"{Where(node)}: index {index} at position {i} points into plane {index / unpooledPlane}, not its own plane {plane}; the engine unpools within each (n, c) plane");
            if (!seen.Add(index))
                throw new NotSupportedException($"{Where(node)}: index {index} occurs twice; ONNX writes it once while the engine's MaxUnpool adds every contribution");
            int local = (int)(index % unpooledPlane);
            switches[i] = local / unpooledW * W + local % unpooledW;
        }

        var sw = Own(backend.Upload(switches, x.Tensor!.Shape));
        var y = Allocate(Shape.Nchw(n, c, H, W));
        backend.MaxUnpool(x.Tensor, sw, y);
        return Result(y);
    }

    /// <summary>AveragePool: AvgPoolForward; count_include_pad chooses the divisor.</summary>
    private OnnxValue AveragePool(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides");
        RequireInputCount(node, inputs, 1, 1);
        var x = FloatInput(node, inputs, 0, "X", rank: 4);
        var g = OnnxGeometry.Pool(node, x.Dims[2], x.Dims[3]);
        var y = Allocate(Backend.PoolOutputShape(x.Tensor!.Shape, g, "AveragePool"));
        backend.AvgPoolForward(x.Tensor, y, g);
        return Result(y);
    }

    /// <summary>GlobalAveragePool: one average-pool window covering each whole plane.</summary>
    private OnnxValue GlobalAveragePool(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node);
        RequireInputCount(node, inputs, 1, 1);
        var x = FloatInput(node, inputs, 0, "X", rank: 4);
        var g = new PoolGeometry(x.Dims[2], x.Dims[3]);
        var y = Allocate(Backend.PoolOutputShape(x.Tensor!.Shape, g, "GlobalAveragePool"));
        backend.AvgPoolForward(x.Tensor, y, g);
        return Result(y);
    }

    // ---------------------------------------------------------------- normalization and activations

    /// <summary>LRN: LrnForward (the scale output is the engine's saved state, not compared).</summary>
    private OnnxValue Lrn(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "alpha", "beta", "bias", "size");
        RequireInputCount(node, inputs, 1, 1);
        var x = FloatInput(node, inputs, 0, "X", rank: 4);
        if (!node.HasAttribute("size")) throw new InvalidDataException($"{Where(node)}: size is required");
        var p = new LrnParameters(node.GetInt32("size", 0), node.GetFloat("alpha", 1e-4f), node.GetFloat("beta", 0.75f), node.GetFloat("bias", 1f));
        var y = Allocate(x.Tensor!.Shape);
        var scale = Allocate(x.Tensor.Shape);
        backend.LrnForward(x.Tensor, y, scale, p);
        return Result(y);
    }

    private OnnxValue Relu(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node);
        RequireInputCount(node, inputs, 1, 1);
        var x = FloatInput(node, inputs, 0, "X");
        var y = Allocate(x.Tensor!.Shape);
        backend.ReluForward(x.Tensor, y);
        return OnnxValue.Float(y, x.Dims);
    }

    /// <summary>
    /// Softmax. From opset 13 it normalizes along one axis (default -1): Backend.Softmax(axis).
    /// Before, the input is coerced to 2-D at axis (default 1) and normalized over everything from
    /// axis on: a (outer, inner) view normalized along its axis 1.
    /// </summary>
    private OnnxValue Softmax(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "axis");
        RequireInputCount(node, inputs, 1, 1);
        var x = FloatInput(node, inputs, 0, "input");
        int rank = x.Dims.Length;
        if (rank == 0) throw new NotSupportedException($"{Where(node)}: softmax of a scalar");
        int axis = node.GetInt32("axis", Opset >= 13 ? -1 : 1);
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new InvalidDataException($"{Where(node)}: axis {axis} is out of range for rank {rank}");
        var y = Allocate(x.Tensor!.Shape);
        if (Opset >= 13)
        {
            backend.Softmax(x.Tensor, y, a);
        }
        else
        {
            int outer = Product(x.Dims, 0, a), inner = Product(x.Dims, a, rank);
            backend.Softmax(x.Tensor.Reshape(outer, inner), y.Reshape(outer, inner), axis: 1);
        }
        return OnnxValue.Float(y, x.Dims);
    }

    /// <summary>Flatten: a Tensor.Reshape view (outer, inner) around axis; no data moves.</summary>
    private OnnxValue Flatten(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "axis");
        RequireInputCount(node, inputs, 1, 1);
        var x = FloatInput(node, inputs, 0, "input");
        int rank = x.Dims.Length;
        int axis = node.GetInt32("axis", 1);
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a > rank) throw new InvalidDataException($"{Where(node)}: axis {axis} is out of range for rank {rank}");
        int outer = Product(x.Dims, 0, a), inner = Product(x.Dims, a, rank);
        return OnnxValue.Float(x.Tensor!.Reshape(outer, inner), [outer, inner]);
    }

    /// <summary>
    /// Dropout at inference: the identity (a Copy, as the engine's dropout layer does at inference)
    /// and, when asked for, the mask of all-true. Training mode (training_mode true, or is_test 0
    /// before opset 7) would need ONNX's random draw, which the engine's hashed mask cannot
    /// reproduce, so it is rejected.
    /// </summary>
    private OnnxValue?[] Dropout(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "seed", "ratio", "is_test");
        RequireInputCount(node, inputs, 1, 3);
        var x = FloatInput(node, inputs, 0, "data");
        if (Opset < 7 && node.GetInt("is_test", 0) == 0)
            throw new NotSupportedException($"{Where(node)}: is_test 0 (training mode, opset {Opset}) draws a random mask the engine cannot reproduce");
        float ratio = node.GetFloat("ratio", 0.5f);
        if (inputs.Length > 1 && inputs[1] is not null)
        {
            var r = FloatInput(node, inputs, 1, "ratio");
            if (r.Tensor!.ElementCount != 1) throw new InvalidDataException($"{Where(node)}: ratio must be a scalar");
            ratio = backend.Download(r.Tensor)[0];
        }
        if (!(ratio >= 0f && ratio < 1f)) throw new InvalidDataException($"{Where(node)}: ratio {ratio} is outside [0, 1)");
        if (inputs.Length > 2 && inputs[2] is not null)
        {
            var mode = inputs[2]!;
            var flags = mode.Bools ?? throw new InvalidDataException($"{Where(node)}: training_mode must be a bool tensor, got {mode}");
            if (flags.Length != 1) throw new InvalidDataException($"{Where(node)}: training_mode must be a scalar");
            if (flags[0])
                throw new NotSupportedException($"{Where(node)}: training_mode true draws a random mask the engine cannot reproduce");
        }

        var y = Allocate(x.Tensor!.Shape);
        backend.Copy(x.Tensor, y);
        var results = new OnnxValue?[Math.Max(1, node.Output.Count)];
        results[0] = OnnxValue.Float(y, x.Dims);
        if (results.Length > 1 && node.Output[1].Length > 0)
            results[1] = OnnxValue.Boolean(Enumerable.Repeat(true, x.Tensor.ElementCount).ToArray(), x.Dims);
        return results;
    }

    // ---------------------------------------------------------------- pad, clip, split, arithmetic

    /// <summary>Pad of the two spatial axes: Pad2dForward. pads, mode and value are attributes before
    /// opset 11, inputs after.</summary>
    private OnnxValue Pad(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "mode", "pads", "value");
        RequireInputCount(node, inputs, 1, 3);
        var x = FloatInput(node, inputs, 0, "data", rank: 4);
        var pads = Opset < 11 ? node.GetInts("pads") ?? throw new InvalidDataException($"{Where(node)}: pads are missing")
            : IntegerInput(node, inputs, 1, "pads").Integers!;
        if (pads.Length != 8 || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0)
            throw new NotSupportedException($"{Where(node)}: pads [{string.Join(", ", pads)}]; the engine pads the two spatial axes of (N, C, H, W) only");
        string modeName = node.GetString("mode", "constant");
        var mode = modeName switch
        {
            "constant" => PadMode.Constant,
            "reflect" => PadMode.Reflect,
            "edge" => PadMode.Edge,
            _ => throw new NotSupportedException($"{Where(node)}: mode '{modeName}' is not supported"),
        };
        float value = Opset < 11 ? node.GetFloat("value", 0f) : ScalarInput(node, inputs, 2, "constant_value") ?? 0f;
        var g = new PadGeometry((int)pads[2], (int)pads[3], (int)pads[6], (int)pads[7], mode, value);
        var y = Allocate(g.OutputShape(x.Tensor!.Shape, Where(node)));
        backend.Pad2dForward(x.Tensor, y, g);
        return Result(y);
    }

    /// <summary>Clip: ClipForward; min and max are attributes before opset 11, optional inputs after.</summary>
    private OnnxValue Clip(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "min", "max");
        RequireInputCount(node, inputs, 1, 3);
        var x = FloatInput(node, inputs, 0, "input");
        var bounds = Opset < 11
            ? new ClipBounds(node.GetFloat("min", float.NegativeInfinity), node.GetFloat("max", float.PositiveInfinity))
            : new ClipBounds(ScalarInput(node, inputs, 1, "min") ?? float.NegativeInfinity, ScalarInput(node, inputs, 2, "max") ?? float.PositiveInfinity);
        var y = Allocate(x.Tensor!.Shape);
        backend.ClipForward(x.Tensor, y, bounds);
        return OnnxValue.Float(y, x.Dims);
    }

    /// <summary>
    /// Split along any axis as CopyChannels: the input viewed as (outer, axis, inner, 1) has the split
    /// axis as its channels. The sizes are the split attribute before opset 13, the optional input
    /// after, else equal parts.
    /// </summary>
    private OnnxValue?[] Split(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "axis", "split");
        RequireInputCount(node, inputs, 1, 2);
        var x = FloatInput(node, inputs, 0, "input");
        int rank = x.Dims.Length;
        long axisValue = node.GetInt("axis", 0);
        int axis = (int)(axisValue < 0 ? axisValue + rank : axisValue);
        if (axis < 0 || axis >= rank) throw new InvalidDataException($"{Where(node)}: axis {axisValue} is out of range for rank {rank}");
        int parts = node.Output.Count;
        var sizes = Opset < 13 ? node.GetInts("split")
            : inputs.Length > 1 && inputs[1] is not null ? IntegerInput(node, inputs, 1, "split").Integers : null;
        sizes ??= Enumerable.Repeat((long)(x.Dims[axis] / parts), parts).ToArray();
        if (sizes.Length != parts || sizes.Sum() != x.Dims[axis] || sizes.Any(v => v < 1))
            throw new NotSupportedException($"{Where(node)}: split [{string.Join(", ", sizes)}] of {x.Dims[axis]} into {parts} non-empty parts");
        var view = x.Tensor!.Reshape(Product(x.Dims, 0, axis), x.Dims[axis], Product(x.Dims, axis + 1, rank), 1);
        var results = new OnnxValue?[parts];
        int first = 0;
        for (int i = 0; i < parts; i++)
        {
            int size = (int)sizes[i];
            var y = Allocate(Shape.Nchw(view.Shape.N, size, view.Shape.H, 1));
            backend.CopyChannels(view, first, y, 0, size);
            var dims = (int[])x.Dims.Clone();
            dims[axis] = size;
            results[i] = OnnxValue.Float(y.Reshape(EngineShape(dims, node.Output[i])), dims);
            first += size;
        }
        return results;
    }

    /// <summary>
    /// Add, Sub, Mul and Div of A and a B that broadcasts onto it, as the importer's per-channel
    /// affine layer (<see cref="OnnxArithmetic.ChannelAffine"/>, a depthwise 1x1 conv): B's dims,
    /// aligned to A's last ones, must be A's own on one block of axes and 1 elsewhere, so that A
    /// viewed as (outer, block, inner, 1) takes B as one value per channel of the view.
    /// </summary>
    private OnnxValue Arithmetic(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node);
        RequireInputCount(node, inputs, 2, 2);
        var a = FloatInput(node, inputs, 0, "A");
        var b = FloatInput(node, inputs, 1, "B");
        int rank = a.Dims.Length, offset = rank - b.Dims.Length;
        var varying = Enumerable.Range(0, b.Dims.Length).Where(i => b.Dims[i] != 1).Select(i => i + offset).ToArray();
        if (offset < 0 || varying.Any(axis => b.Dims[axis - offset] != a.Dims[axis])
            || (varying.Length > 0 && varying[^1] - varying[0] + 1 != varying.Length))
            throw new NotSupportedException($"{Where(node)}: B [{string.Join(", ", b.Dims)}] does not broadcast onto A [{string.Join(", ", a.Dims)}] as one block of its axes");
        int first = varying.Length > 0 ? varying[0] : rank, end = varying.Length > 0 ? varying[^1] + 1 : rank;
        int channels = Product(a.Dims, first, end);
        var view = a.Tensor!.Reshape(Product(a.Dims, 0, first), channels, Product(a.Dims, end, rank), 1);
        var (scale, shift) = OnnxArithmetic.ChannelAffine(node.OpType, backend.Download(b.Tensor!), false, channels, Where(node));
        var w = Own(backend.Upload(scale, Shape.Nchw(channels, 1, 1, 1)));
        var bias = Own(backend.Upload(shift, new Shape(channels)));
        var y = Allocate(view.Shape);
        backend.Conv2dForward(view, w, bias, y, Conv2dGeometry.Square(1, groups: channels));
        return OnnxValue.Float(y.Reshape(a.Tensor.Shape), a.Dims);
    }

    /// <summary>An optional one-value float input, or null when absent.</summary>
    private float? ScalarInput(NodeProto node, OnnxValue?[] inputs, int index, string name)
    {
        var v = OptionalFloatInput(node, inputs, index, name);
        if (v is null) return null;
        if (v.Tensor!.ElementCount != 1) throw new InvalidDataException($"{Where(node)}: {name} holds {v.Tensor.ElementCount} values, expected one");
        return backend.Download(v.Tensor)[0];
    }

    // ---------------------------------------------------------------- gemm

    /// <summary>Gemm: Backend.Gemm with c broadcast; a Transpose feeding it flips transA/transB.</summary>
    private OnnxValue Gemm(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "alpha", "beta", "transA", "transB", "broadcast");
        RequireInputCount(node, inputs, 2, 3);
        var (a, transA) = GemmOperand(node, inputs, 0, "A", node.GetInt("transA", 0) != 0);
        var (b, transB) = GemmOperand(node, inputs, 1, "B", node.GetInt("transB", 0) != 0);
        var c = OptionalFloatInput(node, inputs, 2, "C");
        if (c is not null && c.Dims.Length > 2)
            throw new NotSupportedException($"{Where(node)}: C has rank {c.Dims.Length}; Gemm broadcasts C of rank 0 to 2");
        var y = Allocate(GemmShape(a, b, transA, transB));
        backend.Gemm(a, b, c?.Tensor, y, transA, transB, node.GetFloat("alpha", 1f), node.GetFloat("beta", 1f));
        return Result(y);
    }

    /// <summary>MatMul of two matrices: Gemm without c.</summary>
    private OnnxValue MatMul(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node);
        RequireInputCount(node, inputs, 2, 2);
        var (a, transA) = GemmOperand(node, inputs, 0, "A", false);
        var (b, transB) = GemmOperand(node, inputs, 1, "B", false);
        var y = Allocate(GemmShape(a, b, transA, transB));
        backend.Gemm(a, b, null, y, transA, transB);
        return Result(y);
    }

    /// <summary>Transpose of a matrix is deferred (see <see cref="OnnxValue.IsPendingTranspose"/>).</summary>
    private OnnxValue Transpose(NodeProto node, OnnxValue?[] inputs)
    {
        RequireAttributes(node, "perm");
        RequireInputCount(node, inputs, 1, 1);
        var x = FloatInput(node, inputs, 0, "data", rank: 2);
        var perm = node.GetInt32s("perm", [1, 0])!;
        if (perm.SequenceEqual([0, 1])) return x;
        if (!perm.SequenceEqual([1, 0]))
            throw new NotSupportedException($"{Where(node)}: perm [{string.Join(", ", perm)}] is not a matrix transpose");
        return OnnxValue.TransposeOf(x);
    }

    private (Tensor Tensor, bool Transposed) GemmOperand(NodeProto node, OnnxValue?[] inputs, int index, string name, bool transposed)
    {
        var v = inputs.Length > index ? inputs[index] : null;
        if (v is null) throw new InvalidDataException($"{Where(node)}: input {index} ({name}) is missing");
        if (v.Tensor is null) throw new NotSupportedException($"{Where(node)}: input {index} ({name}) is {v}, expected float");
        if (v.Dims.Length != 2) throw new NotSupportedException($"{Where(node)}: input {index} ({name}) has shape [{string.Join(", ", v.Dims)}]; only matrices are supported");
        return (v.Tensor, transposed ^ v.IsPendingTranspose);
    }

    private static Shape GemmShape(Tensor a, Tensor b, bool transA, bool transB) =>
        new(transA ? a.Shape[1] : a.Shape[0], transB ? b.Shape[0] : b.Shape[1]);

    // ---------------------------------------------------------------- attribute helpers

    /// <summary>Every attribute the node carries must be one the mapping honours.</summary>
    private void RequireAttributes(NodeProto node, params string[] known)
    {
        foreach (var name in node.AttributeNames())
            if (!known.Contains(name))
                throw new NotSupportedException($"{Where(node)}: attribute '{name}' is not supported by this mapping");
    }

    private int[] KernelShape(NodeProto node, int kernelH, int kernelW)
    {
        var kernel = node.GetInt32s("kernel_shape");
        if (kernel is null) return [kernelH, kernelW];
        RequireLength(node, "kernel_shape", kernel, 2);
        if (kernel[0] != kernelH || kernel[1] != kernelW)
            throw new InvalidDataException($"{Where(node)}: kernel_shape [{kernel[0]}, {kernel[1]}] differs from the weight's {kernelH}x{kernelW}");
        return kernel;
    }

    private int[] Pair(NodeProto node, string name, int defaultValue)
    {
        var values = node.GetInt32s(name, [defaultValue, defaultValue])!;
        RequireLength(node, name, values, 2);
        return values;
    }

    /// <summary>The pads attribute [top, left, bottom, right] (ONNX order: all begins, then all ends).</summary>
    private int[] Pads(NodeProto node)
    {
        var pads = node.GetInt32s("pads", [0, 0, 0, 0])!;
        RequireLength(node, "pads", pads, 4);
        return pads;
    }

    private int[] NoPads(NodeProto node, string autoPad)
    {
        if (node.HasAttribute("pads"))
            throw new InvalidDataException($"{Where(node)}: pads and auto_pad {autoPad} are both given");
        return [0, 0, 0, 0];
    }

    private void RequireLength(NodeProto node, string name, int[] values, int length)
    {
        if (values.Length != length)
            throw new NotSupportedException($"{Where(node)}: {name} [{string.Join(", ", values)}] has {values.Length} entries; the engine is 2-D only (expected {length})");
    }

    // ---------------------------------------------------------------- input helpers

    private void RequireInputCount(NodeProto node, OnnxValue?[] inputs, int min, int max)
    {
        if (inputs.Length < min || inputs.Length > max)
            throw new NotSupportedException($"{Where(node)}: {inputs.Length} inputs, expected {min} to {max}");
    }

    private OnnxValue FloatInput(NodeProto node, OnnxValue?[] inputs, int index, string name, int rank = -1)
    {
        var v = inputs.Length > index ? inputs[index] : null;
        if (v is null) throw new InvalidDataException($"{Where(node)}: input {index} ({name}) is missing");
        if (v.IsPendingTranspose)
            throw new NotSupportedException($"{Where(node)}: input {index} ({name}) is a Transpose result; the engine has no transpose op (only Gemm and MatMul can absorb one)");
        if (v.Tensor is null) throw new NotSupportedException($"{Where(node)}: input {index} ({name}) is {v}, expected float");
        if (rank >= 0 && v.Dims.Length != rank)
            throw new NotSupportedException($"{Where(node)}: input {index} ({name}) has shape [{string.Join(", ", v.Dims)}], expected rank {rank}{(rank == 4 ? " (the engine is 2-D only)" : "")}");
        return v;
    }

    private OnnxValue? OptionalFloatInput(NodeProto node, OnnxValue?[] inputs, int index, string name, int rank = -1) =>
        inputs.Length > index && inputs[index] is not null ? FloatInput(node, inputs, index, name, rank) : null;

    private OnnxValue IntegerInput(NodeProto node, OnnxValue?[] inputs, int index, string name)
    {
        var v = inputs.Length > index ? inputs[index] : null;
        if (v is null) throw new InvalidDataException($"{Where(node)}: input {index} ({name}) is missing");
        if (v.Integers is null) throw new NotSupportedException($"{Where(node)}: input {index} ({name}) is {v}, expected an integer tensor");
        return v;
    }

    // ---------------------------------------------------------------- values and tensors

    /// <summary>Float data goes to the backend; integer and boolean data stay on the host.</summary>
    private OnnxValue Bind(OnnxTensorData data) => data.DataType switch
    {
        OnnxDataType.Float => OnnxValue.Float(Own(backend.Upload(data.Floats, EngineShape(data.Dims, data.Name))), data.Dims),
        OnnxDataType.Int64 or OnnxDataType.Int32 => OnnxValue.Integer(data.ToInt64(), data.Dims),
        OnnxDataType.Bool => OnnxValue.Boolean(data.Bools, data.Dims),
        _ => throw new NotSupportedException($"{source}: tensor '{data.Name}' has element type {data.DataType}"),
    };

    /// <summary>The engine shape of ONNX dims: rank 1 to 4, a scalar as (1).</summary>
    private Shape EngineShape(int[] dims, string name)
    {
        if (dims.Length > Shape.MaxRank)
            throw new NotSupportedException($"{source}: tensor '{name}' has rank {dims.Length}; engine tensors have rank 1 to {Shape.MaxRank}");
        return dims.Length == 0 ? new Shape(1) : new Shape(dims);
    }

    private Tensor Allocate(Shape shape, DataType type = DataType.Float32) => Own(backend.Allocate(shape, type));

    private Tensor Own(Tensor t)
    {
        owned.Add(t);
        return t;
    }

    private static OnnxValue Result(Tensor t) => OnnxValue.Float(t, t.Shape.ToArray());

    private string Where(NodeProto node) => $"{source}: {OnnxAttributes.Describe(node)}";

    private static int Product(int[] dims, int from, int to)
    {
        int p = 1;
        for (int i = from; i < to; i++) p *= dims[i];
        return p;
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

    private static long DefaultOpset(ModelProto model, string source)
    {
        foreach (var import in model.OpsetImport)
            if (import.Domain is "" or "ai.onnx") return import.Version;
        throw new InvalidDataException($"{source}: the model imports no default ONNX operator set");
    }
}
