using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>An attribution as run: d target / d input (C, H, W) and the blur of its NormBlur display.</summary>
public sealed record AttributionRun(float[] Gradient, float BlurSigma);

/// <summary>
/// One backward pass from a target to the input with a ReLU rule (saliency, deconvnet or guided backprop), written as
/// the Deep Visualization Toolbox shows it: the input as the model sees it and the four displays
/// (&lt;input&gt;-&lt;target&gt;-input.png, -raw.png, -gray.png, -norm.png, -normblur.png), each enlarged to at least 224
/// pixels a side with crisp pixels (the gradient's own values: rawPath).
/// </summary>
public static class AttributionRuns
{
    /// <param name="input">The input (1, C, H, W); <paramref name="inputName"/> names its files.</param>
    /// <param name="blurSigma">The NormBlur display's Gaussian sigma in input pixels (null: <see cref="Attribution.DefaultBlurSigma"/>).</param>
    /// <param name="colormap">The one-plane displays' colors; Raw of a color model shows the gradient's own channels.</param>
    /// <param name="rawPath">Where to write the gradient as a float32 .npy (1, C, H, W), if anywhere.</param>
    public static AttributionRun Run(ModelBundle bundle, Tensor input, string inputName, Target target, ReluRule rule, float? blurSigma, Colormap colormap,
        RunOutputs outputs, string? rawPath = null, CancellationToken cancellation = default)
    {
        var p = bundle.Preprocessing;
        float sigma = blurSigma ?? Attribution.DefaultBlurSigma(p);
        if (!(sigma > 0) || float.IsInfinity(sigma)) throw new ArgumentOutOfRangeException("BlurSigma", sigma, $"BlurSigma {sigma} must be a positive number of pixels");
        cancellation.ThrowIfCancellationRequested();
        var card = outputs.Card;
        card.Target = target.ToString();
        card.Parameters["rule"] = rule.ToString();
        card.Parameters["seed"] = "1.0 at the target (every position of the channel when no position is given)";
        card.Parameters["blurSigma"] = sigma;
        card.Parameters["colormap"] = colormap.ToString();

        var clock = Stopwatch.StartNew();
        var gradient = Attribution.InputGradient(bundle.Network, input, target, rule);
        card.TimingsMs["forward+backward"] = clock.Elapsed.TotalMilliseconds;

        string stem = $"{FileNames.ForLayer(inputName)}-{RunOutputs.TargetStem(target)}";
        outputs.Enlarged($"{stem}-input.png", ImageTensors.ToImage(input.Backend.Download(input), p));
        foreach (var display in Enum.GetValues<GradientDisplay>())
            outputs.Enlarged($"{stem}-{display.ToString().ToLowerInvariant()}.png",
                Attribution.Render(gradient, p, display, input.Backend, sigma, display == GradientDisplay.Raw && p.Channels == 3 ? null : colormap));
        if (rawPath is not null) outputs.Tensor(rawPath, gradient, p.Channels, p.Height, p.Width);
        card.Results["maxAbsGradient"] = gradient.Max(Math.Abs);
        return new AttributionRun(gradient, sigma);
    }
}
