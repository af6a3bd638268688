using System.Diagnostics;
using System.Globalization;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Mining;

/// <summary>
/// What an atlas covers: <see cref="Layers"/> (null: the ReLU after the last convolution) and of each the units of
/// <see cref="LayerUnits"/>, else of <see cref="Units"/>, else all; <see cref="K"/> top images per unit from one pass of
/// <see cref="BatchSize"/> images per forward; each unit's image optimized with the paper's <see cref="Preset"/> (its
/// steps, or <see cref="Iterations"/>), <see cref="OptimizationBatch"/> units at a time. <see cref="Resume"/> continues the
/// interrupted atlas in the output folder, with the same settings.
/// </summary>
public sealed record AtlasOptions
{
    public IReadOnlyList<string>? Layers { get; init; }
    public IReadOnlyList<int>? Units { get; init; }
    public IReadOnlyDictionary<string, IReadOnlyList<int>>? LayerUnits { get; init; }
    public int K { get; init; } = 9;
    public int BatchSize { get; init; } = 100;
    public int Preset { get; init; } = 3;
    public int? Iterations { get; init; }
    public int OptimizationBatch { get; init; } = 16;
    public bool Resume { get; init; }
}

/// <summary>Progress of an atlas run; one of the records below.</summary>
public abstract record AtlasProgress;

/// <summary>Before any work: <paramref name="ImagesMined"/> of <paramref name="Images"/> images and <paramref name="UnitsOptimized"/> of
/// <paramref name="Units"/> units are already done (a resume); each unit's optimization takes <paramref name="Iterations"/> steps.</summary>
public sealed record AtlasStarted(int Images, int ImagesMined, int Units, int UnitsOptimized, int Iterations) : AtlasProgress;

/// <summary>After each batch of the top-k pass.</summary>
public sealed record AtlasMiningBatch(TopKProgress Report) : AtlasProgress;

/// <summary>After each batch of a layer's deconvnet projections.</summary>
public sealed record AtlasPatchBatch(TopKViewProgress Report) : AtlasProgress;

/// <summary>After each step of the optimization of <paramref name="Units"/> of <paramref name="Layer"/> (one batch):
/// step <paramref name="Iteration"/> from 0 of <paramref name="Iterations"/>, their mean objective; <paramref name="UnitsDone"/>
/// units of the atlas were optimized before this batch.</summary>
public sealed record AtlasOptimizeStep(string Layer, IReadOnlyList<int> Units, int Iteration, int Iterations, float Objective, int UnitsDone) : AtlasProgress;

/// <summary>
/// An atlas run as it ended, in <see cref="Folder"/>: images mined and units optimized out of all; once complete its
/// manifest (<see cref="Atlas.ManifestFile"/>) and index page. An incomplete run was cancelled; its state is saved at
/// <see cref="StatePath"/> for a resume.
/// </summary>
public sealed record AtlasRun(string Folder, string StatePath, int Images, int ImagesMined, int Units, int UnitsOptimized, string? Manifest, string? Index)
{
    public bool Complete => Manifest is not null;
}

/// <summary>
/// `convviz atlas`: for every chosen unit, its top-k dataset patches with their deconvnet projections (the top-k
/// machinery: <see cref="TopKMining"/>, <see cref="TopKViews"/>) and its optimized image (<see cref="OptimizationRuns.Units"/>),
/// then a static page per layer, a page per unit, an index page and the manifest <see cref="Atlas"/> reads. The folder:
/// <code>
/// atlas.json                                  the manifest (written last)
/// index.html                                  the layers
/// state.json, mining.json                     what is done (for a resume) and the top-k pass's state
/// layers/&lt;layer&gt;/index.html                   every unit: its optimized image beside its best patch
/// layers/&lt;layer&gt;/unit-C.html                  the unit: k patches, their deconvolutions, values and sources; its optimized image
/// layers/&lt;layer&gt;/unit-C/patch-i.png, deconv-i.png   the i-th best patch (from 0) and its deconvolution, at the image's resolution
/// layers/&lt;layer&gt;/optimized/                   the optimized images (and a montage per batch), as optimize names them
/// </code>
/// The run saves what it has done after each mining batch, each layer's patches and each optimization batch; cancelled
/// (or killed), it resumes there, and units already optimized are not redone. Every unit's optimization is independent
/// of its batch (<see cref="ActivationMaximization.RunBatch"/>), so a resumed atlas equals an uninterrupted one.
/// </summary>
public static class AtlasRuns
{
    public const string StateFile = "state.json", MiningStateFile = "mining.json", IndexPage = "index.html", LayersFolder = "layers";

    public static AtlasRun Run(ModelBundle bundle, LabeledImages images, AtlasOptions options, RunOutputs outputs,
        IProgress<AtlasProgress>? progress = null, CancellationToken cancellation = default)
    {
        string folder = outputs.Folder, statePath = Path.Combine(folder, StateFile), miningPath = Path.Combine(folder, MiningStateFile);
        if (!options.Resume && File.Exists(statePath))
            throw new ArgumentException(File.Exists(Path.Combine(folder, Atlas.ManifestFile))
                ? $"{folder} already holds a finished atlas; choose another output folder (or {nameof(AtlasOptions.Resume)} to write its pages again)"
                : $"{folder} already holds an interrupted atlas; continue it with {nameof(AtlasOptions.Resume)}, or choose another output folder", nameof(AtlasOptions.Resume));
        if (options.Resume && !File.Exists(statePath))
            throw new ArgumentException($"{nameof(AtlasOptions.Resume)}: {outputs.Root} holds no atlas to continue ({statePath} does not exist)", nameof(AtlasOptions.Resume));

        var network = bundle.Network;
        var p = bundle.Preprocessing;
        ImageBatches.CheckFits(network, p, images, bundle.Classes.Count);
        string[] layers = options.Layers is { } given ? [.. given] : [LayerRoles.LastSpatialRectifier(network)];
        var askedMining = new TopKState { Model = bundle.Source, Data = images.Source, Images = images.Count, K = options.K, Layers = layers };
        if (options.K < 1) throw new ArgumentOutOfRangeException(nameof(AtlasOptions.K), options.K, $"{nameof(AtlasOptions.K)} {options.K} must be at least 1");
        TopKMining.Validate(network, images, askedMining, options.BatchSize);
        if (options.OptimizationBatch < 1)
            throw new ArgumentOutOfRangeException(nameof(AtlasOptions.OptimizationBatch), options.OptimizationBatch, $"{nameof(AtlasOptions.OptimizationBatch)} {options.OptimizationBatch} must be at least 1");
        if (layers.GroupBy(FileNames.ForLayer).FirstOrDefault(g => g.Count() > 1) is { } clash)
            throw new ArgumentException($"{nameof(AtlasOptions.Layers)} {string.Join(", ", clash)} would share the folder {LayerPath(clash.First())}; give one of them", nameof(AtlasOptions.Layers));
        var units = ChosenUnits(network, layers, options);
        long projectionValues = units.Values.Max(u => (long)u.Length) * options.K * network.SampleShape.ElementCount;
        if (projectionValues > TopKRuns.MaxProjectionValues)
            throw new ArgumentOutOfRangeException(nameof(AtlasOptions.K), options.K, $"{nameof(AtlasOptions.K)} {options.K} for the units of one layer makes {projectionValues:N0} " +
                $"projection values, more than the {TopKRuns.MaxProjectionValues:N0} (1 GiB) one layer may hold; give a smaller {nameof(AtlasOptions.K)} or fewer {nameof(AtlasOptions.Units)}");
        var optimization = OptimizationOptions.Preset(options.Preset).AdaptedTo(p);
        if (options.Iterations is { } iterations) optimization = optimization with { Iterations = iterations };
        optimization.Validate();

        var asked = new AtlasState
        {
            Model = bundle.Source, Data = images.Source, Images = images.Count, K = options.K, Layers = layers, Units = units, Preset = options.Preset, Optimization = optimization,
        };
        var state = asked;
        if (options.Resume)
        {
            state = AtlasState.Load(statePath);
            state.RequireSame(asked);
        }
        Directory.CreateDirectory(folder);
        state.Save(statePath);

        var card = outputs.Card;
        card.Parameters["layers"] = layers;
        card.Parameters["units"] = layers.ToDictionary(l => l, l => OptimizationRuns.Ranges(units[l]));
        card.Parameters["k"] = options.K;
        card.Parameters["images"] = images.Count;
        card.Parameters["batch"] = options.BatchSize;
        card.Parameters["preset"] = options.Preset;
        card.Parameters["optimization"] = optimization;
        card.Parameters["optimizationBatch"] = options.OptimizationBatch;
        var mining = File.Exists(miningPath) ? TopKState.Load(miningPath) : askedMining;
        mining.RequireSame(askedMining);
        int unitCount = units.Values.Sum(u => u.Length);
        progress?.Report(new AtlasStarted(images.Count, mining.Processed, unitCount, state.OptimizedCount, optimization.Iterations));
        AtlasRun Incomplete() => new(folder, statePath, images.Count, mining.Processed, unitCount, state.OptimizedCount, null, null);

        var clock = Stopwatch.StartNew();
        var mined = TopKMining.Run(network, p, images, mining, options.BatchSize, miningPath,
            progress is null ? null : new ProgressAction<TopKProgress>(r => progress.Report(new AtlasMiningBatch(r))), cancellation: cancellation);
        card.TimingsMs["pass"] = clock.Elapsed.TotalMilliseconds;
        if (!mining.Complete) return Incomplete();

        var fields = ReceptiveFields.Of(network);
        try
        {
            clock.Restart();
            foreach (var layerUnits in mined.Where(m => !state.PatchedLayers.Contains(m.Layer)))
            {
                WritePatches(TopKViews.Patches(network, p, images, layerUnits, units[layerUnits.Layer], fields[network.IndexOf(layerUnits.Layer)], options.BatchSize,
                    progress is null ? null : new ProgressAction<TopKViewProgress>(r => progress.Report(new AtlasPatchBatch(r))), cancellation), folder, layerUnits.Layer);
                state.PatchedLayers.Add(layerUnits.Layer);
                state.Save(statePath);
            }
            card.TimingsMs["projections and patches"] = clock.Elapsed.TotalMilliseconds;

            clock.Restart();
            foreach (string layer in layers)
                Optimize(bundle, layer, units[layer], options, optimization, state, statePath, outputs, progress, cancellation);
            card.TimingsMs["optimize"] = clock.Elapsed.TotalMilliseconds;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return Incomplete();
        }

        clock.Restart();
        var manifest = AtlasManifest.Of(bundle, images, state, mined, fields);
        var files = AtlasPages.Write(manifest, folder);
        string manifestPath = Path.Combine(folder, Atlas.ManifestFile);
        manifest.Save(manifestPath);
        card.TimingsMs["pages"] = clock.Elapsed.TotalMilliseconds;
        foreach (string file in manifest.Files(folder).Concat(files).Append(manifestPath))
            card.Outputs.Add(Path.GetRelativePath(outputs.Root, file));
        card.Results["units"] = unitCount;
        card.Results["optimized"] = manifest.Layers.ToDictionary(l => l.Name, l => l.Units.Select(u => new { unit = u.Unit, bestObjective = u.BestObjective }).ToArray());
        return new AtlasRun(folder, statePath, images.Count, mining.Processed, unitCount, state.OptimizedCount, manifestPath, Path.Combine(folder, IndexPage));
    }

    /// <summary>Where a layer's files go, relative to the atlas folder, with '/' as in a page's links.</summary>
    internal static string LayerPath(string layer) => $"{LayersFolder}/{FileNames.ForLayer(layer)}";

    internal static string PatchPath(string layer, int unit, int rank) => $"{LayerPath(layer)}/unit-{unit}/patch-{rank}.png";

    internal static string DeconvPath(string layer, int unit, int rank) => $"{LayerPath(layer)}/unit-{unit}/deconv-{rank}.png";

    /// <summary>
    /// The layer a unit of <paramref name="layer"/> is optimized at: a rectifier's input (conv5 for relu5), else the layer
    /// itself. From the mean-plus-noise start a rectified unit is 0 and the ReLU passes no gradient, so most of relu5's
    /// units would never move; the Deep Visualization Toolbox's optimizer likewise starts its backward pass at the
    /// convolution below Caffe's in-place ReLU. The rectifier is elementwise, so channel C there is channel C here.
    /// </summary>
    internal static string OptimizedLayer(Network network, string layer)
    {
        int index = network.IndexOf(layer);
        return LayerRoles.IsRectifier(network.Layers[index]) && network.InputsOf(index)[0] is >= 0 and var input ? network.Layers[input].Name : layer;
    }

    /// <summary>Each layer's units, validated: <see cref="AtlasOptions.LayerUnits"/>, else <see cref="AtlasOptions.Units"/>, else all.</summary>
    private static Dictionary<string, int[]> ChosenUnits(Network network, string[] layers, AtlasOptions options)
    {
        if (options.LayerUnits?.Keys.FirstOrDefault(l => !layers.Contains(l)) is { } stray)
            throw new ArgumentException($"{nameof(AtlasOptions.Units)} names layer '{stray}', which is not among the {nameof(AtlasOptions.Layers)} {string.Join(", ", layers)}", nameof(AtlasOptions.Units));
        var chosen = new Dictionary<string, int[]>();
        foreach (string layer in layers)
        {
            int channels = network.OutputShape(layer, 1)[1];
            var given = options.LayerUnits?.GetValueOrDefault(layer) ?? options.Units;
            if (given is null)
            {
                chosen[layer] = Enumerable.Range(0, channels).ToArray();
                continue;
            }
            if (given.Count == 0) throw new ArgumentException($"{nameof(AtlasOptions.Units)} names no unit of layer '{layer}'; give at least one", nameof(AtlasOptions.Units));
            foreach (int unit in given)
                if (unit < 0 || unit >= channels)
                    throw new ArgumentOutOfRangeException(nameof(AtlasOptions.Units), unit,
                        $"{nameof(AtlasOptions.Units)}: unit {unit} is out of range for layer '{layer}', which has {channels} units (0 to {channels - 1})");
            if (given.Distinct().Count() != given.Count)
                throw new ArgumentException($"{nameof(AtlasOptions.Units)} names a unit of layer '{layer}' twice", nameof(AtlasOptions.Units));
            chosen[layer] = [.. given];
        }
        return chosen;
    }

    /// <summary>Writes each unit's patches and deconvolutions as layers/&lt;layer&gt;/unit-C/patch-i.png and deconv-i.png.</summary>
    private static void WritePatches(IReadOnlyList<UnitPatches> units, string folder, string layer)
    {
        foreach (var unit in units)
        {
            Directory.CreateDirectory(Path.Combine(folder, Path.GetDirectoryName(PatchPath(layer, unit.Channel, 0))!));
            for (int rank = 0; rank < unit.Patches.Count; rank++)
            {
                ImageFile.Write(Path.Combine(folder, PatchPath(layer, unit.Channel, rank)), unit.Patches[rank]);
                ImageFile.Write(Path.Combine(folder, DeconvPath(layer, unit.Channel, rank)), unit.Deconvolutions[rank]);
            }
        }
    }

    /// <summary>Optimizes the units of <paramref name="layer"/> not yet done, a batch at a time, saving the state after each batch.</summary>
    private static void Optimize(ModelBundle bundle, string layer, int[] units, AtlasOptions options, OptimizationOptions optimization, AtlasState state, string statePath,
        RunOutputs outputs, IProgress<AtlasProgress>? progress, CancellationToken cancellation)
    {
        var done = state.Optimized.TryGetValue(layer, out var list) ? list : state.Optimized[layer] = [];
        string target = OptimizedLayer(bundle.Network, layer);
        string optimizedFolder = Path.Combine(outputs.Folder, LayerPath(layer), "optimized");
        Directory.CreateDirectory(optimizedFolder);
        string settings = OptimizationRuns.SettingsStem(options.Preset, optimization, bundle.Preprocessing);
        foreach (var batch in units.Where(u => done.All(d => d.Unit != u)).Chunk(options.OptimizationBatch))
        {
            int unitsDone = state.OptimizedCount;
            // Each batch's own card: OptimizationRuns records its timing and objectives there; the atlas's card gets the atlas's.
            var batchOutputs = new RunOutputs(new ExperimentCard("optimize", bundle.Source, "mean plus noise"), outputs.Root, optimizedFolder);
            var (results, _) = OptimizationRuns.Units(bundle, batch.Select(u => new Target(target, u)).ToArray(), options.Preset, optimization, batch.Length, null, batchOutputs,
                progress is null ? null : new ProgressAction<OptimizationRunProgress>(r =>
                    progress.Report(new AtlasOptimizeStep(layer, batch, r.Iteration, r.Iterations, r.Objective, unitsDone))), cancellation);
            foreach (var result in results)
                done.Add(new OptimizedUnit(result.Target.Channel, $"{LayerPath(layer)}/optimized/{RunOutputs.TargetStem(result.Target)}{settings}-best.png",
                    target, result.BestObjective, result.BestIteration));
            state.Save(statePath);
        }
    }

    /// <summary>"image 123, label 4 (Coat), peak at y 2, x 3 of its map: input rows -18 to 24, columns -14 to 28" (or "the whole image").</summary>
    internal static string Source(TopEntry entry, int label, IReadOnlyList<string> classes, ReceptiveField field)
    {
        string what = string.Create(CultureInfo.InvariantCulture, $"image {entry.Image}, label {label}{(label < classes.Count ? $" ({classes[label]})" : "")}");
        if (!field.Spatial) return $"{what}, the whole image";
        int top = field.Vertical.First + entry.Y * field.Vertical.Stride, left = field.Horizontal.First + entry.X * field.Horizontal.Stride;
        return string.Create(CultureInfo.InvariantCulture,
            $"{what}, peak at y {entry.Y}, x {entry.X} of its map: input rows {top} to {top + field.Vertical.Size - 1}, columns {left} to {left + field.Horizontal.Size - 1}");
    }
}
