using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;
using Xunit.Abstractions;

namespace ConvViz.Tests.Fuzz;

/// <summary>
/// Hostile images (PNG, JPEG, PGM/PPM header fields, truncations, bit flips, decompression bombs,
/// GIF/BMP/WebP), .npy headers, IDX data sets, and things that are not regular files (a FIFO, a
/// device, a directory, a link to /dev/zero), each through its library reader and through the
/// command line in process (see <see cref="FuzzRun"/> for what fails a case).
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class FileFuzzTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Bytes one case may allocate on its thread. The inputs are a few KB, or declare sizes
    /// that must be refused before decoding; 64 MiB is far below any of the sizes they declare.</summary>
    private const long AllocationBudget = 64L << 20;

    private static readonly TimeSpan TimeBudget = TimeSpan.FromSeconds(20);

    private readonly string folder = FashionMnist.TempFolder();
    private readonly Random random = new(14);
    private int fileCounter;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private string WriteCase(byte[] bytes, string extension)
    {
        string path = Path.Combine(folder, $"case{fileCounter++ % 8}{extension}");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private void RunImage(FuzzRun run, string name, bool? valid, byte[] bytes, string extension = ".img")
    {
        string path = WriteCase(bytes, extension);
        run.Library(name, valid, () => ImageFile.Read(path));
        run.Cli(name, valid, "forward", "--input", path);
    }

    // ---------------------------------------------------------------- images

    private static byte[] Chunk(string type, byte[] body)
    {
        var chunk = new byte[12 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, body.Length);
        Encoding.ASCII.GetBytes(type, chunk.AsSpan(4));
        body.CopyTo(chunk, 8);
        FixCrc(chunk, 0);
        return chunk;
    }

    /// <summary>Recomputes the CRC of the chunk starting at <paramref name="offset"/>, so a mutation reaches the decoder.</summary>
    private static void FixCrc(byte[] png, int offset)
    {
        int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
        uint crc = Crc32(png.AsSpan(offset + 4, 4 + length));
        BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(offset + 8 + length), crc);
    }

    /// <summary>Fixes the CRC of every chunk whose length field still fits the file.</summary>
    private static void FixAllCrcs(byte[] png)
    {
        for (int offset = 8; offset + 12 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(offset));
            if (length < 0 || offset + 12L + length > png.Length) return;
            FixCrc(png, offset);
            offset += 12 + length;
        }
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>A PNG with an IHDR of any size and colour type whose IDAT holds <paramref name="raw"/> zlib-compressed.</summary>
    private static byte[] PngWith(uint width, uint height, byte bitDepth, byte colorType, byte[] raw)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = bitDepth;
        ihdr[9] = colorType;
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true)) zlib.Write(raw);
        return [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, .. Chunk("IHDR", ihdr), .. Chunk("IDAT", compressed.ToArray()), .. Chunk("IEND", [])];
    }

    private static Image8 Picture(int width, int height, int channels) =>
        new(width, height, channels, Enumerable.Range(0, width * height * channels).Select(i => (byte)(i * 37 % 251)).ToArray());

    [Fact]
    public void HostileImages_AreRefusedOrHarmless()
    {
        var run = new FuzzRun(output, "images", AllocationBudget, TimeBudget);
        foreach (var (kind, png) in new[] { ("gray", ImageFile.EncodePng(Picture(20, 16, 1))), ("rgb", ImageFile.EncodePng(Picture(20, 16, 3))), ("rgba", ImageFile.EncodePng(Picture(20, 16, 4))) })
        {
            RunImage(run, $"PNG {kind} unchanged", true, png);
            // IHDR fields (offsets within the file: width 16, height 20, depth 24, colour 25, compression 26, filter 27, interlace 28).
            foreach (uint size in new uint[] { 0, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 20_000_000, 65535, 100_000, 21, 17 })
                foreach (int offset in new[] { 16, 20 })
                {
                    var mutated = (byte[])png.Clone();
                    BinaryPrimitives.WriteUInt32BigEndian(mutated.AsSpan(offset), size);
                    FixCrc(mutated, 8);
                    RunImage(run, $"PNG {kind} {(offset == 16 ? "width" : "height")} {size}", false, mutated);
                }
            foreach (int offset in new[] { 24, 25, 26, 27, 28 })
                foreach (byte value in new byte[] { 0, 1, 2, 3, 4, 6, 7, 8, 16, 255 })
                {
                    var mutated = (byte[])png.Clone();
                    if (mutated[offset] == value) continue;
                    mutated[offset] = value;
                    FixCrc(mutated, 8);
                    RunImage(run, $"PNG {kind} IHDR byte {offset} = {value}", null, mutated);
                }
            for (int i = 0; i < 40; i++)
            {
                var mutated = (byte[])png.Clone();
                int at = 8 + random.Next(mutated.Length - 8);
                mutated[at] ^= (byte)(1 << random.Next(8));
                bool fixCrc = i % 2 == 0;
                if (fixCrc) FixAllCrcs(mutated);
                RunImage(run, $"PNG {kind} bit flip at {at}{(fixCrc ? " with CRCs fixed" : "")}", null, mutated);
            }
            for (int i = 0; i < 10; i++)
            {
                int length = random.Next(png.Length);
                RunImage(run, $"PNG {kind} cut to {length} bytes", false, png[..length]);
            }
        }

        // Decompression bombs: a tiny file declaring 400 MB or 2 GB, and a real bomb (all zeros, 4 MP)
        // that decodes within a lowered limit and is refused one pixel row over it.
        var megabyte = new byte[1 << 20];
        RunImage(run, "PNG 20000x20000 gray (400 MB) from 1 MB of zeros", false, PngWith(20000, 20000, 8, 0, megabyte));
        RunImage(run, "PNG 46341x46341 gray (2 GB) from 1 MB of zeros", false, PngWith(46341, 46341, 8, 0, megabyte));
        RunImage(run, "PNG 20000000x1 gray", false, PngWith(20_000_000, 1, 8, 0, megabyte));
        RunImage(run, "PNG 10001x10000 RGBA over the default limit", false, PngWith(10001, 10000, 8, 6, megabyte));
        var bombRows = new byte[2000 * 2001];
        string bomb = WriteCase(PngWith(2000, 2000, 8, 0, bombRows[..(2001 * 2000)]), ".png");
        string overBomb = WriteCase(PngWith(2000, 2001, 8, 0, bombRows.Concat(new byte[2001]).ToArray()), ".png");
        long previous = ImageLimits.MaxPixels;
        try
        {
            ImageLimits.MaxPixels = 4_000_000;
            run.Library("PNG bomb 2000x2000 at a 4 MP limit", true, () => ImageFile.Read(bomb));
            run.Library("PNG bomb 2000x2001 at a 4 MP limit", false, () => ImageFile.Read(overBomb));
        }
        finally
        {
            ImageLimits.MaxPixels = previous;
        }
        run.Cli("PNG bomb 2000x2000 at a 4 MP limit", true, "forward", "--input", bomb, "--max-image-pixels", "4000000");
        run.Cli("PNG bomb 2000x2001 at a 4 MP limit", false, "forward", "--input", overBomb, "--max-image-pixels", "4000000");

        foreach (string name in new[] { "gray.jpg", "rgb.jpg" })
        {
            var jpeg = File.ReadAllBytes(Fixtures.Path("images", name));
            RunImage(run, $"JPEG {name} unchanged", true, jpeg);
            int sof = FindMarker(jpeg, 0xC0, 0xC2);
            foreach (ushort size in new ushort[] { 0, 65535, 16384, 1 })
                foreach (int offset in new[] { sof + 5, sof + 7 })
                {
                    var mutated = (byte[])jpeg.Clone();
                    BinaryPrimitives.WriteUInt16BigEndian(mutated.AsSpan(offset), size);
                    // 0 is not a size; 65535 x 65535 and 16384 x 16384 are over 100 MP once both sides are set, one side alone may fit.
                    RunImage(run, $"JPEG {name} {(offset == sof + 5 ? "height" : "width")} {size}", size == 0 ? false : null, mutated);
                }
            foreach (ushort size in new ushort[] { 65535, 16384 })
            {
                var mutated = (byte[])jpeg.Clone();
                BinaryPrimitives.WriteUInt16BigEndian(mutated.AsSpan(sof + 5), size);
                BinaryPrimitives.WriteUInt16BigEndian(mutated.AsSpan(sof + 7), size);
                RunImage(run, $"JPEG {name} {size}x{size}", false, mutated);
            }
            for (int i = 0; i < 30; i++)
            {
                var mutated = (byte[])jpeg.Clone();
                for (int f = 0; f < 1 + i % 4; f++) mutated[3 + random.Next(mutated.Length - 3)] ^= (byte)(1 << random.Next(8));
                RunImage(run, $"JPEG {name} bit flips #{i}", null, mutated);
            }
            for (int i = 0; i < 10; i++)
            {
                int length = 3 + random.Next(sof + 9);
                RunImage(run, $"JPEG {name} cut to {length} bytes (inside its header)", false, jpeg[..length]);
            }
        }

        foreach (var (header, valid) in new (string, bool?)[]
                 {
                     ("P5 0 0 255\n", false), ("P5 2147483647 2147483647 255\n", false), ("P6 99999999999 1 255\n", false), ("P2 3 3 0\n1 2 3", false),
                     ("P5 4 4 65536\n", false), ("P5 4 4 255\n\u0001", false), ("P2 20000 20000 255\n0 0", false), ("P3 2 1 255\n1 2 3 4 5", false),
                     ("P5 -4 4 255\n", false), ("P5 4", false), ("P5", false), ("P2 2 1 255\n1 2", true), ("P5 2 1 255\n\u0001\u0002", true),
                     ("P5 2 1 65535\n\u0001\u0002\u0003\u0004", true), ("P3 1 1 255\n# comment\n1 2 3", true),
                 })
            RunImage(run, $"PNM '{header.Replace("\n", "\\n")}'", valid, header.Select(c => (byte)c).ToArray());
        foreach (string name in new[] { "gray.pgm", "rgb.ppm", "text.pgm", "text.ppm" })
        {
            var pnm = File.ReadAllBytes(Fixtures.Path("images", name));
            for (int i = 0; i < 10; i++)
            {
                var mutated = (byte[])pnm.Clone();
                mutated[2 + random.Next(Math.Min(20, mutated.Length - 2))] = (byte)"0123456789 #\n9x-"[random.Next(16)];
                RunImage(run, $"PNM {name} header byte changed #{i}", null, mutated);
            }
        }
        foreach (var (format, bytes) in new[] { ("GIF", "GIF89a\u0001\u0000\u0001\u0000"), ("BMP", "BM\u00ff\u00ff\u00ff\u00ff"), ("WebP", "RIFF\u00ff\u00ff\u00ff\u00ffWEBPVP8 ") })
            RunImage(run, $"{format} header", false, bytes.Select(c => (byte)c).ToArray());
        run.AssertClean();
    }

    private static int FindMarker(byte[] jpeg, params byte[] markers)
    {
        for (int i = 2; i + 1 < jpeg.Length; i++)
            if (jpeg[i] == 0xFF && markers.Contains(jpeg[i + 1])) return i;
        throw new InvalidDataException("no SOF marker in the fixture");
    }

    // ---------------------------------------------------------------- .npy

    private static byte[] NpyWith(string dict, byte major = 1, int? headerLength = null, int dataBytes = 28 * 28 * 4)
    {
        int prefix = major == 1 ? 10 : 12;
        string header = dict.PadRight((prefix + dict.Length + 1 + 63) / 64 * 64 - prefix - 1) + "\n";
        var bytes = new byte[prefix + header.Length + dataBytes];
        "\u0093NUMPY".Select(c => (byte)c).ToArray().CopyTo(bytes, 0);
        bytes[6] = major;
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)(headerLength ?? header.Length));
        else BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), headerLength ?? header.Length);
        Encoding.Latin1.GetBytes(header, bytes.AsSpan(prefix));
        for (int i = prefix + header.Length; i + 4 <= bytes.Length; i += 4) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i), 0.25f);
        return bytes;
    }

    [Fact]
    public void HostileNpyArrays_AreRefused()
    {
        var run = new FuzzRun(output, ".npy arrays", AllocationBudget, TimeBudget);
        const string Good = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 28, 28), }";
        void Case(string name, bool? valid, byte[] bytes, bool? cliValid = null)
        {
            string path = WriteCase(bytes, ".npy");
            run.Library(name, valid, () => Npy.Read(path));
            run.Cli(name, cliValid ?? valid, "forward", "--input", path);
        }
        Case("unchanged", true, NpyWith(Good));
        Case("version 2", true, NpyWith(Good, major: 2));
        foreach (string descr in new[] { "<f8", ">f4", "|u1", "<i4", "xyz", "", "<f4'" })
            Case($"descr '{descr}'", false, NpyWith(Good.Replace("<f4", descr)));
        Case("fortran order", false, NpyWith(Good.Replace("False", "True")));
        Case("no shape", false, NpyWith("{'descr': '<f4', 'fortran_order': False, }"));
        foreach (string shape in new[] { "2147483647, 2147483647", "-1,", "99999999999999999999,", "1, 1, 28", "0,", "1, 1, 28, 28, 1", "65536, 65536, 65536, 65536", "1, 1, 28, 28L", "a, b", "" })
            Case($"shape ({shape})", shape is "1, 1, 28, 28L" or "1, 1, 28, 28, 1", NpyWith(Good.Replace("1, 1, 28, 28", shape)),
                cliValid: shape == "1, 1, 28, 28L");
        // A well-formed array of the wrong shape for the model: the library reads it, the command refuses it.
        Case("shape (1, 3, 28, 28) for a gray model", true, NpyWith(Good.Replace("1, 1, 28", "1, 3, 28"), dataBytes: 3 * 28 * 28 * 4), cliValid: false);
        foreach (byte major in new byte[] { 0, 4, 255 })
            Case($"version {major}", false, NpyWith(Good, major));
        foreach (int length in new[] { 0, 65535, 7 })
            Case($"header length {length}", false, NpyWith(Good, headerLength: length));
        foreach (int length in new[] { int.MaxValue, -1, 1 << 30 })
            Case($"version 2 header length {length}", false, NpyWith(Good, major: 2, headerLength: length));
        var good = NpyWith(Good);
        for (int i = 0; i < 20; i++)
        {
            int length = random.Next(good.Length);
            Case($"cut to {length} bytes", false, good[..length]);
        }
        for (int i = 0; i < 30; i++)
        {
            var mutated = (byte[])good.Clone();
            mutated[random.Next(128)] ^= (byte)(1 << random.Next(8));
            Case($"header bit flip #{i}", null, mutated);
        }
        var nan = NpyWith(Good);
        BinaryPrimitives.WriteSingleLittleEndian(nan.AsSpan(200), float.NaN);
        Case("a NaN element", true, nan, cliValid: false);
        var infinity = NpyWith(Good);
        BinaryPrimitives.WriteSingleLittleEndian(infinity.AsSpan(300), float.PositiveInfinity);
        Case("an infinite element", true, infinity, cliValid: false);
        run.AssertClean();
    }

    // ---------------------------------------------------------------- IDX data sets

    private static byte[] IdxWith(byte type, byte rank, int[] dims, int dataBytes)
    {
        var bytes = new List<byte> { 0, 0, type, rank };
        foreach (int d in dims) bytes.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        // Seeded noise, so a gzipped copy is about as long as the data and a cut one loses data.
        var noise = new byte[dataBytes];
        new Random(dataBytes).NextBytes(noise);
        for (int i = 0; i < noise.Length; i++) noise[i] %= 10;
        bytes.AddRange(noise);
        return bytes.ToArray();
    }

    private static byte[] Gzip(byte[] data)
    {
        using var stream = new MemoryStream();
        using (var zip = new GZipStream(stream, CompressionLevel.Fastest, leaveOpen: true)) zip.Write(data);
        return stream.ToArray();
    }

    [Fact]
    public void HostileIdxDataSets_AreRefused()
    {
        var run = new FuzzRun(output, "IDX data sets", AllocationBudget, TimeBudget);
        const int Count = 20;
        var goodImages = IdxWith(0x08, 3, [Count, 28, 28], Count * 28 * 28);
        var goodLabels = IdxWith(0x08, 1, [Count], Count);
        int caseNumber = 0;
        void Case(string name, bool? valid, byte[] images, byte[] labels, bool gzipImages = false)
        {
            string data = Path.Combine(folder, $"data{caseNumber++ % 4}");
            if (Directory.Exists(data)) Directory.Delete(data, recursive: true);
            Directory.CreateDirectory(data);
            string imagesPath = Path.Combine(data, gzipImages ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte");
            File.WriteAllBytes(imagesPath, gzipImages ? Gzip(images) : images);
            File.WriteAllBytes(Path.Combine(data, "t10k-labels-idx1-ubyte"), labels);
            run.Library(name, valid == true ? true : null, () => LabeledImages.LoadSplit(data, "t10k"));
            run.Cli(name, valid, "eval", "--data", data, "--split", "t10k");
        }
        Case("unchanged", true, goodImages, goodLabels);
        Case("gzipped", true, goodImages, goodLabels, gzipImages: true);
        foreach (int[] dims in new int[][] { [0, 28, 28], [int.MaxValue, 28, 28], [Count, 65536, 65536], [-1, 28, 28], [Count, 0, 28], [Count, 27, 28], [Count + 1, 28, 28] })
        {
            Case($"images dims ({string.Join(", ", dims)})", false, IdxWith(0x08, 3, dims, Count * 28 * 28), goodLabels);
            Case($"images dims ({string.Join(", ", dims)}) gzipped", false, IdxWith(0x08, 3, dims, Count * 28 * 28), goodLabels, gzipImages: true);
        }
        foreach (byte type in new byte[] { 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF })
            Case($"element type 0x{type:x2}", false, [.. goodImages[..2], type, .. goodImages[3..]], goodLabels);
        foreach (byte rank in new byte[] { 0, 1, 2, 4, 255 })
            Case($"rank {rank}", false, [.. goodImages[..3], rank, .. goodImages[4..]], goodLabels);
        foreach (int labels in new[] { 0, Count - 1, Count + 1, int.MaxValue, -1 })
            Case($"{labels} labels for {Count} images", false, goodImages, IdxWith(0x08, 1, [labels], Count));
        foreach (byte label in new byte[] { 10, 11, 255 })
        {
            var labels = (byte[])goodLabels.Clone();
            labels[^1] = label;
            Case($"label {label} in a 10-class set", false, goodImages, labels);
        }
        for (int i = 0; i < 15; i++)
        {
            int length = random.Next(goodImages.Length);
            Case($"images cut to {length} bytes", false, goodImages[..length], goodLabels);
            // The last 8 bytes of a gzip file are its CRC and length; .NET's GZipStream does not check them.
            var gzipped = Gzip(goodImages);
            int cut = Math.Min(length, gzipped.Length - 16);
            Case($"gzipped images cut to {cut} of {gzipped.Length} bytes", false, gzipped[..cut], goodLabels);
        }
        // A gzip bomb: a few KB that expand to 1 GB of zeros behind a header promising 2^31-1 images.
        var bombHeader = IdxWith(0x08, 3, [int.MaxValue, 28, 28], 0);
        Case("gzipped header promising 2^31-1 images", false, [.. bombHeader, .. new byte[4096]], goodLabels, gzipImages: true);
        run.AssertClean();
    }

    // ---------------------------------------------------------------- not regular files

    [Fact]
    public void ThingsThatAreNotRegularFiles_AreRefusedAtOnce()
    {
        var run = new FuzzRun(output, "not regular files", AllocationBudget, TimeSpan.FromSeconds(10));
        string fifo = Path.Combine(folder, "pipe");
        Process.Start("mkfifo", fifo).WaitForExit();
        Assert.True(File.Exists(fifo), "mkfifo made no FIFO");
        string zeroLink = Path.Combine(folder, "zero.png");
        File.CreateSymbolicLink(zeroLink, "/dev/zero");
        string fifoNpy = Path.Combine(folder, "pipe.npy");
        File.Move(fifo, fifoNpy);
        Process.Start("mkfifo", fifo).WaitForExit();
        string directory = Path.Combine(folder, "dir.png");
        Directory.CreateDirectory(directory);

        foreach (var (what, path) in new[] { ("FIFO", fifo), ("FIFO .npy", fifoNpy), ("link to /dev/zero", zeroLink), ("/dev/null", "/dev/null"), ("directory", directory) })
        {
            run.Library($"{what} as an image", false, () => ImageFile.Read(path));
            run.Library($"{what} as .npy", false, () => Npy.Read(path));
            run.Library($"{what} as IDX", false, () => Idx.Read(path));
            run.Library($"{what} as a model", false, () => ConvViz.Engine.Onnx.OnnxImporter.Load(path, new ConvViz.Engine.Backends.Cpu.CpuBackend(1)));
            run.Cli($"{what} as --input", false, "forward", "--input", path);
            run.Cli($"{what} as --model", false, "model", "info", "--model", path);
        }
        // A model bundle whose classes.txt is a FIFO, and a data set whose labels file is one.
        string bundle = Path.Combine(folder, "bundle");
        Directory.CreateDirectory(bundle);
        File.Copy(Fixtures.Path("onnx", "alexnet_style_opset13.onnx"), Path.Combine(bundle, "model.onnx"));
        Process.Start("mkfifo", Path.Combine(bundle, "classes.txt")).WaitForExit();
        run.Cli("classes.txt as a FIFO", false, "model", "info", "--model", bundle);
        string data = Path.Combine(folder, "data");
        Directory.CreateDirectory(data);
        File.WriteAllBytes(Path.Combine(data, "t10k-images-idx3-ubyte"), IdxWith(0x08, 3, [2, 28, 28], 2 * 28 * 28));
        Process.Start("mkfifo", Path.Combine(data, "t10k-labels-idx1-ubyte")).WaitForExit();
        run.Cli("labels as a FIFO", false, "eval", "--data", data, "--split", "t10k");
        run.AssertClean();
    }
}
