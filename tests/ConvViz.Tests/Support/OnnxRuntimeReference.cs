using ConvViz.Engine.Onnx.Protos;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ConvViz.Tests.Support;

/// <summary>One tensor as ONNX Runtime computed it: its values (row-major) and its dims.</summary>
public sealed record ReferenceTensor(float[] Values, int[] Dims);

/// <summary>
/// Runs an ONNX model in ONNX Runtime, an implementation independent of ConvViz, with every node
/// output exposed: a copy of the model gets each node output as an extra graph output, so one run
/// returns every intermediate tensor by its ONNX name. Graph optimizations are off, so each node runs
/// as written (no Conv + BatchNormalization fusion) and its output is that node's own value.
/// </summary>
public static class OnnxRuntimeReference
{
    /// <summary>Runs the .onnx file at <paramref name="path"/>; see <see cref="Run(byte[], float[], int[])"/>.</summary>
    public static IReadOnlyDictionary<string, ReferenceTensor> Run(string path, float[] input, int[] inputDims) =>
        Run(File.ReadAllBytes(path), input, inputDims);

    /// <summary>
    /// Runs the serialized ModelProto <paramref name="model"/> on <paramref name="input"/> of
    /// <paramref name="inputDims"/> (batch first), fed to the graph's one input that is not an
    /// initializer. Returns every float tensor a node writes, and the graph outputs, by name; tensors
    /// of other types (the int64 values of shape subgraphs, Dropout masks) are left out.
    /// </summary>
    public static IReadOnlyDictionary<string, ReferenceTensor> Run(byte[] model, float[] input, int[] inputDims)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        var graph = proto.Graph;
        var outputs = new HashSet<string>(graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        // No type is given: ONNX Runtime infers each one, and the values are filtered by type below.
        foreach (var output in graph.Node.SelectMany(n => n.Output).Where(o => o.Length > 0))
            if (outputs.Add(output)) graph.Output.Add(new ValueInfoProto { Name = output });

        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        string inputName = graph.Input.Select(i => i.Name).Single(n => !initializers.Contains(n));

        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(proto.ToByteArray(), options);
        var feed = new DenseTensor<float>(input, inputDims);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(inputName, feed)]);
        var tensors = new Dictionary<string, ReferenceTensor>(StringComparer.Ordinal);
        foreach (var result in results)
            if (result.Value is Tensor<float> tensor)
                tensors[result.Name] = new ReferenceTensor(tensor.ToArray(), tensor.Dimensions.ToArray());
        return tensors;
    }
}
