using ConvViz.Engine.Data;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;

namespace ConvViz.Engine.Embedding;

/// <summary>
/// A layer's codes for a set of images: N x D row-major, D the layer's output per image flattened
/// (a conv layer's C x H x W maps become one vector of C·H·W).
/// </summary>
public sealed record Codes(float[] Values, int Count, int Dimensions);

/// <summary>Runs a network in inference mode (dropout off) up to a layer over a data set in batches and keeps that layer's output.</summary>
/// <summary>Images whose codes are extracted so far, out of <paramref name="Total"/>.</summary>
public readonly record struct CodesProgress(int Images, int Total);

public static class LayerCodes
{
    /// <param name="progress">Reports after each batch.</param>
    public static Codes Extract(Network network, Preprocessing preprocessing, LabeledImages data, string layer,
        int batchSize = 200, IProgress<CodesProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException("BatchSize", batchSize, $"BatchSize {batchSize} must be at least 1");
        if (data.Count == 0) throw new ArgumentException($"{data.Source} holds no images");
        network.IndexOf(layer);
        int dimensions = network.OutputShape(layer, 1).SampleSize;
        var backend = network.Parameters.First().Value.Backend;
        var codes = new float[(long)data.Count * dimensions];
        foreach (var (start, n, _, pass) in ImageBatches.Forward(network, preprocessing, data, Enumerable.Range(0, data.Count).ToArray(), batchSize, layer, cancellation))
        {
            backend.Download(pass.Last).AsSpan(0, n * dimensions).CopyTo(codes.AsSpan((int)((long)start * dimensions)));
            progress?.Report(new CodesProgress(start + n, data.Count));
        }
        return new Codes(codes, data.Count, dimensions);
    }
}
