using ConvViz.Engine.Imaging;
using SkiaSharp;

namespace ConvViz.Engine.Figures;

/// <summary>One curve of a <see cref="LineChart"/>: its name (in the legend) and its points; a non-finite y breaks the line.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y)
{
    /// <summary>A curve over 1, 2, 3, ...: steps, epochs.</summary>
    public static ChartSeries Counted(string name, IEnumerable<double> y)
    {
        var values = y.ToArray();
        return new ChartSeries(name, Enumerable.Range(1, values.Length).Select(i => (double)i).ToArray(), values);
    }
}

/// <summary>
/// A line chart as a PNG figure (loss and objective curves): title, axes with round-valued ticks and their values,
/// axis labels, a legend right of the plot when there are several curves (up to <see cref="MaxLegend"/>), dots on the points when
/// there are few. <see cref="LogY"/> draws the y axis in powers of ten (for losses that fall by orders of
/// magnitude; every finite value must then be positive).
/// </summary>
public sealed record LineChart(string Title, string XLabel, string YLabel, IReadOnlyList<ChartSeries> Series)
{
    internal const int MaxLegend = 10, DotsUpTo = 40;
    internal const float TitleSize = 14, LabelSize = 12, TickSize = 11;

    /// <summary>matplotlib's tab10, the colours of the curves in order.</summary>
    internal static readonly SKColor[] Palette =
        [new(31, 119, 180), new(255, 127, 14), new(44, 160, 44), new(214, 39, 40), new(148, 103, 189), new(140, 86, 75), new(227, 119, 194), new(127, 127, 127), new(188, 189, 34), new(23, 190, 207)];

    public bool LogY { get; init; }

    /// <summary>The plotted ranges and the ticks of both axes.</summary>
    internal ChartAxes Axes()
    {
        var points = Series.SelectMany(s => s.X.Zip(s.Y)).Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second)).ToArray();
        if (points.Length == 0) throw new ArgumentException($"the chart '{Title}' has no finite point to draw");
        if (LogY && points.Any(p => p.Second <= 0)) throw new ArgumentException($"the chart '{Title}' has a value <= 0, which a logarithmic axis cannot show");
        double xLow = points.Min(p => p.First), xHigh = points.Max(p => p.First);
        if (xHigh == xLow) (xLow, xHigh) = (xLow - 1, xHigh + 1);
        double yLow = points.Min(p => Y(p.Second)), yHigh = points.Max(p => Y(p.Second));
        if (yHigh == yLow) (yLow, yHigh) = (yLow - (yLow == 0 ? 1 : Math.Abs(yLow) * 0.1), yHigh + (yHigh == 0 ? 1 : Math.Abs(yHigh) * 0.1));
        // A little room above and below the curves, none left or right of the first and last point.
        double pad = (yHigh - yLow) * 0.05;
        (yLow, yHigh) = (yLow - pad, yHigh + pad);
        bool integral = points.All(p => p.First == Math.Round(p.First));
        var xTicks = FigureText.Ticks(xLow, xHigh, 6).Where(t => !integral || t == Math.Round(t)).ToArray();
        var yTicks = LogY ? LogTicks(yLow, yHigh) : FigureText.Ticks(yLow, yHigh, 5);
        return new ChartAxes(xLow, xHigh, yLow, yHigh, xTicks, yTicks);
    }

    public Image8 Draw(int width = 800, int height = 480)
    {
        var axes = Axes();
        const int top = 36, bottom = 48;
        bool legend = Series.Count > 1 && Series.Count <= MaxLegend;
        int right = 20 + (legend ? LegendWidth() + 12 : 0);
        int tickLine = FigureCanvas.LineHeight(TickSize);
        var yLabels = axes.YTicks.Select(TickText).ToArray();
        int left = 22 + FigureCanvas.LineHeight(LabelSize) + (yLabels.Length == 0 ? 0 : (int)Math.Ceiling(yLabels.Max(l => FigureCanvas.TextWidth(l, TickSize))));
        using var canvas = new FigureCanvas(width, height);
        var plot = new SKRect(left, top, width - right, height - bottom);
        float Px(double x) => plot.Left + (float)((x - axes.XLow) / (axes.XHigh - axes.XLow)) * plot.Width;
        float Py(double y) => plot.Bottom - (float)((y - axes.YLow) / (axes.YHigh - axes.YLow)) * plot.Height;

        canvas.Text(Title, width / 2f, 22, TitleSize, SKTextAlign.Center);
        var grid = new SKColor(225, 225, 225);
        for (int i = 0; i < axes.YTicks.Count; i++)
        {
            float y = MathF.Round(Py(axes.YTicks[i])) + 0.5f;
            canvas.Line(plot.Left, y, plot.Right, y, grid);
            canvas.Line(plot.Left - 4, y, plot.Left, y, FigureCanvas.Ink);
            canvas.Text(yLabels[i], plot.Left - 6, y + TickSize / 2 - 1, TickSize, SKTextAlign.Right);
        }
        foreach (double tick in axes.XTicks)
        {
            float x = MathF.Round(Px(tick)) + 0.5f;
            canvas.Line(x, plot.Top, x, plot.Bottom, grid);
            canvas.Line(x, plot.Bottom, x, plot.Bottom + 4, FigureCanvas.Ink);
            canvas.Text(FigureText.Number(tick), x, plot.Bottom + 4 + tickLine - 2, TickSize, SKTextAlign.Center);
        }
        canvas.StrokeRectangle(plot.Left + 0.5f, plot.Top + 0.5f, plot.Width, plot.Height, FigureCanvas.Ink);
        canvas.Text(XLabel, plot.MidX, height - 10, LabelSize, SKTextAlign.Center);
        canvas.VerticalText(YLabel + (LogY ? " (log scale)" : ""), 8 + FigureCanvas.LineHeight(LabelSize) / 2f + 4, plot.MidY, LabelSize);

        for (int s = 0; s < Series.Count; s++)
        {
            var series = Series[s];
            var color = Palette[s % Palette.Length];
            var run = new List<SKPoint>();
            int count = Math.Min(series.X.Count, series.Y.Count);
            for (int i = 0; i <= count; i++)
            {
                bool valid = i < count && double.IsFinite(series.X[i]) && double.IsFinite(series.Y[i]);
                if (valid) run.Add(new SKPoint(Px(series.X[i]), Py(Y(series.Y[i]))));
                if (valid && i < count) continue;
                canvas.Polyline(run, color, 2);
                if (count <= DotsUpTo) foreach (var point in run) canvas.Dot(point.X, point.Y, 3, color);
                run.Clear();
            }
        }
        if (legend) Legend(canvas, plot);
        return canvas.ToImage();
    }

    private void Legend(FigureCanvas canvas, SKRect plot)
    {
        int line = FigureCanvas.LineHeight(TickSize) + 2;
        int width = LegendWidth();
        float left = plot.Right + 12, top = plot.Top;
        canvas.FillRectangle(left, top, width, Series.Count * line + 6, FigureCanvas.Background);
        canvas.StrokeRectangle(left + 0.5f, top + 0.5f, width, Series.Count * line + 6, new SKColor(160, 160, 160));
        for (int s = 0; s < Series.Count; s++)
        {
            float y = top + 3 + s * line + line / 2f;
            canvas.Line(left + 6, y, left + 24, y, Palette[s % Palette.Length], 3);
            canvas.Text(Series[s].Name, left + 28, y + TickSize / 2 - 1, TickSize);
        }
    }

    /// <summary>The powers of ten inside [10^low, 10^high] (as exponents); over less than two decades, round values instead.</summary>
    private static IReadOnlyList<double> LogTicks(double low, double high)
    {
        var powers = Enumerable.Range((int)Math.Ceiling(low), Math.Max(0, (int)Math.Floor(high) - (int)Math.Ceiling(low) + 1)).Select(e => (double)e).ToArray();
        return powers.Length >= 2 ? powers : FigureText.Ticks(Math.Pow(10, low), Math.Pow(10, high), 4).Where(t => t > 0).Select(Math.Log10).ToArray();
    }

    private int LegendWidth() => (int)Math.Ceiling(Series.Max(s => FigureCanvas.TextWidth(s.Name, TickSize))) + 34;

    private double Y(double value) => LogY ? Math.Log10(value) : value;

    private string TickText(double tick) => LogY ? FigureText.Number(Math.Pow(10, tick)) : FigureText.Number(tick);
}

/// <summary>A chart's plotted ranges (y in log10 on a logarithmic axis) and its tick values.</summary>
internal sealed record ChartAxes(double XLow, double XHigh, double YLow, double YHigh, IReadOnlyList<double> XTicks, IReadOnlyList<double> YTicks);
