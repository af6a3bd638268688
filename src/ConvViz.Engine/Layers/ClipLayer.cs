using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>
/// ONNX Clip, y = min(max(x, min), max): ReLU6 (Clip(0, 6)) in MobileNet-v2. A rectifier, so its
/// backward follows the caller's rule like ReLU's, with the bounds as gates:
/// <list type="bullet">
/// <item>gradient: dx = dy · [min &lt; x &lt; max] (PyTorch's hardtanh backward, strict at both bounds)</item>
/// <item>deconvnet: dx = max(dy, 0) · [x &lt; max] (ReLU's deconvnet rule, which ignores the sign of x,
///   plus the upper cut kept as a gate)</item>
/// <item>guided: dx = max(dy, 0) · [min &lt; x &lt; max]</item>
/// </list>
/// </summary>
public sealed class ClipLayer(string name, ClipBounds bounds) : Layer(name)
{
    public ClipBounds Bounds { get; } = bounds;

    public override string OpType => "Clip";

    public override Shape OutputShape(Shape input) => input;

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(x.Shape);
        x.Backend.ClipForward(x, y, Bounds);
        return new LayerOutput(y, null);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        x.Backend.ClipBackward(x, dy, dx, Bounds, options.Rule);
        return dx;
    }
}
