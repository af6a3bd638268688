using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Networks;

/// <summary>One row of a network summary.</summary>
public sealed record LayerSummary(int Index, string Name, string OpType, Shape OutputShape, long Parameters, long MultiplyAccumulates);

/// <summary>One layer of a graph network and the layers whose outputs it reads (<see cref="Network.Input"/> for the network input).</summary>
public sealed record GraphNode(Layer Layer, IReadOnlyList<int> Inputs);

/// <summary>
/// Uniquely named layers in topological order, each reading the outputs of earlier layers (or the
/// network input): a graph, of which a sequential network (layer i reads layer i - 1) is the
/// special case. Forward runs up to any layer and keeps what backward needs; backward starts at any
/// layer with any seed and a ReLU rule, sums the gradients of an output read by several layers, and
/// writes parameter gradients only when asked. Layers are addressed by name (or by index).
/// </summary>
public sealed class Network : IDisposable
{
    /// <summary>The input index that stands for the network input.</summary>
    public const int Input = -1;

    private readonly Layer[] layers;
    private readonly int[][] inputs;
    private readonly Dictionary<string, int> indexByName;

    /// <summary>A sequential network: each layer reads the one before it.</summary>
    /// <param name="sampleShape">The shape of one input sample, e.g. (3, 227, 227).</param>
    public Network(Shape sampleShape, IEnumerable<Layer> layers)
        : this(sampleShape, layers.Select((layer, i) => new GraphNode(layer, [i - 1])))
    {
    }

    /// <summary>A graph network; every node reads only earlier layers or <see cref="Input"/>, and every
    /// layer but the last is read by a later one.</summary>
    public Network(Shape sampleShape, IEnumerable<GraphNode> nodes)
    {
        var list = nodes.ToArray();
        if (list.Length == 0) throw new ArgumentException("a network needs at least one layer");
        layers = list.Select(n => n.Layer).ToArray();
        inputs = list.Select(n => n.Inputs.ToArray()).ToArray();
        indexByName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < layers.Length; i++)
            if (!indexByName.TryAdd(layers[i].Name, i))
                throw new ArgumentException($"two layers are named '{layers[i].Name}'; layer names must be unique");
        var read = new bool[layers.Length];
        for (int i = 0; i < layers.Length; i++)
        {
            int expected = layers[i] is JoinLayer ? 2 : 1;
            if (layers[i] is JoinLayer ? inputs[i].Length < 2 : inputs[i].Length != 1)
                throw new ArgumentException($"layer '{layers[i].Name}' ({layers[i].OpType}) reads {inputs[i].Length} inputs, expected {(expected == 1 ? "one" : "two or more")}");
            foreach (int j in inputs[i])
            {
                if (j < Input || j >= i)
                    throw new ArgumentException($"layer '{layers[i].Name}' reads {(j >= 0 && j < layers.Length ? $"layer '{layers[j].Name}'" : $"layer {j}")}, which does not come before it");
                if (j >= 0) read[j] = true;
            }
        }
        int unread = Array.IndexOf(read[..^1], false);
        if (unread >= 0) throw new ArgumentException($"layer '{layers[unread].Name}' is read by no later layer; every layer but the last must feed the output");
        IsSequential = Enumerable.Range(0, layers.Length).All(i => inputs[i] is [var j] && j == i - 1);
        SampleShape = sampleShape;
        Summarize(1);
    }

    /// <summary>True when each layer reads the one before it (no branches, no joins).</summary>
    public bool IsSequential { get; }

    /// <summary>The layers (indices, <see cref="Input"/> for the network input) whose outputs layer <paramref name="index"/> reads.</summary>
    public IReadOnlyList<int> InputsOf(int index) => inputs[index];

    public Shape SampleShape { get; }
    public IReadOnlyList<Layer> Layers => layers;
    public IEnumerable<Parameter> Parameters => layers.SelectMany(l => l.Parameters);
    public Layer this[string name] => layers[IndexOf(name)];

    /// <summary>The shape of a batch of n inputs.</summary>
    public Shape InputShape(int n) => new([n, .. SampleShape.ToArray()]);

    public int IndexOf(string name) => indexByName.TryGetValue(name, out int i)
        ? i
        : throw new ArgumentException($"no layer named '{name}'; the layers are: {string.Join(", ", layers.Select(l => l.Name))}");

    /// <summary>Every layer's output shape, parameter count and multiply-accumulates for a batch of n.</summary>
    public IReadOnlyList<LayerSummary> Summarize(int n)
    {
        var rows = new List<LayerSummary>(layers.Length);
        var shapes = Shapes(InputShape(n), layers.Length - 1);
        for (int i = 0; i < layers.Length; i++)
        {
            var input = inputs[i][0] == Input ? InputShape(n) : shapes[inputs[i][0]];
            rows.Add(new LayerSummary(i, layers[i].Name, layers[i].OpType, shapes[i],
                layers[i].Parameters.Sum(p => (long)p.Value.ElementCount), layers[i] is JoinLayer ? 0 : layers[i].MultiplyAccumulates(input)));
        }
        return rows;
    }

    public Shape OutputShape(string layer, int n) => Summarize(n)[IndexOf(layer)].OutputShape;

    /// <summary>
    /// The output shape of <paramref name="layer"/> for an input (N, C, H, W) with the model's C
    /// channels and any height and width: each layer computes its output shape from its input, so the
    /// convolutional part runs at other sizes. Away from the model's size every layer up to
    /// <paramref name="layer"/> must keep (N, C, H, W) maps: a flattened map's features mean what
    /// they mean only at the model's size. Throws, naming the layer and the size, when a layer
    /// cannot take the input (a fully connected layer, or a map pooled below its window).
    /// </summary>
    public Shape OutputShape(string layer, Shape input)
    {
        int last = IndexOf(layer);
        if (input == InputShape(input.N)) return Summarize(input.N)[last].OutputShape;
        if (SampleShape.Rank != 3 || input.Rank != 4 || input.C != SampleShape[0])
            throw new ArgumentException($"network input has shape {input}, expected (N, {SampleShape[0]}, H, W): the model's channels at any height and width");
        string size = $"a {input.H}x{input.W} input (the model's size is {SampleShape[1]}x{SampleShape[2]})";
        try
        {
            return Shapes(input, last, (i, shape) =>
            {
                if (shape.Rank != 4)
                    throw new ArgumentException($"layer '{layer}' cannot run on {size}: layer '{layers[i].Name}' ({layers[i].OpType}) turns the maps into " +
                                                $"features, which only the model's size defines; run at {SampleShape[1]}x{SampleShape[2]} or up to a layer before it");
            })[last];
        }
        catch (ArgumentException e) when (!e.Message.StartsWith($"layer '{layer}' cannot run on", StringComparison.Ordinal))
        {
            throw new ArgumentException($"layer '{layer}' cannot run on {size}: {e.Message}", e);
        }
    }

    /// <summary>The output shapes of layers 0..<paramref name="last"/> for a network input of shape
    /// <paramref name="input"/>; <paramref name="check"/>, when given, sees each as it is computed.</summary>
    private Shape[] Shapes(Shape input, int last, Action<int, Shape>? check = null)
    {
        var shapes = new Shape[last + 1];
        for (int i = 0; i <= last; i++)
        {
            var from = inputs[i].Select(j => j == Input ? input : shapes[j]).ToArray();
            shapes[i] = layers[i] is JoinLayer join ? join.OutputShape(from) : layers[i].OutputShape(from[0]);
            check?.Invoke(i, shapes[i]);
        }
        return shapes;
    }

    /// <summary>Whether layers 0..<paramref name="layer"/> run on an input of this shape (see <see cref="OutputShape(string, Shape)"/>).</summary>
    public bool Accepts(string layer, Shape input)
    {
        try
        {
            OutputShape(layer, input);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs layers 0..upTo (the whole network when upTo is null). The input stays the caller's;
    /// everything else belongs to the returned pass, which is disposed by the caller. A whole-network
    /// pass takes the model's input shape; a pass up to a layer may take another height and width
    /// (see <see cref="OutputShape(string, Shape)"/>).
    /// </summary>
    public ForwardPass Forward(Tensor input, string? upTo = null, bool training = false)
    {
        var expected = InputShape(input.Shape.N);
        if (upTo is null && input.Shape != expected)
            throw new ArgumentException($"network input has shape {input.Shape}, expected {expected}");
        if (upTo is not null) OutputShape(upTo, input.Shape);
        int last = upTo is null ? layers.Length - 1 : IndexOf(upTo);
        var pass = new ForwardPass(this, input);
        try
        {
            if (!training) RequireFiniteInput(input);
            for (int i = 0; i <= last; i++)
            {
                var output = layers[i] is JoinLayer join
                    ? join.Forward(inputs[i].Select(pass.InputOf).ToArray(), training)
                    : layers[i].Forward(pass.InputOf(inputs[i][0]), training);
                pass.Add(output);
                if (!training) RequireFiniteOutput(i, output.Y);
            }
        }
        catch
        {
            pass.Dispose();
            throw;
        }
        return pass;
    }

    /// <summary>
    /// An inference pass is refused when its input or any layer's output holds NaN or infinity,
    /// naming the first layer whose output went non-finite (weights that overflow float32 there):
    /// a table of NaN is never a result. Every layer is checked because a ReLU or a max pool can
    /// turn NaN back into ordinary numbers downstream. Each output is checked as soon as its layer
    /// has written it, while it is still in cache: checking them all after the pass read them back
    /// from memory and measured about 2-5% of a ResNet forward. Training passes are left to the
    /// trainer, which reports a diverging loss itself.
    /// </summary>
    private static void RequireFiniteInput(Tensor input)
    {
        var backend = input.Backend;
        if (backend.AllFinite(input)) return;
        var values = backend.Download(input);
        int bad = FirstNonFinite(values);
        throw new ArgumentException($"network input holds {values[bad]} at element {bad}; inputs must be finite numbers");
    }

    private void RequireFiniteOutput(int layer, Tensor output)
    {
        var backend = output.Backend;
        if (backend.AllFinite(output)) return;
        var values = backend.Download(output);
        throw new InvalidDataException($"layer '{layers[layer].Name}' ({layers[layer].OpType}) produced {values[FirstNonFinite(values)]} from a finite input: the model's weights overflow float32 there");
    }

    private static int FirstNonFinite(float[] values) => Array.FindIndex(values, v => !float.IsFinite(v));

    /// <summary>
    /// Backward from the output of layer <paramref name="from"/> (which the pass must have reached)
    /// with dy = seed, down to the network input. Returns d(seed · output)/d input, shape of the
    /// input, owned by the caller; null when options.InputGradient is false (training).
    /// <paramref name="observe"/>, when given, sees the gradient arriving at each layer's output,
    /// (layer index, d objective / d output), from <paramref name="from"/> down to layer 0; the
    /// tensor is only valid during the call.
    /// </summary>
    public Tensor? Backward(ForwardPass pass, string from, Tensor seed, BackwardOptions? options = null, Action<int, Tensor>? observe = null)
    {
        options ??= new BackwardOptions();
        if (!ReferenceEquals(pass.Network, this)) throw new ArgumentException("the forward pass belongs to another network");
        int start = IndexOf(from);
        if (start >= pass.Count)
            throw new ArgumentException($"the forward pass stopped at '{layers[pass.Count - 1].Name}', before '{from}'; run forward up to '{from}' or further");
        var expected = pass.Outputs[start].Y.Shape;
        if (seed.Shape != expected)
            throw new ArgumentException($"backward seed for '{from}' has shape {seed.Shape}, expected {expected}");

        // gradients[i] is d objective / d output of layer i, summed over the layers that read it, and
        // owners[i] the tensor that owns its memory (a reshape hands back a view of its dy, so an
        // owner can outlive several layers). Index layers.Length stands for the network input. The
        // seed stays the caller's.
        var gradients = new Tensor?[layers.Length + 1];
        var owners = new Tensor?[layers.Length + 1];
        gradients[start] = seed;
        int inputSlot = layers.Length;
        try
        {
            for (int i = start; i >= 0; i--)
            {
                var dy = gradients[i];
                if (dy is null) continue;
                observe?.Invoke(i, dy);
                // Parameter gradients are written everywhere; an input gradient where a layer below needs it,
                // or where the caller asked for the network input's.
                var layerOptions = options with { InputGradient = options.InputGradient || inputs[i].Any(j => j != Input) };
                if (layers[i] is JoinLayer join)
                {
                    var dxs = join.Backward(inputs[i].Select(pass.InputOf).ToArray(), pass.Outputs[i], dy, layerOptions);
                    for (int k = 0; k < dxs.Length; k++) Accumulate(inputs[i][k], dxs[k], dxs[k]);
                }
                else
                {
                    var dx = layers[i].Backward(pass.InputOf(inputs[i][0]), pass.Outputs[i], dy, layerOptions);
                    var owner = dx is not null && owners[i] is { } o && dx.SharesMemoryWith(o) ? o : dx;
                    if (ReferenceEquals(owner, owners[i])) owners[i] = null;
                    if (dx is not null && (inputs[i][0] != Input || options.InputGradient)) Accumulate(inputs[i][0], dx, owner!);
                    else owner?.Dispose();
                }
                Release(i);
            }
            var result = gradients[inputSlot];
            if (result is null || !options.InputGradient) return null;
            if (ReferenceEquals(result, owners[inputSlot]) && !result.IsView)
            {
                owners[inputSlot] = null;
                return result;
            }
            var copy = result.Backend.Allocate(result.Shape);
            result.Backend.Copy(result, copy);
            return copy;
        }
        finally
        {
            for (int i = 0; i < owners.Length; i++) Release(i);
        }

        void Accumulate(int target, Tensor dx, Tensor owner)
        {
            int slot = target == Input ? inputSlot : target;
            if (gradients[slot] is null)
            {
                gradients[slot] = dx;
                owners[slot] = owner;
                return;
            }
            if (owners[slot] is null || gradients[slot]!.IsView)
            {
                // The first gradient is borrowed or a view: sum into a tensor of our own.
                var sum = dx.Backend.Allocate(dx.Shape);
                dx.Backend.Copy(gradients[slot]!, sum);
                Release(slot);
                gradients[slot] = sum;
                owners[slot] = sum;
            }
            dx.Backend.Axpy(1f, dx, gradients[slot]!);
            owner.Dispose();
        }

        void Release(int slot)
        {
            owners[slot]?.Dispose();
            owners[slot] = null;
            gradients[slot] = null;
        }
    }

    /// <summary>
    /// The output of layer <paramref name="last"/> when the output of <paramref name="node"/> (the
    /// network input for <see cref="Input"/>) is replaced by <paramref name="replacement"/>: the layers
    /// between them that depend on it run again in inference mode, the others keep the pass's outputs.
    /// A finite-difference probe of a graph: perturb one tensor, see the effect further up.
    /// </summary>
    public float[] Rerun(ForwardPass pass, int node, Tensor replacement, int last)
    {
        if (!ReferenceEquals(pass.Network, this)) throw new ArgumentException("the forward pass belongs to another network");
        if (node < Input || node > last || last >= pass.Count)
            throw new ArgumentException($"cannot rerun from node {node} to layer {last} of a pass that ran {pass.Count} layers");
        var expected = node == Input ? pass.Input.Shape : pass.Outputs[node].Y.Shape;
        if (replacement.Shape != expected)
            throw new ArgumentException($"the replacement has shape {replacement.Shape}, expected {expected}");
        var backend = replacement.Backend;
        if (node == last) return backend.Download(replacement);
        var rerun = new Dictionary<int, LayerOutput>();
        Tensor Read(int j) => j == node ? replacement : rerun.TryGetValue(j, out var o) ? o.Y : pass.InputOf(j);
        try
        {
            for (int i = node + 1; i <= last; i++)
            {
                if (!inputs[i].Any(j => j == node || rerun.ContainsKey(j))) continue;
                rerun[i] = layers[i] is JoinLayer join
                    ? join.Forward(inputs[i].Select(Read).ToArray(), training: false)
                    : layers[i].Forward(Read(inputs[i][0]), training: false);
            }
            return backend.Download(Read(last));
        }
        finally
        {
            // Views (a reshape's output) do not own memory, so disposing every output frees each buffer once.
            foreach (var output in rerun.Values)
            {
                output.Y.Dispose();
                output.Saved?.Dispose();
            }
        }
    }

    /// <summary>A seed of zeros shaped like layer's output with 1 at channel c (every position), or
    /// at (c, y, x) when a position is given, for batch item n (all items when n is null).</summary>
    public Tensor UnitSeed(ForwardPass pass, string layer, int channel, int? y = null, int? x = null, int? n = null)
    {
        var shape = pass.Output(layer).Shape;
        var data = new float[shape.ElementCount];
        int channels = shape.Rank >= 2 ? shape[1] : 1;
        if (channel < 0 || channel >= channels)
            throw new ArgumentException($"unit {channel} is outside layer '{layer}' with {channels} channels, shape {shape}");
        int height = shape.Rank == 4 ? shape.H : 1, width = shape.Rank == 4 ? shape.W : 1;
        if (y is not null && (y < 0 || y >= height || x is null || x < 0 || x >= width))
            throw new ArgumentException($"position ({y}, {x}) is outside layer '{layer}' of shape {shape} (valid: 0..{height - 1}, 0..{width - 1})");
        if (n is not null && (n < 0 || n >= shape.N))
            throw new ArgumentException($"batch item {n} is outside the batch of {shape.N}");
        for (int item = 0; item < shape.N; item++)
        {
            if (n is not null && item != n) continue;
            int plane = (item * channels + channel) * height * width;
            if (y is null) Array.Fill(data, 1f, plane, height * width);
            else data[plane + y.Value * width + x!.Value] = 1f;
        }
        return pass.Input.Backend.Upload(data, shape);
    }

    public void Dispose()
    {
        foreach (var layer in layers) layer.Dispose();
    }
}

/// <summary>What a forward run produced: each executed layer's output and saved state.</summary>
public sealed class ForwardPass : IDisposable
{
    private readonly List<LayerOutput> outputs = [];

    internal ForwardPass(Network network, Tensor input)
    {
        Network = network;
        Input = input;
    }

    public Network Network { get; }
    public Tensor Input { get; }
    public IReadOnlyList<LayerOutput> Outputs => outputs;
    public int Count => outputs.Count;

    /// <summary>The output of the last layer run.</summary>
    public Tensor Last => outputs[^1].Y;

    /// <summary>The tensor a layer reads for input index <paramref name="index"/>: the network input or an earlier layer's output.</summary>
    internal Tensor InputOf(int index) => index == Network.Input ? Input : outputs[index].Y;

    public Tensor Output(string layer)
    {
        int i = Network.IndexOf(layer);
        if (i >= outputs.Count)
            throw new ArgumentException($"layer '{layer}' was not run: the forward pass stopped at '{Network.Layers[outputs.Count - 1].Name}'");
        return outputs[i].Y;
    }

    internal void Add(LayerOutput output) => outputs.Add(output);

    public void Dispose()
    {
        foreach (var o in outputs)
        {
            o.Y.Dispose();
            o.Saved?.Dispose();
        }
        outputs.Clear();
    }
}
