namespace ConvViz.Engine.Training;

/// <summary>How the learning rate moves over a run: constant; multiplied by Gamma every StepEpochs
/// epochs (Caffe's "step"); or a half cosine from the base rate to zero, updated every batch.</summary>
public enum LearningRatePolicy { Constant, Step, Cosine }

/// <summary>
/// Everything that decides a training run. Together with the data, the initial weights and the
/// CPU thread count it determines the result bit for bit: shuffling, augmentation and dropout
/// are all drawn from <see cref="Seed"/>.
/// </summary>
public sealed record TrainingOptions
{
    public int Epochs { get; init; } = 12;
    public int BatchSize { get; init; } = 64;
    public float LearningRate { get; init; } = 0.02f;
    public float Momentum { get; init; } = 0.9f;

    /// <summary>L2 weight decay on weights (Caffe's decay_mult 0 for biases: biases are not decayed).</summary>
    public float WeightDecay { get; init; } = 5e-4f;

    public LearningRatePolicy Policy { get; init; } = LearningRatePolicy.Cosine;
    public int StepEpochs { get; init; } = 5;
    public float Gamma { get; init; } = 0.1f;
    public int Seed { get; init; } = 1;

    /// <summary>Epochs over which the rate ramps linearly from 0 up to the schedule's value (0: none).
    /// Helps a network without normalization layers survive its first, largest steps.</summary>
    public double WarmupEpochs { get; init; }

    /// <summary>Augmentation: each training image is shifted by up to this many pixels in x and y (zero fill).</summary>
    public int MaxShift { get; init; } = 2;

    /// <summary>Augmentation: each training image is mirrored left-right with probability 1/2.</summary>
    public bool Flip { get; init; } = true;

    /// <summary>Throws, naming the property, when a value cannot train.</summary>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, $"{nameof(Epochs)} {Epochs} must be at least 1");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, $"{nameof(BatchSize)} {BatchSize} must be at least 1");
        if (!(LearningRate > 0f) || float.IsInfinity(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, $"{nameof(LearningRate)} {LearningRate} must be a positive number");
        if (!(Momentum >= 0f && Momentum < 1f)) throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, $"{nameof(Momentum)} {Momentum} must be in [0, 1)");
        if (!(WeightDecay >= 0f) || float.IsInfinity(WeightDecay)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, $"{nameof(WeightDecay)} {WeightDecay} must be zero or positive");
        if (Policy == LearningRatePolicy.Step && StepEpochs < 1) throw new ArgumentOutOfRangeException(nameof(StepEpochs), StepEpochs, $"{nameof(StepEpochs)} {StepEpochs} must be at least 1");
        if (Policy == LearningRatePolicy.Step && !(Gamma > 0f && Gamma <= 1f)) throw new ArgumentOutOfRangeException(nameof(Gamma), Gamma, $"{nameof(Gamma)} {Gamma} must be in (0, 1]");
        if (MaxShift < 0) throw new ArgumentOutOfRangeException(nameof(MaxShift), MaxShift, $"{nameof(MaxShift)} {MaxShift} must be zero or positive");
        if (!(WarmupEpochs >= 0 && WarmupEpochs <= Epochs)) throw new ArgumentOutOfRangeException(nameof(WarmupEpochs), WarmupEpochs, $"{nameof(WarmupEpochs)} {WarmupEpochs} must be between 0 and {nameof(Epochs)} ({Epochs})");
    }

    /// <summary>The rate for a batch: <paramref name="progress"/> is the epoch count so far including
    /// the fraction of the current epoch, in [0, Epochs).</summary>
    public float LearningRateAt(double progress)
    {
        float rate = Policy switch
        {
            LearningRatePolicy.Constant => LearningRate,
            LearningRatePolicy.Step => LearningRate * MathF.Pow(Gamma, (int)Math.Floor(progress) / StepEpochs),
            _ => (float)(LearningRate * 0.5 * (1 + Math.Cos(Math.PI * progress / Epochs))),
        };
        return progress < WarmupEpochs ? (float)(rate * progress / WarmupEpochs) : rate;
    }
}
