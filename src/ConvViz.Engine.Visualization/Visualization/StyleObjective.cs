using ConvViz.Engine.Backends;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>The three weighted terms of the style objective at one image.</summary>
public readonly record struct StyleLosses(double Content, double Style, double TotalVariation)
{
    public double Total => Content + Style + TotalVariation;
}

/// <summary>
/// Gatys et al.'s objective as jcjohnson/neural-style defines it, as a function of the model input
/// (C, H, W); like neural-style, whose TV module is the network's first layer, every term is in the
/// network's own units. content = w_c · mean((F - P)²) at the content layer (F the image's activations, P the content
/// image's); style = w_s · Σ_layers mean((G - A)²) with G = F·Fᵀ / |F| the Gram matrix of the
/// layer's (C, H·W) activations and A the style image's; TV as <see cref="TotalVariation"/>.
/// One evaluation is one forward pass to the deepest layer and one backward pass into which each
/// layer's loss gradient is added as the gradient flows through that layer's output.
/// </summary>
public sealed class StyleObjective : IDisposable
{
    private readonly Network network;
    private readonly Preprocessing preprocessing;
    private readonly Backend backend;
    private readonly StyleOptions options;
    private readonly int contentIndex;
    private readonly int[] styleIndices;
    private readonly string deepest;
    /// <summary>The content image's activations at the content layer, (1, C, H, W) or (1, K).</summary>
    private readonly Tensor contentTarget;
    /// <summary>The style image's Gram matrix at each style layer, (C, C) row-major.</summary>
    private readonly float[][] styleTargets;

    /// <param name="options">Options whose layers are resolved (<see cref="StyleOptions.Resolve"/>).</param>
    /// <param name="content">The content image as a model input (C, H, W).</param>
    /// <param name="style">The style image as a model input (C, H, W).</param>
    public StyleObjective(Network network, Preprocessing preprocessing, float[] content, float[] style, StyleOptions options)
    {
        this.network = network;
        this.preprocessing = preprocessing;
        this.options = options;
        backend = network.Parameters.First().Value.Backend;
        contentIndex = network.IndexOf(options.ContentLayer!);
        styleIndices = options.StyleLayers!.Select(network.IndexOf).ToArray();
        deepest = network.Layers[styleIndices.Append(contentIndex).Max()].Name;

        using (var input = Upload(content, "content"))
        using (var pass = network.Forward(input, upTo: options.ContentLayer))
        {
            contentTarget = backend.Allocate(pass.Last.Shape);
            backend.Copy(pass.Last, contentTarget);
        }
        using (var input = Upload(style, "style"))
        using (var pass = network.Forward(input, upTo: network.Layers[styleIndices.Max()].Name))
            styleTargets = styleIndices.Select(i => Gram(pass.Outputs[i].Y)).ToArray();
    }

    /// <summary>The losses of the latest <see cref="Evaluate"/>.</summary>
    public StyleLosses Latest { get; private set; }

    /// <summary>
    /// The Gram matrix G = F·Fᵀ / (C·H·W) of features (1, C, H, W) seen as F (C, H·W), by the
    /// backend's Gemm; (C, C) row-major. A 1x1 map gives the outer product of its channel vector / C.
    /// </summary>
    public static float[] Gram(Tensor features)
    {
        var (channels, positions) = GramShape(features.Shape);
        var backend = features.Backend;
        using var f = features.Reshape(channels, positions);
        using var g = backend.Allocate(channels, channels);
        backend.Gemm(f, f, null, g, transB: true, alpha: 1f / ((float)channels * positions));
        return backend.Download(g);
    }

    /// <summary>Total loss at the model input <paramref name="image"/> (C, H, W) and its gradient with respect to it.</summary>
    public double Evaluate(float[] image, float[] gradient)
    {
        using var x = Upload(image, "image");
        using var pass = network.Forward(x, upTo: deepest);

        // Each loss layer's d loss / d output, summed when a layer carries both losses.
        var injected = new Dictionary<int, Tensor>();
        try
        {
            double content = ContentGradient(pass.Outputs[contentIndex].Y, injected);
            double style = 0;
            for (int l = 0; l < styleIndices.Length; l++)
                style += StyleGradient(pass.Outputs[styleIndices[l]].Y, styleTargets[l], styleIndices[l], injected);

            using var seed = backend.Allocate(pass.Last.Shape);
            using var dx = network.Backward(pass, deepest, seed, observe: (layer, dy) =>
            {
                if (injected.TryGetValue(layer, out var extra)) backend.Axpy(1f, extra, dy);
            })!;
            backend.Download(dx).CopyTo(gradient, 0);
            double tv = TotalVariation.AddLossAndGradient(image, preprocessing.Channels, preprocessing.Height, preprocessing.Width, options.TvWeight, gradient);
            Latest = new StyleLosses(content, style, tv);
            return Latest.Total;
        }
        finally
        {
            foreach (var t in injected.Values) t.Dispose();
        }
    }

    /// <summary>content = w·mean((F - P)²); d/dF = 2w·(F - P)/|F|.</summary>
    private double ContentGradient(Tensor features, Dictionary<int, Tensor> injected)
    {
        var grad = backend.Allocate(features.Shape);
        backend.Copy(features, grad);
        backend.Axpy(-1f, contentTarget, grad);
        double squares = 0;
        foreach (float d in backend.Download(grad)) squares += (double)d * d;
        int count = features.ElementCount;
        backend.Scale(grad, 2f * options.ContentWeight / count);
        Inject(contentIndex, grad, injected);
        return options.ContentWeight * squares / count;
    }

    /// <summary>
    /// style = w·mean((G - A)²) over the C² entries; with D = d style / d G = 2w·(G - A)/C², symmetric,
    /// d/dF = (D + Dᵀ)·F / (C·H·W) = 2·D·F / (C·H·W) (neural-style's GramMatrix backward).
    /// </summary>
    private double StyleGradient(Tensor features, float[] target, int layer, Dictionary<int, Tensor> injected)
    {
        var (channels, positions) = GramShape(features.Shape);
        var gram = Gram(features);
        double squares = 0;
        float dScale = 2f * options.StyleWeight / ((float)channels * channels);
        for (int i = 0; i < gram.Length; i++)
        {
            double d = gram[i] - target[i];
            squares += d * d;
            gram[i] = (float)(dScale * d);
        }
        using var dGram = backend.Upload(gram, new Shape(channels, channels));
        var grad = backend.Allocate(features.Shape);
        using (var gradMatrix = grad.Reshape(channels, positions))
        using (var f = features.Reshape(channels, positions))
            backend.Gemm(dGram, f, null, gradMatrix, alpha: 2f / ((float)channels * positions));
        Inject(layer, grad, injected);
        return options.StyleWeight * squares / ((double)channels * channels);
    }

    private void Inject(int layer, Tensor grad, Dictionary<int, Tensor> injected)
    {
        if (injected.TryGetValue(layer, out var existing))
        {
            backend.Axpy(1f, grad, existing);
            grad.Dispose();
        }
        else injected[layer] = grad;
    }

    private static (int Channels, int Positions) GramShape(Shape shape) =>
        shape.Rank == 4 && shape.N == 1
            ? (shape.C, shape.H * shape.W)
            : throw new ArgumentException($"a Gram matrix needs feature maps of one image (1, C, H, W); got {shape}");

    private Tensor Upload(float[] input, string what) => input.Length == network.SampleShape.ElementCount
        ? backend.Upload(input, network.InputShape(1))
        : throw new ArgumentException($"the {what} image has {input.Length} values, the model takes {network.SampleShape}");

    public void Dispose() => contentTarget.Dispose();
}

/// <summary>
/// neural-style's total-variation term on a model input u (C, H, W): over the pixels
/// with a right and a lower neighbour (y &lt; H-1, x &lt; W-1), dx = u(y,x) - u(y,x+1) and
/// dy = u(y,x) - u(y+1,x); loss = w/2 · Σ (dx² + dy²), whose gradient is exactly neural-style's
/// TVLoss gradient: +w·(dx + dy) at (y,x), -w·dx at (y,x+1), -w·dy at (y+1,x).
/// </summary>
public static class TotalVariation
{
    /// <summary>Returns the loss and adds its gradient into <paramref name="gradient"/>.</summary>
    public static double AddLossAndGradient(float[] u, int channels, int height, int width, float weight, float[] gradient)
    {
        double sum = 0;
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height - 1; y++)
                for (int x = 0; x < width - 1; x++)
                {
                    int i = (c * height + y) * width + x;
                    float dx = u[i] - u[i + 1], dy = u[i] - u[i + width];
                    sum += (double)dx * dx + (double)dy * dy;
                    gradient[i] += weight * (dx + dy);
                    gradient[i + 1] -= weight * dx;
                    gradient[i + width] -= weight * dy;
                }
        return weight / 2.0 * sum;
    }
}
