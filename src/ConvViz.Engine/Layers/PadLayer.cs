using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>
/// ONNX Pad of the two spatial axes: x (N, C, H, W) to (N, C, H + top + bottom, W + left + right),
/// constant, reflect or edge (negative pads crop). Backward sums dy into the inputs each output
/// read; it has no rectifier in it, so it is the same under every ReLU rule.
/// </summary>
public sealed class PadLayer(string name, PadGeometry geometry) : Layer(name)
{
    public PadGeometry Geometry { get; } = geometry;

    public override string OpType => "Pad";

    public override Shape OutputShape(Shape input) => Checked(() => Geometry.OutputShape(input, "Pad"));

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(OutputShape(x.Shape));
        x.Backend.Pad2dForward(x, y, Geometry);
        return new LayerOutput(y, null);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        x.Backend.Pad2dBackward(dy, dx, Geometry);
        return dx;
    }
}
