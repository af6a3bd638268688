using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
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

/// <summary>Milliseconds spent in each engine stage of one frame.</summary>
public sealed record ToolboxTimings(double ForwardMs, double BackwardMs, double RenderMs);

/// <summary>The panes of one frame. <see cref="Input"/> is the frame as the model sees it (after resize and crop, model size);
/// <see cref="LayerGrid"/> shows every channel of the selected layer (<see cref="Layout"/> maps tiles to channels);
/// <see cref="Unit"/> is the selected channel enlarged; <see cref="UnitValue"/> its largest value over positions;
/// <see cref="Top"/> the top-5 classes (empty without classes); <see cref="Back"/> the back pane (null when Off).</summary>
public sealed record ToolboxFrame(Image8 Input, Image8 LayerGrid, GridLayout Layout, Image8 Unit, float UnitValue,
    IReadOnlyList<ClassReadout> Top, Image8? Back, ToolboxTimings Timings);

/// <summary>
/// The Deep Visualization Toolbox's live computation as a library call: one forward pass per frame, plus the backward
/// pass of the selected unit under the back mode's ReLU rule, rendered into panes. Not thread-safe: one caller at a time
/// (the network's backend is shared).
/// </summary>
public sealed class LiveToolbox : IDisposable
{
    public LiveToolbox(ModelBundle bundle) => throw new NotImplementedException();

    public ModelBundle Bundle => throw new NotImplementedException();
    public ToolboxModel Model => throw new NotImplementedException();

    /// <summary>The selection a new viewer starts with: the default layer, unit 0, gradient back pane, raw display.</summary>
    public ToolboxSelection DefaultSelection => throw new NotImplementedException();

    /// <summary>Throws <see cref="ArgumentException"/> (naming Layer or Unit and the valid range) unless the selection fits the model.</summary>
    public void Validate(ToolboxSelection selection) => throw new NotImplementedException();

    /// <summary>Computes every pane for <paramref name="frame"/> (any size; resized and cropped as the model's preprocessing says).</summary>
    public ToolboxFrame Run(Image8 frame, ToolboxSelection selection, CancellationToken cancellationToken = default) =>
        throw new NotImplementedException();

    /// <summary>The selected layer's output for <paramref name="frame"/>, batch item 0, (C, H, W) as float (what the grid shows).</summary>
    public float[] Activations(Image8 frame, string layer) => throw new NotImplementedException();

    /// <summary>The layer-by-layer backward pass of the selection's unit under the back mode's rule (Gradient when Off).</summary>
    public BackwardTrace Trace(Image8 frame, ToolboxSelection selection) => throw new NotImplementedException();

    public void Dispose() => throw new NotImplementedException();
}
