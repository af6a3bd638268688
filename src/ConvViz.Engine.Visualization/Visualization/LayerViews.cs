using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>The Deep Visualization Toolbox's two basic pictures: a layer's activations, one tile
/// per channel, and a conv layer's learned filters.</summary>
public static class LayerViews
{
    /// <summary>
    /// Batch item 0 of a layer output: (N, C, H, W) gives C tiles of H x W; (N, C) (fully
    /// connected) gives C single-value tiles. Tiles are scaled up to about <paramref name="tilePixels"/>.
    /// </summary>
    public static Image8 Activations(ReadOnlySpan<float> output, Shape shape, Normalization normalization = Normalization.PerLayer,
        Colormap colormap = Colormap.Gray, int tilePixels = 32)
    {
        int channels = shape.Rank >= 2 ? shape[1] : shape.ElementCount;
        int height = shape.Rank == 4 ? shape.H : 1, width = shape.Rank == 4 ? shape.W : 1;
        int perItem = channels * height * width;
        return Montage.Tile(output[..perItem], channels, height, width, normalization, colormap, Montage.ScaleFor(height, width, tilePixels));
    }

    /// <summary>
    /// Conv weights (K, Cg, R, S): with 3 input channels, one color tile per filter (shown as RGB
    /// whatever the model's channel order); with 1, one gray tile per filter; otherwise a grid with
    /// one row per filter and one column per input channel. All tiles share one scale.
    /// </summary>
    public static Image8 Filters(ReadOnlySpan<float> weights, Shape shape, ChannelOrder order, int tilePixels = 24)
    {
        if (shape.Rank != 4) throw new ArgumentException($"filters need conv weights of shape (K, C, R, S), not {shape}");
        int k = shape[0], c = shape[1], r = shape[2], s = shape[3];
        int scale = Montage.ScaleFor(r, s, tilePixels);
        if (c != 3) return Montage.Tile(weights, k * c, r, s, Normalization.PerLayer, Colormap.Gray, scale, gap: 1, columns: c == 1 ? null : c);

        var (low, high) = Montage.Range(weights);
        var tiles = new byte[k * r * s * 3];
        for (int f = 0; f < k; f++)
            for (int ch = 0; ch < 3; ch++)
            {
                int source = order == ChannelOrder.Bgr ? 2 - ch : ch;
                for (int i = 0; i < r * s; i++)
                {
                    float v = weights[(f * 3 + source) * r * s + i];
                    tiles[(f * r * s + i) * 3 + ch] = (byte)Math.Round(high > low ? 255 * (v - low) / (high - low) : 0);
                }
            }
        return Montage.Arrange(tiles, k, r, s, 3, scale);
    }
}
