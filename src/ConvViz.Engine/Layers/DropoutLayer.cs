using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>
/// Dropout: the identity at inference; in training a seeded mask scales survivors by 1/(1-ratio).
/// Each training forward draws a new mask from (Seed, Step), and Step counts those forwards, so a
/// run is reproducible from its seed and a resumed run continues the same sequence.
/// </summary>
public sealed class DropoutLayer : Layer
{
    public DropoutLayer(string name, float ratio, uint seed) : base(name)
    {
        if (!(ratio >= 0f && ratio < 1f)) throw new ArgumentException($"layer '{name}' (Dropout): ratio {ratio} must be in [0, 1)");
        Ratio = ratio;
        Seed = seed;
    }

    public float Ratio { get; }
    public uint Seed { get; }
    public uint Step { get; set; }

    public override string OpType => "Dropout";

    public override Shape OutputShape(Shape input) => input;

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(x.Shape);
        if (!training)
        {
            x.Backend.Copy(x, y);
            return new LayerOutput(y, null);
        }
        var mask = x.Backend.Allocate(x.Shape);
        x.Backend.DropoutForward(x, y, mask, Ratio, DropoutMask.Hash(Seed, Step++));
        return new LayerOutput(y, mask);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        if (!options.InputGradient) return null;
        var dx = x.Backend.Allocate(x.Shape);
        if (forward.Saved is null) x.Backend.Copy(dy, dx);
        else x.Backend.Multiply(dy, forward.Saved, dx);
        return dx;
    }
}
