using System.Net;
using System.Text;
using ConvViz.Engine.Imaging;

namespace ConvViz.Engine.Visualization;

/// <summary>One line of a page's table of contents: a link to the anchor <paramref name="Id"/>, indented by
/// <paramref name="Level"/> (2 or 3), followed by links to its parts (a method's figure: "saliency", "occlusion").</summary>
public sealed record ReportContentsEntry(string Text, string Id, int Level, IReadOnlyList<(string Text, string Id)> Parts);

/// <summary>
/// A self-contained HTML page: headings, text, tables and captioned figures whose PNGs are embedded
/// as data URIs, so the one file can be mailed, archived or opened offline. Small images are shown
/// enlarged with crisp pixels. Sections can collapse (<see cref="BeginSection"/>: an HTML details element
/// whose summary is the heading); following a link to an anchor inside a closed section opens it.
/// </summary>
public sealed class ReportPage(string title)
{
    private readonly StringBuilder body = new();
    private int openSections;

    public void Heading(string text, int level = 2) => body.Append($"<h{level}>{WebUtility.HtmlEncode(text)}</h{level}>\n");

    public void Paragraph(string text) => body.Append($"<p>{WebUtility.HtmlEncode(text)}</p>\n");

    /// <summary>A paragraph set off from the text: what a reader must know before believing the page (random weights, no classes).</summary>
    public void Notice(string text) => body.Append($"<p class=\"notice\">{WebUtility.HtmlEncode(text)}</p>\n");

    /// <summary>The table of contents: a nested list of links, each line's parts after it on the same line.</summary>
    public void Contents(IEnumerable<ReportContentsEntry> entries)
    {
        body.Append("<nav id=\"contents\"><h2>Contents</h2>\n<ul>\n");
        int level = 2;
        bool first = true;
        foreach (var entry in entries)
        {
            if (entry.Level is < 2 or > 3) throw new ArgumentOutOfRangeException(nameof(entries), entry.Level, $"contents entry '{entry.Text}' has level {entry.Level}; levels are 2 and 3");
            if (entry.Level > level) body.Append("<ul>\n");
            else if (entry.Level < level) body.Append("</li></ul></li>\n");
            else if (!first) body.Append("</li>\n");
            level = entry.Level;
            first = false;
            body.Append($"<li>{Link(entry.Text, entry.Id)}");
            if (entry.Parts.Count > 0) body.Append(": ").AppendJoin(" · ", entry.Parts.Select(p => Link(p.Text, p.Id)));
        }
        if (!first) body.Append(level == 3 ? "</li></ul></li>\n" : "</li>\n");
        body.Append("</ul></nav>\n");
    }

    /// <summary>Starts a collapsible section headed by <paramref name="heading"/> at <paramref name="level"/>, anchored at
    /// <paramref name="id"/> when given, shown open or closed when the page loads; <see cref="EndSection"/> ends it.</summary>
    public void BeginSection(string heading, int level, string? id, bool open)
    {
        string anchor = id is null ? "" : $" id=\"{WebUtility.HtmlEncode(id)}\"";
        body.Append($"<details{anchor}{(open ? " open" : "")}><summary><h{level}>{WebUtility.HtmlEncode(heading)}</h{level}></summary>\n");
        openSections++;
    }

    public void EndSection()
    {
        if (openSections == 0) throw new InvalidOperationException("EndSection without a section begun");
        openSections--;
        body.Append("</details>\n");
    }

    public void Table(string[] header, IEnumerable<string[]> rows)
    {
        body.Append("<table><tr>").AppendJoin("", header.Select(h => $"<th>{WebUtility.HtmlEncode(h)}</th>")).Append("</tr>\n");
        foreach (var row in rows) body.Append("<tr>").AppendJoin("", row.Select(c => $"<td>{WebUtility.HtmlEncode(c)}</td>")).Append("</tr>\n");
        body.Append("</table>\n");
    }

    /// <summary>A row of figures; each image is drawn at least <paramref name="minimumWidth"/> CSS pixels wide.</summary>
    public void Figures(IEnumerable<(Image8 Image, string Caption)> figures, int minimumWidth = 168) =>
        Figures(figures.Select(f => new ReportFigure(f.Image, f.Caption)), minimumWidth);

    /// <summary>A row of figures, each anchored at its <see cref="ReportFigure.Id"/> when it has one; each image is drawn at
    /// least <paramref name="minimumWidth"/> CSS pixels wide, its caption wrapped to the image's width.</summary>
    public void Figures(IEnumerable<ReportFigure> figures, int minimumWidth = 168)
    {
        body.Append("<div class=\"row\">\n");
        foreach (var figure in figures)
        {
            int width = Math.Max(figure.Image.Width, minimumWidth);
            string data = Convert.ToBase64String(ImageFile.EncodePng(figure.Image));
            string anchor = figure.Id is null ? "" : $" id=\"{WebUtility.HtmlEncode(figure.Id)}\"";
            string caption = WebUtility.HtmlEncode(figure.Caption);
            body.Append($"<figure{anchor} style=\"width: {width}px\"><img src=\"data:image/png;base64,{data}\" width=\"{width}\" alt=\"{caption}\">")
                .Append($"<figcaption>{caption}</figcaption></figure>\n");
        }
        body.Append("</div>\n");
    }

    /// <summary>A captioned SVG drawing, embedded as a data URI like the PNGs.</summary>
    public void SvgFigure(string svg, string caption)
    {
        string data = Convert.ToBase64String(Encoding.UTF8.GetBytes(svg));
        body.Append($"<div class=\"row\"><figure><img src=\"data:image/svg+xml;base64,{data}\" alt=\"{WebUtility.HtmlEncode(caption)}\">")
            .Append($"<figcaption>{WebUtility.HtmlEncode(caption)}</figcaption></figure></div>\n");
    }

    public string ToHtml()
    {
        if (openSections > 0) throw new InvalidOperationException($"{openSections} section(s) begun and not ended");
        return $$"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{{WebUtility.HtmlEncode(title)}}</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 1em 1.5em; color: #222; max-width: 1400px; }
        h1 { font-size: 1.6em; } h2 { margin-top: 1.2em; } h3 { margin-top: 0.8em; }
        details { margin: 0.4em 0; } details > summary { cursor: pointer; }
        summary h2, summary h3 { display: inline; margin: 0; }
        details > p { margin-left: 1.2em; }
        details:has(> summary h2) { border-top: 1px solid #ccc; padding-top: 0.6em; margin-top: 1em; }
        .notice { background: #fff4ce; border-left: 4px solid #d4a017; padding: 0.4em 0.8em; }
        nav ul { margin: 0.2em 0; } nav li { margin: 0.15em 0; }
        .row { display: flex; flex-wrap: wrap; gap: 0.6em; align-items: flex-start; margin: 0.5em 0; }
        .row:has(+ table) { display: inline-flex; vertical-align: top; margin-right: 1.5em; } .row + table { display: inline-table; vertical-align: top; }
        figure { margin: 0; max-width: 100%; }
        figure img { image-rendering: pixelated; max-width: 100%; height: auto; border: 1px solid #ddd; }
        figcaption { font-size: 0.8em; color: #555; }
        table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
        </style>
        <script>
        // A link to an anchor inside a closed section opens that section and every one around it.
        function openAnchor() {
          const target = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
          for (let e = target; e; e = e.parentElement) if (e.tagName === 'DETAILS') e.open = true;
          if (target) target.scrollIntoView();
        }
        addEventListener('hashchange', openAnchor);
        addEventListener('DOMContentLoaded', openAnchor);
        </script></head>
        <body><h1>{{WebUtility.HtmlEncode(title)}}</h1>
        {{body}}</body></html>
        """;
    }

    private static string Link(string text, string id) => $"<a href=\"#{WebUtility.HtmlEncode(id)}\">{WebUtility.HtmlEncode(text)}</a>";
}
