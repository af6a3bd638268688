using ConvViz.Engine.Imaging;
using ConvViz.Engine.Visualization;
using SkiaSharp;

namespace ConvViz.Engine.Figures;

/// <summary>
/// What a colour bar shows: <see cref="Colormap"/> from colour 0 at the real value <see cref="Min"/> to colour 1 at
/// <see cref="Max"/>, and in words what the values are (<see cref="Caption"/>). Its end labels are exactly Min and
/// Max (<see cref="FigureText.Number"/>), its inner ticks round values between them.
/// </summary>
internal sealed record ColorScale(Colormap Colormap, double Min, double Max, string Caption)
{
    public string MinLabel => FigureText.Number(Min);
    public string MaxLabel => FigureText.Number(Max);

    /// <summary>Round values strictly between the ends.</summary>
    public IReadOnlyList<double> InnerTicks => FigureText.Ticks(Min, Max, 4).Where(t => t > Min && t < Max).ToArray();

    /// <summary>Where value <paramref name="value"/> sits along the bar, 0 at Min and 1 at Max.</summary>
    public double Position(double value) => Max > Min ? (value - Min) / (Max - Min) : 0;
}

/// <summary>Where a drawn colour bar's parts are: the colour strip and the band its tick labels are written in.</summary>
internal sealed record ColorBarLayout(SKRectI Strip, SKRectI Labels);

/// <summary>A horizontal colour bar: the colour strip, a tick under each end and each inner tick, the values under the ticks, then the caption.</summary>
internal static class ColorBar
{
    public const int StripHeight = 14, TickLength = 4;
    public const float LabelSize = 11, CaptionSize = 11;

    /// <summary>The height the bar takes: strip, ticks, a line of values and a line of caption.</summary>
    public static int Height => StripHeight + TickLength + 2 * FigureCanvas.LineHeight(LabelSize) + 2;

    /// <summary>Draws <paramref name="scale"/> with its strip <paramref name="length"/> pixels long from (<paramref name="left"/>, <paramref name="top"/>).</summary>
    public static ColorBarLayout Draw(FigureCanvas canvas, ColorScale scale, int left, int top, int length)
    {
        var strip = new byte[length * 3];
        for (int x = 0; x < length; x++)
        {
            var (r, g, b) = scale.Colormap.Color(length == 1 ? 0 : (float)x / (length - 1));
            (strip[3 * x], strip[3 * x + 1], strip[3 * x + 2]) = (r, g, b);
        }
        canvas.Image(Enlarge(new Image8(length, 1, 3, strip), StripHeight), left, top);
        canvas.StrokeRectangle(left - 0.5f, top - 0.5f, length + 1, StripHeight + 1, FigureCanvas.Ink);

        int tickTop = top + StripHeight, lineHeight = FigureCanvas.LineHeight(LabelSize);
        float baseline = tickTop + TickLength + lineHeight - 3;
        // The end labels always; an inner label only where it clears the labels already placed.
        var placed = new List<(float Left, float Right)>();
        void Label(double value, string text, SKTextAlign align)
        {
            float x = left + (float)scale.Position(value) * (length - 1), width = FigureCanvas.TextWidth(text, LabelSize);
            float start = align switch { SKTextAlign.Left => x, SKTextAlign.Right => x - width, _ => x - width / 2 };
            if (placed.Any(p => start < p.Right + 6 && start + width > p.Left - 6)) return;
            placed.Add((start, start + width));
            canvas.Line(x + 0.5f, tickTop, x + 0.5f, tickTop + TickLength, FigureCanvas.Ink);
            canvas.Text(text, x, baseline, LabelSize, align);
        }
        Label(scale.Min, scale.MinLabel, SKTextAlign.Left);
        Label(scale.Max, scale.MaxLabel, SKTextAlign.Right);
        foreach (double tick in scale.InnerTicks) Label(tick, FigureText.Number(tick), SKTextAlign.Center);
        canvas.Text(scale.Caption, left + length / 2f, baseline + lineHeight, CaptionSize, SKTextAlign.Center);
        return new ColorBarLayout(new SKRectI(left, top, left + length, top + StripHeight), new SKRectI(left, tickTop + TickLength, left + length, tickTop + TickLength + lineHeight));
    }

    /// <summary>The bar alone, on a figure just wide enough for it and its caption.</summary>
    public static Image8 Render(ColorScale scale, int length)
    {
        const int margin = 8;
        int width = Math.Max(length, (int)Math.Ceiling(FigureCanvas.TextWidth(scale.Caption, CaptionSize))) + 2 * margin;
        using var canvas = new FigureCanvas(width, Height + 2 * margin);
        Draw(canvas, scale, (width - length) / 2, margin, length);
        return canvas.ToImage();
    }

    private static Image8 Enlarge(Image8 row, int height)
    {
        var pixels = new byte[row.Pixels.Length * height];
        for (int y = 0; y < height; y++) row.Pixels.CopyTo(pixels, y * row.Pixels.Length);
        return new Image8(row.Width, height, 3, pixels);
    }
}
