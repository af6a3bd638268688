using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>A Grad-CAM as run: the class explained, the feature-map layer and the map at its resolution.</summary>
public sealed record GradCamRun(Target Target, string Layer, GradCamMap Map);

/// <summary>
/// Grad-CAM of a class with its outputs: the heatmap, its overlay on the input and guided Grad-CAM
/// (&lt;input&gt;-&lt;layer&gt;-class&lt;K&gt;-heatmap.png, -overlay.png, -guided-gradcam.png), each enlarged to at least 224
/// pixels a side with crisp pixels; the card gets the map.
/// </summary>
public static class GradCamRuns
{
    /// <summary>The last ReLU with spatial maps (<see cref="LayerRoles.LastSpatialRectifier"/>), e.g. the one after a ResNet's last residual Add.</summary>
    public static string DefaultLayer(Network network) =>
        LayerRoles.RectifiedConvolutions(network).Count > 0 ? LayerRoles.LastSpatialRectifier(network)
            : throw new ArgumentException("the model has no conv layer for Grad-CAM; give a Layer with feature maps", "Layer");

    /// <summary>
    /// Explains <paramref name="classNameOrIndex"/> (null: the predicted class) on <paramref name="layer"/>'s feature maps
    /// (null: <see cref="DefaultLayer"/>) for <paramref name="input"/> (1, C, H, W), which <paramref name="inputName"/> names in the files.
    /// </summary>
    public static GradCamRun Run(ModelBundle bundle, Tensor input, string inputName, string? layer, string? classNameOrIndex, Colormap colormap, float opacity,
        RunOutputs outputs, CancellationToken cancellation = default)
    {
        if (!(opacity is >= 0 and <= 1)) throw new ArgumentOutOfRangeException("Opacity", opacity, $"Opacity {opacity} must be between 0 and 1");
        var network = bundle.Network;
        string mapped = layer ?? DefaultLayer(network);
        network.IndexOf(mapped);
        if (!bundle.HasClasses)
        {
            var last = network.Layers[^1];
            throw new ArgumentException($"gradcam (it has no unit form) needs class scores, and {bundle.Source} has no classifier (its last layer {last.Name} outputs " +
                                        $"{network.OutputShape(last.Name, 1).SampleSize} features); to explain a unit use saliency, deconvnet, guided backprop or occlusion", "Class");
        }
        var target = TargetSelection.Resolve(bundle, input, classNameOrIndex);
        var p = bundle.Preprocessing;
        var card = outputs.Card;
        card.Target = target.ToString();
        card.Parameters["layer"] = mapped;
        card.Parameters["colormap"] = colormap.ToString();
        card.Parameters["opacity"] = opacity;

        var clock = Stopwatch.StartNew();
        var cam = GradCam.Compute(network, input, mapped, target);
        card.TimingsMs["gradcam"] = clock.Elapsed.TotalMilliseconds;
        cancellation.ThrowIfCancellationRequested();
        clock.Restart();
        var guided = Attribution.InputGradient(network, input, target, ReluRule.Guided);
        card.TimingsMs["guided backprop"] = clock.Elapsed.TotalMilliseconds;

        var heat = GradCam.Upsampled(cam, p.Height, p.Width);
        var image = ImageTensors.ToImage(input.Backend.Download(input), p);
        string stem = FileNames.ForLayer($"{inputName}-{mapped}-class{target.Channel}");
        outputs.Enlarged($"{stem}-heatmap.png", Montage.Tile(heat, 1, p.Height, p.Width, Normalization.PerLayer, colormap, gap: 0));
        outputs.Enlarged($"{stem}-overlay.png", colormap.Overlay(image, heat, opacity));
        outputs.Enlarged($"{stem}-guided-gradcam.png", Attribution.Render(GradCam.Guided(guided, heat), p, GradientDisplay.Raw, input.Backend, 1f));
        card.Results["mapSize"] = new[] { cam.Height, cam.Width };
        card.Results["map"] = cam.Map;
        return new GradCamRun(target, mapped, cam);
    }
}
