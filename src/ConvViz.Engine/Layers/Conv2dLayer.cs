using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>2-D convolution with optional bias. weight (K, C/groups, R, S), bias (K).</summary>
public sealed class Conv2dLayer : Layer
{
    public Conv2dLayer(string name, Tensor weight, Tensor? bias, Conv2dGeometry geometry) : base(name)
    {
        Geometry = geometry;
        Weight = new Parameter(name + ".weight", weight);
        Bias = bias is null ? null : new Parameter(name + ".bias", bias);
    }

    public Conv2dGeometry Geometry { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }
    public int OutputChannels => Weight.Value.Shape[0];

    public override string OpType => "Conv";
    public override IReadOnlyList<Parameter> Parameters => Bias is null ? [Weight] : [Weight, Bias];

    public override Shape OutputShape(Shape input) => Checked(() => Backend.ConvOutputShape(input, Weight.Value.Shape, Geometry));

    public override long MultiplyAccumulates(Shape input)
    {
        var w = Weight.Value.Shape;
        return (long)OutputShape(input).ElementCount * w[1] * w[2] * w[3];
    }

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(OutputShape(x.Shape));
        x.Backend.Conv2dForward(x, Weight.Value, Bias?.Value, y, Geometry);
        return new LayerOutput(y, null);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        var backend = x.Backend;
        if (options.ParameterGradients)
            backend.Conv2dBackwardFilter(x, dy, Weight.EnsureGradient(), Bias?.EnsureGradient(), Geometry);
        if (!options.InputGradient) return null;
        var dx = backend.Allocate(x.Shape);
        backend.Conv2dBackwardData(dy, Weight.Value, dx, Geometry);
        return dx;
    }
}
