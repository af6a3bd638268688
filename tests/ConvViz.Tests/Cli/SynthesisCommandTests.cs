using System.Diagnostics;
using System.Text.Json;
using ConvViz.Cli;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>What the synthesis and attribution commands share: Ctrl+C, --class by name, --raw model inputs,
/// and file names that keep runs with different targets or settings apart.</summary>
[Collection(CliHarness.Collection)]
public sealed class SynthesisCommandTests
{
    private static string Boot => Fixtures.Path("images", "ankle_boot.png");

    [Fact]
    public void Optimize_CancelledMidRun_ExitsWith130_AndSaysCancelled()
    {
        // A dedicated thread, not a timer: the cpu backend's parallel steps can keep the thread pool (and so a
        // CancellationTokenSource's timer callback) busy for the whole run on a two-core machine.
        using var cancel = new CancellationTokenSource();
        var canceller = new Thread(() => { Thread.Sleep(TimeSpan.FromSeconds(3)); cancel.Cancel(); }) { IsBackground = true };
        canceller.Start();
        var output = new StringWriter();
        var error = new StringWriter();
        var clock = Stopwatch.StartNew();
        // 100,000 steps take many minutes: only the token ends this run early.
        int exit = CliApp.Run(["optimize", "--class", "1", "--iterations", "100000", "--out", FashionMnist.TempFolder()], output, error, cancel.Token);
        Assert.Equal(130, exit);
        Assert.Equal("error: cancelled", error.ToString().Trim());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the run took {clock.Elapsed} after the cancel");
    }

    [Theory]
    [InlineData("optimize", "--iterations", "2")]
    [InlineData("saliency", "--input", "BOOT")]
    [InlineData("deconv", "--input", "BOOT")]
    [InlineData("guided", "--input", "BOOT")]
    [InlineData("gradcam", "--input", "BOOT")]
    [InlineData("occlusion", "--input", "BOOT", "--patch", "14", "--stride", "14")]
    public void Class_TakesANameInAnyCase_AndRefusesAnUnknownOneInOneLine(string command, params string[] rest)
    {
        string[] args = [command, .. rest.Select(a => a == "BOOT" ? Boot : a)];
        string output = FashionMnist.TempFolder();
        var named = CliHarness.Run([.. args, "--class", "ankle BOOT", "--out", output]);
        Assert.True(named.Exit == 0, named.Error);
        Assert.True(named.Output.Contains("fc8 unit 9") || named.Output.Contains("class 9"), named.Output);

        var unknown = CliHarness.Run([.. args, "--class", "boot", "--out", FashionMnist.TempFolder()]);
        CliHarness.AssertOneLineError(unknown, "--class 'boot' is not one of the model's classes ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', ...; 10 in all)");
    }

    [Fact]
    public void OptimizeRaw_IsTheLastImageTheNetworkSaw()
    {
        string output = FashionMnist.TempFolder();
        string raw = Path.Combine(output, "last.npy");
        var result = CliHarness.Run("optimize", "--class", "4", "--iterations", "12", "--out", output, "--raw", raw);
        Assert.True(result.Exit == 0, result.Error);
        var written = Npy.Read(raw);
        Assert.Equal([1, 1, 28, 28], written.Shape);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "optimize.json")));
        double last = card.RootElement.GetProperty("results").GetProperty("objectives").EnumerateArray().Last().GetDouble();

        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        using var x = backend.Upload(written.Data, bundle.Network.InputShape(1));
        using var pass = bundle.Network.Forward(x, "fc8");
        Assert.Equal(last, backend.Download(pass.Last)[4], 4);
    }

    [Fact]
    public void DreamAndStyleRaw_AreTheResultAsModelInput()
    {
        string output = FashionMnist.TempFolder();
        string dreamRaw = Path.Combine(output, "dream.npy"), styleRaw = Path.Combine(output, "style.npy");
        var dream = CliHarness.Run("dream", "--input", Boot, "--iterations", "2", "--octaves", "2", "--out", output, "--raw", dreamRaw);
        Assert.True(dream.Exit == 0, dream.Error);
        var style = CliHarness.Run("style", "--content", Boot, "--style", Boot, "--iterations", "2", "--out", output, "--raw", styleRaw);
        Assert.True(style.Exit == 0, style.Error);

        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        foreach (var (raw, png) in new[] { (dreamRaw, Path.Combine(output, "dream", "ankle_boot-relu3-oct2-it2-dream.png")), (styleRaw, Path.Combine(output, "style", "ankle_boot-ankle_boot-relu4-it2-stylized.png")) })
        {
            var written = Npy.Read(raw);
            Assert.Equal([1, 1, 28, 28], written.Shape);
            // The PNG shows the same image 8 times larger with crisp pixels (issue 18: single images are at least 224 px a side).
            Assert.Equal(ImageFile.Read(png).Pixels, Enlargement.Nearest(ImageTensors.ToImage(written.Data, bundle.Preprocessing), 8).Pixels);
        }
    }

    [Fact]
    public void Optimize_TwoRunsIntoOneFolder_KeepBoth_WhenTheirUnitPositionsOrSettingsDiffer()
    {
        string output = FashionMnist.TempFolder();
        string[][] runs =
        [
            ["--layer", "conv5", "--unit", "5,3,3"],
            ["--layer", "conv5", "--unit", "5,1,1"],
            ["--layer", "conv5", "--unit", "5,1,1", "--lr", "0.5"],
        ];
        foreach (var run in runs)
        {
            var result = CliHarness.Run(["optimize", .. run, "--iterations", "3", "--out", output]);
            Assert.True(result.Exit == 0, result.Error);
        }
        string folder = Path.Combine(output, "optimize");
        Assert.True(File.Exists(Path.Combine(folder, "conv5-5-y3-x3-preset3-it3-seed0-best.png")));
        Assert.True(File.Exists(Path.Combine(folder, "conv5-5-y1-x1-preset3-it3-seed0-best.png")));
        Assert.True(File.Exists(Path.Combine(folder, "conv5-5-y1-x1-preset3-it3-lr0.5-seed0-best.png")));
        Assert.Equal(3, Directory.GetFiles(folder, "*-last.png").Length);
    }

    [Fact]
    public void Attribution_FileNamesCarryTheUnitsPosition()
    {
        string output = FashionMnist.TempFolder();
        Assert.Equal(0, CliHarness.Run("saliency", "--input", Boot, "--layer", "conv5", "--unit", "3,2,4", "--out", output).Exit);
        Assert.Equal(0, CliHarness.Run("saliency", "--input", Boot, "--layer", "conv5", "--unit", "3,1,1", "--out", output).Exit);
        Assert.True(File.Exists(Path.Combine(output, "saliency", "ankle_boot-conv5-3-y2-x4-raw.png")));
        Assert.True(File.Exists(Path.Combine(output, "saliency", "ankle_boot-conv5-3-y1-x1-raw.png")));
    }
}
