using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Onnx;

/// <summary>
/// ONNX Add, Sub, Mul and Div of a layer output x and a constant c that holds one value or one
/// value per channel, as the per-channel affine map y = x·scale + shift that the importer runs as
/// a depthwise 1x1 convolution: Add x + c, Sub x − c, Sub(c, x) = −x + c, Mul x·c, Div x·(1/c).
/// </summary>
internal static class OnnxArithmetic
{
    public static IReadOnlyList<string> Ops { get; } = ["Add", "Sub", "Mul", "Div"];

    /// <summary>
    /// Whether a constant of <paramref name="constantDims"/> broadcasts onto <paramref name="input"/>
    /// (N, C, ...) by ONNX's (numpy's) rules as one value per channel or one value in all: its dims,
    /// aligned to the input's last ones, are 1 everywhere but possibly at the channel axis, where
    /// they are C. So (C, 1, 1) and (1, C, 1, 1) are per channel of an (N, C, H, W) map, while (C)
    /// is per channel only of an (N, C) matrix (on a map it would run along the width).
    /// </summary>
    public static bool IsPerChannel(IReadOnlyList<int> constantDims, Shape input)
    {
        if (constantDims.Count > input.Rank || input.Rank < 2) return false;
        for (int i = 0; i < constantDims.Count; i++)
        {
            int axis = input.Rank - constantDims.Count + i;
            if (constantDims[i] != 1 && !(axis == 1 && constantDims[i] == input[1])) return false;
        }
        return true;
    }

    /// <summary>
    /// The per-channel scale and shift of one node. <paramref name="constant"/> holds one value or
    /// one per channel; <paramref name="constantFirst"/> says it is the node's first input. Div of a
    /// constant by x is not affine and is refused; so is a zero divisor.
    /// </summary>
    public static (float[] Scale, float[] Shift) ChannelAffine(string opType, float[] constant, bool constantFirst, int channels, string where)
    {
        if (constant.Length != 1 && constant.Length != channels)
            throw new NotSupportedException($"{where}: the constant holds {constant.Length} values; expected one, or one per channel ({channels})");
        var scale = new float[channels];
        var shift = new float[channels];
        for (int k = 0; k < channels; k++)
        {
            float c = constant[constant.Length == 1 ? 0 : k];
            (scale[k], shift[k]) = opType switch
            {
                "Add" => (1f, c),
                "Sub" => constantFirst ? (-1f, c) : (1f, -c),
                "Mul" => (c, 0f),
                "Div" when constantFirst => throw new NotSupportedException($"{where}: Div of a constant by a layer output is not supported (only x / constant)"),
                "Div" when c == 0f => throw new InvalidDataException($"{where}: divides by zero (the constant is 0 at channel {k})"),
                "Div" when !float.IsFinite(1f / c) => throw new InvalidDataException($"{where}: divides by {c} at channel {k}, whose reciprocal is not a finite float"),
                "Div" => (1f / c, 0f),
                _ => throw new NotSupportedException($"{where}: {opType} is not an arithmetic op ({string.Join(", ", Ops)})"),
            };
        }
        return (scale, shift);
    }
}
