using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>Softmax over the class axis (axis 1): the "prob" layer of Caffe models.</summary>
public sealed class SoftmaxLayer(string name, int axis = 1) : Layer(name)
{
    public int Axis { get; } = axis;

    public override string OpType => "Softmax";

    public override Shape OutputShape(Shape input) => input;

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(x.Shape);
        x.Backend.Softmax(x, y, Axis);
        return new LayerOutput(y, null);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        x.Backend.SoftmaxBackward(forward.Y, dy, dx, Axis);
        return dx;
    }
}
