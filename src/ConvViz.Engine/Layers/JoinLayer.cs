using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>
/// A layer with several inputs (the Add of a residual connection, the Concat of an Inception
/// block). The network hands it every input's output; its backward returns one gradient per input,
/// and the network sums the gradients of a tensor that feeds several layers.
/// </summary>
public abstract class JoinLayer(string name) : Layer(name)
{
    /// <summary>The output shape for these input shapes; throws, naming the layer, when they do not fit together.</summary>
    public abstract Shape OutputShape(IReadOnlyList<Shape> inputs);

    public abstract LayerOutput Forward(IReadOnlyList<Tensor> xs, bool training);

    /// <summary>d objective / d each input, given dy (shape of the output); each tensor is owned by the caller.</summary>
    public abstract Tensor[] Backward(IReadOnlyList<Tensor> xs, LayerOutput forward, Tensor dy, BackwardOptions options);

    public override Shape OutputShape(Shape input) => throw SingleInput();
    public override LayerOutput Forward(Tensor x, bool training) => throw SingleInput();
    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options) => throw SingleInput();

    private InvalidOperationException SingleInput() => new($"layer '{Name}' ({OpType}) joins several inputs; the network runs it with all of them");
}

/// <summary>Element-wise sum of inputs of one shape (a residual connection): y = x0 + x1 + ...; each dx = dy.</summary>
public sealed class AddLayer(string name) : JoinLayer(name)
{
    public override string OpType => "Add";

    public override Shape OutputShape(IReadOnlyList<Shape> inputs)
    {
        if (inputs.Count < 2 || inputs.Any(s => s != inputs[0]))
            throw new ArgumentException($"layer '{Name}' (Add): inputs of shapes {string.Join(", ", inputs)} do not have one shape");
        return inputs[0];
    }

    public override LayerOutput Forward(IReadOnlyList<Tensor> xs, bool training)
    {
        var backend = xs[0].Backend;
        var y = backend.Allocate(OutputShape(xs.Select(x => x.Shape).ToArray()));
        backend.Copy(xs[0], y);
        for (int i = 1; i < xs.Count; i++) backend.Axpy(1f, xs[i], y);
        return new LayerOutput(y, null);
    }

    public override Tensor[] Backward(IReadOnlyList<Tensor> xs, LayerOutput forward, Tensor dy, BackwardOptions options) =>
        xs.Select(_ =>
        {
            var dx = dy.Backend.Allocate(dy.Shape);
            dy.Backend.Copy(dy, dx);
            return dx;
        }).ToArray();
}
