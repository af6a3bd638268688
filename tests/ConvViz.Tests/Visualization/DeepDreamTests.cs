using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Backends.Reference;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Visualization;
using ConvViz.OpenCL;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Visualization;

/// <summary>DeepDream on the default model: the objective rises at every octave, the seed fixes the
/// image, the network runs up to a conv layer at other sizes (and refuses fc layers there), the
/// OpenCL backend dreams the same objectives, and bad options are clear errors.</summary>
public sealed class DeepDreamTests
{
    private static ModelBundle DefaultBundle(Backend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    /// <summary>The bundle's first sample image (a T-shirt) as a model input.</summary>
    private static float[] FirstSample(ModelBundle bundle)
    {
        var samples = LabeledImages.LoadSplit(bundle.Samples!, LabeledImages.TestSplit);
        return ImageTensors.ToInput(new Image8(samples.Width, samples.Height, 1, samples.Image(0).ToArray()), bundle.Preprocessing);
    }

    private static DreamResult Dream(Backend backend, DreamOptions options, string layer = "relu3")
    {
        using var bundle = DefaultBundle(backend);
        return DeepDream.Run(bundle.Network, bundle.Preprocessing, layer, options, FirstSample(bundle));
    }

    [Fact]
    public void Dream_RaisesTheLayersL2AtEveryOctave_FromTheSmallestOctaveUp()
    {
        using var backend = new CpuBackend();
        var result = Dream(backend, new DreamOptions());
        Assert.Equal(new[] { (10, 10), (14, 14), (20, 20), (28, 28) }, result.Octaves.Select(o => (o.Height, o.Width)));
        foreach (var octave in result.Octaves)
        {
            Assert.True(octave.After > octave.Before, $"octave {octave.Height}x{octave.Width}: objective {octave.Before} -> {octave.After}, expected a rise");
            Assert.True(octave.MeanSquareAfter > octave.MeanSquareBefore, $"octave {octave.Height}x{octave.Width}: mean a² {octave.MeanSquareBefore} -> {octave.MeanSquareAfter}");
        }
        Assert.Equal(28 * 28, result.Image.Length);
    }

    [Fact]
    public void Dream_CarriesTheDetailUpTheOctaves()
    {
        // The last octave starts from its base (the start image itself) plus the upsampled detail
        // of the smaller octaves: without the detail it would start exactly where a single octave does.
        using var backend = new CpuBackend();
        var options = new DreamOptions();
        var carried = Dream(backend, options).Octaves[^1];
        var plain = Dream(backend, options with { Octaves = 1 }).Octaves[0];
        Assert.True(carried.Before > plain.Before, $"the full-size octave starts at {carried.Before}; the plain image has {plain.Before}");
    }

    [Fact]
    public void SameSeed_SameImage_AnotherSeed_AnotherImage()
    {
        using var backend = new CpuBackend();
        var options = new DreamOptions { Iterations = 3, Seed = 5 };
        var first = Dream(backend, options).Image;
        Assert.Equal(first, Dream(backend, options).Image);
        Assert.NotEqual(first, Dream(backend, options with { Seed = 6 }).Image);
    }

    [Fact]
    public void WithoutJitter_TheSeedChangesNothing()
    {
        using var backend = new CpuBackend();
        var options = new DreamOptions { Iterations = 3, Jitter = 0, Seed = 1 };
        Assert.Equal(Dream(backend, options).Image, Dream(backend, options with { Seed = 2 }).Image);
    }

    [Fact]
    public void Roll_IsNumpysRollOverBothAxes_AndRollingBackUndoesIt()
    {
        // np.roll(np.roll([[0, 1, 2], [3, 4, 5]], 1, -1), 1, -2) == [[5, 3, 4], [2, 0, 1]], per channel.
        float[] image = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15];
        var rolled = DeepDream.Roll(image, 2, 2, 3, shiftX: 1, shiftY: 1);
        Assert.Equal([5, 3, 4, 2, 0, 1, 15, 13, 14, 12, 10, 11], rolled);
        Assert.Equal(image, DeepDream.Roll(rolled, 2, 2, 3, shiftX: -1, shiftY: -1));
        Assert.Equal(image, DeepDream.Roll(image, 2, 2, 3, shiftX: 3, shiftY: -4));
    }

    [Fact]
    public void DreamStaysInThePixelRange()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var p = bundle.Preprocessing;
        var result = DeepDream.Run(bundle.Network, p, "relu3", new DreamOptions { Iterations = 5, Step = 40 }, FirstSample(bundle));
        float low = p.ToInput(0, 0, 0), high = p.ToInput(255, 0, 0);
        Assert.All(result.Image, v => Assert.InRange(v, low, high));
        Assert.Contains(result.Image, v => v == high);
    }

    [Fact]
    public void ForwardUpToAConvLayerAtASmallerSize_MatchesTheConvolutionByHand()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var conv1 = (Conv2dLayer)bundle.Network["conv1"];
        var g = conv1.Geometry;
        var weight = backend.Download(conv1.Weight.Value);
        var bias = backend.Download(conv1.Bias!.Value);
        int height = 13, width = 17, kernels = conv1.OutputChannels;
        var image = TestData.Uniform(height * width, 7);
        using var input = backend.Upload(image, Shape.Nchw(1, 1, height, width));
        using var pass = bundle.Network.Forward(input, upTo: "conv1");
        Assert.Equal(Shape.Nchw(1, kernels, height, width), pass.Last.Shape);

        var expected = new float[kernels * height * width];
        for (int k = 0; k < kernels; k++)
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    double sum = bias[k];
                    for (int r = 0; r < g.KernelH; r++)
                        for (int s = 0; s < g.KernelW; s++)
                        {
                            int iy = y + r - g.PadTop, ix = x + s - g.PadLeft;
                            if (iy >= 0 && iy < height && ix >= 0 && ix < width) sum += weight[(k * g.KernelH + r) * g.KernelW + s] * image[iy * width + ix];
                        }
                    expected[(k * height + y) * width + x] = (float)sum;
                }
        TensorAssert.Close(expected, backend.Download(pass.Last), 1e-4, 1e-4, "conv1 at 13x17", pass.Last.Shape);
    }

    [Fact]
    public void ForwardAndBackwardUpToRelu3AtASmallerSize_MatchTheReferenceBackend()
    {
        (float[] Activations, float[] Gradient) Run(Backend backend)
        {
            using var bundle = DefaultBundle(backend);
            var shape = Shape.Nchw(1, 1, 20, 20);
            using var input = backend.Upload(TestData.Uniform(shape.ElementCount, 9, 2f), shape);
            using var pass = bundle.Network.Forward(input, upTo: "relu3");
            Assert.Equal(Shape.Nchw(1, 128, 5, 5), pass.Last.Shape);
            using var gradient = bundle.Network.Backward(pass, "relu3", pass.Last)!;
            return (backend.Download(pass.Last), backend.Download(gradient));
        }
        using var cpu = new CpuBackend();
        using var reference = new ReferenceBackend();
        var (expectedActivations, expectedGradient) = Run(reference);
        var (activations, gradient) = Run(cpu);
        Assert.Contains(expectedActivations, v => v > 0);
        TensorAssert.Close(expectedActivations, activations, 1e-4, 1e-4, "relu3 at 20x20");
        TensorAssert.Close(expectedGradient, gradient, 1e-4 * expectedGradient.Max(Math.Abs), 1e-4, "d 0.5·Σ relu3² / d input at 20x20");
    }

    [Fact]
    public void ForwardToAFullyConnectedLayerAtAnotherSize_IsAClearError_AndAWholePassKeepsTheModelsShape()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        using var input = backend.Upload(new float[20 * 20], Shape.Nchw(1, 1, 20, 20));
        var error = Assert.Throws<ArgumentException>(() => bundle.Network.Forward(input, upTo: "fc6"));
        Assert.Contains("layer 'fc6' cannot run on a 20x20 input (the model's size is 28x28)", error.Message);
        Assert.Contains("'fc6.flatten' (Flatten) turns the maps into features", error.Message);
        Assert.Equal("network input has shape (1, 1, 20, 20), expected (1, 1, 28, 28)", Assert.Throws<ArgumentException>(() => bundle.Network.Forward(input)).Message);
        using var tooSmall = backend.Upload(new float[4 * 4], Shape.Nchw(1, 1, 4, 4));
        Assert.Contains("layer 'conv5' cannot run on a 4x4 input", Assert.Throws<ArgumentException>(() => bundle.Network.Forward(tooSmall, upTo: "conv5")).Message);
        using var color = backend.Upload(new float[3 * 20 * 20], Shape.Nchw(1, 3, 20, 20));
        Assert.Contains("expected (N, 1, H, W)", Assert.Throws<ArgumentException>(() => bundle.Network.Forward(color, upTo: "conv1")).Message);
    }

    [Fact]
    public void OpenCLDreamsTheSameObjectivesAsCpu()
    {
        // Both backends draw the same jitter; they differ only by float rounding in other orders:
        // about 4e-7 relative per octave on PoCL's CPU device, checked within 1e-4.
        var options = new DreamOptions { Octaves = 3, Iterations = 5 };
        using var cpu = new CpuBackend();
        using var opencl = new OpenCLBackend();
        var expected = Dream(cpu, options).Octaves;
        var actual = Dream(opencl, options).Octaves;
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Before, actual[i].Before, 1e-4 * expected[i].Before);
            Assert.Equal(expected[i].After, actual[i].After, 1e-4 * expected[i].After);
        }
    }

    [Theory]
    [InlineData("Octaves 6 makes the smallest octave 5x5, too small for layer 'relu3' (needs at least 6x6); use at most 5 octaves", "relu3", 6, 10)]
    [InlineData("Octaves 2: layer 'fc6' has no spatial extent", "fc6", 2, 10)]
    [InlineData("Octaves 0 must be at least 1", "relu3", 0, 10)]
    [InlineData("Iterations 0 must be at least 1", "relu3", 4, 0)]
    [InlineData("no layer named 'conv9'", "conv9", 4, 10)]
    public void BadOptions_AreClearErrors(string message, string layer, int octaves, int iterations)
    {
        using var backend = new CpuBackend();
        var error = Assert.ThrowsAny<ArgumentException>(() => Dream(backend, new DreamOptions { Octaves = octaves, Iterations = iterations }, layer));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void FullyConnectedLayerDreamsAtTheModelsSize()
    {
        using var backend = new CpuBackend();
        var octave = Assert.Single(Dream(backend, new DreamOptions { Octaves = 1, Iterations = 3 }, "fc6").Octaves);
        Assert.True(octave.After > octave.Before, $"fc6: objective {octave.Before} -> {octave.After}");
    }

    [Fact]
    public void DefaultLayerIsTheReluAfterTheThirdConvolution()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        Assert.Equal("relu3", DeepDream.DefaultLayer(bundle.Network));
        Assert.Equal(4, DreamOptions.DefaultJitter(bundle.Preprocessing));
    }
}
