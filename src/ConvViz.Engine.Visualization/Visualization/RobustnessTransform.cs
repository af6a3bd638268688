namespace ConvViz.Engine.Visualization;

/// <summary>
/// Transformation robustness (Lucid's jitter, scale and rotate): each step the network sees T(u), a
/// random translation, scaling and rotation of the image about its center, sampled bilinearly with
/// the mean image (0 in input space) outside; the gradient returns through the adjoint Tᵀ, so the
/// image is pushed toward what excites the unit under all such small moves. T is linear in u, so
/// d objective(T u) / d u = Tᵀ g exactly.
/// </summary>
public sealed class RobustnessTransform
{
    private readonly int height, width;
    // For each output pixel: the four source pixels (-1 outside) and their bilinear weights.
    private readonly int[] sources;
    private readonly float[] weights;

    /// <param name="shiftY">Translation in pixels (output pixel (y, x) samples the input at y - shiftY).</param>
    /// <param name="scale">Magnification about the center (> 1 enlarges).</param>
    /// <param name="degrees">Rotation about the center.</param>
    public RobustnessTransform(int height, int width, float shiftY, float shiftX, float scale, float degrees)
    {
        if (!(scale > 0)) throw new ArgumentException($"scale {scale} must be positive");
        (this.height, this.width) = (height, width);
        (ShiftY, ShiftX, Scale, Degrees) = (shiftY, shiftX, scale, degrees);
        sources = new int[height * width * 4];
        weights = new float[height * width * 4];
        double radians = degrees * Math.PI / 180, cos = Math.Cos(radians), sin = Math.Sin(radians);
        double cy = (height - 1) / 2.0, cx = (width - 1) / 2.0;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                // Invert output = R·S·(input - center) + center + shift.
                double oy = (y - shiftY - cy) / scale, ox = (x - shiftX - cx) / scale;
                double sy = cos * oy + sin * ox + cy, sx = -sin * oy + cos * ox + cx;
                int y0 = (int)Math.Floor(sy), x0 = (int)Math.Floor(sx);
                double fy = sy - y0, fx = sx - x0;
                int k = (y * width + x) * 4;
                Corner(k, y0, x0, (1 - fy) * (1 - fx));
                Corner(k + 1, y0, x0 + 1, (1 - fy) * fx);
                Corner(k + 2, y0 + 1, x0, fy * (1 - fx));
                Corner(k + 3, y0 + 1, x0 + 1, fy * fx);
            }
    }

    public float ShiftY { get; }
    public float ShiftX { get; }
    public float Scale { get; }
    public float Degrees { get; }

    /// <summary>
    /// A random transform for one step, drawn from (seed, iteration): integer shifts uniform in
    /// ±<paramref name="jitter"/> pixels, scale uniform in 1 ± <paramref name="scaleRange"/>, rotation
    /// uniform in ±<paramref name="degreesRange"/>.
    /// </summary>
    public static RobustnessTransform Random(int height, int width, int jitter, float scaleRange, float degreesRange, int seed, int iteration)
    {
        var random = new Random(HashCode.Combine(seed, iteration, 0x5eed));
        int shiftY = random.Next(-jitter, jitter + 1), shiftX = random.Next(-jitter, jitter + 1);
        float scale = 1 + (float)((random.NextDouble() * 2 - 1) * scaleRange);
        float degrees = (float)((random.NextDouble() * 2 - 1) * degreesRange);
        return new RobustnessTransform(height, width, shiftY, shiftX, scale, degrees);
    }

    /// <summary>output = T(input) for each (H, W) plane of the images (N, C, H, W).</summary>
    public void Apply(ReadOnlySpan<float> input, Span<float> output)
    {
        int plane = height * width;
        for (int p = 0; p < input.Length; p += plane)
            for (int i = 0; i < plane; i++)
            {
                double sum = 0;
                for (int k = i * 4; k < i * 4 + 4; k++)
                    if (sources[k] >= 0) sum += weights[k] * input[p + sources[k]];
                output[p + i] = (float)sum;
            }
    }

    /// <summary>input = Tᵀ(output), the adjoint: each output value scattered back to its four sources.</summary>
    public void ApplyAdjoint(ReadOnlySpan<float> output, Span<float> input)
    {
        int plane = height * width;
        input.Clear();
        for (int p = 0; p < output.Length; p += plane)
            for (int i = 0; i < plane; i++)
                for (int k = i * 4; k < i * 4 + 4; k++)
                    if (sources[k] >= 0) input[p + sources[k]] += weights[k] * output[p + i];
    }

    private void Corner(int k, int y, int x, double weight)
    {
        bool inside = y >= 0 && y < height && x >= 0 && x < width && weight > 0;
        sources[k] = inside ? y * width + x : -1;
        weights[k] = inside ? (float)weight : 0;
    }
}
