using System.Buffers.Binary;
using System.IO.Compression;
using ConvViz.Engine.IO;

namespace ConvViz.Engine.Data;

/// <summary>An IDX array of unsigned bytes (the only element type MNIST-style data sets use): its dimensions and data, row-major.</summary>
public sealed record IdxArray(int[] Dimensions, byte[] Data);

/// <summary>
/// The IDX format of LeCun's MNIST files: two zero bytes, an element-type byte (0x08 = unsigned
/// byte), a rank byte, then each dimension as a big-endian int32, then the data. A file starting
/// with the gzip magic (1f 8b) is decompressed on the fly.
/// </summary>
public static class Idx
{
    private const byte UnsignedByte = 0x08;

    public static IdxArray Read(string path)
    {
        using var file = ConvViz.Engine.IO.InputFiles.OpenRead(path, "an IDX file (MNIST format, gzipped or not)");
        Span<byte> magic = stackalloc byte[2];
        int got = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false);
        file.Position = 0;
        bool gzipped = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        using var stream = gzipped ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        try
        {
            return Read(stream, path);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            // GZipStream's own errors (a cut or corrupted .gz) do not name the file.
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    public static IdxArray Read(Stream stream, string name)
    {
        var header = new byte[4];
        if (stream.ReadAtLeast(header, 4, throwOnEndOfStream: false) < 4)
            throw new InvalidDataException($"{name}: truncated: shorter than the 4-byte IDX header");
        if (header[0] != 0 || header[1] != 0)
            throw new InvalidDataException($"{name}: not an IDX file (it must start with two zero bytes, or be gzipped)");
        if (header[2] != UnsignedByte)
            throw new InvalidDataException($"{name}: IDX element type 0x{header[2]:x2} is not supported; expected 0x08 (unsigned byte)");
        int rank = header[3];
        if (rank < 1) throw new InvalidDataException($"{name}: IDX rank 0; expected at least one dimension");
        var dimBytes = new byte[4 * rank];
        if (stream.ReadAtLeast(dimBytes, dimBytes.Length, throwOnEndOfStream: false) < dimBytes.Length)
            throw new InvalidDataException($"{name}: truncated inside the header's {rank} dimensions");
        var dims = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(dimBytes.AsSpan(4 * i));
            if (dims[i] < 0) throw new InvalidDataException($"{name}: IDX dimension {i} is negative ({dims[i]})");
            count *= dims[i];
            if (count > Array.MaxLength) throw new InvalidDataException($"{name}: the header ({string.Join(" x ", dims.Take(i + 1))}...) promises more elements than one array can hold");
        }
        // The counts are checked against the data present before the data is allocated: a seekable
        // file knows its length; a gzip stream is read in pieces, so a short one allocates no more than it holds.
        if (stream.CanSeek && stream.Length - stream.Position < count)
            throw Truncated(name, dims, count, stream.Length - stream.Position);
        if (!stream.CanSeek) return new IdxArray(dims, ReadInPieces(stream, count, name, dims));
        var data = new byte[count];
        int read = stream.ReadAtLeast(data, data.Length, throwOnEndOfStream: false);
        if (read < data.Length) throw Truncated(name, dims, count, read);
        return new IdxArray(dims, data);
    }

    private static byte[] ReadInPieces(Stream stream, long count, string name, int[] dims)
    {
        using var buffer = new MemoryStream();
        var piece = new byte[Math.Min(1 << 20, count)];
        while (buffer.Length < count)
        {
            int got = stream.Read(piece, 0, (int)Math.Min(piece.Length, count - buffer.Length));
            if (got == 0) throw Truncated(name, dims, count, buffer.Length);
            buffer.Write(piece, 0, got);
        }
        return buffer.ToArray();
    }

    private static InvalidDataException Truncated(string name, int[] dims, long count, long present) =>
        new($"{name}: truncated: the header ({string.Join(" x ", dims)}) promises {count} bytes of data, the file has {present}");

    /// <summary>Writes an unsigned-byte IDX file, gzipped when the path ends in .gz.</summary>
    public static void Write(string path, IdxArray array)
    {
        long count = array.Dimensions.Aggregate(1L, (a, d) => a * d);
        if (count != array.Data.Length)
            throw new ArgumentException($"IDX dimensions ({string.Join(" x ", array.Dimensions)}) hold {count} bytes, data has {array.Data.Length}");
        bool gzip = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        AtomicFile.Write(path, file =>
        {
            // The gzip layer is closed here to flush its tail; the file itself stays open for AtomicFile to commit.
            using var zip = gzip ? new GZipStream(file, CompressionLevel.SmallestSize, leaveOpen: true) : null;
            Stream stream = zip ?? file;
            stream.Write([0, 0, UnsignedByte, (byte)array.Dimensions.Length]);
            Span<byte> dim = stackalloc byte[4];
            foreach (int d in array.Dimensions)
            {
                BinaryPrimitives.WriteInt32BigEndian(dim, d);
                stream.Write(dim);
            }
            stream.Write(array.Data);
        });
    }
}
