using ConvViz.Engine.Imaging;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>The gradient arriving at one place on the way down: the output of layer <see cref="Layer"/>, or the
/// network input when <see cref="Layer"/> is <see cref="BackwardTrace.InputName"/>; batch item 0's values in (C, H, W) order.</summary>
public sealed record LayerGradient(string Layer, Shape Shape, float[] Values, double Norm, double MaxAbs);

/// <summary>A few numbers of one gradient: Values around (Channel, Y, X), a Size x Size window clipped to the map, row major.</summary>
public sealed record GradientWindow(string Layer, int Channel, int Y, int X, int Size, float[] Values);

/// <summary>One step of the backward pass through layer <see cref="Layer"/>: what its backward does, in words with its
/// parameters, and the chosen unit's numbers before (at the layer's output) and after (at its input).</summary>
public sealed record BackwardStep(string Layer, string OpType, string Explanation, GradientWindow Before, GradientWindow After);

/// <summary>
/// Backprop, layer by layer, for teaching: the gradient of one target (seeded with 1.0) arriving at every layer on the
/// way down to the input under a ReLU rule, and the walk one layer at a time. Gradients are listed top down (the target's
/// layer first, the network input last), the same tensors `convviz backward --dump` writes.
/// </summary>
public sealed record BackwardTrace(Target Target, ReluRule Rule, IReadOnlyList<LayerGradient> Gradients, IReadOnlyList<BackwardStep> Steps)
{
    /// <summary>The name the network input's gradient goes by (and its dump file's stem).</summary>
    public const string InputName = "input";

    public static BackwardTrace Run(Network network, Tensor input, Target target, ReluRule rule) => throw new NotImplementedException();

    /// <summary>A gradient as a signed grid, one tile per channel, 0 at mid gray, shared scale.</summary>
    public static Image8 Render(LayerGradient gradient) => throw new NotImplementedException();
}
