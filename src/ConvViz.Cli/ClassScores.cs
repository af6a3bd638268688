using ConvViz.Engine.Models;

namespace ConvViz.Cli;

/// <summary>The commands that need a classifier's scores, and what they suggest on a model without one.</summary>
public static class ClassScores
{
    /// <summary>Refuses <paramref name="what"/>, which needs class scores, on a model without a classifier,
    /// naming what works instead: a unit.</summary>
    public static void Require(ModelBundle bundle, string what, string instead = "target a unit instead with --layer L --unit C")
    {
        if (bundle.HasClasses) return;
        var last = bundle.Network.Layers[^1];
        throw new UserError($"{what} needs class scores, and {bundle.Source} has no classifier (its last layer {last.Name} outputs " +
                            $"{bundle.Network.OutputShape(last.Name, 1).SampleSize} features); {instead} " +
                            $"(the layers: convviz model info --model {bundle.Source})");
    }
}
