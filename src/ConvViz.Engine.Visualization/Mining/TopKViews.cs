using System.Text.Json;
using System.Globalization;
using ConvViz.Engine.Data;
using ConvViz.Engine.Figures;
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

/// <summary>One mined layer in the index: its receptive field, what the patches show, its overview image (the first page of
/// <paramref name="OverviewPages"/>: a layer with more units than a page holds has several) and its units.</summary>
public sealed record TopKIndexLayer(string Name, ReceptiveField ReceptiveField, string Patches, string Overview, IReadOnlyList<string> OverviewPages,
    IReadOnlyList<TopKIndexUnit> Units);

/// <summary>What a top-k run found, as FOLDER/index.json lists it.</summary>
public sealed record TopKIndex(string Model, string Data, int Images, int K, IReadOnlyList<TopKIndexLayer> Layers);

/// <summary>
/// The views of a finished top-k pass (<see cref="TopKMining"/>), as the Deep Visualization Toolbox
/// shows them: per unit FOLDER/&lt;layer&gt;/unit-C.png, its k receptive-field patches (each labelled with the
/// unit's peak value on it) beside their deconvnet projections (each labelled with its image's number), under a
/// title naming the layer and unit (its class on a class-score layer); per layer FOLDER/&lt;layer&gt;-overview.png,
/// every unit's patches, one numbered tile per unit, 256 units a page (&lt;layer&gt;-overview-page2.png, ...); and
/// FOLDER/index.json listing them. Without labels the same pictures carry no text.
/// </summary>
public static class TopKViews
{
    public const string IndexFile = "index.json";

    /// <summary>The deconvnet projections (in batches of <paramref name="batchSize"/> entries) and the views of
    /// <paramref name="units"/>, with text when <paramref name="labels"/>; returns the index and every file written, the index last.</summary>
    public static (TopKIndex Index, IReadOnlyList<string> Files) Write(ModelBundle bundle, LabeledImages images, IReadOnlyList<TopUnits> units,
        int batchSize, string folder, bool labels = true, IProgress<TopKViewProgress>? progress = null, CancellationToken cancellation = default)
    {
        var (network, preprocessing) = (bundle.Network, bundle.Preprocessing);
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
                ImageFile.Write(unitPath, UnitFigure(bundle, layerUnits.Layer, unit, images.Count, scale, labels));
                files.Add(unitPath);
                overviewTiles.Add(PatchViews.Grid(unit.Patches, 1));
                unitEntries.Add(new TopKIndexUnit(unit.Channel, Path.GetRelativePath(folder, unitPath),
                    unit.Entries.Select(e => new TopKIndexEntry(e.Image, images.Label(e.Image), e.Value, e.Y, e.X)).ToArray()));
            }
            var overviewPages = new List<string>();
            foreach (var page in OverviewFigures(bundle, layerUnits.Layer, overviewTiles, layerUnits.K, labels))
            {
                overviewPages.Add(Path.Combine(folder, GridPages.FileName($"{FileNames.ForLayer(layerUnits.Layer)}-overview", overviewPages.Count)));
                ImageFile.Write(overviewPages[^1], page);
            }
            files.AddRange(overviewPages);
            layers.Add(new TopKIndexLayer(layerUnits.Layer, field, WhatPatchesShow(field), Path.GetRelativePath(folder, overviewPages[0]),
                overviewPages.Select(p => Path.GetRelativePath(folder, p)).ToArray(), unitEntries));
        }
        var index = new TopKIndex(bundle.Source, images.Source, images.Count, units.Count == 0 ? 0 : units[0].K, layers);
        string indexPath = Path.Combine(folder, IndexFile);
        AtomicFile.WriteAllText(indexPath, JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        files.Add(indexPath);
        return (index, files);
    }

    /// <summary>
    /// A unit's view: its patches (labelled with the unit's peak value) beside their deconvnet projections (labelled
    /// with the image's number), under a title with the layer and unit; without labels the two grids alone.
    /// </summary>
    internal static Image8 UnitFigure(ModelBundle bundle, string layer, UnitPatches unit, int images, int scale, bool labels)
    {
        int columns = (int)Math.Ceiling(Math.Sqrt(unit.Patches.Count));
        var patches = new TileGrid(unit.Patches, scale, columns) { Labels = labels ? unit.Entries.Select(e => FigureText.Number(e.Value)).ToArray() : null };
        var projections = new TileGrid(unit.Deconvolutions, scale, columns) { Labels = labels ? unit.Entries.Select(e => Invariant($"#{e.Image}")).ToArray() : null };
        var view = Compose.SideBySide(patches.Draw(), projections.Draw(), 4 * scale);
        if (!labels) return view;
        string name = UnitNames.Describe(bundle, new Target(layer, unit.Channel));
        return Compose.Above(view, Invariant($"{name}: its top {unit.Entries.Count} of {images:N0} images") +
                                   "\nleft: the receptive field at the peak, with the peak value; right: its deconvnet projection, with the image's number");
    }

    /// <summary>One tile per unit (the grid of its top patches), numbered or named by class, <see cref="GridPages.MaxTilesPerPage"/> units a page.</summary>
    internal static IReadOnlyList<Image8> OverviewFigures(ModelBundle bundle, string layer, IReadOnlyList<Image8> unitTiles, int k, bool labels)
    {
        var names = UnitNames.ClassesOf(bundle, layer);
        int scale = Montage.ScaleFor(unitTiles[0].Height, unitTiles[0].Width, 64), columns = GridPages.Columns(unitTiles.Count);
        var pages = GridPages.Split(unitTiles.Count);
        return pages.Select((page, p) => new TileGrid(unitTiles.Skip(page.First).Take(page.Count).ToArray(), scale, columns)
        {
            Labels = labels ? Enumerable.Range(page.First, page.Count).Select(u => names?[u] ?? Invariant($"{u}")).ToArray() : null,
            Title = labels ? Invariant($"{layer}: the top {k} patches of each of its {unitTiles.Count} units, strongest first") +
                             (pages.Count == 1 ? "" : Invariant($"; units {page.First}-{page.First + page.Count - 1} (page {p + 1} of {pages.Count})")) : null,
        }.Draw()).ToArray();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

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
            progress is null ? null : new ProgressAction<ProjectionProgress>(p => progress.Report(new TopKViewProgress(layerUnits.Layer, p.Done, p.Total))), cancellation);
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
}
