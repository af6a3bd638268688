using ConvViz.Engine.Backends;
using ConvViz.Engine.IO;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Onnx.Protos;
using Google.Protobuf;

namespace ConvViz.Engine.Models;

/// <summary>
/// Makes a bundle of the CNTK ImageNet ResNet-18 that NuGet's Microsoft.ML.DnnImageFeaturizer.ResNet18
/// ships as two ONNX files: ResNet18.onnx (input 1x3x224x224, output the 512 pooled features, no
/// classifier) and ResNetPreprocess.onnx, the graph ML.NET runs before it: split the RGB input,
/// concatenate it as BGR, subtract a mean image (1, 3, 224, 224), one mean per pixel. The bundle's
/// model.onnx is ResNet18.onnx with torchvision-style layer names (<see cref="ResidualNames"/>) and
/// the preprocessing and the CNTK names in its metadata; the mean image lies beside it as mean.npy.
/// </summary>
public static class CntkResNetBundle
{
    /// <summary>ML.NET's image pipelines resize to 224x224 with ResizeImages' default, IsoCrop with a
    /// center anchor: the shorter side scaled to 224, then the center 224x224 cut out.</summary>
    public const int ResizeShorter = 224;

    /// <summary>Writes model.onnx and mean.npy into <paramref name="folder"/> (which must exist) from the package's two files.</summary>
    public static void Write(string modelPath, string preprocessPath, string folder, Backend backend)
    {
        var meanImage = ReadMeanImage(preprocessPath, out int channels, out int height, out int width);
        var preprocessing = new Preprocessing(channels, height, width, ChannelOrder.Bgr, PixelScale: 1f, Mean: new float[channels],
            Scale: Enumerable.Repeat(1f, channels).ToArray(), ResizeShorter, meanImage);

        IReadOnlyList<string> sourceNames, names;
        using (var imported = OnnxImporter.Load(modelPath, backend).Network)
        {
            if (!imported.SampleShape.ToArray().SequenceEqual([channels, height, width]))
                throw new InvalidDataException($"{modelPath} takes ({string.Join(", ", imported.SampleShape.ToArray())}), but {preprocessPath} makes ({channels}, {height}, {width})");
            sourceNames = imported.Layers.Select(l => l.Name).ToArray();
            names = ResidualNames.Of(imported);
        }

        // The importer names each layer after the node it starts with (every node here has a unique
        // name); a BatchNormalization folded into a convolution is named after that convolution.
        var model = OnnxTensors.LoadModel(modelPath);
        var rename = sourceNames.Zip(names).ToDictionary(p => p.First, p => p.Second, StringComparer.Ordinal);
        var nameOfOutput = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var node in model.Graph.Node)
        {
            if (rename.TryGetValue(node.Name, out var name)) node.Name = name;
            else if (node.OpType == "BatchNormalization" && nameOfOutput.TryGetValue(node.Input[0], out var convolution)) node.Name = convolution + ".bn";
            foreach (var output in node.Output) nameOfOutput[output] = node.Name;
        }
        foreach (var (key, value) in preprocessing.ToMetadata().Append(new(ModelBundle.OutputsKey, ModelBundle.FeatureOutputs))
                     .Append(new(ModelBundle.SourceNamesKey, string.Join(";", names.Zip(sourceNames, (n, s) => $"{n}={s}")))))
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        preprocessing.SaveMeanImage(folder);
        AtomicFile.WriteAllBytes(Path.Combine(folder, ModelBundle.ModelFile), model.ToByteArray());
    }

    /// <summary>The mean image of ResNetPreprocess.onnx, after checking that the graph is what ML.NET
    /// ships: Split (axis 1) into three, Concat (axis 1) of them in reverse order, Sub of the mean.</summary>
    private static float[] ReadMeanImage(string path, out int channels, out int height, out int width)
    {
        var graph = OnnxTensors.LoadModel(path).Graph ?? throw new InvalidDataException($"{path}: the model has no graph");
        var nodes = graph.Node;
        if (nodes.Count != 3 || nodes[0].OpType != "Split" || nodes[1].OpType != "Concat" || nodes[2].OpType != "Sub"
            || !nodes[1].Input.SequenceEqual(nodes[0].Output.Reverse()) || nodes[2].Input[0] != nodes[1].Output[0]
            || nodes.Take(2).Any(n => n.Attribute.FirstOrDefault(a => a.Name == "axis")?.I != 1))
            throw new InvalidDataException($"{path}: expected Split (axis 1) -> Concat (axis 1, channels reversed) -> Sub (mean image), found {string.Join(" -> ", nodes.Select(n => n.OpType))}");
        var mean = OnnxTensors.Read(graph.Initializer.SingleOrDefault(i => i.Name == nodes[2].Input[1])
            ?? throw new InvalidDataException($"{path}: the Sub's second input '{nodes[2].Input[1]}' is not an initializer"), path);
        if (mean.Rank != 4 || mean.Dims[0] != 1 || mean.Dims[1] != nodes[0].Output.Count)
            throw new InvalidDataException($"{path}: the mean image has dims [{string.Join(", ", mean.Dims)}]; expected [1, {nodes[0].Output.Count}, H, W]");
        (channels, height, width) = (mean.Dims[1], mean.Dims[2], mean.Dims[3]);
        return mean.Floats;
    }
}
