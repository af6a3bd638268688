using System.Globalization;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Models;

/// <summary>The channel order a model expects its input image in.</summary>
public enum ChannelOrder { Rgb, Bgr, Gray }

/// <summary>
/// How an image becomes a model input, stored in a bundle's model.onnx metadata_props:
/// resize so the shorter side is <see cref="ResizeShorter"/> (when set) and center-crop to
/// (<see cref="Height"/>, <see cref="Width"/>); arrange the channels in <see cref="Order"/>; then per
/// channel c and pixel (y, x) of the crop:
/// x = (pixel * <see cref="PixelScale"/> - Mean[c] - <see cref="MeanImage"/>[c, y, x]) * Scale[c], pixel in [0, 255].
/// Caffe models: BGR, pixel scale 1, mean (104, 117, 123), scale 1. Torchvision: RGB, pixel scale
/// 1/255, mean (0.485, 0.456, 0.406), scale 1/std. CNTK's ImageNet models: BGR, pixel scale 1, and
/// a mean image (C, H, W) whose every pixel has its own mean, stored beside model.onnx as
/// <see cref="MeanImageFile"/> and named by the metadata key mean_image.
/// </summary>
public sealed record Preprocessing(
    int Channels, int Height, int Width,
    ChannelOrder Order,
    float PixelScale,
    float[] Mean,
    float[] Scale,
    int? ResizeShorter = null,
    float[]? MeanImage = null)
{
    public const string InputSizeKey = "input_size", ChannelOrderKey = "channel_order", PixelScaleKey = "pixel_scale",
        MeanKey = "mean", ScaleKey = "scale", ResizeKey = "resize_shorter", MeanImageKey = "mean_image";

    /// <summary>The file a bundle keeps its mean image in: a float32 .npy of shape (C, H, W).</summary>
    public const string MeanImageFile = "mean.npy";

    /// <summary>What a model without metadata gets: RGB (gray for one channel), pixels scaled to
    /// [0, 1], no mean, no scale, no resize beyond the input size.</summary>
    public static Preprocessing Default(Shape sample) => new(
        sample.Rank >= 3 ? sample[0] : 1, sample.Rank >= 3 ? sample[1] : 1, sample.Rank >= 3 ? sample[2] : 1,
        sample.Rank >= 3 && sample[0] == 1 ? ChannelOrder.Gray : ChannelOrder.Rgb,
        1f / 255f, Enumerable.Repeat(0f, sample.Rank >= 3 ? sample[0] : 1).ToArray(), Enumerable.Repeat(1f, sample.Rank >= 3 ? sample[0] : 1).ToArray());

    /// <summary>The metadata_props entries that describe this preprocessing; a mean image is named
    /// (<see cref="MeanImageFile"/>), and the bundle writes the file itself (<see cref="SaveMeanImage"/>).</summary>
    public IReadOnlyDictionary<string, string> ToMetadata()
    {
        var metadata = new Dictionary<string, string>
        {
            [InputSizeKey] = $"{Channels},{Height},{Width}",
            [ChannelOrderKey] = Order.ToString().ToUpperInvariant(),
            [PixelScaleKey] = Format(PixelScale),
            [MeanKey] = string.Join(",", Mean.Select(Format)),
            [ScaleKey] = string.Join(",", Scale.Select(Format)),
            [ResizeKey] = ResizeShorter?.ToString(CultureInfo.InvariantCulture) ?? "",
        };
        if (MeanImage is not null) metadata[MeanImageKey] = MeanImageFile;
        return metadata;
    }

    /// <summary>Writes the mean image, when there is one, into <paramref name="folder"/> as <see cref="MeanImageFile"/>.</summary>
    public void SaveMeanImage(string folder)
    {
        if (MeanImage is null) return;
        string path = Path.Combine(folder, MeanImageFile), staging = $"{path}.{Guid.NewGuid():N}.tmp";
        Npy.Write(staging, MeanImage, [Channels, Height, Width]);
        File.Move(staging, path, overwrite: true);
    }

    /// <summary>
    /// Reads the metadata of a model whose per-sample input shape is <paramref name="sample"/>. Keys
    /// that are missing take the defaults of <see cref="Default"/>, and each such default is added
    /// to <paramref name="defaulted"/> so the caller can say so. Inconsistent values throw. A mean
    /// image (optional, never defaulted) is read from the file that mean_image names in
    /// <paramref name="folder"/>, the bundle folder.
    /// </summary>
    public static Preprocessing FromMetadata(IReadOnlyDictionary<string, string> metadata, Shape sample, ICollection<string> defaulted, string? folder = null)
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
        if (metadata.TryGetValue(MeanImageKey, out var meanImage) && !string.IsNullOrWhiteSpace(meanImage))
            result = result with { MeanImage = ReadMeanImage(meanImage.Trim(), folder, result) };
        // Every input value must be finite for every pixel: a huge scale times a huge pixel overflows.
        int plane = result.Height * result.Width;
        for (int c = 0; c < result.Channels; c++)
            for (int i = 0; i < (result.MeanImage is null ? 1 : plane); i++)
                if (!float.IsFinite(result.ToInput(0, c, i)) || !float.IsFinite(result.ToInput(255, c, i)))
                    throw new InvalidDataException($"metadata {PixelScaleKey}, {MeanKey}, {MeanImageKey} and {ScaleKey} overflow: channel {c} maps pixels 0..255 to {result.ToInput(0, c, i)}..{result.ToInput(255, c, i)}");
        return result;
    }

    /// <summary>The mean image that metadata mean_image names: a plain file name in the bundle folder,
    /// a float32 .npy of the model's (C, H, W) (or (1, C, H, W)), every value finite.</summary>
    private static float[] ReadMeanImage(string name, string? folder, Preprocessing p)
    {
        if (Path.GetFileName(name) != name || name is "." or "..")
            throw new InvalidDataException($"metadata {MeanImageKey} '{name}' is not a plain file name; the mean image lies beside model.onnx");
        if (folder is null)
            throw new InvalidDataException($"metadata {MeanImageKey} names '{name}', but the model was loaded without its bundle folder; load the folder");
        string path = Path.Combine(folder, name);
        if (!File.Exists(path))
            throw new InvalidDataException($"metadata {MeanImageKey} names '{name}', which is not in {folder}");
        var array = Npy.Read(path);
        int[] expected = [p.Channels, p.Height, p.Width];
        if (!array.Shape.SequenceEqual(expected) && !array.Shape.SequenceEqual([1, .. expected]))
            throw new InvalidDataException($"{path}: the mean image has shape ({string.Join(", ", array.Shape)}); the model's input is ({string.Join(", ", expected)})");
        int bad = Array.FindIndex(array.Data, v => !float.IsFinite(v));
        if (bad >= 0) throw new InvalidDataException($"{path}: the mean image holds {array.Data[bad]} at value {bad}; every value must be finite");
        return array.Data;
    }

    public override string ToString() =>
        $"{Order.ToString().ToUpperInvariant()} {Channels}x{Height}x{Width}" + (ResizeShorter is { } r ? $" (resize shorter side to {r}, center crop)" : "") +
        $", x = (pixel * {Format(PixelScale)} - mean [{string.Join(", ", Mean.Select(Format))}]" +
        (MeanImage is null ? "" : $" - mean image ({MeanImageFile}, one mean per pixel)") +
        $") * scale [{string.Join(", ", Scale.Select(Format))}]";

    /// <summary>The model input value of <paramref name="pixel"/> (0..255) in <paramref name="channel"/>
    /// at <paramref name="pixelIndex"/> (y · Width + x) of the model's (Height, Width) input.</summary>
    public float ToInput(float pixel, int channel, int pixelIndex) =>
        (pixel * PixelScale - Mean[channel] - (MeanImage?[channel * Height * Width + pixelIndex] ?? 0f)) * Scale[channel];

    /// <summary>The pixel (0..255 scale, unclamped) of <paramref name="input"/>, a model input value in
    /// <paramref name="channel"/> at <paramref name="pixelIndex"/>: the inverse of <see cref="ToInput"/>.</summary>
    public double ToPixel(float input, int channel, int pixelIndex) =>
        ((double)input / Scale[channel] + Mean[channel] + (MeanImage?[channel * Height * Width + pixelIndex] ?? 0f)) / PixelScale;

    /// <summary>The pixel that the model sees as zero in <paramref name="channel"/> at <paramref name="pixelIndex"/>:
    /// the mean (per channel, plus the mean image's value there), or mid-gray for a model without a mean.</summary>
    public float MeanPixel(int channel, int pixelIndex) =>
        Mean[channel] == 0 && MeanImage is null ? 127.5f : (float)ToPixel(0f, channel, pixelIndex);

    /// <summary>How many input units one pixel level is in <paramref name="channel"/>.</summary>
    public float InputPerPixel(int channel) => PixelScale * Scale[channel];

    /// <summary>Clamps model inputs (N, C, H, W) in place to the valid pixel range [0, 255] of each
    /// channel and pixel; (<paramref name="height"/>, <paramref name="width"/>) is the inputs' size,
    /// the model's own when null. At another size a mean image is resized to it (bilinear).</summary>
    public void ClampToPixelRange(Span<float> input, int? height = null, int? width = null)
    {
        int h = height ?? Height, w = width ?? Width, size = h * w;
        if (size < 1 || input.Length % size != 0 || input.Length / size % Channels != 0)
            throw new ArgumentException($"an input of {input.Length} values is not a whole number of {Channels}-channel images of {h}x{w} pixels");
        var meanImage = MeanImage is null ? null
            : h == Height && w == Width ? MeanImage
            : ImageTensors.Resize(Enumerable.Range(0, Channels).Select(c => MeanImage[(c * Height * Width)..((c + 1) * Height * Width)]).ToArray(),
                Width, Height, w, h, ResizeMethod.Bilinear).SelectMany(plane => plane).ToArray();
        for (int i = 0; i < input.Length; i += size)
        {
            int c = i / size % Channels;
            // The channel's bounds without the mean image; each pixel's mean shifts them.
            float low = (0 - Mean[c]) * Scale[c], high = (255 * PixelScale - Mean[c]) * Scale[c], shift = 0;
            if (low > high) (low, high) = (high, low);
            var channel = input.Slice(i, size);
            for (int j = 0; j < size; j++)
            {
                if (meanImage is not null) shift = meanImage[c * size + j] * Scale[c];
                channel[j] = Math.Clamp(channel[j], low - shift, high - shift);
            }
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
