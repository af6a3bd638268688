using System.Text.Json;
using ConvViz.Cli;
using ConvViz.Engine.Imaging;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>
/// Every command on the built-in resnet18-imagenet, which has no classifier: what needs class scores
/// refuses in one line naming the way to a unit, and every unit-level method runs (at small settings:
/// the network is 1.8 GMAC per image). Not here for time: report (about a minute on two cores) and
/// topk of a layer4 layer (512 units, a deconvnet projection each).
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class ResNet18CommandTests
{
    private const string Model = PackagedModels.ResNet18ImageNet;

    private static string Cat => Path.Combine(PackagedModels.SamplesFolder, "cat.png");

    [Theory]
    [InlineData("forward's table of top classes", "forward", "--input", "CAT")]
    [InlineData("the default target (the top class)", "saliency", "--input", "CAT", "--out", "OUT")]
    [InlineData("--class 5", "deconv", "--input", "CAT", "--class", "5", "--out", "OUT")]
    [InlineData("--class 1", "backward", "--input", "CAT", "--class", "1")]
    [InlineData("gradcam (it has no unit form)", "gradcam", "--input", "CAT", "--out", "OUT")]
    [InlineData("the default target (the top class)", "occlusion", "--input", "CAT", "--out", "OUT")]
    [InlineData("--class 3", "optimize", "--class", "3", "--out", "OUT")]
    [InlineData("eval (accuracy over labelled images)", "eval")]
    [InlineData("train (it fits class scores to labels)", "train", "--out", "OUT")]
    public void CommandsThatNeedClassesRefuseInOneLine(string what, params string[] args)
    {
        string output = FashionMnist.TempFolder();
        var line = args.Select(a => a == "CAT" ? Cat : a == "OUT" ? output : a).Concat(["--model", Model]).ToArray();
        CliHarness.AssertOneLineError(CliHarness.Run(line), $"{what} needs class scores, and {Model} has no classifier");
    }

    /// <summary>A fill pixel under the mean image is a black (or gray) square on the photo, a different input at every
    /// position; it used to be refused as not uniform in input space (issue 18 made black, pixel 0, the default fill).</summary>
    [Fact]
    public void OcclusionFillsAPixelValueThroughTheMeanImage()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("occlusion", "--model", Model, "--input", Cat, "--layer", "layer3.1.relu2", "--unit", "5", "--fill", "100",
            "--patch", "112", "--stride", "112", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "occlusion.json")));
        Assert.StartsWith("pixel 100 in every channel, through the mean image", card.RootElement.GetProperty("parameters").GetProperty("fill").GetString());
    }

    [Fact]
    public void ModelInfoShowsTheReadableNamesAndSaysThereAreNoClasses()
    {
        var result = CliHarness.Run("model", "info", "--model", Model);
        Assert.True(result.Exit == 0, result.Error);
        string flat = string.Concat(result.Output.Where(c => !char.IsWhiteSpace(c) && c != '│'));
        Assert.Contains("classes:none", flat);
        Assert.Contains("meanimage(mean.npy", flat);
        Assert.Contains("Convolution249", flat);
    }

    [Fact]
    public void UnitMethodsRunOnTheRealImageNetNetwork()
    {
        string output = FashionMnist.TempFolder();
        string Ok(params string[] args)
        {
            var result = CliHarness.Run([.. args, "--model", Model, "--out", output]);
            Assert.True(result.Exit == 0, $"{string.Join(" ", args)}: {result.Error}");
            return result.Output;
        }
        Ok("activations", "--input", Cat, "--layer", "layer4.2.relu2");
        Ok("filters", "--layer", "conv1");
        foreach (string method in new[] { "saliency", "deconv", "guided" })
            Ok(method, "--input", Cat, "--layer", "layer3.1.relu2", "--unit", "5");
        Ok("occlusion", "--input", Cat, "--layer", "layer3.1.relu2", "--unit", "5", "--patch", "56", "--stride", "56");
        Ok("optimize", "--layer", "layer4.2.add", "--unit", "153", "--iterations", "2");
        Ok("dream", "--layer", "layer3.1.relu2", "--iterations", "1", "--octaves", "1");
        Ok("style", "--content", Cat, "--style", Path.Combine(PackagedModels.SamplesFolder, "coffee.png"), "--iterations", "1");
        Ok("topk", "--layer", "layer1.0.relu2", "--k", "1");
        // Seven photos are too few for the defaults made for thousands (perplexity 30, a 40 x 40 map): they are fitted, and said.
        string tsne = Ok("tsne", "--layer", "avgpool");
        Assert.Contains("too few for the default perplexity 30; using 1.8", tsne);
        Assert.Contains("a 4 x 4 image map for 7 images", tsne);

        Assert.True(File.Exists(Path.Combine(output, "activations", "layer4.2.relu2.png")));
        // The default data of topk and tsne are the model's own seven photos, mined and embedded in color.
        using var topk = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "topk", "index.json")));
        Assert.Equal(7, topk.RootElement.GetProperty("images").GetInt32());
        Assert.Equal(3, ImageFile.Read(Path.Combine(output, "topk", "layer1.0.relu2-overview.png")).Channels);
        Assert.Equal(3, ImageFile.Read(Path.Combine(output, "tsne", "avgpool-map.png")).Channels);
        Assert.Equal(8, File.ReadAllLines(Path.Combine(output, "tsne", "avgpool.csv")).Length);
    }
}
