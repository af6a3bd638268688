namespace ConvViz.Engine.Imaging;

/// <summary>
/// An 8-bit image: row-major pixels with interleaved channels (1 = gray, 3 = RGB, 4 = RGBA).
/// The pixel array is shared, not copied, so record equality compares it by reference.
/// </summary>
public sealed record Image8(int Width, int Height, int Channels, byte[] Pixels)
{
    public byte[] Pixels { get; init; } = CheckedPixels(Width, Height, Channels, Pixels);

    private static byte[] CheckedPixels(int width, int height, int channels, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width < 0 || height < 0)
            throw new ArgumentException($"image size {width}x{height} is negative");
        if (channels is not (1 or 3 or 4))
            throw new ArgumentException($"{channels} channels: expected 1 (gray), 3 (RGB) or 4 (RGBA)");
        long needed = (long)width * height * channels;
        if (pixels.Length != needed)
            throw new ArgumentException(
                $"a {width}x{height} image with {channels} channels needs {needed} pixel bytes, {pixels.Length} given");
        return pixels;
    }
}
