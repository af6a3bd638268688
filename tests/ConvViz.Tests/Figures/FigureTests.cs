using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Visualization;
using SkiaSharp;

namespace ConvViz.Tests.Figures;

/// <summary>
/// The figure pieces, checked by reading their pixels: labelled grids (text in the label bands, never on a tile),
/// colour bars (drawn from the real minimum and maximum), paging and the width cap, the strongest filter channels,
/// crisp enlargements, line charts, and the font lookup.
/// </summary>
public sealed class FigureTests
{
    private static readonly byte[] White = [255, 255, 255];

    [Fact]
    public void LabelledGrid_WritesEachLabelInItsBand_AndLeavesEveryTileExactlyItsPixels()
    {
        var random = new Random(7);
        var tiles = Enumerable.Range(0, 11).Select(t => Noise(random, 7, 5, t % 2 == 0 ? 1 : 3)).ToArray();
        var grid = new TileGrid(tiles, 4, 4) { Labels = tiles.Select((_, t) => $"{t}").ToArray(), Title = "relu2 (Relu): 11 channels of 5x7" };
        var image = grid.Draw();
        var layout = grid.Layout();

        Assert.Equal((layout.Width, layout.Height, 3), (image.Width, image.Height, image.Channels));
        var tileAreas = Enumerable.Range(0, tiles.Length).Select(layout.Tile).ToArray();
        var bands = Enumerable.Range(0, tiles.Length).Select(layout.LabelBand).ToArray();
        for (int t = 0; t < tiles.Length; t++)
        {
            // The tile is the tile enlarged 4 times, pixel for pixel: no text reached it.
            Assert.Equal(ToRgb(Enlargement.Nearest(tiles[t], 4)).Pixels, Crop(image, tileAreas[t]).Pixels);
            int ink = Ink(image, bands[t]);
            Assert.True(ink >= 10, $"label band {t} ({bands[t]}) holds {ink} text pixels");
        }
        // Every pixel outside the tiles and their one-pixel frames that is not background is text in a label band or in the title band.
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
                if (!IsBackground(image, x, y) && !tileAreas.Any(r => Framed(r).Contains(x, y)))
                    Assert.True(y < layout.GridTop || bands.Any(r => r.Contains(x, y)), $"stray ink at ({x}, {y})");
        Assert.True(Ink(image, new SKRectI(0, 0, image.Width, layout.GridTop)) > 100, "the title band holds the title");

        // Without labels or title the same tiles are drawn with no text at all.
        var bare = new TileGrid(tiles, 4, 4);
        var plain = bare.Draw();
        var plainLayout = bare.Layout();
        Assert.Equal(0, plainLayout.LabelHeight);
        Assert.Equal(0, Ink(plain, new SKRectI(0, 0, plain.Width, plain.Height)) - Enumerable.Range(0, tiles.Length).Sum(t => Ink(plain, Framed(plainLayout.Tile(t)))));
    }

    [Fact]
    public void ActivationColorBar_EndsAtTheLayersRealMinimumAndMaximum_AndWritesThem()
    {
        var random = new Random(3);
        var values = Enumerable.Range(0, 20 * 6 * 6).Select(_ => (float)(random.NextDouble() * 16 - 3.7)).ToArray();
        values[17] = -3.75f;
        values[401] = 12.5f;
        var grids = LayerFigures.ActivationGrids(values, new Shape(1, 20, 6, 6), "conv1 (Conv)", Normalization.PerLayer, Colormap.Viridis, 32, labels: true);

        var bar = Assert.Single(grids).Bar!;
        Assert.Equal((values.Min(), values.Max()), ((float)bar.Min, (float)bar.Max));
        Assert.Equal(("-3.75", "12.5"), (bar.MinLabel, bar.MaxLabel));
        Assert.All(bar.InnerTicks, t => Assert.InRange(t, bar.Min, bar.Max));

        var image = grids[0].Draw();
        var layout = grids[0].Layout();
        var strip = new SKRectI(layout.GridLeft, layout.BarTop, layout.GridLeft + layout.BarLength, layout.BarTop + ColorBar.StripHeight);
        Assert.Equal(Rgb(Colormap.Viridis.Color(0)), Pixel(image, strip.Left, strip.MidY));
        Assert.Equal(Rgb(Colormap.Viridis.Color(1)), Pixel(image, strip.Right - 1, strip.MidY));
        int labelTop = strip.Bottom + ColorBar.TickLength, labelBottom = labelTop + FigureCanvas.LineHeight(ColorBar.LabelSize);
        Assert.True(Ink(image, new SKRectI(strip.Left, labelTop, strip.Left + 40, labelBottom)) > 20, "the minimum is written under the bar's left end");
        Assert.True(Ink(image, new SKRectI(strip.Right - 40, labelTop, strip.Right, labelBottom)) > 20, "the maximum is written under the bar's right end");

        // The bar alone (for a heatmap): the layout it reports is where its strip and its values are.
        var scale = new ColorScale(Colormap.Jet, -0.0125, 0.7, "drop in probability");
        using (var canvas = new FigureCanvas(340, ColorBar.Height + 20))
        {
            var drawn = ColorBar.Draw(canvas, scale, 20, 10, 300);
            var alone = canvas.ToImage();
            Assert.Equal(Rgb(Colormap.Jet.Color(0)), Pixel(alone, drawn.Strip.Left, drawn.Strip.MidY));
            Assert.Equal(Rgb(Colormap.Jet.Color(1)), Pixel(alone, drawn.Strip.Right - 1, drawn.Strip.MidY));
            Assert.True(Ink(alone, new SKRectI(drawn.Labels.Left, drawn.Labels.Top, drawn.Labels.Left + 40, drawn.Labels.Bottom)) > 20, "-0.0125 is written at the left end");
            Assert.True(Ink(alone, new SKRectI(drawn.Labels.Right - 30, drawn.Labels.Top, drawn.Labels.Right, drawn.Labels.Bottom)) > 20, "0.7 is written at the right end");
        }
        Assert.Equal(("-0.0125", "0.7"), (scale.MinLabel, scale.MaxLabel));
        Assert.True(ColorBar.Render(scale, 300).Width >= 300);

        // Tiles scaled each on their own have no common scale to show.
        Assert.Null(LayerFigures.ActivationGrids(values, new Shape(1, 20, 6, 6), "conv1", Normalization.PerTile, Colormap.Gray, 32, labels: true)[0].Bar);
    }

    [Fact]
    public void LargeLayers_ArePagedAtTheStatedTileCount_AndNoPageIsWiderThanTheCap()
    {
        var values = new float[600 * 30 * 30];
        var grids = LayerFigures.ActivationGrids(values, new Shape(1, 600, 30, 30), "conv3 (Conv)", Normalization.PerLayer, Colormap.Gray, 96, labels: true);

        Assert.Equal([256, 256, 88], grids.Select(g => g.Tiles.Count));
        Assert.Equal(["256", "257"], grids[1].Labels!.Take(2));
        Assert.Contains("page 2 of 3", grids[1].Title);
        foreach (var grid in grids)
        {
            var layout = grid.Layout();
            Assert.True(layout.Width <= GridPages.MaxWidth, $"a page {layout.Width} px wide");
            Assert.True(layout.Columns <= GridPages.MaxColumns);
            Assert.Equal(layout.Width, grid.Draw().Width);
        }
        // 16 columns of 30-pixel maps would be 96 px each at the asked scale: the cap brings them to 90 (scale 3).
        Assert.Equal(3, grids[0].Layout().Scale);

        // Wide tiles: fewer columns rather than a wall.
        var wide = new TileGrid(Enumerable.Range(0, 40).Select(_ => new Image8(300, 10, 1, new byte[3000])).ToArray(), 1, GridPages.Columns(40));
        Assert.True(wide.Layout().Width <= GridPages.MaxWidth, $"{wide.Layout().Width} px");

        // A fully connected layer with more units than a page: one summary page of small cells, rows numbered.
        var fc = LayerFigures.ActivationGrids(new float[4096], new Shape(1, 4096), "fc6 (Gemm)", Normalization.PerLayer, Colormap.Gray, 32, labels: true);
        var summary = Assert.Single(fc);
        Assert.Equal(LayerFigures.SummaryColumns, summary.Columns);
        Assert.Equal(4096 / LayerFigures.SummaryColumns, summary.RowLabels!.Count);
        Assert.Equal("64", summary.RowLabels[1]);
        Assert.True(summary.Layout().Width <= GridPages.MaxWidth);
    }

    [Fact]
    public void DeepFilterGrids_ShowEachFiltersStrongestInputChannels()
    {
        // Two filters of 10 input channels of 2x2. Filter 0's channel ch holds the kernel (ch, 0, 0, 0) except channel 3
        // (all four weights -6: norm 12) and channel 8 (0, 0, 0, 9.5: norm 9.5); filter 1's kernels are 1, 1, 1, 1 in
        // channel 0 (norm 2) and (0.5, 0.5, 0.5, 0.5) elsewhere (norm 1), so its ties keep channel order.
        var weights = new float[2 * 10 * 4];
        for (int ch = 0; ch < 10; ch++) weights[ch * 4] = ch;
        weights.AsSpan(3 * 4, 4).Fill(-6);
        weights[8 * 4] = 0;
        weights[8 * 4 + 3] = 9.5f;
        weights.AsSpan(40, 40).Fill(0.5f);
        weights.AsSpan(40, 4).Fill(1);
        var shape = new Shape(2, 10, 2, 2);

        // By hand: filter 0's norms are 0, 1, 2, 12, 4, 5, 6, 7, 9.5, 9; filter 1's 2, 1, 1, ...
        Assert.Equal([3, 8, 9, 7], LayerFigures.Strongest(weights, shape, 0, 4));
        Assert.Equal([0, 1, 2], LayerFigures.Strongest(weights, shape, 1, 3));

        var grid = Assert.Single(LayerFigures.FilterGrids(weights, shape, ChannelOrder.Gray, "conv3", labels: true));
        Assert.Equal(LayerFigures.StrongestChannels, grid.Columns);
        Assert.Equal(["c3", "c8", "c9", "c7", "c6", "c5", "c4", "c2"], grid.Labels!.Take(8));
        Assert.Equal(["filter 0", "filter 1"], grid.RowLabels);
        // The first tile is channel 3's kernel, -6 everywhere: the layer's minimum, black.
        Assert.All(grid.Tiles[0].Pixels, p => Assert.Equal(0, p));
    }

    [Fact]
    public void FilterGrids_OfTheDefaultModelsDeepLayers_HaveEightChannelsPerFilterAndFitTheCap()
    {
        using var backend = new Engine.Backends.Cpu.CpuBackend();
        using var bundle = ModelBundle.Load(Support.Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        var conv3 = (Engine.Layers.Conv2dLayer)bundle.Network["conv3"];
        var weights = backend.Download(conv3.Weight.Value);
        var grids = LayerFigures.FilterGrids(weights, conv3.Weight.Value.Shape, ChannelOrder.Gray, "conv3", labels: true);

        // 128 filters of 64 channels: 32 filters (256 tiles) a page, each row the filter's 8 strongest channels.
        Assert.Equal(4, grids.Count);
        Assert.All(grids, g => Assert.Equal(256, g.Tiles.Count));
        Assert.Equal(LayerFigures.Strongest(weights, conv3.Weight.Value.Shape, 33, 8).Select(c => $"c{c}"), grids[1].Labels!.Skip(8).Take(8));
        Assert.All(grids, g => Assert.True(g.Layout().Width <= GridPages.MaxWidth));
    }

    [Fact]
    public void Enlargement_RepeatsEachPixelAsABlock_ToAtLeast224()
    {
        var image = Noise(new Random(1), 28, 28, 1);
        var large = Enlargement.ToMinimumSide(image);
        Assert.Equal((224, 224), (large.Width, large.Height));
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++)
                Assert.Equal(image.Pixels[y / 8 * 28 + x / 8], large.Pixels[y * 224 + x]);
        Assert.Same(image, Enlargement.ToMinimumSide(image, 28));
        var photo = new Image8(300, 227, 3, new byte[300 * 227 * 3]);
        Assert.Same(photo, Enlargement.ToMinimumSide(photo));
        Assert.Equal(5, Enlargement.ScaleFor(45, 60)); // 45 * 5 = 225
    }

    [Fact]
    public void Numbers_AndTicks_AreRoundAndInRange()
    {
        Assert.Equal(["0", "0.2443", "12.35", "-0.001", "1.235E+5", "1E-5"],
            new[] { 0, 0.2443, 12.345678, -0.001, 123456.0, 0.00001 }.Select(FigureText.Number));
        Assert.Equal([0, 0.2, 0.4, 0.6, 0.8, 1], FigureText.Ticks(0, 1, 5).Select(t => Math.Round(t, 10)));
        Assert.Equal([0, 5, 10], FigureText.Ticks(-3.8, 12.4, 5));
        Assert.Equal([-2, 0, 2, 4, 6, 8, 10, 12], FigureText.Ticks(-3.8, 12.4, 9));
        // Beyond 2^53 a step no longer changes low / step: the ticks still end, at most 4 * count + 2 of them, all in range.
        var far = FigureText.Ticks(1e16, 1e16 + 2, 5);
        Assert.InRange(far.Count, 1, 22);
        Assert.All(far, t => Assert.InRange(t, 1e16, 1e16 + 2));
    }

    [Fact]
    public void LineChart_DrawsAxesTicksAndEachCurve()
    {
        var chart = new LineChart("Loss by epoch", "epoch", "loss",
            [ChartSeries.Counted("train", [2.3, 0.9, 0.5, 0.41, 0.35]), ChartSeries.Counted("test", [1.1, 0.7, 0.52, 0.45, double.NaN])]);
        var axes = chart.Axes();
        Assert.Equal([1, 2, 3, 4, 5], axes.XTicks);
        Assert.True(axes.YTicks.Count >= 3 && axes.YTicks.All(t => t >= axes.YLow && t <= axes.YHigh));
        Assert.True(axes.YLow < 0.35 && axes.YHigh > 2.3);

        var image = chart.Draw(640, 400);
        Assert.Equal((640, 400), (image.Width, image.Height));
        int Count(SKColor c) => Enumerable.Range(0, 640 * 400).Count(i => image.Pixels[3 * i] == c.Red && image.Pixels[3 * i + 1] == c.Green && image.Pixels[3 * i + 2] == c.Blue);
        Assert.True(Count(LineChart.Palette[0]) > 200, "the first curve is drawn");
        Assert.True(Count(LineChart.Palette[1]) > 150, "the second curve is drawn");
        Assert.True(Ink(image, new SKRectI(0, 0, 640, 30)) > 100, "the title is written");

        var log = new LineChart("Style losses", "evaluation", "loss", [ChartSeries.Counted("style", [1e4, 2e3, 90, 8])]) { LogY = true };
        Assert.Equal([1, 2, 3, 4], log.Axes().YTicks);
        Assert.Throws<ArgumentException>(() => (log with { Series = [ChartSeries.Counted("bad", [1, 0])] }).Axes());
    }

    [Fact]
    public void MissingFont_IsOneLineNamingThePackage_AndAnyFontUnderTheRootIsTakenInstead()
    {
        string empty = Directory.CreateTempSubdirectory("convviz-nofont").FullName;
        try
        {
            var e = Assert.Throws<FileNotFoundException>(() => FigureFont.Load(Path.Combine(empty, "DejaVuSans.ttf"), empty));
            Assert.DoesNotContain('\n', e.Message);
            Assert.Contains("fonts-dejavu-core", e.Message);
            Assert.Contains("without labels", e.Message);

            File.WriteAllText(Path.Combine(empty, "Broken.ttf"), "not a font");
            Assert.Throws<FileNotFoundException>(() => FigureFont.Load(Path.Combine(empty, "DejaVuSans.ttf"), empty));
            File.Copy(FigureFont.Preferred, Path.Combine(empty, "Other Sans.ttf"));
            using var typeface = FigureFont.Load(Path.Combine(empty, "DejaVuSans.ttf"), empty);
            Assert.Equal("DejaVu Sans", typeface.FamilyName);
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    private static Image8 Noise(Random random, int width, int height, int channels)
    {
        var pixels = new byte[width * height * channels];
        random.NextBytes(pixels);
        return new Image8(width, height, channels, pixels);
    }

    private static SKRectI Framed(SKRectI tile) => new(tile.Left - 1, tile.Top - 1, tile.Right + 1, tile.Bottom + 1);

    private static Image8 ToRgb(Image8 image) => image.Channels == 3 ? image : ImageTensors.ToChannels(image, 3);

    private static Image8 Crop(Image8 image, SKRectI area)
    {
        var pixels = new byte[area.Width * area.Height * 3];
        for (int y = 0; y < area.Height; y++)
            Array.Copy(image.Pixels, ((area.Top + y) * image.Width + area.Left) * 3, pixels, y * area.Width * 3, area.Width * 3);
        return new Image8(area.Width, area.Height, 3, pixels);
    }

    private static byte[] Pixel(Image8 image, int x, int y) => image.Pixels[((y * image.Width + x) * 3)..((y * image.Width + x) * 3 + 3)];

    private static byte[] Rgb((byte R, byte G, byte B) color) => [color.R, color.G, color.B];

    private static bool IsBackground(Image8 image, int x, int y) => Pixel(image, x, y).SequenceEqual(White);

    /// <summary>The pixels of <paramref name="area"/> that are not the white background.</summary>
    private static int Ink(Image8 image, SKRectI area)
    {
        int count = 0;
        for (int y = Math.Max(0, area.Top); y < Math.Min(image.Height, area.Bottom); y++)
            for (int x = Math.Max(0, area.Left); x < Math.Min(image.Width, area.Right); x++)
                if (!IsBackground(image, x, y)) count++;
        return count;
    }
}
