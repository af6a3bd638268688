namespace ConvViz.Engine.Visualization;

/// <summary>
/// Random search over the four regularizers, as the paper did to find Table 1 (it tried 300
/// combinations). Each draw keeps the base options' rate policy, iterations and seed (so every
/// combination starts from the same image) and draws, independently:
/// L2 decay: 0 (p = 1/4) or log-uniform in [1e-5, 0.5];
/// blur: off (p = 1/4) or every 1, 2, 4 or 8 steps with sigma uniform in [0.3, 1.5] (the Toolbox
/// warns that sigma below 0.3 works poorly);
/// norm clip: off (p = 1/2) or a percentile uniform in [0, 50];
/// contribution clip: off (p = 1/2) or a percentile uniform in [0, 90].
/// The bounds span Table 1's four settings.
/// </summary>
public static class RegularizerSweep
{
    public static readonly int[] BlurPeriods = [1, 2, 4, 8];
    public const float MinDecay = 1e-5f, MaxDecay = 0.5f, MinSigma = 0.3f, MaxSigma = 1.5f, MaxNormPercentile = 50, MaxContributionPercentile = 90;

    /// <summary><paramref name="count"/> combinations drawn with <paramref name="sweepSeed"/>.</summary>
    public static IReadOnlyList<OptimizationOptions> Draw(OptimizationOptions baseOptions, int count, int sweepSeed)
    {
        if (count < 1) throw new ArgumentException($"--sweep {count} must be at least 1 combination");
        var random = new Random(sweepSeed);
        var draws = new OptimizationOptions[count];
        for (int i = 0; i < count; i++)
        {
            float decay = random.NextDouble() < 0.25 ? 0 : (float)Math.Exp(Uniform(random, Math.Log(MinDecay), Math.Log(MaxDecay)));
            bool blur = random.NextDouble() >= 0.25;
            int period = BlurPeriods[random.Next(BlurPeriods.Length)];
            float sigma = (float)Uniform(random, MinSigma, MaxSigma);
            float norm = random.NextDouble() < 0.5 ? 0 : (float)Uniform(random, 0, MaxNormPercentile);
            float contribution = random.NextDouble() < 0.5 ? 0 : (float)Uniform(random, 0, MaxContributionPercentile);
            draws[i] = baseOptions with
            {
                Decay = decay,
                BlurEvery = blur ? period : 0,
                BlurSigma = blur ? sigma : baseOptions.BlurSigma,
                NormPercentile = norm,
                ContributionPercentile = contribution,
            };
        }
        return draws;
    }

    private static double Uniform(Random random, double low, double high) => low + random.NextDouble() * (high - low);
}
