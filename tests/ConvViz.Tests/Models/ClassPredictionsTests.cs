using ConvViz.Engine.Models;

namespace ConvViz.Tests.Models;

public sealed class ClassPredictionsTests
{
    [Fact]
    public void Softmax_SumsToOne_KeepsTheOrder_AndSurvivesLargeLogits()
    {
        var probabilities = ClassPredictions.Softmax([1f, 3f, 2f, 1000f, -5f]);
        Assert.Equal(1.0, probabilities.Sum(p => (double)p), 1e-6);
        Assert.Equal(1f, probabilities[3], 1e-6f);
        Assert.All(probabilities, p => Assert.True(float.IsFinite(p)));

        var small = ClassPredictions.Softmax([1f, 3f, 2f]);
        Assert.Equal(1.0, small.Sum(p => (double)p), 1e-6);
        Assert.True(small[1] > small[2] && small[2] > small[0]);
        Assert.Equal(Math.Exp(3) / (Math.Exp(1) + Math.Exp(3) + Math.Exp(2)), small[1], 1e-6);
    }

    [Fact]
    public void Top_RanksByProbability_KeepingTheScores()
    {
        var top = ClassPredictions.Top([0.5f, 2f, -1f, 1.5f], areProbabilities: false, k: 3);

        Assert.Equal([1, 3, 0], top.Select(t => t.Index));
        Assert.Equal([2f, 1.5f, 0.5f], top.Select(t => t.Score));
        Assert.True(top[0].Probability > top[1].Probability && top[1].Probability > top[2].Probability);
        Assert.Equal(ClassPredictions.Softmax([0.5f, 2f, -1f, 1.5f])[1], top[0].Probability);
    }

    [Fact]
    public void Top_OfProbabilities_TakesThemAsTheyAre_AndClampsKToTheClasses()
    {
        var top = ClassPredictions.Top([0.1f, 0.6f, 0.3f], areProbabilities: true, k: 5);

        Assert.Equal([1, 2, 0], top.Select(t => t.Index));
        Assert.Equal([0.6f, 0.3f, 0.1f], top.Select(t => t.Probability));
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => ClassPredictions.Top([1f], true, 0)).ParamName);
    }
}
