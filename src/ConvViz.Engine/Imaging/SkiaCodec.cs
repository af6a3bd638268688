using System.Runtime.InteropServices;
using SkiaSharp;

namespace ConvViz.Engine.Imaging;

/// <summary>
/// PNG, JPEG, WebP, GIF and BMP in, PNG, JPEG and WebP out, through SkiaSharp (Skia's libpng,
/// libjpeg-turbo, libwebp and GIF decoders).
/// <para>Decoding returns the stored pixels (no colour-profile conversion; CMYK JPEGs become RGB) in one of
/// three layouts: gray PNGs and JPEGs → 1 channel; files without alpha → RGB; files with an alpha channel
/// or a transparent colour (RGBA and gray+alpha PNGs, palettes with tRNS, WebP with alpha, GIFs with a
/// transparent index) → RGBA with straight (not premultiplied) alpha: a transparent pixel keeps its stored
/// colour, except in a GIF, whose transparent pixels come out as (0, 0, 0, 0). 16-bit PNG samples keep
/// their high byte; a GIF gives its first frame; an EXIF orientation (JPEG, WebP) is applied, so the
/// picture comes out upright (as Pillow's ImageOps.exif_transpose).</para>
/// <para>A decode that is not a complete success is an <see cref="InvalidDataException"/> whose one-line
/// message names the file and says "truncated" or "corrupt": Skia fills what it could not read with black,
/// and that half-black picture is never returned.</para>
/// </summary>
internal static class SkiaCodec
{
    /// <summary>
    /// zlib level of the PNGs ConvViz writes: 1024x768 photos encode in about 40% of the time of zlib's
    /// default 6 and come out 3% larger; grids of enlarged pixels (activations, filters) are as small as at
    /// level 6. Levels 1 to 3 use zlib's fast matcher, which leaves such grids 60% larger.
    /// </summary>
    public const int PngZlibLevel = 4;

    public static Image8 Decode(byte[] data, ImageFormat format, string name)
    {
        string formatName = ImageFormats.Name(format);
        if (ImageFormats.Truncation(data, format) is { } truncation)
            throw new InvalidDataException($"{name}: truncated {formatName} file: {truncation}");
        // The codec owns the stream from here on, and frees it when it cannot read the header.
        using var codec = SKCodec.Create(new SKMemoryStream(data), out var opened) ?? throw Failure(opened, "header");
        var source = codec.Info;
        ImageLimits.Check(source.Width, source.Height, name);
        if ((long)source.Width * source.Height * 4 > Array.MaxLength)
            throw new InvalidDataException($"{name}: a {source.Width}x{source.Height} image is too large to hold in memory");

        int channels = source.ColorType == SKColorType.Gray8 ? 1 : source.AlphaType == SKAlphaType.Opaque ? 3 : 4;
        var target = new SKImageInfo(source.Width, source.Height,
            channels == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, channels == 4 ? SKAlphaType.Unpremul : SKAlphaType.Opaque);
        var pixels = new byte[(long)source.Width * source.Height * channels];
        var result = channels == 3 ? DecodeRgb(codec, target, pixels) : codec.GetPixels(target, pixels);
        if (result != SKCodecResult.Success) throw Failure(result, "pixel data");
        return Upright(new Image8(source.Width, source.Height, channels, pixels), codec.EncodedOrigin);

        // Skia says IncompleteInput when its decoder runs out of data. A PNG, JPEG or WebP has passed the
        // check that its end is there, so running out early means damaged data, not a cut file.
        Exception Failure(SKCodecResult failure, string part) => failure switch
        {
            SKCodecResult.IncompleteInput when !ImageFormats.EndIsChecked(format) =>
                new InvalidDataException($"{name}: truncated {formatName} file: it ends inside its {part}"),
            SKCodecResult.Unimplemented =>
                new NotSupportedException($"{name}: this {formatName} file uses a feature that SkiaSharp cannot decode"),
            SKCodecResult.IncompleteInput =>
                new InvalidDataException($"{name}: corrupt {formatName} file: its {part} stops early"),
            SKCodecResult.ErrorInInput or SKCodecResult.InvalidInput =>
                new InvalidDataException($"{name}: corrupt {formatName} file: its {part} is damaged"),
            _ => new InvalidDataException($"{name}: corrupt {formatName} file: its {part} cannot be decoded ({failure})"),
        };
    }

    /// <summary>Skia has no 3-byte pixel layout: decodes RGBA outside the managed heap and keeps R, G and B.</summary>
    private static unsafe SKCodecResult DecodeRgb(SKCodec codec, SKImageInfo rgba, byte[] rgb)
    {
        long count = (long)rgba.Width * rgba.Height;
        byte* decoded = (byte*)NativeMemory.Alloc((nuint)(count * 4));
        try
        {
            var result = codec.GetPixels(rgba, (IntPtr)decoded);
            if (result != SKCodecResult.Success) return result;
            for (long i = 0; i < count; i++)
            {
                rgb[3 * i] = decoded[4 * i];
                rgb[3 * i + 1] = decoded[4 * i + 1];
                rgb[3 * i + 2] = decoded[4 * i + 2];
            }
            return result;
        }
        finally
        {
            NativeMemory.Free(decoded);
        }
    }

    /// <summary>
    /// The picture as it is meant to be seen, from pixels stored under an EXIF orientation. Each case reads
    /// the source from the pixel index base + x * stepX + y * stepY for output pixel (x, y); orientations
    /// 5 to 8 swap width and height. 2 mirrors, 3 turns 180°, 4 flips, 5 transposes, 6 turns 90° clockwise,
    /// 7 transverses, 8 turns 90° counter-clockwise.
    /// </summary>
    private static Image8 Upright(Image8 stored, SKEncodedOrigin origin)
    {
        long w = stored.Width, h = stored.Height;
        (long Base, long StepX, long StepY)? walk = origin switch
        {
            SKEncodedOrigin.TopRight => (w - 1, -1, w),
            SKEncodedOrigin.BottomRight => ((h - 1) * w + w - 1, -1, -w),
            SKEncodedOrigin.BottomLeft => ((h - 1) * w, 1, -w),
            SKEncodedOrigin.LeftTop => (0, w, 1),
            SKEncodedOrigin.RightTop => ((h - 1) * w, -w, 1),
            SKEncodedOrigin.RightBottom => ((h - 1) * w + w - 1, -w, -1),
            SKEncodedOrigin.LeftBottom => (w - 1, w, -1),
            _ => null,
        };
        if (walk is not var (start, stepX, stepY)) return stored;
        bool swapped = origin >= SKEncodedOrigin.LeftTop;
        int width = swapped ? stored.Height : stored.Width, height = swapped ? stored.Width : stored.Height;
        int channels = stored.Channels;
        var pixels = new byte[stored.Pixels.Length];
        for (int y = 0, target = 0; y < height; y++)
            for (int x = 0; x < width; x++, target += channels)
            {
                int source = (int)((start + x * stepX + y * stepY) * channels);
                stored.Pixels.AsSpan(source, channels).CopyTo(pixels.AsSpan(target, channels));
            }
        return new Image8(width, height, channels, pixels);
    }

    public static byte[] EncodePng(Image8 image) =>
        Encode(image, "PNG", pixmap => pixmap.Encode(new SKPngEncoderOptions(SKPngEncoderFilterFlags.AllFilters, PngZlibLevel)));

    /// <summary>JPEG holds no alpha: an RGBA image is written as its RGB.</summary>
    public static byte[] EncodeJpeg(Image8 image, int quality) =>
        Encode(image, "JPEG", pixmap => pixmap.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample420, SKJpegEncoderAlphaOption.Ignore)));

    /// <summary>Lossless WebP (effort 75 of 100, libwebp's default); WebP has no gray layout, so gray is stored as RGB.</summary>
    public static byte[] EncodeLosslessWebP(Image8 image) =>
        Encode(image, "WebP", pixmap => pixmap.Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossless, 75)));

    private static unsafe byte[] Encode(Image8 image, string format, Func<SKPixmap, SKData?> encode)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Width == 0 || image.Height == 0)
            throw new ArgumentException($"a {format} cannot hold a {image.Width}x{image.Height} image (both sides must be at least 1)");
        var (info, pixels) = image.Channels switch
        {
            1 => (new SKImageInfo(image.Width, image.Height, SKColorType.Gray8, SKAlphaType.Opaque), image.Pixels),
            3 => (new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque), Rgba(image.Pixels)),
            _ => (new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul), image.Pixels),
        };
        fixed (byte* start = pixels)
        {
            using var pixmap = new SKPixmap(info, (IntPtr)start, info.RowBytes);
            using var encoded = encode(pixmap)
                ?? throw new InvalidOperationException($"SkiaSharp could not encode a {image.Width}x{image.Height} image of {image.Channels} channels as {format}");
            return encoded.ToArray();
        }
    }

    /// <summary>RGB with an opaque alpha byte after each pixel, the layout Skia encodes from.</summary>
    private static byte[] Rgba(byte[] rgb)
    {
        var rgba = new byte[rgb.Length / 3 * 4];
        for (int i = 0, o = 0; i < rgb.Length; i += 3, o += 4)
        {
            rgba[o] = rgb[i];
            rgba[o + 1] = rgb[i + 1];
            rgba[o + 2] = rgb[i + 2];
            rgba[o + 3] = 255;
        }
        return rgba;
    }
}
