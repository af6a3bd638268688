using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>Max pooling that records its switches, so backward (and the deconvnet's unpooling) routes through them.</summary>
public sealed class MaxPoolLayer(string name, PoolGeometry geometry) : Layer(name)
{
    public PoolGeometry Geometry { get; } = geometry;

    public override string OpType => "MaxPool";

    public override Shape OutputShape(Shape input) => Checked(() => Backend.PoolOutputShape(input, Geometry, "MaxPool"));

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var shape = OutputShape(x.Shape);
        var y = x.Backend.Allocate(shape);
        var switches = x.Backend.Allocate(shape, DataType.Int32);
        x.Backend.MaxPoolForward(x, y, switches, Geometry);
        return new LayerOutput(y, switches);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        x.Backend.MaxPoolBackward(dy, forward.Saved!, dx, Geometry);
        return dx;
    }
}
