using ConvViz.Engine.Imaging;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>The gradient arriving at one place on the way down: the output of layer <see cref="Layer"/>, or the
/// network input when <see cref="Layer"/> is <see cref="BackwardTrace.InputName"/>; batch item 0's values in (C, H, W) order,
/// <see cref="Shape"/> batch item 0's (1, C, H, W) or (1, C); <see cref="Norm"/> their L2 norm, <see cref="MaxAbs"/> their largest magnitude.</summary>
public sealed record LayerGradient(string Layer, Shape Shape, float[] Values, double Norm, double MaxAbs);

/// <summary>A few numbers of one gradient: Values around (Channel, Y, X), a Size x Size window clipped to the map, row major.
/// The window covers rows <see cref="Top"/> to Top + <see cref="Rows"/> - 1 and columns <see cref="Left"/> to Left +
/// <see cref="Columns"/> - 1 of the channel's (H, W) map (a vector's channel is a 1 x 1 map).</summary>
public sealed record GradientWindow(string Layer, int Channel, int Y, int X, int Size, float[] Values)
{
    public int Top { get; init; }
    public int Left { get; init; }
    public int Rows { get; init; }
    public int Columns { get; init; }
}

/// <summary>One step of the backward pass through layer <see cref="Layer"/>: what its backward does, in words with its
/// parameters, and the chosen unit's numbers before (at the layer's output) and after (at its input).</summary>
public sealed record BackwardStep(string Layer, string OpType, string Explanation, GradientWindow Before, GradientWindow After);

/// <summary>
/// Backprop, layer by layer, for teaching: the gradient of one target (seeded with 1.0) arriving at every layer on the
/// way down to the input under a ReLU rule, and the walk one layer at a time. Gradients are listed top down (the target's
/// layer first, the network input last), the same tensors the backward command dumps.
/// </summary>
public sealed record BackwardTrace(Target Target, ReluRule Rule, IReadOnlyList<LayerGradient> Gradients, IReadOnlyList<BackwardStep> Steps)
{
    /// <summary>The name the network input's gradient goes by (and its dump file's stem).</summary>
    public const string InputName = "input";

    /// <summary>The side of a step's windows.</summary>
    public const int WindowSize = 3;

    /// <summary>
    /// One forward pass of <paramref name="input"/> (1, C, H, W) up to the target's layer, then one backward pass seeded
    /// with 1.0 at the target (every position of its channel, or its one position) for batch item 0, recording the
    /// gradient arriving at each layer's output (as <see cref="Network.Backward"/>'s observer sees it) and at the input.
    /// </summary>
    public static BackwardTrace Run(Network network, Tensor input, Target target, ReluRule rule)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        using var pass = network.Forward(input, upTo: target.Layer);
        return Walk(network, pass, target, rule);
    }

    /// <summary>The backward walk of <see cref="Run"/> from a forward pass that reached the target's layer (or beyond).</summary>
    internal static BackwardTrace Walk(Network network, ForwardPass pass, Target target, ReluRule rule)
    {
        var backend = pass.Input.Backend;
        using var seed = network.UnitSeed(pass, target.Layer, target.Channel, target.Y, target.X, n: 0);
        var arriving = new LayerGradient?[network.Layers.Count];
        var walked = new List<int>();
        using var inputGradient = network.Backward(pass, target.Layer, seed, new BackwardOptions(rule), (i, dy) =>
        {
            arriving[i] = Gradient(network.Layers[i].Name, dy, backend);
            walked.Add(i);
        })!;
        var atInput = Gradient(InputName, inputGradient, backend);
        var steps = walked.Select(i => BackwardSteps.Step(network, i, arriving[i]!, network.InputsOf(i).Select(j => j == Network.Input ? atInput : arriving[j]!).ToArray(), rule));
        return new BackwardTrace(target, rule, [.. walked.Select(i => arriving[i]!), atInput], [.. steps]);
    }

    /// <summary>A trace grid's tiles aim at this many pixels, and the grid at most <see cref="MaxRenderPixels"/> a side:
    /// a trace shows a grid per layer at once.</summary>
    internal const int RenderTilePixels = 12, MaxRenderPixels = 400;

    /// <summary>A gradient as a signed grid, one tile per channel, 0 at mid gray, shared scale (its largest magnitude
    /// is black or white), gray.</summary>
    public static Image8 Render(LayerGradient gradient)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        var (channels, height, width) = BackwardSteps.Planes(gradient.Shape);
        float scale = (float)gradient.MaxAbs;
        var tiles = new byte[gradient.Values.Length];
        for (int i = 0; i < tiles.Length; i++)
            tiles[i] = (byte)Math.Clamp(MathF.Round(127.5f + (scale > 0 ? 127.5f * gradient.Values[i] / scale : 0f)), 0f, 255f);
        int columns = (int)Math.Ceiling(Math.Sqrt(channels));
        return Montage.Arrange(tiles, channels, height, width, channels: 1, Toolbox.ToolboxPanes.GridScale(channels, height, width, RenderTilePixels, MaxRenderPixels), gap: 1, columns);
    }

    /// <summary>Batch item 0 of a gradient tensor with its L2 norm and largest magnitude.</summary>
    private static LayerGradient Gradient(string layer, Tensor gradient, Backend backend)
    {
        var values = backend.Download(gradient);
        var shape = gradient.Shape;
        if (shape.N > 1)
        {
            values = values[..shape.SampleSize];
            shape = shape.WithBatch(1);
        }
        double sum = 0, max = 0;
        foreach (float v in values)
        {
            sum += (double)v * v;
            max = Math.Max(max, Math.Abs((double)v));
        }
        return new LayerGradient(layer, shape, values, Math.Sqrt(sum), max);
    }
}
