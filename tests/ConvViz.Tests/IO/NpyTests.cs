using System.Text;
using ConvViz.Engine.IO;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.IO;

/// <summary>The .npy reader and writer against the format's definition (and NumPy-written files in tests/fixtures).</summary>
public sealed class NpyTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("convviz-npy-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void WrittenArraysReadBackExactly()
    {
        string path = Path.Combine(folder, "a.npy");
        var data = Enumerable.Range(0, 24).Select(i => i * 0.5f - 3f).ToArray();
        Npy.Write(path, data, [2, 3, 4]);
        var read = Npy.Read(path);
        Assert.Equal([2, 3, 4], read.Shape);
        Assert.Equal(data, read.Data);
        // Version 1 header: magic, 1.0, a 64-byte aligned dict ending in a newline.
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(1, bytes[6]);
        int headerEnd = 10 + BitConverter.ToUInt16(bytes, 8);
        Assert.Equal(0, headerEnd % 64);
        Assert.Equal((byte)'\n', bytes[headerEnd - 1]);
        Assert.Contains("'shape': (2, 3, 4)", Encoding.Latin1.GetString(bytes, 10, headerEnd - 10));
    }

    [Fact]
    public void OneDimensionalShapesUseThePythonTupleComma()
    {
        string path = Path.Combine(folder, "v.npy");
        Npy.Write(path, [1f, 2f, 3f], [3]);
        Assert.Contains("'shape': (3,)", Encoding.Latin1.GetString(File.ReadAllBytes(path)));
        Assert.Equal([3], Npy.Read(path).Shape);
    }

    [Fact]
    public void NumPyWrittenFixturesRead()
    {
        var input = Npy.Read(Fixtures.Path("onnx", "alexnet_style.input.npy"));
        Assert.Equal([1, 3, 67, 67], input.Shape);
        Assert.Equal(3 * 67 * 67, input.Data.Length);
    }

    [Fact]
    public void Version2HeadersRead()
    {
        string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }".PadRight(51) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 2, 0 };
        bytes.AddRange(BitConverter.GetBytes((uint)dict.Length));
        bytes.AddRange(Encoding.Latin1.GetBytes(dict));
        bytes.AddRange(BitConverter.GetBytes(1.5f));
        bytes.AddRange(BitConverter.GetBytes(-2f));
        var array = Npy.Parse(bytes.ToArray(), "v2.npy");
        Assert.Equal([1.5f, -2f], array.Data);
    }

    [Theory]
    [InlineData("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", "dtype '<f8' is not supported; expected little-endian float32")]
    [InlineData("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", "dtype '>f4' is not supported")]
    [InlineData("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", "dtype '<i8' is not supported")]
    [InlineData("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", "Fortran-ordered arrays are not supported")]
    [InlineData("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "needs 12 bytes of float32 data, the file has 8")]
    public void UnsupportedOrInconsistentFilesAreNamed(string dict, string message)
    {
        var header = dict.PadRight(117) + "\n";
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 };
        bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        bytes.AddRange(Encoding.Latin1.GetBytes(header));
        bytes.AddRange(new byte[8]);
        var e = Assert.Throws<InvalidDataException>(() => Npy.Parse(bytes.ToArray(), "x.npy"));
        Assert.Contains(message, e.Message);
        Assert.StartsWith("x.npy: ", e.Message);
    }

    [Fact]
    public void NonNpyBytesAreRefused()
    {
        var e = Assert.Throws<InvalidDataException>(() => Npy.Parse(Encoding.ASCII.GetBytes("hello, this is not numpy"), "t.npy"));
        Assert.Contains("not a NumPy .npy file", e.Message);
    }
}
