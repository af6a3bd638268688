using System.Reflection;

namespace ConvViz.OpenCL;

/// <summary>The kernel sources of /kernels, embedded in this assembly by file name.</summary>
public static class KernelSources
{
    private const string Prefix = "ConvViz.OpenCL.Kernels.";
    public const string PortabilityHeader = "portability.h";
    private static readonly Assembly Assembly = typeof(KernelSources).Assembly;

    /// <summary>File names of the embedded sources (e.g. "prelude_ids.cl", "portability.h").</summary>
    public static IReadOnlyList<string> Names =>
        Assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal))
            .Select(n => n[Prefix.Length..]).Order(StringComparer.Ordinal).ToArray();

    /// <summary>The raw text of one embedded file.</summary>
    public static string Raw(string fileName)
    {
        using var stream = Assembly.GetManifestResourceStream(Prefix + fileName)
            ?? throw new FileNotFoundException(
                $"no embedded kernel source '{fileName}' (have: {string.Join(", ", Names)})", fileName);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The text of <paramref name="fileName"/> with portability.h prepended, ready to build.</summary>
    public static string Get(string fileName) => WithPortability(Raw(fileName), fileName);

    /// <summary><paramref name="source"/> with portability.h prepended (and a #line so compiler
    /// messages point at the source's own lines).</summary>
    public static string WithPortability(string source, string fileName = "source") =>
        Raw(PortabilityHeader) + "\n#line 1 \"" + fileName + "\"\n" + source;
}
