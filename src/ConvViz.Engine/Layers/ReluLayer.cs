using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>y = max(x, 0); backward follows the rule the caller chose (gradient, deconvnet, guided).</summary>
public sealed class ReluLayer(string name) : Layer(name)
{
    public override string OpType => "Relu";

    public override Shape OutputShape(Shape input) => input;

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(x.Shape);
        x.Backend.ReluForward(x, y);
        return new LayerOutput(y, null);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        x.Backend.ReluBackward(x, dy, dx, options.Rule);
        return dx;
    }
}
