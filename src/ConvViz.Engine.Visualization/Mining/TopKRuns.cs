using System.Diagnostics;
using ConvViz.Engine.Data;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Mining;

/// <summary>
/// What a top-k run mines: <see cref="Layers"/> (null: the ReLU after the last convolution), <see cref="K"/> images
/// per unit, <see cref="BatchSize"/> images per forward pass; <see cref="Resume"/> continues the interrupted run in
/// the output folder (with the same settings), and <see cref="StopAfter"/> stops the pass, resumably, once that
/// many images are processed in all.
/// </summary>
public sealed record TopKOptions
{
    public IReadOnlyList<string>? Layers { get; init; }
    public int K { get; init; } = 9;
    public int BatchSize { get; init; } = 100;
    public bool Resume { get; init; }
    public int? StopAfter { get; init; }
}

/// <summary>Progress of a top-k run; one of the records below.</summary>
public abstract record TopKRunProgress;

/// <summary>Before the pass: <paramref name="Processed"/> of <paramref name="Images"/> are already mined (a resume).</summary>
public sealed record TopKPassStarted(int Processed, int Images) : TopKRunProgress;

/// <summary>After each batch of the mining pass.</summary>
public sealed record TopKPassBatch(TopKProgress Report) : TopKRunProgress;

/// <summary>After each batch of a layer's deconvnet projections.</summary>
public sealed record TopKViewBatch(TopKViewProgress Report) : TopKRunProgress;

/// <summary>
/// A top-k run as it ended: the pass's <see cref="State"/> (saved at <see cref="StatePath"/> when
/// <see cref="StateSaved"/>), and once the pass is complete the index and every file written (the index last).
/// An incomplete pass was cancelled or stopped by <see cref="TopKOptions.StopAfter"/>.
/// </summary>
public sealed record TopKRun(TopKState State, IReadOnlyList<TopUnits> Units, string StatePath, bool StateSaved, TopKIndex? Index, IReadOnlyList<string> Files)
{
    public int UnitCount => Units.Sum(u => u.Channels);
}

/// <summary>
/// A whole top-k run into outputs.Folder: the streaming pass (<see cref="TopKMining"/>, its state saved
/// after every batch as state.json, resumed from it), then the views (<see cref="TopKViews"/>); the card
/// gets the settings, timings, files and unit count. Cancelled, the pass stops at a batch boundary with
/// its state saved and the run returns incomplete; the views are written only from a complete pass.
/// </summary>
public static class TopKRuns
{
    public const string StateFile = "state.json";

    /// <summary>The most projection values (every unit's k images, held together while rendered) one run may hold: 1 GiB of floats.</summary>
    public const long MaxProjectionValues = 1L << 28;

    public static TopKRun Run(ModelBundle bundle, LabeledImages images, TopKOptions options, RunOutputs outputs,
        IProgress<TopKRunProgress>? progress = null, CancellationToken cancellation = default)
    {
        string folder = outputs.Folder, statePath = Path.Combine(folder, StateFile);
        if (!options.Resume && File.Exists(statePath))
            throw new ArgumentException(File.Exists(Path.Combine(folder, TopKViews.IndexFile))
                ? $"{folder} already holds a finished top-k run; choose another output folder (or {nameof(TopKOptions.Resume)} to render it again)"
                : $"{folder} already holds an interrupted top-k run; continue it with {nameof(TopKOptions.Resume)}, or choose another output folder", nameof(TopKOptions.Resume));
        if (options.Resume && !File.Exists(statePath))
            throw new ArgumentException($"{nameof(TopKOptions.Resume)}: {statePath} does not exist; there is no interrupted top-k run in {outputs.Root}", nameof(TopKOptions.Resume));

        var network = bundle.Network;
        outputs.RequireFont();
        ImageBatches.CheckFits(network, bundle.Preprocessing, images, bundle.Classes.Count);
        string[] layers = options.Layers is { } given ? [.. given] : [LayerRoles.LastSpatialRectifier(network)];
        foreach (var name in layers) network.IndexOf(name);
        long units = layers.Sum(name => (long)network.OutputShape(name, 1)[1]);
        long projectionValues = units * options.K * network.SampleShape.ElementCount;
        if (projectionValues > MaxProjectionValues)
            throw new ArgumentOutOfRangeException(nameof(TopKOptions.K), options.K, $"{nameof(TopKOptions.K)} {options.K} for the {units:N0} units of {string.Join(", ", layers)} " +
                $"makes {projectionValues:N0} projection values, more than the {MaxProjectionValues:N0} (1 GiB) one run may hold; give a smaller {nameof(TopKOptions.K)} or fewer {nameof(TopKOptions.Layers)}");
        var asked = new TopKState { Model = bundle.Source, Data = images.Source, Images = images.Count, K = options.K, Layers = layers };
        var state = asked;
        if (options.Resume)
        {
            state = TopKState.Load(statePath);
            state.RequireSame(asked);
        }

        var card = outputs.Card;
        card.Parameters["layers"] = layers;
        card.Parameters["k"] = options.K;
        card.Parameters["images"] = images.Count;
        card.Parameters["batch"] = options.BatchSize;
        var clock = Stopwatch.StartNew();
        progress?.Report(new TopKPassStarted(state.Processed, state.Images));
        var mined = TopKMining.Run(network, bundle.Preprocessing, images, state, options.BatchSize, statePath,
            progress is null ? null : new ProgressAction<TopKProgress>(p => progress.Report(new TopKPassBatch(p))), options.StopAfter, cancellation);
        card.TimingsMs["pass"] = clock.Elapsed.TotalMilliseconds;
        if (!state.Complete) return new TopKRun(state, mined, statePath, File.Exists(statePath), null, []);

        clock.Restart();
        var (index, files) = TopKViews.Write(bundle, images, mined, options.BatchSize, folder, outputs.Labels,
            progress is null ? null : new ProgressAction<TopKViewProgress>(p => progress.Report(new TopKViewBatch(p))), cancellation);
        card.TimingsMs["projections and images"] = clock.Elapsed.TotalMilliseconds;
        foreach (string file in files) card.Outputs.Add(Path.GetRelativePath(outputs.Root, file));
        card.Results["units"] = mined.Sum(u => u.Channels);
        return new TopKRun(state, mined, statePath, true, index, files);
    }
}
