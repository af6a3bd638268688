using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>
/// A view of the same data under another per-sample shape, without a copy: ONNX Flatten (axis 1,
/// sample shape (C·H·W)) and Reshape with a batch-preserving target.
/// </summary>
public sealed class ReshapeLayer : Layer
{
    private readonly int[]? sampleShape;

    /// <param name="sampleShape">Dimensions after the batch; null flattens to (N, features).</param>
    public ReshapeLayer(string name, int[]? sampleShape = null) : base(name)
    {
        if (sampleShape is { Length: 0 or > 3 })
            throw new ArgumentException($"layer '{name}' (Reshape): a sample shape has 1 to 3 dimensions, got {sampleShape.Length}");
        this.sampleShape = sampleShape?.ToArray();
    }

    public static ReshapeLayer Flatten(string name) => new(name);

    public override string OpType => sampleShape is null ? "Flatten" : "Reshape";

    public override Shape OutputShape(Shape input)
    {
        var target = new Shape([input.N, .. sampleShape ?? [input.SampleSize]]);
        if (target.ElementCount != input.ElementCount)
            throw new ArgumentException($"layer '{Name}' ({OpType}): cannot view input {input} as {target}");
        return target;
    }

    public override LayerOutput Forward(Tensor x, bool training) => new(x.Reshape(OutputShape(x.Shape)), null);

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options) =>
        options.InputGradient ? dy.Reshape(x.Shape) : null;
}
