using ConvViz.Engine.Onnx.Protos;
using Google.Protobuf;
using AttributeType = ConvViz.Engine.Onnx.Protos.AttributeProto.Types.AttributeType;
using OnnxDataType = ConvViz.Engine.Onnx.Protos.TensorProto.Types.DataType;

namespace ConvViz.Tests.Support;

/// <summary>
/// Builds small ONNX models in a test: one float input "x" (a symbolic batch "N", then the sample
/// dims), initializers, nodes named after their first output, and one graph output.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    public const string Input = "x";
    private readonly GraphProto graph;

    public OnnxGraphBuilder(string name, params int[] sample)
    {
        graph = new GraphProto { Name = name };
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (int d in sample) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        graph.Input.Add(new ValueInfoProto { Name = Input, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)OnnxDataType.Float, Shape = shape } } });
    }

    /// <summary>A float initializer of seeded uniform values in [-scale, scale).</summary>
    public string Weight(string name, int[] dims, int seed, float scale = 0.5f) =>
        Floats(name, dims, TestData.Uniform(dims.Aggregate(1, (a, d) => a * d), seed, scale));

    public string Floats(string name, int[] dims, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)OnnxDataType.Float };
        t.Dims.AddRange(dims.Select(d => (long)d));
        t.FloatData.AddRange(values);
        graph.Initializer.Add(t);
        return name;
    }

    /// <summary>A 1-D int64 initializer.</summary>
    public string Int64s(string name, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)OnnxDataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        graph.Initializer.Add(t);
        return name;
    }

    /// <summary>A rank-0 int64 initializer.</summary>
    public string Int64Scalar(string name, long value)
    {
        var t = new TensorProto { Name = name, DataType = (int)OnnxDataType.Int64 };
        t.Int64Data.Add(value);
        graph.Initializer.Add(t);
        return name;
    }

    /// <summary>A node named after its output; returns the output's name.</summary>
    public string Node(string op, string[] inputs, string output, params AttributeProto[] attributes) =>
        Node(op, inputs, [output], attributes)[0];

    /// <summary>A node with several outputs (Split), named after the first.</summary>
    public string[] Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = outputs[0] };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return outputs;
    }

    public ModelProto Build(string output, int opset = 13)
    {
        var copy = graph.Clone();
        copy.Output.Add(new ValueInfoProto { Name = output });
        var model = new ModelProto { IrVersion = 8, Graph = copy, ProducerName = "ConvViz tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = opset });
        return model;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeType.Float, F = value };

    public static AttributeProto String(string name, string value) => new() { Name = name, Type = AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
}
