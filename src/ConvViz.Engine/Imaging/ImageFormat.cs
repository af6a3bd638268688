using System.Buffers.Binary;

namespace ConvViz.Engine.Imaging;

/// <summary>The image formats ConvViz reads, recognized by their first bytes (never by the file name).</summary>
internal enum ImageFormat { Png, Jpeg, WebP, Gif, Bmp, Pnm }

/// <summary>
/// Signatures, and the checks that a file is whole which the decoders do not make themselves:
/// SkiaSharp decodes a PNG that lacks its IEND chunk, and a progressive JPEG cut after its first
/// scans, as if they were complete (the JPEG at a lower quality), and calls a WebP cut inside its
/// bitstream invalid rather than short.
/// </summary>
internal static class ImageFormats
{
    /// <summary>What <see cref="ImageFile.Decode"/> reads, in the words of its error messages.</summary>
    public const string Readable = "PNG, JPEG, WebP, GIF, BMP, PGM or PPM";

    public static ImageFormat? Of(ReadOnlySpan<byte> data) => data switch
    {
        [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => ImageFormat.Png,
        [0xFF, 0xD8, 0xFF, ..] => ImageFormat.Jpeg,
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => ImageFormat.WebP,
        [(byte)'G', (byte)'I', (byte)'F', (byte)'8', (byte)'7' or (byte)'9', (byte)'a', ..] => ImageFormat.Gif,
        [(byte)'B', (byte)'M', ..] => ImageFormat.Bmp,
        _ when Pnm.IsPnm(data) => ImageFormat.Pnm,
        _ => null,
    };

    public static string Name(ImageFormat format) => format switch
    {
        ImageFormat.Png => "PNG",
        ImageFormat.Jpeg => "JPEG",
        ImageFormat.WebP => "WebP",
        ImageFormat.Gif => "GIF",
        ImageFormat.Bmp => "BMP",
        _ => "PGM/PPM",
    };

    /// <summary>Why a file of <paramref name="format"/> is cut short, or null when its structure says it is whole.</summary>
    public static string? Truncation(ReadOnlySpan<byte> data, ImageFormat format) => format switch
    {
        ImageFormat.Png when data.LastIndexOf(EmptyIend) is var iend && (iend < 0 || data.Length - iend < 12) => "it ends before its IEND chunk",
        ImageFormat.Jpeg => JpegTruncation(data),
        ImageFormat.WebP when BinaryPrimitives.ReadUInt32LittleEndian(data[4..]) is var riff && data.Length - 8L < riff =>
            $"its RIFF header declares {8L + riff:N0} bytes, the file has {data.Length:N0}",
        _ => null,
    };

    /// <summary>True for the formats whose end <see cref="Truncation"/> finds: PNG, JPEG and WebP.</summary>
    public static bool EndIsChecked(ImageFormat format) => format is ImageFormat.Png or ImageFormat.Jpeg or ImageFormat.WebP;

    /// <summary>IEND's length (0) and type; its CRC (4 more bytes) must be there too, and is the decoder's to check.</summary>
    private static ReadOnlySpan<byte> EmptyIend => [0, 0, 0, 0, (byte)'I', (byte)'E', (byte)'N', (byte)'D'];

    /// <summary>
    /// A JPEG ends with the end-of-image marker (FF D9) after its first scan (SOS, FF DA). The segments
    /// before that scan are stepped over by their lengths, since an EXIF thumbnail inside APP1 holds an
    /// end-of-image marker of its own; inside the scans' entropy-coded data a byte FF is always followed
    /// by 00 or a restart marker, so FF D9 there can only be the real end.
    /// </summary>
    private static string? JpegTruncation(ReadOnlySpan<byte> data)
    {
        int position = 2;
        while (true)
        {
            while (position < data.Length && data[position] == 0xFF) position++; // FF fill bytes before a marker
            if (position + 2 >= data.Length) return "it ends before its first scan";
            byte marker = data[position];
            if (marker == 0xDA) break;
            bool standalone = marker is 0x01 or >= 0xD0 and <= 0xD7;
            position += standalone ? 1 : 1 + BinaryPrimitives.ReadUInt16BigEndian(data[(position + 1)..]);
            if (!standalone && position < data.Length && data[position] != 0xFF) return null; // damaged: the decoder says how
        }
        return data[position..].IndexOf([(byte)0xFF, (byte)0xD9]) < 0 ? "it ends before its end-of-image marker" : null;
    }
}
