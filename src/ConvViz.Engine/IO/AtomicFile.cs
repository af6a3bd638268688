using System.Text;

namespace ConvViz.Engine.IO;

/// <summary>
/// Writes a file so that it is either the old file or the whole new one, never half of either: the
/// bytes go to a temporary file in the same folder (so the rename stays on one file system), are
/// flushed to the disk, and the temporary file is renamed over the target. When anything fails (a
/// full disk, a throwing writer, a rename that is refused) the temporary file is deleted and the
/// previous file is left as it was.
/// </summary>
public static class AtomicFile
{
    private static readonly AsyncLocal<Action<string>?> Observer = new();
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Until the returned scope is disposed, <paramref name="beforeWrite"/> sees the full path of
    /// every file this flow of execution is about to write, before its first byte (a caller that must
    /// record what it writes, or claim a folder, does it there).</summary>
    public static IDisposable Observe(Action<string> beforeWrite)
    {
        var previous = Observer.Value;
        Observer.Value = beforeWrite;
        return new Scope(() => Observer.Value = previous);
    }

    public static void WriteAllBytes(string path, byte[] bytes) => Write(path, stream => stream.Write(bytes));

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, Utf8.GetBytes(text));

    public static void WriteAllLines(string path, IEnumerable<string> lines)
    {
        var text = new StringBuilder();
        foreach (string line in lines) text.Append(line).Append('\n');
        WriteAllText(path, text.ToString());
    }

    /// <summary>Lets <paramref name="write"/> fill the file through a stream, then puts it in place.</summary>
    public static void Write(string path, Action<Stream> write) => Write(path, write, replace: true);

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> only when no file has that name, at the
    /// moment it is put in place (two writers racing for one name: one wins, the other gets false); false
    /// leaves the existing file as it was.</summary>
    public static bool TryWriteNewText(string path, string text) => Write(path, stream => stream.Write(Utf8.GetBytes(text)), replace: false);

    private static bool Write(string path, Action<Stream> write, bool replace)
    {
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        Observer.Value?.Invoke(full);
        Directory.CreateDirectory(folder);
        // Named after the target (cut short, so a long name stays within the file system's limit) and hidden.
        string name = Path.GetFileName(full);
        string temporary = Path.Combine(folder, $".{name[..Math.Min(name.Length, 100)]}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                // On the disk before the rename: after a crash the name points at the whole new file or the old one.
                stream.Flush(flushToDisk: true);
            }
            if (replace) File.Move(temporary, full, overwrite: true);
            // Without overwrite the runtime links the new name and fails when it exists: no window in which a racing writer's file is replaced.
            else File.Move(temporary, full, overwrite: false);
            return true;
        }
        catch (IOException) when (!replace && File.Exists(full) && File.Exists(temporary))
        {
            File.Delete(temporary);
            return false;
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    private sealed class Scope(Action end) : IDisposable
    {
        public void Dispose() => end();
    }
}
