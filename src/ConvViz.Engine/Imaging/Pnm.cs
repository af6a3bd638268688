using System.Text;

namespace ConvViz.Engine.Imaging;

/// <summary>
/// Netpbm gray and color maps: PGM (P2 text, P5 binary) and PPM (P3 text, P6 binary), any maxval up
/// to 65535, rescaled to 0..255; binary maxval above 255 stores two big-endian bytes per sample.
/// </summary>
internal static class Pnm
{
    public static bool IsPnm(ReadOnlySpan<byte> data) => data.Length >= 2 && data[0] == (byte)'P' && data[1] is (byte)'2' or (byte)'3' or (byte)'5' or (byte)'6';

    public static Image8 Decode(byte[] data, string name)
    {
        if (!IsPnm(data)) throw new InvalidDataException($"{name}: not a PGM or PPM file (P2, P3, P5 or P6)");
        char kind = (char)data[1];
        int channels = kind is '3' or '6' ? 3 : 1;
        bool text = kind is '2' or '3';
        int position = 2;
        int width = HeaderNumber(data, ref position, name, "width");
        int height = HeaderNumber(data, ref position, name, "height");
        int maxval = HeaderNumber(data, ref position, name, "maxval");
        ImageLimits.Check(width, height, name);
        if (maxval is < 1 or > 65535) throw new InvalidDataException($"{name}: maxval {maxval}; expected 1 to 65535");
        long samples = (long)width * height * channels;
        // Sizes are checked against the bytes present before the pixels are allocated.
        if (text)
        {
            if (samples > (data.Length - position + 1) / 2)
                throw new InvalidDataException($"{name}: truncated: {width}x{height}x{channels} text samples cannot fit in the {data.Length - position} bytes after the header");
            var pixels = new byte[samples];
            for (long i = 0; i < samples; i++)
                pixels[i] = Scale(HeaderNumber(data, ref position, name, "sample"), maxval, name);
            return new Image8(width, height, channels, pixels);
        }
        else
        {
            position++; // exactly one whitespace byte separates maxval from the raster
            int bytesPerSample = maxval > 255 ? 2 : 1;
            if (data.Length - position < samples * bytesPerSample)
                throw new InvalidDataException($"{name}: truncated: {width}x{height}x{channels} samples need {samples * bytesPerSample} bytes, the file has {Math.Max(0, data.Length - position)}");
            var pixels = new byte[samples];
            for (long i = 0; i < samples; i++)
            {
                int value = bytesPerSample == 1 ? data[position + i] : data[position + 2 * i] << 8 | data[position + 2 * i + 1];
                pixels[i] = Scale(value, maxval, name);
            }
            return new Image8(width, height, channels, pixels);
        }
    }

    /// <summary>Writes binary PGM (1 channel) or PPM (3 channels).</summary>
    public static byte[] Encode(Image8 image)
    {
        if (image.Channels is not (1 or 3)) throw new ArgumentException($"PGM/PPM hold 1 or 3 channels, not {image.Channels}");
        var header = Encoding.ASCII.GetBytes($"P{(image.Channels == 1 ? 5 : 6)}\n{image.Width} {image.Height}\n255\n");
        return [.. header, .. image.Pixels];
    }

    private static byte Scale(int value, int maxval, string name) =>
        value > maxval ? throw new InvalidDataException($"{name}: sample {value} exceeds maxval {maxval}")
                       : (byte)((value * 255 + maxval / 2) / maxval);

    /// <summary>The next decimal number, skipping whitespace and # comments.</summary>
    private static int HeaderNumber(byte[] data, ref int position, string name, string what)
    {
        while (position < data.Length)
        {
            if (data[position] == '#')
                while (position < data.Length && data[position] != '\n') position++;
            else if (char.IsWhiteSpace((char)data[position])) position++;
            else break;
        }
        long value = 0;
        int start = position;
        while (position < data.Length && data[position] >= '0' && data[position] <= '9' && value <= int.MaxValue)
            value = value * 10 + data[position++] - '0';
        if (position == start) throw new InvalidDataException($"{name}: truncated or malformed: expected the {what} as a number at byte {start}");
        return (int)Math.Min(value, int.MaxValue);
    }
}
