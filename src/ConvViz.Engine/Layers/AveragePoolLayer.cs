using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>
/// Average pooling. With global = true the window is the whole input plane (ONNX
/// GlobalAveragePool), so the geometry follows the input size.
/// </summary>
public sealed class AveragePoolLayer : Layer
{
    private readonly PoolGeometry? geometry;

    public AveragePoolLayer(string name, PoolGeometry geometry) : base(name) => this.geometry = geometry;

    private AveragePoolLayer(string name) : base(name) { }

    public static AveragePoolLayer Global(string name) => new(name);

    public bool IsGlobal => geometry is null;

    public override string OpType => IsGlobal ? "GlobalAveragePool" : "AveragePool";

    public PoolGeometry GeometryFor(Shape input) => geometry ?? new PoolGeometry(input.H, input.W);

    public override Shape OutputShape(Shape input) => Checked(() =>
    {
        if (input.Rank != 4) throw new ArgumentException($"input has shape {input}, expected (N, C, H, W)");
        return Backend.PoolOutputShape(input, GeometryFor(input), OpType);
    });

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(OutputShape(x.Shape));
        x.Backend.AvgPoolForward(x, y, GeometryFor(x.Shape));
        return new LayerOutput(y, null);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        x.Backend.AvgPoolBackward(dy, dx, GeometryFor(x.Shape));
        return dx;
    }
}
