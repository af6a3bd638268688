using ConvViz.Engine.Backends;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx;

namespace ConvViz.Engine.Models;

/// <summary>
/// A model as users meet it: a network, how images become its input, and its class names. On disk
/// a bundle is a folder holding model.onnx (preprocessing in its metadata_props, see
/// <see cref="Preprocessing"/>), classes.txt (one name per line, in output order) and optionally a
/// samples folder. A bare .onnx file loads too, with defaults that <see cref="Notes"/> states. A
/// network without a classifier (its last layer outputs features, as an ImageNet trunk cut before its
/// fully connected layer) says so with the metadata outputs = features and has no classes.
/// </summary>
public sealed class ModelBundle : IDisposable
{
    public const string ModelFile = "model.onnx", ClassesFile = "classes.txt", SamplesFolder = "samples";

    /// <summary>The metadata key that says what the last layer outputs: <see cref="ClassOutputs"/> (the default) or <see cref="FeatureOutputs"/>.</summary>
    public const string OutputsKey = "outputs", ClassOutputs = "classes", FeatureOutputs = "features";

    /// <summary>The metadata key that keeps the layers' names in the file a bundle was made from
    /// (after they were renamed), "conv1=Convolution249;relu=ReLU253;...".</summary>
    public const string SourceNamesKey = "source_layer_names";

    /// <summary>The largest classes.txt read: 16 MiB is ample for a million class names.</summary>
    public const long MaxClassFileBytes = 16 << 20;

    public ModelBundle(string source, Network network, Preprocessing preprocessing, IReadOnlyList<string> classes, IReadOnlyList<string> notes)
    {
        int outputs = network.OutputShape(network.Layers[^1].Name, 1).SampleSize;
        if (classes.Count != outputs && classes.Count != 0)
            throw new InvalidDataException($"{source}: {classes.Count} class names for a model with {outputs} outputs");
        Source = source;
        Network = network;
        Preprocessing = preprocessing;
        Classes = classes;
        Notes = notes;
        samples = new(ReadSamples);
    }

    /// <summary>The bundle's samples, read on first use: the IDX test split of its samples folder, or the image files in it.</summary>
    private readonly Lazy<(LabeledImages? Idx, (string File, int Label)[] Photos)> samples;

    /// <summary>Where the bundle came from: a folder, an .onnx file or a built-in name.</summary>
    public string Source { get; }

    /// <summary>The folder on disk that holds the bundle's files (null for a bundle built in memory).</summary>
    public string? Folder { get; init; }

    /// <summary>The bundle's samples folder (MNIST-style IDX files) when it has one.</summary>
    public string? Samples => Folder is not null && Directory.Exists(Path.Combine(Folder, SamplesFolder)) ? Path.Combine(Folder, SamplesFolder) : null;

    /// <summary>How many samples the bundle brings: the images of its samples folder's t10k IDX files, else
    /// its image files (PNG, JPEG, PGM/PPM; in class subfolders or not); 0 without a samples folder.</summary>
    public int SampleCount => samples.Value.Idx?.Count ?? samples.Value.Photos.Length;

    /// <summary>Sample <paramref name="number"/> (from 0) of <see cref="SampleCount"/>: an IDX image as stored, a photo
    /// as its file holds it (the caller preprocesses either, as any image); its name says where it comes from.</summary>
    public BundleSample Sample(int number)
    {
        int count = SampleCount;
        if (count == 0)
            throw new ArgumentOutOfRangeException(nameof(number), number,
                $"{nameof(Sample)} {number}: {Source} has no samples (a bundle folder holds them in {SamplesFolder}/, as t10k IDX files or images)");
        if (number < 0 || number >= count)
            throw new ArgumentOutOfRangeException(nameof(number), number, $"{nameof(Sample)} {number} is out of range: {Source} has {count} samples, 0 to {count - 1}");
        var (idx, photos) = samples.Value;
        if (idx is not null)
        {
            int label = idx.Label(number);
            string name = label < Classes.Count ? $"{LabeledImages.TestSplit} image {number} of {Samples}, a {Classes[label]}" : $"{LabeledImages.TestSplit} image {number} of {Samples}";
            return new BundleSample(number, name, idx.ToImage(number), label);
        }
        return new BundleSample(number, photos[number].File, ImageFile.Read(photos[number].File), photos[number].Label);
    }

    /// <summary>Sample <paramref name="number"/> as the network's input (C, H, W), preprocessed as <see cref="Preprocessing"/> says.</summary>
    public float[] SampleInput(int number) => ImageTensors.ToInput(Sample(number).Image, Preprocessing);

    private (LabeledImages? Idx, (string File, int Label)[] Photos) ReadSamples()
    {
        if (Samples is not { } folder) return (null, []);
        if (LabeledImages.HasSplit(folder, LabeledImages.TestSplit)) return (LabeledImages.LoadSplit(folder, LabeledImages.TestSplit), []);
        if (!LabeledImages.IsImageFolder(folder)) return (null, []);
        return (null, LabeledImages.ImageFolderClasses(folder).SelectMany((c, label) => c.Files.Select(file => (file, label))).ToArray());
    }

    public Network Network { get; }
    public Preprocessing Preprocessing { get; }
    /// <summary>The class names in output order; empty when the model has no classifier.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>False for a model whose last layer outputs features rather than class scores.</summary>
    public bool HasClasses => Classes.Count > 0;

    /// <summary>Each renamed layer's name in the file the bundle was made from (empty when none was renamed).</summary>
    public IReadOnlyDictionary<string, string> SourceNames { get; init; } = new Dictionary<string, string>();

    /// <summary>Whether the weights are random rather than learned (a built-in architecture with seeded weights, for shapes
    /// and timings): its class scores and every picture of it show the architecture, not anything it has learned.</summary>
    public bool RandomWeights { get; init; }

    /// <summary>What was missing and defaulted, one sentence each, for the user to see.</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>Names "class 0", "class 1", ... for a model without a class list.</summary>
    public static IReadOnlyList<string> NumberedClasses(int count) => Enumerable.Range(0, count).Select(i => $"class {i}").ToArray();

    /// <summary>Loads a bundle folder or a bare .onnx file onto <paramref name="backend"/>.</summary>
    public static ModelBundle Load(string path, Backend backend)
    {
        string modelPath = Directory.Exists(path) ? Path.Combine(path, ModelFile) : path;
        if (Directory.Exists(path) && !File.Exists(modelPath))
            throw new IOException($"{path}: the bundle folder has no {ModelFile}");
        var imported = OnnxImporter.Load(modelPath, backend);
        var network = imported.Network;
        try
        {
            var notes = new List<string>();
            var defaulted = new List<string>();
            Preprocessing preprocessing;
            try { preprocessing = Preprocessing.FromMetadata(imported.Metadata, network.SampleShape, defaulted, Path.GetDirectoryName(Path.GetFullPath(modelPath))); }
            catch (InvalidDataException e) { throw new InvalidDataException($"{modelPath}: {e.Message}", e); }
            if (defaulted.Count > 0)
                notes.Add($"no preprocessing metadata for {string.Join(", ", defaulted)}: using {preprocessing}");

            int outputs = network.OutputShape(network.Layers[^1].Name, 1).SampleSize;
            string classesPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, ClassesFile);
            IReadOnlyList<string> classes;
            string outputKind = imported.Metadata.TryGetValue(OutputsKey, out var kind) && !string.IsNullOrWhiteSpace(kind) ? kind.Trim() : ClassOutputs;
            if (outputKind is not (ClassOutputs or FeatureOutputs))
                throw new InvalidDataException($"{modelPath}: metadata {OutputsKey} '{outputKind}' is not {ClassOutputs} or {FeatureOutputs}");
            if (outputKind == FeatureOutputs)
            {
                if (File.Exists(classesPath))
                    throw new InvalidDataException($"{classesPath}: the model's metadata says its outputs are {FeatureOutputs}, not classes; remove one or the other");
                classes = [];
            }
            else if (File.Exists(classesPath))
            {
                classes = IO.InputFiles.ReadAllLines(classesPath, "class names, one per line", MaxClassFileBytes).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
                if (classes.Count != outputs)
                    throw new InvalidDataException($"{classesPath}: {classes.Count} class names for a model with {outputs} outputs");
            }
            else
            {
                classes = NumberedClasses(outputs);
                notes.Add($"no {ClassesFile} beside the model: classes are numbered 0 to {outputs - 1}");
            }
            return new ModelBundle(path, network, preprocessing, classes, notes)
            {
                Folder = Path.GetDirectoryName(Path.GetFullPath(modelPath)),
                SourceNames = ReadSourceNames(imported.Metadata, network, modelPath),
            };
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadSourceNames(IReadOnlyDictionary<string, string> metadata, Network network, string modelPath)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!metadata.TryGetValue(SourceNamesKey, out var text) || string.IsNullOrWhiteSpace(text)) return names;
        foreach (var entry in text.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = entry.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[1].Length == 0 || !network.Layers.Any(l => l.Name == parts[0]) || !names.TryAdd(parts[0], parts[1]))
                throw new InvalidDataException($"{modelPath}: metadata {SourceNamesKey} entry '{entry}' is not LAYER=SOURCE_NAME for a layer of the model, once each");
        }
        return names;
    }

    /// <summary>Writes this bundle into <paramref name="folder"/>: model.onnx with the preprocessing
    /// metadata, its mean image when it has one, and classes.txt.</summary>
    public void Save(string folder)
    {
        Directory.CreateDirectory(folder);
        Preprocessing.SaveMeanImage(folder);
        var metadata = Preprocessing.ToMetadata().ToDictionary();
        if (!HasClasses) metadata[OutputsKey] = FeatureOutputs;
        OnnxExporter.Save(Network, Path.Combine(folder, ModelFile), metadata);
        if (HasClasses) AtomicFile.WriteAllLines(Path.Combine(folder, ClassesFile), Classes);
    }

    public void Dispose() => Network.Dispose();
}

/// <summary>One of a bundle's samples: its number, where it comes from (an IDX image of the samples folder, or a
/// photo's file), its image as stored, before preprocessing, and its label (the IDX label, or the index of the
/// photo's class subfolder).</summary>
public sealed record BundleSample(int Number, string Name, Image8 Image, int Label);
