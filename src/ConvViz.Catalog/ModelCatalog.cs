using ConvViz.Engine.Backends;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;

namespace ConvViz.Catalog;

/// <summary>
/// The models a program can open by name: a bundle folder, an .onnx file, or a built-in model (the
/// embedded fashion-alexnet, the packaged resnet18-imagenet, and architectures with seeded random weights).
/// </summary>
public static class ModelCatalog
{
    public const string Default = EmbeddedModels.FashionAlexNet;

    private static readonly (string Name, string Summary, Func<Backend, int, ModelBundle> Create)[] BuiltIns =
    [
        (EmbeddedModels.FashionAlexNet, "AlexNet-style network trained on Fashion-MNIST by `convviz train` (weights/fashion-alexnet), 1x28x28 gray input, 10 classes", TrainedFashionAlexNet),
        (PackagedModels.ResNet18ImageNet, "ImageNet ResNet-18 (CNTK, from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18), 3x224x224 BGR input minus a mean image, 512 pooled features: no classifier, so its units are the targets", PackagedResNet18),
        ("alexnet", "two-tower AlexNet (Caffe bvlc_alexnet layout), 227x227x3 input, 1000 classes, random weights", RandomAlexNet),
    ];

    /// <summary>The built-in models, each with a one-line summary.</summary>
    public static IEnumerable<(string Name, string Summary)> All => BuiltIns.Select(b => (b.Name, b.Summary));

    /// <summary>Whether <paramref name="model"/> names a built-in model rather than a folder or file.</summary>
    public static bool IsBuiltIn(string model) => BuiltIns.Any(e => string.Equals(e.Name, model, StringComparison.OrdinalIgnoreCase));

    /// <summary>A seed sets only a built-in model's random weights; with a model from disk it would be ignored, so it is refused.</summary>
    public static void RefuseWeightSeed(string model, int seed)
    {
        if (!IsBuiltIn(model))
            throw new ArgumentException($"Seed {seed} seeds a built-in model's random weights, and {model} brings its own; leave Seed out", "Seed");
    }

    /// <summary>Opens <paramref name="model"/> (a built-in name, a bundle folder or an .onnx file) on
    /// <paramref name="backend"/>; <paramref name="seed"/> seeds the weights of a built-in architecture.</summary>
    public static ModelBundle Open(string model, Backend backend, int seed = 0)
    {
        foreach (var entry in BuiltIns)
            if (string.Equals(entry.Name, model, StringComparison.OrdinalIgnoreCase))
                return entry.Create(backend, seed);
        if (!Directory.Exists(model) && !File.Exists(model))
            throw new ArgumentException($"unknown model '{model}': not a bundle folder, an .onnx file or a built-in model ({string.Join(", ", BuiltIns.Select(e => e.Name))})", nameof(model));
        // The engine refuses damaged or meaningless models and preprocessing as it loads them (ModelBundle.Load).
        return ModelBundle.Load(model, backend);
    }

    /// <summary>The built-in model's summary, else the layer count and source of <paramref name="bundle"/>.</summary>
    public static string Describe(ModelBundle bundle) =>
        BuiltIns.FirstOrDefault(e => string.Equals(e.Name, bundle.Source, StringComparison.OrdinalIgnoreCase)).Summary
        ?? $"{bundle.Network.Layers.Count} layers from {bundle.Source}";

    /// <summary>The embedded default bundle, written out to its cache folder on first use.</summary>
    private static ModelBundle TrainedFashionAlexNet(Backend backend, int seed)
    {
        var loaded = ModelBundle.Load(EmbeddedModels.Folder(EmbeddedModels.FashionAlexNet), backend);
        return new ModelBundle(EmbeddedModels.FashionAlexNet, loaded.Network, loaded.Preprocessing, loaded.Classes, loaded.Notes) { Folder = loaded.Folder };
    }

    /// <summary>The packaged ImageNet ResNet-18, made into its cache folder on first use.</summary>
    private static ModelBundle PackagedResNet18(Backend backend, int seed)
    {
        var loaded = ModelBundle.Load(PackagedModels.ResNet18Folder(), backend);
        return new ModelBundle(PackagedModels.ResNet18ImageNet, loaded.Network, loaded.Preprocessing, loaded.Classes, loaded.Notes)
            { Folder = loaded.Folder, SourceNames = loaded.SourceNames };
    }

    /// <summary>Random-weight AlexNet with the Caffe model's preprocessing (BGR, mean pixel, 256 then crop 227).</summary>
    private static ModelBundle RandomAlexNet(Backend backend, int seed)
    {
        var network = AlexNet.Create(backend, seed);
        var preprocessing = new Preprocessing(3, 227, 227, ChannelOrder.Bgr, 1f, [104f, 117f, 123f], [1f, 1f, 1f], ResizeShorter: 256);
        return new ModelBundle("alexnet", network, preprocessing, ModelBundle.NumberedClasses(1000),
            ["random weights (seed " + seed + "): the classes are numbered, not named"]) { RandomWeights = true };
    }
}
