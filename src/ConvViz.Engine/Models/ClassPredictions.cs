using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;

namespace ConvViz.Engine.Models;

/// <summary>One class of a prediction: its index, its probability and the score it came from
/// (the logit, or the probability itself when the network ends in a softmax).</summary>
public readonly record struct ClassPrediction(int Index, float Probability, float Score);

/// <summary>
/// A classifier's output row as class probabilities: the network's own softmax output, or a
/// softmax of its logits. The one place convviz turns scores into probabilities and ranks them.
/// </summary>
public static class ClassPredictions
{
    /// <summary>Whether <paramref name="network"/>'s output row already holds probabilities (it ends in a softmax).</summary>
    public static bool AreProbabilities(Network network) => network.Layers[^1] is SoftmaxLayer;

    /// <summary>The layer whose output holds the class logits: the last one before any softmax.</summary>
    public static string LogitLayer(Network network) => network.Layers.Last(l => l is not SoftmaxLayer).Name;

    /// <summary>exp(l - max) / sum: the max is subtracted first, so large logits do not overflow.</summary>
    public static float[] Softmax(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty) throw new ArgumentException("softmax of no logits", nameof(logits));
        float max = float.NegativeInfinity;
        foreach (float v in logits) max = Math.Max(max, v);
        var exponentials = new double[logits.Length];
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += exponentials[i] = Math.Exp(logits[i] - max);
        var probabilities = new float[logits.Length];
        for (int i = 0; i < logits.Length; i++) probabilities[i] = (float)(exponentials[i] / sum);
        return probabilities;
    }

    /// <summary>The <paramref name="k"/> most probable classes of one output row, most probable first
    /// (ties keep class order); <paramref name="areProbabilities"/> says the row needs no softmax.</summary>
    public static IReadOnlyList<ClassPrediction> Top(ReadOnlySpan<float> scores, bool areProbabilities, int k)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), k, $"{nameof(k)} {k} must be at least 1");
        var raw = scores.ToArray();
        var probabilities = areProbabilities ? raw : Softmax(scores);
        return probabilities.Select((p, i) => new ClassPrediction(i, p, raw[i])).OrderByDescending(e => e.Probability).Take(k).ToArray();
    }

    /// <summary>The <paramref name="k"/> most probable classes of <paramref name="network"/>'s output row <paramref name="scores"/>.</summary>
    public static IReadOnlyList<ClassPrediction> Top(Network network, ReadOnlySpan<float> scores, int k) => Top(scores, AreProbabilities(network), k);
}
