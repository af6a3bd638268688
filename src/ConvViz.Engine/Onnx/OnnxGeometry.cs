using ConvViz.Engine.Backends;
using ConvViz.Engine.Onnx.Protos;

namespace ConvViz.Engine.Onnx;

/// <summary>
/// Window geometry of ONNX Conv, MaxPool and AveragePool nodes from their attributes
/// (kernel_shape, strides, pads, dilations, auto_pad, group, ceil_mode), 2-D only.
/// </summary>
internal static class OnnxGeometry
{
    /// <summary>Conv geometry; the kernel comes from kernel_shape or, when absent, the weight's (R, S).</summary>
    public static Conv2dGeometry Conv(NodeProto node, int inputH, int inputW, int weightR, int weightS)
    {
        var kernel = node.GetInt32s("kernel_shape") ?? [weightR, weightS];
        RequireLength(node, "kernel_shape", kernel, 2);
        if (kernel[0] != weightR || kernel[1] != weightS)
            throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: kernel_shape [{kernel[0]}, {kernel[1]}] differs from the weight's {weightR}x{weightS}");
        var strides = Pair(node, "strides");
        var dilations = Pair(node, "dilations");
        var (top, left, bottom, right) = Pads(node, [inputH, inputW], kernel, strides, dilations);
        return new Conv2dGeometry(kernel[0], kernel[1], strides[0], strides[1], top, left, bottom, right,
            dilations[0], dilations[1], node.GetInt32("group", 1));
    }

    /// <summary>MaxPool / AveragePool geometry (count_include_pad read for AveragePool).</summary>
    public static PoolGeometry Pool(NodeProto node, int inputH, int inputW)
    {
        var kernel = node.GetInt32s("kernel_shape")
            ?? throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: kernel_shape is required");
        RequireLength(node, "kernel_shape", kernel, 2);
        var strides = Pair(node, "strides");
        var dilations = Pair(node, "dilations");
        var (top, left, bottom, right) = Pads(node, [inputH, inputW], kernel, strides, dilations);
        long ceil = node.GetInt("ceil_mode", 0);
        if (ceil is not (0 or 1)) throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: ceil_mode {ceil} is not 0 or 1");
        bool countIncludePad = node.OpType == "AveragePool" && node.GetInt("count_include_pad", 0) != 0;
        return new PoolGeometry(kernel[0], kernel[1], strides[0], strides[1], top, left, bottom, right,
            dilations[0], dilations[1], ceil == 1, countIncludePad);
    }

    /// <summary>
    /// Explicit pads (top, left, bottom, right) with auto_pad resolved per the ONNX spec: SAME_*
    /// makes the output ceil(input / stride) and splits the total padding, the odd one at the end
    /// (SAME_UPPER) or at the beginning (SAME_LOWER); VALID pads nothing. The pads attribute lists
    /// all begins, then all ends.
    /// </summary>
    public static (int Top, int Left, int Bottom, int Right) Pads(NodeProto node, int[] input, int[] kernel, int[] strides, int[] dilations)
    {
        string autoPad = node.GetString("auto_pad", "NOTSET");
        switch (autoPad)
        {
            case "NOTSET":
                var pads = node.GetInt32s("pads", [0, 0, 0, 0])!;
                RequireLength(node, "pads", pads, 4);
                return (pads[0], pads[1], pads[2], pads[3]);
            case "VALID":
                NoPads(node, autoPad);
                return (0, 0, 0, 0);
            case "SAME_UPPER":
            case "SAME_LOWER":
                NoPads(node, autoPad);
                RequireExtents(node, kernel, strides, dilations);
                var begin = new int[2];
                var end = new int[2];
                for (int i = 0; i < 2; i++)
                {
                    long output = ((long)input[i] + strides[i] - 1) / strides[i];
                    long window = (long)(kernel[i] - 1) * dilations[i] + 1;
                    long total = Math.Max(0, (output - 1) * strides[i] + window - input[i]);
                    if (total > 2L * SlidingWindow.MaxExtent)
                        throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: auto_pad {autoPad} would pad {total} on one axis; pads must each be at most {SlidingWindow.MaxExtent}");
                    (begin[i], end[i]) = autoPad == "SAME_UPPER" ? ((int)(total / 2), (int)(total - total / 2)) : ((int)(total - total / 2), (int)(total / 2));
                }
                return (begin[0], begin[1], end[0], end[1]);
            default:
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: auto_pad '{autoPad}' is not supported");
        }
    }

    /// <summary>A two-element attribute (strides, dilations), 1 in both directions when absent.</summary>
    public static int[] Pair(NodeProto node, string name)
    {
        var values = node.GetInt32s(name, [1, 1])!;
        RequireLength(node, name, values, 2);
        return values;
    }

    /// <summary>SAME padding divides by the strides: check the window before any arithmetic on it.</summary>
    private static void RequireExtents(NodeProto node, int[] kernel, int[] strides, int[] dilations)
    {
        for (int i = 0; i < 2; i++)
            if (kernel[i] is < 1 or > SlidingWindow.MaxExtent || strides[i] is < 1 or > SlidingWindow.MaxExtent || dilations[i] is < 1 or > SlidingWindow.MaxExtent)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: kernel_shape [{string.Join(", ", kernel)}], strides [{string.Join(", ", strides)}] " +
                                               $"and dilations [{string.Join(", ", dilations)}] must each be 1 to {SlidingWindow.MaxExtent}");
    }

    private static void NoPads(NodeProto node, string autoPad)
    {
        if (node.HasAttribute("pads"))
            throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: pads and auto_pad {autoPad} are both given");
    }

    private static void RequireLength(NodeProto node, string name, int[] values, int length)
    {
        if (values.Length != length)
            throw new NotSupportedException(
                $"{OnnxAttributes.Describe(node)}: {name} has {values.Length} values, expected {length} (only 2-D windows are supported)");
    }
}
