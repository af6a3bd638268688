using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>The target's value with a patch over each position (Rows x Cols, row-major), and without any patch.</summary>
public sealed record OcclusionMap(float[] Values, int Rows, int Cols, float Baseline, int[] Tops, int[] Lefts, int Patch);

/// <summary>After a batch: <see cref="Done"/> of <see cref="Total"/> patch positions evaluated.</summary>
public readonly record struct OcclusionProgress(int Done, int Total);

/// <summary>
/// Occlusion sensitivity (Zeiler &amp; Fergus 2014): slide a square patch of a fill value over the
/// input, run the network on every occluded copy (in batches), and record the target's value: a
/// class's probability (softmax of the logits) or a unit's activation (at its position, or summed
/// over its channel). Where the value drops, the network was looking. The fill is the caller's;
/// <see cref="OcclusionOptions"/> defaults it to black (pixel 0 through the model's preprocessing), so a
/// patch over a black background (Fashion-MNIST's, MNIST's) leaves the input, and the value, as they were.
/// </summary>
public static class Occlusion
{
    /// <summary>A seventh of the input's shorter side: the default patch.</summary>
    public static int DefaultPatch(int height, int width) => Math.Max(1, (int)Math.Round(Math.Min(height, width) / 7.0));

    /// <param name="fill">What a patch holds, in input space: one value per input channel, or a whole input (C, H, W) that each
    /// patch is cut from at its own position (a model that subtracts a mean image maps one pixel value to a different
    /// input at every position).</param>
    /// <param name="progress">Told after every batch, on the calling thread.</param>
    public static OcclusionMap Compute(Network network, Tensor input, Target target, bool isClass, int patch, int stride, float[] fill,
        int batchSize = 32, IProgress<OcclusionProgress>? progress = null, CancellationToken cancellation = default)
    {
        var sample = network.SampleShape;
        int channels = sample[0], height = sample[1], width = sample[2], plane = height * width;
        if (patch < 1 || patch > Math.Min(height, width))
            throw new ArgumentOutOfRangeException("Patch", patch, $"Patch {patch} must be between 1 and the input size {Math.Min(height, width)}");
        if (stride < 1) throw new ArgumentOutOfRangeException("Stride", stride, $"Stride {stride} must be at least 1");
        if (fill.Length != channels && fill.Length != channels * plane)
            throw new ArgumentException($"{fill.Length} fill values: give one per input channel ({channels}) or one per input value ({channels * plane})", nameof(fill));
        if (batchSize < 1) throw new ArgumentOutOfRangeException("BatchSize", batchSize, $"BatchSize {batchSize} must be at least 1");
        var backend = input.Backend;
        var original = backend.Download(input).AsSpan(0, channels * plane).ToArray();
        var tops = Positions(height, patch, stride);
        var lefts = Positions(width, patch, stride);
        int total = tops.Length * lefts.Length;

        float baseline = Values(network, backend, [original], target, isClass)[0];
        var values = new float[total];
        for (int start = 0; start < total; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            int n = Math.Min(batchSize, total - start);
            var batch = new float[n][];
            for (int b = 0; b < n; b++)
            {
                int top = tops[(start + b) / lefts.Length], left = lefts[(start + b) % lefts.Length];
                var copy = (float[])original.Clone();
                for (int c = 0; c < channels; c++)
                    for (int y = top; y < top + patch; y++)
                    {
                        int row = (c * height + y) * width + left;
                        if (fill.Length == channels) Array.Fill(copy, fill[c], row, patch);
                        else Array.Copy(fill, row, copy, row, patch);
                    }
                batch[b] = copy;
            }
            Values(network, backend, batch, target, isClass).CopyTo(values, start);
            progress?.Report(new OcclusionProgress(start + n, total));
        }
        return new OcclusionMap(values, tops.Length, lefts.Length, baseline, tops, lefts, patch);
    }

    /// <summary>Patch offsets 0, stride, ... and, when the last one leaves a strip uncovered, size - patch.</summary>
    private static int[] Positions(int size, int patch, int stride)
    {
        var positions = new List<int>();
        for (int p = 0; p + patch <= size; p += stride) positions.Add(p);
        if (positions[^1] != size - patch) positions.Add(size - patch);
        return positions.ToArray();
    }

    private static float[] Values(Network network, Backends.Backend backend, float[][] images, Target target, bool isClass)
    {
        int n = images.Length;
        using var x = backend.Upload(images.SelectMany(i => i).ToArray(), network.InputShape(n));
        using var pass = network.Forward(x, upTo: target.Layer);
        var output = backend.Download(pass.Last);
        var shape = pass.Last.Shape;
        int perItem = shape.SampleSize, channels = shape[1], positions = perItem / channels;
        var result = new float[n];
        for (int i = 0; i < n; i++)
        {
            var row = output.AsSpan(i * perItem, perItem);
            if (isClass)
                result[i] = Models.ClassPredictions.Softmax(row)[target.Channel];
            else if (target.Y is { } y)
                result[i] = row[target.Channel * positions + y * shape.W + target.X!.Value];
            else
            {
                double sum = 0;
                foreach (float v in row.Slice(target.Channel * positions, positions)) sum += v;
                result[i] = (float)sum;
            }
        }
        return result;
    }
}

/// <summary>Occlusion maps in input pixels.</summary>
public static class OcclusionMaps
{
    /// <summary>
    /// Each input pixel gets the mean drop (baseline - value) over the patches that covered it, so
    /// the map has the input's size; pixels no patch covered get 0.
    /// </summary>
    public static float[] DropPerPixel(OcclusionMap map, int height, int width)
    {
        var sum = new double[height * width];
        var count = new int[height * width];
        for (int r = 0; r < map.Rows; r++)
            for (int c = 0; c < map.Cols; c++)
            {
                double drop = map.Baseline - map.Values[r * map.Cols + c];
                for (int y = map.Tops[r]; y < map.Tops[r] + map.Patch; y++)
                    for (int x = map.Lefts[c]; x < map.Lefts[c] + map.Patch; x++)
                    {
                        sum[y * width + x] += drop;
                        count[y * width + x]++;
                    }
            }
        return sum.Select((s, i) => count[i] == 0 ? 0f : (float)(s / count[i])).ToArray();
    }

    /// <summary>The positive part of <see cref="DropPerPixel"/> scaled to [0, 1] by its largest magnitude: the per-image
    /// stretch (a 0.2% drop is as red as a 70% one), shown only on request (OcclusionOptions.Normalize).</summary>
    public static float[] Heat(OcclusionMap map, int height, int width)
    {
        var drop = DropPerPixel(map, height, width);
        float largest = drop.Max(Math.Abs);
        return drop.Select(d => largest > 0 ? Math.Max(0, d) / largest : 0f).ToArray();
    }
}
