using System.Reflection;
using System.Security.Cryptography;
using ConvViz.Engine.Models;

namespace ConvViz.Catalog;

/// <summary>
/// The default bundle (weights/fashion-alexnet: model.onnx, classes.txt, samples/) is embedded in
/// the catalog assembly, so it works from any folder. On first use it is written out, once per
/// model version, to ~/.local/share/convviz/models/&lt;name&gt;-&lt;hash&gt;/, where every command
/// (and the samples other commands mine) finds it as an ordinary bundle folder.
/// </summary>
public static class EmbeddedModels
{
    public const string FashionAlexNet = "fashion-alexnet";
    private const string Prefix = "ConvViz.Catalog.";

    /// <summary>The folder holding the embedded bundle <paramref name="name"/>, written out when missing.</summary>
    public static string Folder(string name)
    {
        var assembly = typeof(EmbeddedModels).Assembly;
        string resourcePrefix = $"{Prefix}{name}/";
        var resources = assembly.GetManifestResourceNames().Where(r => r.StartsWith(resourcePrefix, StringComparison.Ordinal)).ToArray();
        string modelResource = resourcePrefix + ModelBundle.ModelFile;
        if (!resources.Contains(modelResource))
            throw new InvalidOperationException($"this build has no embedded '{name}' model (weights/{name}/ was missing when it was built); open a bundle folder or an .onnx file instead");

        return ModelCache.Folder(name, SHA256.HashData(Read(assembly, modelResource)), staging =>
        {
            foreach (string resource in resources)
            {
                string target = Path.Combine(staging, resource[resourcePrefix.Length..]);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.WriteAllBytes(target, Read(assembly, resource));
            }
        });
    }

    private static byte[] Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
