using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Training;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Figures;

/// <summary>
/// What the runs write with the figures on the default model (28x28 gray): every single image at least 224 pixels a
/// side and exactly the raw image enlarged with crisp pixels; class names on the class-score layers; the charts
/// written with labels and left out without.
/// </summary>
public sealed class FigureRunTests
{
    private static string Boot => Fixtures.Path("images", "ankle_boot.png");

    private static ModelBundle Open(CpuBackend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    private static RunOutputs Outputs(string method, string folder) => new(new ExperimentCard(method, "fashion-alexnet", "ankle_boot.png"), folder, Path.Combine(folder, method));

    [Fact]
    public void SingleImages_AreTheRawImagesEnlargedEightTimes_WithCrispPixels()
    {
        using var backend = new CpuBackend();
        using var bundle = Open(backend);
        var p = bundle.Preprocessing;
        string folder = FashionMnist.TempFolder();
        var boot = ImageTensors.ToInput(ImageFile.Read(Boot), p);
        using var x = backend.Upload(boot, bundle.Network.InputShape(1));

        var attribution = AttributionRuns.Run(bundle, x, "boot", new Target("fc8", 9), ReluRule.Gradient, null, Colormap.Gray, Outputs("saliency", folder));
        var seen = ImageTensors.ToImage(boot, p);
        Assert.Equal(Enlargement.Nearest(seen, 8).Pixels, ImageFile.Read(Path.Combine(folder, "saliency", "boot-fc8-9-input.png")).Pixels);
        Assert.Equal(Enlargement.Nearest(Attribution.Render(attribution.Gradient, p, GradientDisplay.Norm, backend, attribution.BlurSigma, Colormap.Gray), 8).Pixels,
            ImageFile.Read(Path.Combine(folder, "saliency", "boot-fc8-9-norm.png")).Pixels);

        string raw = Path.Combine(folder, "last.npy");
        var optimizeOutputs = Outputs("optimize", folder);
        var result = OptimizationRuns.Single(bundle, new Target("fc8", 1), 3, OptimizationOptions.Preset(3).AdaptedTo(p) with { Iterations = 4 }, null, optimizeOutputs, raw);
        string stem = Path.Combine(folder, "optimize", "fc8-1-preset3-it4-seed0");
        Assert.Equal(Enlargement.Nearest(ImageTensors.ToImageCentered(Npy.Read(raw).Data, p), 8).Pixels, ImageFile.Read($"{stem}-last.png").Pixels);
        Assert.Equal(Enlargement.Nearest(ImageTensors.ToImageCentered(result.Best, p), 8).Pixels, ImageFile.Read($"{stem}-best.png").Pixels);
        Assert.Equal((800, 480), (ImageFile.Read($"{stem}-objective.png").Width, ImageFile.Read($"{stem}-objective.png").Height));

        // Bare: with labels the heatmaps are figures, a title above and a colour bar of real values below (HeatmapTests).
        GradCamRuns.Run(bundle, x, "boot", null, "9", Colormap.Jet, 0.5f, normalize: false, Outputs("gradcam", folder) with { Labels = false });
        OcclusionRuns.Run(bundle, x, "boot", new Target("fc8", 9), true, new OcclusionOptions(), Colormap.Jet, Outputs("occlusion", folder) with { Labels = false });
        var singles = new[] { "saliency", "optimize", "gradcam", "occlusion" }
            .SelectMany(m => Directory.GetFiles(Path.Combine(folder, m), "*.png")).Where(f => !f.EndsWith("-objective.png", StringComparison.Ordinal)).ToArray();
        Assert.Equal(5 + (result.Majority is null ? 3 : 4) + 3 + 2, singles.Length);
        foreach (string file in singles)
        {
            var image = ImageFile.Read(file);
            Assert.True((image.Width, image.Height) == (224, 224), $"{Path.GetFileName(file)} is {image.Width}x{image.Height}");
            Assert.Equal(image.Pixels, Enlargement.Nearest(EveryEighthPixel(image), 8).Pixels);
        }
    }

    [Fact]
    public void WithoutLabels_NoChartIsWritten_AndTheMontageCarriesNoText()
    {
        using var backend = new CpuBackend();
        using var bundle = Open(backend);
        string folder = FashionMnist.TempFolder();
        var options = OptimizationOptions.Preset(3).AdaptedTo(bundle.Preprocessing) with { Iterations = 3 };
        var bare = Outputs("optimize", folder) with { Labels = false };
        var (_, montage) = OptimizationRuns.Units(bundle, [new Target("fc8", 1), new Target("fc8", 7)], 3, options, 2, null, bare);
        Assert.Empty(Directory.GetFiles(Path.Combine(folder, "optimize"), "*-objective.png"));

        var labelled = Outputs("optimize", folder) with { Folder = Path.Combine(folder, "labelled") };
        var (_, named) = OptimizationRuns.Units(bundle, [new Target("fc8", 1), new Target("fc8", 7)], 3, options, 2, null, labelled);
        Assert.Single(Directory.GetFiles(Path.Combine(folder, "labelled"), "*-objective.png"));
        // Same tiles; the labelled montage adds a title and a name and objective under each tile.
        Assert.True(ImageFile.Read(named).Height > ImageFile.Read(montage).Height + 40);
    }

    [Fact]
    public void ClassScoreLayers_NameTheirUnitsByClass()
    {
        using var backend = new CpuBackend();
        using var bundle = Open(backend);
        Assert.Same(bundle.Classes, UnitNames.ClassesOf(bundle, "fc8"));
        Assert.Same(bundle.Classes, UnitNames.ClassesOf(bundle, "prob"));
        Assert.Null(UnitNames.ClassesOf(bundle, "fc7"));
        Assert.Equal("Trouser", UnitNames.Of(bundle, "fc8", 1));
        Assert.Equal("unit 1", UnitNames.Of(bundle, "conv5", 1));
        Assert.Equal("fc8 unit 1 (Trouser)", UnitNames.Describe(bundle, new Target("fc8", 1)));
        Assert.Equal("conv5 unit 3 at (2, 1)", UnitNames.Describe(bundle, new Target("conv5", 3, 2, 1)));

        using var x = backend.Upload(ImageTensors.ToInput(ImageFile.Read(Boot), bundle.Preprocessing), bundle.Network.InputShape(1));
        string folder = FashionMnist.TempFolder();
        var run = LayerViewRuns.Activations(bundle, x, "prob", Colormap.Gray, Normalization.PerLayer, Outputs("activations", folder));
        Assert.Equal(Path.Combine(folder, "activations", "prob.png"), Assert.Single(run.Files));
    }

    [Fact]
    public void TrainingCharts_ShowTrainAndTestByEpoch()
    {
        string folder = FashionMnist.TempFolder();
        var history = new[]
        {
            new EpochRecord(1, 0.9, 0.7, 0.02, 10, 100, 0.6, 0.8),
            new EpochRecord(2, 0.5, 0.85, 0.01, 10, 100, 0.45, 0.86),
            new EpochRecord(3, 0.4, 0.88, 0, 10, 100, 0.41, 0.87),
        };
        TrainingRun.WriteCharts(folder, "fashion-alexnet", history);
        foreach (string chart in new[] { TrainingRun.LossChart, TrainingRun.AccuracyChart })
        {
            var image = ImageFile.Read(Path.Combine(folder, chart));
            Assert.Equal((800, 480), (image.Width, image.Height));
            // Both curves, in the palette's first two colours.
            foreach (var color in LineChart.Palette.Take(2))
                Assert.Contains(Enumerable.Range(0, image.Width * image.Height), i => image.Pixels[3 * i] == color.Red && image.Pixels[3 * i + 1] == color.Green && image.Pixels[3 * i + 2] == color.Blue);
        }
    }

    /// <summary>The top-left pixel of every 8x8 block.</summary>
    private static Image8 EveryEighthPixel(Image8 image)
    {
        int width = image.Width / 8, height = image.Height / 8, channels = image.Channels;
        var pixels = new byte[width * height * channels];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                Array.Copy(image.Pixels, (y * 8 * image.Width + x * 8) * channels, pixels, (y * width + x) * channels, channels);
        return new Image8(width, height, channels, pixels);
    }
}
