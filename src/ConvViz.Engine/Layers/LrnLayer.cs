using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>Local response normalization across channels (AlexNet's norm1/norm2). Keeps the scale for backward.</summary>
public sealed class LrnLayer(string name, LrnParameters parameters) : Layer(name)
{
    public LrnParameters Settings { get; } = parameters;

    public override string OpType => "LRN";

    public override Shape OutputShape(Shape input)
    {
        if (input.Rank != 4) throw new ArgumentException($"layer '{Name}' (LRN): input has shape {input}, expected (N, C, H, W)");
        return input;
    }

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(OutputShape(x.Shape));
        var scale = x.Backend.Allocate(x.Shape);
        x.Backend.LrnForward(x, y, scale, Settings);
        return new LayerOutput(y, scale);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        x.Backend.LrnBackward(x, forward.Y, forward.Saved!, dy, dx, Settings);
        return dx;
    }
}
