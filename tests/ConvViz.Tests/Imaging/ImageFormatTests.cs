using System.Buffers.Binary;
using ConvViz.Engine.Imaging;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Imaging;

/// <summary>
/// JPEG (progressive, CMYK, EXIF-oriented), WebP, GIF and BMP through <see cref="ImageFile"/> (SkiaSharp),
/// compared with the pixels Pillow decodes from the same files (tests/fixtures/images/make_formats.py);
/// truncated and corrupt files of every format; and round trips through the writers.
/// </summary>
public sealed class ImageFormatTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("convviz-formats-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>The fixture decoded by ConvViz, and Pillow's pixels from NAME.HxWxC.bin.</summary>
    private static (Image8 Image, byte[] Expected, int Width, int Height, int Channels) Fixture(string name)
    {
        string bin = Directory.GetFiles(Fixtures.Path("images"), name + ".*.bin").Single();
        var dims = Path.GetFileName(bin)[(name.Length + 1)..^4].Split('x').Select(int.Parse).ToArray();
        return (ImageFile.Read(Fixtures.Path("images", name)), File.ReadAllBytes(bin), dims[1], dims[0], dims[2]);
    }

    private static byte[] FixtureBytes(string name) => File.ReadAllBytes(Fixtures.Path("images", name));

    [Theory]
    [InlineData("lossless.webp")]
    [InlineData("alpha.webp")]
    [InlineData("rgb24.bmp")]
    [InlineData("palette8.bmp")]
    [InlineData("frames.gif")]
    public void LosslessFormats_DecodeExactlyAsPillow(string name)
    {
        var (image, expected, width, height, channels) = Fixture(name);
        Assert.Equal((width, height, channels), (image.Width, image.Height, image.Channels));
        Assert.Equal(expected, image.Pixels);
    }

    /// <summary>frames.gif's three frames are shifted copies with different palettes: matching Pillow's first
    /// frame exactly, and not the picture the last frame shows, is reading the first frame.</summary>
    [Fact]
    public void Gif_GivesItsFirstFrame()
    {
        var (image, expected, _, _, _) = Fixture("frames.gif");
        Assert.Equal(expected, image.Pixels);
        var rgb = Fixture("lossless.webp").Image; // the unshifted source picture, which frame 0 quantizes
        double meanDifference = image.Pixels.Zip(rgb.Pixels, (a, b) => Math.Abs(a - b)).Average();
        Assert.True(meanDifference < 8, $"frame 0 is {meanDifference:F1} levels from the source on average");
    }

    /// <summary>A transparent GIF reads as RGBA with Pillow's alphas. Pillow gives a fully transparent pixel its
    /// palette colour, Skia (0, 0, 0, 0): the colour of an invisible pixel is the decoder's choice.</summary>
    [Fact]
    public void TransparentGif_HasPillowsAlphaAndVisibleColours()
    {
        var (image, expected, width, height, channels) = Fixture("transparent.gif");
        Assert.Equal((width, height, 4), (image.Width, image.Height, channels));
        int transparent = 0;
        for (int i = 0; i < width * height; i++)
        {
            Assert.Equal(expected[4 * i + 3], image.Pixels[4 * i + 3]);
            if (expected[4 * i + 3] == 0)
            {
                transparent++;
                Assert.Equal([0, 0, 0, 0], image.Pixels[(4 * i)..(4 * i + 4)]);
            }
            else
                Assert.Equal(expected[(4 * i)..(4 * i + 3)], image.Pixels[(4 * i)..(4 * i + 3)]);
        }
        Assert.True(transparent >= width / 3 * height, $"only {transparent} transparent pixels");
    }

    /// <summary>
    /// Lossy formats decoded by two builds of one library: Pillow uses Debian's libjpeg-turbo and libwebp,
    /// SkiaSharp its own builds. JPEG lets decoders differ by a level per sample (IDCT accuracy, ISO/IEC
    /// 10918-2) and VP8 leaves the YUV to RGB conversion and chroma upsampling to the decoder, so another build
    /// may round differently by a level or two: pixels agree within 3 of 255, and on average within 1. (The two
    /// builds agree exactly today.) EXIF-oriented JPEGs are compared with Pillow's ImageOps.exif_transpose:
    /// orientations 5 to 8 swap the sides, and every one comes out upright.
    /// </summary>
    [Theory]
    [InlineData("progressive.jpg")]
    [InlineData("cmyk.jpg")]
    [InlineData("exif2.jpg")]
    [InlineData("exif3.jpg")]
    [InlineData("exif4.jpg")]
    [InlineData("exif5.jpg")]
    [InlineData("exif6.jpg")]
    [InlineData("exif7.jpg")]
    [InlineData("exif8.jpg")]
    [InlineData("lossy.webp")]
    public void LossyFormats_DecodeAsPillowWithinTolerance(string name)
    {
        var (image, expected, width, height, channels) = Fixture(name);
        Assert.Equal((width, height, channels), (image.Width, image.Height, image.Channels));
        var differences = image.Pixels.Zip(expected, (a, b) => Math.Abs(a - b)).ToArray();
        Assert.True(differences.Max() <= 3, $"largest difference {differences.Max()}");
        Assert.True(differences.Average() <= 1, $"mean difference {differences.Average():F2}");
    }

    /// <summary>The seven EXIF files hold one JPEG stream under different orientation tags: without the
    /// orientation applied they would all decode alike, so each must differ from the others.</summary>
    [Fact]
    public void ExifOrientations_AreApplied()
    {
        var upright = Enumerable.Range(2, 7).Select(o => ImageFile.Read(Fixtures.Path("images", $"exif{o}.jpg"))).ToArray();
        Assert.All(upright[..3], image => Assert.Equal((45, 27), (image.Width, image.Height)));
        Assert.All(upright[3..], image => Assert.Equal((27, 45), (image.Width, image.Height)));
        for (int a = 0; a < upright.Length; a++)
            for (int b = a + 1; b < upright.Length; b++)
                if (upright[a].Width == upright[b].Width)
                    Assert.NotEqual(upright[a].Pixels, upright[b].Pixels);
    }

    /// <summary>Cut files: one-line errors naming the file and saying "truncated", never a picture with black
    /// rows. Each format's cut points fall in its header and in its pixel data; PNG, JPEG, WebP and BMP are
    /// also cut by two bytes (the end of IEND, the end-of-image marker, the last pixels). A GIF is read up to
    /// its first frame, so its cuts fall before that frame ends.</summary>
    [Theory]
    [InlineData("ankle_boot.png", new[] { 0.1, 0.5, 0.9 }, true)]
    [InlineData("rgb.jpg", new[] { 0.1, 0.5, 0.9 }, true)]
    [InlineData("progressive.jpg", new[] { 0.3, 0.6, 0.9 }, true)]
    [InlineData("lossless.webp", new[] { 0.3, 0.6, 0.9 }, true)]
    [InlineData("lossy.webp", new[] { 0.3, 0.6, 0.9 }, true)]
    [InlineData("rgb24.bmp", new[] { 0.01, 0.3, 0.6, 0.9 }, true)]
    [InlineData("transparent.gif", new[] { 0.01, 0.3, 0.6, 0.9 }, false)]
    public void TruncatedFiles_AreRefusedInOneLine(string name, double[] cuts, bool cutTwoBytes)
    {
        var whole = FixtureBytes(name);
        var lengths = cuts.Select(f => (int)(whole.Length * f)).Concat(cutTwoBytes ? [whole.Length - 2] : []);
        string format = FormatName(name);
        foreach (int length in lengths)
        {
            string path = Path.Combine(folder, $"cut-{length}-{name}");
            File.WriteAllBytes(path, whole[..length]);
            var e = Assert.Throws<InvalidDataException>(() => ImageFile.Read(path));
            Assert.StartsWith($"{path}: truncated {format} file: ", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    /// <summary>
    /// Damaged files whose damage the decoder can see: one-line errors naming the file and saying "corrupt".
    /// (Damage inside a JPEG's entropy-coded scan decodes to wrong pixels without an error, in every libjpeg:
    /// nothing in the format can tell.)
    /// </summary>
    [Theory]
    [InlineData("ankle_boot.png", "a bad IDAT CRC", "its pixel data")]
    [InlineData("rgb.jpg", "Huffman table counts of 255", "its header")]
    [InlineData("rgb.jpg", "a sample precision of 7 bits", "its header")]
    [InlineData("lossless.webp", "a scrambled bitstream", "its pixel data")]
    [InlineData("lossy.webp", "a scrambled bitstream", "its pixel data")]
    [InlineData("transparent.gif", "an LZW code size of 15", "its pixel data")]
    [InlineData("rgb24.bmp", "7 bits per pixel", "its header")]
    public void CorruptFiles_AreRefusedInOneLine(string name, string damage, string part)
    {
        var bytes = FixtureBytes(name);
        Damage(bytes, damage);
        string path = Path.Combine(folder, $"corrupt-{name}");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => ImageFile.Read(path));
        Assert.StartsWith($"{path}: corrupt {FormatName(name)} file: {part} ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    private static void Damage(byte[] bytes, string damage)
    {
        switch (damage)
        {
            case "a bad IDAT CRC":
                bytes[bytes.AsSpan().IndexOf("IDAT"u8) + 6] ^= 0x20;
                break;
            case "Huffman table counts of 255":
                bytes.AsSpan(bytes.AsSpan().IndexOf([(byte)0xFF, (byte)0xC4]) + 5, 16).Fill(0xFF);
                break;
            case "a sample precision of 7 bits":
                bytes[bytes.AsSpan().IndexOf([(byte)0xFF, (byte)0xC0]) + 4] = 7;
                break;
            case "a scrambled bitstream":
                for (int i = 30; i < bytes.Length - 10; i += 3) bytes[i] ^= 0x5A;
                break;
            case "an LZW code size of 15":
                // The image descriptor (0x2C) is 10 bytes long; the minimum LZW code size follows (at most 8 in GIF).
                bytes[bytes.AsSpan().IndexOf((byte)0x2C) + 10] = 15;
                break;
            case "7 bits per pixel":
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(28), 7);
                break;
            default:
                throw new ArgumentException(damage);
        }
    }

    private static string FormatName(string file) => Path.GetExtension(file) switch
    {
        ".png" => "PNG",
        ".jpg" => "JPEG",
        ".webp" => "WebP",
        ".gif" => "GIF",
        _ => "BMP",
    };

    private static Image8 RandomImage(int width, int height, int channels, int seed)
    {
        var pixels = new byte[width * height * channels];
        new Random(seed).NextBytes(pixels);
        return new Image8(width, height, channels, pixels);
    }

    /// <summary>Lossless WebP keeps every visible pixel exactly; libwebp writes a fully transparent pixel as
    /// (0, 0, 0, 0), and stores gray as RGB (WebP has no gray layout).</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    public void LosslessWebP_RoundTripsExactly(int channels)
    {
        var image = RandomImage(37, 21, channels, seed: channels);
        string path = Path.Combine(folder, $"random{channels}.webp");
        ImageFile.Write(path, image);
        var read = ImageFile.Read(path);
        Assert.Equal((37, 21, channels == 1 ? 3 : channels), (read.Width, read.Height, read.Channels));
        for (int i = 0; i < 37 * 21; i++)
        {
            var expected = channels switch
            {
                1 => [image.Pixels[i], image.Pixels[i], image.Pixels[i]],
                3 => image.Pixels[(3 * i)..(3 * i + 3)],
                _ when image.Pixels[4 * i + 3] == 0 => new byte[4],
                _ => image.Pixels[(4 * i)..(4 * i + 4)],
            };
            Assert.Equal(expected, read.Pixels[(read.Channels * i)..(read.Channels * i + read.Channels)]);
        }
    }

    /// <summary>JPEG round trips stay within a few levels on average at quality 90 (the fixture's pixel noise,
    /// up to 12 levels, is what JPEG discards first) and drift further at lower qualities; gray stays 1 channel,
    /// and RGBA loses its alpha (JPEG holds none).</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    public void Jpeg_RoundTripsWithinTolerance(int channels)
    {
        var image = Fixture("lossless.webp").Image;
        var source = channels switch
        {
            1 => ImageTensors.ToChannels(image, 1),
            3 => image,
            _ => new Image8(image.Width, image.Height, 4,
                Enumerable.Range(0, image.Width * image.Height).SelectMany(i => new[] { image.Pixels[3 * i], image.Pixels[3 * i + 1], image.Pixels[3 * i + 2], (byte)(i % 256) }).ToArray()),
        };
        var rgbOfSource = channels == 4 ? ImageTensors.ToChannels(source, 3) : source;
        double MeanError(int quality)
        {
            var read = ImageFile.Decode(ImageFile.EncodeJpeg(source, quality), $"q{quality}.jpg");
            Assert.Equal((source.Width, source.Height, channels == 1 ? 1 : 3), (read.Width, read.Height, read.Channels));
            return read.Pixels.Zip(rgbOfSource.Pixels, (a, b) => Math.Abs(a - b)).Average();
        }
        double high = MeanError(90), low = MeanError(20);
        Assert.True(high <= 6, $"quality 90: mean error {high:F2}");
        Assert.True(low > high, $"quality 20 ({low:F2}) is no worse than 90 ({high:F2})");

        string path = Path.Combine(folder, "written.jpg");
        ImageFile.Write(path, source);
        Assert.Equal(ImageFile.Decode(ImageFile.EncodeJpeg(source, 90), "q90.jpg").Pixels, ImageFile.Read(path).Pixels);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public void JpegQuality_OutsideOneToHundred_IsRefusedByName(int quality)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ImageFile.EncodeJpeg(RandomImage(2, 2, 3, 0), quality));
        Assert.Equal("Quality", e.ParamName);
    }

    [Fact]
    public void UnknownExtensions_AreRefusedNamingTheWritableOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => ImageFile.Write(Path.Combine(folder, "a.gif"), RandomImage(2, 2, 3, 0)));
        Assert.Contains(".png, .jpg, .jpeg, .webp, .pgm or .ppm, not '.gif'", e.Message);
    }

    /// <summary>The header's size is checked against <see cref="ImageLimits.MaxPixels"/> (100 MP) before a pixel
    /// is decoded, for every format: a few KB that declare 16384x16384 (268 MP) or more are refused at once.</summary>
    [Theory]
    [InlineData("rgb.jpg")]
    [InlineData("lossless.webp")]
    [InlineData("frames.gif")]
    [InlineData("rgb24.bmp")]
    public void HugeDeclaredSizes_AreRefusedFromTheHeader(string name)
    {
        var bytes = FixtureBytes(name);
        switch (Path.GetExtension(name))
        {
            case ".jpg":
                int frame = bytes.AsSpan().IndexOf([(byte)0xFF, (byte)0xC0]);
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(frame + 5), 16384);
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(frame + 7), 16384);
                break;
            case ".webp":
                // VP8L: after the signature byte 0x2F, width - 1 and height - 1 in 14 bits each, then alpha and version.
                uint fields = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(21));
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(21), (fields & 0xF000_0000) | 16383u << 14 | 16383u);
                break;
            case ".gif":
                // The logical screen, and the first image descriptor's width and height.
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), 65535);
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), 65535);
                int descriptor = bytes.AsSpan().IndexOf((byte)0x2C);
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(descriptor + 5), 65535);
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(descriptor + 7), 65535);
                break;
            default:
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(18), 20000);
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(22), 20000);
                break;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<InvalidDataException>(() => ImageFile.Decode(bytes, name));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 1 << 20, "pixels were allocated before the refusal");
        Assert.True(e.Data.Contains(ImageLimits.ExceededKey), e.Message);
        Assert.StartsWith($"{name}: ", e.Message);
    }
}
