using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Toolbox;

/// <summary>The live toolbox's layer list and its gray panes: one byte per value, tiled through <see cref="Montage"/>.</summary>
internal static class ToolboxPanes
{
    /// <summary>A grid tile aims at this many pixels on its shorter side, as <see cref="LayerViews.Activations"/> does.</summary>
    public const int TilePixels = 32;

    /// <summary>The largest grid side a scale-up may reach: many small tiles (a fully connected layer's 4096 units)
    /// stay at a size a page shows and a socket sends at video rate.</summary>
    public const int MaxGridPixels = 800;

    /// <summary>The unit pane's shorter side is at least this many pixels.</summary>
    public const int MinUnitPixels = 128;

    /// <summary>
    /// Every layer whose output is a picture: (N, C, H, W) maps, or (N, C) vectors shown as C tiles of 1 x 1. Dropout
    /// (the identity at inference) and reshapes (the previous picture rearranged) are left out.
    /// </summary>
    public static IReadOnlyList<ToolboxLayer> ShownLayers(Network network) =>
        network.Summarize(1).Where(row => network.Layers[row.Index] is not (DropoutLayer or ReshapeLayer) && row.OutputShape.Rank is 2 or 4)
            .Select(row => new ToolboxLayer(row.Name, row.OpType, row.OutputShape[1],
                row.OutputShape.Rank == 4 ? row.OutputShape.H : 1, row.OutputShape.Rank == 4 ? row.OutputShape.W : 1))
            .ToArray();

    /// <summary>
    /// Batch item 0 of a layer output, (C, H, W), as gray levels in the same order: scaled by the whole layer's range
    /// (strong and weak channels compare, as in the Deep Visualization Toolbox), or with <paramref name="boost"/> each
    /// channel stretched to its own range and then raised to the power 0.5 (faint structure brightened).
    /// </summary>
    public static byte[] TileBytes(ReadOnlySpan<float> output, ToolboxLayer layer, bool boost)
    {
        int plane = layer.Height * layer.Width, count = layer.Channels;
        var bytes = new byte[count * plane];
        var layerRange = Montage.Range(output[..(count * plane)]);
        for (int c = 0; c < count; c++)
        {
            var tile = output.Slice(c * plane, plane);
            var (low, high) = boost ? Montage.Range(tile) : layerRange;
            if (!(high > low)) continue;
            float scale = 1f / (high - low);
            var target = bytes.AsSpan(c * plane, plane);
            for (int i = 0; i < plane; i++)
            {
                float v = Math.Clamp((tile[i] - low) * scale, 0f, 1f);
                target[i] = (byte)(255f * (boost ? MathF.Sqrt(v) : v) + 0.5f);
            }
        }
        return bytes;
    }

    /// <summary>Every channel as a tile of a near-square grid (as <see cref="Montage.Arrange"/> places them), gray.</summary>
    public static (Image8 Grid, GridLayout Layout) Grid(byte[] tiles, ToolboxLayer layer)
    {
        int columns = (int)Math.Ceiling(Math.Sqrt(layer.Channels)), rows = (layer.Channels + columns - 1) / columns;
        const int gap = 1;
        int scale = GridScale(layer.Channels, layer.Height, layer.Width);
        var grid = Montage.Arrange(tiles, layer.Channels, layer.Height, layer.Width, channels: 1, scale, gap, columns);
        return (grid, new GridLayout(layer.Channels, columns, rows, layer.Width, layer.Height, scale, gap));
    }

    /// <summary>The scale-up of a near-square grid of <paramref name="count"/> tiles of height x width (1-pixel gaps):
    /// tiles of about <paramref name="tilePixels"/>, unless that makes the grid wider or taller than <paramref name="maxPixels"/>.</summary>
    public static int GridScale(int count, int height, int width, int tilePixels = TilePixels, int maxPixels = MaxGridPixels)
    {
        int columns = (int)Math.Ceiling(Math.Sqrt(count)), rows = (count + columns - 1) / columns;
        int fit = Math.Min((maxPixels - columns - 1) / (columns * width), (maxPixels - rows - 1) / (rows * height));
        return Math.Max(1, Math.Min(Montage.ScaleFor(height, width, tilePixels), fit));
    }

    /// <summary>One channel's tile enlarged with crisp pixels until its shorter side reaches about the model input's
    /// (at least <see cref="MinUnitPixels"/>).</summary>
    public static Image8 Unit(byte[] tiles, ToolboxLayer layer, int channel, int inputPixels)
    {
        int plane = layer.Height * layer.Width;
        int scale = Montage.ScaleFor(layer.Height, layer.Width, Math.Max(MinUnitPixels, inputPixels));
        return Montage.Arrange(tiles[(channel * plane)..((channel + 1) * plane)], 1, layer.Height, layer.Width, channels: 1, scale, gap: 0);
    }

    /// <summary>The largest value of one channel of batch item 0 over its positions.</summary>
    public static float ChannelMax(ReadOnlySpan<float> output, ToolboxLayer layer, int channel)
    {
        int plane = layer.Height * layer.Width;
        return System.Numerics.Tensors.TensorPrimitives.Max(output.Slice(channel * plane, plane));
    }
}
