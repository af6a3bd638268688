using System.Globalization;
using System.Numerics.Tensors;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>The steps of a <see cref="BackwardTrace"/>: what each layer's backward does, in words with the layer's own
/// parameters, and a window of the gradient before (at its output) and after (at its input).</summary>
internal static class BackwardSteps
{
    /// <summary>A gradient's (C, H, W) per batch item; a vector (N, C) is C maps of 1 x 1.</summary>
    public static (int Channels, int Height, int Width) Planes(Shape shape)
    {
        int channels = shape.Rank >= 2 ? shape[1] : 1, height = shape.Rank == 4 ? shape.H : 1;
        return (channels, height, shape.SampleSize / (channels * height));
    }

    /// <param name="network">The network the trace walked.</param>
    /// <param name="index">The layer of this step.</param>
    /// <param name="before">The gradient arriving at the layer's output.</param>
    /// <param name="after">The gradient arriving at each of the layer's inputs, in the order it reads them (summed
    /// over every layer that reads that input).</param>
    /// <param name="rule">The ReLU rule of the pass.</param>
    public static BackwardStep Step(Network network, int index, LayerGradient before, IReadOnlyList<LayerGradient> after, ReluRule rule)
    {
        var layer = network.Layers[index];
        var at = LargestMagnitude(before);
        var (input, mapped, how) = MapToInput(layer, before, after, at);
        var target = after[input];
        var place = mapped ?? LargestMagnitude(target);
        var (beforeWindow, afterWindow) = (Window(before, at), Window(target, place));
        string placement = mapped is null
            ? $"After: {Size(afterWindow)} around the largest |value| of the gradient at '{target.Layer}', {At(place)}, because {how}."
            : $"After: {Size(afterWindow)} at {At(place)} of '{target.Layer}', {how}.";
        int source = network.InputsOf(index)[input];
        int readers = Enumerable.Range(0, network.Layers.Count).Count(k => network.InputsOf(k).Contains(source));
        string summed = readers > 1 ? $" '{target.Layer}' is read by {readers} layers, so its gradient is the sum of what each sends back." : "";
        string explanation = $"{What(network, index, before, after, rule)} Before: {Size(beforeWindow)} around the largest |value| of the gradient at " +
                             $"'{before.Layer}', {At(at)}. {placement} {before.Shape} → {string.Join(" and ", after.Select(a => a.Shape))}; " +
                             $"L2 norm {Number(before.Norm)} → {string.Join(" and ", after.Select(a => Number(a.Norm)))}.{summed}";
        return new BackwardStep(layer.Name, layer.OpType, explanation, beforeWindow, afterWindow);
    }

    /// <summary>The window of <see cref="BackwardTrace.WindowSize"/> around (c, y, x), clipped to the channel's map.</summary>
    public static GradientWindow Window(LayerGradient gradient, (int C, int Y, int X) at)
    {
        var (_, height, width) = Planes(gradient.Shape);
        const int half = BackwardTrace.WindowSize / 2;
        int top = Math.Max(0, at.Y - half), left = Math.Max(0, at.X - half);
        int rows = Math.Min(height, at.Y + half + 1) - top, columns = Math.Min(width, at.X + half + 1) - left;
        var values = new float[rows * columns];
        for (int r = 0; r < rows; r++)
            gradient.Values.AsSpan(((at.C * height) + top + r) * width + left, columns).CopyTo(values.AsSpan(r * columns));
        return new GradientWindow(gradient.Layer, at.C, at.Y, at.X, BackwardTrace.WindowSize, values) { Top = top, Left = left, Rows = rows, Columns = columns };
    }

    /// <summary>Where the largest |value| of a gradient is, (channel, y, x).</summary>
    public static (int C, int Y, int X) LargestMagnitude(LayerGradient gradient)
    {
        var (_, height, width) = Planes(gradient.Shape);
        int best = Math.Max(0, TensorPrimitives.IndexOfMaxMagnitude<float>(gradient.Values));
        return (best / (height * width), best / width % height, best % width);
    }

    /// <summary>
    /// Which input's gradient the After window shows and where: the same place scaled to the input's map when the layer
    /// keeps maps (the same channel where channels correspond one to one, the input channel with the largest |value| at
    /// that place under a convolution), the same element of a reshape, or null (with why) where the geometry does not map.
    /// </summary>
    private static (int Input, (int C, int Y, int X)? At, string How) MapToInput(Layer layer, LayerGradient before, IReadOnlyList<LayerGradient> after, (int C, int Y, int X) at)
    {
        var (outChannels, outHeight, outWidth) = Planes(before.Shape);
        if (layer is ReshapeLayer)
        {
            var (_, height, width) = Planes(after[0].Shape);
            int flat = (at.C * outHeight + at.Y) * outWidth + at.X;
            return (0, (flat / (height * width), flat / width % height, flat % width), "the same element viewed in the input's shape");
        }
        int input = 0, channel = at.C;
        if (layer is ConcatLayer)
            while (channel >= Planes(after[input].Shape).Channels) channel -= Planes(after[input++].Shape).Channels;
        var gradient = after[input];
        var (inChannels, inHeight, inWidth) = Planes(gradient.Shape);
        if (layer is FullyConnectedLayer || before.Shape.Rank != gradient.Shape.Rank)
            return (input, null, layer is FullyConnectedLayer ? "every input of a fully connected layer feeds every output: no place corresponds"
                : $"the output {before.Shape} and the input {gradient.Shape} are not maps of one kind");
        int y = Math.Min(inHeight - 1, (int)((at.Y + 0.5) * inHeight / outHeight)), x = Math.Min(inWidth - 1, (int)((at.X + 0.5) * inWidth / outWidth));
        string scaled = outHeight == inHeight && outWidth == inWidth ? "the same place" : $"the same place scaled from {outHeight}x{outWidth} to {inHeight}x{inWidth}";
        switch (layer)
        {
            case ChannelSliceLayer slice:
                return (input, (slice.First + at.C, y, x), $"{scaled}, channel {at.C} of the slice being channel {slice.First + at.C} of its input");
            case ConcatLayer:
                return (input, (channel, y, x), $"{scaled}, channel {at.C} of the concat being channel {channel} of its input {input}");
            case Conv2dLayer:
            case var _ when inChannels != outChannels:
                int strongest = Enumerable.Range(0, inChannels).MaxBy(c => Math.Abs(gradient.Values[(c * inHeight + y) * inWidth + x]));
                return (input, (strongest, y, x), $"{scaled}, in the input channel where the gradient there is largest (a convolution mixes channels: no one channel corresponds)");
            default:
                return (input, (at.C, y, x), $"{scaled}, same channel");
        }
    }

    /// <summary>What the layer's backward does, with its parameters.</summary>
    private static string What(Network network, int index, LayerGradient before, IReadOnlyList<LayerGradient> after, ReluRule rule)
    {
        var layer = network.Layers[index];
        var (inChannels, inHeight, inWidth) = Planes(after[0].Shape);
        string passed = $"{Count(after[0].Values)} of {after[0].Values.Length} input values receive a gradient.";
        switch (layer)
        {
            case Conv2dLayer conv:
            {
                var g = conv.Geometry;
                var w = conv.Weight.Value.Shape;
                return $"Conv ({w[0]} filters of {w[1]}x{w[2]}x{w[3]}): backward correlates the gradient with the filters flipped 180°, " +
                       $"a transposed convolution with kernel {g.KernelH}x{g.KernelW}, stride {g.StrideH}x{g.StrideW}, {Pads(g.PadTop, g.PadLeft, g.PadBottom, g.PadRight)}" +
                       $"{(g.DilationH * g.DilationW > 1 ? $", dilation {g.DilationH}x{g.DilationW}" : "")}{(g.Groups > 1 ? $", {g.Groups} groups (each filter reaches only its group's {w[1]} input channels)" : "")}: " +
                       $"each input value receives the sum, over every output window that covered it, of dy times the weight that joined them.";
            }
            case MaxPoolLayer pool:
            {
                var g = pool.Geometry;
                string overlap = g.StrideH < g.KernelH || g.StrideW < g.KernelW ? " The windows overlap (stride below kernel), so one input can collect the gradients of several windows." : "";
                return $"MaxPool {g.KernelH}x{g.KernelW}, stride {g.StrideH}x{g.StrideW}, {Pads(g.PadTop, g.PadLeft, g.PadBottom, g.PadRight)}: routes each gradient to the input " +
                       $"position its window's maximum came from (the switch recorded in the forward pass); every other position gets 0.{overlap} {passed}";
            }
            case ReluLayer:
                return $"ReLU with the {Rule(rule)} rule: {rule switch
                {
                    ReluRule.Deconvnet => "passes the positive part of the gradient, max(dy, 0), wherever it is, whatever the forward input was (Zeiler & Fergus's deconvnet)",
                    ReluRule.Guided => "passes the gradient only where it is positive and the forward input was > 0: the gradient's mask and the deconvnet's together (guided backprop)",
                    _ => "passes the gradient where the forward input was > 0 and blocks it elsewhere (the true derivative: 1 or 0)",
                }}. {passed}";
            case ClipLayer clip:
                return $"Clip to [{Number(clip.Bounds.Min)}, {Number(clip.Bounds.Max)}] with the {Rule(rule)} rule: {rule switch
                {
                    ReluRule.Deconvnet => "passes max(dy, 0) where the forward input was below the upper bound",
                    ReluRule.Guided => "passes dy where it is positive and the forward input was strictly between the bounds",
                    _ => "passes dy where the forward input was strictly between the bounds (the derivative: 1 inside, 0 where clipped)",
                }}. {passed}";
            case LrnLayer lrn:
            {
                var s = lrn.Settings;
                return $"LRN (size {s.Size}, alpha {Number(s.Alpha)}, beta {Number(s.Beta)}, k {Number(s.Bias)}): multiplies the gradient by the normalization's Jacobian, " +
                       $"dx_c = dy_c·s_c^-{Number(s.Beta)} - (2·{Number(s.Alpha)}·{Number(s.Beta)}/{s.Size})·x_c·Σ_j dy_j·y_j/s_j over the {s.Size} channels j whose window holds c, " +
                       $"where s = {Number(s.Bias)} + ({Number(s.Alpha)}/{s.Size})·Σ x² over the window; nearly dy·s^-β when alpha is small.";
            }
            case FullyConnectedLayer fc:
                return $"Fully connected ({fc.Outputs}x{fc.Inputs} weights W): multiplies by the transposed weights, dx = Wᵀ·dy: each of the {fc.Inputs} inputs receives " +
                       $"the sum over the {fc.Outputs} outputs of dy times the weight joining them.";
            case AveragePoolLayer avg when avg.IsGlobal:
                return $"GlobalAveragePool: each of the {inHeight}x{inWidth} positions of a channel receives dy/{inHeight * inWidth}.";
            case AveragePoolLayer avg:
            {
                var g = avg.GeometryFor(after[0].Shape);
                return $"AveragePool {g.KernelH}x{g.KernelW}, stride {g.StrideH}x{g.StrideW}, {Pads(g.PadTop, g.PadLeft, g.PadBottom, g.PadRight)}: spreads each gradient evenly " +
                       $"over its window, dy/{g.KernelH * g.KernelW} to each of the {g.KernelH * g.KernelW} inputs it averaged{(g.CountIncludePad ? "" : " (fewer, each a larger share, where the window overlaps the padding)")}.";
            }
            case ConcatLayer:
            {
                var names = network.InputsOf(index).Select(Name).ToArray();
                int first = 0;
                var parts = after.Select((a, k) =>
                {
                    int channels = Planes(a.Shape).Channels;
                    string part = $"channels {first}..{first + channels - 1} to '{names[k]}'";
                    first += channels;
                    return part;
                });
                return $"Concat of {after.Count} inputs along the channels: splits the gradient back, {string.Join(", ", parts)}.";
            }
            case AddLayer:
                return $"Add of {after.Count} inputs: the derivative of a sum is 1 for each term, so each input ({string.Join(", ", network.InputsOf(index).Select(j => $"'{Name(j)}'"))}) receives dy unchanged.";
            case ChannelSliceLayer slice:
                return $"Slice of channels {slice.First}..{slice.First + slice.Count - 1}: places the gradient into those channels of its input; the other {inChannels - slice.Count} channels get 0.";
            case SoftmaxLayer softmax:
                return $"Softmax over axis {softmax.Axis}: multiplies by its Jacobian, dx_i = y_i·(dy_i - Σ_j dy_j·y_j); the gradient of one class spreads to every logit.";
            case DropoutLayer dropout:
                return $"Dropout (ratio {Number(dropout.Ratio)}) is the identity at inference: the gradient passes unchanged.";
            case ReshapeLayer:
                return $"{layer.OpType}: a view of the same values in another shape, so the gradient is viewed back in the input's shape, values unchanged.";
            case PadLayer pad:
            {
                var g = pad.Geometry;
                string modes = g.Mode == PadMode.Constant ? "the border's gradient is dropped (a constant has none)" : $"each border value's gradient is added onto the input value its {g.Mode.ToString().ToLowerInvariant()} mode copied";
                return $"Pad {Pads(g.Top, g.Left, g.Bottom, g.Right)}: the inner window's gradient goes back to the input; {modes}{(Math.Min(Math.Min(g.Top, g.Left), Math.Min(g.Bottom, g.Right)) < 0 ? "; cropped inputs get 0" : "")}.";
            }
            default:
                return $"{layer.OpType}: its backward maps the gradient at its output to its input.";
        }

        string Name(int j) => j == Network.Input ? BackwardTrace.InputName : network.Layers[j].Name;
    }

    private static string Size(GradientWindow window) => $"the {window.Rows}x{window.Columns} window";

    private static string At((int C, int Y, int X) at) => $"(channel {at.C}, y {at.Y}, x {at.X})";

    private static string Rule(ReluRule rule) => rule.ToString().ToLowerInvariant();

    private static string Pads(int top, int left, int bottom, int right) =>
        top == left && left == bottom && bottom == right ? $"padding {top}" : $"padding top {top} left {left} bottom {bottom} right {right}";

    private static string Number(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    private static int Count(float[] values) => values.Length - values.AsSpan().Count(0f);
}
