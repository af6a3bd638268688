using System.Diagnostics;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Toolbox;

/// <summary>The back pane's backward pass: none, or one of the three ReLU rules (saliency, deconvnet, guided backprop).</summary>
public enum BackMode { Off, Gradient, Deconvnet, Guided }

/// <summary>What one viewer of the live toolbox has selected: a layer, a unit (channel) of it, the back pane's mode and
/// display, and whether the layer grid is boosted (each tile stretched to its own range, then gamma 0.5).</summary>
public sealed record ToolboxSelection
{
    public required string Layer { get; init; }
    public int Unit { get; init; }
    public BackMode Back { get; init; } = BackMode.Gradient;
    public GradientDisplay Display { get; init; } = GradientDisplay.Raw;
    public bool Boost { get; init; }
}

/// <summary>A layer as the toolbox shows it: its output per sample is (Channels, Height, Width); 1 x 1 for a fully connected layer.</summary>
public sealed record ToolboxLayer(string Name, string OpType, int Channels, int Height, int Width);

/// <summary>What the page needs to know about the model: input size, the layers it can show (in order), class names
/// (empty without a classifier), how many samples the bundle brings, and the layer selected at start.</summary>
public sealed record ToolboxModel(string Source, int InputChannels, int InputHeight, int InputWidth, IReadOnlyList<ToolboxLayer> Layers,
    IReadOnlyList<string> Classes, int SampleCount, string DefaultLayer);

/// <summary>Where tile i of a grid image lies: column i % Columns, row i / Columns, its top-left corner at
/// (Gap + column * (TileWidth * Scale + Gap), Gap + row * (TileHeight * Scale + Gap)), TileWidth * Scale pixels wide.</summary>
public sealed record GridLayout(int Count, int Columns, int Rows, int TileWidth, int TileHeight, int Scale, int Gap);

/// <summary>One line of the top-k class readout.</summary>
public sealed record ClassReadout(int Index, string Name, float Probability);

/// <summary>Milliseconds spent in each engine stage of one frame: forward (resize, crop, preprocessing and the forward
/// pass, with the class scores and the selected layer read back), backward (the pass of the back pane or the trace; 0 without
/// either) and render (the grid, unit and back panes).</summary>
public sealed record ToolboxTimings(double ForwardMs, double BackwardMs, double RenderMs);

/// <summary>The panes of one frame. <see cref="Input"/> is the frame as the model sees it (after resize and crop, model size);
/// <see cref="LayerGrid"/> shows every channel of the selected layer (<see cref="Layout"/> maps tiles to channels);
/// <see cref="Unit"/> is the selected channel enlarged; <see cref="UnitValue"/> its largest value over positions;
/// <see cref="Top"/> the top-5 classes (empty without classes); <see cref="Back"/> the back pane (null when Off).</summary>
public sealed record ToolboxFrame(Image8 Input, Image8 LayerGrid, GridLayout Layout, Image8 Unit, float UnitValue,
    IReadOnlyList<ClassReadout> Top, Image8? Back, ToolboxTimings Timings)
{
    /// <summary>The layer-by-layer backward pass of the selected unit, when the frame was run with a trace (null otherwise).</summary>
    public BackwardTrace? Trace { get; init; }
}

/// <summary>
/// The Deep Visualization Toolbox's live computation as a library call: one forward pass per frame, plus the backward
/// pass of the selected unit under the back mode's ReLU rule, rendered into panes. Not thread-safe: one caller at a time
/// (the network's backend is shared). The bundle stays the caller's: disposing the toolbox frees only its own buffers.
/// </summary>
public sealed class LiveToolbox : IDisposable
{
    /// <summary>The top-k of the class readout.</summary>
    internal const int TopClasses = 5;

    private readonly Network network;
    private readonly Backend backend;
    private readonly Dictionary<string, ToolboxLayer> layersByName;
    // The network input of the current frame, (1, C, H, W), reused from frame to frame.
    private readonly float[] inputValues;
    private readonly Tensor input;

    public LiveToolbox(ModelBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        Bundle = bundle;
        network = bundle.Network;
        backend = network.Parameters.FirstOrDefault()?.Value.Backend
            ?? throw new ArgumentException($"{bundle.Source}: the network has no parameters, so no backend to run on", nameof(bundle));
        var p = bundle.Preprocessing;
        var layers = ToolboxPanes.ShownLayers(network);
        layersByName = layers.ToDictionary(l => l.Name, StringComparer.Ordinal);
        string defaultLayer = LayerRoles.RectifiedConvolutions(network).Count > 0 ? LayerRoles.LastSpatialRectifier(network) : layers[^1].Name;
        Model = new ToolboxModel(bundle.Source, p.Channels, p.Height, p.Width, layers, bundle.Classes, bundle.SampleCount, defaultLayer);
        DefaultSelection = new ToolboxSelection { Layer = defaultLayer };
        inputValues = new float[network.InputShape(1).ElementCount];
        input = backend.Allocate(network.InputShape(1));
    }

    public ModelBundle Bundle { get; }
    public ToolboxModel Model { get; }

    /// <summary>The selection a new viewer starts with: the default layer, unit 0, gradient back pane, raw display.</summary>
    public ToolboxSelection DefaultSelection { get; }

    /// <summary>Throws <see cref="ArgumentException"/> (naming Layer or Unit and the valid range) unless the selection fits the model.</summary>
    public void Validate(ToolboxSelection selection)
    {
        ArgumentNullException.ThrowIfNull(selection);
        var layer = RequireLayer(selection.Layer);
        if (selection.Unit < 0 || selection.Unit >= layer.Channels)
        {
            string what = IsLogitLayer(layer.Name) && Bundle.HasClasses ? "classes" : "units";
            throw new ArgumentOutOfRangeException(nameof(ToolboxSelection.Unit),
                $"{nameof(ToolboxSelection.Unit)} {selection.Unit} is outside layer '{layer.Name}' with {layer.Channels} {what} (0 to {layer.Channels - 1})");
        }
        if (!Enum.IsDefined(selection.Back))
            throw new ArgumentException($"{nameof(ToolboxSelection.Back)} {(int)selection.Back} is not one of {string.Join(", ", Enum.GetNames<BackMode>())}", nameof(ToolboxSelection.Back));
        if (!Enum.IsDefined(selection.Display))
            throw new ArgumentException($"{nameof(ToolboxSelection.Display)} {(int)selection.Display} is not one of {string.Join(", ", Enum.GetNames<GradientDisplay>())}", nameof(ToolboxSelection.Display));
    }

    /// <summary>
    /// Computes every pane for <paramref name="frame"/> (any size; resized and cropped as the model's preprocessing says).
    /// The network input is the <see cref="ToolboxFrame.Input"/> pane's pixels preprocessed, so what the pane shows is
    /// exactly what the network saw. When the selected layer is the logit layer its unit is a class.
    /// </summary>
    public ToolboxFrame Run(Image8 frame, ToolboxSelection selection, CancellationToken cancellationToken = default) =>
        Run(frame, selection, withTrace: false, cancellationToken);

    /// <summary>
    /// <see cref="Run(Image8, ToolboxSelection, CancellationToken)"/>, and with <paramref name="withTrace"/> also the
    /// frame's <see cref="ToolboxFrame.Trace"/> (what <see cref="Trace"/> computes) from the same forward pass and the
    /// same backward pass as the back pane: a traced frame costs one forward and one backward pass, as a back pane does.
    /// </summary>
    public ToolboxFrame Run(Image8 frame, ToolboxSelection selection, bool withTrace, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(frame);
        Validate(selection);
        cancellationToken.ThrowIfCancellationRequested();
        long started = Stopwatch.GetTimestamp();
        var shown = Prepare(frame);
        // Without classes nothing above the selected layer is read, so the pass stops there.
        using var pass = network.Forward(input, upTo: Bundle.HasClasses ? null : selection.Layer);
        var top = Bundle.HasClasses ? Readout(backend.Download(pass.Last)) : [];
        var activations = backend.Download(pass.Output(selection.Layer));
        double forwardMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        cancellationToken.ThrowIfCancellationRequested();
        started = Stopwatch.GetTimestamp();
        var trace = withTrace ? BackwardTrace.Walk(network, pass, new Target(selection.Layer, selection.Unit), RuleOf(selection.Back)) : null;
        float[]? gradient = selection.Back == BackMode.Off ? null : trace?.Gradients[^1].Values ?? InputGradient(pass, selection);
        double backwardMs = gradient is null && trace is null ? 0 : Stopwatch.GetElapsedTime(started).TotalMilliseconds;

        cancellationToken.ThrowIfCancellationRequested();
        started = Stopwatch.GetTimestamp();
        var layer = layersByName[selection.Layer];
        var tiles = ToolboxPanes.TileBytes(activations, layer, selection.Boost);
        var (grid, layout) = ToolboxPanes.Grid(tiles, layer);
        var unit = ToolboxPanes.Unit(tiles, layer, selection.Unit, Math.Min(Model.InputHeight, Model.InputWidth));
        float unitValue = ToolboxPanes.ChannelMax(activations, layer, selection.Unit);
        var p = Bundle.Preprocessing;
        var back = gradient is null ? null : Attribution.Render(gradient, p, selection.Display, backend, Attribution.DefaultBlurSigma(p));
        double renderMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        return new ToolboxFrame(shown, grid, layout, unit, unitValue, top, back, new ToolboxTimings(forwardMs, backwardMs, renderMs)) { Trace = trace };
    }

    /// <summary>The selected layer's output for <paramref name="frame"/>, batch item 0, (C, H, W) as float (what the grid shows).</summary>
    public float[] Activations(Image8 frame, string layer)
    {
        ArgumentNullException.ThrowIfNull(frame);
        RequireLayer(layer);
        Prepare(frame);
        using var pass = network.Forward(input, upTo: layer);
        return backend.Download(pass.Last);
    }

    /// <summary>The layer-by-layer backward pass of the selection's unit under the back mode's rule (Gradient when Off).</summary>
    public BackwardTrace Trace(Image8 frame, ToolboxSelection selection)
    {
        ArgumentNullException.ThrowIfNull(frame);
        Validate(selection);
        Prepare(frame);
        return BackwardTrace.Run(network, input, new Target(selection.Layer, selection.Unit), RuleOf(selection.Back));
    }

    public void Dispose() => input.Dispose();

    /// <summary>The ReLU rule of a back mode; Off traces the true gradient.</summary>
    public static ReluRule RuleOf(BackMode back) => back switch
    {
        BackMode.Deconvnet => ReluRule.Deconvnet,
        BackMode.Guided => ReluRule.Guided,
        _ => ReluRule.Gradient,
    };

    /// <summary>Resizes and crops the frame to the model's input (the input pane) and writes its preprocessed values to the input tensor.</summary>
    private Image8 Prepare(Image8 frame)
    {
        var p = Bundle.Preprocessing;
        var shown = ImageTensors.ResizeAndCrop(frame, p);
        ImageTensors.CroppedToInput(shown.Pixels, p, inputValues);
        backend.Upload(inputValues, input);
        return shown;
    }

    /// <summary>d (sum of the selected channel over every position) / d input for batch item 0, seeded with 1.0 as
    /// <see cref="BackwardTrace"/> and <see cref="Attribution"/> seed a channel, from the frame's forward pass.</summary>
    private float[] InputGradient(ForwardPass pass, ToolboxSelection selection)
    {
        using var seed = network.UnitSeed(pass, selection.Layer, selection.Unit, n: 0);
        using var gradient = network.Backward(pass, selection.Layer, seed, new BackwardOptions(RuleOf(selection.Back)))!;
        return backend.Download(gradient);
    }

    private IReadOnlyList<ClassReadout> Readout(float[] scores) =>
        ClassPredictions.Top(network, scores, Math.Min(TopClasses, Bundle.Classes.Count))
            .Select(c => new ClassReadout(c.Index, Bundle.Classes[c.Index], c.Probability)).ToArray();

    private bool IsLogitLayer(string layer) => layer == ClassPredictions.LogitLayer(network);

    private ToolboxLayer RequireLayer(string? layer) =>
        layer is not null && layersByName.TryGetValue(layer, out var found) ? found
            : throw new ArgumentException($"{nameof(ToolboxSelection.Layer)} '{layer}' is not a layer the toolbox shows; the layers are: {string.Join(", ", layersByName.Keys)}",
                nameof(ToolboxSelection.Layer));
}
