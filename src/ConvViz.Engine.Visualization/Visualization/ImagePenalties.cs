namespace ConvViz.Engine.Visualization;

/// <summary>
/// keras-vis's image regularizers, as penalties on one image u (C, H, W) with their gradients. Both
/// are divided by the number of values C·H·W, as keras-vis does, so their weights (10 by default
/// there) mean the same for any image size.
/// </summary>
internal static class ImagePenalties
{
    /// <summary>Lp norm (Σ|u|^p)^(1/p) / (C·H·W); adds weight · its gradient to <paramref name="gradient"/>.</summary>
    public static double LpNorm(ReadOnlySpan<float> u, float p, float weight = 0, Span<float> gradient = default)
    {
        double sum = 0;
        foreach (float v in u) sum += Math.Pow(Math.Abs(v), p);
        double norm = Math.Pow(sum, 1.0 / p), count = u.Length;
        if (weight != 0 && sum > 0)
        {
            // d norm / d u_i = |u_i|^(p-1) sign(u_i) / norm^(p-1)
            double factor = weight / count / Math.Pow(norm, p - 1);
            for (int i = 0; i < u.Length; i++)
                gradient[i] += (float)(factor * Math.Sign(u[i]) * Math.Pow(Math.Abs(u[i]), p - 1));
        }
        return norm / count;
    }

    /// <summary>
    /// Total variation Σ over pixels of (dx² + dy²)^(β/2) / (C·H·W), with dx = u[y, x+1] - u[y, x] and
    /// dy = u[y+1, x] - u[y, x] summed over channels and taken on the (H-1)×(W-1) pixels that have
    /// both neighbours; adds weight · its gradient to <paramref name="gradient"/>.
    /// </summary>
    public static double TotalVariation(ReadOnlySpan<float> u, int channels, int height, int width, float beta, float weight = 0, Span<float> gradient = default)
    {
        int plane = height * width;
        double total = 0, count = u.Length;
        for (int y = 0; y + 1 < height; y++)
            for (int x = 0; x + 1 < width; x++)
            {
                double squared = 0;
                for (int c = 0; c < channels; c++)
                {
                    int i = c * plane + y * width + x;
                    double dx = (double)u[i + 1] - u[i], dy = (double)u[i + width] - u[i];
                    squared += dx * dx + dy * dy;
                }
                total += Math.Pow(squared, beta / 2);
                if (weight == 0 || squared == 0) continue;
                // d s^(β/2) = β/2 s^(β/2-1) ds, and ds = 2 dx (d u_right - d u) + 2 dy (d u_below - d u).
                double factor = weight / count * beta * Math.Pow(squared, beta / 2 - 1);
                for (int c = 0; c < channels; c++)
                {
                    int i = c * plane + y * width + x;
                    double dx = (double)u[i + 1] - u[i], dy = (double)u[i + width] - u[i];
                    gradient[i + 1] += (float)(factor * dx);
                    gradient[i + width] += (float)(factor * dy);
                    gradient[i] -= (float)(factor * (dx + dy));
                }
            }
        return total / count;
    }
}
