using ConvViz.Engine.IO;

namespace ConvViz.Engine.Imaging;

/// <summary>Reads PNG, JPEG and PGM/PPM images, recognized by their first bytes, and writes PNG or PGM/PPM by extension.
/// A decoded image is at most <see cref="ImageLimits.MaxPixels"/> pixels; every refusal is an
/// <see cref="InvalidDataException"/>, <see cref="NotSupportedException"/> or <see cref="IOException"/> naming the file.</summary>
public static class ImageFile
{
    public static Image8 Read(string path)
    {
        var data = ConvViz.Engine.IO.InputFiles.ReadAllBytes(path, "a PNG, JPEG, PGM or PPM image");
        return Decode(data, path);
    }

    /// <summary>Decodes an image held in memory (an upload, a video frame) with the same decoders and limits as
    /// <see cref="Read"/>; <paramref name="name"/> starts every error message.</summary>
    public static Image8 Decode(byte[] data, string name)
    {
        if (Png.IsPng(data)) return Png.Decode(data, name);
        if (Jpeg.IsJpeg(data)) return Jpeg.Decode(data, name);
        if (Pnm.IsPnm(data)) return Pnm.Decode(data, name);
        if (OtherFormat(data) is { } format)
            throw new NotSupportedException($"{name}: {format} images are not supported; convert it to PNG or JPEG");
        throw new InvalidDataException($"{name}: not a PNG, JPEG, PGM or PPM image (unrecognized first bytes)");
    }

    /// <summary>Formats recognized by their signature only, to say what a file is when it cannot be read.</summary>
    private static string? OtherFormat(ReadOnlySpan<byte> data) => data switch
    {
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "WebP",
        [(byte)'G', (byte)'I', (byte)'F', (byte)'8', ..] => "GIF",
        [(byte)'B', (byte)'M', ..] => "BMP",
        _ => null,
    };

    /// <summary>Writes .png (any channel count), or .pgm / .ppm (gray / RGB).</summary>
    public static void Write(string path, Image8 image)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        switch (extension)
        {
            case ".png": Png.Write(path, image); break;
            case ".pgm" or ".ppm": AtomicFile.WriteAllBytes(path, Pnm.Encode(image)); break;
            default: throw new ArgumentException($"{path}: images are written as .png, .pgm or .ppm, not '{extension}'");
        }
    }

    /// <summary>The PNG file bytes of <paramref name="image"/> (for embedding in a page as a data URI).</summary>
    public static byte[] EncodePng(Image8 image) => Png.Encode(image);
}
