namespace ConvViz.Catalog;

/// <summary>
/// Where the built-in models become bundle folders: ~/.local/share/convviz/models/&lt;name&gt;-&lt;hash&gt;/,
/// one per version of their files. A missing folder is written beside and renamed into place, so a
/// concurrent or interrupted first run never leaves half a bundle.
/// </summary>
internal static class ModelCache
{
    /// <summary>The folder of <paramref name="name"/> for files of SHA-256 <paramref name="hash"/>, made by
    /// <paramref name="write"/>(staging folder) when missing.</summary>
    public static string Folder(string name, byte[] hash, Action<string> write)
    {
        string root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "convviz", "models");
        string folder = Path.Combine(root, $"{name}-{Convert.ToHexString(hash)[..12].ToLowerInvariant()}");
        if (Directory.Exists(folder)) return folder;

        string staging = $"{folder}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(staging);
            write(staging);
            Directory.Move(staging, folder);
        }
        catch (IOException) when (Directory.Exists(folder))
        {
            // Another process or thread wrote the same bundle first.
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
        return folder;
    }
}
