using System.Text.Json;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Mining;

/// <summary>Deconvnet projections of <paramref name="Layer"/>'s top-k entries done so far, out of <paramref name="Total"/>.</summary>
public readonly record struct TopKViewProgress(string Layer, int Done, int Total);

/// <summary>One of a unit's top images in the index: the image, its label, the unit's peak value and where it peaked.</summary>
public sealed record TopKIndexEntry(int Image, int Label, float Value, int Y, int X);

/// <summary>One unit in the index: its view (patches | deconvolutions, relative to the index) and its top images, strongest first.</summary>
public sealed record TopKIndexUnit(int Unit, string View, IReadOnlyList<TopKIndexEntry> Top);

/// <summary>One unit's top entries (best first) with the receptive-field patch of each and the same patch of its deconvnet projection.</summary>
internal sealed record UnitPatches(int Channel, IReadOnlyList<TopEntry> Entries, IReadOnlyList<Image8> Patches, IReadOnlyList<Image8> Deconvolutions);

/// <summary>One mined layer in the index: its receptive field, what the patches show, its overview image and its units.</summary>
public sealed record TopKIndexLayer(string Name, ReceptiveField ReceptiveField, string Patches, string Overview, IReadOnlyList<TopKIndexUnit> Units);

/// <summary>What a top-k run found, as FOLDER/index.json lists it.</summary>
public sealed record TopKIndex(string Model, string Data, int Images, int K, IReadOnlyList<TopKIndexLayer> Layers);

/// <summary>
/// The views of a finished top-k pass (<see cref="TopKMining"/>), as the Deep Visualization Toolbox
/// shows them: per unit FOLDER/&lt;layer&gt;/unit-C.png, its k receptive-field patches beside their
/// deconvnet projections; per layer FOLDER/&lt;layer&gt;-overview.png, every unit's patches; and
/// FOLDER/index.json listing them.
/// </summary>
public static class TopKViews
{
    public const string IndexFile = "index.json";

    /// <summary>The deconvnet projections (in batches of <paramref name="batchSize"/> entries) and the views of
    /// <paramref name="units"/>; returns the index and every file written, the index last.</summary>
    /// <param name="model">Names the model in the index.</param>
    public static (TopKIndex Index, IReadOnlyList<string> Files) Write(Network network, Preprocessing preprocessing, LabeledImages images,
        IReadOnlyList<TopUnits> units, string model, int batchSize, string folder, IProgress<TopKViewProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        var fields = ReceptiveFields.Of(network);
        var files = new List<string>();
        var layers = new List<TopKIndexLayer>();
        foreach (var layerUnits in units)
        {
            var field = fields[network.IndexOf(layerUnits.Layer)];
            string layerFolder = Path.Combine(folder, FileNames.ForLayer(layerUnits.Layer));
            Directory.CreateDirectory(layerFolder);
            var overviewTiles = new List<Image8>();
            var unitEntries = new List<TopKIndexUnit>();
            int scale = 0;
            foreach (var unit in Patches(network, preprocessing, images, layerUnits, Enumerable.Range(0, layerUnits.Channels).ToArray(), field, batchSize, progress, cancellation))
            {
                if (scale == 0) scale = ViewScale(unit.Patches[0]);
                string unitPath = Path.Combine(layerFolder, $"unit-{unit.Channel}.png");
                ImageFile.Write(unitPath, PatchViews.UnitView(unit.Patches, unit.Deconvolutions, scale));
                files.Add(unitPath);
                overviewTiles.Add(PatchViews.Grid(unit.Patches, 1));
                unitEntries.Add(new TopKIndexUnit(unit.Channel, Path.GetRelativePath(folder, unitPath),
                    unit.Entries.Select(e => new TopKIndexEntry(e.Image, images.Label(e.Image), e.Value, e.Y, e.X)).ToArray()));
            }
            string overviewPath = Path.Combine(folder, $"{FileNames.ForLayer(layerUnits.Layer)}-overview.png");
            ImageFile.Write(overviewPath, PatchViews.Grid(overviewTiles, 1));
            files.Add(overviewPath);
            layers.Add(new TopKIndexLayer(layerUnits.Layer, field, WhatPatchesShow(field), Path.GetRelativePath(folder, overviewPath), unitEntries));
        }
        var index = new TopKIndex(model, images.Source, images.Count, units.Count == 0 ? 0 : units[0].K, layers);
        string indexPath = Path.Combine(folder, IndexFile);
        AtomicFile.WriteAllText(indexPath, JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        files.Add(indexPath);
        return (index, files);
    }

    /// <summary>What a layer's patches show, in words.</summary>
    internal static string WhatPatchesShow(ReceptiveField field) =>
        field.Spatial ? "the receptive field of the peak position" : "the whole image (the layer has no spatial extent)";

    /// <summary>The scale at which a unit view (<see cref="PatchViews.UnitView"/>) draws patches of this size: about 56 pixels.</summary>
    internal static int ViewScale(Image8 patch) => Montage.ScaleFor(patch.Height, patch.Width, 56);

    /// <summary>
    /// For each of <paramref name="channels"/> of one mined layer, in that order: its entries (best first), the
    /// receptive-field patch of each entry's image and the same patch of its deconvnet projection (the
    /// Toolbox's Raw display). The projections are computed in batches of <paramref name="batchSize"/> entries.
    /// </summary>
    internal static IReadOnlyList<UnitPatches> Patches(Network network, Preprocessing preprocessing, LabeledImages images, TopUnits layerUnits,
        IReadOnlyList<int> channels, ReceptiveField field, int batchSize, IProgress<TopKViewProgress>? progress, CancellationToken cancellation)
    {
        var backend = network.Parameters.First().Value.Backend;
        var items = channels.SelectMany(c => layerUnits.Of(c).Select(e => (Channel: c, Entry: e))).ToArray();
        progress?.Report(new TopKViewProgress(layerUnits.Layer, 0, items.Length));
        var projections = TopKProjections.Compute(network, preprocessing, images, layerUnits.Layer, items, batchSize,
            progress is null ? null : new Relay<ProjectionProgress>(p => progress.Report(new TopKViewProgress(layerUnits.Layer, p.Done, p.Total))), cancellation);
        var units = new List<UnitPatches>(channels.Count);
        int item = 0;
        foreach (int channel in channels)
        {
            var entries = layerUnits.Of(channel);
            var patches = new List<Image8>();
            var deconvolutions = new List<Image8>();
            foreach (var entry in entries)
            {
                patches.Add(PatchViews.Patch(images.ToImage(entry.Image), field, entry));
                var projection = Attribution.Render(projections[item++], preprocessing, GradientDisplay.Raw, backend, 0);
                deconvolutions.Add(PatchViews.Patch(projection, field, entry));
            }
            units.Add(new UnitPatches(channel, entries, patches, deconvolutions));
        }
        return units;
    }

    /// <summary>Passes the projections' reports on as the views', on the same thread.</summary>
    private sealed class Relay<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
