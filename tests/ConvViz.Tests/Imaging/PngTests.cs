using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using ConvViz.Engine.Imaging;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Imaging;

/// <summary>
/// The PNG reader and writer: exact round trips, files from other encoders (tests/fixtures/png, made by
/// Pillow and by hand with Python's zlib; see make_pngs.py there), and damaged files.
/// </summary>
public sealed class PngTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("convviz-png-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    private static string Fixture(string name) => Fixtures.Path("png", name);

    private static Image8 RandomImage(int width, int height, int channels, int seed)
    {
        var pixels = new byte[width * height * channels];
        new Random(seed).NextBytes(pixels);
        return new Image8(width, height, channels, pixels);
    }

    /// <summary>Smooth ramps, so that the writer's per-row choice lands on predicting filters, not just None.</summary>
    private static Image8 GradientImage(int width, int height, int channels)
    {
        var pixels = new byte[width * height * channels];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                    pixels[(y * width + x) * channels + c] = (byte)(x * (c + 1) + y * 3);
        return new Image8(width, height, channels, pixels);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 5, 1)]
    [InlineData(33, 17, 1)]
    [InlineData(1, 1, 3)]
    [InlineData(7, 5, 3)]
    [InlineData(33, 17, 3)]
    [InlineData(1, 1, 4)]
    [InlineData(7, 5, 4)]
    [InlineData(33, 17, 4)]
    public void RandomImagesRoundTripExactly(int width, int height, int channels)
    {
        var image = RandomImage(width, height, channels, seed: 1000 * channels + width);
        var read = Png.Decode(Png.Encode(image), "random.png");
        Assert.Equal((width, height, channels), (read.Width, read.Height, read.Channels));
        Assert.Equal(image.Pixels, read.Pixels);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    public void SmoothImagesRoundTripExactlyThroughAFile(int channels)
    {
        var image = GradientImage(45, 30, channels);
        string path = Path.Combine(folder, "sub", $"gradient{channels}.png");
        Png.Write(path, image);
        var read = Png.Read(path);
        Assert.Equal((45, 30, channels), (read.Width, read.Height, read.Channels));
        Assert.Equal(image.Pixels, read.Pixels);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(3, 2)]
    [InlineData(4, 6)]
    public void WrittenFilesHoldOnlyHeaderDataAndEnd(int channels, int colorType)
    {
        var bytes = Png.Encode(GradientImage(40, 12, channels));
        var chunks = ChunksOf(bytes);
        Assert.Equal(["IHDR", "IDAT", "IEND"], chunks.Select(c => c.Type));
        var header = bytes.AsSpan(chunks[0].BodyStart, 13);
        Assert.Equal(40u, BinaryPrimitives.ReadUInt32BigEndian(header));
        Assert.Equal(12u, BinaryPrimitives.ReadUInt32BigEndian(header[4..]));
        Assert.Equal([8, (byte)colorType, 0, 0, 0], header[8..].ToArray());

        // Every scanline starts with a filter type 0-4, and a smooth image gets more than one of them.
        int stride = 40 * channels + 1;
        var scanlines = Inflate(bytes.AsSpan(chunks[1].BodyStart, chunks[1].Length).ToArray());
        Assert.Equal(stride * 12, scanlines.Length);
        var filters = Enumerable.Range(0, 12).Select(y => scanlines[y * stride]).ToHashSet();
        Assert.All(filters, f => Assert.InRange(f, (byte)0, (byte)4));
        Assert.True(filters.Count > 1, $"only filter types {string.Join(", ", filters)} were used");
    }

    [Fact]
    public void EmptyImagesCannotBeWritten()
    {
        var error = Assert.Throws<ArgumentException>(() => Png.Encode(new Image8(0, 3, 1, [])));
        Assert.Contains("0x3", error.Message);
    }

    [Fact]
    public void ImagesCheckTheirPixelCount()
    {
        var error = Assert.Throws<ArgumentException>(() => new Image8(7, 5, 3, new byte[100]));
        Assert.Contains("7x5", error.Message);
        Assert.Contains("105", error.Message);
        Assert.Contains("100", error.Message);
    }

    [Theory]
    [InlineData("gray8", 21, 29, 1)]
    [InlineData("gray1", 9, 13, 1)]
    [InlineData("gray2", 7, 11, 1)]
    [InlineData("gray4", 6, 9, 1)]
    [InlineData("gray16", 10, 15, 1)]
    [InlineData("gray_alpha", 12, 17, 4)]
    [InlineData("rgb8", 19, 31, 3)]
    [InlineData("rgb16", 8, 12, 3)]
    [InlineData("rgba8", 14, 23, 4)]
    [InlineData("palette8_trns", 15, 20, 4)]
    [InlineData("palette4", 10, 21, 3)]
    [InlineData("palette2_trns", 7, 11, 4)]
    [InlineData("palette1", 6, 10, 3)]
    [InlineData("filters_rgb8", 10, 16, 3)]
    [InlineData("filters_rgba16", 10, 9, 4)]
    public void ReadsPngsFromOtherEncodersExactly(string name, int height, int width, int channels)
    {
        var image = Png.Read(Fixture($"{name}.png"));
        Assert.Equal((width, height, channels), (image.Width, image.Height, image.Channels));
        var expected = File.ReadAllBytes(Fixture($"{name}.{height}x{width}x{channels}.bin"));
        Assert.Equal(expected, image.Pixels);
    }

    [Theory]
    [InlineData("IHDR")]
    [InlineData("IDAT")]
    [InlineData("IEND")]
    public void ABadCrcIsRefused(string chunkType)
    {
        var bytes = File.ReadAllBytes(Fixture("rgb8.png"));
        var chunk = ChunksOf(bytes).First(c => c.Type == chunkType);
        // IEND has no body, so its CRC itself is damaged; elsewhere one body byte is.
        int damaged = chunk.Length > 0 ? chunk.BodyStart + chunk.Length / 2 : chunk.BodyStart;
        bytes[damaged] ^= 0x20;
        AssertRefused(bytes, $"chunk {chunkType} has a bad CRC");
    }

    [Fact]
    public void AFileCutInHalfIsRefused()
    {
        var bytes = File.ReadAllBytes(Fixture("rgb8.png"));
        AssertRefused(bytes[..(bytes.Length / 2)], "truncated");
    }

    [Fact]
    public void AFileWithoutIendIsRefused()
    {
        var bytes = File.ReadAllBytes(Fixture("gray8.png"));
        AssertRefused(bytes[..^12], "the file ends before its IEND chunk");
    }

    [Fact]
    public void ACutZlibStreamIsRefused()
    {
        string path = Fixture("truncated_zlib.png");
        var error = Assert.Throws<InvalidDataException>(() => Png.Read(path));
        Assert.StartsWith(path, error.Message);
        Assert.Contains("truncated image data", error.Message);
    }

    [Fact]
    public void OtherFilesAreNotPngs()
    {
        var bytes = Encoding.ASCII.GetBytes("P5\n2 2\n255\n\0\0\0\0");
        AssertRefused(bytes, "not a PNG file");
        AssertRefused([], "not a PNG file");
    }

    [Fact]
    public void InterlacedPngsAreRefusedWithAHint()
    {
        string path = Fixture("interlaced.png");
        var error = Assert.Throws<InvalidDataException>(() => Png.Read(path));
        Assert.Equal($"{path}: interlaced (Adam7) PNGs are not supported; save it without interlacing", error.Message);
    }

    [Fact]
    public void AMissingFileIsNamed()
    {
        string path = Path.Combine(folder, "absent.png");
        var error = Assert.Throws<FileNotFoundException>(() => Png.Read(path));
        Assert.StartsWith(path, error.Message);
    }

    private static void AssertRefused(byte[] bytes, string reason)
    {
        var error = Assert.Throws<InvalidDataException>(() => Png.Decode(bytes, "damaged.png"));
        Assert.StartsWith("damaged.png: ", error.Message);
        Assert.Contains(reason, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    private sealed record Chunk(string Type, int BodyStart, int Length);

    /// <summary>The chunks after the signature, found by their length fields alone (no CRC check).</summary>
    private static List<Chunk> ChunksOf(byte[] png)
    {
        var chunks = new List<Chunk>();
        for (int position = 8; position < png.Length;)
        {
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(position));
            chunks.Add(new Chunk(Encoding.ASCII.GetString(png, position + 4, 4), position + 8, length));
            position += 12 + length;
        }
        return chunks;
    }

    private static byte[] Inflate(byte[] zlibStream)
    {
        using var zlib = new ZLibStream(new MemoryStream(zlibStream), CompressionMode.Decompress);
        using var inflated = new MemoryStream();
        zlib.CopyTo(inflated);
        return inflated.ToArray();
    }
}
