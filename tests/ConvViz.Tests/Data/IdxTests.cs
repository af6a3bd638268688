using System.IO.Compression;
using ConvViz.Engine.Data;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Data;

/// <summary>The IDX reader on hand-made files (plain and gzipped), on Debian's Fashion-MNIST, and on broken files.</summary>
public sealed class IdxTests
{
    private static byte[] Header(byte type, params int[] dims)
    {
        var bytes = new List<byte> { 0, 0, type, (byte)dims.Length };
        foreach (int d in dims) bytes.AddRange([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
        return bytes.ToArray();
    }

    private static string Write(byte[] content, bool gzip = false)
    {
        string path = Path.Combine(FashionMnist.TempFolder(), gzip ? "file.gz" : "file");
        if (!gzip) File.WriteAllBytes(path, content);
        else
        {
            using var file = File.Create(path);
            using var zip = new GZipStream(file, CompressionLevel.Fastest);
            zip.Write(content);
        }
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsHandWrittenFile_PlainOrGzipped(bool gzip)
    {
        // Two 2x3 images, written byte by byte as the format describes (big-endian dimensions).
        byte[] data = [1, 2, 3, 4, 5, 6, 250, 251, 252, 253, 254, 255];
        var array = Idx.Read(Write([.. Header(0x08, 2, 2, 3), .. data], gzip));
        Assert.Equal([2, 2, 3], array.Dimensions);
        Assert.Equal(data, array.Data);
    }

    [Fact]
    public void WriteThenRead_RoundTrips()
    {
        var original = new IdxArray([3, 4, 5], Enumerable.Range(0, 60).Select(i => (byte)(i * 7)).ToArray());
        foreach (string name in new[] { "a-idx3-ubyte", "a-idx3-ubyte.gz" })
        {
            string path = Path.Combine(FashionMnist.TempFolder(), name);
            Idx.Write(path, original);
            var read = Idx.Read(path);
            Assert.Equal(original.Dimensions, read.Dimensions);
            Assert.Equal(original.Data, read.Data);
        }
    }

    [Fact]
    public void ReadsDebianFashionMnist()
    {
        var train = FashionMnist.Train;
        var test = FashionMnist.Test;
        Assert.Equal((60000, 28, 28, 10), (train.Count, train.Height, train.Width, train.ClassCount));
        Assert.Equal((10000, 28, 28, 10), (test.Count, test.Height, test.Width, test.ClassCount));
        // Fashion-MNIST is balanced: 6,000 training and 1,000 test images of each class.
        for (int c = 0; c < 10; c++)
        {
            Assert.Equal(6000, train.Labels.ToArray().Count(l => l == c));
            Assert.Equal(1000, test.Labels.ToArray().Count(l => l == c));
        }
        // Published facts about the files: the first training label is 9 (ankle boot), the first test label 9 too.
        Assert.Equal(9, train.Label(0));
        Assert.Equal(9, test.Label(0));
    }

    [Fact]
    public void MissingFile_NamesIt()
    {
        var e = Assert.Throws<FileNotFoundException>(() => Idx.Read("/nonexistent/train-images-idx3-ubyte"));
        Assert.Contains("/nonexistent/train-images-idx3-ubyte", e.Message);
    }

    [Fact]
    public void TruncatedData_IsRejectedWithCounts()
    {
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(Write([.. Header(0x08, 2, 2, 3), 1, 2, 3])));
        Assert.Contains("truncated", e.Message);
        Assert.Contains("promises 12 bytes", e.Message);
        Assert.Contains("has 3", e.Message);
    }

    [Fact]
    public void TruncatedGzip_IsRejectedNamingTheFile()
    {
        // A real gzipped IDX cut in half: either the gzip stream or the IDX data ends early.
        var source = Write([.. Header(0x08, 100, 28, 28), .. Enumerable.Range(0, 78400).Select(i => (byte)(i * 31 % 251))], gzip: true);
        var bytes = File.ReadAllBytes(source);
        string cut = Path.Combine(FashionMnist.TempFolder(), "cut.gz");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        var e = Assert.ThrowsAny<Exception>(() => Idx.Read(cut));
        Assert.True(e is InvalidDataException or EndOfStreamException, e.ToString());
        Assert.Contains(cut, e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0, 0 }, "shorter than the 4-byte IDX header")]
    [InlineData(new byte[] { 0x50, 0x4b, 3, 4, 0, 0 }, "not an IDX file")]
    [InlineData(new byte[] { 0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0 }, "element type 0x0d is not supported")]
    [InlineData(new byte[] { 0, 0, 8, 2, 0, 0, 0 }, "truncated inside the header")]
    public void MalformedHeaders_AreRejected(byte[] content, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(Write(content)));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void LabelsThatDoNotMatchTheImageCount_AreRejected()
    {
        string folder = FashionMnist.TempFolder();
        Idx.Write(Path.Combine(folder, "train-images-idx3-ubyte"), new IdxArray([3, 2, 2], new byte[12]));
        Idx.Write(Path.Combine(folder, "train-labels-idx1-ubyte"), new IdxArray([2], [0, 1]));
        var e = Assert.Throws<InvalidDataException>(() => LabeledImages.LoadSplit(folder, "train"));
        Assert.Contains("has 2 labels but", e.Message);
        Assert.Contains("has 3 images", e.Message);
    }

    [Fact]
    public void ImagesOfWrongRank_AreRejected()
    {
        string folder = FashionMnist.TempFolder();
        Idx.Write(Path.Combine(folder, "t10k-images-idx3-ubyte.gz"), new IdxArray([12], new byte[12]));
        Idx.Write(Path.Combine(folder, "t10k-labels-idx1-ubyte.gz"), new IdxArray([12], new byte[12]));
        var e = Assert.Throws<InvalidDataException>(() => LabeledImages.LoadSplit(folder, "t10k"));
        Assert.Contains("expected (count, height, width)", e.Message);
    }

    [Fact]
    public void FirstOfEachClass_TakesTheFirstImagesOfEveryClassInFileOrder()
    {
        var test = FashionMnist.Test;
        var samples = test.FirstOfEachClass(3);
        Assert.Equal(30, samples.Count);
        for (int c = 0; c < 10; c++)
        {
            var expected = Enumerable.Range(0, test.Count).Where(i => test.Label(i) == c).Take(3).ToArray();
            for (int j = 0; j < 3; j++)
            {
                Assert.Equal(c, samples.Label(3 * c + j));
                Assert.True(samples.Image(3 * c + j).SequenceEqual(test.Image(expected[j])));
            }
        }
    }
}
