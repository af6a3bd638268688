using ConvViz.Engine.IO;

namespace ConvViz.Engine.Imaging;

/// <summary>
/// Reads PNG, JPEG, WebP, GIF (the first frame) and BMP through SkiaSharp and PGM/PPM by hand, recognized by
/// their first bytes; writes PNG, JPEG, WebP (lossless) or PGM/PPM by extension. Gray files read as 1 channel,
/// colour as RGB, files with alpha or a transparent colour as RGBA (straight alpha), EXIF orientation applied
/// (see <see cref="SkiaCodec"/>). A decoded image is at most <see cref="ImageLimits.MaxPixels"/> pixels,
/// checked from the header before any pixel is decoded; every refusal is an <see cref="InvalidDataException"/>
/// (a truncated or corrupt file says which), a <see cref="NotSupportedException"/> (a feature of a format that
/// SkiaSharp cannot decode) or an <see cref="IOException"/> (no such file, not a regular file), whose one-line
/// message starts with the file's name.
/// </summary>
public static class ImageFile
{
    /// <summary>The JPEG quality <see cref="Write"/> uses for .jpg and .jpeg.</summary>
    internal const int WriteJpegQuality = 90;

    public static Image8 Read(string path)
    {
        var data = InputFiles.ReadAllBytes(path, $"a {ImageFormats.Readable} image");
        return Decode(data, path);
    }

    /// <summary>Decodes an image held in memory (an upload, a video frame) with the same decoders and limits as
    /// <see cref="Read"/>; <paramref name="name"/> starts every error message.</summary>
    public static Image8 Decode(byte[] data, string name)
    {
        ArgumentNullException.ThrowIfNull(data);
        return ImageFormats.Of(data) switch
        {
            ImageFormat.Pnm => Pnm.Decode(data, name),
            { } format => SkiaCodec.Decode(data, format, name),
            null => throw new InvalidDataException($"{name}: not a {ImageFormats.Readable} image (unrecognized first bytes)"),
        };
    }

    /// <summary>Writes .png (any channel count), .jpg / .jpeg (quality 90; alpha dropped), .webp (lossless;
    /// gray stored as RGB), or .pgm / .ppm (gray / RGB).</summary>
    public static void Write(string path, Image8 image)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        byte[] bytes = extension switch
        {
            ".png" => SkiaCodec.EncodePng(image),
            ".jpg" or ".jpeg" => SkiaCodec.EncodeJpeg(image, WriteJpegQuality),
            ".webp" => SkiaCodec.EncodeLosslessWebP(image),
            ".pgm" or ".ppm" => Pnm.Encode(image),
            _ => throw new ArgumentException($"{path}: images are written as .png, .jpg, .jpeg, .webp, .pgm or .ppm, not '{extension}'"),
        };
        AtomicFile.WriteAllBytes(path, bytes);
    }

    /// <summary>The PNG file bytes of <paramref name="image"/> (for embedding in a page as a data URI).</summary>
    public static byte[] EncodePng(Image8 image) => SkiaCodec.EncodePng(image);

    /// <summary>The JPEG file bytes of <paramref name="image"/> at <paramref name="quality"/> 1 to 100 (for
    /// frames sent many times a second, where PNG is too slow and too large); alpha is dropped.</summary>
    public static byte[] EncodeJpeg(Image8 image, int quality)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1, "Quality");
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100, "Quality");
        return SkiaCodec.EncodeJpeg(image, quality);
    }
}
