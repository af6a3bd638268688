using System.Runtime.InteropServices;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx.Protos;
using ConvViz.Engine.Tensors;
using Google.Protobuf;
using OnnxDataType = ConvViz.Engine.Onnx.Protos.TensorProto.Types.DataType;

namespace ConvViz.Engine.Onnx;

/// <summary>
/// Writes a <see cref="Network"/> as an ONNX model (opset 13, IR version 7): one node per layer,
/// named after the layer and writing a tensor of the same name, weights as float initializers in
/// raw_data, the graph input "input" with a symbolic batch dimension "N", and the output with its
/// shape. This is ConvViz's own save format, and <see cref="OnnxImporter"/> reads it back exactly.
/// </summary>
public static class OnnxExporter
{
    public const int Opset = 13;
    public const string InputName = "input";

    public static void Save(Network network, string path, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var model = ToModel(network, metadata);
        AtomicFile.Write(path, model.WriteTo);
    }

    /// <summary>
    /// Appends metadata_props entries to the serialized ModelProto that <paramref name="stream"/>
    /// ends with, without parsing it (a zoo model is up to 550 MB): protobuf merges fields that
    /// follow a message into it, and a repeated field's entries add up. An entry the file already
    /// had under the same key would stay, before the new one.
    /// </summary>
    public static void AppendMetadata(Stream stream, IReadOnlyDictionary<string, string> metadata)
    {
        using var output = new CodedOutputStream(stream, leaveOpen: true);
        foreach (var (key, value) in metadata)
        {
            output.WriteTag(ModelProto.MetadataPropsFieldNumber, WireFormat.WireType.LengthDelimited);
            output.WriteMessage(new StringStringEntryProto { Key = key, Value = value });
        }
    }

    internal static ModelProto ToModel(Network network, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var graph = new GraphProto { Name = "convviz" };
        graph.Input.Add(ValueInfo(InputName, network.SampleShape));
        // Each layer's node(s) read the tensors of the layers it reads (the graph input for Network.Input).
        var rows = network.Summarize(1);
        var tensors = new string[network.Layers.Count];
        string TensorOf(int index) => index == Network.Input ? InputName : tensors[index];
        Shape ShapeOf(int index) => index == Network.Input ? network.InputShape(1) : rows[index].OutputShape;
        for (int i = 0; i < tensors.Length; i++)
        {
            var read = network.InputsOf(i);
            tensors[i] = network.Layers[i] is JoinLayer join
                ? AddJoin(graph, join, read.Select(TensorOf))
                : AddLayer(graph, network.Layers[i], TensorOf(read[0]), ShapeOf(read[0]));
        }
        graph.Output.Add(ValueInfo(tensors[^1], new Shape(rows[^1].OutputShape.ToArray()[1..])));

        var model = new ModelProto
        {
            IrVersion = 7,
            ProducerName = "ConvViz",
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    /// <summary>Adds the node of a layer that joins several tensors (Add, or Concat along the channels).</summary>
    private static string AddJoin(GraphProto graph, JoinLayer layer, IEnumerable<string> inputs)
    {
        var node = new NodeProto { Name = layer.Name, OpType = layer.OpType };
        node.Input.AddRange(inputs);
        node.Output.Add(layer.Name);
        if (layer.OpType == "Concat") Int(node, "axis", 1);
        graph.Node.Add(node);
        return layer.Name;
    }

    /// <summary>Adds the node(s) of one layer reading <paramref name="input"/> (of shape
    /// <paramref name="inputShape"/>); returns the name of the tensor it writes.</summary>
    private static string AddLayer(GraphProto graph, Layer layer, string input, Shape inputShape)
    {
        var node = new NodeProto { Name = layer.Name, OpType = layer.OpType };
        node.Input.Add(input);
        node.Output.Add(layer.Name);
        switch (layer)
        {
            case Conv2dLayer conv:
            {
                var g = conv.Geometry;
                AddParameter(graph, node, conv.Weight);
                if (conv.Bias is not null) AddParameter(graph, node, conv.Bias);
                Ints(node, "kernel_shape", g.KernelH, g.KernelW);
                Ints(node, "strides", g.StrideH, g.StrideW);
                Ints(node, "pads", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight);
                Ints(node, "dilations", g.DilationH, g.DilationW);
                Int(node, "group", g.Groups);
                break;
            }
            case FullyConnectedLayer fc:
            {
                // ONNX Gemm takes a matrix: a rank-4 input (the Caffe-style implicit flatten) gets a Flatten first.
                if (inputShape.Rank != 2)
                {
                    var flatten = new NodeProto { Name = layer.Name + ".flatten", OpType = "Flatten" };
                    flatten.Input.Add(input);
                    flatten.Output.Add(flatten.Name);
                    Int(flatten, "axis", 1);
                    graph.Node.Add(flatten);
                    node.Input[0] = flatten.Name;
                }
                node.OpType = "Gemm";
                AddParameter(graph, node, fc.Weight);
                if (fc.Bias is not null) AddParameter(graph, node, fc.Bias);
                Int(node, "transB", 1);
                break;
            }
            case ReluLayer:
                break;
            case LrnLayer lrn:
                Int(node, "size", lrn.Settings.Size);
                Float(node, "alpha", lrn.Settings.Alpha);
                Float(node, "beta", lrn.Settings.Beta);
                Float(node, "bias", lrn.Settings.Bias);
                break;
            case MaxPoolLayer pool:
                Window(node, pool.Geometry);
                break;
            case AveragePoolLayer average when average.IsGlobal:
                node.OpType = "GlobalAveragePool";
                break;
            case AveragePoolLayer average:
            {
                var g = average.GeometryFor(inputShape);
                if (g.DilationH != 1 || g.DilationW != 1)
                    throw new NotSupportedException($"layer '{layer.Name}': dilated average pooling has no ONNX form before opset 19");
                Window(node, g, dilations: false);
                Int(node, "count_include_pad", g.CountIncludePad ? 1 : 0);
                break;
            }
            case ReshapeLayer reshape:
            {
                var output = reshape.OutputShape(inputShape).ToArray();
                if (reshape.OpType == "Flatten")
                {
                    Int(node, "axis", 1);
                    break;
                }
                // 0 keeps the batch dimension of whatever batch the model is run at.
                string shapeName = layer.Name + ".shape";
                long[] target = [0, .. output[1..].Select(d => (long)d)];
                graph.Initializer.Add(Int64Tensor(shapeName, target));
                node.Input.Add(shapeName);
                break;
            }
            case DropoutLayer dropout:
            {
                string ratioName = layer.Name + ".ratio";
                graph.Initializer.Add(new TensorProto { Name = ratioName, DataType = (int)OnnxDataType.Float, FloatData = { dropout.Ratio } });
                node.Input.Add(ratioName);
                Int(node, "seed", dropout.Seed);
                break;
            }
            case PadLayer pad:
            {
                var g = pad.Geometry;
                string padsName = layer.Name + ".pads";
                graph.Initializer.Add(Int64Tensor(padsName, [0, 0, g.Top, g.Left, 0, 0, g.Bottom, g.Right]));
                node.Input.Add(padsName);
                if (g.Mode == Backends.PadMode.Constant)
                {
                    string valueName = layer.Name + ".value";
                    graph.Initializer.Add(FloatScalar(valueName, g.Value));
                    node.Input.Add(valueName);
                }
                node.Attribute.Add(new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(g.Mode.ToString().ToLowerInvariant()) });
                break;
            }
            case ClipLayer clip:
            {
                // An infinite bound is an absent input ("").
                foreach (var (suffix, bound) in new[] { (".min", clip.Bounds.Min), (".max", clip.Bounds.Max) })
                {
                    if (float.IsInfinity(bound))
                    {
                        node.Input.Add("");
                        continue;
                    }
                    graph.Initializer.Add(FloatScalar(layer.Name + suffix, bound));
                    node.Input.Add(layer.Name + suffix);
                }
                break;
            }
            case ChannelSliceLayer slice:
                foreach (var (suffix, value) in new[] { (".starts", slice.First), (".ends", slice.First + slice.Count), (".axes", 1) })
                {
                    graph.Initializer.Add(Int64Tensor(layer.Name + suffix, [value]));
                    node.Input.Add(layer.Name + suffix);
                }
                break;
            case SoftmaxLayer softmax:
                Int(node, "axis", softmax.Axis);
                break;
            default:
                throw new NotSupportedException($"layer '{layer.Name}' ({layer.OpType}) has no ONNX export");
        }
        graph.Node.Add(node);
        return layer.Name;
    }

    private static void Window(NodeProto node, Backends.PoolGeometry g, bool dilations = true)
    {
        Ints(node, "kernel_shape", g.KernelH, g.KernelW);
        Ints(node, "strides", g.StrideH, g.StrideW);
        Ints(node, "pads", g.PadTop, g.PadLeft, g.PadBottom, g.PadRight);
        if (dilations && (g.DilationH != 1 || g.DilationW != 1)) Ints(node, "dilations", g.DilationH, g.DilationW);
        Int(node, "ceil_mode", g.CeilMode ? 1 : 0);
    }

    private static void AddParameter(GraphProto graph, NodeProto node, Parameter parameter)
    {
        var values = parameter.Value.Backend.Download(parameter.Value);
        var tensor = new TensorProto
        {
            Name = parameter.Name,
            DataType = (int)OnnxDataType.Float,
            RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())),
        };
        tensor.Dims.AddRange(parameter.Value.Shape.ToArray().Select(d => (long)d));
        graph.Initializer.Add(tensor);
        node.Input.Add(parameter.Name);
    }

    private static TensorProto Int64Tensor(string name, long[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)OnnxDataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        return tensor;
    }

    /// <summary>A rank-0 float tensor.</summary>
    private static TensorProto FloatScalar(string name, float value) =>
        new() { Name = name, DataType = (int)OnnxDataType.Float, FloatData = { value } };

    /// <summary>A float tensor value: symbolic batch "N", then the sample dimensions.</summary>
    private static ValueInfoProto ValueInfo(string name, Shape sample)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "N" });
        foreach (int d in sample.ToArray()) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)OnnxDataType.Float, Shape = shape } },
        };
    }

    private static void Int(NodeProto node, string name, long value) =>
        node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });

    private static void Ints(NodeProto node, string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        node.Attribute.Add(attribute);
    }

    private static void Float(NodeProto node, string name, float value) =>
        node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });
}
