using System.Numerics;
using ConvViz.Engine.Models;

namespace ConvViz.Engine.Imaging;

/// <summary>How an image is resampled: bilinear (pixel centers, as PIL and OpenCV without
/// antialiasing) or area (each output pixel the mean of the source area it covers, best for shrinking).</summary>
public enum ResizeMethod { Bilinear, Area }

/// <summary>
/// Images to network inputs and back, by a bundle's <see cref="Preprocessing"/>: channels converted
/// to the model's count (gray ↔ RGB; alpha dropped), resized so the shorter side is ResizeShorter
/// (or just covers the input size when unset), center-cropped to (Height, Width), arranged in the
/// model's channel order, then x = (pixel · PixelScale - Mean[c] - MeanImage[c, y, x]) · Scale[c]. The inverse turns a
/// (C, H, W) tensor of that model back into a displayable image.
/// </summary>
public static class ImageTensors
{
    /// <summary>The (C, H, W) input values for one image, row-major per channel.</summary>
    public static float[] ToInput(Image8 image, Preprocessing p, ResizeMethod method = ResizeMethod.Bilinear)
    {
        var planes = Cropped(image, p, method);
        var input = new float[p.Channels * p.Height * p.Width];
        for (int c = 0; c < p.Channels; c++)
        {
            // Model channel c reads image channel source (BGR reverses RGB).
            int source = p.Order == ChannelOrder.Bgr ? p.Channels - 1 - c : c;
            for (int i = 0; i < p.Height * p.Width; i++)
                input[c * p.Height * p.Width + i] = p.ToInput(planes[source][i], c, i);
        }
        return input;
    }

    /// <summary>The image resized and center-cropped as <see cref="ToInput"/> does, in the model's
    /// channel count (gray, or RGB in RGB order whatever the model's order), rounded to bytes.</summary>
    public static Image8 ResizeAndCrop(Image8 image, Preprocessing p, ResizeMethod method = ResizeMethod.Bilinear)
    {
        var planes = Cropped(image, p, method);
        int channels = planes.Length, plane = p.Height * p.Width;
        var pixels = new byte[plane * channels];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < plane; i++)
                pixels[i * channels + c] = (byte)Math.Clamp(MathF.Round(planes[c][i]), 0, 255);
        return new Image8(p.Width, p.Height, channels, pixels);
    }

    /// <summary>
    /// The model inputs (C, H, W) of an image already at the model's size and channel count
    /// (<see cref="ResizeAndCrop"/>'s output: interleaved bytes), written to <paramref name="input"/>.
    /// </summary>
    public static void CroppedToInput(ReadOnlySpan<byte> pixels, Preprocessing p, Span<float> input)
    {
        int plane = p.Height * p.Width, channels = p.Channels == 1 ? 1 : 3;
        if (pixels.Length != plane * channels || input.Length != plane * p.Channels)
            throw new ArgumentException($"{pixels.Length} bytes are not a {p.Height}x{p.Width} image of {channels} channels for a ({p.Channels}, {p.Height}, {p.Width}) input");
        for (int c = 0; c < p.Channels; c++)
        {
            int source = p.Order == ChannelOrder.Bgr ? p.Channels - 1 - c : c;
            for (int i = 0; i < plane; i++) input[c * plane + i] = p.ToInput(pixels[i * channels + source], c, i);
        }
    }

    /// <summary>The image's planes (one per model channel, image channel order) resized so the shorter
    /// side is ResizeShorter (or just covers the input) and center-cropped to (Height, Width).</summary>
    private static float[][] Cropped(Image8 image, Preprocessing p, ResizeMethod method)
    {
        var rgb = ToChannels(image, p.Channels);
        int shorter = p.ResizeShorter ?? Math.Max(p.Height, p.Width);
        double factor = (double)shorter / Math.Min(rgb.Width, rgb.Height);
        double scaledWidth = Math.Max(p.Width, Math.Round(rgb.Width * factor)), scaledHeight = Math.Max(p.Height, Math.Round(rgb.Height * factor));
        // A long thin image scaled so its short side fits would be huge: refuse it like a huge image.
        if (scaledWidth * scaledHeight > ImageLimits.MaxPixels)
            throw ImageLimits.TooLarge($"a {rgb.Width}x{rgb.Height} image resized so its shorter side is {shorter}",
                (long)Math.Min(scaledWidth, long.MaxValue), (long)Math.Min(scaledHeight, long.MaxValue));
        int width = (int)scaledWidth, height = (int)scaledHeight;
        int top = (height - p.Height) / 2, left = (width - p.Width) / 2;
        // Only the crop window is resampled, straight from the interleaved bytes: a webcam frame is not first
        // converted to float planes nor resized where the crop cuts it away (same values as resize, then crop).
        var planes = new float[rgb.Channels][];
        for (int c = 0; c < rgb.Channels; c++)
        {
            planes[c] = new float[p.Height * p.Width];
            Resample(rgb.Pixels, rgb.Channels, c, rgb.Width, rgb.Height, width, height, top, left, p.Height, p.Width, method, planes[c]);
        }
        return planes;
    }

    /// <summary>A (C, H, W) tensor in the model's input space back to pixels (gray or RGB), clamped to 0..255.</summary>
    public static Image8 ToImage(ReadOnlySpan<float> input, Preprocessing p)
    {
        if (input.Length != p.Channels * p.Height * p.Width)
            throw new ArgumentException($"{input.Length} values do not form a ({p.Channels}, {p.Height}, {p.Width}) input");
        int channels = p.Channels == 1 ? 1 : 3;
        var pixels = new byte[p.Height * p.Width * channels];
        for (int c = 0; c < channels; c++)
        {
            int model = p.Order == ChannelOrder.Bgr ? channels - 1 - c : c;
            for (int i = 0; i < p.Height * p.Width; i++)
            {
                double pixel = p.ToPixel(input[model * p.Height * p.Width + i], model, i);
                pixels[i * channels + c] = (byte)Math.Clamp(Math.Round(pixel), 0, 255);
            }
        }
        return new Image8(p.Width, p.Height, channels, pixels);
    }

    /// <summary>
    /// A (C, H, W) tensor in the model's input space shown as the Deep Visualization Toolbox saves its
    /// optimized images (saveimagescc(X, 0) of gradient_optimizer.py): the input itself, not the input
    /// plus the mean, scaled so that 0 is mid-gray and a large magnitude reaches black or white. An
    /// optimized image is a small deviation from the mean image, so adding the mean back
    /// (<see cref="ToImage"/>) shows it faint and gray; this shows what the unit asked for. The
    /// Toolbox scales by the largest magnitude; here it is the 99.5th percentile of the magnitudes
    /// over all channels (the few brighter values clamp), because a handful of outlying pixels would
    /// otherwise leave the whole pattern gray.
    /// </summary>
    public static Image8 ToImageCentered(ReadOnlySpan<float> input, Preprocessing p)
    {
        if (input.Length != p.Channels * p.Height * p.Width)
            throw new ArgumentException($"{input.Length} values do not form a ({p.Channels}, {p.Height}, {p.Width}) input");
        var magnitudes = new float[input.Length];
        System.Numerics.Tensors.TensorPrimitives.Abs(input, magnitudes);
        Array.Sort(magnitudes);
        float largest = magnitudes.Length > 0 && magnitudes[(int)Math.Min(magnitudes.Length - 1, Math.Ceiling(0.995 * magnitudes.Length) - 1)] is var m
            && float.IsFinite(m) && m > 0 ? m : 1f;
        int channels = p.Channels == 1 ? 1 : 3;
        int plane = p.Height * p.Width;
        var pixels = new byte[plane * channels];
        for (int c = 0; c < channels; c++)
        {
            int model = p.Order == ChannelOrder.Bgr ? channels - 1 - c : c;
            for (int i = 0; i < plane; i++)
                pixels[i * channels + c] = (byte)Math.Clamp(Math.Round((input[model * plane + i] / (2.0 * largest) + 0.5) * 255), 0, 255);
        }
        return new Image8(p.Width, p.Height, channels, pixels);
    }

    /// <summary>Gray for one channel (ITU-R BT.601 luma from color), RGB for three (gray repeated); alpha is dropped.</summary>
    public static Image8 ToChannels(Image8 image, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"a model input of {channels} channels cannot be made from an image; expected 1 (gray) or 3 (color)");
        if (image.Channels == channels) return image;
        int n = image.Width * image.Height;
        var pixels = new byte[n * channels];
        for (int i = 0; i < n; i++)
        {
            int s = i * image.Channels;
            if (channels == 3)
            {
                if (image.Channels == 1) pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = image.Pixels[s];
                else for (int c = 0; c < 3; c++) pixels[3 * i + c] = image.Pixels[s + c];
            }
            else
            {
                pixels[i] = image.Channels == 1 ? image.Pixels[s]
                    : (byte)Math.Round(0.299 * image.Pixels[s] + 0.587 * image.Pixels[s + 1] + 0.114 * image.Pixels[s + 2]);
            }
        }
        return new Image8(image.Width, image.Height, channels, pixels);
    }

    /// <summary>Resamples each plane from (w, h) to (width, height).</summary>
    public static float[][] Resize(float[][] planes, int w, int h, int width, int height, ResizeMethod method) =>
        w == width && h == height ? planes
        : planes.Select(plane =>
        {
            var result = new float[width * height];
            Resample<float>(plane, 1, 0, w, h, width, height, 0, 0, height, width, method, result);
            return result;
        }).ToArray();

    /// <summary>
    /// Rows [top, top + rows) and columns [left, left + columns) of one channel resampled from (w, h) to (width, height),
    /// into <paramref name="result"/> (rows x columns): bilinear, or area when shrinking with <see cref="ResizeMethod.Area"/>.
    /// Value (x, y) of the channel is source[(y * w + x) * stride + channel] (a plane: stride 1, channel 0).
    /// </summary>
    private static void Resample<T>(ReadOnlySpan<T> source, int stride, int channel, int w, int h, int width, int height,
        int top, int left, int rows, int columns, ResizeMethod method, Span<float> result) where T : unmanaged, INumberBase<T>
    {
        if (w == width && h == height)
        {
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < columns; x++)
                    result[y * columns + x] = float.CreateTruncating(source[((top + y) * w + left + x) * stride + channel]);
        }
        else if (method == ResizeMethod.Area && width <= w && height <= h)
        {
            Area(source, stride, channel, w, h, width, height, top, left, rows, columns, result);
        }
        else
        {
            Bilinear(source, stride, channel, w, h, width, height, top, left, rows, columns, result);
        }
    }

    /// <summary>Pixel centers mapped back to the source, each output the blend of its four nearest source values.</summary>
    private static void Bilinear<T>(ReadOnlySpan<T> source, int stride, int channel, int w, int h, int width, int height,
        int top, int left, int rows, int columns, Span<float> result) where T : unmanaged, INumberBase<T>
    {
        double sx = (double)w / width, sy = (double)h / height;
        // The columns' source positions and weights are the same on every row.
        var x0s = new int[columns];
        var x1s = new int[columns];
        var wxs = new double[columns];
        for (int x = 0; x < columns; x++)
        {
            double fx = Math.Clamp((left + x + 0.5) * sx - 0.5, 0, w - 1);
            x0s[x] = (int)fx;
            x1s[x] = Math.Min(x0s[x] + 1, w - 1);
            wxs[x] = fx - x0s[x];
        }
        for (int y = 0; y < rows; y++)
        {
            double fy = Math.Clamp((top + y + 0.5) * sy - 0.5, 0, h - 1);
            int y0 = (int)fy, y1 = Math.Min(y0 + 1, h - 1);
            double wy = fy - y0;
            int row0 = y0 * w, row1 = y1 * w;
            for (int x = 0; x < columns; x++)
            {
                double wx = wxs[x];
                double upper = double.CreateTruncating(source[(row0 + x0s[x]) * stride + channel]) * (1 - wx) + double.CreateTruncating(source[(row0 + x1s[x]) * stride + channel]) * wx;
                double lower = double.CreateTruncating(source[(row1 + x0s[x]) * stride + channel]) * (1 - wx) + double.CreateTruncating(source[(row1 + x1s[x]) * stride + channel]) * wx;
                result[y * columns + x] = (float)(upper * (1 - wy) + lower * wy);
            }
        }
    }

    /// <summary>Each output pixel is the area-weighted mean of the source pixels its footprint covers.</summary>
    private static void Area<T>(ReadOnlySpan<T> source, int stride, int channel, int w, int h, int width, int height,
        int top, int left, int rows, int columns, Span<float> result) where T : unmanaged, INumberBase<T>
    {
        double sx = (double)w / width, sy = (double)h / height;
        for (int y = 0; y < rows; y++)
        {
            double y0 = (top + y) * sy, y1 = (top + y + 1) * sy;
            for (int x = 0; x < columns; x++)
            {
                double x0 = (left + x) * sx, x1 = (left + x + 1) * sx, sum = 0;
                for (int iy = (int)y0; iy < Math.Min(h, (int)Math.Ceiling(y1)); iy++)
                {
                    double cy = Math.Min(y1, iy + 1) - Math.Max(y0, iy);
                    for (int ix = (int)x0; ix < Math.Min(w, (int)Math.Ceiling(x1)); ix++)
                        sum += double.CreateTruncating(source[(iy * w + ix) * stride + channel]) * cy * (Math.Min(x1, ix + 1) - Math.Max(x0, ix));
                }
                result[y * columns + x] = (float)(sum / (sx * sy));
            }
        }
    }
}
