using ConvViz.Engine.Imaging;

namespace ConvViz.Engine.Visualization;

/// <summary>How tiles are scaled to 0..255: all tiles of a montage together (so strong and weak
/// channels compare, as in the Deep Visualization Toolbox) or each tile on its own.</summary>
public enum Normalization { PerLayer, PerTile }

/// <summary>
/// Tiles equally sized planes into a near-square grid (columns = ceil(sqrt(n))), each tile scaled
/// up by an integer factor with nearest-neighbour pixels, separated by a gap of dark gray.
/// </summary>
public static class Montage
{
    public const byte GapShade = 48;

    /// <summary>Tiles <paramref name="count"/> one-channel planes of height x width (contiguous in
    /// <paramref name="values"/>) through a colormap.</summary>
    public static Image8 Tile(ReadOnlySpan<float> values, int count, int height, int width, Normalization normalization = Normalization.PerLayer,
        Colormap colormap = Colormap.Gray, int scale = 1, int gap = 1, int? columns = null)
    {
        int plane = height * width;
        if (values.Length != count * plane) throw new ArgumentException($"{values.Length} values are not {count} planes of {height}x{width}");
        var layerRange = Range(values);
        var colors = new byte[count * plane * 3];
        for (int t = 0; t < count; t++)
        {
            var tile = values.Slice(t * plane, plane);
            var (low, high) = normalization == Normalization.PerLayer ? layerRange : Range(tile);
            for (int i = 0; i < plane; i++)
            {
                var (r, g, b) = colormap.Color(high > low ? (tile[i] - low) / (high - low) : 0f);
                colors[(t * plane + i) * 3] = r;
                colors[(t * plane + i) * 3 + 1] = g;
                colors[(t * plane + i) * 3 + 2] = b;
            }
        }
        return Arrange(colors, count, height, width, 3, scale, gap, columns);
    }

    /// <summary>Tiles <paramref name="count"/> color tiles (height x width x 3, interleaved, already 0..255).</summary>
    public static Image8 Arrange(byte[] tiles, int count, int height, int width, int channels, int scale = 1, int gap = 1, int? columns = null)
    {
        if (scale < 1) throw new ArgumentException($"tile scale {scale} must be at least 1");
        int cols = columns ?? (int)Math.Ceiling(Math.Sqrt(count));
        int rows = (count + cols - 1) / cols;
        int tileW = width * scale, tileH = height * scale;
        int imageW = cols * tileW + (cols + 1) * gap, imageH = rows * tileH + (rows + 1) * gap;
        var pixels = new byte[imageW * imageH * channels];
        Array.Fill(pixels, GapShade);
        for (int t = 0; t < count; t++)
        {
            int left = gap + t % cols * (tileW + gap), top = gap + t / cols * (tileH + gap);
            for (int y = 0; y < tileH; y++)
                for (int x = 0; x < tileW; x++)
                    for (int c = 0; c < channels; c++)
                        pixels[((top + y) * imageW + left + x) * channels + c] = tiles[((t * height + y / scale) * width + x / scale) * channels + c];
        }
        return new Image8(imageW, imageH, channels, pixels);
    }

    /// <summary>The smallest integer scale that makes a tile at least <paramref name="target"/> pixels tall and wide.</summary>
    public static int ScaleFor(int height, int width, int target) => Math.Max(1, (int)Math.Ceiling((double)target / Math.Max(1, Math.Min(height, width))));

    public static (float Low, float High) Range(ReadOnlySpan<float> values)
    {
        float low = float.PositiveInfinity, high = float.NegativeInfinity;
        foreach (float v in values)
        {
            if (float.IsNaN(v)) continue;
            low = Math.Min(low, v);
            high = Math.Max(high, v);
        }
        return float.IsInfinity(low) ? (0, 0) : (low, high);
    }
}
