namespace ConvViz.Engine.Embedding;

/// <summary>Exact O(N²) gradients, Barnes–Hut O(N log N) ones, or whichever suits N.</summary>
public enum TsneMethod { Auto, Exact, BarnesHut }

/// <summary>
/// t-SNE settings; the defaults are the reference implementation's (van der Maaten 2014): perplexity
/// 30, early exaggeration 12 for 250 iterations, momentum 0.5 then 0.8 from iteration 250, 1000
/// iterations, θ = 0.5. LearningRate null means "auto": max(N / exaggeration / 4, 50) as in
/// openTSNE and scikit-learn. Initialization: N(0, (1e-4)²) per coordinate from <see cref="Seed"/>.
/// </summary>
public sealed record TsneOptions
{
    public double Perplexity { get; init; } = 30;
    public double? LearningRate { get; init; } = 200;
    public double EarlyExaggeration { get; init; } = 12;
    public int ExaggerationIterations { get; init; } = 250;
    public int Iterations { get; init; } = 1000;
    public double InitialMomentum { get; init; } = 0.5;
    public double FinalMomentum { get; init; } = 0.8;
    public int MomentumSwitchIteration { get; init; } = 250;
    public double Theta { get; init; } = 0.5;
    public TsneMethod Method { get; init; } = TsneMethod.Auto;

    /// <summary>Auto uses exact gradients up to this many points, Barnes–Hut above.</summary>
    public int ExactLimit { get; init; } = 2000;

    public int Seed { get; init; }

    /// <summary>The KL divergence is recorded after every this many iterations (and after the last).</summary>
    public int KlEvery { get; init; } = 50;

    /// <summary>Worker threads of the gradient loops (null: every core). Results do not depend on it.</summary>
    public int? Threads { get; init; }

    public const double InitialStandardDeviation = 1e-4;

    public double LearningRateFor(int count) => LearningRate ?? Math.Max(count / EarlyExaggeration / 4, 50);

    public TsneMethod MethodFor(int count) => Method != TsneMethod.Auto ? Method : count <= ExactLimit ? TsneMethod.Exact : TsneMethod.BarnesHut;

    /// <summary>Barnes–Hut's neighbours per point: ⌊3·perplexity⌋.</summary>
    public int NeighboursFor(int count) => Math.Min(count - 1, (int)(3 * Perplexity));

    /// <summary>Throws ArgumentException, naming the property, for settings that cannot run on <paramref name="count"/> points.</summary>
    public void Validate(int count)
    {
        if (!(Perplexity > 0)) throw new ArgumentOutOfRangeException(nameof(Perplexity), Perplexity, $"{nameof(Perplexity)} {Perplexity} must be positive");
        if (count < 4) throw new ArgumentException($"t-SNE needs at least 4 points, {count} given");
        if (!(count - 1 > 3 * Perplexity))
            throw new ArgumentException($"{nameof(Perplexity)} {Perplexity} is too large for {count} points: t-SNE needs N - 1 > 3 x perplexity, so a perplexity below {(count - 1) / 3.0:0.##} here", nameof(Perplexity));
        if (LearningRate is { } rate && !(rate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), rate, $"{nameof(LearningRate)} {rate} must be positive (or auto)");
        if (Iterations < 1) throw new ArgumentOutOfRangeException(nameof(Iterations), Iterations, $"{nameof(Iterations)} {Iterations} must be at least 1");
        if (!(EarlyExaggeration >= 1)) throw new ArgumentOutOfRangeException(nameof(EarlyExaggeration), EarlyExaggeration, $"{nameof(EarlyExaggeration)} {EarlyExaggeration} must be at least 1");
        if (ExaggerationIterations < 0) throw new ArgumentException($"exaggeration iterations {ExaggerationIterations} must not be negative");
        if (!(Theta >= 0)) throw new ArgumentOutOfRangeException(nameof(Theta), Theta, $"{nameof(Theta)} {Theta} must not be negative");
        if (KlEvery < 1) throw new ArgumentException($"KL interval {KlEvery} must be at least 1");
        if (Threads is < 1) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, $"{nameof(Threads)} {Threads} must be at least 1");
    }
}
