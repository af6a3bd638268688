using System.Text.Json;
using ConvViz.Engine.Imaging;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>`convviz dream` on the default model: the dreamed and start images, the card with every
/// parameter and per-octave objective, repeatability, and the one-line errors.</summary>
[Collection(CliHarness.Collection)]
public sealed class DreamCommandTests
{
    private static string Boot => Fixtures.Path("images", "ankle_boot.png");

    [Fact]
    public void Dream_FromTheFirstSample_WritesTheImages_AndACardWithEveryOctave()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("dream", "--iterations", "3", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("dreaming on layer 'relu3' from the model's first sample image", result.Output);
        Assert.Equal(224, ImageFile.Read(Path.Combine(output, "dream", "sample0-relu3-it3-dream.png")).Width); // 28x28 shown 8 times larger (issue 18)
        Assert.True(File.Exists(Path.Combine(output, "dream", "sample0-start.png")));

        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "dream.json")));
        var root = card.RootElement;
        Assert.Equal("dream", root.GetProperty("method").GetString());
        var options = root.GetProperty("parameters").GetProperty("options");
        Assert.Equal(4, options.GetProperty("octaves").GetInt32());
        Assert.Equal(1.4, options.GetProperty("octaveScale").GetDouble(), 1e-6);
        Assert.Equal(3, options.GetProperty("iterations").GetInt32());
        Assert.Equal(1.5, options.GetProperty("step").GetDouble(), 1e-6);
        Assert.Equal(4, options.GetProperty("jitter").GetInt32());
        Assert.Equal(0, options.GetProperty("seed").GetInt32());
        Assert.Equal("relu3", root.GetProperty("parameters").GetProperty("layer").GetString());
        var octaves = root.GetProperty("results").GetProperty("octaves").EnumerateArray().ToList();
        Assert.Equal([10, 14, 20, 28], octaves.Select(o => o.GetProperty("width").GetInt32()));
        Assert.All(octaves, o => Assert.True(o.GetProperty("objectiveAfter").GetDouble() > o.GetProperty("objectiveBefore").GetDouble()));
        Assert.True(root.GetProperty("timingsMs").GetProperty("dream").GetDouble() > 0);
        // With the objective chart since issue 18.
        Assert.Equal(["dream/sample0-start.png", "dream/sample0-relu3-it3-dream.png", "dream/sample0-relu3-it3-dream-objective.png"],
            root.GetProperty("outputs").EnumerateArray().Select(o => o.GetString()));
    }

    [Fact]
    public void Dream_FromAnInput_WithTheSameSeedAndThreads_RepeatsTheImage()
    {
        string first = FashionMnist.TempFolder(), second = FashionMnist.TempFolder();
        string[] args = ["dream", "--input", Boot, "--iterations", "2", "--octaves", "2", "--seed", "3", "--threads", "2"];
        var one = CliHarness.Run([.. args, "--out", first]);
        Assert.True(one.Exit == 0, one.Error);
        var two = CliHarness.Run([.. args, "--out", second]);
        Assert.True(two.Exit == 0, two.Error);
        var image = ImageFile.Read(Path.Combine(first, "dream", "ankle_boot-relu3-oct2-it2-seed3-dream.png"));
        Assert.Equal(image.Pixels, ImageFile.Read(Path.Combine(second, "dream", "ankle_boot-relu3-oct2-it2-seed3-dream.png")).Pixels);
        Assert.NotEqual(image.Pixels, ImageFile.Read(Path.Combine(first, "dream", "ankle_boot-start.png")).Pixels);
    }

    [Fact]
    public void TwoRunsIntoOneFolder_WithOtherLayers_KeepBoth()
    {
        string output = FashionMnist.TempFolder();
        foreach (string layer in new[] { "relu2", "relu3" })
        {
            var result = CliHarness.Run("dream", "--input", Boot, "--layer", layer, "--iterations", "1", "--octaves", "1", "--out", output);
            Assert.True(result.Exit == 0, result.Error);
        }
        var relu2 = ImageFile.Read(Path.Combine(output, "dream", "ankle_boot-relu2-oct1-it1-dream.png"));
        var relu3 = ImageFile.Read(Path.Combine(output, "dream", "ankle_boot-relu3-oct1-it1-dream.png"));
        Assert.NotEqual(relu2.Pixels, relu3.Pixels);
        Assert.True(File.Exists(Path.Combine(output, "dream-2.json")));
    }

    [Theory]
    [InlineData("no layer named 'conv9'", "--layer", "conv9")]
    [InlineData("--octaves 0 must be at least 1", "--octaves", "0")]
    [InlineData("--octave-scale 1 must be greater than 1", "--octave-scale", "1")]
    [InlineData("--step 0 must be greater than 0", "--step", "0")]
    [InlineData("--iterations 0 must be at least 1", "--iterations", "0")]
    [InlineData("--jitter -1 must be at least 0", "--jitter", "-1")]
    [InlineData("--octaves 6 makes the smallest octave 5x5, too small for layer 'relu3' (needs at least 6x6); use at most 5 octaves", "--octaves", "6")]
    [InlineData("--octaves 4: layer 'fc6' has no spatial extent", "--layer", "fc6")]
    public void BadInputs_AreOneLineErrors(string message, params string[] args)
    {
        CliHarness.AssertOneLineError(CliHarness.Run(["dream", .. args, "--out", FashionMnist.TempFolder()]), message);
    }
}
