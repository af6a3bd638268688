using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;
using ConvViz.Engine.Visualization;

namespace ConvViz.Tests.Visualization;

/// <summary>The one-call runs of dream, style, occlusion, Grad-CAM and the attribution methods: their defaults,
/// their parameter-named errors, and the files they write and list in the card.</summary>
public sealed class RunOutputsTests
{
    private static ModelBundle DefaultBundle(Backend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    private static int ColorBarHeight => ConvViz.Engine.Figures.ColorBar.Height;

    private static RunOutputs Outputs(string method)
    {
        string root = FashionMnist.TempFolder();
        return new RunOutputs(new ExperimentCard(method, "test", "test input"), root, Path.Combine(root, method));
    }

    /// <summary>conv1 → relu1 → conv2 added to relu1 → relu2 → conv3 (1x1) → relu3 → flatten → fc → softmax (3 classes), on 8x8 gray inputs.</summary>
    private static ModelBundle Graph(Backend backend, IReadOnlyList<string> classes)
    {
        var init = new WeightInitializer(backend, 3);
        GraphNode[] nodes =
        [
            new(init.Conv("conv1", 1, 4, Conv2dGeometry.Square(3, pad: 1)), [Network.Input]),
            new(new ReluLayer("relu1"), [0]),
            new(init.Conv("conv2", 4, 4, Conv2dGeometry.Square(3, pad: 1)), [1]),
            new(new AddLayer("add2"), [2, 1]),
            new(new ReluLayer("relu2"), [3]),
            new(init.Conv("conv3", 4, 2, Conv2dGeometry.Square(1)), [4]),
            new(new ReluLayer("relu3"), [5]),
            new(ReshapeLayer.Flatten("flatten"), [6]),
            new(init.FullyConnected("fc", 2 * 8 * 8, 3), [7]),
            new(new SoftmaxLayer("prob"), [8]),
        ];
        var network = new Network(new Shape(1, 8, 8), nodes);
        return new ModelBundle("graph", network, Preprocessing.Default(network.SampleShape), classes, []);
    }

    private static Tensor RandomInput(Backend backend, Network network)
    {
        var random = new Random(1);
        return backend.Upload(Enumerable.Range(0, 64).Select(_ => (float)random.NextDouble()).ToArray(), network.InputShape(1));
    }

    [Fact]
    public void Occlusion_DefaultsToASeventhOfTheInput_AndHalfThatStride()
    {
        var small = new OcclusionOptions().Resolve(Preprocessing.Default(new Shape(1, 28, 28)));
        Assert.Equal((4, 2), (small.Patch, small.Stride));
        var large = new OcclusionOptions().Resolve(Preprocessing.Default(new Shape(3, 224, 224)));
        Assert.Equal((32, 16), (large.Patch, large.Stride));
        var given = new OcclusionOptions { Patch = 7 }.Resolve(Preprocessing.Default(new Shape(1, 28, 28)));
        Assert.Equal((7, 3), (given.Patch, given.Stride));
    }

    /// <summary>The fill is a pixel value through the model's preprocessing, black (pixel 0) unless given. Under a mean image
    /// one pixel value is a different input at every position, so the fill is a whole input; it used to be refused there
    /// and to default to the mean (input 0), which is gray, not empty, on a black background (issue 18).</summary>
    [Fact]
    public void Occlusion_RefusesAPatchLargerThanTheInput_AndFillsWithBlackThroughThePreprocessing()
    {
        var gray = Preprocessing.Default(new Shape(1, 28, 28));
        var patch = Assert.Throws<ArgumentOutOfRangeException>(() => new OcclusionOptions { Patch = 29 }.Resolve(gray));
        Assert.Equal("Patch", patch.ParamName);
        Assert.StartsWith("Patch 29 must be between 1 and the input size 28", patch.Message);
        Assert.Equal("FillPixel", Assert.Throws<ArgumentOutOfRangeException>(() => new OcclusionOptions { FillPixel = 256 }.Resolve(gray)).ParamName);

        var fashion = gray with { Mean = [0.286f], Scale = [1 / 0.353f] };
        var resolved = new OcclusionOptions().Resolve(fashion);
        Assert.Equal(OcclusionOptions.DefaultFillPixel, resolved.FillPixel);
        Assert.Equal([fashion.ToInput(0, 0, 0)], resolved.Fill(fashion));
        Assert.True(resolved.Fill(fashion)[0] < -0.8f, "black is below the mean, not input 0");
        Assert.Contains("pixel 0 (black) in every channel, input value -0.81", resolved.DescribeFill(fashion));

        var meanImage = Preprocessing.Default(new Shape(3, 8, 8)) with { PixelScale = 1, MeanImage = Enumerable.Range(0, 3 * 64).Select(i => (float)i).ToArray() };
        var fill = new OcclusionOptions { FillPixel = 100 }.Resolve(meanImage).Fill(meanImage);
        Assert.Equal(Enumerable.Range(0, 3 * 64).Select(i => 100f - i), fill);
        Assert.Contains("through the mean image", new OcclusionOptions().DescribeFill(meanImage));
    }

    [Fact]
    public void Occlusion_WritesTheDropAndTheOverlay_NamedByInputAndTarget()
    {
        using var backend = new CpuBackend();
        using var bundle = Graph(backend, ["cat", "dog", "bird"]);
        using var x = RandomInput(backend, bundle.Network);
        var outputs = Outputs("occlusion");
        var run = OcclusionRuns.Run(bundle, x, "noise", new Target("fc", 2), classProbability: true, new OcclusionOptions { Patch = 4, Stride = 4 }, Colormap.Jet, outputs);
        Assert.Equal((2, 2), (run.Map.Rows, run.Map.Cols));
        Assert.Equal(["occlusion/noise-fc-2-drop.png", "occlusion/noise-fc-2-overlay.png"], outputs.Card.Outputs);
        Assert.Equal("probability of class 2 (bird)", outputs.Card.Target);
        // The 8x8 map enlarged with crisp pixels to 224 and more, under a title and over a colour bar.
        Assert.True(ImageFile.Read(Path.Combine(outputs.Folder, "noise-fc-2-drop.png")).Height > 224 + ColorBarHeight);
        var drop = OcclusionMaps.DropPerPixel(run.Map, 8, 8);
        Assert.Equal(new[] { (double)drop.Min(), drop.Max() }, (double[])outputs.Card.Results["colorBar"]!);
    }

    [Fact]
    public void GradCam_DefaultsToTheLastSpatialReluOfAGraph_AndNeedsClasses()
    {
        using var backend = new CpuBackend();
        using var bundle = Graph(backend, ["cat", "dog", "bird"]);
        Assert.Equal("relu3", GradCamRuns.DefaultLayer(bundle.Network));
        using var x = RandomInput(backend, bundle.Network);
        var outputs = Outputs("gradcam");
        var run = GradCamRuns.Run(bundle, x, "noise", null, "dog", Colormap.Jet, 0.5f, normalize: false, outputs);
        Assert.Equal((new Target("fc", 1), "relu3"), (run.Target, run.Layer));
        Assert.Equal((8, 8), (run.Map.Height, run.Map.Width));
        Assert.Equal(["gradcam/noise-relu3-class1-heatmap.png", "gradcam/noise-relu3-class1-overlay.png", "gradcam/noise-relu3-class1-guided-gradcam.png"], outputs.Card.Outputs);

        using var unlabelled = Graph(backend, []);
        var refused = Assert.Throws<ArgumentException>(() => GradCamRuns.Run(unlabelled, x, "noise", null, null, Colormap.Jet, 0.5f, normalize: false, Outputs("gradcam")));
        Assert.StartsWith("gradcam (it has no unit form) needs class scores, and graph has no classifier", refused.Message);
        Assert.Equal("Opacity", Assert.Throws<ArgumentOutOfRangeException>(() => GradCamRuns.Run(bundle, x, "noise", null, null, Colormap.Jet, 2, normalize: false, Outputs("gradcam"))).ParamName);
    }

    [Fact]
    public void Attribution_WritesTheInputAndFourDisplays_AndTheGradientAsNpy()
    {
        using var backend = new CpuBackend();
        using var bundle = Graph(backend, ["cat", "dog", "bird"]);
        using var x = RandomInput(backend, bundle.Network);
        var outputs = Outputs("guided");
        string raw = Path.Combine(outputs.Root, "gradient.npy");
        var target = new Target("conv3", 1, 2, 3);
        var run = AttributionRuns.Run(bundle, x, "noise", target, ReluRule.Guided, null, Colormap.Gray, outputs, raw);
        Assert.Equal(Attribution.InputGradient(bundle.Network, x, target, ReluRule.Guided), run.Gradient);
        Assert.Equal(Attribution.DefaultBlurSigma(bundle.Preprocessing), run.BlurSigma);
        Assert.Equal(new[] { "input", "raw", "gray", "norm", "normblur" }.Select(d => $"guided/noise-conv3-1-y2-x3-{d}.png"), outputs.Card.Outputs.Take(5));
        Assert.Equal("gradient.npy", outputs.Card.Outputs[^1]);
        Assert.Equal(run.Gradient, Engine.IO.Npy.Read(raw).Data);
        Assert.Equal("BlurSigma", Assert.Throws<ArgumentOutOfRangeException>(() =>
            AttributionRuns.Run(bundle, x, "noise", target, ReluRule.Guided, 0, Colormap.Gray, Outputs("guided"))).ParamName);
    }

    [Fact]
    public void Dream_NamesItsImageByLayerAndTheSettingsThatDiffer()
    {
        var p = Preprocessing.Default(new Shape(1, 28, 28));
        Assert.Equal("-relu3", DreamRuns.SettingsStem("relu3", DreamRuns.Defaults(p), p));
        Assert.Equal("-relu2-oct2-it3-jitter1-seed5", DreamRuns.SettingsStem("relu2", new DreamOptions { Octaves = 2, Iterations = 3, Jitter = 1, Seed = 5 }, p));

        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var outputs = Outputs("dream");
        var run = DreamRuns.Run(bundle, null, new DreamOptions { Octaves = 1, Iterations = 1 }, DreamRuns.NoiseStart(bundle.Preprocessing, 2), outputs);
        Assert.Equal(("relu3", 4), (run.Layer, run.Options.Jitter));
        Assert.Equal(["dream/noise-seed2-start.png", "dream/noise-seed2-relu3-oct1-it1-dream.png", "dream/noise-seed2-relu3-oct1-it1-dream-objective.png"], outputs.Card.Outputs);
        Assert.Equal(run.Image, Path.Combine(outputs.Folder, "noise-seed2-relu3-oct1-it1-dream.png"));
    }

    [Fact]
    public void Style_NamesItsImageByContentLayerAndTheSettingsThatDiffer()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var network = bundle.Network;
        Assert.Equal("-relu4", StyleRuns.SettingsStem(new StyleOptions().Resolve(network), network));
        Assert.Equal("-relu3-stylerelu1+relu2-sw10000-lbfgs-seed1",
            StyleRuns.SettingsStem(new StyleOptions { ContentLayer = "relu3", StyleLayers = ["relu1", "relu2"], StyleWeight = 1e4f, Optimizer = StyleOptimizer.Lbfgs, Seed = 1 }.Resolve(network), network));

        var outputs = Outputs("style");
        var noise = DeepDream.MeanPlusNoise(bundle.Preprocessing, 0);
        var run = StyleRuns.Run(bundle, new NamedInput("a", noise, "noise"), new NamedInput("b", noise, "noise"), new StyleOptions { Iterations = 1 }, outputs);
        Assert.Equal(["style/a-b-relu4-it1-stylized.png", "style/a-content.png", "style/b-style.png", "style/a-b-relu4-it1-stylized-losses.png"], outputs.Card.Outputs);
        Assert.Equal(2, run.Result.Losses.Count);
    }
}
