using System.Globalization;
using System.Net;
using System.Text;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// A 2-D scatter plot of labelled points as SVG: one dot per point colored by its label (ten
/// categorical colors, repeating past ten labels), +y up, and a legend of the class names.
/// </summary>
public static class ScatterPlot
{
    /// <summary>The ten categorical colors of matplotlib's tab10.</summary>
    public static readonly string[] Palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    public static string ColorOf(int label) => Palette[label % Palette.Length];

    /// <param name="map">N x 2 row-major coordinates.</param>
    /// <param name="labels">N labels, indices into <paramref name="classNames"/>.</param>
    public static string Svg(double[] map, ReadOnlySpan<byte> labels, IReadOnlyList<string> classNames, string title, int size = 800)
    {
        int count = labels.Length;
        const int margin = 20, legendWidth = 220, titleHeight = 30;
        double minX = double.PositiveInfinity, maxX = double.NegativeInfinity, minY = double.PositiveInfinity, maxY = double.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            minX = Math.Min(minX, map[2 * i]); maxX = Math.Max(maxX, map[2 * i]);
            minY = Math.Min(minY, map[2 * i + 1]); maxY = Math.Max(maxY, map[2 * i + 1]);
        }
        // One scale for both axes keeps the map's distances undistorted.
        double scale = (size - 2 * margin) / Math.Max(Math.Max(maxX - minX, maxY - minY), 1e-12);
        double offsetX = margin + (size - 2 * margin - (maxX - minX) * scale) / 2;
        double offsetY = titleHeight + margin + (size - 2 * margin - (maxY - minY) * scale) / 2;
        string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

        var svg = new StringBuilder();
        svg.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size + legendWidth}\" height=\"{size + titleHeight}\" viewBox=\"0 0 {size + legendWidth} {size + titleHeight}\" font-family=\"sans-serif\">\n");
        svg.Append($"<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        svg.Append($"<text x=\"{margin}\" y=\"22\" font-size=\"16\">{WebUtility.HtmlEncode(title)}</text>\n");
        for (int i = 0; i < count; i++)
        {
            double x = offsetX + (map[2 * i] - minX) * scale, y = offsetY + (maxY - map[2 * i + 1]) * scale;
            svg.Append($"<circle cx=\"{F(x)}\" cy=\"{F(y)}\" r=\"2.5\" fill=\"{ColorOf(labels[i])}\" fill-opacity=\"0.75\"><title>{i}: {WebUtility.HtmlEncode(NameOf(labels[i], classNames))}</title></circle>\n");
        }
        var present = new SortedSet<int>();
        foreach (byte label in labels) present.Add(label);
        int row = 0;
        foreach (int label in present)
        {
            double y = titleHeight + margin + row++ * 22;
            svg.Append($"<rect x=\"{size + 10}\" y=\"{F(y)}\" width=\"14\" height=\"14\" fill=\"{ColorOf(label)}\"/>");
            svg.Append($"<text x=\"{size + 32}\" y=\"{F(y + 12)}\" font-size=\"14\">{label} {WebUtility.HtmlEncode(NameOf(label, classNames))}</text>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string NameOf(int label, IReadOnlyList<string> classNames) => label < classNames.Count ? classNames[label] : $"class {label}";
}
