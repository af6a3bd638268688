namespace ConvViz.Cli;

/// <summary>The k most probable classes of one output row: the model's own softmax, or a softmax of its logits.</summary>
public static class Top
{
    public readonly record struct Entry(int Index, float Probability, float Score);

    public static IReadOnlyList<Entry> Classes(float[] scores, bool areProbabilities, int k)
    {
        var probabilities = areProbabilities ? scores : Softmax(scores);
        return probabilities.Select((p, i) => new Entry(i, p, scores[i])).OrderByDescending(e => e.Probability).Take(k).ToArray();
    }

    private static float[] Softmax(float[] logits)
    {
        double max = logits.Max(), sum = logits.Sum(v => Math.Exp(v - max));
        return logits.Select(v => (float)(Math.Exp(v - max) / sum)).ToArray();
    }
}
