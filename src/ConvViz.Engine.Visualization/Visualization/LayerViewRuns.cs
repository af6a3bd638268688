using System.Diagnostics;
using ConvViz.Engine.Figures;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>What <see cref="LayerViewRuns.Activations"/> wrote: each layer's grid pages in layer order, and the top classes when the model has them.</summary>
public sealed record ActivationsRun(IReadOnlyList<string> Files, float[]? Scores, IReadOnlyList<ClassPrediction> Top);

/// <summary>One conv layer's filter grid: the layer, its weight shape (filters, input channels, height, width) and its pages' files.</summary>
public sealed record FilterGrid(string Layer, Shape Weights, IReadOnlyList<string> Files);

/// <summary>
/// The layer views as runs: compute, write Folder/&lt;layer&gt;.png per layer (and &lt;layer&gt;-page2.png, ... for a
/// layer with more tiles than a page holds: see <see cref="LayerFigures"/>) through <see cref="RunOutputs"/>, and
/// record the settings, times and results on its card. Tiles are numbered, the class-score layers' named by class.
/// </summary>
public static class LayerViewRuns
{
    /// <summary>The activations of every layer (or of <paramref name="layer"/>) for one input (1, C, H, W), as
    /// tiled grids: small tiles for all layers, large ones for one; with classes, the top 5 on the card.</summary>
    public static ActivationsRun Activations(ModelBundle bundle, Tensor input, string? layer, Colormap colormap, Normalization normalization, RunOutputs outputs)
    {
        var network = bundle.Network;
        var backend = input.Backend;
        var layers = layer is null ? network.Layers.ToList() : [network[layer]];
        var card = outputs.Card;
        card.Parameters["layer"] = layer ?? "all";
        card.Parameters["colormap"] = colormap.ToString();
        card.Parameters["normalize"] = normalization.ToString();

        var clock = Stopwatch.StartNew();
        using var pass = network.Forward(input);
        backend.Synchronize();
        card.TimingsMs["forward"] = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        var files = new List<string>();
        foreach (var shown in layers)
        {
            var y = pass.Output(shown.Name);
            var pages = LayerFigures.Activations(backend.Download(y), y.Shape, $"{shown.Name} ({shown.OpType})", normalization, colormap,
                tilePixels: layer is null ? 32 : 96, outputs.Labels, UnitNames.ClassesOf(bundle, shown.Name));
            files.AddRange(outputs.Pages(FileNames.ForLayer(shown.Name), pages));
        }
        card.TimingsMs["render"] = clock.Elapsed.TotalMilliseconds;

        if (!bundle.HasClasses) return new ActivationsRun(files, null, []);
        var scores = backend.Download(pass.Last);
        var top = ClassPredictions.Top(network, scores, 5);
        card.Results["top5"] = top.Select(t => new { index = t.Index, name = bundle.Classes[t.Index], probability = t.Probability }).ToArray();
        return new ActivationsRun(files, scores, top);
    }

    /// <summary>The filters of every conv layer (or of <paramref name="layer"/>, which must be one): the first
    /// layer's as color or gray tiles, deeper ones as one row per filter of its (strongest) input channels.</summary>
    public static IReadOnlyList<FilterGrid> Filters(ModelBundle bundle, string? layer, RunOutputs outputs)
    {
        var network = bundle.Network;
        var convs = network.Layers.OfType<Conv2dLayer>().ToList();
        if (layer is not null)
        {
            var named = network[layer];
            convs = named is Conv2dLayer conv ? [conv]
                : throw new ArgumentException($"Layer {layer} is a {named.OpType} layer; filters exist for conv layers: {string.Join(", ", convs.Select(l => l.Name))}", nameof(layer));
        }
        outputs.Card.Parameters["layer"] = layer ?? "all conv layers";
        var grids = new List<FilterGrid>();
        foreach (var conv in convs)
        {
            var weights = conv.Weight.Value;
            var pages = LayerFigures.Filters(weights.Backend.Download(weights), weights.Shape, bundle.Preprocessing.Order, conv.Name, outputs.Labels);
            grids.Add(new FilterGrid(conv.Name, weights.Shape, outputs.Pages(FileNames.ForLayer(conv.Name), pages)));
        }
        return grids;
    }
}
