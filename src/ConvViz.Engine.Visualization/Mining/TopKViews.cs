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
        var backend = network.Parameters.First().Value.Backend;
        var fields = ReceptiveFields.Of(network);
        var files = new List<string>();
        var layers = new List<TopKIndexLayer>();
        foreach (var layerUnits in units)
        {
            var field = fields[network.IndexOf(layerUnits.Layer)];
            var items = Enumerable.Range(0, layerUnits.Channels).SelectMany(c => layerUnits.Of(c).Select(e => (Channel: c, Entry: e))).ToArray();
            progress?.Report(new TopKViewProgress(layerUnits.Layer, 0, items.Length));
            var projections = TopKProjections.Compute(network, preprocessing, images, layerUnits.Layer, items, batchSize,
                progress is null ? null : new Relay<ProjectionProgress>(p => progress.Report(new TopKViewProgress(layerUnits.Layer, p.Done, p.Total))), cancellation);

            string layerFolder = Path.Combine(folder, FileNames.ForLayer(layerUnits.Layer));
            Directory.CreateDirectory(layerFolder);
            var overviewTiles = new List<Image8>();
            var unitEntries = new List<TopKIndexUnit>();
            int scale = 0;
            for (int c = 0, item = 0; c < layerUnits.Channels; c++)
            {
                var entries = layerUnits.Of(c);
                var patches = new List<Image8>();
                var deconvolutions = new List<Image8>();
                foreach (var entry in entries)
                {
                    patches.Add(PatchViews.Patch(images.ToImage(entry.Image), field, entry));
                    var projection = Attribution.Render(projections[item++], preprocessing, GradientDisplay.Raw, backend, 0);
                    deconvolutions.Add(PatchViews.Patch(projection, field, entry));
                }
                if (scale == 0) scale = Montage.ScaleFor(patches[0].Height, patches[0].Width, 56);
                string unitPath = Path.Combine(layerFolder, $"unit-{c}.png");
                ImageFile.Write(unitPath, PatchViews.UnitView(patches, deconvolutions, scale));
                files.Add(unitPath);
                overviewTiles.Add(PatchViews.Grid(patches, 1));
                unitEntries.Add(new TopKIndexUnit(c, Path.GetRelativePath(folder, unitPath),
                    entries.Select(e => new TopKIndexEntry(e.Image, images.Label(e.Image), e.Value, e.Y, e.X)).ToArray()));
            }
            string overviewPath = Path.Combine(folder, $"{FileNames.ForLayer(layerUnits.Layer)}-overview.png");
            ImageFile.Write(overviewPath, PatchViews.Grid(overviewTiles, 1));
            files.Add(overviewPath);
            layers.Add(new TopKIndexLayer(layerUnits.Layer, field,
                field.Spatial ? "the receptive field of the peak position" : "the whole image (the layer has no spatial extent)",
                Path.GetRelativePath(folder, overviewPath), unitEntries));
        }
        var index = new TopKIndex(model, images.Source, images.Count, units.Count == 0 ? 0 : units[0].K, layers);
        string indexPath = Path.Combine(folder, IndexFile);
        AtomicFile.WriteAllText(indexPath, JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        files.Add(indexPath);
        return (index, files);
    }

    /// <summary>Passes the projections' reports on as the views', on the same thread.</summary>
    private sealed class Relay<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
