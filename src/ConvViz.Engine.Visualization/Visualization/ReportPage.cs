using System.Net;
using System.Text;
using ConvViz.Engine.Imaging;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// A self-contained HTML page: headings, text, tables and captioned figures whose PNGs are embedded
/// as data URIs, so the one file can be mailed, archived or opened offline. Small images are shown
/// enlarged with crisp pixels.
/// </summary>
public sealed class ReportPage(string title)
{
    private readonly StringBuilder body = new();

    public void Heading(string text, int level = 2) => body.Append($"<h{level}>{WebUtility.HtmlEncode(text)}</h{level}>\n");

    public void Paragraph(string text) => body.Append($"<p>{WebUtility.HtmlEncode(text)}</p>\n");

    public void Table(string[] header, IEnumerable<string[]> rows)
    {
        body.Append("<table><tr>").AppendJoin("", header.Select(h => $"<th>{WebUtility.HtmlEncode(h)}</th>")).Append("</tr>\n");
        foreach (var row in rows) body.Append("<tr>").AppendJoin("", row.Select(c => $"<td>{WebUtility.HtmlEncode(c)}</td>")).Append("</tr>\n");
        body.Append("</table>\n");
    }

    /// <summary>A row of figures; each image is drawn at least <paramref name="minimumWidth"/> CSS pixels wide.</summary>
    public void Figures(IEnumerable<(Image8 Image, string Caption)> figures, int minimumWidth = 168)
    {
        body.Append("<div class=\"row\">\n");
        foreach (var (image, caption) in figures)
        {
            int width = Math.Max(image.Width, minimumWidth);
            string data = Convert.ToBase64String(ImageFile.EncodePng(image));
            body.Append($"<figure><img src=\"data:image/png;base64,{data}\" width=\"{width}\" alt=\"{WebUtility.HtmlEncode(caption)}\">")
                .Append($"<figcaption>{WebUtility.HtmlEncode(caption)}</figcaption></figure>\n");
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

    public string ToHtml() =>
        $"""
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>{WebUtility.HtmlEncode(title)}</title>
        <style>
        body {"{"} font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; {"}"}
        h1 {"{"} font-size: 1.6em; {"}"} h2 {"{"} margin-top: 2em; border-bottom: 1px solid #ccc; {"}"} h3 {"{"} margin-top: 1.5em; {"}"}
        .row {"{"} display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; {"}"}
        figure {"{"} margin: 0; max-width: 100%; {"}"}
        figure img {"{"} image-rendering: pixelated; max-width: 100%; height: auto; border: 1px solid #ddd; {"}"}
        figcaption {"{"} font-size: 0.85em; color: #555; max-width: 28em; {"}"}
        table {"{"} border-collapse: collapse; margin: 0.5em 0; {"}"} td, th {"{"} border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; {"}"}
        </style></head>
        <body><h1>{WebUtility.HtmlEncode(title)}</h1>
        {body}</body></html>
        """;
}
