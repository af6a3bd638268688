using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>
/// Channels [First, First + Count) of an (N, C, H, W) or (N, C) input: ONNX Slice along the
/// channel axis, and each output of a channel Split (one layer per output). Backward writes dy
/// into those channels of a zero dx; the network sums the gradients of the slices of one tensor.
/// </summary>
public sealed class ChannelSliceLayer : Layer
{
    public ChannelSliceLayer(string name, int first, int count) : base(name)
    {
        if (first < 0 || count < 1)
            throw new ArgumentException($"layer '{name}' (Slice): channels [{first}, {(long)first + count}) must start at 0 or later and hold at least one channel");
        First = first;
        Count = count;
    }

    public int First { get; }
    public int Count { get; }

    public override string OpType => "Slice";

    public override Shape OutputShape(Shape input)
    {
        if (input.Rank is not (2 or 4) || First + (long)Count > input[1])
            throw new ArgumentException($"layer '{Name}' (Slice): channels [{First}, {First + (long)Count}) do not lie in input {input}, which needs rank 2 or 4 and channels [0, {(input.Rank >= 2 ? input[1] : 0)})");
        var dims = input.ToArray();
        dims[1] = Count;
        return new Shape(dims);
    }

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(OutputShape(x.Shape));
        x.Backend.CopyChannels(x, First, y, 0, Count);
        return new LayerOutput(y, null);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        x.Backend.CopyChannels(dy, 0, dx, First, Count);
        return dx;
    }
}
