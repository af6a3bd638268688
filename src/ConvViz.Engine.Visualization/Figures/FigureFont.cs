using SkiaSharp;

namespace ConvViz.Engine.Figures;

/// <summary>
/// The typeface every figure's text is drawn in, found at run time (ConvViz bundles no font): Debian's
/// fonts-dejavu-core (<see cref="Preferred"/>), else the first .ttf or .otf under <see cref="SearchRoot"/> that
/// SkiaSharp can open, faces with "Sans" in their name first, then in ordinal path order. When none exists,
/// drawing text throws a <see cref="FileNotFoundException"/> whose one line names the package to install;
/// figures drawn without labels (<c>RunOutputs.Labels</c> false) carry no text and need no font.
/// </summary>
public static class FigureFont
{
    public const string Preferred = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    public const string SearchRoot = "/usr/share/fonts";

    // Looked up once per process; a missing font stays missing (the exception is cached with it).
    private static readonly Lazy<SKTypeface> Found = new(() => Load(Preferred, SearchRoot));

    internal static SKTypeface Typeface => Found.Value;

    /// <summary>Throws the missing-font error now, before long work whose figures would need it.</summary>
    public static void Require() => _ = Found.Value;

    /// <summary>The first font file of <paramref name="preferred"/> and the files under <paramref name="searchRoot"/> that SkiaSharp opens.</summary>
    internal static SKTypeface Load(string preferred, string searchRoot)
    {
        foreach (string path in Candidates(preferred, searchRoot))
            if (SKTypeface.FromFile(path) is { } typeface) return typeface;
        throw new FileNotFoundException(
            $"no font to draw figure text with: neither {preferred} nor any other .ttf or .otf file under {searchRoot} can be opened; " +
            "install Debian's fonts-dejavu-core, or draw the figures without labels", preferred);
    }

    private static IEnumerable<string> Candidates(string preferred, string searchRoot)
    {
        if (File.Exists(preferred)) yield return preferred;
        if (!Directory.Exists(searchRoot)) yield break;
        var files = Directory.EnumerateFiles(searchRoot, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true })
            .Where(f => f.EndsWith(".ttf", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".otf", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => Path.GetFileName(f).Contains("Sans", StringComparison.OrdinalIgnoreCase) ? 0 : 1)
            .ThenBy(f => f, StringComparer.Ordinal);
        foreach (string file in files) yield return file;
    }
}
