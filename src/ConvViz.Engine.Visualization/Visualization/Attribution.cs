using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>What a backward pass explains: a channel of a layer (every position, or one (Y, X)), or a class logit.</summary>
public sealed record Target(string Layer, int Channel, int? Y = null, int? X = null)
{
    public override string ToString() => Y is null ? $"{Layer} unit {Channel}" : $"{Layer} unit {Channel} at ({Y}, {X})";
}

/// <summary>The Deep Visualization Toolbox's displays of an input gradient: Raw (signed, per
/// channel, 0 at mid gray), Gray (the channel mean, signed), Norm (L2 over channels) and NormBlur
/// (Norm, then a Gaussian blur).</summary>
public enum GradientDisplay { Raw, Gray, Norm, NormBlur }

/// <summary>
/// Saliency (Simonyan et al.), the deconvnet (Zeiler &amp; Fergus) and guided backprop
/// (Springenberg et al.): one backward pass from a target to the input, differing only in the ReLU
/// rule, seeded with 1.0 at the target (the DESIGN contract: the result is d objective / d input).
/// </summary>
public static class Attribution
{
    /// <summary>The Toolbox's normblur sigma, 4 pixels at 227, scaled to the input's shorter side (at least 0.5).</summary>
    public static float DefaultBlurSigma(Preprocessing p) => Math.Max(0.5f, 4f * Math.Min(p.Height, p.Width) / 227f);

    /// <summary>d target / d input for batch item 0, shape of the input.</summary>
    public static float[] InputGradient(Network network, Tensor input, Target target, ReluRule rule) =>
        InputGradients(network, input, target, rule)[0];

    /// <summary>d target / d input under each rule, from one shared forward pass (backward only reads it).</summary>
    public static float[][] InputGradients(Network network, Tensor input, Target target, params ReluRule[] rules)
    {
        var backend = input.Backend;
        using var pass = network.Forward(input, upTo: target.Layer);
        using var seed = network.UnitSeed(pass, target.Layer, target.Channel, target.Y, target.X, n: 0);
        return rules.Select(rule =>
        {
            using var gradient = network.Backward(pass, target.Layer, seed, new BackwardOptions(rule))!;
            return backend.Download(gradient);
        }).ToArray();
    }

    /// <summary>
    /// Renders a (C, H, W) input gradient as an image in a display mode; color channels are shown
    /// in RGB order whatever the model's order. <paramref name="blurSigma"/> is used by NormBlur
    /// (blurred through <paramref name="backend"/>'s Gaussian blur op).
    /// </summary>
    public static Image8 Render(float[] gradient, Preprocessing p, GradientDisplay mode, Backend backend, float blurSigma, Colormap? colormap = null)
    {
        int c = p.Channels, h = p.Height, w = p.Width, plane = h * w;
        if (gradient.Length != c * plane) throw new ArgumentException($"{gradient.Length} values are not a ({c}, {h}, {w}) gradient");
        switch (mode)
        {
            case GradientDisplay.Raw when c == 3 && colormap is null:
            {
                float scale = MaxAbs(gradient);
                var pixels = new byte[plane * 3];
                for (int ch = 0; ch < 3; ch++)
                {
                    int source = p.Order == ChannelOrder.Bgr ? 2 - ch : ch;
                    for (int i = 0; i < plane; i++) pixels[i * 3 + ch] = Centered(gradient[source * plane + i], scale);
                }
                return new Image8(w, h, 3, pixels);
            }
            case GradientDisplay.Raw or GradientDisplay.Gray:
            {
                // One signed plane: the channel mean (Raw of a gray model is its only channel).
                var mean = new float[plane];
                for (int ch = 0; ch < c; ch++)
                    for (int i = 0; i < plane; i++) mean[i] += gradient[ch * plane + i] / c;
                return Signed(mean, MaxAbs(mean), h, w, colormap ?? Colormap.Gray);
            }
            default:
            {
                var norm = new float[plane];
                for (int i = 0; i < plane; i++)
                {
                    double sum = 0;
                    for (int ch = 0; ch < c; ch++) sum += (double)gradient[ch * plane + i] * gradient[ch * plane + i];
                    norm[i] = (float)Math.Sqrt(sum);
                }
                if (mode == GradientDisplay.NormBlur) norm = Blur(norm, h, w, blurSigma, backend);
                return Montage.Tile(norm, 1, h, w, Normalization.PerTile, colormap ?? Colormap.Gray, gap: 0);
            }
        }
    }

    /// <summary>A signed plane through a colormap with 0 at its middle and ±scale at its ends.</summary>
    private static Image8 Signed(float[] signed, float scale, int h, int w, Colormap colormap)
    {
        var pixels = new byte[h * w * 3];
        for (int i = 0; i < signed.Length; i++)
        {
            var (r, g, b) = colormap.Color(scale > 0 ? 0.5f + 0.5f * signed[i] / scale : 0.5f);
            (pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2]) = (r, g, b);
        }
        return new Image8(w, h, 3, pixels);
    }

    private static float[] Blur(float[] plane, int h, int w, float sigma, Backend backend)
    {
        using var x = backend.Upload(plane, new Shape(1, 1, h, w));
        using var y = backend.Allocate(x.Shape);
        backend.GaussianBlur(x, y, sigma);
        return backend.Download(y);
    }

    private static float MaxAbs(ReadOnlySpan<float> values)
    {
        float max = 0;
        foreach (float v in values) max = Math.Max(max, Math.Abs(v));
        return max;
    }

    /// <summary>0 maps to 128, ±scale to 0 / 255.</summary>
    private static byte Centered(float v, float scale) => (byte)Math.Clamp(Math.Round(127.5 + 127.5 * (scale > 0 ? v / scale : 0)), 0, 255);
}
