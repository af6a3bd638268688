using System.Reflection;

namespace ConvViz.OpenCL;

/// <summary>The kernel sources of /kernels, embedded in this assembly by file name.</summary>
internal static class KernelSources
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

    /// <summary>The text of <paramref name="fileName"/> with portability.h prepended and its
    /// <c>#include "x.h"</c> lines replaced by the embedded headers, ready to build.</summary>
    public static string Get(string fileName) => WithPortability(ResolveIncludes(Raw(fileName), fileName), fileName);

    /// <summary>
    /// Replaces each <c>#include "name"</c> line with the embedded file of that name (and a #line
    /// back to the including file). The sources stay plain C that OpenCL (with -I) or NVRTC (with
    /// named headers) could include themselves; resolving here keeps the build independent of
    /// where the files live. The headers carry their own include guards.
    /// </summary>
    private static string ResolveIncludes(string source, string fileName)
    {
        var lines = source.Split('\n');
        var result = new System.Text.StringBuilder();
        for (int i = 0; i < lines.Length; i++)
        {
            var match = System.Text.RegularExpressions.Regex.Match(lines[i], "^\\s*#\\s*include\\s+\"([^\"]+)\"");
            if (!match.Success)
            {
                result.Append(lines[i]).Append('\n');
                continue;
            }
            string header = match.Groups[1].Value;
            result.Append("#line 1 \"").Append(header).Append("\"\n");
            result.Append(ResolveIncludes(Raw(header), header)).Append('\n');
            result.Append("#line ").Append(i + 2).Append(" \"").Append(fileName).Append("\"\n");
        }
        return result.ToString();
    }

    /// <summary><paramref name="source"/> with portability.h prepended (and a #line so compiler
    /// messages point at the source's own lines).</summary>
    public static string WithPortability(string source, string fileName = "source") =>
        Raw(PortabilityHeader) + "\n#line 1 \"" + fileName + "\"\n" + source;
}
