using ConvViz.Engine.Imaging;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Networks;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// The Deep Visualization Toolbox's views of a unit's top images: the receptive-field patch of each
/// (where the unit peaked) beside the same patch of its deconvnet projection.
/// </summary>
public static class PatchViews
{
    /// <summary>Shade of the canvas where a field reaches past the image border.</summary>
    public const byte OutsideShade = 96;

    /// <summary>
    /// The window of <paramref name="image"/> that unit (entry.Y, entry.X) of a layer with
    /// <paramref name="field"/> sees, on a canvas the field's size with the part beyond the image
    /// shaded. Along an axis where the field is at least the image's size, or for a layer without
    /// maps, the canvas is the whole image: such units see (nearly) all of it.
    /// </summary>
    public static Image8 Patch(Image8 image, ReceptiveField field, TopEntry entry)
    {
        var (top, height) = Window(field.Vertical, entry.Y, image.Height, field.Spatial);
        var (left, width) = Window(field.Horizontal, entry.X, image.Width, field.Spatial);
        int channels = image.Channels;
        var pixels = new byte[height * width * channels];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                int sy = top + y, sx = left + x;
                bool inside = sy >= 0 && sy < image.Height && sx >= 0 && sx < image.Width;
                for (int c = 0; c < channels; c++)
                    pixels[(y * width + x) * channels + c] = inside ? image.Pixels[(sy * image.Width + sx) * channels + c] : OutsideShade;
            }
        return new Image8(width, height, channels, pixels);
    }

    /// <summary>A unit's view: its patches in a near-square grid, then a gap, then its deconvnet patches in the same grid.</summary>
    public static Image8 UnitView(IReadOnlyList<Image8> patches, IReadOnlyList<Image8> deconvolutions, int scale)
    {
        var left = Grid(patches, scale);
        var right = Grid(deconvolutions, scale);
        return SideBySide(left, right, gap: 4 * scale);
    }

    /// <summary>Same-sized tiles (converted to RGB when the set mixes gray and color) in a near-square grid.</summary>
    public static Image8 Grid(IReadOnlyList<Image8> tiles, int scale)
    {
        if (tiles.Count == 0) throw new ArgumentException("a grid needs at least one tile");
        int channels = tiles.Max(t => t.Channels), height = tiles[0].Height, width = tiles[0].Width;
        if (tiles.Any(t => t.Height != height || t.Width != width)) throw new ArgumentException("the tiles of a grid must have one size");
        var data = tiles.SelectMany(t => ToChannels(t, channels).Pixels).ToArray();
        return Montage.Arrange(data, tiles.Count, height, width, channels, scale, gap: 1);
    }

    /// <summary><paramref name="left"/> and <paramref name="right"/> next to each other, top-aligned, on the montage's gap shade.</summary>
    public static Image8 SideBySide(Image8 left, Image8 right, int gap)
    {
        int channels = Math.Max(left.Channels, right.Channels);
        left = ToChannels(left, channels);
        right = ToChannels(right, channels);
        int width = left.Width + gap + right.Width, height = Math.Max(left.Height, right.Height);
        var pixels = new byte[width * height * channels];
        Array.Fill(pixels, Montage.GapShade);
        Copy(left, pixels, width, 0);
        Copy(right, pixels, width, left.Width + gap);
        return new Image8(width, height, channels, pixels);
    }

    /// <summary>The canvas along one axis: (first input pixel, length).</summary>
    private static (int First, int Length) Window(AxisField axis, int index, int length, bool spatial) =>
        !spatial || axis.Size >= length ? (0, length) : (axis.First + index * axis.Stride, axis.Size);

    private static Image8 ToChannels(Image8 image, int channels)
    {
        if (image.Channels == channels) return image;
        if (image.Channels != 1 || channels != 3) throw new ArgumentException($"cannot show a {image.Channels}-channel image as {channels} channels");
        var pixels = new byte[image.Width * image.Height * 3];
        for (int i = 0; i < image.Width * image.Height; i++) pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = image.Pixels[i];
        return new Image8(image.Width, image.Height, 3, pixels);
    }

    private static void Copy(Image8 source, byte[] destination, int destinationWidth, int left)
    {
        int rowBytes = source.Width * source.Channels;
        for (int y = 0; y < source.Height; y++)
            Array.Copy(source.Pixels, y * rowBytes, destination, (y * destinationWidth + left) * source.Channels, rowBytes);
    }
}
