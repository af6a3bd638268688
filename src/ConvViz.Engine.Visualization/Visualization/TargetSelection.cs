using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>A unit as a user names it: a channel C (all its positions, or the center for methods that need one position) or C at (Y, X).</summary>
public readonly record struct UnitCoordinates(int Channel, int? Y = null, int? X = null);

/// <summary>
/// The one rule for what a method targets, given a class, a unit of a layer, or nothing:
/// <list type="bullet">
/// <item>a class (a number, or one of the model's class names in any case): that logit, the output of the last layer before any softmax;</item>
/// <item>a unit: that channel (and position) of the layer, by default the last convolution;</item>
/// <item>nothing: the class the model predicts for the input (the largest logit).</item>
/// </list>
/// A class, or the default, needs a model with class scores; the errors name the engine's parameters
/// (Class, Layer, Unit) so that a front end can put its own words in their place.
/// </summary>
public static class TargetSelection
{
    /// <summary>How many class names an error about an unknown name lists.</summary>
    private const int NamesListed = 5;

    /// <summary>The index of the class <paramref name="nameOrIndex"/> names: a whole number 0..classes-1, or a class name, case-insensitive.</summary>
    public static int ClassIndex(ModelBundle bundle, string nameOrIndex)
    {
        string text = nameOrIndex.Trim();
        RequireClasses(bundle, $"Class {text}");
        var classes = bundle.Classes;
        if (int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int index))
        {
            if (index < 0 || index >= classes.Count)
                throw new ArgumentOutOfRangeException("Class", index, $"Class {index} is outside the model's classes 0..{classes.Count - 1}");
            return index;
        }
        for (int i = 0; i < classes.Count; i++)
            if (string.Equals(classes[i], text, StringComparison.OrdinalIgnoreCase)) return i;
        string listed = string.Join(", ", classes.Take(NamesListed).Select(c => $"'{c}'"));
        throw new ArgumentException($"Class '{text}' is not one of the model's classes ({listed}{(classes.Count > NamesListed ? ", ..." : "")}; " +
                                    $"{classes.Count} in all); give a class name or a number 0..{classes.Count - 1}", "Class");
    }

    /// <summary>
    /// The target of <paramref name="classNameOrIndex"/>, of <paramref name="unit"/> in <paramref name="layer"/>
    /// (default: the last convolution), or by default the predicted class of <paramref name="input"/> (batch item 0).
    /// </summary>
    public static Target Resolve(ModelBundle bundle, Tensor? input, string? classNameOrIndex = null, string? layer = null, UnitCoordinates? unit = null)
    {
        var network = bundle.Network;
        if (classNameOrIndex is not null && (unit is not null || layer is not null))
            throw new ArgumentException($"Class {classNameOrIndex} and {(unit is not null ? "Unit" : $"Layer {layer}")} name two targets; give a class or a unit, not both", "Class");
        if (classNameOrIndex is not null) return new Target(ClassPredictions.LogitLayer(bundle.Network), ClassIndex(bundle, classNameOrIndex));
        if (unit is { } u)
        {
            string named = layer ?? network.Layers.LastOrDefault(l => l is Conv2dLayer)?.Name ?? throw new ArgumentException("the model has no conv layer; give a Layer", "Layer");
            network.IndexOf(named);
            return new Target(named, u.Channel, u.Y, u.X);
        }
        if (layer is not null) throw new ArgumentException($"Layer {layer} needs Unit C or C,Y,X", "Unit");
        return new Target(ClassPredictions.LogitLayer(bundle.Network), PredictedClass(bundle, input ?? throw new ArgumentException("give a Class or a Unit: there is no input whose predicted class to take", "Class")));
    }

    /// <summary>The class with the largest logit for batch item 0 of <paramref name="input"/> (the top class of the softmax too).</summary>
    public static int PredictedClass(ModelBundle bundle, Tensor input)
    {
        RequireClasses(bundle, "the default target (the top class)");
        using var pass = bundle.Network.Forward(input, ClassPredictions.LogitLayer(bundle.Network));
        var scores = input.Backend.Download(pass.Last).AsSpan(0, bundle.Classes.Count);
        int best = 0;
        for (int i = 1; i < scores.Length; i++)
            if (scores[i] > scores[best]) best = i;
        return best;
    }

    /// <summary>Refuses <paramref name="what"/>, which needs class scores, on a model without a classifier.</summary>
    public static void RequireClasses(ModelBundle bundle, string what)
    {
        if (bundle.HasClasses) return;
        var last = bundle.Network.Layers[^1];
        throw new ArgumentException($"{what} needs class scores, and {bundle.Source} has no classifier (its last layer {last.Name} outputs " +
                                    $"{bundle.Network.OutputShape(last.Name, 1).SampleSize} features); target a unit instead: give Layer and Unit", "Class");
    }
}
