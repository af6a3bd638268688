using ConvViz.Engine.IO;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Durability;

/// <summary>An output file is the old one or the whole new one: a write that fails anywhere leaves
/// the previous file byte for byte and no temporary file beside it.</summary>
public sealed class AtomicFileTests
{
    private static string[] Litter(string folder) => Directory.GetFiles(folder, "*.tmp", SearchOption.AllDirectories);

    [Fact]
    public void Write_ReplacesTheFile_AndLeavesOnlyIt()
    {
        string folder = FashionMnist.TempFolder();
        string path = Path.Combine(folder, "sub", "out.bin");
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        AtomicFile.WriteAllBytes(path, [4, 5]);
        Assert.Equal([4, 5], File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(Path.Combine(folder, "sub")));
    }

    [Fact]
    public void ANameAtTheFileSystemsLimit_IsWritten()
    {
        string path = Path.Combine(FashionMnist.TempFolder(), new string('n', 251) + ".png");
        AtomicFile.WriteAllBytes(path, [1]);
        Assert.Equal([1], File.ReadAllBytes(path));
    }

    [Fact]
    public void WriterThatThrows_LeavesTheOldFileIntact_AndNoTemporaryFile()
    {
        string folder = FashionMnist.TempFolder();
        string path = Path.Combine(folder, "model.onnx");
        File.WriteAllBytes(path, [9, 8, 7]);
        // A full disk looks like this to the writer: some bytes go out, then the stream throws.
        var failure = Assert.Throws<IOException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write(new byte[100_000]);
            throw new IOException("No space left on device");
        }));
        Assert.Equal("No space left on device", failure.Message);
        Assert.Equal([9, 8, 7], File.ReadAllBytes(path));
        Assert.Empty(Litter(folder));
        Assert.Equal([path], Directory.GetFiles(folder));
    }

    [Fact]
    public void RenameThatFails_LeavesWhatWasThere_AndNoTemporaryFile()
    {
        string folder = FashionMnist.TempFolder();
        // A folder holds the target's name: the bytes are written, the final rename is refused.
        string path = Path.Combine(folder, "conv1.npy");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "keep.txt"), "mine");
        Assert.ThrowsAny<IOException>(() => Npy.Write(path, [1f, 2f], [2]));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(path, "keep.txt")));
        Assert.Empty(Litter(folder));
        Assert.Empty(Directory.GetFiles(folder));
    }

    [Fact]
    public void Observe_SeesEachPathBeforeItsFirstByte_OnlyInItsScope()
    {
        string folder = FashionMnist.TempFolder();
        string first = Path.Combine(folder, "a.txt"), second = Path.Combine(folder, "b.txt");
        var seen = new List<(string Path, bool Existed)>();
        using (AtomicFile.Observe(path => seen.Add((path, File.Exists(path)))))
            AtomicFile.WriteAllText(first, "a");
        AtomicFile.WriteAllText(second, "b");
        Assert.Equal([(first, false)], seen);
    }
}
