using ConvViz.Engine.Imaging;
using SkiaSharp;

namespace ConvViz.Engine.Figures;

/// <summary>
/// A figure of same-sized tiles in rows: a title band on top (when <see cref="Title"/> is given), each tile enlarged
/// <see cref="Scale"/> times (nearest neighbour) with its label band under it (when <see cref="Labels"/> are given;
/// a label may hold several lines, as may the title), a label at the left of each row (<see cref="RowLabels"/>), and a
/// colour bar under the grid (<see cref="Bar"/>). Each tile has a one-pixel gray frame around it, so a white tile
/// shows on the white figure. A column is as wide as its tile or its widest label; the tile sits in its middle, so
/// text never covers a tile. A grid wider than <see cref="GridPages.MaxWidth"/> is drawn at a smaller
/// scale (down to 1), then, unless its rows mean something (row labels), with fewer columns.
/// </summary>
internal sealed record TileGrid(IReadOnlyList<Image8> Tiles, int Scale, int Columns)
{
    public const int Margin = 6, Gap = 4, RowLabelGap = 6;
    public const float LabelSize = 11, TitleSize = 14;
    public static readonly SKColor Frame = new(170, 170, 170);

    public IReadOnlyList<string>? Labels { get; init; }
    public IReadOnlyList<string>? RowLabels { get; init; }
    public string? Title { get; init; }
    public ColorScale? Bar { get; init; }

    /// <summary>Each row is one thing (a filter, a run of units): the width cap may shrink the tiles but never moves one to another row.</summary>
    public bool KeepColumns { get; init; }

    /// <summary>Where everything goes, with the scale and column count the width cap leaves.</summary>
    public GridLayout Layout()
    {
        if (Tiles.Count == 0) throw new ArgumentException("a grid needs at least one tile");
        int height = Tiles[0].Height, width = Tiles[0].Width;
        if (Tiles.Any(t => t.Height != height || t.Width != width)) throw new ArgumentException("the tiles of a grid must have one size");
        if (Labels is not null && Labels.Count != Tiles.Count) throw new ArgumentException($"{Labels.Count} labels for {Tiles.Count} tiles");
        if (Scale < 1 || Columns < 1) throw new ArgumentException($"a grid's scale ({Scale}) and columns ({Columns}) must be at least 1");

        int labelLines = Labels?.Max(l => l.Split('\n').Length) ?? 0;
        int labelHeight = labelLines == 0 ? 0 : labelLines * FigureCanvas.LineHeight(LabelSize) + 2;
        int labelWidth = Labels is null ? 0 : (int)Math.Ceiling(Labels.SelectMany(l => l.Split('\n')).Max(l => FigureCanvas.TextWidth(l, LabelSize))) + 4;
        int rowLabelWidth = RowLabels is null || RowLabels.Count == 0 ? 0
            : (int)Math.Ceiling(RowLabels.Max(l => FigureCanvas.TextWidth(l, LabelSize))) + RowLabelGap;
        var titleLines = Title?.Split('\n') ?? [];
        int titleHeight = titleLines.Length == 0 ? 0 : titleLines.Length * FigureCanvas.LineHeight(TitleSize) + Gap;
        int titleWidth = titleLines.Length == 0 ? 0 : (int)Math.Ceiling(titleLines.Max(l => FigureCanvas.TextWidth(l, TitleSize)));

        int columns = Math.Min(Columns, Tiles.Count), scale = Scale;
        int GridWidth(int s, int c) => rowLabelWidth + c * Math.Max(width * s, labelWidth) + (c - 1) * Gap;
        while (scale > 1 && GridWidth(scale, columns) > GridPages.MaxWidth - 2 * Margin) scale--;
        while (!KeepColumns && columns > 1 && GridWidth(scale, columns) > GridPages.MaxWidth - 2 * Margin) columns--;

        int tileWidth = width * scale, tileHeight = height * scale, columnWidth = Math.Max(tileWidth, labelWidth);
        int rows = (Tiles.Count + columns - 1) / columns, rowHeight = tileHeight + labelHeight;
        int gridWidth = GridWidth(scale, columns), gridHeight = rows * rowHeight + (rows - 1) * Gap;
        int barLength = Math.Clamp(gridWidth - rowLabelWidth, 200, 480);
        int figureWidth = 2 * Margin + Math.Max(gridWidth, Math.Max(titleWidth, Bar is null ? 0 : rowLabelWidth + barLength));
        int barTop = Margin + titleHeight + gridHeight + 2 * Gap;
        int figureHeight = Bar is null ? Margin + titleHeight + gridHeight + Margin : barTop + ColorBar.Height + Margin;
        return new GridLayout(figureWidth, figureHeight, scale, columns, tileWidth, tileHeight, columnWidth, rowHeight, labelHeight,
            Margin + rowLabelWidth, Margin + titleHeight, titleHeight, barTop, barLength);
    }

    public Image8 Draw()
    {
        var layout = Layout();
        using var canvas = new FigureCanvas(layout.Width, layout.Height);
        var titleLines = Title?.Split('\n') ?? [];
        for (int line = 0; line < titleLines.Length; line++)
            canvas.Text(titleLines[line], Margin, Margin + (line + 1) * FigureCanvas.LineHeight(TitleSize) - 4, TitleSize);
        int lineHeight = Labels is null ? 0 : FigureCanvas.LineHeight(LabelSize);
        for (int i = 0; i < Tiles.Count; i++)
        {
            var tile = layout.Tile(i);
            canvas.StrokeRectangle(tile.Left - 0.5f, tile.Top - 0.5f, tile.Width + 1, tile.Height + 1, Frame);
            canvas.Image(Enlargement.Nearest(Tiles[i], layout.Scale), tile.Left, tile.Top);
            if (Labels is null) continue;
            var band = layout.LabelBand(i);
            var lines = Labels[i].Split('\n');
            for (int line = 0; line < lines.Length; line++)
                canvas.Text(lines[line], band.MidX, band.Top + (line + 1) * lineHeight - 3, LabelSize, SKTextAlign.Center);
        }
        if (RowLabels is not null)
            for (int row = 0; row < Math.Min(RowLabels.Count, layout.Rows(Tiles.Count)); row++)
            {
                var first = layout.Tile(row * layout.Columns);
                canvas.Text(RowLabels[row], layout.GridLeft - RowLabelGap, first.MidY + LabelSize / 2 - 1, LabelSize, SKTextAlign.Right);
            }
        if (Bar is not null) ColorBar.Draw(canvas, Bar, layout.GridLeft, layout.BarTop, layout.BarLength);
        return canvas.ToImage();
    }
}

/// <summary>The pixel geometry of a drawn <see cref="TileGrid"/>.</summary>
internal sealed record GridLayout(int Width, int Height, int Scale, int Columns, int TileWidth, int TileHeight, int ColumnWidth, int RowHeight,
    int LabelHeight, int GridLeft, int GridTop, int TitleHeight, int BarTop, int BarLength)
{
    public int Rows(int tiles) => (tiles + Columns - 1) / Columns;

    /// <summary>Where tile <paramref name="index"/> is drawn (its enlarged pixels exactly).</summary>
    public SKRectI Tile(int index)
    {
        var column = Column(index);
        int left = column.Left + (ColumnWidth - TileWidth) / 2;
        return new SKRectI(left, column.Top, left + TileWidth, column.Top + TileHeight);
    }

    /// <summary>The band under tile <paramref name="index"/> its label is written in: the column's width, the label lines' height.</summary>
    public SKRectI LabelBand(int index)
    {
        var column = Column(index);
        return new SKRectI(column.Left, column.Top + TileHeight, column.Left + ColumnWidth, column.Top + TileHeight + LabelHeight);
    }

    private (int Left, int Top) Column(int index) =>
        (GridLeft + index % Columns * (ColumnWidth + TileGrid.Gap), GridTop + index / Columns * (RowHeight + TileGrid.Gap));
}

/// <summary>
/// How big a grid gets: at most <see cref="MaxTilesPerPage"/> tiles in at most <see cref="MaxColumns"/> columns and
/// <see cref="MaxWidth"/> pixels per figure; a layer with more tiles goes on further pages, NAME-page2.png and on.
/// </summary>
internal static class GridPages
{
    public const int MaxTilesPerPage = 256, MaxColumns = 16, MaxWidth = 1600;

    /// <summary>A near-square grid's columns for <paramref name="count"/> tiles on one page.</summary>
    public static int Columns(int count) => Math.Clamp((int)Math.Ceiling(Math.Sqrt(Math.Min(count, MaxTilesPerPage))), 1, MaxColumns);

    /// <summary>The first item and the item count of each page of <paramref name="count"/> items, <paramref name="perPage"/> a page.</summary>
    public static IReadOnlyList<(int First, int Count)> Split(int count, int perPage = MaxTilesPerPage)
    {
        if (perPage < 1) throw new ArgumentOutOfRangeException(nameof(perPage), perPage, "a page holds at least one item");
        return Enumerable.Range(0, Math.Max(1, (count + perPage - 1) / perPage)).Select(p => (p * perPage, Math.Min(perPage, count - p * perPage))).ToArray();
    }

    /// <summary>"conv2.png" for the first page, "conv2-page2.png" for the second.</summary>
    public static string FileName(string stem, int page) => page == 0 ? $"{stem}.png" : $"{stem}-page{page + 1}.png";
}

/// <summary>Finished figures put together on the white figure background.</summary>
internal static class Compose
{
    /// <summary>A title (one or more lines) above <paramref name="image"/>.</summary>
    public static Image8 Above(Image8 image, string title)
    {
        var lines = title.Split('\n');
        int lineHeight = FigureCanvas.LineHeight(TileGrid.TitleSize), band = TileGrid.Margin + lines.Length * lineHeight;
        int width = Math.Max(image.Width, (int)Math.Ceiling(lines.Max(l => FigureCanvas.TextWidth(l, TileGrid.TitleSize))) + 2 * TileGrid.Margin);
        using var canvas = new FigureCanvas(width, image.Height + band);
        for (int line = 0; line < lines.Length; line++)
            canvas.Text(lines[line], TileGrid.Margin, TileGrid.Margin + (line + 1) * lineHeight - 4, TileGrid.TitleSize);
        canvas.Image(image, 0, band);
        return canvas.ToImage();
    }

    /// <summary><paramref name="left"/> and <paramref name="right"/> next to each other, top-aligned, <paramref name="gap"/> pixels apart.</summary>
    public static Image8 SideBySide(Image8 left, Image8 right, int gap)
    {
        using var canvas = new FigureCanvas(left.Width + gap + right.Width, Math.Max(left.Height, right.Height));
        canvas.Image(left, 0, 0);
        canvas.Image(right, left.Width + gap, 0);
        return canvas.ToImage();
    }
}
