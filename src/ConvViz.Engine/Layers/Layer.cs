using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>What a layer's forward produced: its output and, where backward needs it, one saved
/// tensor (pooling switches, the LRN scale, the dropout mask).</summary>
public readonly record struct LayerOutput(Tensor Y, Tensor? Saved);

/// <summary>How a backward pass runs: the ReLU rule, whether parameter gradients are written, and
/// whether the gradient with respect to the layer's input is needed at all.</summary>
public sealed record BackwardOptions(ReluRule Rule = ReluRule.Gradient, bool ParameterGradients = false, bool InputGradient = true);

/// <summary>
/// One named step of a sequential network. A layer owns only its parameters; it computes on the
/// backend its input lives on, through the backend's ops.
/// </summary>
public abstract class Layer : IDisposable
{
    protected Layer(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a layer needs a non-empty name");
        Name = name;
    }

    public string Name { get; }

    /// <summary>The ONNX operator this layer corresponds to ("Conv", "Relu", "LRN", ...).</summary>
    public abstract string OpType { get; }

    /// <summary>The output shape for an input shape; throws, naming the layer, when the input does not fit.</summary>
    public abstract Shape OutputShape(Shape input);

    public virtual IReadOnlyList<Parameter> Parameters => [];

    /// <summary>Multiply-accumulates of one forward pass for this input shape.</summary>
    public virtual long MultiplyAccumulates(Shape input) => 0;

    public abstract LayerOutput Forward(Tensor x, bool training);

    /// <summary>
    /// Given the forward input x, what the forward produced and dy (shape of the output), returns dx
    /// (shape of x), or null when options.InputGradient is false. Writes parameter gradients when asked.
    /// </summary>
    public abstract Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options);

    /// <summary>Wraps shape errors so they name this layer.</summary>
    protected Shape Checked(Func<Shape> computeShape)
    {
        try { return computeShape(); }
        catch (ArgumentException e) { throw new ArgumentException($"layer '{Name}' ({OpType}): {e.Message}", e); }
    }

    public override string ToString() => $"{Name} ({OpType})";

    /// <summary>Frees the parameters (and any cached tensors of the layer).</summary>
    public virtual void Dispose()
    {
        foreach (var p in Parameters) p.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>A learnable tensor of a layer, with its gradient allocated on first need.</summary>
public sealed class Parameter : IDisposable
{
    public Parameter(string name, Tensor value)
    {
        Name = name;
        Value = value;
    }

    public string Name { get; }
    public Tensor Value { get; }
    public Tensor? Gradient { get; private set; }

    public Tensor EnsureGradient() => Gradient ??= Value.Backend.Allocate(Value.Shape);

    public void Dispose()
    {
        Value.Dispose();
        Gradient?.Dispose();
    }
}
