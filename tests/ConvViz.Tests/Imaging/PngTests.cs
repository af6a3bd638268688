using System.Buffers.Binary;
using System.Text;
using ConvViz.Engine.Imaging;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Imaging;

/// <summary>
/// PNG through <see cref="ImageFile"/> (SkiaSharp's libpng): exact round trips, files from other encoders
/// (tests/fixtures/png, made by Pillow and by hand with Python's zlib; see make_pngs.py there), and damaged files.
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
        var read = ImageFile.Decode(ImageFile.EncodePng(image), "random.png");
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
        ImageFile.Write(path, image);
        var read = ImageFile.Read(path);
        Assert.Equal((45, 30, channels), (read.Width, read.Height, read.Channels));
        Assert.Equal(image.Pixels, read.Pixels);
    }

    /// <summary>Gray stays a 1-byte gray PNG and RGB a 3-byte one (a file a quarter or a third the size of RGBA).</summary>
    [Theory]
    [InlineData(1, 0)]
    [InlineData(3, 2)]
    [InlineData(4, 6)]
    public void WrittenFilesKeepTheChannelLayout(int channels, int colorType)
    {
        var bytes = ImageFile.EncodePng(GradientImage(40, 12, channels));
        var chunks = ChunksOf(bytes);
        Assert.Equal("IHDR", chunks[0].Type);
        Assert.Equal("IEND", chunks[^1].Type);
        var header = bytes.AsSpan(chunks[0].BodyStart, 13);
        Assert.Equal(40u, BinaryPrimitives.ReadUInt32BigEndian(header));
        Assert.Equal(12u, BinaryPrimitives.ReadUInt32BigEndian(header[4..]));
        Assert.Equal([8, (byte)colorType, 0, 0, 0], header[8..].ToArray());
    }

    [Fact]
    public void EmptyImagesCannotBeWritten()
    {
        var error = Assert.Throws<ArgumentException>(() => ImageFile.EncodePng(new Image8(0, 3, 1, [])));
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

    /// <summary>Every layout, depth and filter; Adam7 interlacing; 16-bit samples come out as their high byte
    /// (what Pillow gives for 16-bit colour; make_pngs.py shifts its 16-bit gray right by 8 to match).</summary>
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
    [InlineData("interlaced", 9, 10, 3)]
    public void ReadsPngsFromOtherEncodersExactly(string name, int height, int width, int channels)
    {
        var image = ImageFile.Read(Fixture($"{name}.png"));
        Assert.Equal((width, height, channels), (image.Width, image.Height, image.Channels));
        var expected = File.ReadAllBytes(Fixture($"{name}.{height}x{width}x{channels}.bin"));
        Assert.Equal(expected, image.Pixels);
    }

    /// <summary>libpng checks the CRC of every chunk it reads before the pixels are whole; IEND, after
    /// them, it does not read.</summary>
    [Theory]
    [InlineData("IHDR", "its header")]
    [InlineData("IDAT", "its pixel data")]
    public void ABadCrcIsRefusedAsCorrupt(string chunkType, string part)
    {
        var bytes = File.ReadAllBytes(Fixture("rgb8.png"));
        var chunk = ChunksOf(bytes).First(c => c.Type == chunkType);
        bytes[chunk.BodyStart + chunk.Length / 2] ^= 0x20;
        AssertRefused(bytes, $"corrupt PNG file: {part}");
    }

    [Fact]
    public void AFileCutInHalfIsRefused()
    {
        var bytes = File.ReadAllBytes(Fixture("rgb8.png"));
        AssertRefused(bytes[..(bytes.Length / 2)], "truncated PNG file: it ends before its IEND chunk");
    }

    /// <summary>libpng stops reading after the last row, so a file whose pixels are whole but whose IEND is
    /// missing would decode: the reader looks for IEND itself.</summary>
    [Fact]
    public void AFileWithoutIendIsRefused()
    {
        var bytes = File.ReadAllBytes(Fixture("gray8.png"));
        AssertRefused(bytes[..^12], "truncated PNG file: it ends before its IEND chunk");
    }

    [Fact]
    public void ACutZlibStreamIsRefused()
    {
        string path = Fixture("truncated_zlib.png");
        var error = Assert.Throws<InvalidDataException>(() => ImageFile.Read(path));
        Assert.Equal($"{path}: corrupt PNG file: its pixel data is damaged", error.Message);
    }

    [Fact]
    public void EmptyDataIsNoImage()
    {
        AssertRefused([], "not a PNG, JPEG, WebP, GIF, BMP, PGM or PPM image (unrecognized first bytes)");
        AssertRefused([0x89, (byte)'P', (byte)'N'], "not a PNG, JPEG, WebP, GIF, BMP, PGM or PPM image");
    }

    [Fact]
    public void AMissingFileIsNamed()
    {
        string path = Path.Combine(folder, "absent.png");
        var error = Assert.Throws<FileNotFoundException>(() => ImageFile.Read(path));
        Assert.StartsWith(path, error.Message);
    }

    private static void AssertRefused(byte[] bytes, string reason)
    {
        var error = Assert.Throws<InvalidDataException>(() => ImageFile.Decode(bytes, "damaged.png"));
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
}
