using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>Inputs of one batch size and plane placed side by side along the channels (an Inception
/// or Fire block's output): (N, C0 + C1 + ..., H, W); each dx is its channels of dy.</summary>
public sealed class ConcatLayer(string name) : JoinLayer(name)
{
    public override string OpType => "Concat";

    public override Shape OutputShape(IReadOnlyList<Shape> inputs)
    {
        var first = inputs[0];
        if (inputs.Count < 2 || inputs.Any(s => s.Rank != first.Rank || s.Rank is not (2 or 4) || s.N != first.N
                                                 || s.Rank == 4 && (s.H != first.H || s.W != first.W)))
            throw new ArgumentException($"layer '{Name}' (Concat): inputs of shapes {string.Join(", ", inputs)} do not share a batch size and plane, so their channels cannot be joined");
        var dims = first.ToArray();
        dims[1] = inputs.Sum(s => s[1]);
        return new Shape(dims);
    }

    public override LayerOutput Forward(IReadOnlyList<Tensor> xs, bool training)
    {
        var backend = xs[0].Backend;
        var y = backend.Allocate(OutputShape(xs.Select(x => x.Shape).ToArray()));
        int channel = 0;
        foreach (var x in xs)
        {
            backend.CopyChannels(x, 0, y, channel, x.Shape[1]);
            channel += x.Shape[1];
        }
        return new LayerOutput(y, null);
    }

    public override Tensor[] Backward(IReadOnlyList<Tensor> xs, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        var dxs = new Tensor[xs.Count];
        int channel = 0;
        for (int i = 0; i < xs.Count; i++)
        {
            dxs[i] = dy.Backend.Allocate(xs[i].Shape);
            dy.Backend.CopyChannels(dy, channel, dxs[i], 0, xs[i].Shape[1]);
            channel += xs[i].Shape[1];
        }
        return dxs;
    }
}
