using System.Globalization;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Figures;

/// <summary>
/// The labelled, paged versions of the Toolbox's two layer pictures (<see cref="LayerViews"/> draws the bare
/// montages): a layer's activations and a conv layer's filters, each tile numbered (or named by its class), a title
/// with the layer, and a colour bar with the real values of the shared scale. Without labels the same tiles are
/// drawn with no text at all.
/// <para>Sizes: at most <see cref="GridPages.MaxTilesPerPage"/> tiles per page (further pages are
/// NAME-page2.png and on) and <see cref="GridPages.MaxWidth"/> pixels across. A layer without spatial maps and
/// more units than a page holds is summarized on one page instead: one small cell per unit in rows of
/// <see cref="SummaryColumns"/>, each row labelled with its first unit. A filter grid of a layer with more than
/// <see cref="StrongestChannels"/> input channels shows each filter's strongest ones (by the L2 norm of the
/// channel's kernel), strongest first, one filter per row.</para>
/// </summary>
internal static class LayerFigures
{
    public const int SummaryColumns = 64, SummaryCell = 10, StrongestChannels = 8;

    /// <summary>Batch item 0 of a layer output (N, C, H, W) or (N, C) as pages of tiles, one per channel.</summary>
    /// <param name="title">Names the layer: "conv2 (Conv)".</param>
    /// <param name="unitNames">The channels' names (class names), or null to number them.</param>
    public static IReadOnlyList<Image8> Activations(float[] output, Shape shape, string title, Normalization normalization, Colormap colormap,
        int tilePixels, bool labels, IReadOnlyList<string>? unitNames = null) =>
        ActivationGrids(output, shape, title, normalization, colormap, tilePixels, labels, unitNames).Select(g => g.Draw()).ToArray();

    /// <summary>The pages of <see cref="Activations"/>, before they are drawn.</summary>
    public static IReadOnlyList<TileGrid> ActivationGrids(float[] output, Shape shape, string title, Normalization normalization, Colormap colormap,
        int tilePixels, bool labels, IReadOnlyList<string>? unitNames = null)
    {
        int channels = shape.Rank >= 2 ? shape[1] : shape.ElementCount;
        int height = shape.Rank == 4 ? shape.H : 1, width = shape.Rank == 4 ? shape.W : 1, plane = height * width;
        var values = output.AsSpan(0, channels * plane);
        var (low, high) = Montage.Range(values);
        var tiles = new Image8[channels];
        for (int c = 0; c < channels; c++)
        {
            var tile = values.Slice(c * plane, plane);
            var (tileLow, tileHigh) = normalization == Normalization.PerLayer ? (low, high) : Montage.Range(tile);
            tiles[c] = Colored(tile, height, width, colormap, tileLow, tileHigh);
        }
        string shown = shape.Rank == 4 ? Invariant($"{channels} channels of {height}x{width}") : Invariant($"{channels} units");
        var bar = labels && normalization == Normalization.PerLayer ? new ColorScale(colormap, low, high, "activation (one scale for the whole layer)") : null;
        string scaleNote = normalization == Normalization.PerLayer ? "" : ", each tile on its own scale";

        if (plane == 1 && channels > GridPages.MaxTilesPerPage)
        {
            int rows = (channels + SummaryColumns - 1) / SummaryColumns;
            return [new TileGrid(tiles, SummaryCell, SummaryColumns)
            {
                Title = labels ? $"{title}: {shown}{scaleNote}\nin rows of {SummaryColumns}, each row numbered by its first unit" : null,
                RowLabels = labels ? Enumerable.Range(0, rows).Select(r => Invariant($"{r * SummaryColumns}")).ToArray() : null,
                KeepColumns = true,
                Bar = bar,
            }];
        }
        int scale = Montage.ScaleFor(height, width, tilePixels), columns = GridPages.Columns(channels);
        var pages = GridPages.Split(channels);
        return pages.Select((page, p) => new TileGrid(tiles.AsSpan(page.First, page.Count).ToArray(), scale, columns)
        {
            Title = labels ? $"{title}: {shown}{scaleNote}{PageNote(page, p, pages.Count, "channels")}" : null,
            Labels = labels ? Enumerable.Range(page.First, page.Count).Select(c => unitNames?[c] ?? Invariant($"{c}")).ToArray() : null,
            Bar = bar,
        }).ToArray();
    }

    /// <summary>
    /// Conv weights (K, C, R, S) as pages: with 1 or 3 input channels one gray or colour tile per filter (3 shown as
    /// RGB whatever the model's channel order); otherwise one row per filter of its input channels, the
    /// <see cref="StrongestChannels"/> strongest when it has more. All tiles share one gray scale.
    /// </summary>
    public static IReadOnlyList<Image8> Filters(float[] weights, Shape shape, ChannelOrder order, string layer, bool labels, int tilePixels = 24) =>
        FilterGrids(weights, shape, order, layer, labels, tilePixels).Select(g => g.Draw()).ToArray();

    /// <summary>The pages of <see cref="Filters"/>, before they are drawn.</summary>
    public static IReadOnlyList<TileGrid> FilterGrids(float[] weights, Shape shape, ChannelOrder order, string layer, bool labels, int tilePixels = 24)
    {
        if (shape.Rank != 4) throw new ArgumentException($"filters need conv weights of shape (K, C, R, S), not {shape}");
        int k = shape[0], c = shape[1], r = shape[2], s = shape[3], kernel = r * s;
        var (low, high) = Montage.Range(weights);
        int scale = Montage.ScaleFor(r, s, tilePixels);
        var bar = labels ? new ColorScale(Colormap.Gray, low, high, "weight (one scale for the whole layer)") : null;
        string described = Invariant($"{k} filters of {c}x{r}x{s}");

        if (c is 1 or 3)
        {
            var tiles = Enumerable.Range(0, k).Select(f => c == 1
                ? Colored(weights.AsSpan(f * kernel, kernel), r, s, Colormap.Gray, low, high)
                : Rgb(weights.AsSpan(f * 3 * kernel, 3 * kernel), r, s, order, low, high)).ToArray();
            var pages = GridPages.Split(k);
            return pages.Select((page, p) => new TileGrid(tiles.AsSpan(page.First, page.Count).ToArray(), scale, GridPages.Columns(k))
            {
                Title = labels ? $"{layer}: {described}{PageNote(page, p, pages.Count, "filters")}" : null,
                Labels = labels ? Enumerable.Range(page.First, page.Count).Select(f => Invariant($"{f}")).ToArray() : null,
                Bar = bar,
            }).ToArray();
        }

        int shown = Math.Min(c, StrongestChannels);
        var channelsOf = Enumerable.Range(0, k).Select(f => c > StrongestChannels ? Strongest(weights, shape, f, shown) : Enumerable.Range(0, c).ToArray()).ToArray();
        string what = c > StrongestChannels
            ? Invariant($"\neach row one filter: its {shown} strongest input channels (L2 norm), strongest first")
            : "\neach row one filter: one tile per input channel";
        var filterPages = GridPages.Split(k, GridPages.MaxTilesPerPage / shown);
        return filterPages.Select((page, p) =>
        {
            var filters = Enumerable.Range(page.First, page.Count).ToArray();
            return new TileGrid(filters.SelectMany(f => channelsOf[f].Select(ch => Colored(weights.AsSpan((f * c + ch) * kernel, kernel), r, s, Colormap.Gray, low, high))).ToArray(),
                scale, shown)
            {
                Title = labels ? $"{layer}: {described}{PageNote(page, p, filterPages.Count, "filters")}{what}" : null,
                Labels = labels ? filters.SelectMany(f => channelsOf[f].Select(ch => Invariant($"c{ch}"))).ToArray() : null,
                RowLabels = labels ? filters.Select(f => Invariant($"filter {f}")).ToArray() : null,
                KeepColumns = true,
                Bar = bar,
            };
        }).ToArray();
    }

    /// <summary>The <paramref name="count"/> input channels of filter <paramref name="filter"/> of weights (K, C, R, S) with the largest
    /// L2 norm of their R x S kernel, largest first (ties: the lower channel first).</summary>
    public static int[] Strongest(ReadOnlySpan<float> weights, Shape shape, int filter, int count)
    {
        int c = shape[1], kernel = shape[2] * shape[3];
        var norms = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double sum = 0;
            foreach (float w in weights.Slice((filter * c + ch) * kernel, kernel)) sum += (double)w * w;
            norms[ch] = Math.Sqrt(sum);
        }
        return Enumerable.Range(0, c).OrderByDescending(ch => norms[ch]).ThenBy(ch => ch).Take(count).ToArray();
    }

    /// <summary>A plane of values through <paramref name="colormap"/>, <paramref name="low"/> as colour 0 and <paramref name="high"/> as colour 1.</summary>
    internal static Image8 Colored(ReadOnlySpan<float> plane, int height, int width, Colormap colormap, float low, float high)
    {
        var pixels = new byte[height * width * 3];
        for (int i = 0; i < plane.Length; i++)
        {
            var (red, green, blue) = colormap.Color(high > low ? (plane[i] - low) / (high - low) : 0f);
            (pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]) = (red, green, blue);
        }
        return new Image8(width, height, 3, pixels);
    }

    /// <summary>A filter of 3 input channels (3, R, S) as an RGB tile (a BGR model's channels reversed).</summary>
    private static Image8 Rgb(ReadOnlySpan<float> filter, int r, int s, ChannelOrder order, float low, float high)
    {
        var pixels = new byte[r * s * 3];
        for (int ch = 0; ch < 3; ch++)
        {
            int source = order == ChannelOrder.Bgr ? 2 - ch : ch;
            for (int i = 0; i < r * s; i++)
                pixels[i * 3 + ch] = (byte)Math.Round(high > low ? 255 * (filter[source * r * s + i] - low) / (high - low) : 0);
        }
        return new Image8(s, r, 3, pixels);
    }

    private static string PageNote((int First, int Count) page, int index, int pages, string what) =>
        pages == 1 ? "" : Invariant($", {what} {page.First}-{page.First + page.Count - 1} (page {index + 1} of {pages})");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
