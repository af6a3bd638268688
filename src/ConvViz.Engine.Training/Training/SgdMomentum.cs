using ConvViz.Engine.Layers;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Training;

/// <summary>
/// Minibatch SGD with momentum and L2 weight decay, in Caffe's form:
/// g = dL/dw + decay·w (weights only), v = momentum·v - lr·g, w = w + v.
/// Runs on the parameters' backend through its element-wise ops, so it trains on every backend.
/// </summary>
internal sealed class SgdMomentum : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly Tensor[] velocities;

    public SgdMomentum(IEnumerable<Parameter> parameters, float momentum, float weightDecay)
    {
        this.parameters = parameters.ToArray();
        Momentum = momentum;
        WeightDecay = weightDecay;
        velocities = new Tensor[this.parameters.Length];
        for (int i = 0; i < this.parameters.Length; i++)
        {
            var value = this.parameters[i].Value;
            velocities[i] = value.Backend.Allocate(value.Shape);
            value.Backend.Fill(velocities[i], 0f);
        }
    }

    public float Momentum { get; }
    public float WeightDecay { get; }
    public IReadOnlyList<Parameter> Parameters => parameters;

    /// <summary>One update from the gradients the last backward pass wrote.</summary>
    public void Step(float learningRate)
    {
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            var gradient = p.Gradient ?? throw new InvalidOperationException($"parameter {p.Name} has no gradient: run a backward pass with parameter gradients first");
            var backend = p.Value.Backend;
            if (WeightDecay != 0f && IsDecayed(p)) backend.Axpy(WeightDecay, p.Value, gradient);
            backend.Scale(velocities[i], Momentum);
            backend.Axpy(-learningRate, gradient, velocities[i]);
            backend.Axpy(1f, velocities[i], p.Value);
        }
    }

    /// <summary>Weights decay, biases do not (a bias is the only rank-1 parameter).</summary>
    private static bool IsDecayed(Parameter p) => p.Value.Shape.Rank > 1;

    /// <summary>All velocities, concatenated in parameter order (for checkpoints).</summary>
    public float[] DownloadVelocities() => velocities.SelectMany(v => v.Backend.Download(v)).ToArray();

    /// <summary>Restores velocities written by <see cref="DownloadVelocities"/>.</summary>
    public void UploadVelocities(float[] all)
    {
        long expected = velocities.Sum(v => (long)v.Shape.ElementCount);
        if (all.Length != expected)
            throw new InvalidDataException($"the checkpoint holds {all.Length} momentum values, the network has {expected} parameters");
        int offset = 0;
        foreach (var v in velocities)
        {
            v.Backend.Upload(all.AsSpan(offset, v.Shape.ElementCount), v);
            offset += v.Shape.ElementCount;
        }
    }

    public void Dispose()
    {
        foreach (var v in velocities) v.Dispose();
    }
}
