using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx.Protos;
using ConvViz.Engine.Tensors;
using Google.Protobuf;
using Tensor = ConvViz.Engine.Tensors.Tensor;

namespace ConvViz.Engine.Onnx;

/// <summary>
/// A network read from ONNX, with the model's metadata_props. <paramref name="LayerTensors"/> maps
/// each layer's name to the ONNX tensor that holds its output: the output of the last node folded
/// into the layer (the BatchNormalization or bias Add after a Conv, an Identity after any layer), so
/// that another ONNX implementation's value of that tensor can be compared with the layer's output.
/// </summary>
public sealed record ImportedModel(Network Network, IReadOnlyDictionary<string, string> Metadata, string InputName,
    IReadOnlyDictionary<string, string> LayerTensors);

/// <summary>
/// Loads convnets from ONNX (opsets 7 to 17) as graphs of layers: Conv, Relu, Clip (ReLU6), LRN,
/// MaxPool, AveragePool, GlobalAveragePool, Gemm, MatMul, Pad (constant, reflect or edge, of the
/// two spatial axes), Flatten, Reshape, Dropout, Softmax and Identity; Split and Slice along the
/// channels (one layer per output), and Gather of one channel (with the Unsqueeze that restores
/// the axis); the joins Add/Sum and Concat (channels); BatchNormalization
/// (folded into the Conv that produces its input when nothing else reads it, else a depthwise 1x1
/// conv); and Add, Sub, Mul or Div of a layer output and a constant of one value or one per channel
/// (an Add folded into the bias of the Conv, Gemm or MatMul it alone reads, else a depthwise 1x1
/// conv y = x·scale + shift, see <see cref="OnnxArithmetic"/>). Every layer must feed the one graph
/// output. Constants and shape subgraphs are evaluated at load time. Layers are named by node name,
/// else by output tensor name (a Split's by its output tensors' names). Anything else is refused
/// with a message naming the node and what is supported.
/// </summary>
public static class OnnxImporter
{
    public const int MinOpset = 7, MaxOpset = 17;

    /// <summary>The most elements one sample's tensor may hold at any layer (2^28 floats, 1 GiB): a
    /// model whose shapes grow past it is refused at load rather than failing (or swapping) at run time.</summary>
    public const int MaxSampleElements = 1 << 28;

    private static readonly string[] LayerOps =
        ["Conv", "Relu", "Clip", "LRN", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul", "Pad", "Add", "Sub", "Mul", "Div",
         "Sum", "Concat", "Split", "Slice", "Gather", "Unsqueeze", "Flatten", "Reshape", "Dropout", "Softmax", "Identity", "BatchNormalization"];

    /// <summary>Reads and imports an .onnx file. The weights' bytes are released as they are
    /// uploaded, so a large model is not held several times over.</summary>
    public static ImportedModel Load(string path, Backend backend)
    {
        ModelProto model;
        try
        {
            model = OnnxTensors.LoadModel(path);
        }
        catch (FileNotFoundException)
        {
            throw new IOException($"{path}: no such file (expected an .onnx model or a bundle folder)");
        }
        return Import(model, backend, path);
    }

    internal static ImportedModel Import(ModelProto model, Backend backend, string source) => new Importer(model, backend, source).Run();

    private sealed class Importer(ModelProto model, Backend backend, string source)
    {
        private readonly GraphProto graph = model.Graph ?? throw new InvalidDataException($"{source}: the model has no graph");
        private readonly Dictionary<string, TensorProto> initializers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, OnnxTensorData> constants = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<NodeProto>> consumers = new(StringComparer.Ordinal);
        private readonly List<Layer> layers = [];
        // reads[i]: the layers (Network.Input for the graph input) whose outputs layer i reads.
        private readonly List<int[]> reads = [];
        // The data tensors seen so far: the layer that produces each (Identity and folded nodes pass
        // their input's producer on) and its shape at batch 1.
        private readonly Dictionary<string, int> producers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Shape> shapes = new(StringComparer.Ordinal);
        private readonly HashSet<string> layerNames = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> layerTensors = new(StringComparer.Ordinal);
        // Outputs of a Gather of one channel by a scalar index (x[:, k]): ONNX drops the channel axis,
        // the layer keeps it as (N, 1, H, W), so only an Unsqueeze that restores axis 1 may read them.
        private readonly HashSet<string> gatheredChannels = new(StringComparer.Ordinal);
        private long opset;
        // The data tensor the node being visited reads, and its shape.
        private string current = "";
        private Shape currentShape = new(1);

        public ImportedModel Run()
        {
            opset = CheckOpset();
            foreach (var init in graph.Initializer)
                if (!initializers.TryAdd(init.Name, init))
                    throw new InvalidDataException($"{source}: initializer '{init.Name}' appears twice");
            foreach (var node in graph.Node)
                foreach (var input in node.Input.Where(i => i.Length > 0))
                    (consumers.TryGetValue(input, out var list) ? list : consumers[input] = []).Add(node);
            RequireSingleAssignment();

            var (inputName, sample) = DataInput();
            producers[inputName] = Network.Input;
            shapes[inputName] = new Shape([1, .. sample.ToArray()]);
            try
            {
                foreach (var node in graph.Node) VisitChecked(node);
                if (graph.Output.Count != 1)
                    throw new NotSupportedException($"{source}: the graph has {graph.Output.Count} outputs; only networks with one output load");
                if (layers.Count == 0) throw new NotSupportedException($"{source}: the graph has no layers");
                string output = graph.Output[0].Name;
                if (!producers.TryGetValue(output, out int last) || last != layers.Count - 1)
                    throw new NotSupportedException($"{source}: the graph output '{output}' is not the output of its last layer '{layers[^1].Name}'");
                var read = new bool[layers.Count];
                foreach (int j in reads.SelectMany(r => r).Where(j => j != Network.Input)) read[j] = true;
                int unused = Array.IndexOf(read, false, 0, layers.Count - 1);
                if (unused >= 0)
                    throw new NotSupportedException($"{source}: the output of layer '{layers[unused].Name}' is used by no later layer and is not the graph output; only networks whose every layer feeds the output load");
                var network = new Network(sample, layers.Select((layer, i) => new GraphNode(layer, reads[i])));
                var metadata = model.MetadataProps.GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value);
                return new ImportedModel(network, metadata, inputName, layerTensors);
            }
            catch
            {
                foreach (var layer in layers) layer.Dispose();
                throw;
            }
        }

        private long CheckOpset()
        {
            var standard = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").ToArray();
            if (standard.Length == 0)
                throw new InvalidDataException($"{source}: the model imports no ai.onnx opset (is this an ONNX model?)");
            long version = standard.Max(o => o.Version);
            if (version < MinOpset || version > MaxOpset)
                throw new NotSupportedException($"{source}: opset {version} is not supported; ConvViz loads opsets {MinOpset} to {MaxOpset}");
            return version;
        }

        /// <summary>The one graph input that is not an initializer, and its shape without the batch.</summary>
        private (string Name, Shape Sample) DataInput()
        {
            var inputs = graph.Input.Where(i => !initializers.ContainsKey(i.Name)).ToArray();
            if (inputs.Length != 1)
                throw new NotSupportedException($"{source}: the graph has {inputs.Length} data inputs ({string.Join(", ", inputs.Select(i => i.Name))}); only one is supported");
            var input = inputs[0];
            var dims = input.Type?.TensorType?.Shape?.Dim;
            if (dims is null || dims.Count is < 2 or > 4)
                throw new NotSupportedException($"{source}: input '{input.Name}' has no shape of rank 2 to 4 (batch first)");
            if (dims[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && dims[0].DimValue < 1)
                throw new InvalidDataException($"{source}: input '{input.Name}' has a batch dimension of {dims[0].DimValue}; expected 1 or more (or a symbolic batch)");
            var sample = dims.Skip(1).Select((d, i) => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0
                ? (d.DimValue <= MaxSampleElements ? (int)d.DimValue
                    : throw new InvalidDataException($"{source}: dimension {i + 1} of input '{input.Name}' is {d.DimValue}, more than {MaxSampleElements:N0}"))
                : throw new NotSupportedException($"{source}: dimension {i + 1} of input '{input.Name}' is not a fixed size")).ToArray();
            if (sample.Aggregate(1L, (a, d) => Math.Min(a * d, (long)MaxSampleElements + 1)) > MaxSampleElements)
                throw new InvalidDataException($"{source}: input '{input.Name}' of ({string.Join(", ", sample)}) holds more than {MaxSampleElements:N0} values per sample");
            return (input.Name, new Shape(sample));
        }

        /// <summary>
        /// Visits a node; arithmetic that the checks below did not foresee (an overflow, an index out
        /// of range in a malformed value) is reported as a damaged node, never as the runtime's own text.
        /// </summary>
        private void VisitChecked(NodeProto node)
        {
            try
            {
                Visit(node);
            }
            catch (Exception e) when (e is OverflowException or IndexOutOfRangeException or DivideByZeroException or InvalidCastException)
            {
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: its attributes or constant inputs are out of range (the model is damaged or was written wrongly)", e);
            }
            catch (ArgumentException e) when (e.TargetSite?.DeclaringType?.Assembly != typeof(OnnxImporter).Assembly)
            {
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: its attributes or constant inputs are out of range (the model is damaged or was written wrongly)", e);
            }
        }

        private void Visit(NodeProto node)
        {
            string where = OnnxAttributes.Describe(node);
            if (node.Domain is not ("" or "ai.onnx"))
                throw new NotSupportedException($"{where}: operator domain '{node.Domain}' is not supported (only the standard ai.onnx operators)");

            if (node.OpType == "Constant")
            {
                constants[node.Output[0]] = ConstantFolder.ConstantValue(node);
                return;
            }
            if (node.Input.FirstOrDefault(gatheredChannels.Contains) is { } gathered && node.OpType != "Unsqueeze")
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: reads '{gathered}', one channel a Gather took out of its tensor; only an Unsqueeze that puts the channel axis back may read it");
            if (node.OpType == "Shape" && node.Input.Count == 1 && shapes.TryGetValue(node.Input[0], out var measured))
            {
                constants[node.Output[0]] = ConstantFolder.ShapeOf(node, measured.ToArray());
                return;
            }
            // A tensor nothing defines (or that a later node defines: a cycle) is named before anything else.
            string? undefined = node.Input.FirstOrDefault(i => i.Length > 0 && !producers.ContainsKey(i) && !constants.ContainsKey(i) && !initializers.ContainsKey(i));
            if (undefined is not null) throw Undefined(node, undefined);
            var data = node.Input.Where(producers.ContainsKey).Distinct().ToArray();
            if (data.Length == 0)
            {
                // A computation on constants (a shape subgraph), evaluated now.
                if (!ConstantFolder.FoldableOps.Contains(node.OpType))
                    throw Unsupported(node);
                var values = node.Input.Select(i => i.Length == 0 ? null : Value(i) ?? throw Undefined(node, i)).ToArray();
                constants[node.Output[0]] = ConstantFolder.Evaluate(node, values, opset);
                return;
            }
            if (!LayerOps.Contains(node.OpType)) throw Unsupported(node);
            // Extra outputs (MaxPool indices, Dropout mask) must not be used; a Split's are its parts.
            foreach (var extra in node.Output.Skip(1).Where(o => o.Length > 0 && consumers.ContainsKey(o) && node.OpType != "Split"))
                throw new NotSupportedException($"{where}: its output '{extra}' is used by {OnnxAttributes.Describe(consumers[extra][0])}; only the main output of a layer may be used");
            if (node.OpType is "Add" or "Sum" or "Concat" && data.Length >= 2)
            {
                Join(node, data);
                return;
            }
            bool arithmetic = OnnxArithmetic.Ops.Contains(node.OpType);
            if (arithmetic && data.Length > 1)
                throw new NotSupportedException($"{where}: {node.OpType} of two layer outputs ({string.Join(", ", data)}) is not supported; only Add and Sum join layer outputs, and arithmetic takes a layer output and a constant");
            if (data.Length > 1) throw new NotSupportedException($"{where}: reads {data.Length} layer outputs ({string.Join(", ", data)}); a {node.OpType} reads one");
            current = data[0];
            currentShape = shapes[current];
            if (!arithmetic && node.Input[0] != current) throw new NotSupportedException($"{where}: reads the layer output '{current}' in place of its first input");

            int producer = producers[current];
            if (node.OpType == "Split")
            {
                Split(node, producer);
                return;
            }
            var layer = node.OpType switch
            {
                "Identity" => null,
                "BatchNormalization" => BatchNormalization(node, producer),
                "Add" or "Sub" or "Mul" or "Div" => Arithmetic(node, producer),
                "Gather" => GatherChannel(node, LayerName(node)),
                "Unsqueeze" => RestoreChannelAxis(node),
                _ => CreateLayer(node),
            };
            if (layer is null)
            {
                // Identity, or a node folded into the layer that produced its input: that layer now ends at this node's output.
                producers[node.Output[0]] = producer;
                shapes[node.Output[0]] = currentShape;
                if (producer != Network.Input) layerTensors[layers[producer].Name] = node.Output[0];
                return;
            }
            AddLayer(node, layer, [producer], layer.OutputShape(currentShape));
        }

        /// <summary>A layer reading <paramref name="from"/>, producing the node's output (or its output
        /// <paramref name="output"/>) of <paramref name="shape"/>.</summary>
        private void AddLayer(NodeProto node, Layer layer, int[] from, Shape shape, int output = 0)
        {
            layers.Add(layer);
            reads.Add(from);
            layerNames.Add(layer.Name);
            if (shape.SampleSize > MaxSampleElements)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: its output {shape} holds more than {MaxSampleElements:N0} values per sample");
            producers[node.Output[output]] = layers.Count - 1;
            shapes[node.Output[output]] = shape;
            layerTensors[layer.Name] = node.Output[output];
        }

        /// <summary>Add or Sum of layer outputs (a residual connection), or Concat along the channels (an Inception block).</summary>
        private void Join(NodeProto node, string[] data)
        {
            if (node.Input.Any(i => i.Length > 0 && !producers.ContainsKey(i)))
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: joins layer outputs with a constant; only layer outputs can be joined");
            JoinLayer join;
            if (node.OpType == "Concat")
            {
                long axis = node.GetInt("axis", 1);
                int rank = shapes[data[0]].Rank;
                if ((axis < 0 ? axis + rank : axis) != 1)
                    throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: Concat along axis {axis} is not supported (only the channel axis, 1)");
                join = new ConcatLayer(LayerName(node));
            }
            else join = new AddLayer(LayerName(node));
            var inputs = node.Input.Select(i => producers[i]).ToArray();
            Shape shape;
            try { shape = join.OutputShape(node.Input.Select(i => shapes[i]).ToArray()); }
            catch (ArgumentException e) { throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: {e.Message}", e); }
            AddLayer(node, join, inputs, shape);
        }

        private Layer CreateLayer(NodeProto node)
        {
            string name = LayerName(node);
            switch (node.OpType)
            {
                case "Conv":
                {
                    RequireRank(node, 4);
                    var w = Weight(node, 1, "W", rank: 4);
                    var b = node.Input.Count > 2 && node.Input[2].Length > 0 ? Weight(node, 2, "B", rank: 1) : null;
                    if (b is not null && b.Dims[0] != w.Dims[0])
                        throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: bias B has {b.Dims[0]} values for {w.Dims[0]} output channels");
                    var g = OnnxGeometry.Conv(node, currentShape.H, currentShape.W, w.Dims[2], w.Dims[3]);
                    return new Conv2dLayer(name, Upload(w.Floats, w.Dims), b is null ? null : Upload(b.Floats, b.Dims), g);
                }
                case "Relu":
                    return new ReluLayer(name);
                case "Clip":
                    return new ClipLayer(name, ReadClipBounds(node));
                case "Pad":
                    return new PadLayer(name, ReadPadGeometry(node));
                case "Slice":
                    return Slice(node, name);
                case "LRN":
                {
                    RequireRank(node, 4);
                    var parameters = new LrnParameters(node.GetInt32("size", 0), node.GetFloat("alpha", 1e-4f),
                        node.GetFloat("beta", 0.75f), node.GetFloat("bias", 1f));
                    try { parameters.Validate(OnnxAttributes.Describe(node)); }
                    catch (ArgumentException e) { throw new InvalidDataException(e.Message, e); }
                    return new LrnLayer(name, parameters);
                }
                case "MaxPool":
                    RequireRank(node, 4);
                    if (node.GetInt("storage_order", 0) != 0)
                        throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: storage_order 1 (column-major indices) is not supported");
                    return new MaxPoolLayer(name, OnnxGeometry.Pool(node, currentShape.H, currentShape.W));
                case "AveragePool":
                    RequireRank(node, 4);
                    return new AveragePoolLayer(name, OnnxGeometry.Pool(node, currentShape.H, currentShape.W));
                case "GlobalAveragePool":
                    RequireRank(node, 4);
                    return AveragePoolLayer.Global(name);
                case "Gemm":
                    return Gemm(node, name);
                case "MatMul":
                {
                    var w = Weight(node, 1, "B", rank: 2);
                    RequireFeatures(node, w.Dims[0]);
                    return new FullyConnectedLayer(name, Upload(Transpose(w.Floats, w.Dims[0], w.Dims[1]), [w.Dims[1], w.Dims[0]]), null);
                }
                case "Flatten":
                {
                    long axis = node.GetInt("axis", 1);
                    if (axis != 1 && !(axis == -1 && currentShape.Rank == 2))
                        throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: Flatten with axis {axis} is not supported (only axis 1, which keeps the batch)");
                    return ReshapeLayer.Flatten(name);
                }
                case "Reshape":
                    return Reshape(node, name);
                case "Dropout":
                {
                    float ratio = opset >= 12
                        ? (node.Input.Count > 1 && node.Input[1].Length > 0 ? Scalar(node, node.Input[1], "ratio") : 0.5f)
                        : node.GetFloat("ratio", 0.5f);
                    if (!(ratio >= 0f && ratio < 1f))
                        throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: ratio {ratio} is not in [0, 1)");
                    uint seed = (uint)node.GetInt("seed", layers.Count + 1);
                    return new DropoutLayer(name, ratio, seed);
                }
                case "Softmax":
                {
                    long axis = node.GetInt("axis", opset >= 13 ? -1 : 1);
                    int rank = currentShape.Rank;
                    int resolved = (int)(axis < 0 ? axis + rank : axis);
                    // Before opset 13 Softmax flattens from the axis on; that equals a softmax along
                    // the axis only when the axis is the last dimension.
                    if (resolved != 1 || (opset < 13 && rank != 2))
                        throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: Softmax over axis {axis} of a rank-{rank} tensor is not supported (only the class axis of (N, classes))");
                    return new SoftmaxLayer(name, 1);
                }
                default:
                    throw Unsupported(node);
            }
        }

        /// <summary>Gemm(A = the chain, B, C) as a fully connected layer: weight (out, in) = alpha op(B)ᵀ, bias = beta C.</summary>
        private Layer Gemm(NodeProto node, string name)
        {
            if (node.GetInt("transA", 0) != 0)
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: transA = 1 is not supported (the layer input must be A)");
            bool transB = node.GetInt("transB", 0) != 0;
            float alpha = node.GetFloat("alpha", 1f), beta = node.GetFloat("beta", 1f);
            if (!float.IsFinite(alpha) || !float.IsFinite(beta))
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: alpha {alpha} and beta {beta} must be finite numbers");
            var b = Weight(node, 1, "B", rank: 2);
            int outputs = transB ? b.Dims[0] : b.Dims[1], inputs = transB ? b.Dims[1] : b.Dims[0];
            RequireFeatures(node, inputs);
            var weight = transB ? b.Floats : Transpose(b.Floats, b.Dims[0], b.Dims[1]);
            if (alpha != 1f) weight = weight.Select(v => v * alpha).ToArray();
            float[]? bias = null;
            if (node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                var c = FiniteFloats(node, node.Input[2], "C");
                if (c.ElementCount != outputs && c.ElementCount != 1)
                    throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: C has dims [{string.Join(", ", c.Dims)}]; only a bias of {outputs} values (or one) is supported");
                bias = c.ElementCount == 1 ? Enumerable.Repeat(c.Floats[0] * beta, outputs).ToArray() : c.Floats.Select(v => v * beta).ToArray();
            }
            return new FullyConnectedLayer(name, Upload(weight, [outputs, inputs]), bias is null ? null : Upload(bias, [outputs]));
        }

        /// <summary>Clip's bounds: attributes min and max before opset 11, optional constant inputs
        /// after; an absent bound is an infinity.</summary>
        private ClipBounds ReadClipBounds(NodeProto node)
        {
            float Bound(int index, string role, float absent)
            {
                if (opset < 11) return node.GetFloat(role, absent);
                return node.Input.Count > index && node.Input[index].Length > 0 ? Scalar(node, node.Input[index], role) : absent;
            }
            var bounds = new ClipBounds(Bound(1, "min", float.NegativeInfinity), Bound(2, "max", float.PositiveInfinity));
            try { bounds.Validate(OnnxAttributes.Describe(node)); }
            catch (ArgumentException e) { throw new InvalidDataException(e.Message, e); }
            return bounds;
        }

        /// <summary>
        /// Pad's pads [n, c, top, left, n, c, bottom, right] (an attribute before opset 11, a constant
        /// input after), its mode and constant value. Only the two spatial axes of an (N, C, H, W)
        /// tensor may be padded; negative pads crop; reflect pads must be smaller than their side.
        /// </summary>
        private PadGeometry ReadPadGeometry(NodeProto node)
        {
            string where = OnnxAttributes.Describe(node);
            RequireRank(node, 4);
            var pads = opset < 11
                ? node.GetInts("pads") ?? throw new InvalidDataException($"{where}: the pads attribute is missing")
                : node.Input.Count > 1 && node.Input[1].Length > 0 ? IntVector(node, node.Input[1], "pads")
                    : throw new InvalidDataException($"{where}: the pads input is missing");
            if (pads.Length != 8)
                throw new InvalidDataException($"{where}: pads [{string.Join(", ", pads)}] has {pads.Length} values, expected 8 (begin and end of each axis of '{current}' {currentShape})");
            if (pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0)
                throw new NotSupportedException($"{where}: pads [{string.Join(", ", pads)}] pad the batch or channel axis; only the two spatial axes (H, W) can be padded");
            if (pads.Any(p => Math.Abs(p) > SlidingWindow.MaxExtent))
                throw new InvalidDataException($"{where}: pads [{string.Join(", ", pads)}] exceed {SlidingWindow.MaxExtent} in size");
            string modeName = node.GetString("mode", "constant");
            var mode = modeName switch
            {
                "constant" => PadMode.Constant,
                "reflect" => PadMode.Reflect,
                "edge" => PadMode.Edge,
                _ => throw new NotSupportedException($"{where}: pad mode '{modeName}' is not supported (constant, reflect, edge)"),
            };
            float value = opset < 11 ? node.GetFloat("value", 0f)
                : node.Input.Count > 2 && node.Input[2].Length > 0 ? Scalar(node, node.Input[2], "constant_value") : 0f;
            var g = new PadGeometry((int)pads[2], (int)pads[3], (int)pads[6], (int)pads[7], mode, value);
            try { g.OutputShape(currentShape, where); }
            catch (ArgumentException e) { throw new InvalidDataException(e.Message, e); }
            return g;
        }

        /// <summary>The channel axis of the current (N, C) or (N, C, H, W) tensor, checking that the
        /// node's axis is it.</summary>
        private void RequireChannelAxis(NodeProto node, long axis)
        {
            int rank = currentShape.Rank;
            if (rank is not (2 or 4) || (axis < 0 ? axis + rank : axis) != 1)
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: {node.OpType} along axis {axis} of '{current}' {currentShape} is not supported (only the channel axis, 1, of an (N, C) or (N, C, H, W) tensor)");
        }

        /// <summary>
        /// Split along the channels: one <see cref="ChannelSliceLayer"/> per output that something
        /// reads. The part sizes come from the split attribute (before opset 13) or input (after),
        /// else equal parts.
        /// </summary>
        private void Split(NodeProto node, int producer)
        {
            string where = OnnxAttributes.Describe(node);
            RequireChannelAxis(node, node.GetInt("axis", 0));
            int channels = currentShape.C, parts = node.Output.Count;
            var sizes = opset < 13 ? node.GetInts("split")
                : node.Input.Count > 1 && node.Input[1].Length > 0 ? IntVector(node, node.Input[1], "split") : null;
            if (sizes is null)
            {
                if (channels % parts != 0)
                    throw new InvalidDataException($"{where}: {channels} channels of '{current}' {currentShape} do not split into {parts} equal parts");
                sizes = Enumerable.Repeat((long)(channels / parts), parts).ToArray();
            }
            if (sizes.Length != parts || sizes.Any(v => v < 1) || sizes.Sum() != channels)
                throw new InvalidDataException($"{where}: split sizes [{string.Join(", ", sizes)}] must be {parts} positive parts summing to the {channels} channels of '{current}' {currentShape}");
            var input = currentShape;
            int first = 0;
            for (int i = 0; i < parts; i++)
            {
                string output = node.Output[i];
                if (output.Length > 0 && (consumers.ContainsKey(output) || graph.Output.Any(o => o.Name == output)))
                {
                    var layer = new ChannelSliceLayer(LayerName(output), first, (int)sizes[i]);
                    AddLayer(node, layer, [producer], layer.OutputShape(input), i);
                }
                first += (int)sizes[i];
            }
        }

        /// <summary>Slice with step 1 along the channel axis (every other axis it names kept whole),
        /// starts and ends clamped as ONNX says.</summary>
        private Layer Slice(NodeProto node, string name)
        {
            string where = OnnxAttributes.Describe(node);
            long[]? Ints(int index, string attribute) => opset < 10 ? node.GetInts(attribute)
                : node.Input.Count > index && node.Input[index].Length > 0 ? IntVector(node, node.Input[index], attribute) : null;
            var starts = Ints(1, "starts") ?? throw new InvalidDataException($"{where}: starts are missing");
            var ends = Ints(2, "ends") ?? throw new InvalidDataException($"{where}: ends are missing");
            var axes = Ints(3, "axes") ?? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
            var steps = Ints(4, "steps") ?? Enumerable.Repeat(1L, starts.Length).ToArray();
            if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
                throw new InvalidDataException($"{where}: starts, ends, axes and steps have {starts.Length}, {ends.Length}, {axes.Length} and {steps.Length} values; they must match");
            int rank = currentShape.Rank;
            long first = 0, end = currentShape[1];
            for (int i = 0; i < starts.Length; i++)
            {
                long axis = axes[i] < 0 ? axes[i] + rank : axes[i];
                if (axis < 0 || axis >= rank)
                    throw new InvalidDataException($"{where}: axis {axes[i]} is out of range for '{current}' {currentShape}");
                long size = currentShape[(int)axis];
                long Clamp(long v) => Math.Clamp(v < 0 ? v + size : v, 0, size);
                long start = Clamp(starts[i]), stop = Clamp(ends[i]);
                if (axis == 1 && steps[i] == 1)
                {
                    (first, end) = (start, stop);
                    continue;
                }
                if (steps[i] != 1 || start != 0 || stop != size)
                    throw new NotSupportedException($"{where}: Slice of axis {axes[i]} [{starts[i]}, {ends[i]}) step {steps[i]} of '{current}' {currentShape} is not supported (only step-1 slices of the channel axis, 1)");
            }
            RequireChannelAxis(node, 1);
            if (end <= first)
                throw new InvalidDataException($"{where}: the slice keeps no channel of '{current}' {currentShape} (channels [{first}, {end}))");
            return new ChannelSliceLayer(name, (int)first, (int)(end - first));
        }

        /// <summary>
        /// Gather of one channel (x[:, k] in PyTorch, as GoogLeNet's transform_input takes each colour
        /// plane): a <see cref="ChannelSliceLayer"/> of that channel. A one-element index vector keeps
        /// the axis, as the layer does; a scalar index drops it, so the output must go through an
        /// Unsqueeze that restores axis 1 before anything else reads it.
        /// </summary>
        private Layer GatherChannel(NodeProto node, string name)
        {
            string where = OnnxAttributes.Describe(node);
            RequireChannelAxis(node, node.GetInt("axis", 0));
            if (node.Input.Count != 2) throw new InvalidDataException($"{where}: Gather has {node.Input.Count} inputs, expected 2");
            var indices = Value(node.Input[1]) ?? throw Undefined(node, node.Input[1]);
            if (indices.Data is not (long[] or int[]) || indices.ElementCount != 1 || indices.Rank > 1)
                throw new NotSupportedException($"{where}: indices '{indices.Name}' are {indices.DataType} [{string.Join(", ", indices.Dims)}]; only one channel index (a scalar or a one-element vector) is supported");
            long index = indices.ToInt64()[0];
            int channels = currentShape.C;
            if (index < -channels || index >= channels)
                throw new InvalidDataException($"{where}: index {index} is outside the {channels} channels of '{current}' {currentShape}");
            if (indices.Rank == 0) gatheredChannels.Add(node.Output[0]);
            return new ChannelSliceLayer(name, (int)(index < 0 ? index + channels : index), 1);
        }

        /// <summary>Unsqueeze of axis 1 after a Gather of one channel by a scalar: the layer already
        /// kept the axis, so the node passes its input on.</summary>
        private Layer? RestoreChannelAxis(NodeProto node)
        {
            var axes = opset < 13 ? node.GetInts("axes")
                : node.Input.Count > 1 && node.Input[1].Length > 0 ? IntVector(node, node.Input[1], "axes") : null;
            if (!gatheredChannels.Contains(current) || axes is not [1])
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: Unsqueeze of a layer output is supported only on axis 1 after a Gather of one channel (x[:, k].unsqueeze(1))");
            return null;
        }

        /// <summary>Reshape with a constant target whose first dimension stays the batch.</summary>
        private Layer Reshape(NodeProto node, string name)
        {
            var target = (opset >= 5
                ? (node.Input.Count > 1 ? Value(node.Input[1]) ?? throw Undefined(node, node.Input[1]) : throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: the shape input is missing"))
                    .ToInt64()
                : node.GetInts("shape") ?? throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: the shape attribute is missing"));
            bool allowZero = node.GetInt("allowzero", 0) != 0;
            var input = currentShape.ToArray();
            var dims = new long[target.Length];
            int inferred = -1;
            long known = 1;
            for (int i = 0; i < target.Length; i++)
            {
                dims[i] = target[i] == 0 && !allowZero ? (i < input.Length ? input[i] : throw BadReshape(node, target))
                    : target[i];
                if (dims[i] == -1)
                {
                    if (inferred >= 0) throw BadReshape(node, target);
                    inferred = i;
                }
                else if (dims[i] is < 0 or > MaxSampleElements) throw BadReshape(node, target);
                else known *= dims[i];
            }
            if (inferred >= 0)
            {
                if (known == 0 || currentShape.ElementCount % known != 0) throw BadReshape(node, target);
                dims[inferred] = currentShape.ElementCount / known;
            }
            if (dims.Length is < 2 or > 4 || dims[0] != 1 || dims.Any(d => d is < 1 or > MaxSampleElements)
                || dims.Aggregate(1L, (a, d) => a * d) != currentShape.ElementCount)
                throw BadReshape(node, target);
            return new ReshapeLayer(name, dims.Skip(1).Select(d => (int)d).ToArray());
        }

        private Exception BadReshape(NodeProto node, long[] target) => new NotSupportedException(
            $"{OnnxAttributes.Describe(node)}: cannot reshape {currentShape} to [{string.Join(", ", target)}] keeping the batch first");

        /// <summary>
        /// BatchNormalization (inference) as y = x·f + (β − μ·f) per channel, f = γ/√(σ²+ε): folded into
        /// the Conv that produces its input when nothing else reads that Conv's output (w' = w·f,
        /// b' = (b − μ)·f + β); otherwise a layer of its own, a depthwise 1x1 convolution with weight f
        /// and bias β − μ·f, so its backward is the convolution's.
        /// </summary>
        private Layer? BatchNormalization(NodeProto node, int producer)
        {
            RequireRank(node, 4);
            float epsilon = node.GetFloat("epsilon", 1e-5f);
            if (!(epsilon >= 0f) || !float.IsFinite(epsilon))
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: epsilon {epsilon} must be a finite number of at least 0");
            var gamma = Weight(node, 1, "scale", rank: 1).Floats;
            var beta = Weight(node, 2, "B", rank: 1).Floats;
            var mean = Weight(node, 3, "mean", rank: 1).Floats;
            var variance = Weight(node, 4, "var", rank: 1).Floats;
            int k = currentShape.C;
            if (gamma.Length != k || beta.Length != k || mean.Length != k || variance.Length != k)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: its parameters do not have {k} values, one per channel of '{current}' {currentShape}");
            var factor = new double[k];
            for (int c = 0; c < k; c++)
            {
                if (!(variance[c] >= 0f) || !(variance[c] + (double)epsilon > 0))
                    throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: channel {c} has variance {variance[c]} (with epsilon {epsilon}); a variance must be positive");
                factor[c] = gamma[c] / Math.Sqrt((double)variance[c] + epsilon);
            }
            if (producer == Network.Input || layers[producer] is not Conv2dLayer conv || Readers(current) != 1)
                return new Conv2dLayer(LayerName(node), Upload(Array.ConvertAll(factor, f => (float)f), [k, 1, 1, 1]),
                    Upload(Enumerable.Range(0, k).Select(c => (float)(beta[c] - mean[c] * factor[c])).ToArray(), [k]), Conv2dGeometry.Square(1, groups: k));
            var w = backend.Download(conv.Weight.Value);
            var b = conv.Bias is null ? new float[k] : backend.Download(conv.Bias.Value);
            int perChannel = w.Length / k;
            for (int c = 0; c < k; c++)
            {
                for (int i = 0; i < perChannel; i++) w[c * perChannel + i] = (float)(w[c * perChannel + i] * factor[c]);
                b[c] = (float)((b[c] - mean[c]) * factor[c] + beta[c]);
            }
            layers[producer] = new Conv2dLayer(conv.Name, Upload(w, conv.Weight.Value.Shape.ToArray()), Upload(b, [k]), conv.Geometry);
            conv.Dispose();
            return null;
        }

        /// <summary>
        /// Add, Sub, Mul or Div of the layer output and a constant. An Add of one value per output to
        /// a Conv, Gemm or MatMul whose output it alone reads goes into that layer's bias; anything
        /// else with a constant of one value or one per channel becomes y = x·scale + shift per
        /// channel, a depthwise 1x1 convolution (as a standalone BatchNormalization), whose backward
        /// is the convolution's.
        /// </summary>
        private Layer? Arithmetic(NodeProto node, int producer)
        {
            string where = OnnxAttributes.Describe(node);
            if (node.Input.Count != 2) throw new NotSupportedException($"{where}: {node.OpType} has {node.Input.Count} inputs, expected 2");
            if (node.Input[0] == node.Input[1])
                throw new NotSupportedException($"{where}: {node.OpType} of the layer output '{current}' with itself is not supported; arithmetic takes a layer output and a constant");
            bool constantFirst = node.Input[1] == current;
            var constant = FiniteFloats(node, node.Input[constantFirst ? 0 : 1], "the constant");
            if (node.OpType == "Add" && FoldBias(constant, producer)) return null;
            if (!OnnxArithmetic.IsPerChannel(constant.Dims, currentShape))
                throw new NotSupportedException($"{where}: the constant '{constant.Name}' has dims [{string.Join(", ", constant.Dims)}], which do not broadcast onto '{current}' {currentShape} as one value or one per channel");
            RequireRank(node, 4);
            int k = currentShape.C;
            var (scale, shift) = OnnxArithmetic.ChannelAffine(node.OpType, constant.Floats, constantFirst, k, where);
            return new Conv2dLayer(LayerName(node), Upload(scale, [k, 1, 1, 1]), Upload(shift, [k]), Conv2dGeometry.Square(1, groups: k));
        }

        /// <summary>Adds a constant of one value per output to the bias of the Conv, Gemm or MatMul
        /// that produces the current tensor when nothing else reads it; false when that does not apply.</summary>
        private bool FoldBias(OnnxTensorData addend, int producer)
        {
            switch (producer != Network.Input && Readers(current) == 1 ? layers[producer] : null)
            {
                case FullyConnectedLayer fc when addend.ElementCount == fc.Outputs && OnnxArithmetic.IsPerChannel(addend.Dims, currentShape):
                {
                    var bias = Add(fc.Bias, addend.Floats);
                    layers[producer] = new FullyConnectedLayer(fc.Name, Upload(backend.Download(fc.Weight.Value), [fc.Outputs, fc.Inputs]), Upload(bias, [fc.Outputs]));
                    fc.Dispose();
                    return true;
                }
                case Conv2dLayer conv when addend.ElementCount == conv.OutputChannels && OnnxArithmetic.IsPerChannel(addend.Dims, currentShape):
                {
                    var bias = Add(conv.Bias, addend.Floats);
                    layers[producer] = new Conv2dLayer(conv.Name, Upload(backend.Download(conv.Weight.Value), conv.Weight.Value.Shape.ToArray()), Upload(bias, [conv.OutputChannels]), conv.Geometry);
                    conv.Dispose();
                    return true;
                }
                default:
                    return false;
            }
        }

        private float[] Add(Parameter? bias, float[] addend)
        {
            var result = bias is null ? new float[addend.Length] : backend.Download(bias.Value);
            for (int i = 0; i < result.Length; i++) result[i] += addend[i];
            return result;
        }

        // ---------------------------------------------------------------- values

        /// <summary>A known value: a folded constant, or an initializer (decoded now, its bytes released).</summary>
        private OnnxTensorData? Value(string name)
        {
            if (constants.TryGetValue(name, out var value)) return value;
            if (!initializers.TryGetValue(name, out var proto)) return null;
            value = OnnxTensors.Read(proto, source);
            // The decoded copy replaces the serialized one, so a large model is not held twice.
            proto.RawData = ByteString.Empty;
            proto.FloatData.Clear();
            constants[name] = value;
            return value;
        }

        private OnnxTensorData Weight(NodeProto node, int index, string role, int rank)
        {
            if (node.Input.Count <= index || node.Input[index].Length == 0)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: input {role} is missing");
            string name = node.Input[index];
            var value = Value(name) ?? throw Undefined(node, name);
            if (value.Rank != rank || value.Data is not float[])
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: {role} '{name}' is {value.DataType} [{string.Join(", ", value.Dims)}], expected a rank-{rank} float tensor");
            if (value.ElementCount == 0)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: {role} '{name}' has dims [{string.Join(", ", value.Dims)}], which hold no values");
            RequireFinite(node, name, value.Floats);
            // Weights are used once: drop the host copy after this layer takes it.
            constants.Remove(name);
            return value;
        }

        /// <summary>A known float value whose every element is finite.</summary>
        private OnnxTensorData FiniteFloats(NodeProto node, string name, string role)
        {
            var value = Value(name) ?? throw Undefined(node, name);
            if (value.Data is not float[] floats)
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: {role} '{name}' is {value.DataType}, expected a float tensor");
            RequireFinite(node, name, floats);
            return value;
        }

        /// <summary>A known 1-D integer input (pads, split sizes, slice starts and ends).</summary>
        private long[] IntVector(NodeProto node, string name, string role)
        {
            var value = Value(name) ?? throw Undefined(node, name);
            if (value.Rank != 1 || value.Data is not (long[] or int[]))
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: {role} '{name}' is {value.DataType} [{string.Join(", ", value.Dims)}], expected a 1-D integer tensor");
            return value.ToInt64();
        }

        /// <summary>A one-value float input (a Dropout ratio).</summary>
        private float Scalar(NodeProto node, string name, string role)
        {
            var value = FiniteFloats(node, name, role);
            if (value.ElementCount != 1)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: {role} '{name}' holds {value.ElementCount} values, expected one");
            return value.Floats[0];
        }

        /// <summary>NaN or infinity in a weight makes every output meaningless: refused at load, naming the node.</summary>
        private static void RequireFinite(NodeProto node, string name, float[] values)
        {
            int bad = Array.FindIndex(values, v => !float.IsFinite(v));
            if (bad >= 0)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: '{name}' holds {values[bad]} at element {bad}; weights must be finite numbers");
        }

        private Tensor Upload(float[] data, int[] dims) => backend.Upload(data, new Shape(dims));

        private static float[] Transpose(float[] data, int rows, int columns)
        {
            var result = new float[data.Length];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < columns; c++)
                    result[c * rows + r] = data[r * columns + c];
            return result;
        }

        // ---------------------------------------------------------------- checks and names

        private string LayerName(NodeProto node) => LayerName(node.Name.Length > 0 ? node.Name : node.Output[0]);

        private string LayerName(string baseName)
        {
            string name = baseName;
            for (int i = 2; layerNames.Contains(name); i++) name = $"{baseName}_{i}";
            return name;
        }

        private void RequireRank(NodeProto node, int rank)
        {
            if (currentShape.Rank != rank)
                throw new NotSupportedException($"{OnnxAttributes.Describe(node)}: its input '{current}' has shape {currentShape}, expected rank {rank} (N, C, H, W)");
        }

        private void RequireFeatures(NodeProto node, int inputs)
        {
            if (currentShape.SampleSize != inputs)
                throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: expects {inputs} input features but '{current}' has shape {currentShape} ({currentShape.SampleSize} per sample)");
        }

        /// <summary>Every tensor has one producer (ONNX graphs are in single-assignment form); a second
        /// one, or a node writing over an input or a weight, means the file is damaged.</summary>
        private void RequireSingleAssignment()
        {
            var produced = new HashSet<string>(graph.Input.Select(i => i.Name).Concat(initializers.Keys), StringComparer.Ordinal);
            foreach (var node in graph.Node)
            {
                if (node.Output.Count == 0 || node.Output[0].Length == 0)
                    throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: it has no output");
                foreach (var output in node.Output.Where(o => o.Length > 0))
                    if (!produced.Add(output))
                        throw new InvalidDataException($"{OnnxAttributes.Describe(node)}: its output '{output}' is also produced elsewhere in the graph (a graph input, a weight or another node)");
            }
        }

        /// <summary>The nodes that read a tensor's values (Shape nodes read only its shape).</summary>
        private int Readers(string tensor) => consumers.TryGetValue(tensor, out var list) ? list.Count(n => n.OpType != "Shape") : 0;

        private static Exception Undefined(NodeProto node, string input) => new InvalidDataException(
            $"{OnnxAttributes.Describe(node)}: reads '{input}', which no earlier node produces and no initializer holds");

        private static Exception Unsupported(NodeProto node) => new NotSupportedException(
            $"{OnnxAttributes.Describe(node)}: operator {node.OpType} is not supported (ConvViz loads {string.Join(", ", LayerOps)} and constant shape computations)");
    }
}
