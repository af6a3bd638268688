using System.Security.Cryptography;
using ConvViz.Engine.Backends.Reference;
using ConvViz.Engine.Models;

namespace ConvViz.Catalog;

/// <summary>
/// The built-in resnet18-imagenet: the CNTK ImageNet ResNet-18 that NuGet's
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 ships (two ONNX files, 45 MB, too large to embed), copied
/// beside the program (convviz, the tests) by the build (DnnImageModels/), with the sample photos of
/// weights/resnet18-imagenet/samples (models/resnet18-imagenet/samples/). On first use it becomes a
/// bundle folder (<see cref="CntkResNetBundle"/>: readable layer names, the mean image, the samples)
/// under ~/.local/share/convviz/models/resnet18-imagenet-&lt;hash&gt;/, one per version of its files.
/// </summary>
public static class PackagedModels
{
    public const string ResNet18ImageNet = "resnet18-imagenet";

    /// <summary>Part of the folder's hash: raise it when the bundle made from the same files changes.</summary>
    private const string BundleVersion = "1";

    public static string ModelFile => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18.onnx");
    public static string PreprocessFile => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNetPreprocess.onnx");
    public static string SamplesFolder => Path.Combine(AppContext.BaseDirectory, "models", ResNet18ImageNet, ModelBundle.SamplesFolder);

    /// <summary>The bundle folder of resnet18-imagenet, made from the files beside the binary when missing.</summary>
    public static string ResNet18Folder()
    {
        foreach (string file in new[] { ModelFile, PreprocessFile })
            if (!File.Exists(file))
                throw new InvalidOperationException($"this build has no {file}; it comes from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18, which the build of ConvViz.Catalog restores and copies beside the program");
        var samples = Directory.Exists(SamplesFolder) ? Directory.GetFiles(SamplesFolder).Order(StringComparer.Ordinal).ToArray() : [];

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(BundleVersion));
        foreach (string file in samples.Prepend(PreprocessFile).Prepend(ModelFile))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(file)));
            // Streamed: the model is 45 MB, and every command that names the model finds its folder this way.
            using var stream = File.OpenRead(file);
            var buffer = new byte[1 << 16];
            for (int read; (read = stream.Read(buffer)) > 0;) hash.AppendData(buffer, 0, read);
        }
        return ModelCache.Folder(ResNet18ImageNet, hash.GetHashAndReset(), staging =>
        {
            Directory.CreateDirectory(Path.Combine(staging, ModelBundle.SamplesFolder));
            using (var backend = new ReferenceBackend())
                CntkResNetBundle.Write(ModelFile, PreprocessFile, staging, backend);
            foreach (string sample in samples)
                File.Copy(sample, Path.Combine(staging, ModelBundle.SamplesFolder, Path.GetFileName(sample)));
        });
    }
}
