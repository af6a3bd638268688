using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Networks;

/// <summary>One row of a network summary.</summary>
public sealed record LayerSummary(int Index, string Name, string OpType, Shape OutputShape, long Parameters, long MultiplyAccumulates);

/// <summary>
/// An ordered list of uniquely named layers. Forward runs up to any layer and keeps what backward
/// needs; backward starts at any layer with any seed and a ReLU rule, and writes parameter
/// gradients only when asked. Layers are addressed by name (or by index).
/// </summary>
public sealed class Network : IDisposable
{
    private readonly Layer[] layers;
    private readonly Dictionary<string, int> indexByName;

    /// <param name="sampleShape">The shape of one input sample, e.g. (3, 227, 227).</param>
    public Network(Shape sampleShape, IEnumerable<Layer> layers)
    {
        this.layers = layers.ToArray();
        if (this.layers.Length == 0) throw new ArgumentException("a network needs at least one layer");
        indexByName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < this.layers.Length; i++)
            if (!indexByName.TryAdd(this.layers[i].Name, i))
                throw new ArgumentException($"two layers are named '{this.layers[i].Name}'; layer names must be unique");
        SampleShape = sampleShape;
        Summarize(1);
    }

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
        var shape = InputShape(n);
        for (int i = 0; i < layers.Length; i++)
        {
            var output = layers[i].OutputShape(shape);
            rows.Add(new LayerSummary(i, layers[i].Name, layers[i].OpType, output,
                layers[i].Parameters.Sum(p => (long)p.Value.ElementCount), layers[i].MultiplyAccumulates(shape)));
            shape = output;
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
        var shape = input;
        for (int i = 0; i <= last; i++)
        {
            try { shape = layers[i].OutputShape(shape); }
            catch (ArgumentException e) { throw new ArgumentException($"layer '{layer}' cannot run on {size}: {e.Message}", e); }
            if (shape.Rank != 4)
                throw new ArgumentException($"layer '{layer}' cannot run on {size}: layer '{layers[i].Name}' ({layers[i].OpType}) turns the maps into " +
                                            $"features, which only the model's size defines; run at {SampleShape[1]}x{SampleShape[2]} or up to a layer before it");
        }
        return shape;
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
        var x = input;
        try
        {
            for (int i = 0; i <= last; i++)
            {
                var output = layers[i].Forward(x, training);
                pass.Add(output);
                x = output.Y;
            }
            if (!training) RequireFiniteOutput(pass);
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
    /// turn NaN back into ordinary numbers downstream. Training passes are left to the trainer,
    /// which reports a diverging loss itself.
    /// </summary>
    private void RequireFiniteOutput(ForwardPass pass)
    {
        var backend = pass.Input.Backend;
        if (!backend.AllFinite(pass.Input))
        {
            var input = backend.Download(pass.Input);
            int bad = FirstNonFinite(input);
            throw new ArgumentException($"network input holds {input[bad]} at element {bad}; inputs must be finite numbers");
        }
        for (int i = 0; i < pass.Count; i++)
        {
            if (backend.AllFinite(pass.Outputs[i].Y)) continue;
            var values = backend.Download(pass.Outputs[i].Y);
            throw new InvalidDataException($"layer '{layers[i].Name}' ({layers[i].OpType}) produced {values[FirstNonFinite(values)]} from a finite input: the model's weights overflow float32 there");
        }
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

        // dy is the gradient flowing down; owner is the tensor that owns dy's memory (a reshape
        // hands back a view of its dy, so the owner outlives several steps). The seed stays the caller's.
        Tensor dy = seed, owner = seed;
        for (int i = start; i >= 0; i--)
        {
            var x = i == 0 ? pass.Input : pass.Outputs[i - 1].Y;
            observe?.Invoke(i, dy);
            var layerOptions = i == 0 ? options : options with { InputGradient = true };
            var dx = layers[i].Backward(x, pass.Outputs[i], dy, layerOptions);
            if (dx is not null && dx.SharesMemoryWith(owner))
            {
                dy = dx;
                continue;
            }
            if (!ReferenceEquals(owner, seed)) owner.Dispose();
            if (dx is null) return null;
            dy = owner = dx;
        }
        if (ReferenceEquals(dy, owner) && !ReferenceEquals(owner, seed)) return dy;
        var result = dy.Backend.Allocate(dy.Shape);
        dy.Backend.Copy(dy, result);
        if (!ReferenceEquals(owner, seed)) owner.Dispose();
        return result;
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
