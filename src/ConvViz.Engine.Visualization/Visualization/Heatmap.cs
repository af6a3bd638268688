using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// A heatmap of Height x Width values (occlusion's probability drop, Grad-CAM's map) and the colour scale it is drawn on.
/// Absolute (the default): the values as they are, colour 0 at the map's real minimum and colour 1 at its real maximum,
/// and a colour bar that says so in the map's own units, so a 0.002 drop reads as 0.002 whatever colour it gets.
/// Normalized (on request): the per-image stretch the map arrives in, [0, 1], with a bar that says "relative".
/// </summary>
internal sealed record Heatmap(float[] Values, int Height, int Width, ColorScale Scale)
{
    /// <summary>The values as they are, on a scale from their minimum to their maximum; <paramref name="units"/> names them under the bar.</summary>
    public static Heatmap Absolute(float[] values, int height, int width, Colormap colormap, string units)
    {
        var (low, high) = Montage.Range(values);
        return new(values, height, width, new ColorScale(colormap, low, high, units));
    }

    /// <summary>Values already stretched to [0, 1] per image, on the scale 0 to 1.</summary>
    public static Heatmap Normalized(float[] values, int height, int width, Colormap colormap, string what) =>
        new(values, height, width, new ColorScale(colormap, 0, 1, $"{what}, relative: each image stretched to its own maximum"));

    /// <summary>Each value's place on the scale, 0 at <see cref="ColorScale.Min"/> and 1 at its Max.</summary>
    public float[] Positions => Values.Select(v => (float)Scale.Position(v)).ToArray();

    /// <summary>The values through the colormap, one pixel each.</summary>
    public Image8 Colored() => LayerFigures.Colored(Values, Height, Width, Scale.Colormap, (float)Scale.Min, (float)Scale.Max);

    /// <summary>The colours blended over <paramref name="image"/> (the input as the model sees it, Height x Width).</summary>
    public Image8 Overlay(Image8 image, float opacity) => Scale.Colormap.Overlay(image, Positions, opacity);

    /// <summary>
    /// <paramref name="picture"/> (<see cref="Colored"/> or an <see cref="Overlay"/>) as a figure: with labels, enlarged with
    /// crisp pixels to at least <paramref name="minimumSide"/> pixels a side, under <paramref name="title"/> (when given) and
    /// over the colour bar; without, the enlarged picture alone.
    /// </summary>
    public Image8 Figure(Image8 picture, bool labels, string? title = null, int minimumSide = Enlargement.MinimumSide) => labels
        ? new TileGrid([picture], Enlargement.ScaleFor(picture.Height, picture.Width, minimumSide), 1) { Title = title, Bar = Scale }.Draw()
        : Enlargement.ToMinimumSide(picture, minimumSide);
}
