namespace ConvViz.Engine.Imaging;

/// <summary>
/// How large an image ConvViz agrees to decode. The declared width x height is checked against
/// <see cref="MaxPixels"/> before any pixel memory is allocated, so a small file that declares a
/// huge picture (a decompression bomb) is refused instead of exhausting memory. Process-wide: a
/// program sets it once at start (the command line from its option).
/// </summary>
public static class ImageLimits
{
    /// <summary>The default limit: 100 megapixels (a 10,000 x 10,000 image).</summary>
    public const long DefaultMaxPixels = 100_000_000;

    private static long maxPixels = DefaultMaxPixels;

    /// <summary>The largest width x height that is decoded (and that a resize may produce).</summary>
    public static long MaxPixels
    {
        get => Volatile.Read(ref maxPixels);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(MaxPixels));
            Volatile.Write(ref maxPixels, value);
        }
    }

    /// <summary>Throws (see <see cref="TooLarge"/>) when a declared size is over the limit.</summary>
    public static void Check(long width, long height, string name)
    {
        long limit = MaxPixels;
        if (width < 1 || height < 1)
            throw new InvalidDataException($"{name}: image size {width}x{height} is not valid (both sides must be at least 1)");
        if (width > limit / height)
            throw TooLarge(name, width, height);
    }

    /// <summary>Marks the exceptions that <see cref="TooLarge"/> makes, so a program can say how to raise the limit.</summary>
    public const string ExceededKey = "ConvViz.ImageLimits.MaxPixels";

    /// <summary>The refusal of an image (or a resize result) of width x height pixels, over the limit.</summary>
    public static InvalidDataException TooLarge(string name, long width, long height)
    {
        var e = new InvalidDataException($"{name}: {width}x{height} pixels, more than the limit of {MaxPixels:N0} pixels");
        e.Data[ExceededKey] = MaxPixels;
        return e;
    }
}
