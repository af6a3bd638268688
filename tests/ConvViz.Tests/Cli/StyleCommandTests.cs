using System.Text.Json;
using ConvViz.Engine.Imaging;
using ConvViz.Tests.Support;
using ConvViz.Tests.Visualization;

namespace ConvViz.Tests.Cli;

/// <summary>`convviz style` on the default model: the stylized image, the inputs as the model sees them,
/// the card, and the one-line errors.</summary>
[Collection(CliHarness.Collection)]
public sealed class StyleCommandTests
{
    private static string Boot => Fixtures.Path("images", "ankle_boot.png");

    private static string StripesFile()
    {
        string path = Path.Combine(FashionMnist.TempFolder(), "stripes.png");
        ImageFile.Write(path, NeuralStyleTests.Stripes());
        return path;
    }

    [Fact]
    public void Style_WritesTheImageTheInputsAndACard()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("style", "--content", Boot, "--style", StripesFile(), "--iterations", "5", "--optimizer", "adam", "--seed", "7", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        foreach (string file in new[] { "ankle_boot-stripes-relu4-it5-seed7-stylized.png", "ankle_boot-content.png", "stripes-style.png" })
            Assert.Equal(224, ImageFile.Read(Path.Combine(output, "style", file)).Width); // 28x28 shown 8 times larger (issue 18)

        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "style.json")));
        var root = card.RootElement;
        Assert.Equal("style", root.GetProperty("method").GetString());
        var options = root.GetProperty("parameters").GetProperty("options");
        Assert.Equal(7, options.GetProperty("seed").GetInt32());
        Assert.Equal("Adam", options.GetProperty("optimizer").GetString());
        Assert.Equal("relu4", options.GetProperty("contentLayer").GetString());
        Assert.Equal(5, options.GetProperty("styleLayers").GetArrayLength());
        Assert.Equal(6, root.GetProperty("results").GetProperty("content").GetArrayLength());
        Assert.Equal(6, root.GetProperty("results").GetProperty("style").GetArrayLength());
        Assert.True(root.GetProperty("results").GetProperty("final").GetProperty("content").GetDouble() > 0);
        Assert.True(root.GetProperty("timingsMs").GetProperty("meanStep").GetDouble() > 0);
        Assert.Equal(4, root.GetProperty("outputs").GetArrayLength()); // the three images and the loss chart (issue 18)
        Assert.True(File.Exists(Path.Combine(output, "style", "ankle_boot-stripes-relu4-it5-seed7-stylized-losses.png")));
    }

    [Fact]
    public void TwoRunsIntoOneFolder_WithOtherWeights_KeepBoth()
    {
        string output = FashionMnist.TempFolder(), stripes = StripesFile();
        foreach (string weight in new[] { "100", "10000" })
        {
            var result = CliHarness.Run("style", "--content", Boot, "--style", stripes, "--iterations", "3", "--style-weight", weight, "--out", output);
            Assert.True(result.Exit == 0, result.Error);
        }
        var plain = ImageFile.Read(Path.Combine(output, "style", "ankle_boot-stripes-relu4-it3-stylized.png"));
        var styled = ImageFile.Read(Path.Combine(output, "style", "ankle_boot-stripes-relu4-sw10000-it3-stylized.png"));
        Assert.NotEqual(plain.Pixels, styled.Pixels);
    }

    /// <summary>BOOT stands for the committed ankle-boot image.</summary>
    [Theory]
    [InlineData("give --content IMG", "--style", "BOOT")]
    [InlineData("give --style IMG", "--content", "BOOT")]
    [InlineData("--content missing.png: no such file", "--content", "missing.png", "--style", "BOOT")]
    [InlineData("--content-layer nope: no layer named 'nope'", "--content", "BOOT", "--style", "BOOT", "--content-layer", "nope")]
    [InlineData("--style-layers fc6: Gram matrices need feature maps (C, H, W)", "--content", "BOOT", "--style", "BOOT", "--style-layers", "relu1,fc6")]
    [InlineData("--style-weight -1 must be at least 0", "--content", "BOOT", "--style", "BOOT", "--style-weight", "-1")]
    [InlineData("--iterations 0 must be at least 1", "--content", "BOOT", "--style", "BOOT", "--iterations", "0")]
    [InlineData("--optimizer 'sgd' is unknown; expected one of Adam, Lbfgs", "--content", "BOOT", "--style", "BOOT", "--optimizer", "sgd")]
    [InlineData("--init 'zeros' is unknown; expected one of Noise, Content", "--content", "BOOT", "--style", "BOOT", "--init", "zeros")]
    public void BadInput_IsOneLineNamingTheOption(string message, params string[] args) =>
        CliHarness.AssertOneLineError(CliHarness.Run(args.Select(a => a == "BOOT" ? Boot : a).Prepend("style").ToArray()), message);
}
