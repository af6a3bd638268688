using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;

namespace ConvViz.Engine.Embedding;

/// <summary>
/// The classic t-SNE image map (as on Karpathy's cnnembed page): the map is stretched onto a
/// side x side grid and each image's thumbnail drawn in one cell near its point. With no more
/// points than cells, each point in index order takes the nearest free cell; with more, each cell
/// in row-major order takes the nearest point not yet placed, so the grid is full and the rest are
/// left out. +y of the map is up.
/// </summary>
public static class ImageMap
{
    /// <summary>The cell (row·side + column) of each point of <paramref name="map"/> (N x 2), -1 for points left out.</summary>
    public static int[] Assign(double[] map, int count, int side)
    {
        if (side < 1) throw new ArgumentException($"image map grid side {side} must be at least 1");
        var (cellX, cellY) = GridPositions(map, count, side);
        int cells = side * side;
        var cellOf = new int[count];
        Array.Fill(cellOf, -1);
        if (count <= cells)
        {
            var taken = new bool[cells];
            for (int i = 0; i < count; i++)
            {
                int best = -1;
                double bestDistance = double.PositiveInfinity;
                for (int cell = 0; cell < cells; cell++)
                {
                    if (taken[cell]) continue;
                    double dx = cell % side - cellX[i], dy = cell / side - cellY[i];
                    double distance = dx * dx + dy * dy;
                    if (distance < bestDistance) { bestDistance = distance; best = cell; }
                }
                taken[best] = true;
                cellOf[i] = best;
            }
        }
        else
        {
            var placed = new bool[count];
            for (int cell = 0; cell < cells; cell++)
            {
                int best = -1;
                double bestDistance = double.PositiveInfinity;
                for (int i = 0; i < count; i++)
                {
                    if (placed[i]) continue;
                    double dx = cell % side - cellX[i], dy = cell / side - cellY[i];
                    double distance = dx * dx + dy * dy;
                    if (distance < bestDistance) { bestDistance = distance; best = i; }
                }
                placed[best] = true;
                cellOf[best] = cell;
            }
        }
        return cellOf;
    }

    /// <summary>An image of side x side thumbnails (each the data set's H x W, gray or RGB as the set) on black, the images placed by <see cref="Assign"/>.</summary>
    public static Image8 Render(double[] map, LabeledImages images, int side)
    {
        var cellOf = Assign(map, images.Count, side);
        int h = images.Height, w = images.Width, c = images.Channels, width = side * w;
        var pixels = new byte[side * h * width * c];
        for (int i = 0; i < images.Count; i++)
        {
            if (cellOf[i] < 0) continue;
            int top = cellOf[i] / side * h, left = cellOf[i] % side * w;
            var image = images.Image(i);
            for (int r = 0; r < h; r++) image.Slice(r * w * c, w * c).CopyTo(pixels.AsSpan(((top + r) * width + left) * c, w * c));
        }
        return new Image8(width, side * h, c, pixels);
    }

    /// <summary>Each point's position in grid units: column in [0, side - 1] left to right, row in [0, side - 1] top to bottom.</summary>
    private static (double[] X, double[] Y) GridPositions(double[] map, int count, int side)
    {
        double minX = double.PositiveInfinity, maxX = double.NegativeInfinity, minY = double.PositiveInfinity, maxY = double.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            minX = Math.Min(minX, map[2 * i]); maxX = Math.Max(maxX, map[2 * i]);
            minY = Math.Min(minY, map[2 * i + 1]); maxY = Math.Max(maxY, map[2 * i + 1]);
        }
        double spanX = Math.Max(maxX - minX, 1e-12), spanY = Math.Max(maxY - minY, 1e-12);
        var x = new double[count];
        var y = new double[count];
        for (int i = 0; i < count; i++)
        {
            x[i] = (map[2 * i] - minX) / spanX * (side - 1);
            y[i] = (maxY - map[2 * i + 1]) / spanY * (side - 1);
        }
        return (x, y);
    }
}
