using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>A Grad-CAM map at the layer's own resolution (Height x Width, non-negative) and the channel weights it came from.</summary>
public sealed record GradCamMap(float[] Map, int Height, int Width, float[] ChannelWeights);

/// <summary>
/// Grad-CAM (Selvaraju et al. 2017): for feature maps A (K, H, W) of a conv layer and a target,
/// alpha_k = the mean over positions of d target / d A_k, and the map is ReLU(sum_k alpha_k A_k).
/// Guided Grad-CAM multiplies guided backprop's input gradient by the map upsampled to the input.
/// </summary>
public static class GradCam
{
    /// <summary>The map for batch item 0; <paramref name="layer"/> must have spatial extent (N, K, H, W).</summary>
    public static GradCamMap Compute(Network network, Tensor input, string layer, Target target)
    {
        int layerIndex = network.IndexOf(layer);
        if (network.IndexOf(target.Layer) < layerIndex)
            throw new ArgumentException($"the target layer '{target.Layer}' comes before '{layer}'; Grad-CAM needs a target above the feature maps");
        var backend = input.Backend;
        using var pass = network.Forward(input, upTo: target.Layer);
        var features = pass.Outputs[layerIndex].Y;
        if (features.Shape.Rank != 4)
            throw new ArgumentException($"layer '{layer}' has shape {features.Shape}; Grad-CAM needs feature maps (N, K, H, W), e.g. a conv layer or its ReLU");
        int k = features.Shape.C, h = features.Shape.H, w = features.Shape.W, plane = h * w;
        float[]? dFeatures = null;
        using var seed = network.UnitSeed(pass, target.Layer, target.Channel, target.Y, target.X, n: 0);
        // The gradient arriving at the layer's output is d target / d A; backward stops being useful below it.
        network.Backward(pass, target.Layer, seed, new BackwardOptions(ReluRule.Gradient),
            observe: (i, dy) => { if (i == layerIndex) dFeatures = backend.Download(dy); })?.Dispose();
        var a = backend.Download(features);

        var weights = new float[k];
        var map = new float[plane];
        for (int c = 0; c < k; c++)
        {
            double sum = 0;
            for (int i = 0; i < plane; i++) sum += dFeatures![c * plane + i];
            weights[c] = (float)(sum / plane);
            for (int i = 0; i < plane; i++) map[i] += weights[c] * a[c * plane + i];
        }
        for (int i = 0; i < plane; i++) map[i] = Math.Max(0f, map[i]);
        return new GradCamMap(map, h, w, weights);
    }

    /// <summary>The map in its real values, resized bilinearly to height x width (the input's size).</summary>
    public static float[] Resized(GradCamMap cam, int height, int width) =>
        ImageTensors.Resize([cam.Map], cam.Width, cam.Height, width, height, ResizeMethod.Bilinear)[0];

    /// <summary>The map scaled to [0, 1] (by its maximum) and resized bilinearly to height x width: the per-image stretch
    /// that weights guided Grad-CAM, and the heatmap drawn on request (normalized).</summary>
    public static float[] Upsampled(GradCamMap cam, int height, int width)
    {
        float max = cam.Map.Max();
        return Resized(cam, height, width).Select(v => max > 0 ? v / max : 0f).ToArray();
    }

    /// <summary>Guided Grad-CAM: the guided-backprop input gradient (C, H, W) times the upsampled map.</summary>
    public static float[] Guided(float[] guidedGradient, float[] upsampledMap)
    {
        var result = new float[guidedGradient.Length];
        for (int i = 0; i < result.Length; i++) result[i] = guidedGradient[i] * upsampledMap[i % upsampledMap.Length];
        return result;
    }
}
