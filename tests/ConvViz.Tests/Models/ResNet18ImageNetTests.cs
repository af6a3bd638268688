using System.Diagnostics;
using ConvViz.Cli;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;
using Xunit.Abstractions;

namespace ConvViz.Tests.Models;

/// <summary>The built-in resnet18-imagenet, opened once for the tests of this class.</summary>
public sealed class ResNet18ImageNetFixture : IDisposable
{
    public CpuBackend Backend { get; } = new();
    public ModelBundle Bundle { get; }
    public LabeledImages Samples { get; }

    public ResNet18ImageNetFixture()
    {
        Bundle = ModelCatalog.Open(PackagedModels.ResNet18ImageNet, Backend);
        Samples = LabeledImages.FromImageFolder(Bundle.Samples!, Bundle.Preprocessing);
    }

    public void Dispose()
    {
        Bundle.Dispose();
        Backend.Dispose();
    }
}

/// <summary>
/// The ImageNet ResNet-18 of NuGet's Microsoft.ML.DnnImageFeaturizer.ResNet18 as the built-in
/// resnet18-imagenet: its preprocessing against ONNX Runtime running the package's own
/// ResNetPreprocess.onnx, its readable names, and two claims of the visualizations on a real
/// ImageNet network (activation maximization beats every sample photo; deconvnet projections stay
/// inside the receptive field).
/// </summary>
public sealed class ResNet18ImageNetTests(ResNet18ImageNetFixture fixture, ITestOutputHelper output) : IClassFixture<ResNet18ImageNetFixture>
{
    private ModelBundle Bundle => fixture.Bundle;

    [Fact]
    public void PreprocessingEqualsOnnxRuntimeRunningThePackagesPreprocessGraph()
    {
        var p = Bundle.Preprocessing;
        Assert.NotNull(p.MeanImage);
        // The same resized and center-cropped RGB pixels (0..255, unrounded) go to both sides.
        var rgbOnly = new Preprocessing(3, p.Height, p.Width, ChannelOrder.Rgb, 1f, [0f, 0f, 0f], [1f, 1f, 1f], p.ResizeShorter);
        foreach (string name in new[] { "cat.png", "coffee.png", "grace-hopper.png", "coins.png" })
        {
            var image = ImageFile.Read(Path.Combine(Bundle.Samples!, name));
            var pixels = ImageTensors.ToInput(image, rgbOnly);
            var expected = OnnxRuntimeReference.Run(PackagedModels.PreprocessFile, pixels, [1, 3, p.Height, p.Width])["PreprocessedInput"];
            var actual = ImageTensors.ToInput(image, p);
            Assert.Equal([1, 3, p.Height, p.Width], expected.Dims);
            // Both compute pixel - mean in float32, once: equal to the bit.
            Assert.Equal(expected.Values, actual);
        }
    }

    [Fact]
    public void TheMeanImageVariesByPixelAroundTheChannelMeans()
    {
        var mean = Bundle.Preprocessing.MeanImage!;
        int plane = 224 * 224;
        // BGR channel means of ImageNet (about 103, 116, 123), each pixel with its own value.
        double[] expected = [103, 116, 123];
        for (int c = 0; c < 3; c++)
        {
            var channel = mean.AsSpan(c * plane, plane).ToArray();
            Assert.InRange(channel.Average(), expected[c] - 3, expected[c] + 3);
            Assert.True(channel.Max() - channel.Min() > 5, $"channel {c} of the mean image is nearly constant ({channel.Min()}..{channel.Max()})");
        }
    }

    [Fact]
    public void LayersHaveTorchvisionStyleNamesDerivedFromTheGraphAndKeepTheirCntkNames()
    {
        var names = Bundle.Network.Layers.Select(l => l.Name).ToArray();
        Assert.Equal(["conv1", "relu", "maxpool", "layer1.0.conv1", "layer1.0.relu1", "layer1.0.conv2", "layer1.0.add", "layer1.0.relu2"], names[..8]);
        Assert.Equal("avgpool", names[^1]);
        // Each stage starts where the channels double, with a projection shortcut (downsample).
        foreach (var (stage, channels) in new[] { (2, 128), (3, 256), (4, 512) })
        {
            Assert.Equal(channels, Bundle.Network.OutputShape($"layer{stage}.0.relu2", 1)[1]);
            Assert.IsType<Conv2dLayer>(Bundle.Network[$"layer{stage}.0.downsample"]);
            Assert.Contains(Bundle.Network.IndexOf($"layer{stage}.0.downsample"), Bundle.Network.InputsOf(Bundle.Network.IndexOf($"layer{stage}.0.add")));
        }
        Assert.All(Bundle.Network.Layers.OfType<AddLayer>(), add => Assert.EndsWith(".add", add.Name));
        Assert.Equal("Convolution249", Bundle.SourceNames["conv1"]);
        Assert.Equal("Pooling395", Bundle.SourceNames["avgpool"]);
        Assert.Equal(names.Length, Bundle.SourceNames.Count);
        Assert.False(Bundle.HasClasses);
    }

    /// <summary>
    /// Regularized activation maximization (the paper's preset 3: decay 1e-4, blur sigma 1 every 4
    /// steps, constant rate 100 on this raw-pixel input) of the layer4 unit that the sample photos
    /// excite most (the channel of the last block's sum, layer4.2.add, with the largest value at the
    /// map's center over every sample) drives it above that largest sample value. The unit is taken
    /// before its ReLU (layer4.2.relu2), as the paper takes fc8 before the softmax: from the noise
    /// start the rectified unit is 0, where a ReLU passes no gradient, and the optimization never moves.
    /// </summary>
    [Fact]
    public void OptimizingALayer4UnitBeatsEverySamplePhoto()
    {
        const string layer = "layer4.2.add";
        const int iterations = 60;
        var network = Bundle.Network;
        var shape = network.OutputShape(layer, 1);
        int cy = shape[2] / 2, cx = shape[3] / 2, plane = shape[2] * shape[3];
        var best = new float[shape[1]];
        foreach (var batch in Engine.Data.ImageBatches.Forward(network, Bundle.Preprocessing, fixture.Samples,
                     Enumerable.Range(0, fixture.Samples.Count).ToArray(), 4, layer))
        {
            var values = fixture.Backend.Download(batch.Pass.Last);
            for (int i = 0; i < batch.Count; i++)
                for (int c = 0; c < shape[1]; c++)
                    best[c] = Math.Max(best[c], values[(i * shape[1] + c) * plane + cy * shape[3] + cx]);
        }
        int unit = Array.IndexOf(best, best.Max());

        var clock = Stopwatch.StartNew();
        var options = OptimizationOptions.Preset(3).AdaptedTo(Bundle.Preprocessing) with { Iterations = iterations };
        var result = ActivationMaximization.Run(network, Bundle.Preprocessing, new Target(layer, unit, cy, cx), options);
        output.WriteLine($"{layer} unit {unit} at ({cy}, {cx}): best of {fixture.Samples.Count} sample photos {best[unit]:G4}; " +
                         $"optimized {result.BestObjective:G4} at iteration {result.BestIteration} of {iterations} in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(result.BestObjective > best[unit],
            $"the optimized image reaches {result.BestObjective:G4}, below the best sample photo's {best[unit]:G4}");
    }

    /// <summary>The deconvnet projection of one layer2 unit is exactly zero outside the unit's receptive
    /// field (through every path of the graph) and not zero inside it.</summary>
    [Fact]
    public void DeconvnetProjectionsOfALayer2UnitStayInsideItsReceptiveField()
    {
        const string layer = "layer2.1.relu2";
        var network = Bundle.Network;
        var p = Bundle.Preprocessing;
        var field = ReceptiveFields.Of(network, layer);
        int y = 9, x = 14;
        var (top, rows) = field.Vertical.Clipped(y, p.Height);
        var (left, columns) = field.Horizontal.Clipped(x, p.Width);
        Assert.True(rows < p.Height && columns < p.Width, $"the field {rows}x{columns} covers the whole input: the test would show nothing");

        foreach (int sample in new[] { 0, 2 })
        {
            using var input = fixture.Backend.Upload(ImageTensors.ToInput(fixture.Samples.ToImage(sample), p), network.InputShape(1));
            var projection = Attribution.InputGradients(network, input, new Target(layer, 7, y, x), ReluRule.Deconvnet)[0];
            double inside = 0;
            for (int c = 0; c < p.Channels; c++)
                for (int r = 0; r < p.Height; r++)
                    for (int q = 0; q < p.Width; q++)
                    {
                        float v = projection[(c * p.Height + r) * p.Width + q];
                        bool within = r >= top && r < top + rows && q >= left && q < left + columns;
                        if (within) inside = Math.Max(inside, Math.Abs(v));
                        else Assert.True(v == 0, $"sample {sample}: the projection is {v} at ({r}, {q}), outside the field rows {top}..{top + rows - 1}, columns {left}..{left + columns - 1}");
                    }
            Assert.True(inside > 0, $"sample {sample}: the projection is zero inside the field too");
        }
    }
}
