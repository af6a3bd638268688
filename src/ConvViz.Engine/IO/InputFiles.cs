using System.Runtime.InteropServices;

namespace ConvViz.Engine.IO;

/// <summary>
/// Opens the files users hand to ConvViz (models, images, arrays, data sets, class lists). Only
/// regular files are read: a FIFO would block forever, a device such as /dev/zero never ends, a
/// directory is not data. Symbolic links are followed, then the target is checked. A file larger
/// than the reader's stated limit is refused before it is read. Every refusal is an
/// <see cref="IOException"/> (<see cref="FileNotFoundException"/> when nothing is there) whose
/// one-line message starts with the path.
/// </summary>
public static class InputFiles
{
    /// <summary>The largest file any reader accepts unless it states a smaller limit: 2 GiB - 1,
    /// the most one .NET array holds.</summary>
    public const long MaxBytes = int.MaxValue;

    /// <summary>Throws unless <paramref name="path"/> names a regular file (after following links).
    /// <paramref name="expected"/> says what the file should be ("an .onnx model").</summary>
    public static void RequireRegularFile(string path, string expected)
    {
        if (string.IsNullOrEmpty(path)) throw new FileNotFoundException($"an empty path was given; expected {expected}");
        var kind = KindOf(path);
        switch (kind)
        {
            case FileKind.Regular: return;
            case FileKind.Missing: throw new FileNotFoundException($"{path}: no such file (expected {expected})", path);
            default: throw new IOException($"{path}: is {Describe(kind)}, not a regular file (expected {expected})");
        }
    }

    /// <summary>The whole file, once it is known to be a regular file of at most <paramref name="maxBytes"/> bytes.</summary>
    public static byte[] ReadAllBytes(string path, string expected, long maxBytes = MaxBytes)
    {
        using var stream = OpenRead(path, expected, maxBytes);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>The file's lines, with the same checks as <see cref="ReadAllBytes"/>.</summary>
    public static string[] ReadAllLines(string path, string expected, long maxBytes = MaxBytes)
    {
        using var stream = OpenRead(path, expected, maxBytes);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line) lines.Add(line);
        return lines.ToArray();
    }

    /// <summary>A read stream on a regular file of at most <paramref name="maxBytes"/> bytes.</summary>
    public static FileStream OpenRead(string path, string expected, long maxBytes = MaxBytes)
    {
        RequireRegularFile(path, expected);
        var stream = File.OpenRead(path);
        if (stream.Length > maxBytes)
        {
            stream.Dispose();
            throw new IOException($"{path}: {stream.Length:N0} bytes, more than the {maxBytes:N0} this reader accepts (expected {expected})");
        }
        return stream;
    }

    private enum FileKind { Missing, Regular, Directory, Fifo, CharacterDevice, BlockDevice, Socket, Other }

    private static string Describe(FileKind kind) => kind switch
    {
        FileKind.Directory => "a directory",
        FileKind.Fifo => "a named pipe (FIFO)",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        _ => "not a regular file",
    };

    private static FileKind KindOf(string path)
    {
        if (OperatingSystem.IsLinux()) return LinuxKind(path);
        // Elsewhere: what the runtime can tell without opening (opening a FIFO blocks).
        if (Directory.Exists(path)) return FileKind.Directory;
        if (!File.Exists(path)) return FileKind.Missing;
        return File.GetAttributes(path).HasFlag(FileAttributes.Device) ? FileKind.CharacterDevice : FileKind.Regular;
    }

    /// <summary>statx(2) follows links and reports the file type; its struct has one layout on every Linux architecture.</summary>
    private static FileKind LinuxKind(string path)
    {
        const int AtFdCwd = -100;
        const uint StatxType = 0x1;
        Span<byte> buffer = stackalloc byte[256];
        int result;
        unsafe
        {
            fixed (byte* b = buffer) result = Statx(AtFdCwd, path, 0, StatxType, b);
        }
        if (result != 0)
        {
            // ENOENT, ENOTDIR, EACCES...: the runtime's own checks give the right message.
            if (Directory.Exists(path)) return FileKind.Directory;
            return File.Exists(path) ? FileKind.Regular : FileKind.Missing;
        }
        // struct statx: stx_mode is a __u16 at byte 28; S_IFMT = 0xF000.
        int type = BitConverter.ToUInt16(buffer[28..30]) & 0xF000;
        return type switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x1000 => FileKind.Fifo,
            0x2000 => FileKind.CharacterDevice,
            0x6000 => FileKind.BlockDevice,
            0xC000 => FileKind.Socket,
            _ => FileKind.Other,
        };
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    private static extern unsafe int Statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, byte* buffer);
}
