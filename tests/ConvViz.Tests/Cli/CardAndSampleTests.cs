using System.Text.Json;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>The infrastructure every command shares: experiment cards kept per run with enums by name,
/// and --sample N, a bundled sample of the model as the input of any command that takes --input.</summary>
[Collection(CliHarness.Collection)]
public sealed class CardAndSampleTests
{
    private static string FashionBundle => Fixtures.Path("..", "..", "weights", "fashion-alexnet");

    [Fact]
    public void ASecondRunInTheSameFolder_WritesItsOwnCard_AndTheFirstStaysAsItWas()
    {
        string output = FashionMnist.TempFolder();
        string[] args = ["optimize", "--class", "1", "--iterations", "2", "--out", output];
        var first = CliHarness.Run(args);
        Assert.True(first.Exit == 0, first.Error);
        string firstCard = Path.Combine(output, "optimize.json");
        byte[] firstBytes = File.ReadAllBytes(firstCard);

        var second = CliHarness.Run([.. args, "--seed", "1"]);
        Assert.True(second.Exit == 0, second.Error);
        string secondCard = Path.Combine(output, "optimize-2.json");
        // The summary line names the new card, so the newest is found without listing the folder.
        Assert.Contains(secondCard, second.Output.Replace("\n", ""));
        Assert.Equal(firstBytes, File.ReadAllBytes(firstCard));
        using (var card = JsonDocument.Parse(File.ReadAllText(secondCard)))
            Assert.Equal(1, card.RootElement.GetProperty("parameters").GetProperty("options").GetProperty("seed").GetInt32());

        var third = CliHarness.Run(args);
        Assert.True(third.Exit == 0, third.Error);
        Assert.True(File.Exists(Path.Combine(output, "optimize-3.json")));
        Assert.Equal(["optimize-2.json", "optimize-3.json", "optimize.json"], Directory.GetFiles(output, "optimize*.json").Select(Path.GetFileName).Order(StringComparer.Ordinal));
        // The folder stays claimed as convviz's: a fourth run is not refused as writing into someone else's files.
        Assert.Contains("./", File.ReadAllLines(Path.Combine(output, ".convviz")));
    }

    [Fact]
    public void CardNumbers_ContinuePastTheHighest_SoTheHighestIsTheNewest()
    {
        string folder = FashionMnist.TempFolder();
        File.WriteAllText(Path.Combine(folder, "dream.json"), "{}");
        File.WriteAllText(Path.Combine(folder, "dream-7.json"), "{}");
        File.WriteAllText(Path.Combine(folder, "dream-x.json"), "{}");
        File.WriteAllText(Path.Combine(folder, "dreamy-9.json"), "{}");
        Assert.Equal(Path.Combine(folder, "dream-8.json"), new ExperimentCard("dream", "m", "i").Save(folder));
        Assert.Equal(Path.Combine(folder, "dreamy-10.json"), new ExperimentCard("dreamy", "m", "i").Save(folder));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(folder, "dream-7.json")));
    }

    [Fact]
    public void Cards_WriteEnumValuesByName()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("optimize", "--class", "1", "--iterations", "2", "--preset", "1", "--out", output);
        Assert.True(result.Exit == 0, result.Error);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "optimize.json")));
        var policy = card.RootElement.GetProperty("parameters").GetProperty("options").GetProperty("policy");
        Assert.Equal(JsonValueKind.String, policy.ValueKind);
        Assert.Equal(nameof(StepPolicy.Progress), policy.GetString());
    }

    [Fact]
    public void Sample_IsTheSameInputAsItsImageGivenAsAFile_AndTheCardSaysWhichSample()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(FashionBundle, backend);
        var sample = bundle.Sample(3);
        string image = Path.Combine(FashionMnist.TempFolder(), "sample.png");
        ImageFile.Write(image, sample.Image);

        var fromFile = CliHarness.Run("forward", "--input", image);
        var fromSample = CliHarness.Run("forward", "--sample", "3");
        Assert.True(fromSample.Exit == 0, fromSample.Error);
        // Past the first line (which names the input and the time), the top-5 tables agree.
        Assert.Equal(fromFile.Output.Split('\n').Skip(1), fromSample.Output.Split('\n').Skip(1));
        Assert.NotEqual(CliHarness.Run("forward", "--sample", "4").Output.Split('\n').Skip(1), fromSample.Output.Split('\n').Skip(1));

        string output = FashionMnist.TempFolder();
        var activations = CliHarness.Run("activations", "--sample", "3", "--layer", "conv1", "--out", output);
        Assert.True(activations.Exit == 0, activations.Error);
        using var card = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "activations.json")));
        Assert.Equal("sample3", card.RootElement.GetProperty("input").GetString());
    }

    [Theory]
    [InlineData("saliency", "--class", "1")]
    [InlineData("occlusion", "--patch", "14", "--stride", "14")]
    [InlineData("optimize", "--class", "1", "--iterations", "2")]
    [InlineData("dream", "--iterations", "1", "--octaves", "1")]
    [InlineData("report")]
    public void Sample_IsTheInputOfEveryCommandThatTakesOne(string command, params string[] args)
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run([command, "--sample", "2", .. args, "--out", output]);
        Assert.True(result.Exit == 0, result.Error);
        Assert.Contains(Directory.GetFiles(output, "*.json"), card => File.ReadAllText(card).Contains("sample"));
    }

    [Fact]
    public void Sample_OfAPhotoBundle_IsOneOfItsImages()
    {
        var result = CliHarness.Run("activations", "--model", "resnet18-imagenet", "--sample", "0", "--layer", "conv1", "--out", FashionMnist.TempFolder());
        Assert.True(result.Exit == 0, result.Error);
        CliHarness.AssertOneLineError(CliHarness.Run("forward", "--model", "resnet18-imagenet", "--sample", "99", "--dump", FashionMnist.TempFolder()),
            "--sample 99 is out of range: resnet18-imagenet has");
    }

    [Fact]
    public void Sample_OutOfRange_OrOfAModelWithoutSamples_OrWithInput_IsOneLine()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(FashionBundle, backend);
        int count = bundle.SampleCount;
        Assert.True(count > 0);
        CliHarness.AssertOneLineError(CliHarness.Run("forward", "--sample", $"{count}"),
            $"--sample {count} is out of range: fashion-alexnet has {count} samples, 0 to {count - 1}");

        string bare = Path.Combine(FashionMnist.TempFolder(), "model.onnx");
        File.Copy(Path.Combine(FashionBundle, ModelBundle.ModelFile), bare);
        CliHarness.AssertOneLineError(CliHarness.Run("forward", "--model", bare, "--sample", "0"), $"--sample 0: {bare} has no samples");

        CliHarness.AssertOneLineError(CliHarness.Run("forward", "--input", "x.png", "--sample", "1"), "--input x.png and --sample 1 name two inputs; give one");
        CliHarness.AssertOneLineError(CliHarness.Run("forward"), "--input FILE (an image or a .npy) or --sample N (one of the model's bundled samples) is required");
        CliHarness.AssertOneLineError(CliHarness.Run("report", "--sample", "1", "--samples", "2"), "--sample 1 names the one image to show; give it without --samples");
    }
}
