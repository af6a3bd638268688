using System.Text.Json;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

[Collection(CliHarness.Collection)]
public sealed class TopkCommandTests
{
    private static string Units(string output) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "topk", "index.json"))).RootElement.GetProperty("layers").ToString();

    [Fact]
    public void Topk_WritesUnitViewsOverviewsAndAnIndex()
    {
        string data = FashionMnist.SubsetFolder(0, 120);
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("topk", "--data", data, "--layer", "relu5,fc7", "--k", "4", "--batch", "50", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("top 4 of 120 images for 640 units of relu5, fc7", result.Output);
        var view = ImageFile.Read(Path.Combine(output, "topk", "relu5", "unit-7.png"));
        Assert.True(view.Width > 2 * view.Height, $"the view {view.Width}x{view.Height} holds patches and deconvolutions side by side");
        Assert.True(File.Exists(Path.Combine(output, "topk", "fc7", "unit-511.png")));
        Assert.True(File.Exists(Path.Combine(output, "topk", "relu5-overview.png")));
        using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "topk", "index.json")));
        var relu5 = index.RootElement.GetProperty("layers")[0];
        Assert.Equal("relu5", relu5.GetProperty("name").GetString());
        var top = relu5.GetProperty("units")[7].GetProperty("top");
        Assert.Equal(4, top.GetArrayLength());
        var values = top.EnumerateArray().Select(e => e.GetProperty("value").GetDouble()).ToArray();
        Assert.Equal(values.OrderByDescending(v => v), values);
        var fc7 = index.RootElement.GetProperty("layers")[1];
        Assert.Contains("whole image", fc7.GetProperty("patches").GetString());
        // 256 units a page (issue 18): fc7's 512 units take two overview pages, relu5's 128 one.
        Assert.Equal(["fc7-overview.png", "fc7-overview-page2.png"], fc7.GetProperty("overviewPages").EnumerateArray().Select(p => p.GetString()));
        Assert.All(fc7.GetProperty("overviewPages").EnumerateArray(), p => Assert.True(File.Exists(Path.Combine(output, "topk", p.GetString()!))));
        Assert.Equal(["relu5-overview.png"], relu5.GetProperty("overviewPages").EnumerateArray().Select(p => p.GetString()));
        Assert.True(File.Exists(Path.Combine(output, "topk.json")));
    }

    [Fact]
    public void StoppedAndResumed_WritesTheSameIndexAsAnUninterruptedRun()
    {
        string data = FashionMnist.SubsetFolder(0, 150);
        string whole = FashionMnist.TempFolder(), parts = FashionMnist.TempFolder();
        Assert.Equal(0, CliHarness.Run("topk", "--data", data, "--layer", "relu4", "--k", "3", "--batch", "40", "--out", whole).Exit);
        var stopped = CliHarness.Run("topk", "--data", data, "--layer", "relu4", "--k", "3", "--batch", "40", "--stop-after", "60", "--out", parts);
        Assert.True(stopped.Exit == 0, stopped.Error);
        Assert.Contains("stopped after 80 of 150 images", stopped.Output);
        Assert.False(File.Exists(Path.Combine(parts, "topk", "index.json")));
        CliHarness.AssertOneLineError(CliHarness.Run("topk", "--data", data, "--layer", "relu4", "--k", "3", "--out", parts), "already holds an interrupted top-k run");
        CliHarness.AssertOneLineError(CliHarness.Run("topk", "--data", data, "--layer", "relu4", "--k", "5", "--resume", "--out", parts), "used k 3, this one asks for 5");
        var resumed = CliHarness.Run("topk", "--data", data, "--layer", "relu4", "--k", "3", "--batch", "40", "--resume", "--out", parts);
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Equal(Units(whole), Units(parts));
        CliHarness.AssertOneLineError(CliHarness.Run("topk", "--data", data, "--layer", "relu4", "--out", parts), "already holds a finished top-k run");
    }

    [Fact]
    public void EmptyDataSet_IsAOneLineError()
    {
        string data = FashionMnist.TempFolder();
        new LabeledImages([], [], 28, 28, "empty").SaveSplit(data, LabeledImages.TestSplit);
        CliHarness.AssertOneLineError(CliHarness.Run("topk", "--data", data, "--out", FashionMnist.TempFolder()), "holds no images");
    }

    [Theory]
    [InlineData("--k 9 is more than the 5 images of the data set", "--limit", "5")]
    [InlineData("--k 0 must be at least 1", "--k", "0")]
    [InlineData("no layer named 'conv9'", "--layer", "conv9")]
    [InlineData("--resume: ", "--resume")]
    [InlineData("--split 'val' is unknown", "--split", "val")]
    public void BadInput_GivesOneLineErrors(string message, params string[] args) =>
        CliHarness.AssertOneLineError(CliHarness.Run(["topk", "--out", FashionMnist.TempFolder(), .. args]), message);
}
