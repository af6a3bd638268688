using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Imaging;

/// <summary>JPEG (SkiaSharp) and PGM/PPM reading against files and pixels made by Pillow
/// (tests/fixtures/images/make_images.py), and images to model inputs and back. The other formats:
/// <see cref="ImageFormatTests"/> and <see cref="PngTests"/>.</summary>
public sealed class ImageIoTests
{
    private static (Image8 Image, byte[] Expected, int H, int W, int C) Fixture(string name)
    {
        string bin = Directory.GetFiles(Fixtures.Path("images"), name + ".*.bin").Single();
        var dims = Path.GetFileName(bin)[(name.Length + 1)..^4].Split('x').Select(int.Parse).ToArray();
        return (ImageFile.Read(Fixtures.Path("images", name)), File.ReadAllBytes(bin), dims[0], dims[1], dims[2]);
    }

    [Theory]
    [InlineData("rgb.ppm")]
    [InlineData("gray.pgm")]
    [InlineData("text.pgm")]
    [InlineData("text.ppm")]
    [InlineData("deep.pgm")]
    public void Netpbm_DecodesExactly(string name)
    {
        var (image, expected, h, w, c) = Fixture(name);
        Assert.Equal((w, h, c), (image.Width, image.Height, image.Channels));
        Assert.Equal(expected, image.Pixels);
    }

    /// <summary>Pillow decodes with Debian's libjpeg-turbo, SkiaSharp with its own build of it (without SIMD).
    /// The JPEG standard lets decoders differ by a level per sample (IDCT accuracy, ISO/IEC 10918-2), and a build
    /// with another IDCT or chroma upsampling rounds differently by a level or two, so pixels agree within 3 of
    /// 255, and on average within 1. (These two builds agree exactly today.)</summary>
    [Theory]
    [InlineData("rgb.jpg")]
    [InlineData("gray.jpg")]
    public void Jpeg_DecodesLikePillow(string name)
    {
        var (image, expected, h, w, c) = Fixture(name);
        Assert.Equal((w, h, c), (image.Width, image.Height, image.Channels));
        var differences = image.Pixels.Zip(expected, (a, b) => Math.Abs(a - b)).ToArray();
        Assert.True(differences.Max() <= 3, $"largest difference {differences.Max()}");
        Assert.True(differences.Average() <= 1, $"mean difference {differences.Average():F2}");
    }

    [Fact]
    public void CutJpeg_IsRefusedAsTruncated()
    {
        var whole = File.ReadAllBytes(Fixtures.Path("images", "rgb.jpg"));
        string path = Path.Combine(FashionMnist.TempFolder(), "cut.jpg");
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => ImageFile.Read(path));
        Assert.StartsWith($"{path}: truncated JPEG file: ", e.Message);
    }

    [Fact]
    public void Netpbm_RoundTrips()
    {
        var random = new Random(3);
        foreach (int channels in new[] { 1, 3 })
        {
            var pixels = new byte[5 * 7 * channels];
            random.NextBytes(pixels);
            var image = new Image8(7, 5, channels, pixels);
            string path = Path.Combine(FashionMnist.TempFolder(), channels == 1 ? "a.pgm" : "a.ppm");
            ImageFile.Write(path, image);
            Assert.Equal(pixels, ImageFile.Read(path).Pixels);
        }
    }

    [Theory]
    [InlineData("P6 4 4 255\n\u0001\u0002", "truncated")]
    [InlineData("P5 x 4 255\n", "expected the width as a number")]
    [InlineData("P2 2 1 10 3 11", "sample 11 exceeds maxval 10")]
    [InlineData("XIF89a....", "not a PNG, JPEG, WebP, GIF, BMP, PGM or PPM image")]
    [InlineData("\u00FF\u00D8\u00FF\u00E0 cut", "truncated JPEG file")]
    public void DamagedImages_AreRejectedNamingTheFile(string content, string reason)
    {
        string path = Path.Combine(FashionMnist.TempFolder(), "damaged.img");
        File.WriteAllBytes(path, content.Select(ch => (byte)ch).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => ImageFile.Read(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("GIF89a....", "GIF")]
    [InlineData("BM........", "BMP")]
    [InlineData("RIFF....WEBPVP8 ", "WebP")]
    public void HeadersAlone_AreTruncatedFilesOfTheirFormat(string content, string format)
    {
        string path = Path.Combine(FashionMnist.TempFolder(), "other.img");
        File.WriteAllBytes(path, content.Select(ch => (byte)ch).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => ImageFile.Read(path));
        Assert.StartsWith($"{path}: truncated {format} file: ", e.Message);
    }

    [Fact]
    public void Preprocessing_RoundTripsAnImageOfTheInputSize()
    {
        var boot = ImageFile.Read(Fixtures.Path("images", "ankle_boot.png"));
        var input = ImageTensors.ToInput(boot, FashionAlexNet.Preprocessing);
        Assert.Equal(28 * 28, input.Length);
        Assert.Equal((0 / 255f - FashionAlexNet.PixelMean) / FashionAlexNet.PixelStd, input[0], 5);
        Assert.Equal(boot.Pixels, ImageTensors.ToImage(input, FashionAlexNet.Preprocessing).Pixels);
    }

    [Fact]
    public void Preprocessing_ResizesCropsAndOrdersChannelsAsTheMetadataSays()
    {
        // A 4x2 RGB image whose left half is red and right half blue, for a BGR model of 2x2 input,
        // mean (10, 20, 30), scale 0.5, shorter side resized to 2: the image becomes 4x2 -> kept,
        // center crop takes columns 1..2 (red, blue); BGR puts blue first.
        var pixels = new byte[2 * 4 * 3];
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 4; x++)
                pixels[(y * 4 + x) * 3 + (x < 2 ? 0 : 2)] = 200;
        var p = new Preprocessing(3, 2, 2, ChannelOrder.Bgr, 1f, [10f, 20f, 30f], [0.5f, 0.5f, 0.5f], ResizeShorter: 2);
        var input = ImageTensors.ToInput(new Image8(4, 2, 3, pixels), p);
        // channel 0 = blue: 0 at x=0 (red column), 200 at x=1; channel 2 = red: the reverse.
        Assert.Equal([(0 - 10) * 0.5f, (200 - 10) * 0.5f, (0 - 10) * 0.5f, (200 - 10) * 0.5f], input[0..4]);
        Assert.Equal([(0 - 20) * 0.5f, (0 - 20) * 0.5f, (0 - 20) * 0.5f, (0 - 20) * 0.5f], input[4..8]);
        Assert.Equal([(200 - 30) * 0.5f, (0 - 30) * 0.5f, (200 - 30) * 0.5f, (0 - 30) * 0.5f], input[8..12]);
        var back = ImageTensors.ToImage(input, p);
        Assert.Equal([200, 0, 0, 0, 0, 200], back.Pixels[0..6]);
    }

    [Fact]
    public void AreaResize_AveragesBlocks_BilinearKeepsConstantsAndInterpolates()
    {
        float[] plane = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
        var area = ImageTensors.Resize([plane], 4, 4, 2, 2, ResizeMethod.Area)[0];
        Assert.Equal([5f, 9f, 21f, 25f], area);
        var flat = ImageTensors.Resize([Enumerable.Repeat(7f, 12).ToArray()], 4, 3, 9, 5, ResizeMethod.Bilinear)[0];
        Assert.All(flat, v => Assert.Equal(7f, v, 5));
        // Upscaling [0, 4] by 2 with pixel centers: samples at -0.25, 0.25, 0.75, 1.25 -> clamp 0, 1, 3, clamp 4.
        var line = ImageTensors.Resize([[0f, 4f]], 2, 1, 4, 1, ResizeMethod.Bilinear)[0];
        Assert.Equal([0f, 1f, 3f, 4f], line);
    }

    [Fact]
    public void ColorImageForAGrayModel_UsesLuma()
    {
        var gray = ImageTensors.ToChannels(new Image8(1, 1, 3, [100, 150, 200]), 1);
        Assert.Equal((byte)Math.Round(0.299 * 100 + 0.587 * 150 + 0.114 * 200), gray.Pixels[0]);
    }
}

/// <summary>Image inputs on the command line.</summary>
[Collection(CliHarness.Collection)]
public sealed class ImageInputCliTests
{
    [Fact]
    public void Forward_OnAPng_ClassifiesTheAnkleBoot()
    {
        var result = CliHarness.Run("forward", "--input", Fixtures.Path("images", "ankle_boot.png"), "--top", "1");
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("Ankle boot", result.Output);
    }

    [Fact]
    public void UndecodableImage_IsAOneLineErrorNamingTheFileAndReason()
    {
        string path = Path.Combine(FashionMnist.TempFolder(), "broken.png");
        var good = File.ReadAllBytes(Fixtures.Path("images", "ankle_boot.png"));
        File.WriteAllBytes(path, good[..(good.Length / 2)]);
        CliHarness.AssertOneLineError(CliHarness.Run("forward", "--input", path), path + ": ");
    }

    /// <summary>The Toolbox's saveimagescc(X, 0): 0 is mid-gray, a large magnitude (here the 99.5th
    /// percentile, of six values the largest) is black or white, and a BGR model's channels come out as RGB;
    /// an outlier clamps instead of graying the rest.</summary>
    [Fact]
    public void CenteredImage_MapsZeroToGrayAndTheLargestMagnitudeToTheEnds()
    {
        var p = new Preprocessing(3, 1, 2, ChannelOrder.Bgr, 1f, [100f, 100f, 100f], [1f, 1f, 1f]);
        // (C, H, W) = (3, 1, 2) in BGR: B = (0, -4), G = (2, 0), R = (0, 1).
        var image = ImageTensors.ToImageCentered([0f, -4f, 2f, 0f, 0f, 1f], p);
        Assert.Equal((2, 1, 3), (image.Width, image.Height, image.Channels));
        // Pixel 0 RGB = (0, 2, 0) -> (128, 191, 128); pixel 1 RGB = (1, 0, -4) -> (159, 128, 0).
        Assert.Equal(new byte[] { 128, 191, 128, 159, 128, 0 }, image.Pixels);
        Assert.All(ImageTensors.ToImageCentered(new float[6], p).Pixels, v => Assert.Equal(128, v));

        // 400 values of magnitude 1 and two outliers of 1000: the scale is 1, not 1000.
        var wide = new Preprocessing(1, 1, 402, ChannelOrder.Gray, 1f, [0f], [1f]);
        var values = Enumerable.Range(0, 402).Select(i => i < 2 ? 1000f : (i % 2 == 0 ? 1f : -1f)).ToArray();
        var pixels = ImageTensors.ToImageCentered(values, wide).Pixels;
        Assert.Equal(new byte[] { 255, 255, 255, 0 }, pixels[..4]);
    }
}
