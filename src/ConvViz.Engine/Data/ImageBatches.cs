using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;

namespace ConvViz.Engine.Data;

/// <summary>One batch of <see cref="ImageBatches.Forward"/>: positions Start..Start+Count-1 of the
/// image list, their labels, and the forward pass (valid until the next batch).</summary>
public readonly record struct ForwardBatch(int Start, int Count, ReadOnlyMemory<int> Labels, ForwardPass Pass);

/// <summary>Turns labelled gray images into network input batches through a model's preprocessing.</summary>
public static class ImageBatches
{
    /// <summary>
    /// Runs the images at <paramref name="indices"/> of <paramref name="data"/> forward (inference
    /// mode) up to <paramref name="upTo"/>, <paramref name="batchSize"/> at a time, yielding each batch;
    /// each pass is disposed when the next batch is asked for or the loop ends.
    /// </summary>
    public static IEnumerable<ForwardBatch> Forward(Network network, Preprocessing preprocessing, LabeledImages data, IReadOnlyList<int> indices,
        int batchSize, string upTo, CancellationToken cancellation = default)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException("BatchSize", batchSize, $"BatchSize {batchSize} must be at least 1");
        var backend = network.Parameters.First().Value.Backend;
        var x = new float[batchSize * data.BytesPerImage];
        var labels = new int[batchSize];
        var batch = new int[batchSize];
        for (int start = 0; start < indices.Count; start += batchSize)
        {
            cancellation.ThrowIfCancellationRequested();
            int n = Math.Min(batchSize, indices.Count - start);
            for (int i = 0; i < n; i++) batch[i] = indices[start + i];
            Assemble(data, batch.AsSpan(0, n), preprocessing, x, labels);
            using var input = backend.Upload(x.AsSpan(0, n * data.BytesPerImage), network.InputShape(n));
            using var pass = network.Forward(input, upTo);
            yield return new ForwardBatch(start, n, labels.AsMemory(0, n), pass);
        }
    }

    /// <summary>
    /// Throws, before any work starts, when the data cannot feed the network: the model's input is
    /// not (C, H, W) of the images' channels and size, or its output size is not the number of
    /// classes, or a label is outside the classes. A model without a classifier
    /// (<paramref name="classCount"/> 0) has no outputs or labels to check.
    /// </summary>
    public static void CheckFits(Network network, Preprocessing preprocessing, LabeledImages data, int classCount)
    {
        var sample = network.SampleShape;
        string kind = data.Channels == 1 ? "gray" : "RGB";
        if (sample.Rank != 3 || sample[0] != data.Channels || sample[1] != data.Height || sample[2] != data.Width)
            throw new ArgumentException($"the model's input ({string.Join(", ", sample.ToArray())}) does not fit {data.Source}: its images are {data.Height}x{data.Width} {kind}, so the model must take ({data.Channels}, {data.Height}, {data.Width})");
        if (preprocessing.Channels != data.Channels)
            throw new ArgumentException($"the model's preprocessing expects {preprocessing.Channels} channels; the images of {data.Source} are {kind} ({data.Channels})");
        if (data.Channels == 1 && preprocessing.MeanImage is not null)
            throw new ArgumentException($"gray image sets are fed with a mean per channel; the model subtracts a mean image");
        if (classCount > 0)
        {
            int outputs = network.OutputShape(network.Layers[^1].Name, 1).SampleSize;
            if (outputs != classCount)
                throw new ArgumentException($"the model has {outputs} outputs but the data has {classCount} classes; the output size must equal the number of classes");
            data.CheckLabels(classCount, "the model");
        }
        if (data.Count == 0) throw new ArgumentException($"{data.Source} holds no images");
    }

    /// <summary>
    /// Fills <paramref name="x"/> (indices.Length x C x H x W) with the preprocessed images at
    /// <paramref name="indices"/> and <paramref name="labels"/> with their labels. With an
    /// augmentation, image i of the batch is drawn with key Hash(augmentKey, i).
    /// </summary>
    public static void Assemble(LabeledImages data, ReadOnlySpan<int> indices, Preprocessing preprocessing,
        Span<float> x, Span<int> labels, Augmentation? augmentation = null, uint augmentKey = 0)
    {
        int size = data.BytesPerImage;
        if (data.Channels != 1)
        {
            if (augmentation is { IsIdentity: false }) throw new ArgumentException($"augmentation works on gray images; {data.Source} has {data.Channels} channels");
            for (int i = 0; i < indices.Length; i++)
            {
                ImageTensors.CroppedToInput(data.Image(indices[i]), preprocessing, x.Slice(i * size, size));
                labels[i] = data.Label(indices[i]);
            }
            return;
        }
        float scale = preprocessing.PixelScale * preprocessing.Scale[0];
        float offset = -preprocessing.Mean[0] * preprocessing.Scale[0];
        var augmented = new byte[augmentation is null ? 0 : size];
        for (int i = 0; i < indices.Length; i++)
        {
            ReadOnlySpan<byte> image = data.Image(indices[i]);
            if (augmentation is { IsIdentity: false })
            {
                augmentation.Apply(image, augmented, data.Height, data.Width, Backends.DropoutMask.Hash(augmentKey, (uint)i));
                image = augmented;
            }
            var row = x.Slice(i * size, size);
            for (int p = 0; p < size; p++) row[p] = image[p] * scale + offset;
            labels[i] = data.Label(indices[i]);
        }
    }
}
