using ConvViz.Engine.Data;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Training;

/// <summary>A classifier's results on a labelled set: Confusion[true class, predicted class] counts, and the mean cross-entropy.</summary>
public sealed record EvaluationResult(int[,] Confusion, double MeanLoss)
{
    public int Classes => Confusion.GetLength(0);
    public int Count => Enumerable.Range(0, Classes).Sum(ClassCount);
    public int Correct => Enumerable.Range(0, Classes).Sum(c => Confusion[c, c]);
    public double Accuracy => Count == 0 ? 0 : (double)Correct / Count;
    public int ClassCount(int trueClass) => Enumerable.Range(0, Classes).Sum(p => Confusion[trueClass, p]);

    /// <summary>The share of class c's images predicted as c (NaN when the set has none).</summary>
    public double ClassAccuracy(int trueClass) => ClassCount(trueClass) == 0 ? double.NaN : (double)Confusion[trueClass, trueClass] / ClassCount(trueClass);
}

/// <summary>Images evaluated so far, out of <paramref name="Total"/>.</summary>
public readonly record struct EvaluationProgress(int Images, int Total);

/// <summary>Runs a classifier over a labelled set in inference mode (dropout off).</summary>
public static class Evaluator
{
    /// <param name="progress">Reports after each batch.</param>
    public static EvaluationResult Evaluate(Network network, Preprocessing preprocessing, LabeledImages data, int classCount,
        int batchSize = 200, IProgress<EvaluationProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException("BatchSize", batchSize, $"BatchSize {batchSize} must be at least 1");
        ImageBatches.CheckFits(network, preprocessing, data, classCount);
        string logits = ClassPredictions.LogitLayer(network);
        var backend = network.Parameters.First().Value.Backend;
        var confusion = new int[classCount, classCount];
        double lossSum = 0;
        foreach (var (start, n, labelMemory, pass) in ImageBatches.Forward(network, preprocessing, data, Enumerable.Range(0, data.Count).ToArray(), batchSize, logits, cancellation))
        {
            var labels = labelMemory.Span;
            using var labelTensor = backend.Upload(labels, new Shape(n));
            using var probs = backend.Allocate(n, classCount);
            using var losses = backend.Allocate(n);
            backend.SoftmaxCrossEntropy(pass.Last.Reshape(n, classCount), labelTensor, probs, losses, null);
            var p = backend.Download(probs);
            foreach (float loss in backend.Download(losses)) lossSum += loss;
            for (int i = 0; i < n; i++) confusion[labels[i], ArgMax(p.AsSpan(i * classCount, classCount))]++;
            progress?.Report(new EvaluationProgress(start + n, data.Count));
        }
        return new EvaluationResult(confusion, lossSum / data.Count);
    }

    /// <summary>The index of the largest value (the first on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }
}
