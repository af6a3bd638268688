using System.Globalization;
using System.Net;
using System.Text;
using ConvViz.Engine.IO;

namespace ConvViz.Engine.Mining;

/// <summary>
/// An atlas's static pages, plain HTML that links the atlas's image files (no script, nothing fetched from elsewhere):
/// the index (every layer), a page per layer (every unit: its optimized image beside its best patch, linking to the
/// unit's page) and a page per unit (its optimized image, then its top patches beside their deconvolutions, with each
/// one's value and source).
/// </summary>
internal static class AtlasPages
{
    private const string Style = """
        body { font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
        nav { margin-bottom: 1em; } nav a { margin-right: 1em; }
        img { image-rendering: pixelated; background: #333; }
        .units { display: flex; flex-wrap: wrap; gap: 6px; }
        .unit { display: flex; flex-direction: column; align-items: center; padding: 4px; border: 1px solid #ccc; background: #fff; text-decoration: none; color: #222; }
        .unit img { width: 56px; } .pair { display: flex; gap: 2px; }
        .top { display: flex; flex-wrap: wrap; gap: 12px; }
        figure { margin: 0; max-width: 190px; } figcaption { font-size: 0.8em; }
        .top img { width: 84px; } .optimized img { width: 168px; }
        table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
        """;

    /// <summary>Writes every page of <paramref name="manifest"/>'s atlas into <paramref name="folder"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(AtlasManifest manifest, string folder)
    {
        var files = new List<string>();
        void Page(string path, string title, string body)
        {
            string full = Path.Combine(folder, path);
            AtomicFile.WriteAllText(full, $"""
                <!DOCTYPE html>
                <html lang="en"><head><meta charset="utf-8"><title>{Text(title)}</title><style>{Style}</style></head>
                <body>
                {body}</body></html>

                """);
            files.Add(full);
        }

        Page(manifest.Index, $"Atlas of {manifest.Model}", IndexBody(manifest));
        foreach (var layer in manifest.Layers)
        {
            Page(layer.Page, $"{layer.Name}: atlas of {manifest.Model}", LayerBody(manifest, layer));
            for (int i = 0; i < layer.Units.Count; i++)
                Page(layer.Units[i].Page, $"{layer.Name} unit {layer.Units[i].Unit}: atlas of {manifest.Model}",
                    UnitBody(manifest, layer, layer.Units[i], i > 0 ? layer.Units[i - 1] : null, i + 1 < layer.Units.Count ? layer.Units[i + 1] : null));
        }
        return files;
    }

    private static string IndexBody(AtlasManifest manifest)
    {
        var body = new StringBuilder();
        body.Append($"<h1>Atlas of {Text(manifest.Model)}</h1>\n");
        body.Append(string.Create(CultureInfo.InvariantCulture, $"<p>For each unit: its top {manifest.K} of the {manifest.Images:N0} images of {Text(manifest.Data)}, ") +
            "each as the patch the unit sees beside the same patch of its deconvnet projection, and the image optimized to excite it " +
            string.Create(CultureInfo.InvariantCulture, $"(preset {manifest.Preset} of Yosinski et al. 2015, {manifest.Optimization.Iterations} steps).</p>\n"));
        body.Append("<table><tr><th>layer</th><th>units</th><th>patches show</th><th>optimized at</th></tr>\n");
        foreach (var layer in manifest.Layers)
            body.Append($"<tr><td><a href=\"{Link(manifest.Index, layer.Page)}\">{Text(layer.Name)}</a></td><td>{layer.Units.Count}</td>")
                .Append($"<td>{Text(layer.Patches)}</td><td>{Text(layer.OptimizedAt)}</td></tr>\n");
        return body.Append("</table>\n").ToString();
    }

    private static string LayerBody(AtlasManifest manifest, AtlasManifestLayer layer)
    {
        var body = new StringBuilder();
        body.Append($"<nav><a href=\"{Link(layer.Page, manifest.Index)}\">atlas of {Text(manifest.Model)}</a></nav>\n");
        body.Append($"<h1>{Text(layer.Name)}</h1>\n");
        body.Append($"<p>{layer.Units.Count} units, each as its optimized image (at {Text(layer.OptimizedAt)}) beside its best patch ({Text(layer.Patches)}). ")
            .Append("Click a unit for its page.</p>\n<div class=\"units\">\n");
        foreach (var unit in layer.Units)
        {
            body.Append($"<a class=\"unit\" href=\"{Link(layer.Page, unit.Page)}\"><span class=\"pair\">")
                .Append($"<img src=\"{Link(layer.Page, unit.Optimized)}\" alt=\"optimized image of unit {unit.Unit}\">");
            if (unit.Top.Count > 0) body.Append($"<img src=\"{Link(layer.Page, unit.Top[0].Image)}\" alt=\"best patch of unit {unit.Unit}\">");
            body.Append($"</span>{unit.Unit}</a>\n");
        }
        return body.Append("</div>\n").ToString();
    }

    private static string UnitBody(AtlasManifest manifest, AtlasManifestLayer layer, AtlasManifestUnit unit, AtlasManifestUnit? previous, AtlasManifestUnit? next)
    {
        var body = new StringBuilder();
        body.Append($"<nav><a href=\"{Link(unit.Page, manifest.Index)}\">atlas of {Text(manifest.Model)}</a>")
            .Append($"<a href=\"{Link(unit.Page, layer.Page)}\">{Text(layer.Name)}</a>");
        if (previous is not null) body.Append($"<a href=\"{Link(unit.Page, previous.Page)}\">previous: unit {previous.Unit}</a>");
        if (next is not null) body.Append($"<a href=\"{Link(unit.Page, next.Page)}\">next: unit {next.Unit}</a>");
        body.Append("</nav>\n");
        body.Append($"<h1>{Text(layer.Name)} unit {unit.Unit}</h1>\n");
        body.Append($"<figure class=\"optimized\"><img src=\"{Link(unit.Page, unit.Optimized)}\" alt=\"optimized image\"><figcaption>")
            .Append(Text(string.Create(CultureInfo.InvariantCulture,
                $"optimized for {layer.OptimizedAt} unit {unit.Unit}: best objective {unit.BestObjective:G5} at step {unit.BestIteration + 1} of {manifest.Optimization.Iterations}")))
            .Append("</figcaption></figure>\n");
        body.Append($"<h2>Top {unit.Top.Count} of {manifest.Images:N0} images</h2>\n<p>Each: {Text(layer.Patches)}, beside the same patch of its deconvnet projection.</p>\n<div class=\"top\">\n");
        for (int rank = 0; rank < unit.Top.Count; rank++)
        {
            var patch = unit.Top[rank];
            body.Append($"<figure><span class=\"pair\"><img src=\"{Link(unit.Page, patch.Image)}\" alt=\"patch {rank + 1}\">")
                .Append($"<img src=\"{Link(unit.Page, patch.Deconv)}\" alt=\"deconvolution {rank + 1}\"></span>")
                .Append($"<figcaption>{Text(string.Create(CultureInfo.InvariantCulture, $"#{rank + 1}: value {patch.Value:G5}; {patch.Source}"))}</figcaption></figure>\n");
        }
        return body.Append("</div>\n").ToString();
    }

    private static string Text(string text) => WebUtility.HtmlEncode(text);

    /// <summary>The link from the page at <paramref name="page"/> to <paramref name="target"/> (both relative to the atlas folder, '/'
    /// between parts), each part percent-encoded: a layer's name may hold '#', '?' or '%'.</summary>
    internal static string Link(string page, string target)
    {
        var from = page.Split('/')[..^1];
        var to = target.Split('/');
        int common = 0;
        while (common < from.Length && common < to.Length - 1 && from[common] == to[common]) common++;
        var parts = Enumerable.Repeat("..", from.Length - common).Concat(to[common..].Select(Uri.EscapeDataString));
        return WebUtility.HtmlEncode(string.Join('/', parts));
    }
}
