using System.Text.Json;
using System.Text.RegularExpressions;
using ConvViz.Cli;
using ConvViz.Engine.Mining;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>`convviz atlas`: the atlas, its card and the messages; Ctrl+C (the token CliApp.Run hands the command) and
/// --resume; bad input in one line with exit code 2.</summary>
[Collection(CliHarness.Collection)]
public sealed partial class AtlasCommandTests
{
    private static readonly Lazy<string> Data = new(() => FashionMnist.SubsetFolder(0, 60));

    private static string[] Command(string output, params string[] more) =>
        ["atlas", "--data", Data.Value, "--layers", "relu5,fc7", "--units", "0-3", "--units", "fc7:7,2", "--iterations", "30", "--out", output, .. more];

    [Fact]
    public void Atlas_WritesTheAtlasAndItsCard_AndRefusesToRedoOrChangeIt()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run(Command(output));
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains("atlas of 6 units (top 9 of 60 images each", result.Output);
        Assert.Contains("serve --atlas", result.Output.ReplaceLineEndings(" "));
        var atlas = Atlas.Open(output);
        Assert.Equal([7, 2], atlas.UnitsOf("fc7"));
        Assert.Equal([0, 1, 2, 3], atlas.UnitsOf("relu5"));
        Assert.Equal(9, atlas.Find("fc7", 2)!.Patches.Count);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "atlas.json")));
        Assert.Equal("atlas", card.RootElement.GetProperty("method").GetString());
        var outputs = card.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetString()).ToArray();
        Assert.Contains(Path.Combine(Atlas.RunFolder, "layers", "fc7", "unit-2", "deconv-8.png"), outputs);
        Assert.Contains(Path.Combine(Atlas.RunFolder, Atlas.ManifestFile), outputs);

        CliHarness.AssertOneLineError(CliHarness.Run(Command(output)), "already holds a finished atlas");
        CliHarness.AssertOneLineError(CliHarness.Run(Command(output, "--resume", "--k", "5")), "the interrupted atlas used k 9, this one asks for 5");
        CliHarness.AssertOneLineError(CliHarness.Run(Command(output, "--resume", "--preset", "2")), "the interrupted atlas used preset 3, this one asks for 2");
    }

    /// <summary>Cancelled once the first layer's optimized images are on the disk: exit 130 with the resume hint; --resume then
    /// ends with the manifest and optimized images of an uninterrupted run.</summary>
    [Fact]
    public void CancelledThroughTheToken_ResumesToTheUninterruptedAtlas()
    {
        string whole = FashionMnist.TempFolder(), parts = FashionMnist.TempFolder();
        Assert.Equal(0, CliHarness.Run(Command(whole)).Exit);

        string optimized = Path.Combine(parts, Atlas.RunFolder, "layers", "relu5", "optimized");
        using var cancel = new CancellationTokenSource();
        var watcher = new Thread(() =>
        {
            while (!(Directory.Exists(optimized) && Directory.EnumerateFiles(optimized).Any()) && !cancel.IsCancellationRequested) Thread.Yield();
            cancel.Cancel();
        }) { IsBackground = true };
        watcher.Start();
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = CliApp.Run(Command(parts), output, error, cancel.Token);
        watcher.Join();

        Assert.True(exit == 130, $"exit {exit}: {error}{output}");
        var interrupted = InterruptedAfter().Match(output.ToString());
        Assert.True(interrupted.Success, output.ToString());
        Assert.InRange(int.Parse(interrupted.Groups[1].Value), 0, 5);
        Assert.Contains("--resume", output.ToString());
        Assert.False(File.Exists(Path.Combine(parts, Atlas.RunFolder, Atlas.ManifestFile)));

        var resumed = CliHarness.Run(Command(parts, "--resume"));
        Assert.True(resumed.Exit == 0, resumed.Error);
        string Manifest(string root) => File.ReadAllText(Path.Combine(root, Atlas.RunFolder, Atlas.ManifestFile));
        Assert.Equal(Manifest(whole), Manifest(parts));
        var (first, second) = (Atlas.Open(whole), Atlas.Open(parts));
        foreach (string layer in first.Layers)
            foreach (int unit in first.UnitsOf(layer))
                Assert.Equal(File.ReadAllBytes(first.Find(layer, unit)!.Optimized!), File.ReadAllBytes(second.Find(layer, unit)!.Optimized!));
    }

    [GeneratedRegex(@"interrupted after 60 of 60 images mined and (\d+) of 6 units optimized")]
    private static partial Regex InterruptedAfter();

    [Theory]
    [InlineData("no layer named 'conv9'", "--layers", "conv9")]
    [InlineData("--units: unit 600 is out of range for layer 'fc7', which has 512 units (0 to 511)", "--layers", "fc7", "--units", "600")]
    [InlineData("--units names layer 'fc6', which is not among the --layers relu5", "--layers", "relu5", "--units", "fc6:0")]
    [InlineData("--units 'x' is not a list of channels", "--units", "x")]
    [InlineData("--units 2: a list for every layer is given twice", "--units", "0-1", "--units", "2")]
    [InlineData("--units fc7:3: layer 'fc7' is given twice", "--units", "fc7:0-1", "--units", "fc7:3")]
    [InlineData("--k 61 is more than the 60 images", "--k", "61")]
    [InlineData("--resume: ", "--resume")]
    [InlineData("holds no atlas to continue", "--resume")]
    public void BadInput_GivesOneLineErrors(string message, params string[] args) =>
        CliHarness.AssertOneLineError(CliHarness.Run(["atlas", "--data", Data.Value, "--iterations", "2", "--out", FashionMnist.TempFolder(), .. args]), message);

    [Fact]
    public void AnOutFolderOfSomeoneElsesFiles_IsRefused_AndLeftAlone()
    {
        string output = FashionMnist.TempFolder();
        File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
        CliHarness.AssertOneLineError(CliHarness.Run(Command(output)), "holds files convviz did not write (notes.txt)");
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(output).Select(Path.GetFileName));
    }
}
