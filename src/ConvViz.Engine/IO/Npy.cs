using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace ConvViz.Engine.IO;

/// <summary>A float32 array read from or written to a NumPy .npy file: row-major data and its shape.</summary>
public sealed record NpyArray(int[] Shape, float[] Data)
{
    public long ElementCount => Data.Length;
    public override string ToString() => $"({string.Join(", ", Shape)}) float32";
}

/// <summary>
/// The NumPy .npy format (versions 1, 2 and 3): a magic string, a version, a header length, a
/// Python dict literal with 'descr', 'fortran_order' and 'shape', then the raw data. ConvViz reads
/// and writes little-endian float32 in C order only and names anything else in its error.
/// </summary>
public static partial class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        return Parse(InputFiles.ReadAllBytes(path, "a NumPy .npy file"), path);
    }

    /// <summary>Parses .npy bytes; <paramref name="name"/> names the source in errors.</summary>
    public static NpyArray Parse(ReadOnlySpan<byte> bytes, string name)
    {
        if (bytes.Length < 10 || !bytes[..6].SequenceEqual(Magic))
            throw new InvalidDataException($"{name}: not a NumPy .npy file (it does not start with \\x93NUMPY)");
        int major = bytes[6];
        int headerLength, headerStart;
        switch (major)
        {
            case 1:
                headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);
                headerStart = 10;
                break;
            case 2 or 3:
                if (bytes.Length < 12) throw new InvalidDataException($"{name}: truncated .npy header");
                uint length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
                if (length > bytes.Length) throw new InvalidDataException($"{name}: truncated .npy header (it claims {length} bytes)");
                headerLength = (int)length;
                headerStart = 12;
                break;
            default:
                throw new InvalidDataException($"{name}: .npy format version {major}.{bytes[7]} is not supported (expected 1, 2 or 3)");
        }
        if (headerStart + headerLength > bytes.Length) throw new InvalidDataException($"{name}: truncated .npy header");
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(bytes.Slice(headerStart, headerLength));

        // The dict holds exactly the three entries: anything else (a stray quote, another key) is a damaged header.
        string rest = ShapePattern().Replace(FortranPattern().Replace(DescrPattern().Replace(header, ""), ""), "");
        if (rest.Any(c => c is not ('{' or '}' or ',' or ' ' or '\n' or '\t')) || rest.Count(c => c == '{') != 1 || rest.Count(c => c == '}') != 1)
            throw new InvalidDataException($"{name}: the .npy header is not a dict of 'descr', 'fortran_order' and 'shape' (damaged header)");
        string descr = Field(header, DescrPattern(), "descr", name);
        if (descr != "<f4" && descr != "=f4" && !(descr == "|f4" && BitConverter.IsLittleEndian))
            throw new InvalidDataException($"{name}: dtype '{descr}' is not supported; expected little-endian float32 ('<f4')");
        if (Field(header, FortranPattern(), "fortran_order", name) != "False")
            throw new InvalidDataException($"{name}: Fortran-ordered arrays are not supported; expected C order (numpy.ascontiguousarray)");
        string shapeText = Field(header, ShapePattern(), "shape", name);
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => int.TryParse(d.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out int v)
                ? v : throw new InvalidDataException($"{name}: bad dimension '{d}' in shape ({shapeText})"))
            .ToArray();

        // Every dimension is below 2^31, so the running product, capped at the bytes present, never overflows.
        long count = 1;
        long available = (bytes.Length - headerStart - headerLength) / 4;
        foreach (int d in shape) count = Math.Min(count * d, available + 1);
        var data = bytes[(headerStart + headerLength)..];
        if (data.Length != count * 4)
            throw new InvalidDataException($"{name}: shape ({string.Join(", ", shape)}) needs {ByteCount(shape)} bytes of float32 data, the file has {data.Length}");
        var floats = new float[count];
        for (int i = 0; i < floats.Length; i++) floats[i] = BinaryPrimitives.ReadSingleLittleEndian(data[(4 * i)..]);
        return new NpyArray(shape, floats);
    }

    private static string ByteCount(int[] shape) =>
        shape.Aggregate(System.Numerics.BigInteger.One, (a, d) => a * d) * 4 is var bytes && bytes < long.MaxValue ? ((long)bytes).ToString("N0", CultureInfo.InvariantCulture) : bytes.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes float32 data of the given shape (C order), format version 1 (2 if the header needs it).</summary>
    public static void Write(string path, ReadOnlySpan<float> data, ReadOnlySpan<int> shape)
    {
        long count = 1;
        foreach (int d in shape) count *= d;
        if (count != data.Length)
            throw new ArgumentException($"{path}: shape ({string.Join(", ", shape.ToArray())}) holds {count} values, {data.Length} given");
        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape.ToArray());
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        // Magic, version, length field, then the dict padded with spaces and a newline to a multiple of 64.
        bool v2 = dict.Length + 1 + 10 > ushort.MaxValue;
        int prefix = v2 ? 12 : 10;
        int total = (prefix + dict.Length + 1 + 63) / 64 * 64;
        string header = dict.PadRight(total - prefix - 1) + "\n";

        var bytes = new byte[total + data.Length * 4L];
        Magic.CopyTo(bytes, 0);
        bytes[6] = (byte)(v2 ? 2 : 1);
        bytes[7] = 0;
        if (v2) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)header.Length);
        else BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        Encoding.Latin1.GetBytes(header, bytes.AsSpan(prefix));
        for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(total + 4 * i), data[i]);
        AtomicFile.WriteAllBytes(path, bytes);
    }

    private static string Field(string header, Regex pattern, string key, string name)
    {
        var match = pattern.Match(header);
        if (!match.Success) throw new InvalidDataException($"{name}: the .npy header has no '{key}' entry");
        return match.Groups[1].Value;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
