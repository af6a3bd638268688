using ConvViz.Engine.Imaging;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// Maps a value in [0, 1] to a color. Gray for plain intensities; Viridis (perceptually uniform,
/// from its published control points) and Jet (the Toolbox's look) for heatmaps; Diverging
/// (blue-white-red, 0.5 is white) for signed maps such as raw gradients.
/// </summary>
public enum Colormap { Gray, Viridis, Jet, Diverging }

public static class Colormaps
{
    // Viridis sampled at 0, 1/8, ..., 1 (matplotlib's table); between them, linear interpolation.
    private static readonly (byte R, byte G, byte B)[] ViridisStops =
    [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ];
    private static readonly (byte R, byte G, byte B)[] JetStops =
        [(0, 0, 143), (0, 0, 255), (0, 127, 255), (0, 255, 255), (127, 255, 127), (255, 255, 0), (255, 127, 0), (255, 0, 0), (127, 0, 0)];
    private static readonly (byte R, byte G, byte B)[] DivergingStops = [(33, 102, 172), (247, 247, 247), (178, 24, 43)];

    public static (byte R, byte G, byte B) Color(this Colormap map, float t)
    {
        t = float.IsNaN(t) ? 0 : Math.Clamp(t, 0f, 1f);
        return map switch
        {
            Colormap.Gray => ((byte)Math.Round(255 * t), (byte)Math.Round(255 * t), (byte)Math.Round(255 * t)),
            Colormap.Viridis => Interpolate(ViridisStops, t),
            Colormap.Jet => Interpolate(JetStops, t),
            _ => Interpolate(DivergingStops, t),
        };
    }

    /// <summary>The heatmap through a colormap, blended over the (gray or RGB) image with weight <paramref name="opacity"/>.</summary>
    public static Image8 Overlay(this Colormap colormap, Image8 image, float[] heat, float opacity = 0.5f)
    {
        var rgb = ImageTensors.ToChannels(image, 3);
        var pixels = new byte[rgb.Pixels.Length];
        for (int i = 0; i < heat.Length; i++)
        {
            var (r, g, b) = colormap.Color(heat[i]);
            pixels[3 * i] = Blend(rgb.Pixels[3 * i], r, opacity);
            pixels[3 * i + 1] = Blend(rgb.Pixels[3 * i + 1], g, opacity);
            pixels[3 * i + 2] = Blend(rgb.Pixels[3 * i + 2], b, opacity);
        }
        return new Image8(rgb.Width, rgb.Height, 3, pixels);
    }

    private static byte Blend(byte under, byte over, float opacity) => (byte)Math.Round(under * (1 - opacity) + over * opacity);

    private static (byte, byte, byte) Interpolate((byte R, byte G, byte B)[] stops, float t)
    {
        float position = t * (stops.Length - 1);
        int i = Math.Min((int)position, stops.Length - 2);
        float f = position - i;
        var (a, b) = (stops[i], stops[i + 1]);
        return ((byte)Math.Round(a.R + (b.R - a.R) * f), (byte)Math.Round(a.G + (b.G - a.G) * f), (byte)Math.Round(a.B + (b.B - a.B) * f));
    }
}
