using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ConvViz.Engine.IO;

namespace ConvViz.Engine.Imaging;

/// <summary>
/// PNG files (ISO/IEC 15948) in and out of <see cref="Image8"/>, with the runtime's zlib.
/// <para>Reading returns 8-bit samples in one of three layouts:
/// gray at bit depth 1, 2, 4, 8 or 16 → 1 channel (depths below 8 scaled to 0..255);
/// RGB → 3 channels; RGBA → 4 channels; gray+alpha → converted to RGBA (the gray copied to R, G and B);
/// palette at bit depth 1, 2, 4 or 8 → RGBA when a tRNS chunk gives alphas (entries it leaves out are opaque), else RGB.
/// 16-bit samples keep their high byte. Pixels are returned as stored: gamma, colour profiles and the
/// single-colour tRNS of gray and RGB images are ignored, like every other ancillary chunk.
/// Interlaced (Adam7) files are refused. Every chunk's CRC-32 is checked.</para>
/// <para>Every error in a file is an <see cref="InvalidDataException"/> (a <see cref="FileNotFoundException"/>
/// when there is no file) whose one-line message starts with the file's name.</para>
/// <para>Writing stores 8-bit gray, RGB or RGBA by channel count, non-interlaced, as IHDR, IDAT and IEND only.</para>
/// </summary>
internal static class Png
{
    private static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>True when the data starts with the PNG signature.</summary>
    public static bool IsPng(ReadOnlySpan<byte> data) => data.Length >= Signature.Length && data[..Signature.Length].SequenceEqual(Signature);

    private static readonly FilterType[] AllFilters = Enum.GetValues<FilterType>();

    private enum ColorType : byte { Gray = 0, Rgb = 2, Palette = 3, GrayAlpha = 4, Rgba = 6 }

    private enum FilterType : byte { None = 0, Sub = 1, Up = 2, Average = 3, Paeth = 4 }

    /// <summary>IHDR's fields that shape the pixel data (compression, filter method and interlace are checked, then fixed).</summary>
    private sealed record Header(int Width, int Height, int BitDepth, ColorType ColorType)
    {
        public int SamplesPerPixel => ColorType switch
        {
            ColorType.Gray or ColorType.Palette => 1,
            ColorType.GrayAlpha => 2,
            ColorType.Rgb => 3,
            _ => 4, // RGBA
        };

        /// <summary>Bytes per scanline, without its filter byte; pixels smaller than a byte are packed.</summary>
        public int RowBytes => (int)RowBytesOf(Width, SamplesPerPixel * BitDepth);

        /// <summary>The filters predict from the byte one whole pixel back (one byte back when pixels are smaller).</summary>
        public int FilterUnit => Math.Max(1, SamplesPerPixel * BitDepth / 8);

        public static long RowBytesOf(long width, int bitsPerPixel) => (width * bitsPerPixel + 7) / 8;
    }

    /// <summary>The chunks the pixels depend on; IDAT's pieces already joined into one zlib stream.</summary>
    private sealed record Chunks(Header Header, byte[]? Palette, byte[]? Alphas, byte[] CompressedImage);

    public static Image8 Read(string path)
    {
        return Decode(ConvViz.Engine.IO.InputFiles.ReadAllBytes(path, "a PNG image"), path);
    }

    /// <summary>Decodes PNG bytes; <paramref name="name"/> names the source in errors.</summary>
    public static Image8 Decode(ReadOnlySpan<byte> data, string name)
    {
        if (data.Length < Signature.Length || !data[..Signature.Length].SequenceEqual(Signature))
            throw new InvalidDataException($"{name}: not a PNG file");
        var chunks = ReadChunks(data, name);
        byte[] scanlines = Inflate(chunks.CompressedImage, (chunks.Header.RowBytes + 1) * chunks.Header.Height, name);
        Unfilter(scanlines, chunks.Header, name);
        return ToImage(ReadSamples(scanlines, chunks.Header), chunks, name);
    }

    public static void Write(string path, Image8 image)
    {
        AtomicFile.WriteAllBytes(path, Encode(image));
    }

    public static byte[] Encode(Image8 image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (image.Width == 0 || image.Height == 0)
            throw new ArgumentException($"a PNG cannot hold a {image.Width}x{image.Height} image (both sides must be at least 1)");
        using var output = new MemoryStream();
        output.Write(Signature);
        WriteChunk(output, "IHDR", HeaderBytes(image));
        WriteChunk(output, "IDAT", Deflate(FilteredScanlines(image)));
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    // ---- reading: chunks ----

    private static Chunks ReadChunks(ReadOnlySpan<byte> data, string name)
    {
        Header? header = null;
        byte[]? palette = null, alphas = null;
        using var compressed = new MemoryStream();
        int position = Signature.Length;
        while (true)
        {
            string type = ReadChunk(data, ref position, name, out var body);
            if (header is null && type != "IHDR")
                throw new InvalidDataException($"{name}: the first chunk is {type}, not IHDR (file damaged)");
            switch (type)
            {
                case "IHDR" when header is null: header = ReadHeader(body, name); break;
                case "IHDR": throw new InvalidDataException($"{name}: a second IHDR chunk (file damaged)");
                case "PLTE": palette = body.ToArray(); break;
                case "tRNS": alphas = body.ToArray(); break;
                case "IDAT": compressed.Write(body); break;
                case "IEND": return new Chunks(header!, palette, alphas, compressed.ToArray());
                default:
                    // An uppercase first letter marks a chunk the image cannot be shown without.
                    if (char.IsAsciiLetterUpper(type[0]))
                        throw new InvalidDataException($"{name}: unknown critical chunk {type}; this reader cannot display the image without it");
                    break;
            }
        }
    }

    /// <summary>Reads the chunk at <paramref name="position"/> (length, type, body, CRC) and moves past it.</summary>
    private static string ReadChunk(ReadOnlySpan<byte> data, ref int position, string name, out ReadOnlySpan<byte> body)
    {
        if (data.Length - position < 8)
            throw new InvalidDataException($"{name}: truncated: the file ends before its IEND chunk");
        uint length = BinaryPrimitives.ReadUInt32BigEndian(data[position..]);
        string type = Encoding.ASCII.GetString(data.Slice(position + 4, 4));
        if (length > int.MaxValue)
            throw new InvalidDataException($"{name}: chunk {type} claims {length} bytes, more than PNG allows (file damaged)");
        if (data.Length - position - 12L < length)
            throw new InvalidDataException($"{name}: truncated inside chunk {type}: the file ends before its IEND chunk");
        var typeAndBody = data.Slice(position + 4, 4 + (int)length);
        uint storedCrc = BinaryPrimitives.ReadUInt32BigEndian(data[(position + 8 + (int)length)..]);
        if (Crc32.Of(typeAndBody) != storedCrc)
            throw new InvalidDataException($"{name}: chunk {type} has a bad CRC (file damaged)");
        body = typeAndBody[4..];
        position += 12 + (int)length;
        return type;
    }

    private static Header ReadHeader(ReadOnlySpan<byte> body, string name)
    {
        if (body.Length != 13)
            throw new InvalidDataException($"{name}: IHDR is {body.Length} bytes long, expected 13 (file damaged)");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(body);
        uint height = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
        int bitDepth = body[8];
        var colorType = (ColorType)body[9];
        ImageLimits.Check(width, height, name);
        if (!Enum.IsDefined(colorType))
            throw new InvalidDataException($"{name}: colour type {body[9]} is unknown (expected 0, 2, 3, 4 or 6)");
        if (!IsValidBitDepth(colorType, bitDepth))
            throw new InvalidDataException($"{name}: bit depth {bitDepth} is not allowed for colour type {body[9]}");
        if (body[10] != 0) throw new InvalidDataException($"{name}: compression method {body[10]} is unknown (only 0, zlib, exists)");
        if (body[11] != 0) throw new InvalidDataException($"{name}: filter method {body[11]} is unknown (only 0 exists)");
        if (body[12] == 1)
            throw new InvalidDataException($"{name}: interlaced (Adam7) PNGs are not supported; save it without interlacing");
        if (body[12] != 0) throw new InvalidDataException($"{name}: interlace method {body[12]} is unknown");
        var header = new Header((int)width, (int)height, bitDepth, colorType);
        CheckFitsInMemory(header, name);
        return header;
    }

    private static bool IsValidBitDepth(ColorType colorType, int bitDepth) => colorType switch
    {
        ColorType.Gray => bitDepth is 1 or 2 or 4 or 8 or 16,
        ColorType.Palette => bitDepth is 1 or 2 or 4 or 8,
        _ => bitDepth is 8 or 16,
    };

    /// <summary>Refuses sizes whose scanlines or RGBA pixels could not fit in one array, before allocating anything.</summary>
    private static void CheckFitsInMemory(Header header, string name)
    {
        long scanlineBytes = (Header.RowBytesOf(header.Width, header.SamplesPerPixel * header.BitDepth) + 1) * header.Height;
        long pixelBytes = (long)header.Width * header.Height * 4;
        if (Math.Max(scanlineBytes, pixelBytes) > Array.MaxLength)
            throw new InvalidDataException($"{name}: a {header.Width}x{header.Height} image is too large to hold in memory");
    }

    // ---- reading: pixels ----

    private static byte[] Inflate(byte[] compressed, int length, string name)
    {
        if (compressed.Length == 0) throw new InvalidDataException($"{name}: no IDAT chunk, so no image data");
        // zlib's deflate expands at most 1032:1, so a stream this short cannot hold the image the
        // header declares: refuse before allocating rather than after (a tiny file declaring a
        // huge image would otherwise allocate it all first).
        const long MaxInflateRatio = 1032;
        if (length > compressed.Length * MaxInflateRatio + 1024)
            throw new InvalidDataException($"{name}: truncated image data: {compressed.Length:N0} compressed bytes cannot hold the {length:N0} bytes the header needs");
        var scanlines = new byte[length];
        int read;
        try
        {
            using var zlib = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
            read = zlib.ReadAtLeast(scanlines, length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{name}: the compressed image data is damaged ({e.Message.TrimEnd('.')})", e);
        }
        if (read < length)
            throw new InvalidDataException($"{name}: truncated image data: the zlib stream holds {read} of the {length} bytes the header needs");
        return scanlines;
    }

    /// <summary>Undoes each scanline's filter in place, leaving every filter byte as it was.</summary>
    private static void Unfilter(byte[] scanlines, Header header, string name)
    {
        int rowBytes = header.RowBytes, unit = header.FilterUnit;
        // The filters see zeros above the first row.
        ReadOnlySpan<byte> above = new byte[rowBytes];
        for (int y = 0; y < header.Height; y++)
        {
            int start = y * (rowBytes + 1);
            var filter = (FilterType)scanlines[start];
            if (!Enum.IsDefined(filter))
                throw new InvalidDataException($"{name}: row {y} has filter type {scanlines[start]}, not 0 to 4 (file damaged)");
            var row = scanlines.AsSpan(start + 1, rowBytes);
            for (int i = 0; i < row.Length; i++)
            {
                // Left and upper-left are already unfiltered: the row is rebuilt left to right.
                int left = i >= unit ? row[i - unit] : 0;
                int upLeft = i >= unit ? above[i - unit] : 0;
                row[i] += Predict(filter, left, above[i], upLeft);
            }
            above = row;
        }
    }

    private static byte Predict(FilterType filter, int left, int up, int upLeft) => filter switch
    {
        FilterType.Sub => (byte)left,
        FilterType.Up => (byte)up,
        FilterType.Average => (byte)((left + up) / 2),
        FilterType.Paeth => PaethPredictor(left, up, upLeft),
        _ => 0, // None
    };

    /// <summary>Whichever neighbour is closest to left + up - upLeft; ties go to left, then up.</summary>
    private static byte PaethPredictor(int left, int up, int upLeft)
    {
        int estimate = left + up - upLeft;
        int toLeft = Math.Abs(estimate - left), toUp = Math.Abs(estimate - up), toUpLeft = Math.Abs(estimate - upLeft);
        if (toLeft <= toUp && toLeft <= toUpLeft) return (byte)left;
        return (byte)(toUp <= toUpLeft ? up : upLeft);
    }

    /// <summary>Every sample, one byte each, row-major: 16-bit samples as their high byte, packed ones unpacked unscaled.</summary>
    private static byte[] ReadSamples(byte[] scanlines, Header header)
    {
        int samplesPerRow = header.Width * header.SamplesPerPixel, rowBytes = header.RowBytes;
        var samples = new byte[(long)samplesPerRow * header.Height];
        for (int y = 0; y < header.Height; y++)
        {
            var row = scanlines.AsSpan(y * (rowBytes + 1) + 1, rowBytes);
            var target = samples.AsSpan(y * samplesPerRow, samplesPerRow);
            for (int i = 0; i < target.Length; i++) target[i] = Sample(row, i, header.BitDepth);
        }
        return samples;
    }

    private static byte Sample(ReadOnlySpan<byte> row, int index, int bitDepth)
    {
        if (bitDepth == 8) return row[index];
        if (bitDepth == 16) return row[2 * index]; // big-endian: the high byte comes first
        // Packed samples fill each byte from its most significant bit.
        long bit = (long)index * bitDepth;
        int shift = 8 - bitDepth - (int)(bit % 8);
        return (byte)((row[(int)(bit / 8)] >> shift) & ((1 << bitDepth) - 1));
    }

    private static Image8 ToImage(byte[] samples, Chunks chunks, string name)
    {
        var header = chunks.Header;
        return header.ColorType switch
        {
            ColorType.Gray => new Image8(header.Width, header.Height, 1, ScaleGray(samples, header.BitDepth)),
            ColorType.GrayAlpha => new Image8(header.Width, header.Height, 4, GrayAlphaToRgba(samples)),
            ColorType.Palette => FromPalette(samples, chunks, name),
            _ => new Image8(header.Width, header.Height, header.SamplesPerPixel, samples),
        };
    }

    /// <summary>Stretches 1-, 2- and 4-bit gray levels over 0..255 so that the brightest level is white.</summary>
    private static byte[] ScaleGray(byte[] levels, int bitDepth)
    {
        if (bitDepth >= 8) return levels;
        int factor = 255 / ((1 << bitDepth) - 1);
        for (int i = 0; i < levels.Length; i++) levels[i] = (byte)(levels[i] * factor);
        return levels;
    }

    private static byte[] GrayAlphaToRgba(byte[] samples)
    {
        var rgba = new byte[samples.Length * 2];
        for (int pixel = 0; pixel < samples.Length / 2; pixel++)
        {
            byte gray = samples[2 * pixel];
            rgba[4 * pixel] = rgba[4 * pixel + 1] = rgba[4 * pixel + 2] = gray;
            rgba[4 * pixel + 3] = samples[2 * pixel + 1];
        }
        return rgba;
    }

    private static Image8 FromPalette(byte[] indices, Chunks chunks, string name)
    {
        var palette = chunks.Palette ?? throw new InvalidDataException($"{name}: a palette image without a PLTE chunk (file damaged)");
        if (palette.Length == 0 || palette.Length % 3 != 0 || palette.Length > 3 * 256)
            throw new InvalidDataException($"{name}: PLTE is {palette.Length} bytes long, not 1 to 256 RGB entries (file damaged)");
        var alphas = chunks.Alphas;
        int channels = alphas is null ? 3 : 4;
        var pixels = new byte[indices.Length * channels];
        for (int pixel = 0; pixel < indices.Length; pixel++)
        {
            int entry = indices[pixel];
            if (3 * entry >= palette.Length)
                throw new InvalidDataException($"{name}: pixel {pixel} uses palette entry {entry}, but PLTE has only {palette.Length / 3} (file damaged)");
            palette.AsSpan(3 * entry, 3).CopyTo(pixels.AsSpan(channels * pixel));
            // tRNS may list fewer alphas than the palette has entries; the rest are opaque.
            if (alphas is not null) pixels[4 * pixel + 3] = entry < alphas.Length ? alphas[entry] : (byte)255;
        }
        var header = chunks.Header;
        return new Image8(header.Width, header.Height, channels, pixels);
    }

    // ---- writing ----

    private static byte[] HeaderBytes(Image8 image)
    {
        var body = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(body, (uint)image.Width);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(4), (uint)image.Height);
        body[8] = 8;
        body[9] = (byte)(image.Channels switch { 1 => ColorType.Gray, 3 => ColorType.Rgb, _ => ColorType.Rgba });
        // Bytes 10 to 12 stay 0: zlib compression, filter method 0, no interlacing.
        return body;
    }

    /// <summary>
    /// Each row behind its filter byte, filtered by whichever type gives the smallest sum of the bytes read as
    /// signed values: the usual cheap heuristic, since rows of small differences compress best.
    /// </summary>
    private static byte[] FilteredScanlines(Image8 image)
    {
        int rowBytes = image.Width * image.Channels;
        var scanlines = new byte[checked((rowBytes + 1) * image.Height)];
        var candidate = new byte[rowBytes];
        ReadOnlySpan<byte> above = new byte[rowBytes];
        for (int y = 0; y < image.Height; y++)
        {
            var row = image.Pixels.AsSpan(y * rowBytes, rowBytes);
            var scanline = scanlines.AsSpan(y * (rowBytes + 1), rowBytes + 1);
            long bestScore = long.MaxValue;
            foreach (var filter in AllFilters)
            {
                long score = ApplyFilter(filter, row, above, image.Channels, candidate);
                if (score >= bestScore) continue;
                bestScore = score;
                scanline[0] = (byte)filter;
                candidate.CopyTo(scanline[1..]);
            }
            above = row;
        }
        return scanlines;
    }

    /// <summary>Writes the filtered row into <paramref name="filtered"/> and returns its score (sum of |signed byte|).</summary>
    private static long ApplyFilter(FilterType filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> above, int unit, Span<byte> filtered)
    {
        long score = 0;
        for (int i = 0; i < row.Length; i++)
        {
            int left = i >= unit ? row[i - unit] : 0;
            int upLeft = i >= unit ? above[i - unit] : 0;
            filtered[i] = (byte)(row[i] - Predict(filter, left, above[i], upLeft));
            score += Math.Abs((int)(sbyte)filtered[i]);
        }
        return score;
    }

    private static byte[] Deflate(byte[] data)
    {
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
            zlib.Write(data);
        return compressed.ToArray();
    }

    private static void WriteChunk(Stream output, string type, ReadOnlySpan<byte> body)
    {
        var typeAndBody = new byte[4 + body.Length];
        Encoding.ASCII.GetBytes(type, typeAndBody);
        body.CopyTo(typeAndBody.AsSpan(4));
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)body.Length);
        output.Write(word);
        output.Write(typeAndBody);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Of(typeAndBody));
        output.Write(word);
    }
}

/// <summary>The CRC-32 PNG puts after each chunk (reflected, polynomial 0xEDB88320, inverted in and out), over type and body.</summary>
file static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    public static uint Of(ReadOnlySpan<byte> bytes)
    {
        uint crc = uint.MaxValue;
        foreach (byte b in bytes) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return ~crc;
    }

    /// <summary>The remainder of every byte value, so that the loop above divides a byte at a time instead of a bit.</summary>
    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint value = 0; value < 256; value++)
        {
            uint remainder = value;
            for (int bit = 0; bit < 8; bit++)
                remainder = (remainder & 1) != 0 ? 0xEDB88320 ^ (remainder >> 1) : remainder >> 1;
            table[value] = remainder;
        }
        return table;
    }
}
