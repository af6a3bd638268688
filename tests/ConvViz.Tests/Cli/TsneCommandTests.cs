using System.Text.Json;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>`convviz tsne` on the default model's bundled samples: the CSV, scatter plot, image map,
/// page and card; --n above the data set's size clamped with a note; bad input as one-line errors.</summary>
[Collection(CliHarness.Collection)]
public sealed class TsneCommandTests
{
    private static string Samples => Fixtures.Path("..", "..", "weights", "fashion-alexnet", "samples");

    [Fact]
    public void Tsne_WritesTheCsvScatterImageMapPageAndCard()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("tsne", "--data", Samples, "--n", "300", "--iterations", "300", "--seed", "3", "--out", output);
        Assert.True(result.Exit == 0, result.Error);

        string folder = Path.Combine(output, "tsne");
        var csv = File.ReadAllLines(Path.Combine(folder, "fc7.csv"));
        Assert.Equal("index,label,class,x,y", csv[0]);
        Assert.Equal(301, csv.Length);
        Assert.StartsWith("0,0,\"T-shirt/top\",", csv[1]);
        string svg = File.ReadAllText(Path.Combine(folder, "fc7-scatter.svg"));
        Assert.Equal(300, svg.Split("<circle").Length - 1);
        // The samples are grouped by class, so the first 300 are classes 0 to 2; the legend lists those present.
        Assert.Contains("2 Pullover", svg);
        Assert.DoesNotContain("Ankle boot", svg);
        var map = ImageFile.Read(Path.Combine(folder, "fc7-map.png"));
        Assert.Equal((40 * 28, 40 * 28), (map.Width, map.Height));
        Assert.Contains("data:image/svg+xml;base64,", File.ReadAllText(Path.Combine(folder, "fc7.html")));

        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "tsne.json")));
        var root = card.RootElement;
        Assert.Equal("tsne", root.GetProperty("method").GetString());
        Assert.Equal(300, root.GetProperty("parameters").GetProperty("n").GetInt32());
        Assert.Equal(3, root.GetProperty("parameters").GetProperty("seed").GetInt32());
        Assert.Equal("Exact", root.GetProperty("parameters").GetProperty("method").GetString());
        Assert.Equal(50, root.GetProperty("parameters").GetProperty("pcaDimensions").GetInt32());
        var curve = root.GetProperty("results").GetProperty("klCurve");
        Assert.Equal(6, curve.GetArrayLength());
        Assert.True(curve[5].GetProperty("kl").GetDouble() < curve[0].GetProperty("kl").GetDouble());
        Assert.True(root.GetProperty("timingsMs").GetProperty("optimization").GetDouble() > 0);
        Assert.Equal(4, root.GetProperty("outputs").GetArrayLength());
    }

    [Fact]
    public void Tsne_OnAnImagesIdxFile_ClampsNToTheDataSet_WithANote()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("tsne", "--data", Path.Combine(Samples, "t10k-images-idx3-ubyte.gz"), "--n", "5000", "--iterations", "60",
            "--method", "barnes-hut", "--learning-rate", "auto", "--grid", "20", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("note: --n 5,000 is more than the 1,000 images", result.Output);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "tsne.json")));
        var parameters = card.RootElement.GetProperty("parameters");
        Assert.Equal(1000, parameters.GetProperty("n").GetInt32());
        Assert.Equal("BarnesHut", parameters.GetProperty("method").GetString());
        Assert.Equal(50, parameters.GetProperty("learningRate").GetDouble());
        Assert.Equal(90, parameters.GetProperty("neighbours").GetInt32());
        Assert.Equal(400, card.RootElement.GetProperty("results").GetProperty("imagesOnMap").GetInt32());
        Assert.Equal(1001, File.ReadAllLines(Path.Combine(output, "tsne", "fc7.csv")).Length);
    }

    /// <summary>The default perplexity (30) needs 91 points; on fewer it is fitted and said, while a perplexity the user gave is refused (below).</summary>
    [Fact]
    public void Tsne_FitsTheDefaultPerplexityToAFewImages()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("tsne", "--data", Samples, "--n", "50", "--iterations", "50", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("50 images are too few for the default perplexity 30; using 14.7", result.Output);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "tsne.json")));
        Assert.Equal(14.7, card.RootElement.GetProperty("parameters").GetProperty("perplexity").GetDouble());
    }

    [Fact]
    public void Tsne_OnAnEmptyDataSet_IsAOneLineError()
    {
        string empty = FashionMnist.TempFolder();
        new LabeledImages([], [], 28, 28, "empty").SaveSplit(empty, LabeledImages.TestSplit);
        CliHarness.AssertOneLineError(CliHarness.Run("tsne", "--data", empty), "holds no images");
    }

    [Theory]
    [InlineData("--n 50 --perplexity 30", "--perplexity 30 is too large for 50 points: t-SNE needs N - 1 > 3 x perplexity")]
    [InlineData("--layer fc9", "no layer named 'fc9'")]
    [InlineData("--learning-rate 0", "--learning-rate 0 must be greater than 0")]
    [InlineData("--learning-rate fast", "--learning-rate 'fast' is not a number or auto")]
    [InlineData("--iterations 0", "--iterations 0 must be at least 1")]
    [InlineData("--n 0", "--n 0 must be at least 1")]
    [InlineData("--method quick", "--method 'quick' is unknown; expected exact, barnes-hut or auto")]
    public void Tsne_BadOptions_AreOneLineErrors(string arguments, string message)
    {
        string[] args = ["tsne", "--data", Samples, "--out", FashionMnist.TempFolder(), .. arguments.Split(' ')];
        CliHarness.AssertOneLineError(CliHarness.Run(args), message);
    }
}
