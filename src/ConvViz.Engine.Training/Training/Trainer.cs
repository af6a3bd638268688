using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Data;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Training;

/// <summary>What one epoch did: mean training loss and accuracy (dropout and augmentation on), the
/// learning rate at its end, its wall time, and the held-out results when they were measured.</summary>
public sealed record EpochRecord(int Epoch, double Loss, double Accuracy, double LearningRate, double Seconds, double ImagesPerSecond,
    double? TestLoss = null, double? TestAccuracy = null);

/// <summary>Progress within an epoch, after each batch: running means over the epoch so far.</summary>
public readonly record struct BatchReport(int Epoch, int Batch, int Batches, int Images, double Loss, double Accuracy, double ImagesPerSecond, float LearningRate);

/// <summary>
/// Trains a classifier with softmax cross-entropy on its logits (the last layer before any
/// softmax) by <see cref="SgdMomentum"/>. Epoch e visits the images in a permutation drawn from
/// (seed, e) and augments image i of batch b with a key drawn from (seed, e, b), so a run resumed
/// from a checkpoint at an epoch boundary continues exactly as an uninterrupted one.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly Network network;
    private readonly Preprocessing preprocessing;
    private readonly int classCount;
    private readonly string logitLayer;
    private readonly List<EpochRecord> history = [];

    public Trainer(Network network, Preprocessing preprocessing, int classCount, TrainingOptions options)
    {
        options.Validate();
        this.network = network;
        this.preprocessing = preprocessing;
        this.classCount = classCount;
        Options = options;
        logitLayer = ClassPredictions.LogitLayer(network);
        Optimizer = new SgdMomentum(network.Parameters, options.Momentum, options.WeightDecay);
    }

    public TrainingOptions Options { get; }
    internal SgdMomentum Optimizer { get; }
    public IReadOnlyList<EpochRecord> History => history;
    public int CompletedEpochs => history.Count;

    /// <summary>Training seconds summed over the epochs run so far (including those before a resume).</summary>
    public double Seconds => history.Sum(h => h.Seconds);

    /// <summary>Runs the next epoch over <paramref name="data"/>; throws when the loss stops being finite.</summary>
    public EpochRecord RunEpoch(LabeledImages data, IProgress<BatchReport>? progress = null, CancellationToken cancellation = default)
    {
        ImageBatches.CheckFits(network, preprocessing, data, classCount);
        if (CompletedEpochs >= Options.Epochs)
            throw new InvalidOperationException($"all {Options.Epochs} epochs are done; raise Epochs to train further");
        int epoch = CompletedEpochs;
        var backend = network.Parameters.First().Value.Backend;
        var order = Permutation(data.Count, DropoutMask.Hash((uint)Options.Seed, (uint)epoch));
        var augmentation = new Augmentation(Options.MaxShift, Options.Flip);
        int batchSize = Options.BatchSize, batches = (data.Count + batchSize - 1) / batchSize;
        var x = new float[batchSize * data.BytesPerImage];
        var labels = new int[batchSize];
        double lossSum = 0;
        int correct = 0, seen = 0;
        float rate = Options.LearningRate;
        var clock = Stopwatch.StartNew();
        for (int b = 0; b < batches; b++)
        {
            cancellation.ThrowIfCancellationRequested();
            int n = Math.Min(batchSize, data.Count - b * batchSize);
            uint augmentKey = DropoutMask.Hash(DropoutMask.Hash((uint)Options.Seed ^ 0x5EEDu, (uint)epoch), (uint)b);
            ImageBatches.Assemble(data, order.AsSpan(b * batchSize, n), preprocessing, x, labels, augmentation, augmentKey);
            rate = Options.LearningRateAt(epoch + (double)b / batches);
            var (loss, hits) = Step(backend, x.AsSpan(0, n * data.BytesPerImage), labels.AsSpan(0, n), rate);
            if (!double.IsFinite(loss))
                throw new InvalidOperationException($"training diverged in epoch {epoch + 1}, batch {b + 1}: the loss is {loss}; lower LearningRate (now {Options.LearningRate})");
            lossSum += loss;
            correct += hits;
            seen += n;
            progress?.Report(new BatchReport(epoch + 1, b + 1, batches, seen, lossSum / seen, (double)correct / seen, seen / clock.Elapsed.TotalSeconds, rate));
        }
        double seconds = clock.Elapsed.TotalSeconds;
        var record = new EpochRecord(epoch + 1, lossSum / seen, (double)correct / seen, rate, seconds, seen / seconds);
        history.Add(record);
        return record;
    }

    /// <summary>Attaches held-out results to the last epoch's record.</summary>
    public void RecordTest(EvaluationResult test)
    {
        if (history.Count == 0) throw new InvalidOperationException("no epoch has run yet");
        history[^1] = history[^1] with { TestLoss = test.MeanLoss, TestAccuracy = test.Accuracy };
    }

    /// <summary>One SGD step on a batch; returns the summed loss and the number of correct predictions.</summary>
    private (double Loss, int Correct) Step(Backend backend, ReadOnlySpan<float> x, ReadOnlySpan<int> labels, float rate)
    {
        int n = labels.Length;
        using var input = backend.Upload(x, network.InputShape(n));
        using var labelTensor = backend.Upload(labels, new Shape(n));
        using var pass = network.Forward(input, logitLayer, training: true);
        using var probs = backend.Allocate(n, classCount);
        using var losses = backend.Allocate(n);
        using var dlogits = backend.Allocate(n, classCount);
        backend.SoftmaxCrossEntropy(pass.Last.Reshape(n, classCount), labelTensor, probs, losses, dlogits);
        network.Backward(pass, logitLayer, dlogits.Reshape(pass.Last.Shape), new BackwardOptions(ParameterGradients: true, InputGradient: false));
        Optimizer.Step(rate);

        var p = backend.Download(probs);
        double loss = 0;
        foreach (float l in backend.Download(losses)) loss += l;
        int correct = 0;
        for (int i = 0; i < n; i++)
            if (Evaluator.ArgMax(p.AsSpan(i * classCount, classCount)) == labels[i]) correct++;
        return (loss, correct);
    }

    /// <summary>A seeded Fisher–Yates permutation of 0..count-1.</summary>
    public static int[] Permutation(int count, uint seed)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = (int)(DropoutMask.Hash(seed, (uint)i) % (uint)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>Restores the history and momentum of a run being resumed.</summary>
    public void Restore(IEnumerable<EpochRecord> completed, float[] velocities)
    {
        history.Clear();
        history.AddRange(completed);
        Optimizer.UploadVelocities(velocities);
    }

    public void Dispose() => Optimizer.Dispose();
}
