using ConvViz.Engine.IO;

namespace ConvViz.Engine.Imaging;

/// <summary>Reads PNG, JPEG and PGM/PPM images, recognized by their first bytes, and writes PNG or PGM/PPM by extension.</summary>
public static class ImageFile
{
    public static Image8 Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such image file", path);
        var data = File.ReadAllBytes(path);
        if (Png.IsPng(data)) return Png.Decode(data, path);
        if (Jpeg.IsJpeg(data)) return Jpeg.Decode(data, path);
        if (Pnm.IsPnm(data)) return Pnm.Decode(data, path);
        throw new InvalidDataException($"{path}: not a PNG, JPEG, PGM or PPM image (unrecognized first bytes)");
    }

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
}
