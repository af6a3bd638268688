using ConvViz.Engine.Backends;

namespace ConvViz.Engine.Data;

/// <summary>
/// Random shifts (zero fill) and left-right mirroring of a gray image. The draw for an image is a
/// pure function of a 32-bit key, so a seeded run (and a resumed one) augments identically.
/// </summary>
public sealed record Augmentation(int MaxShift, bool Flip)
{
    public bool IsIdentity => MaxShift == 0 && !Flip;

    /// <summary>Writes the augmented <paramref name="source"/> (height x width, row-major) to <paramref name="destination"/>.</summary>
    public void Apply(ReadOnlySpan<byte> source, Span<byte> destination, int height, int width, uint key)
    {
        int span = 2 * MaxShift + 1;
        int dy = (int)(DropoutMask.Hash(key, 0) % (uint)span) - MaxShift;
        int dx = (int)(DropoutMask.Hash(key, 1) % (uint)span) - MaxShift;
        bool mirror = Flip && (DropoutMask.Hash(key, 2) & 1) == 1;
        // destination(y, x) = source(y - dy, x' - dx) where x' mirrors x when flipping.
        for (int y = 0; y < height; y++)
        {
            int sy = y - dy;
            var row = destination.Slice(y * width, width);
            if (sy < 0 || sy >= height)
            {
                row.Clear();
                continue;
            }
            var sourceRow = source.Slice(sy * width, width);
            for (int x = 0; x < width; x++)
            {
                int sx = (mirror ? width - 1 - x : x) - dx;
                row[x] = sx >= 0 && sx < width ? sourceRow[sx] : (byte)0;
            }
        }
    }
}
