using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// A rectangle of the input, rows Top..Top+Height-1 and columns Left..Left+Width-1. A unit depends
/// only on the pixels of its receptive field, so its value and its input gradient can be computed
/// on the window that holds the field (the gradient is zero outside it): for AlexNet's central conv5
/// unit that is 163x163 of the 227x227 input, half the pixels and about half the work.
/// </summary>
public sealed record InputWindow(int Top, int Left, int Height, int Width)
{
    public static InputWindow Whole(int height, int width) => new(0, 0, height, width);

    /// <summary>
    /// The window of unit (<paramref name="y"/>, <paramref name="x"/>) of <paramref name="layer"/>: its
    /// field clipped to the image, with the start rounded down to the layer's stride so that the
    /// window's grid of units lines up with the whole image's (unit y of the image is unit
    /// y - Top/stride of the window). The whole image when the layer has no maps, the field covers
    /// it, or the layers cannot run at the window's size.
    /// </summary>
    public static InputWindow ForUnit(Network network, string layer, int y, int x)
    {
        var sample = network.SampleShape;
        var whole = Whole(sample[1], sample[2]);
        var field = ReceptiveFields.Of(network, layer);
        if (!field.Spatial) return whole;
        var (top, height) = Axis(field.Vertical, y, sample[1]);
        var (left, width) = Axis(field.Horizontal, x, sample[2]);
        var window = new InputWindow(top, left, height, width);
        if (window == whole || !network.Accepts(layer, new Shape(1, sample[0], height, width))) return whole;
        var (wy, wx) = window.UnitPosition(field, y, x);
        var output = network.OutputShape(layer, new Shape(1, sample[0], height, width));
        return wy >= 0 && wy < output.H && wx >= 0 && wx < output.W ? window : whole;
    }

    /// <summary>Where unit (y, x) of the whole image's layer output sits in this window's.</summary>
    public (int Y, int X) UnitPosition(ReceptiveField field, int y, int x) => (y - Top / field.Vertical.Stride, x - Left / field.Horizontal.Stride);

    /// <summary>Copies this window of each (C, H, W) image of <paramref name="images"/> into <paramref name="window"/> (N, C, Height, Width).</summary>
    public void Crop(ReadOnlySpan<float> images, int height, int width, Span<float> window)
    {
        int planes = images.Length / (height * width);
        for (int plane = 0; plane < planes; plane++)
            for (int row = 0; row < Height; row++)
                images.Slice((plane * height + Top + row) * width + Left, Width).CopyTo(window.Slice((plane * Height + row) * Width, Width));
    }

    /// <summary>The inverse of <see cref="Crop"/> for gradients: <paramref name="images"/> gets the window's values and zeros elsewhere.</summary>
    public void Paste(ReadOnlySpan<float> window, int height, int width, Span<float> images)
    {
        images.Clear();
        int planes = images.Length / (height * width);
        for (int plane = 0; plane < planes; plane++)
            for (int row = 0; row < Height; row++)
                window.Slice((plane * Height + row) * Width, Width).CopyTo(images.Slice((plane * height + Top + row) * width + Left, Width));
    }

    private static (int Start, int Length) Axis(AxisField field, int index, int length)
    {
        int first = field.First + index * field.Stride;
        int start = first <= 0 ? 0 : first / field.Stride * field.Stride;
        int end = Math.Min(length, first + field.Size);
        return (start, end - start);
    }
}
