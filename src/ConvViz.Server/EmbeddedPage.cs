using System.Collections.Frozen;
using System.Reflection;

namespace ConvViz.Server;

/// <summary>
/// The page's files, compiled into this assembly from wwwroot/ and served from memory by name: the table is made once from
/// the embedded resources whose type is in <see cref="ContentTypes"/>, so a request path only ever selects an entry of it and
/// never reaches the file system.
/// </summary>
internal static class EmbeddedPage
{
    private const string Prefix = "wwwroot/";

    private static readonly FrozenDictionary<string, string> ContentTypes = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".mjs"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".json"] = "application/json; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".ico"] = "image/x-icon",
        [".woff2"] = "font/woff2",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>Request path ("/index.html", "/app.js") to the file's bytes and content type; "/" is the index page.</summary>
    public static readonly FrozenDictionary<string, (byte[] Bytes, string ContentType)> Files = Load();

    private static FrozenDictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(EmbeddedPage).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (string name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            if (!ContentTypes.TryGetValue(Path.GetExtension(name), out var contentType)) continue;
            files["/" + name[Prefix.Length..]] = (Read(assembly, name), contentType);
        }
        if (files.TryGetValue("/index.html", out var index)) files["/"] = index;
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static byte[] Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
