using System.Globalization;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Models;

/// <summary>The channel order a model expects its input image in.</summary>
public enum ChannelOrder { Rgb, Bgr, Gray }

/// <summary>
/// How an image becomes a model input, stored in a bundle's model.onnx metadata_props:
/// resize so the shorter side is <see cref="ResizeShorter"/> (when set) and center-crop to
/// (<see cref="Height"/>, <see cref="Width"/>); arrange the channels in <see cref="Order"/>; then per
/// channel c: x = (pixel * <see cref="PixelScale"/> - Mean[c]) * Scale[c], pixel in [0, 255].
/// Caffe models: BGR, pixel scale 1, mean (104, 117, 123), scale 1. Torchvision: RGB, pixel scale
/// 1/255, mean (0.485, 0.456, 0.406), scale 1/std.
/// </summary>
public sealed record Preprocessing(
    int Channels, int Height, int Width,
    ChannelOrder Order,
    float PixelScale,
    float[] Mean,
    float[] Scale,
    int? ResizeShorter = null)
{
    public const string InputSizeKey = "input_size", ChannelOrderKey = "channel_order", PixelScaleKey = "pixel_scale",
        MeanKey = "mean", ScaleKey = "scale", ResizeKey = "resize_shorter";

    /// <summary>What a model without metadata gets: RGB (gray for one channel), pixels scaled to
    /// [0, 1], no mean, no scale, no resize beyond the input size.</summary>
    public static Preprocessing Default(Shape sample) => new(
        sample.Rank >= 3 ? sample[0] : 1, sample.Rank >= 3 ? sample[1] : 1, sample.Rank >= 3 ? sample[2] : 1,
        sample.Rank >= 3 && sample[0] == 1 ? ChannelOrder.Gray : ChannelOrder.Rgb,
        1f / 255f, Enumerable.Repeat(0f, sample.Rank >= 3 ? sample[0] : 1).ToArray(), Enumerable.Repeat(1f, sample.Rank >= 3 ? sample[0] : 1).ToArray());

    /// <summary>The metadata_props entries that describe this preprocessing.</summary>
    public IReadOnlyDictionary<string, string> ToMetadata() => new Dictionary<string, string>
    {
        [InputSizeKey] = $"{Channels},{Height},{Width}",
        [ChannelOrderKey] = Order.ToString().ToUpperInvariant(),
        [PixelScaleKey] = Format(PixelScale),
        [MeanKey] = string.Join(",", Mean.Select(Format)),
        [ScaleKey] = string.Join(",", Scale.Select(Format)),
        [ResizeKey] = ResizeShorter?.ToString(CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>
    /// Reads the metadata of a model whose per-sample input shape is <paramref name="sample"/>. Keys
    /// that are missing take the defaults of <see cref="Default"/>, and each such default is added
    /// to <paramref name="defaulted"/> so the caller can say so. Inconsistent values throw.
    /// </summary>
    public static Preprocessing FromMetadata(IReadOnlyDictionary<string, string> metadata, Shape sample, ICollection<string> defaulted)
    {
        var result = Default(sample);
        string? Get(string key)
        {
            if (metadata.TryGetValue(key, out var v) && !string.IsNullOrWhiteSpace(v)) return v.Trim();
            defaulted.Add(key);
            return null;
        }

        if (Get(InputSizeKey) is { } size)
        {
            var dims = Numbers(size, InputSizeKey);
            if (dims.Length != 3 || dims[0] != result.Channels || dims[1] != result.Height || dims[2] != result.Width)
                throw new InvalidDataException($"metadata {InputSizeKey} '{size}' does not match the model's input ({result.Channels}, {result.Height}, {result.Width})");
        }
        if (Get(ChannelOrderKey) is { } order)
        {
            // Names only: Enum.TryParse would also take any number ("7") as a value outside the enum.
            if (!Enum.TryParse<ChannelOrder>(order, ignoreCase: true, out var parsed) || !Enum.GetNames<ChannelOrder>().Contains(order, StringComparer.OrdinalIgnoreCase))
                throw new InvalidDataException($"metadata {ChannelOrderKey} '{order}' is not RGB, BGR or GRAY");
            result = result with { Order = parsed };
        }
        if (Get(PixelScaleKey) is { } pixelScale) result = result with { PixelScale = NonZero(One(pixelScale, PixelScaleKey), pixelScale, PixelScaleKey) };
        if (Get(MeanKey) is { } mean) result = result with { Mean = PerChannel(mean, MeanKey, result.Channels) };
        if (Get(ScaleKey) is { } scale) result = result with { Scale = PerChannel(scale, ScaleKey, result.Channels).Select(v => NonZero(v, scale, ScaleKey)).ToArray() };
        // An empty resize_shorter is how ToMetadata says "no resize": present, not defaulted.
        bool noResize = metadata.TryGetValue(ResizeKey, out var resizeValue) && string.IsNullOrWhiteSpace(resizeValue);
        if (!noResize && Get(ResizeKey) is { } resize)
        {
            float shorter = One(resize, ResizeKey);
            if (shorter != MathF.Round(shorter) || shorter < 1 || shorter > MaxResizeShorter)
                throw new InvalidDataException($"metadata {ResizeKey} '{resize}' is not a whole number from 1 to {MaxResizeShorter}");
            result = result with { ResizeShorter = (int)shorter };
        }
        // Every input value must be finite for every pixel: a huge scale times a huge pixel overflows.
        for (int c = 0; c < result.Channels; c++)
            if (!float.IsFinite(result.ToInput(0, c)) || !float.IsFinite(result.ToInput(255, c)))
                throw new InvalidDataException($"metadata {PixelScaleKey}, {MeanKey} and {ScaleKey} overflow: channel {c} maps pixels 0..255 to {result.ToInput(0, c)}..{result.ToInput(255, c)}");
        return result;
    }

    public override string ToString() =>
        $"{Order.ToString().ToUpperInvariant()} {Channels}x{Height}x{Width}" + (ResizeShorter is { } r ? $" (resize shorter side to {r}, center crop)" : "") +
        $", x = (pixel * {Format(PixelScale)} - mean [{string.Join(", ", Mean.Select(Format))}]) * scale [{string.Join(", ", Scale.Select(Format))}]";

    /// <summary>The model input value of <paramref name="pixel"/> (0..255) in <paramref name="channel"/>.</summary>
    public float ToInput(float pixel, int channel) => (pixel * PixelScale - Mean[channel]) * Scale[channel];

    /// <summary>How many input units one pixel level is in <paramref name="channel"/>.</summary>
    public float InputPerPixel(int channel) => PixelScale * Scale[channel];

    /// <summary>Clamps model inputs (N, C, H, W) in place to the valid pixel range [0, 255] of each
    /// channel; <paramref name="plane"/> is H·W, the model's own size when null.</summary>
    public void ClampToPixelRange(Span<float> input, int? plane = null)
    {
        int size = plane ?? Height * Width;
        if (input.Length % size != 0 || input.Length / size % Channels != 0)
            throw new ArgumentException($"an input of {input.Length} values is not a whole number of {Channels}-channel images of {size} pixels");
        for (int i = 0; i < input.Length; i += size)
        {
            int c = i / size % Channels;
            float low = ToInput(0, c), high = ToInput(255, c);
            if (low > high) (low, high) = (high, low);
            var channel = input.Slice(i, size);
            for (int j = 0; j < size; j++) channel[j] = Math.Clamp(channel[j], low, high);
        }
    }

    private static string Format(float v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The largest resize_shorter accepted: far above any model's input, small enough that resizing stays cheap.</summary>
    public const int MaxResizeShorter = 8192;

    private static float[] Numbers(string text, string key) =>
        text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(t => float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)
                ? v : throw new InvalidDataException($"metadata {key} '{text}' is not a comma-separated list of finite numbers"))
            .ToArray();

    private static float One(string text, string key)
    {
        var values = Numbers(text, key);
        return values.Length == 1 ? values[0] : throw new InvalidDataException($"metadata {key} '{text}' holds {values.Length} numbers, expected one");
    }

    private static float NonZero(float value, string text, string key) =>
        value != 0 ? value : throw new InvalidDataException($"metadata {key} '{text}' is zero, which would map every pixel to one value");

    private static float[] PerChannel(string text, string key, int channels)
    {
        var values = Numbers(text, key);
        if (values.Length == 1) return Enumerable.Repeat(values[0], channels).ToArray();
        if (values.Length != channels)
            throw new InvalidDataException($"metadata {key} '{text}' has {values.Length} values, expected 1 or {channels} (one per channel)");
        return values;
    }
}
