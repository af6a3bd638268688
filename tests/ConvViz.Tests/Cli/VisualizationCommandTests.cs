using System.Text.Json;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>`convviz activations`, `filters`, `saliency`, `deconv` and `guided` on the default model and
/// the committed ankle-boot image: the files, the experiment cards, and the bad-input contract.</summary>
[Collection(CliHarness.Collection)]
public sealed class VisualizationCommandTests
{
    private static string Boot => Fixtures.Path("images", "ankle_boot.png");

    [Fact]
    public void Backward_TakesAClassByName_AsByNumber()
    {
        string byName = FashionMnist.TempFolder(), byNumber = FashionMnist.TempFolder();
        var named = CliHarness.Run("backward", "--input", Boot, "--class", "ANKLE boot", "--dump", byName);
        Assert.True(named.Exit == 0, named.Error);
        Assert.Contains("backward from fc8 channel 9", named.Output);
        var numbered = CliHarness.Run("backward", "--input", Boot, "--class", "9", "--dump", byNumber);
        Assert.True(numbered.Exit == 0, numbered.Error);
        Assert.Equal(Npy.Read(Path.Combine(byNumber, "input.grad.npy")).Data, Npy.Read(Path.Combine(byName, "input.grad.npy")).Data);
        CliHarness.AssertOneLineError(CliHarness.Run("backward", "--input", Boot, "--class", "boot"), "--class 'boot' is not one of the model's classes");
    }

    [Fact]
    public void Activations_WritesOneGridPerLayer_TopFive_AndACard()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("activations", "--input", Boot, "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("Ankle boot", result.Output);
        // 24 layers: the 23 of FashionAlexNet and the Flatten before fc6 that the ONNX file holds.
        Assert.Equal(24, Directory.GetFiles(Path.Combine(output, "activations"), "*.png").Length);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "activations.json")));
        Assert.Equal("activations", card.RootElement.GetProperty("method").GetString());
        Assert.Equal("Ankle boot", card.RootElement.GetProperty("results").GetProperty("top5")[0].GetProperty("name").GetString());
        Assert.True(card.RootElement.GetProperty("timingsMs").GetProperty("forward").GetDouble() > 0);

        var one = CliHarness.Run("activations", "--input", Boot, "--out", output, "--layer", "conv5", "--colormap", "Viridis");
        Assert.True(one.Exit == 0, one.Error);
        Assert.True(ImageFile.Read(Path.Combine(output, "activations", "conv5.png")).Width > 500, "--layer draws the layer at a larger scale");
    }

    [Fact]
    public void NoLabels_DrawsTheSameTilesWithoutAnyText()
    {
        string labelled = FashionMnist.TempFolder(), bare = FashionMnist.TempFolder();
        Assert.Equal(0, CliHarness.Run("activations", "--input", Boot, "--layer", "conv2", "--out", labelled).Exit);
        var plain = CliHarness.Run("activations", "--input", Boot, "--layer", "conv2", "--no-labels", "--out", bare);
        Assert.True(plain.Exit == 0, plain.Error);

        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        using var x = backend.Upload(ImageTensors.ToInput(ImageFile.Read(Boot), bundle.Preprocessing), bundle.Network.InputShape(1));
        using var pass = bundle.Network.Forward(x);
        var conv2 = pass.Output("conv2");
        var expected = LayerFigures.Activations(backend.Download(conv2), conv2.Shape, "conv2 (Conv)", Normalization.PerLayer, Colormap.Gray, 96, labels: false);
        Assert.Equal(Assert.Single(expected).Pixels, ImageFile.Read(Path.Combine(bare, "activations", "conv2.png")).Pixels);
        var withText = ImageFile.Read(Path.Combine(labelled, "activations", "conv2.png"));
        Assert.True(withText.Height > expected[0].Height + 8 * 10, "the labelled grid adds a title, a number under each of 8 rows of tiles and a colour bar");
    }

    [Fact]
    public void Filters_WritesEveryConvLayer()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("filters", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        foreach (string layer in new[] { "conv1", "conv2", "conv3", "conv4", "conv5" })
            Assert.True(File.Exists(Path.Combine(output, "filters", layer + ".png")), layer);
        CliHarness.AssertOneLineError(CliHarness.Run("filters", "--layer", "relu1"), "--layer relu1 is a Relu layer; filters exist for conv layers: conv1");
    }

    [Theory]
    [InlineData("saliency", ReluRule.Gradient)]
    [InlineData("deconv", ReluRule.Deconvnet)]
    [InlineData("guided", ReluRule.Guided)]
    public void Attribution_WritesFourDisplaysTheInputACard_AndTheRawGradient(string method, ReluRule rule)
    {
        string output = FashionMnist.TempFolder();
        string raw = Path.Combine(output, "raw.npy");
        var result = CliHarness.Run(method, "--input", Boot, "--class", "9", "--out", output, "--raw", raw);
        Assert.True(result.Exit == 0, result.Error);
        var files = Directory.GetFiles(Path.Combine(output, method), "*.png").Select(f => Path.GetFileName(f)!).Order().ToArray();
        Assert.Equal(["ankle_boot-fc8-9-gray.png", "ankle_boot-fc8-9-input.png", "ankle_boot-fc8-9-norm.png", "ankle_boot-fc8-9-normblur.png", "ankle_boot-fc8-9-raw.png"], files);
        // The 28x28 input is shown 8 times larger with crisp pixels (issue 18: single images are at least 224 px a side).
        Assert.Equal(Enlargement.Nearest(ImageFile.Read(Boot), 8).Pixels, ImageFile.Read(Path.Combine(output, method, "ankle_boot-fc8-9-input.png")).Pixels);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, method + ".json")));
        Assert.Equal(rule.ToString(), card.RootElement.GetProperty("parameters").GetProperty("rule").GetString());
        Assert.Equal("fc8 unit 9", card.RootElement.GetProperty("target").GetString());

        // --raw is d logit_9 / d input with seed 1.0, shape (1, 1, 28, 28): the library's result.
        var written = Npy.Read(raw);
        Assert.Equal([1, 1, 28, 28], written.Shape);
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        using var x = backend.Upload(ImageTensors.ToInput(ImageFile.Read(Boot), bundle.Preprocessing), bundle.Network.InputShape(1));
        var expected = Attribution.InputGradient(bundle.Network, x, new Target("fc8", 9), rule);
        TensorAssert.Close(expected, written.Data, 1e-6, 1e-6, method);
    }

    [Fact]
    public void Attribution_DefaultsToTheTopClass_AndTakesAUnit()
    {
        string output = FashionMnist.TempFolder();
        var top = CliHarness.Run("guided", "--input", Boot, "--out", output);
        Assert.True(top.Exit == 0, top.Error);
        Assert.Contains("fc8 unit 9", top.Output);
        var unit = CliHarness.Run("deconv", "--input", Boot, "--out", output, "--layer", "conv5", "--unit", "3,2,4");
        Assert.True(unit.Exit == 0, unit.Error);
        Assert.Contains("conv5 unit 3 at (2, 4)", unit.Output);
    }

    [Fact]
    public void GradCam_WritesHeatmapOverlayAndGuidedGradCam()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("gradcam", "--input", Boot, "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("Grad-CAM of Ankle boot (class 9) on relu5 (7x7)", result.Output);
        Assert.Equal(3, Directory.GetFiles(Path.Combine(output, "gradcam"), "*.png").Length);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "gradcam.json")));
        var results = card.RootElement.GetProperty("results");
        Assert.Equal(49, results.GetProperty("map").GetArrayLength());
        // The heatmap's colour bar spans the map's real values (the 7x7 map resized to 28x28 by bilinear interpolation stays within them).
        var map = results.GetProperty("map").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var bar = results.GetProperty("colorBar").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.InRange(bar[0], map.Min() - 1e-6, bar[1]);
        Assert.InRange(bar[1], bar[0], map.Max() + 1e-6);
        Assert.True(bar[1] > map.Max() / 2, $"the bar ends at {bar[1]}, far below the map's maximum {map.Max()}");

        var normalized = CliHarness.Run("gradcam", "--input", Boot, "--out", output, "--normalize");
        Assert.True(normalized.Exit == 0, normalized.Error);
        using var stretched = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "gradcam-2.json")));
        Assert.Equal([0d, 1d], stretched.RootElement.GetProperty("results").GetProperty("colorBar").EnumerateArray().Select(v => v.GetDouble()));
        Assert.True(stretched.RootElement.GetProperty("parameters").GetProperty("normalize").GetBoolean());
    }

    [Fact]
    public void Occlusion_WritesTheDropMapAndCard()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("occlusion", "--input", Boot, "--out", output, "--patch", "7", "--stride", "7");
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("over 4x4 positions with a fill of pixel 0 (black) in every channel", result.Output);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(output, "occlusion"), "*.png").Length);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "occlusion.json")));
        Assert.Equal(16, card.RootElement.GetProperty("results").GetProperty("values").GetArrayLength());
        Assert.Equal(0, card.RootElement.GetProperty("parameters").GetProperty("fillPixel").GetDouble());
    }

    [Fact]
    public void Optimize_WritesBestAndLastImages_AndACardWithEveryObjective()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("optimize", "--class", "9", "--lr", "1", "--iterations", "60", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("fc8 unit 9: best objective", result.Output);
        Assert.True(File.Exists(Path.Combine(output, "optimize", "fc8-9-preset3-it60-lr1-seed0-best.png")));
        Assert.True(File.Exists(Path.Combine(output, "optimize", "fc8-9-preset3-it60-lr1-seed0-best-pm.png")));
        Assert.True(File.Exists(Path.Combine(output, "optimize", "fc8-9-preset3-it60-lr1-seed0-last.png")));
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "optimize.json")));
        Assert.Equal(60, card.RootElement.GetProperty("results").GetProperty("objectives").GetArrayLength());
        Assert.Equal(1, card.RootElement.GetProperty("parameters").GetProperty("options").GetProperty("learningRate").GetDouble());
    }

    [Fact]
    public void OptimizeUnits_RunsThemAsOneBatch_AndWritesEachImageAndAMontage()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("optimize", "--layer", "conv5", "--units", "0-3,9", "--iterations", "30", "--batch", "3", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("5 units of conv5 in batches of 3", result.Output);
        foreach (int unit in new[] { 0, 1, 2, 3, 9 })
            Assert.True(File.Exists(Path.Combine(output, "optimize", $"conv5-{unit}-preset3-it30-seed0-best.png")), $"unit {unit}");
        var montage = ImageFile.Read(Path.Combine(output, "optimize", "conv5-units0-3,9-preset3-it30-seed0.png"));
        Assert.True(montage.Width > 3 * 28 && montage.Height > 2 * 28, $"montage {montage.Width}x{montage.Height} holds 3x2 tiles");
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "optimize.json")));
        var units = card.RootElement.GetProperty("results").GetProperty("units");
        Assert.Equal([0, 1, 2, 3, 9], units.EnumerateArray().Select(u => u.GetProperty("unit").GetInt32()));
    }

    [Fact]
    public void OptimizeSweep_WritesAGridAPageAndATableSortedByObjective()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("optimize", "--class", "5", "--sweep", "4", "--iterations", "25", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        string folder = Path.Combine(output, "optimize", "sweep");
        Assert.True(File.Exists(Path.Combine(folder, "fc8-5-preset3-it25-seed0-sweep4-sweepseed0-grid.png")));
        Assert.Contains("<figure style=", File.ReadAllText(Path.Combine(folder, "fc8-5-preset3-it25-seed0-sweep4-sweepseed0.html")));
        var rows = File.ReadAllLines(Path.Combine(folder, "fc8-5-preset3-it25-seed0-sweep4-sweepseed0.csv")).Skip(1).Select(line => line.Split(',')).ToArray();
        Assert.Equal(4, rows.Length);
        var best = rows.Select(r => double.Parse(r[6], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(best.OrderByDescending(v => v), best);
        Assert.True(rows.Select(r => r[1] + r[2] + r[4]).Distinct().Count() > 1, "the settings differ");
    }

    [Theory]
    [InlineData("--units '3-1' is not a list of channels such as 0-15 or 0,3,7-9", "optimize", "--layer", "conv5", "--units", "3-1")]
    [InlineData("--units needs --layer", "optimize", "--units", "0-3")]
    [InlineData("--sweep compares settings for one target", "optimize", "--layer", "conv5", "--units", "0-3", "--sweep", "3")]
    [InlineData("--sweep 0 must be at least 1", "optimize", "--class", "1", "--sweep", "0")]
    [InlineData("unit 128 is outside layer 'conv5' with 128 channels", "optimize", "--layer", "conv5", "--units", "120-128")]
    [InlineData("--jitter -1 must be at least 0", "optimize", "--class", "1", "--jitter", "-1")]
    [InlineData("--blur-sigma -1 must be greater than 0", "optimize", "--class", "1", "--blur-sigma", "-1")]
    [InlineData("--batch 0 must be at least 1", "optimize", "--layer", "conv5", "--units", "0-3", "--batch", "0")]
    public void OptimizeBadInput_GivesOneLineErrors(string message, params string[] args) =>
        CliHarness.AssertOneLineError(CliHarness.Run(args), message);

    [Theory]
    [InlineData("no layer named 'conv9'; the layers are: conv1, relu1, norm1, pool1, conv2", "saliency", "--layer", "conv9", "--unit", "0")]
    [InlineData("unit 500 is outside layer 'conv5' with 128 channels", "guided", "--layer", "conv5", "--unit", "500")]
    [InlineData("position (9, 0) is outside layer 'conv5'", "deconv", "--layer", "conv5", "--unit", "1,9,0")]
    [InlineData("--class 10 is outside the model's classes 0..9", "saliency", "--class", "10")]
    [InlineData("give either --class K or --layer L --unit C, not both", "saliency", "--class", "1", "--unit", "2")]
    [InlineData("no layer named 'fc9'", "activations", "--layer", "fc9")]
    [InlineData("Grad-CAM needs feature maps", "gradcam", "--layer", "fc6")]
    [InlineData("--opacity 2 must be at most 1", "gradcam", "--opacity", "2")]
    [InlineData("--patch 29 must be between 1 and the input size 28", "occlusion", "--patch", "29")]
    [InlineData("--fill 300 must be at most 255", "occlusion", "--fill", "300")]
    [InlineData("--preset 7 must be at most 4", "optimize", "--class", "1", "--preset", "7")]
    [InlineData("--norm-percentile 120 must be at most 100", "optimize", "--class", "1", "--norm-percentile", "120")]
    [InlineData("unit 300 is outside layer 'conv5' with 128 channels", "optimize", "--layer", "conv5", "--unit", "300")]
    public void BadTargets_AreOneLineErrors(string message, params string[] args)
    {
        CliHarness.AssertOneLineError(CliHarness.Run([.. args, "--input", Boot, "--out", FashionMnist.TempFolder()]), message);
    }

    [Fact]
    public void UndecodableImage_NamesTheFileAndTheReason()
    {
        string path = Path.Combine(FashionMnist.TempFolder(), "notes.png");
        File.WriteAllText(path, "not an image");
        CliHarness.AssertOneLineError(CliHarness.Run("saliency", "--input", path), $"{path}: not a PNG, JPEG, WebP, GIF, BMP, PGM or PPM image");
    }
}
