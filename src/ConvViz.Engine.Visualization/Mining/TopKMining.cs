using System.Text.Json;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Data;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;

namespace ConvViz.Engine.Mining;

/// <summary>
/// Where a top-k pass stands: what it covers (model, data, number of images, k, layers), how many
/// images it has processed and every unit's entries so far. Saved after every batch, so an
/// interrupted pass resumes at the next batch and ends exactly as an uninterrupted one.
/// </summary>
public sealed class TopKState
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public required string Model { get; init; }
    public required string Data { get; init; }
    public required int Images { get; init; }
    public required int K { get; init; }
    public required string[] Layers { get; init; }
    public int Processed { get; set; }
    public Dictionary<string, TopEntry[][]> Units { get; set; } = [];

    public bool Complete => Processed >= Images;

    /// <summary>Replaces the state at <paramref name="path"/> atomically, so a crash mid-write leaves the previous state.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    /// <summary>The largest state read back: k entries of a few numbers per unit, far below 256 MiB for any layer.</summary>
    public const long MaxStateBytes = 256 << 20;

    public static TopKState Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TopKState>(InputFiles.ReadAllBytes(path, "a top-k state file", MaxStateBytes), Json) ?? throw new InvalidDataException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a top-k state file: {e.Message}");
        }
    }

    /// <summary>Throws, naming the difference, when a resumed run asks for something else than this state covers.</summary>
    public void RequireSame(TopKState other)
    {
        void Check(string what, string mine, string theirs)
        {
            if (mine != theirs) throw new ArgumentException($"the interrupted top-k run used {what} {mine}, this one asks for {theirs}; resume with the same settings or write to another folder");
        }
        Check("model", Model, other.Model);
        Check("data", Data, other.Data);
        Check("image count", Images.ToString(), other.Images.ToString());
        Check("k", K.ToString(), other.K.ToString());
        Check("layers", string.Join(",", Layers), string.Join(",", other.Layers));
    }
}

/// <summary>The mining pass after a batch: images processed so far (a resumed run starts at its saved count), out of <paramref name="Images"/>.</summary>
public readonly record struct TopKProgress(int Processed, int Images);

/// <summary>Deconvnet projections done so far, out of <paramref name="Total"/>.</summary>
public readonly record struct ProjectionProgress(int Done, int Total);

/// <summary>The streaming pass: forward every batch up to the deepest chosen layer and offer each layer's outputs to its <see cref="TopUnits"/>.</summary>
public static class TopKMining
{
    /// <summary>
    /// Continues <paramref name="state"/> from its processed count through batches of
    /// <paramref name="batchSize"/> images (the first state.Images of <paramref name="data"/>). After
    /// each batch the state is updated (and saved to <paramref name="statePath"/> when given) and
    /// <paramref name="progress"/> gets the processed count. Stops early, with the state saved, when
    /// cancelled (at a batch boundary, without throwing: the state says how far it got) or once
    /// <paramref name="stopAfter"/> images are processed in all.
    /// </summary>
    public static IReadOnlyList<TopUnits> Run(Network network, Preprocessing p, LabeledImages data, TopKState state, int batchSize,
        string? statePath = null, IProgress<TopKProgress>? progress = null, int? stopAfter = null, CancellationToken cancellation = default)
    {
        Validate(network, data, state, batchSize);
        var backend = network.Parameters.First().Value.Backend;
        var units = state.Layers.Select(layer => state.Units.TryGetValue(layer, out var saved)
            ? TopUnits.FromArrays(layer, state.K, saved)
            : new TopUnits(layer, network.OutputShape(layer, 1)[1], state.K)).ToArray();
        string deepest = state.Layers.MaxBy(network.IndexOf)!;
        int end = Math.Min(state.Images, stopAfter ?? int.MaxValue);
        if (state.Processed >= end || cancellation.IsCancellationRequested) return units;
        var remaining = Enumerable.Range(state.Processed, state.Images - state.Processed).ToArray();
        foreach (var batch in ImageBatches.Forward(network, p, data, remaining, batchSize, deepest))
        {
            foreach (var layerUnits in units)
            {
                var output = batch.Pass.Output(layerUnits.Layer);
                layerUnits.OfferBatch(backend.Download(output), output.Shape, state.Processed);
            }
            state.Processed += batch.Count;
            state.Units = units.ToDictionary(u => u.Layer, u => u.ToArrays());
            if (statePath is not null) state.Save(statePath);
            progress?.Report(new TopKProgress(state.Processed, state.Images));
            if (state.Processed >= end || cancellation.IsCancellationRequested) break;
        }
        return units;
    }

    /// <summary>Throws, naming the parameter, when the pass cannot run: no images, K above their count, no or repeated layers, a layer without channels, images the model does not take.</summary>
    internal static void Validate(Network network, LabeledImages data, TopKState state, int batchSize)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException("BatchSize", batchSize, $"BatchSize {batchSize} must be at least 1");
        if (state.Images < 1) throw new ArgumentException($"{data.Source} holds no images; top-k needs at least one");
        if (state.Images > data.Count) throw new ArgumentException($"the run covers {state.Images} images but {data.Source} holds {data.Count}");
        if (state.K > state.Images) throw new ArgumentOutOfRangeException("K", state.K, $"K {state.K} is more than the {state.Images} images of the data set; use at most K {state.Images}");
        if (state.Layers.Length == 0) throw new ArgumentException("Layers names no layer; give at least one", "Layers");
        if (state.Layers.Distinct().Count() != state.Layers.Length) throw new ArgumentException($"Layers {string.Join(",", state.Layers)} names a layer twice", "Layers");
        foreach (var layer in state.Layers)
        {
            var shape = network.OutputShape(layer, 1);
            if (shape.Rank is not (2 or 4)) throw new ArgumentException($"layer '{layer}' has output {shape}; top-k needs channels, (N, C) or (N, C, H, W)");
        }
        var sample = network.SampleShape;
        if (sample[0] != data.Channels || sample[1] != data.Height || sample[2] != data.Width)
            throw new ArgumentException($"the model takes ({string.Join(", ", sample.ToArray())}) but the images of {data.Source} are {data.Channels}x{data.Height}x{data.Width}");
    }
}

/// <summary>Deconvnet projections (Zeiler and Fergus) of top-k entries: d unit / d input under the deconvnet ReLU rule.</summary>
public static class TopKProjections
{
    /// <summary>
    /// The projection of each (channel, entry) of <paramref name="layer"/>: the entry's image forward,
    /// seeded with 1 at the unit's peak (or the unit, without a map), backward with the deconvnet
    /// rule. One forward and one backward per batch of entries; each result is (C, H, W).
    /// </summary>
    public static float[][] Compute(Network network, Preprocessing p, LabeledImages data, string layer, IReadOnlyList<(int Channel, TopEntry Entry)> items,
        int batchSize, IProgress<ProjectionProgress>? progress = null, CancellationToken cancellation = default)
    {
        var backend = network.Parameters.First().Value.Backend;
        var results = new float[items.Count][];
        var options = new BackwardOptions(ReluRule.Deconvnet);
        var images = items.Select(item => item.Entry.Image).ToArray();
        foreach (var (first, count, _, pass) in ImageBatches.Forward(network, p, data, images, batchSize, layer, cancellation))
        {
            var shape = pass.Last.Shape;
            var seedValues = new float[shape.ElementCount];
            int perItem = shape.ElementCount / count, width = shape.Rank == 4 ? shape.W : 1, plane = shape.Rank == 4 ? shape.H * shape.W : 1;
            for (int i = 0; i < count; i++)
            {
                var (channel, entry) = items[first + i];
                seedValues[i * perItem + channel * plane + entry.Y * width + entry.X] = 1f;
            }
            using var seed = backend.Upload(seedValues, shape);
            using var gradient = network.Backward(pass, layer, seed, options)!;
            var values = backend.Download(gradient);
            int size = values.Length / count;
            for (int i = 0; i < count; i++) results[first + i] = values.AsSpan(i * size, size).ToArray();
            progress?.Report(new ProjectionProgress(first + count, items.Count));
        }
        return results;
    }
}
