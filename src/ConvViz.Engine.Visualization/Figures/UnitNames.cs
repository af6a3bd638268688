using System.Globalization;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Figures;

/// <summary>How figures name a layer's units: by class on the class-score layers of a model with classes ("Trouser"), otherwise by number.</summary>
internal static class UnitNames
{
    /// <summary>The class names of <paramref name="layer"/>'s units when it is the logit layer or a layer after it with one unit per class; else null.</summary>
    public static IReadOnlyList<string>? ClassesOf(ModelBundle bundle, string layer)
    {
        if (!bundle.HasClasses) return null;
        var network = bundle.Network;
        if (network.IndexOf(layer) < network.IndexOf(ClassPredictions.LogitLayer(network))) return null;
        return network.OutputShape(layer, 1).SampleSize == bundle.Classes.Count ? bundle.Classes : null;
    }

    /// <summary>"Trouser" on a class-score layer, "unit 3" elsewhere.</summary>
    public static string Of(ModelBundle bundle, string layer, int channel) =>
        ClassesOf(bundle, layer) is { } classes && channel < classes.Count ? classes[channel] : string.Create(CultureInfo.InvariantCulture, $"unit {channel}");

    /// <summary>A target in a title: "fc8 unit 1 (Trouser)", "conv5 unit 3", "conv5 unit 3 at (2, 4)".</summary>
    public static string Describe(ModelBundle bundle, Target target)
    {
        string at = target.Y is null ? "" : string.Create(CultureInfo.InvariantCulture, $" at ({target.Y}, {target.X})");
        string unit = string.Create(CultureInfo.InvariantCulture, $"{target.Layer} unit {target.Channel}{at}");
        return ClassesOf(bundle, target.Layer) is { } classes && target.Channel < classes.Count ? $"{unit} ({classes[target.Channel]})" : unit;
    }
}
