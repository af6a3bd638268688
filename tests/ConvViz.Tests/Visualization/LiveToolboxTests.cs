using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Toolbox;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Parity;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Visualization;

/// <summary>
/// The live toolbox's engine on the default model and on a small random AlexNet-like network (3 x 19 x 19, 4 classes):
/// the panes and their layout, one forward pass whose readout, activations and back pane agree with the direct calls,
/// and the selection errors. Bound to Reference and Cpu; the Cpu binding also compares itself with Reference.
/// </summary>
public abstract class LiveToolboxTests : BackendTest
{
    private ModelBundle FashionAlexNet() => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), Backend);

    private static ModelBundle Small(Backend backend)
    {
        var network = SmallNetworks.AlexNetStyle(backend, seed: 3, classes: 4);
        return new ModelBundle("small", network, Preprocessing.Default(network.SampleShape), ["ant", "bee", "cat", "dog"], []);
    }

    /// <summary>A random RGB frame of any size (the webcam's, not the model's).</summary>
    private static Image8 Frame(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return new Image8(width, height, 3, pixels);
    }

    /// <summary>The network input the toolbox promises: the input pane's pixels, preprocessed.</summary>
    private static Tensor InputOf(ModelBundle bundle, Image8 frame, Backend backend) =>
        backend.Upload(ImageTensors.ToInput(ImageTensors.ResizeAndCrop(frame, bundle.Preprocessing), bundle.Preprocessing), bundle.Network.InputShape(1));

    [Fact]
    public void Model_ListsEveryPictureLayer_AndStartsAtTheLastSpatialRectifier()
    {
        using var bundle = Small(Backend);
        using var toolbox = new LiveToolbox(bundle);
        var model = toolbox.Model;
        // Flatten and dropout are left out; every other layer is listed with its output per sample.
        Assert.Equal(["conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2", "conv3", "relu3", "pool3", "fc4", "relu4", "fc5"],
            model.Layers.Select(l => l.Name));
        foreach (var layer in model.Layers)
        {
            var shape = bundle.Network.OutputShape(layer.Name, 1);
            Assert.Equal(shape.Rank == 4 ? (shape.C, shape.H, shape.W) : (shape[1], 1, 1), (layer.Channels, layer.Height, layer.Width));
            Assert.Equal(bundle.Network[layer.Name].OpType, layer.OpType);
        }
        Assert.Equal(LayerRoles.LastSpatialRectifier(bundle.Network), model.DefaultLayer);
        Assert.Equal("relu3", model.DefaultLayer);
        Assert.Equal((3, 19, 19), (model.InputChannels, model.InputHeight, model.InputWidth));
        Assert.Equal(["ant", "bee", "cat", "dog"], model.Classes);
        Assert.Equal(new ToolboxSelection { Layer = "relu3", Unit = 0, Back = BackMode.Gradient, Display = GradientDisplay.Raw }, toolbox.DefaultSelection);

        using var fashion = FashionAlexNet();
        using var fashionToolbox = new LiveToolbox(fashion);
        Assert.Equal("relu5", fashionToolbox.Model.DefaultLayer);
        Assert.Equal(fashion.SampleCount, fashionToolbox.Model.SampleCount);
        Assert.True(fashionToolbox.Model.SampleCount > 0);
    }

    [Fact]
    public void Run_PanesHaveTheModelsSizes_AndTheLayoutPlacesEveryTile()
    {
        using var bundle = Small(Backend);
        using var toolbox = new LiveToolbox(bundle);
        foreach (string layerName in new[] { "conv1", "relu3", "fc5" })
        {
            var frame = toolbox.Run(Frame(40, 30, seed: 1), toolbox.DefaultSelection with { Layer = layerName, Unit = 1 });
            var layer = toolbox.Model.Layers.Single(l => l.Name == layerName);
            Assert.Equal((19, 19, 3), (frame.Input.Width, frame.Input.Height, frame.Input.Channels));
            var layout = frame.Layout;
            Assert.Equal((layer.Channels, layer.Width, layer.Height), (layout.Count, layout.TileWidth, layout.TileHeight));
            Assert.True(layout.Columns * layout.Rows >= layout.Count && (layout.Rows - 1) * layout.Columns < layout.Count);
            Assert.Equal(layout.Gap + layout.Columns * (layout.TileWidth * layout.Scale + layout.Gap), frame.LayerGrid.Width);
            Assert.Equal(layout.Gap + layout.Rows * (layout.TileHeight * layout.Scale + layout.Gap), frame.LayerGrid.Height);
            Assert.True(frame.LayerGrid.Width <= 800 && frame.LayerGrid.Height <= 800, $"{layerName}: grid {frame.LayerGrid.Width}x{frame.LayerGrid.Height}");

            // The unit pane is the selected tile enlarged: a whole multiple of the tile, at least 128 pixels.
            Assert.Equal(0, frame.Unit.Width % layer.Width);
            Assert.Equal(frame.Unit.Width / layer.Width, frame.Unit.Height / layer.Height);
            Assert.True(Math.Min(frame.Unit.Width, frame.Unit.Height) >= 128);
            // Its top-left pixel is the grid's pixel at tile 1's top-left corner (tile 1: column 1, row 0).
            int left = layout.Gap + 1 % layout.Columns * (layout.TileWidth * layout.Scale + layout.Gap), top = layout.Gap;
            Assert.Equal(frame.LayerGrid.Pixels[top * frame.LayerGrid.Width + left], frame.Unit.Pixels[0]);

            Assert.NotNull(frame.Back);
            Assert.Equal((19, 19), (frame.Back!.Width, frame.Back.Height));
            Assert.True(frame.Timings.ForwardMs > 0 && frame.Timings.BackwardMs > 0 && frame.Timings.RenderMs > 0);
        }
    }

    [Fact]
    public void Run_TheGridChangesWithTheFrame_AndNotWithoutIt()
    {
        using var bundle = Small(Backend);
        using var toolbox = new LiveToolbox(bundle);
        var selection = toolbox.DefaultSelection;
        var first = toolbox.Run(Frame(24, 24, seed: 1), selection);
        var again = toolbox.Run(Frame(24, 24, seed: 1), selection);
        var other = toolbox.Run(Frame(24, 24, seed: 2), selection);
        Assert.Equal(first.LayerGrid.Pixels, again.LayerGrid.Pixels);
        Assert.Equal(first.Unit.Pixels, again.Unit.Pixels);
        Assert.Equal(first.Back!.Pixels, again.Back!.Pixels);
        Assert.NotEqual(first.LayerGrid.Pixels, other.LayerGrid.Pixels);
        Assert.NotEqual(first.Input.Pixels, other.Input.Pixels);

        // Boost stretches each tile to its own range: every tile that is not flat reaches white.
        var boosted = toolbox.Run(Frame(24, 24, seed: 1), selection with { Boost = true });
        Assert.NotEqual(first.LayerGrid.Pixels, boosted.LayerGrid.Pixels);
        var activations = toolbox.Activations(Frame(24, 24, seed: 1), selection.Layer);
        var layer = toolbox.Model.Layers.Single(l => l.Name == selection.Layer);
        int plane = layer.Height * layer.Width;
        for (int c = 0; c < layer.Channels; c++)
        {
            var range = Montage.Range(activations.AsSpan(c * plane, plane));
            if (range.High > range.Low) Assert.Contains((byte)255, TilePixels(boosted, c));
        }
    }

    /// <summary>The pixels of tile <paramref name="channel"/> of a frame's grid.</summary>
    private static byte[] TilePixels(ToolboxFrame frame, int channel)
    {
        var l = frame.Layout;
        int left = l.Gap + channel % l.Columns * (l.TileWidth * l.Scale + l.Gap), top = l.Gap + channel / l.Columns * (l.TileHeight * l.Scale + l.Gap);
        int width = l.TileWidth * l.Scale;
        return Enumerable.Range(0, l.TileHeight * l.Scale).SelectMany(y => frame.LayerGrid.Pixels.Skip((top + y) * frame.LayerGrid.Width + left).Take(width)).ToArray();
    }

    [Fact]
    public void Run_BackIsNullWhenOff_DiffersBetweenRules_AndIsTheAttributionOfTheSameUnit()
    {
        using var bundle = FashionAlexNet();
        using var toolbox = new LiveToolbox(bundle);
        var image = bundle.Sample(0).Image;
        var selection = toolbox.DefaultSelection with { Layer = "conv5", Unit = 7 };
        Assert.Null(toolbox.Run(image, selection with { Back = BackMode.Off }).Back);
        Assert.Equal(0, toolbox.Run(image, selection with { Back = BackMode.Off }).Timings.BackwardMs);
        var panes = new[] { BackMode.Gradient, BackMode.Deconvnet, BackMode.Guided }.Select(back => toolbox.Run(image, selection with { Back = back }).Back!.Pixels).ToArray();
        Assert.NotEqual(panes[0], panes[1]);
        Assert.NotEqual(panes[0], panes[2]);
        Assert.NotEqual(panes[1], panes[2]);

        // Each is the attribution of the unit (1.0 at every position of channel 7), rendered in the selected display.
        using var input = InputOf(bundle, image, Backend);
        var p = bundle.Preprocessing;
        foreach (var display in Enum.GetValues<GradientDisplay>())
        {
            var gradient = Attribution.InputGradient(bundle.Network, input, new Target("conv5", 7), ReluRule.Guided);
            var expected = Attribution.Render(gradient, p, display, Backend, Attribution.DefaultBlurSigma(p));
            Assert.Equal(expected.Pixels, toolbox.Run(image, selection with { Back = BackMode.Guided, Display = display }).Back!.Pixels);
        }

        // On the logit layer the unit is a class: the pane is that class's saliency.
        string logits = ClassPredictions.LogitLayer(bundle.Network);
        var classGradient = Attribution.InputGradient(bundle.Network, input, new Target(logits, 9), ReluRule.Gradient);
        Assert.Equal(Attribution.Render(classGradient, p, GradientDisplay.Raw, Backend, 1f).Pixels,
            toolbox.Run(image, selection with { Layer = logits, Unit = 9 }).Back!.Pixels);
    }

    [Fact]
    public void Run_TopIsTheClassPredictionOfTheSameInput_AndNamesACorrectlyClassifiedSample()
    {
        using var bundle = FashionAlexNet();
        using var toolbox = new LiveToolbox(bundle);
        int checkedSamples = 0;
        for (int n = 0; n < 10; n++)
        {
            var sample = bundle.Sample(n);
            using var input = InputOf(bundle, sample.Image, Backend);
            using var pass = bundle.Network.Forward(input);
            var expected = ClassPredictions.Top(bundle.Network, Backend.Download(pass.Last), 5);
            var top = toolbox.Run(sample.Image, toolbox.DefaultSelection with { Back = BackMode.Off }).Top;
            Assert.Equal(expected.Select(c => (c.Index, bundle.Classes[c.Index], c.Probability)), top.Select(c => (c.Index, c.Name, c.Probability)));
            if (expected[0].Index != sample.Label) continue;
            Assert.Equal(bundle.Classes[sample.Label], top[0].Name);
            checkedSamples++;
        }
        Assert.True(checkedSamples >= 5, $"only {checkedSamples} of 10 samples classified correctly");

        // A model without classes has no readout.
        var network = SmallNetworks.AlexNetStyle(Backend, seed: 3, classes: 4);
        using var features = new ModelBundle("features", network, Preprocessing.Default(network.SampleShape), [], []);
        using var featureToolbox = new LiveToolbox(features);
        Assert.Empty(featureToolbox.Run(Frame(19, 19, seed: 1), featureToolbox.DefaultSelection).Top);
    }

    [Fact]
    public void ActivationsAndUnitValue_AreTheDirectForwardPass()
    {
        using var bundle = Small(Backend);
        using var toolbox = new LiveToolbox(bundle);
        foreach (var image in new[] { Frame(19, 19, seed: 4), Frame(50, 31, seed: 5) })
        {
            using var input = InputOf(bundle, image, Backend);
            foreach (var layer in toolbox.Model.Layers)
            {
                using var pass = bundle.Network.Forward(input, upTo: layer.Name);
                var expected = Backend.Download(pass.Last);
                Assert.Equal(expected, toolbox.Activations(image, layer.Name));
                int plane = layer.Height * layer.Width;
                Assert.Equal(expected.AsSpan(2 * plane, plane).ToArray().Max(), toolbox.Run(image, toolbox.DefaultSelection with { Layer = layer.Name, Unit = 2 }).UnitValue);
            }
        }
        // A frame at the model's size is the input as is.
        var exact = Frame(19, 19, seed: 6);
        using var direct = Backend.Upload(ImageTensors.ToInput(exact, bundle.Preprocessing), bundle.Network.InputShape(1));
        using var directPass = bundle.Network.Forward(direct, upTo: "pool2");
        Assert.Equal(Backend.Download(directPass.Last), toolbox.Activations(exact, "pool2"));
    }

    [Fact]
    public void Validate_NamesLayerOrUnit_AndTheValidChoices()
    {
        using var bundle = Small(Backend);
        using var toolbox = new LiveToolbox(bundle);
        var selection = toolbox.DefaultSelection;
        toolbox.Validate(selection);

        var unknown = Assert.Throws<ArgumentException>(() => toolbox.Validate(selection with { Layer = "conv9" }));
        Assert.Equal("Layer", unknown.ParamName);
        Assert.StartsWith("Layer 'conv9' is not a layer the toolbox shows; the layers are: conv1, relu1, norm1,", unknown.Message);
        var hidden = Assert.Throws<ArgumentException>(() => toolbox.Run(Frame(19, 19, 1), selection with { Layer = "flatten" }));
        Assert.Equal("Layer", hidden.ParamName);
        Assert.Throws<ArgumentException>(() => toolbox.Activations(Frame(19, 19, 1), "drop4"));

        var high = Assert.Throws<ArgumentOutOfRangeException>(() => toolbox.Validate(selection with { Unit = 10 }));
        Assert.Equal("Unit", high.ParamName);
        Assert.StartsWith("Unit 10 is outside layer 'relu3' with 10 units (0 to 9)", high.Message);
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => toolbox.Run(Frame(19, 19, 1), selection with { Unit = -1 }));
        Assert.Equal("Unit", negative.ParamName);
        var logit = Assert.Throws<ArgumentOutOfRangeException>(() => toolbox.Validate(selection with { Layer = "fc5", Unit = 4 }));
        Assert.StartsWith("Unit 4 is outside layer 'fc5' with 4 classes (0 to 3)", logit.Message);
        foreach (var e in new Exception[] { unknown, high, logit }) Assert.DoesNotContain('\n', e.Message);

        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => toolbox.Run(Frame(19, 19, 1), selection, cancelled.Token));
    }

    [Fact]
    public void Trace_IsTheBackwardTraceOfTheSelectedUnit()
    {
        using var bundle = Small(Backend);
        using var toolbox = new LiveToolbox(bundle);
        var image = Frame(30, 20, seed: 8);
        using var input = InputOf(bundle, image, Backend);
        var trace = toolbox.Trace(image, toolbox.DefaultSelection with { Layer = "pool2", Unit = 5, Back = BackMode.Off });
        Assert.Equal(ReluRule.Gradient, trace.Rule);
        Assert.Equal(new Target("pool2", 5), trace.Target);
        var expected = BackwardTrace.Run(bundle.Network, input, new Target("pool2", 5), ReluRule.Gradient);
        Assert.Equal(expected.Gradients.Select(g => g.Values), trace.Gradients.Select(g => g.Values));
        Assert.Equal(ReluRule.Deconvnet, toolbox.Trace(image, toolbox.DefaultSelection with { Back = BackMode.Deconvnet }).Rule);

        // A traced frame carries the same trace, from its own forward and backward pass, and the same back pane.
        Assert.Null(toolbox.Run(image, toolbox.DefaultSelection).Trace);
        foreach (var back in Enum.GetValues<BackMode>())
        {
            var selection = toolbox.DefaultSelection with { Layer = "pool2", Unit = 5, Back = back };
            var traced = toolbox.Run(image, selection, withTrace: true);
            var alone = toolbox.Trace(image, selection);
            Assert.Equal(alone.Rule, traced.Trace!.Rule);
            Assert.Equal(alone.Gradients.Select(g => (g.Layer, g.Values)), traced.Trace.Gradients.Select(g => (g.Layer, g.Values)));
            Assert.Equal(alone.Steps.Select(s => s.Explanation), traced.Trace.Steps.Select(s => s.Explanation));
            Assert.Equal(toolbox.Run(image, selection).Back?.Pixels, traced.Back?.Pixels);
            Assert.True(traced.Timings.BackwardMs > 0);
        }
    }

    /// <summary>The same frames through this backend and through Reference: the same activations (to float rounding),
    /// the same readout and the same back-pane gradient.</summary>
    [Fact]
    public void Run_AgreesWithReference()
    {
        using var reference = CreateReference();
        using var bundle = Small(Backend);
        using var referenceBundle = Small(reference);
        using var toolbox = new LiveToolbox(bundle);
        using var referenceToolbox = new LiveToolbox(referenceBundle);
        var image = Frame(33, 25, seed: 9);
        foreach (var layer in toolbox.Model.Layers)
            TensorAssert.Close(referenceToolbox.Activations(image, layer.Name), toolbox.Activations(image, layer.Name), Tolerance.Atol, Tolerance.Rtol, layer.Name);
        var selection = toolbox.DefaultSelection with { Layer = "conv2", Unit = 3, Back = BackMode.Guided };
        var frame = toolbox.Run(image, selection);
        var referenceFrame = referenceToolbox.Run(image, selection);
        Assert.Equal(referenceFrame.Top.Select(c => c.Index), frame.Top.Select(c => c.Index));
        Assert.Equal(referenceFrame.Input.Pixels, frame.Input.Pixels);
        var trace = toolbox.Trace(image, selection);
        var referenceTrace = referenceToolbox.Trace(image, selection);
        Assert.Equal(referenceTrace.Gradients.Select(g => g.Layer), trace.Gradients.Select(g => g.Layer));
        foreach (var (expected, actual) in referenceTrace.Gradients.Zip(trace.Gradients))
            TensorAssert.Close(expected.Values, actual.Values, Tolerance.Atol, Tolerance.Rtol, expected.Layer);
    }
}
