using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Durability;

/// <summary>
/// The folders a killed `convviz train` can leave, built directly from the checkpoints of a real run,
/// and what continuing them must give: the model of the uninterrupted run, byte for byte.
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class TrainResumeWindowTests
{
    private sealed record Runs(string Data, string[] Command, string Finished, string EpochOne);

    private static readonly Lazy<Runs> Shared = new(() =>
    {
        string data = FashionMnist.SubsetFolder(train: 48, test: 30), root = FashionMnist.TempFolder();
        string finished = Path.Combine(root, "finished"), paused = Path.Combine(root, "paused");
        string[] command = ["train", "--data", data, "--epochs", "2", "--batch", "16", "--threads", "1", "--samples-per-class", "0", "--seed", "5"];
        Assert.Equal(0, CliHarness.Run([.. command, "--out", finished]).Exit);
        Assert.Equal(0, CliHarness.Run([.. command, "--out", paused, "--pause-after", "1"]).Exit);
        return new Runs(data, command, finished, Path.Combine(paused, "checkpoint"));
    });

    /// <summary>A new --out as a killed run leaves it: its manifest and the given checkpoint folders.</summary>
    private static string Killed(params (string Name, string From)[] checkpoints)
    {
        string output = FashionMnist.TempFolder();
        File.Copy(Path.Combine(Shared.Value.Finished, ".convviz"), Path.Combine(output, ".convviz"));
        foreach (var (name, from) in checkpoints) Copy(from, Path.Combine(output, name));
        return output;
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    /// <summary>--resume with the flags a checkpoint does not record, as the uninterrupted run had them.</summary>
    private static string[] Resume(string output) => ["train", "--out", output, "--resume", "--threads", "1", "--samples-per-class", "0"];

    private static string LastCheckpoint => Path.Combine(Shared.Value.Finished, "checkpoint");

    private static void AssertFinishedAsTheUninterruptedRun(string output, (int Exit, string Output, string Error) result, bool trainedAnEpoch)
    {
        Assert.True(result.Exit == 0, result.Error + result.Output);
        Assert.Equal(trainedAnEpoch, result.Output.Contains("epoch 2/2:"));
        Assert.Contains("wrote the bundle to", result.Output);
        Assert.Equal(File.ReadAllBytes(Path.Combine(Shared.Value.Finished, "model.onnx")), File.ReadAllBytes(Path.Combine(output, "model.onnx")));
        Assert.Equal(["checkpoint"], Directory.GetDirectories(output, "checkpoint*").Select(Path.GetFileName));
    }

    [Fact]
    public void KilledAfterTheLastCheckpoint_BeforeTheBundle_ResumeWritesIt()
    {
        string output = Killed(("checkpoint", LastCheckpoint));
        AssertFinishedAsTheUninterruptedRun(output, CliHarness.Run(Resume(output)), trainedAnEpoch: false);
        CliHarness.AssertOneLineError(CliHarness.Run(Resume(output)), "all 2 epochs are done");
    }

    [Fact]
    public void KilledAfterTheLastCheckpoint_TheSameCommandAgainWritesTheBundle()
    {
        string output = Killed(("checkpoint", LastCheckpoint));
        // Killed while writing the bundle: model.onnx is there, training.json (written last) is not.
        File.WriteAllBytes(Path.Combine(output, "model.onnx"), [1, 2, 3]);
        AssertFinishedAsTheUninterruptedRun(output, CliHarness.Run([.. Shared.Value.Command, "--out", output]), trainedAnEpoch: false);
    }

    [Fact]
    public void KilledBetweenTheRenames_ResumeTakesTheCompleteNext()
    {
        string output = Killed(("checkpoint.old", Shared.Value.EpochOne), ("checkpoint.next", LastCheckpoint));
        AssertFinishedAsTheUninterruptedRun(output, CliHarness.Run(Resume(output)), trainedAnEpoch: false);
    }

    [Fact]
    public void OnlyOldAndAHalfWrittenNext_ResumeContinuesFromOld()
    {
        string output = Killed(("checkpoint.old", Shared.Value.EpochOne), ("checkpoint.next", LastCheckpoint));
        File.Delete(Path.Combine(output, "checkpoint.next", "state.json"));
        var result = CliHarness.Run(Resume(output));
        Assert.Contains("resuming after epoch 1", result.Output);
        AssertFinishedAsTheUninterruptedRun(output, result, trainedAnEpoch: true);
    }
}
