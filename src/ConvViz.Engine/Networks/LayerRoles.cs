using ConvViz.Engine.Layers;

namespace ConvViz.Engine.Networks;

/// <summary>Layers the visualizations pick by role rather than by name, so they work for any model's names.</summary>
public static class LayerRoles
{
    /// <summary>Whether a layer rectifies its input the way visualizations care about: ReLU, or Clip
    /// (ReLU6), whose backward follows the ReLU rule.</summary>
    public static bool IsRectifier(Layer layer) => layer is ReluLayer or ClipLayer;

    /// <summary>
    /// For each convolution, in order, the layer that holds its rectified feature maps: the
    /// rectifier (ReLU or Clip) that reads it, or the convolution itself when none does (relu1..relu5
    /// in AlexNet; the ReLU6 after each MobileNet-v2 conv; in a residual block the second
    /// convolution feeds the Add, so the convolution itself).
    /// </summary>
    public static IReadOnlyList<string> RectifiedConvolutions(Network network)
    {
        var layers = network.Layers;
        return Enumerable.Range(0, layers.Count).Where(i => layers[i] is Conv2dLayer)
            .Select(i => Enumerable.Range(i + 1, layers.Count - i - 1).FirstOrDefault(j => IsRectifier(layers[j]) && network.InputsOf(j)[0] == i, -1) is var relu and >= 0
                ? layers[relu].Name : layers[i].Name).ToArray();
    }

    /// <summary>
    /// The last rectifier (ReLU or ReLU6) whose output still has a spatial extent (more than one
    /// position): the last rectified feature maps, what Grad-CAM, top-k and the Toolbox show first
    /// (relu5 in AlexNet; in a ResNet the ReLU after the last residual Add, not the conv before it). A
    /// model without one gets the rectified output of its last convolution.
    /// </summary>
    public static string LastSpatialRectifier(Network network)
    {
        var summary = network.Summarize(1);
        int last = Enumerable.Range(0, network.Layers.Count).LastOrDefault(i => IsRectifier(network.Layers[i])
            && summary[i].OutputShape is { Rank: 4 } shape && shape.H * shape.W > 1, -1);
        if (last >= 0) return network.Layers[last].Name;
        return RectifiedConvolutions(network) is { Count: > 0 } layers ? layers[^1] : throw new ArgumentException("the model has no conv layer; give a layer");
    }
}
