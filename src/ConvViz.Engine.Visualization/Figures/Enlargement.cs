using ConvViz.Engine.Imaging;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Figures;

/// <summary>
/// Crisp enlargements: every pixel repeated as an integer-sized block (nearest neighbour), so a 28x28 input is
/// seen as its 784 pixels rather than as a thumbnail or a blur. Every single-image PNG a run writes is shown at
/// least <see cref="MinimumSide"/> pixels on its shorter side; the values themselves stay available as .npy.
/// </summary>
internal static class Enlargement
{
    /// <summary>The shorter side a single-image output reaches: ImageNet's input size, readable on any screen.</summary>
    public const int MinimumSide = 224;

    /// <summary>The smallest integer factor that makes the shorter side of a height x width image at least <paramref name="minimumSide"/>.</summary>
    public static int ScaleFor(int height, int width, int minimumSide = MinimumSide) => Montage.ScaleFor(height, width, minimumSide);

    /// <summary><paramref name="image"/> enlarged by <see cref="ScaleFor"/> (unchanged when already large enough).</summary>
    public static Image8 ToMinimumSide(Image8 image, int minimumSide = MinimumSide) => Nearest(image, ScaleFor(image.Height, image.Width, minimumSide));

    /// <summary>Each pixel of <paramref name="image"/> as a <paramref name="scale"/> x <paramref name="scale"/> block.</summary>
    public static Image8 Nearest(Image8 image, int scale)
    {
        if (scale < 1) throw new ArgumentOutOfRangeException(nameof(scale), scale, $"an enlargement by {scale} is not at least 1");
        if (scale == 1) return image;
        int channels = image.Channels, width = image.Width * scale, height = image.Height * scale;
        var pixels = new byte[(long)width * height * channels];
        int rowBytes = width * channels;
        for (int y = 0; y < image.Height; y++)
        {
            var row = pixels.AsSpan(y * scale * rowBytes, rowBytes);
            for (int x = 0; x < image.Width; x++)
            {
                var source = image.Pixels.AsSpan((y * image.Width + x) * channels, channels);
                for (int r = 0; r < scale; r++) source.CopyTo(row[((x * scale + r) * channels)..]);
            }
            for (int r = 1; r < scale; r++) row.CopyTo(pixels.AsSpan((y * scale + r) * rowBytes, rowBytes));
        }
        return new Image8(width, height, channels, pixels);
    }
}
