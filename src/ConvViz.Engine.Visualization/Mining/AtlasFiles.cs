using System.Text.Json;
using System.Text.Json.Serialization;
using ConvViz.Engine.Data;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Mining;

/// <summary>The JSON of an atlas's files: camelCase, enum values by name, a diverged objective as "NaN"; a file read back
/// must hold every member its type declares non-null.</summary>
internal static class AtlasJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>Reads <paramref name="path"/> as a <typeparamref name="T"/>; an <see cref="IOException"/> or a one-line
    /// <see cref="InvalidDataException"/> that names the file and <paramref name="expected"/> when it is not one.</summary>
    public static T Load<T>(string path, string expected, long maxBytes)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(InputFiles.ReadAllBytes(path, expected, maxBytes), Options) ?? throw new InvalidDataException($"{path} is not {expected}: it holds null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not {expected}: {e.Message}");
        }
    }
}

/// <summary>A unit optimized so far: its image (relative to the atlas folder), the layer it was optimized at, its best objective and step.</summary>
internal sealed record OptimizedUnit(int Unit, string File, string Layer, float BestObjective, int BestIteration);

/// <summary>
/// What an atlas covers (model, data, k, layers and their units, the optimization) and what of it is done: the layers whose
/// patches are written and the units optimized. Saved after every step worth keeping, so an interrupted atlas resumes there.
/// </summary>
internal sealed class AtlasState
{
    public required string Model { get; init; }
    public required string Data { get; init; }
    public required int Images { get; init; }
    public required int K { get; init; }
    public required string[] Layers { get; init; }
    public required Dictionary<string, int[]> Units { get; init; }
    public required int Preset { get; init; }
    public required OptimizationOptions Optimization { get; init; }
    public List<string> PatchedLayers { get; init; } = [];
    public Dictionary<string, List<OptimizedUnit>> Optimized { get; init; } = [];

    [JsonIgnore] public int OptimizedCount => Optimized.Values.Sum(u => u.Count);

    /// <summary>Replaces the state at <paramref name="path"/> atomically, so a crash mid-write leaves the previous state.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, AtlasJson.Options));

    /// <summary>A few numbers per unit: far below 64 MiB for any model.</summary>
    public const long MaxBytes = 64 << 20;

    public static AtlasState Load(string path) => AtlasJson.Load<AtlasState>(path, "an atlas state file", MaxBytes);

    /// <summary>Throws, naming the difference, when a resumed run asks for something else than this state covers.</summary>
    public void RequireSame(AtlasState other)
    {
        void Check(string what, string mine, string theirs)
        {
            if (mine != theirs)
                throw new ArgumentException($"the interrupted atlas used {what} {mine}, this one asks for {theirs}; resume with the same settings or write to another folder", nameof(AtlasOptions.Resume));
        }
        Check("model", Model, other.Model);
        Check("data", Data, other.Data);
        Check("image count", $"{Images}", $"{other.Images}");
        Check("k", $"{K}", $"{other.K}");
        Check("layers", string.Join(",", Layers), string.Join(",", other.Layers));
        foreach (string layer in Layers)
            Check($"the units of {layer}:", OptimizationRuns.Ranges(Units.GetValueOrDefault(layer) ?? []), OptimizationRuns.Ranges(other.Units[layer]));
        Check("preset", $"{Preset}", $"{other.Preset}");
        Check("iterations", $"{Optimization.Iterations}", $"{other.Optimization.Iterations}");
        Check("optimization settings", JsonSerializer.Serialize(Optimization, AtlasJson.Options), JsonSerializer.Serialize(other.Optimization, AtlasJson.Options));
    }
}

/// <summary>One of a unit's top patches in the manifest: its patch and deconvolution files, the unit's value, the data set's image,
/// its label, the peak position and the source in words.</summary>
internal sealed record AtlasManifestPatch(string Image, string Deconv, float Value, int DataImage, int Label, int Y, int X, string Source);

/// <summary>One unit in the manifest: its page, its optimized image (at <see cref="AtlasManifestLayer.OptimizedAt"/>), and its top patches, best first.</summary>
internal sealed record AtlasManifestUnit(int Unit, string Page, string Optimized, float BestObjective, int BestIteration, IReadOnlyList<AtlasManifestPatch> Top);

/// <summary>One layer in the manifest: the layer its units are optimized at, its receptive field, what its patches show, its page and its units.</summary>
internal sealed record AtlasManifestLayer(string Name, string OptimizedAt, ReceptiveField ReceptiveField, string Patches, string Page, IReadOnlyList<AtlasManifestUnit> Units);

/// <summary>
/// atlas.json: what <see cref="Atlas"/> reads. Every path is relative to the atlas folder, with '/' between its parts.
/// </summary>
internal sealed record AtlasManifest(string Format, int Version, string Model, string Data, int Images, int K, int Preset, OptimizationOptions Optimization,
    string Index, IReadOnlyList<AtlasManifestLayer> Layers)
{
    public const string FormatName = "convviz-atlas";
    public const int CurrentVersion = 1;

    /// <summary>k entries of a few numbers and paths per unit: a 4,096-unit layer takes a few MiB.</summary>
    public const long MaxBytes = 256 << 20;

    /// <summary>The manifest of a finished atlas: every chosen unit's entries (from the pass), patches and optimized image, in the chosen order.</summary>
    public static AtlasManifest Of(ModelBundle bundle, LabeledImages images, AtlasState state, IReadOnlyList<TopUnits> mined, IReadOnlyList<ReceptiveField> fields)
    {
        var network = bundle.Network;
        var layers = mined.Select(layerUnits =>
        {
            string layer = layerUnits.Layer, path = AtlasRuns.LayerPath(layer);
            var field = fields[network.IndexOf(layer)];
            var optimized = state.Optimized[layer].ToDictionary(o => o.Unit);
            var units = state.Units[layer].Select(unit => new AtlasManifestUnit(unit, $"{path}/unit-{unit}.html", optimized[unit].File, optimized[unit].BestObjective,
                optimized[unit].BestIteration, layerUnits.Of(unit).Select((e, rank) => new AtlasManifestPatch(AtlasRuns.PatchPath(layer, unit, rank), AtlasRuns.DeconvPath(layer, unit, rank),
                    e.Value, e.Image, images.Label(e.Image), e.Y, e.X, AtlasRuns.Source(e, images.Label(e.Image), bundle.Classes, field))).ToArray())).ToArray();
            return new AtlasManifestLayer(layer, AtlasRuns.OptimizedLayer(network, layer), field, TopKViews.WhatPatchesShow(field), $"{path}/{AtlasRuns.IndexPage}", units);
        }).ToArray();
        return new AtlasManifest(FormatName, CurrentVersion, state.Model, state.Data, state.Images, state.K, state.Preset, state.Optimization, AtlasRuns.IndexPage, layers);
    }

    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, AtlasJson.Options));

    public static AtlasManifest Load(string path)
    {
        var manifest = AtlasJson.Load<AtlasManifest>(path, "an atlas manifest", MaxBytes);
        if (manifest.Format != FormatName || manifest.Version != CurrentVersion)
            throw new InvalidDataException($"{path} is not an atlas manifest of version {CurrentVersion}: its format is '{manifest.Format}', version {manifest.Version}");
        return manifest;
    }

    /// <summary>Every image file the manifest names, as paths under <paramref name="folder"/>.</summary>
    public IEnumerable<string> Files(string folder) => Layers.SelectMany(l => l.Units).SelectMany(u => u.Top.SelectMany(t => new[] { t.Image, t.Deconv }).Append(u.Optimized))
        .Select(path => Path.Combine(folder, path));
}
