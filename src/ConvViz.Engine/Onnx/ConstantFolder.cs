using ConvViz.Engine.Onnx.Protos;
using OnnxDataType = ConvViz.Engine.Onnx.Protos.TensorProto.Types.DataType;

namespace ConvViz.Engine.Onnx;

/// <summary>
/// Evaluates, at load time, the small side computations that feed a convnet's chain: Constant
/// nodes and the shape subgraphs exporters write in front of a Reshape (Shape, Gather, Unsqueeze,
/// Squeeze, Concat, Slice, Cast and integer arithmetic on those values). Values are host arrays
/// (<see cref="OnnxTensorData"/>); the batch dimension of a known tensor shape reads as 1.
/// </summary>
internal static class ConstantFolder
{
    public static readonly HashSet<string> FoldableOps =
        ["Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Identity", "Add", "Sub", "Mul", "Div"];

    /// <summary>The value of a Constant node's output.</summary>
    public static OnnxTensorData ConstantValue(NodeProto node)
    {
        string name = node.Output[0];
        if (node.GetTensor("value") is { } tensor) return OnnxTensors.Read(tensor, OnnxAttributes.Describe(node));
        if (node.Find("value_float") is not null) return new(name, [], OnnxDataType.Float, new[] { node.GetFloat("value_float", 0) });
        if (node.GetFloats("value_floats") is { } floats) return new(name, [floats.Length], OnnxDataType.Float, floats);
        if (node.Find("value_int") is not null) return new(name, [], OnnxDataType.Int64, new[] { node.GetInt("value_int", 0) });
        if (node.GetInts("value_ints") is { } ints) return new(name, [ints.Length], OnnxDataType.Int64, ints);
        throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: only tensor, float and int constants are supported");
    }

    /// <summary>Shape(x) for a tensor of known shape: its dims as INT64, honouring opset 15's start/end.</summary>
    public static OnnxTensorData ShapeOf(NodeProto node, int[] dims)
    {
        int rank = dims.Length;
        int start = Clamp(node.GetInt("start", 0), rank), end = Clamp(node.GetInt("end", rank), rank);
        var values = dims[start..Math.Max(start, end)].Select(d => (long)d).ToArray();
        return new(node.Output[0], [values.Length], OnnxDataType.Int64, values);
    }

    /// <summary>Evaluates a foldable node whose inputs are all known values.</summary>
    public static OnnxTensorData Evaluate(NodeProto node, IReadOnlyList<OnnxTensorData?> inputs, long opset)
    {
        string output = node.Output[0];
        OnnxTensorData Input(int i) => i < inputs.Count && inputs[i] is { } v ? v
            : throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: input {i} is missing");
        switch (node.OpType)
        {
            case "Identity":
                return Rename(Input(0), output);
            case "Cast":
            {
                var to = (OnnxDataType)node.GetInt("to", 0);
                var x = Input(0);
                // A float that is not a whole number in range has no integer value to cast to.
                long ToInteger(float v, long min, long max) => float.IsFinite(v) && v >= min && v <= max ? (long)v
                    : throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: cannot cast {v} to {to}");
                int ToInt32(long v) => v is >= int.MinValue and <= int.MaxValue ? (int)v
                    : throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: cannot cast {v} to {to}");
                return to switch
                {
                    OnnxDataType.Float => new(output, x.Dims, to, x.Data is float[] f ? f : Array.ConvertAll(x.ToInt64(), v => (float)v)),
                    OnnxDataType.Int64 => new(output, x.Dims, to, x.Data is float[] f ? Array.ConvertAll(f, v => ToInteger(v, long.MinValue, long.MaxValue)) : x.ToInt64()),
                    OnnxDataType.Int32 => new(output, x.Dims, to, x.Data is float[] f ? Array.ConvertAll(f, v => (int)ToInteger(v, int.MinValue, int.MaxValue)) : Array.ConvertAll(x.ToInt64(), ToInt32)),
                    _ => throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: Cast to {to} is not supported at load time"),
                };
            }
            case "Unsqueeze":
            case "Squeeze":
            {
                var x = Input(0);
                var axes = opset >= 13 ? (inputs.Count > 1 && inputs[1] is { } a ? a.ToInt64() : null) : node.GetInts("axes");
                var dims = x.Dims.ToList();
                if (node.OpType == "Unsqueeze")
                {
                    if (axes is null) throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: axes are required");
                    int outRank = dims.Count + axes.Length;
                    var resolved = Axes(node, axes, outRank);
                    foreach (int axis in resolved.Order()) dims.Insert(axis, 1);
                }
                else
                {
                    var drop = axes is null ? Enumerable.Range(0, dims.Count).Where(i => dims[i] == 1).ToHashSet() : Axes(node, axes, dims.Count);
                    if (drop.Any(i => dims[i] != 1))
                        throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: cannot squeeze axes [{string.Join(", ", axes!)}] of dims [{string.Join(", ", dims)}]: only axes of size 1 can be removed");
                    dims = dims.Where((_, i) => !drop.Contains(i)).ToList();
                }
                return new(output, dims.ToArray(), x.DataType, x.Data);
            }
            case "Gather":
            {
                var data = Input(0);
                var indices = Input(1).ToInt64();
                if (data.Rank != 1 || node.GetInt("axis", 0) != 0)
                    throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: only Gather on a 1-D value along axis 0 is supported at load time");
                var picked = indices.Select(i => i >= -data.ElementCount && i < data.ElementCount ? (int)(i < 0 ? i + data.ElementCount : i)
                    : throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: index {i} is outside the {data.ElementCount} values it gathers from")).ToArray();
                var values = Array.CreateInstance(data.Data.GetType().GetElementType()!, picked.Length);
                for (int i = 0; i < picked.Length; i++) values.SetValue(data.Data.GetValue(picked[i]), i);
                return new(output, Input(1).Dims, data.DataType, values);
            }
            case "Concat":
            {
                if (inputs.Any(v => v is null || v.Rank > 1))
                    throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: only Concat of 1-D values is supported at load time");
                if (node.GetInt("axis", 0) is not (0 or -1))
                    throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: axis {node.GetInt("axis", 0)} is outside 1-D values");
                if (inputs.All(v => v!.Data is float[]))
                {
                    var floats = inputs.SelectMany(v => v!.Floats).ToArray();
                    return new(output, [floats.Length], OnnxDataType.Float, floats);
                }
                var longs = inputs.SelectMany(v => v!.ToInt64()).ToArray();
                return new(output, [longs.Length], OnnxDataType.Int64, longs);
            }
            case "Slice":
            {
                var data = Input(0);
                if (data.Rank != 1) throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: only Slice of a 1-D value is supported at load time");
                long[] starts, ends, steps;
                if (opset >= 10)
                {
                    starts = Input(1).ToInt64();
                    ends = Input(2).ToInt64();
                    steps = inputs.Count > 4 && inputs[4] is { } s ? s.ToInt64() : [1];
                }
                else
                {
                    starts = node.GetInts("starts") ?? [0];
                    ends = node.GetInts("ends") ?? [long.MaxValue];
                    steps = [1];
                }
                if (starts.Length != 1 || ends.Length != 1)
                    throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: starts and ends hold {starts.Length} and {ends.Length} values, expected one each for a 1-D value");
                if (steps.Length != 1 || steps[0] != 1)
                    throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: only step 1 is supported at load time");
                int n = data.ElementCount;
                int begin = (int)Math.Clamp(starts[0] < 0 ? Math.Max(starts[0], -n) + n : starts[0], 0, n);
                int end = (int)Math.Clamp(ends[0] < 0 ? Math.Max(ends[0], -n) + n : ends[0], 0, n);
                var values = data.ToInt64()[begin..Math.Max(begin, end)];
                return new(output, [values.Length], OnnxDataType.Int64, values);
            }
            case "Add" or "Sub" or "Mul" or "Div":
            {
                var a = Input(0).ToInt64();
                var b = Input(1).ToInt64();
                if (a.Length != b.Length && a.Length != 1 && b.Length != 1)
                    throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: operands of {a.Length} and {b.Length} values do not broadcast");
                int count = Math.Max(a.Length, b.Length);
                var result = new long[count];
                for (int i = 0; i < count; i++)
                {
                    long x = a[a.Length == 1 ? 0 : i], y = b[b.Length == 1 ? 0 : i];
                    if (node.OpType == "Div" && y == 0)
                        throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: division by zero");
                    try
                    {
                        result[i] = node.OpType switch { "Add" => checked(x + y), "Sub" => checked(x - y), "Mul" => checked(x * y), _ => x == long.MinValue && y == -1 ? throw new OverflowException() : x / y };
                    }
                    catch (OverflowException)
                    {
                        throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: {x} {node.OpType} {y} overflows 64 bits");
                    }
                }
                var dims = Input(0).ElementCount >= Input(1).ElementCount ? Input(0).Dims : Input(1).Dims;
                return new(output, dims, OnnxDataType.Int64, result);
            }
            default:
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: {node.OpType} cannot be evaluated at load time");
        }
    }

    private static OnnxTensorData Rename(OnnxTensorData x, string name) => new(name, x.Dims, x.DataType, x.Data);

    private static int Clamp(long axis, int rank) => (int)Math.Clamp(axis < 0 ? axis + rank : axis, 0, rank);

    /// <summary>Axes for a result of <paramref name="rank"/> dimensions, negative ones counted from the end; each in range and distinct.</summary>
    private static HashSet<int> Axes(NodeProto node, long[] axes, int rank)
    {
        var resolved = new HashSet<int>();
        foreach (long axis in axes)
        {
            if (axis < -rank || axis >= rank)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: axis {axis} is outside a rank-{rank} value");
            if (!resolved.Add((int)(axis < 0 ? axis + rank : axis)))
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: axis {axis} is given twice");
        }
        return resolved;
    }
}
