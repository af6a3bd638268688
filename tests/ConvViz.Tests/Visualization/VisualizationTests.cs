using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Visualization;

/// <summary>Montages, colormaps, filter and activation grids, and the attribution displays.</summary>
public sealed class VisualizationTests
{
    [Fact]
    public void Montage_TilesNearSquare_WithGapsAndOneScalePerLayer()
    {
        // Five 2x3 tiles with values 0..29: 3 columns, 2 rows, 1-pixel gaps, scale 2.
        var values = Enumerable.Range(0, 30).Select(i => (float)i).ToArray();
        var image = Montage.Tile(values, 5, 2, 3, scale: 2);
        Assert.Equal((3 * 6 + 4, 2 * 4 + 3, 3), (image.Width, image.Height, image.Channels));
        byte At(int x, int y) => image.Pixels[(y * image.Width + x) * 3];
        Assert.Equal(Montage.GapShade, At(0, 0));
        Assert.Equal(0, At(1, 1));                       // tile 0, value 0 (the layer's minimum)
        Assert.Equal(255, At(1 + 7 + 5, 1 + 5 + 3)); // tile 4 (row 1, column 1) starts at (8, 6); its last value 29, the maximum, fills (12..13, 8..9)
        var perTile = Montage.Tile(values, 5, 2, 3, Normalization.PerTile);
        Assert.Equal(255, perTile.Pixels[((1 + 1) * perTile.Width + 1 + 2) * 3]); // every tile reaches white on its own
    }

    [Fact]
    public void Colormaps_HaveTheirEndpoints()
    {
        Assert.Equal(((byte)0, (byte)0, (byte)0), Colormap.Gray.Color(0));
        Assert.Equal(((byte)68, (byte)1, (byte)84), Colormap.Viridis.Color(0));
        Assert.Equal(((byte)253, (byte)231, (byte)37), Colormap.Viridis.Color(1));
        Assert.Equal(((byte)247, (byte)247, (byte)247), Colormap.Diverging.Color(0.5f));
        Assert.Equal(((byte)127, (byte)0, (byte)0), Colormap.Jet.Color(2f)); // clamped
    }

    [Fact]
    public void Filters_ShowColorFiltersInRgbWhateverTheModelOrder()
    {
        // One 1x1 filter over 3 channels with weights (0, 0.5, 1) in BGR order: blue 0, green 0.5, red 1.
        var image = LayerViews.Filters([0f, 0.5f, 1f], new Engine.Tensors.Shape(1, 3, 1, 1), ChannelOrder.Bgr, tilePixels: 1);
        int center = (1 * image.Width + 1) * 3;
        Assert.Equal([255, 128, 0], image.Pixels[center..(center + 3)]);
    }

    [Fact]
    public void FiltersAndActivations_OfTheDefaultModel_HaveOneTilePerFilterAndChannel()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        var conv1 = (Conv2dLayer)bundle.Network["conv1"];
        var filters = LayerViews.Filters(backend.Download(conv1.Weight.Value), conv1.Weight.Value.Shape, ChannelOrder.Gray, tilePixels: 5);
        // 32 filters of 5x5: a 6x6 grid (ceil sqrt 32) of 5-pixel tiles with 1-pixel gaps.
        Assert.Equal((6 * 5 + 7, 6 * 5 + 7), (filters.Width, filters.Height));

        var boot = ImageTensors.ToInput(ImageFile.Read(Fixtures.Path("images", "ankle_boot.png")), bundle.Preprocessing);
        using var x = backend.Upload(boot, bundle.Network.InputShape(1));
        using var pass = bundle.Network.Forward(x);
        var conv2 = pass.Output("conv2");
        var grid = LayerViews.Activations(backend.Download(conv2), conv2.Shape, tilePixels: 14);
        Assert.Equal((8 * 14 + 9, 8 * 14 + 9), (grid.Width, grid.Height)); // 64 channels of 14x14
    }

    /// <summary>
    /// A deconvnet projection from one pooling unit is zero outside the unit's receptive field
    /// (rows and columns [i·J - P, i·J - P + R - 1] in input pixels, from the layers' kernels,
    /// strides and pads) and not zero inside. AlexNet's pool5 unit (0, 0): R 195, J 32, P 64; the
    /// default model's pool5 units see the whole 28x28 input (R 51), so its pool2 unit (0, 0), R 19,
    /// is the one with a border to check.
    /// </summary>
    [Theory]
    [InlineData("alexnet", "pool5", 195)]
    [InlineData("fashion-alexnet", "pool2", 19)]
    public void DeconvnetProjection_IsZeroOutsideTheReceptiveField(string model, string layer, int expectedSize)
    {
        using var backend = new CpuBackend();
        using var network = model == "alexnet" ? AlexNet.Create(backend, seed: 2) : ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend).Network;
        var field = ReceptiveFields.Of(network, layer).Vertical;
        Assert.Equal(expectedSize, field.Size);
        var shape = network.InputShape(1);
        using var x = backend.Upload(TestData.Uniform(shape.ElementCount, 9), shape);
        using var pass = network.Forward(x, upTo: layer);
        int channel = Enumerable.Range(0, pass.Last.Shape.C).First(c => backend.Download(pass.Last)[c * pass.Last.Shape.H * pass.Last.Shape.W] > 0);
        var gradient = Attribution.InputGradient(network, x, new Target(layer, channel, 0, 0), ReluRule.Deconvnet);
        int h = shape.H, w = shape.W, last = field.First + field.Size - 1;
        double inside = 0;
        for (int c = 0; c < shape.C; c++)
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                {
                    float v = gradient[(c * h + y) * w + xx];
                    if (y > last || xx > last) Assert.True(v == 0, $"nonzero {v} at ({y}, {xx}), outside rows/columns 0..{last}");
                    else inside += Math.Abs(v);
                }
        Assert.True(inside > 0, "the projection is zero everywhere");
    }

    [Fact]
    public void GradientsFromOneSharedForwardPass_EqualSeparateRuns()
    {
        using var backend = new CpuBackend();
        using var network = AlexNet.Create(backend, seed: 4);
        var shape = network.InputShape(1);
        using var x = backend.Upload(TestData.Uniform(shape.ElementCount, 6), shape);
        var target = new Target("conv5", 11, 6, 6);
        ReluRule[] rules = [ReluRule.Gradient, ReluRule.Deconvnet, ReluRule.Guided];
        var shared = Attribution.InputGradients(network, x, target, rules);
        for (int r = 0; r < rules.Length; r++)
            Assert.Equal(Attribution.InputGradient(network, x, target, rules[r]), shared[r]);
        Assert.NotEqual(shared[0], shared[1]);
    }

    [Fact]
    public void Displays_NormIsNonNegativeAndZeroGradientIsMidGray()
    {
        using var backend = new CpuBackend();
        var p = new Preprocessing(3, 4, 4, ChannelOrder.Rgb, 1f, [0f, 0f, 0f], [1f, 1f, 1f]);
        var zero = Attribution.Render(new float[48], p, GradientDisplay.Raw, backend, 1f);
        Assert.All(zero.Pixels, v => Assert.InRange(v, (byte)127, (byte)128));
        var gradient = TestData.Uniform(48, 4);
        var norm = Attribution.Render(gradient, p, GradientDisplay.Norm, backend, 1f);
        int brightest = Enumerable.Range(0, 16).MaxBy(i => Math.Sqrt(gradient[i] * gradient[i] + gradient[16 + i] * gradient[16 + i] + gradient[32 + i] * gradient[32 + i]));
        Assert.Equal(255, norm.Pixels[brightest * 3]);
        var blurred = Attribution.Render(gradient, p, GradientDisplay.NormBlur, backend, 1f);
        Assert.NotEqual(norm.Pixels, blurred.Pixels);
    }

    private static ModelBundle DefaultBundle(CpuBackend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    private static float[] Boot(ModelBundle bundle) => ImageTensors.ToInput(ImageFile.Read(Fixtures.Path("images", "ankle_boot.png")), bundle.Preprocessing);

    [Theory]
    [InlineData("relu5", 7)]
    [InlineData("conv3", 7)]
    [InlineData("pool1", 14)]
    public void GradCam_IsNonNegative_AtTheLayersSpatialSize(string layer, int size)
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        using var x = backend.Upload(Boot(bundle), bundle.Network.InputShape(1));
        var cam = GradCam.Compute(bundle.Network, x, layer, new Target("fc8", 9));
        Assert.Equal((size, size, size * size), (cam.Height, cam.Width, cam.Map.Length));
        Assert.All(cam.Map, v => Assert.True(v >= 0));
        Assert.Contains(cam.Map, v => v > 0);
        var upsampled = GradCam.Upsampled(cam, 28, 28);
        Assert.Equal(784, upsampled.Length);
        // Bilinear samples fall between the map's cells, so the peak of 1 is approached, not hit.
        Assert.InRange(upsampled.Max(), 0.5f, 1f);
        var e = Assert.Throws<ArgumentException>(() => GradCam.Compute(bundle.Network, x, "fc6", new Target("fc8", 9)));
        Assert.Contains("Grad-CAM needs feature maps", e.Message);
    }

    /// <summary>
    /// The ankle boot sits on a black background. A black patch over black pixels leaves the input
    /// unchanged, so the class probability must not move (within float noise of running the copy
    /// in another batch position: 1e-6); patches over the boot must move it.
    /// </summary>
    [Fact]
    public void Occlusion_OverABlankRegion_LeavesTheProbabilityUnchanged()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var image = ImageFile.Read(Fixtures.Path("images", "ankle_boot.png"));
        using var x = backend.Upload(Boot(bundle), bundle.Network.InputShape(1));
        var p = bundle.Preprocessing;
        float black = (0 * p.PixelScale - p.Mean[0]) * p.Scale[0];
        var map = Occlusion.Compute(bundle.Network, x, new Target("fc8", 9), isClass: true, patch: 4, stride: 4, fill: [black], batchSize: 10);
        Assert.Equal((7, 7), (map.Rows, map.Cols));
        int blank = 0, moved = 0;
        for (int r = 0; r < map.Rows; r++)
            for (int c = 0; c < map.Cols; c++)
            {
                bool allBlack = true;
                for (int y = map.Tops[r]; y < map.Tops[r] + 4; y++)
                    for (int xx = map.Lefts[c]; xx < map.Lefts[c] + 4; xx++)
                        allBlack &= image.Pixels[y * 28 + xx] == 0;
                float value = map.Values[r * map.Cols + c];
                if (allBlack)
                {
                    blank++;
                    Assert.True(Math.Abs(value - map.Baseline) <= 1e-6, $"patch ({r}, {c}) over black pixels moved the probability from {map.Baseline} to {value}");
                }
                else if (Math.Abs(value - map.Baseline) > 1e-3) moved++;
            }
        Assert.True(blank >= 5, $"only {blank} blank patches");
        Assert.True(moved >= 3, $"only {moved} patches over the boot changed the probability");
        var drop = OcclusionMaps.DropPerPixel(map, 28, 28);
        Assert.Equal(784, drop.Length);
    }
}
