using ConvViz.Engine.Imaging;
using SkiaSharp;

namespace ConvViz.Engine.Figures;

/// <summary>
/// An RGB drawing surface for figures: a SkiaSharp raster canvas on an opaque white background. Images are
/// copied in pixel for pixel (never resampled or blended: a tile on a figure holds exactly the tile's pixels);
/// text, lines and rectangles go through Skia, antialiased, in <see cref="FigureFont"/>.
/// </summary>
internal sealed unsafe class FigureCanvas : IDisposable
{
    public static readonly SKColor Background = SKColors.White;
    public static readonly SKColor Ink = new(24, 24, 24);

    private readonly SKBitmap bitmap;
    private readonly SKCanvas canvas;

    public FigureCanvas(int width, int height)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"a figure of {width}x{height} pixels is empty");
        Width = width;
        Height = height;
        bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        canvas = new SKCanvas(bitmap);
        canvas.Clear(Background);
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>The line height of text of <paramref name="size"/> pixels: ascent plus descent, rounded up.</summary>
    public static int LineHeight(float size)
    {
        using var font = Font(size);
        return (int)Math.Ceiling(font.Metrics.Descent - font.Metrics.Ascent);
    }

    /// <summary>How wide <paramref name="text"/> is at <paramref name="size"/> pixels.</summary>
    public static float TextWidth(string text, float size)
    {
        using var font = Font(size);
        return font.MeasureText(text);
    }

    /// <summary>Copies <paramref name="image"/> (gray, RGB or RGBA, alpha ignored) with its top-left corner at (<paramref name="left"/>, <paramref name="top"/>).</summary>
    public void Image(Image8 image, int left, int top)
    {
        if (left < 0 || top < 0 || left + image.Width > Width || top + image.Height > Height)
            throw new ArgumentException($"a {image.Width}x{image.Height} image at ({left}, {top}) does not fit a {Width}x{Height} figure");
        var pixels = Pixels;
        int rowBytes = bitmap.RowBytes, channels = image.Channels;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                int source = (y * image.Width + x) * channels, target = (top + y) * rowBytes + (left + x) * 4;
                byte r = image.Pixels[source];
                pixels[target] = r;
                pixels[target + 1] = channels == 1 ? r : image.Pixels[source + 1];
                pixels[target + 2] = channels == 1 ? r : image.Pixels[source + 2];
                pixels[target + 3] = 255;
            }
    }

    /// <summary>Draws one line of text with its baseline at <paramref name="baseline"/>, aligned at <paramref name="x"/>.</summary>
    public void Text(string text, float x, float baseline, float size, SKTextAlign align = SKTextAlign.Left, SKColor? color = null)
    {
        using var font = Font(size);
        using var paint = new SKPaint { Color = color ?? Ink, IsAntialias = true };
        canvas.DrawText(text, x, baseline, align, font, paint);
    }

    /// <summary>Text turned a quarter counter-clockwise (reading upwards), centered on (<paramref name="x"/>, <paramref name="y"/>) along its length.</summary>
    public void VerticalText(string text, float x, float y, float size)
    {
        canvas.Save();
        canvas.RotateDegrees(-90, x, y);
        Text(text, x, y, size, SKTextAlign.Center);
        canvas.Restore();
    }

    /// <summary>A straight line of <paramref name="width"/> pixels.</summary>
    public void Line(float x0, float y0, float x1, float y1, SKColor color, float width = 1)
    {
        // A one-pixel line along an axis (at a pixel centre) stays crisp; slanted or thicker lines are smoothed.
        using var paint = new SKPaint { Color = color, StrokeWidth = width, IsAntialias = width != 1 || (x0 != x1 && y0 != y1), Style = SKPaintStyle.Stroke };
        canvas.DrawLine(x0, y0, x1, y1, paint);
    }

    /// <summary>Connected line segments through <paramref name="points"/>.</summary>
    public void Polyline(IReadOnlyList<SKPoint> points, SKColor color, float width)
    {
        if (points.Count < 2) return;
        using var paint = new SKPaint { Color = color, StrokeWidth = width, IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeCap = SKStrokeCap.Round };
        canvas.DrawPoints(SKPointMode.Polygon, [.. points], paint);
    }

    public void Dot(float x, float y, float radius, SKColor color)
    {
        using var paint = new SKPaint { Color = color, IsAntialias = true };
        canvas.DrawCircle(x, y, radius, paint);
    }

    public void FillRectangle(float left, float top, float width, float height, SKColor color)
    {
        using var paint = new SKPaint { Color = color };
        canvas.DrawRect(left, top, width, height, paint);
    }

    public void StrokeRectangle(float left, float top, float width, float height, SKColor color)
    {
        using var paint = new SKPaint { Color = color, Style = SKPaintStyle.Stroke, StrokeWidth = 1 };
        canvas.DrawRect(left, top, width, height, paint);
    }

    /// <summary>The figure as an RGB image.</summary>
    public Image8 ToImage()
    {
        var pixels = Pixels;
        var rgb = new byte[Width * Height * 3];
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                int source = y * bitmap.RowBytes + x * 4, target = (y * Width + x) * 3;
                rgb[target] = pixels[source];
                rgb[target + 1] = pixels[source + 1];
                rgb[target + 2] = pixels[source + 2];
            }
        return new Image8(Width, Height, 3, rgb);
    }

    public void Dispose()
    {
        canvas.Dispose();
        bitmap.Dispose();
    }

    /// <summary>The bitmap's RGBA bytes, rows <see cref="SKBitmap.RowBytes"/> apart (a raster canvas draws into them at once).</summary>
    private Span<byte> Pixels => new((void*)bitmap.GetPixels(), bitmap.ByteCount);

    private static SKFont Font(float size) => new(FigureFont.Typeface, size) { Edging = SKFontEdging.Antialias, Subpixel = true };
}
