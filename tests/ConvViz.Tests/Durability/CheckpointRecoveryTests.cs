using ConvViz.Engine.Training;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Durability;

/// <summary><see cref="Checkpoint.Recover"/> on the folders a kill can leave at each moment of a
/// checkpoint swap (FOLDER.next written whole with state.json last, FOLDER to .old, .next to FOLDER).</summary>
public sealed class CheckpointRecoveryTests
{
    /// <summary>A checkpoint-shaped folder tagged with the epoch it stands for; complete when it has state.json.</summary>
    private static void Make(string folder, string epoch, bool complete = true)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "model.onnx"), epoch);
        if (complete) File.WriteAllText(Path.Combine(folder, Checkpoint.StateFile), epoch);
    }

    private static string Epoch(string folder) => File.ReadAllText(Path.Combine(folder, "model.onnx"));

    private static string[] Left(string root) => Directory.GetDirectories(root).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void KilledBetweenTheTwoRenames_TheCompleteNextIsSwappedIn()
    {
        string root = FashionMnist.TempFolder(), checkpoint = Path.Combine(root, "checkpoint");
        Make(checkpoint + ".old", "1");
        Make(checkpoint + ".next", "2");
        Assert.True(Checkpoint.Recover(checkpoint));
        Assert.Equal("2", Epoch(checkpoint));
        Assert.Equal(["checkpoint"], Left(root));
    }

    [Fact]
    public void OnlyOldLeft_AndNextHalfWritten_TheOldOneIsPutBack()
    {
        string root = FashionMnist.TempFolder(), checkpoint = Path.Combine(root, "checkpoint");
        Make(checkpoint + ".old", "1");
        Make(checkpoint + ".next", "2", complete: false);
        Assert.True(Checkpoint.Recover(checkpoint));
        Assert.Equal("1", Epoch(checkpoint));
        Assert.Equal(["checkpoint"], Left(root));
    }

    [Fact]
    public void KilledWhileWritingNext_TheCurrentOneStands()
    {
        string root = FashionMnist.TempFolder(), checkpoint = Path.Combine(root, "checkpoint");
        Make(checkpoint, "1");
        Make(checkpoint + ".next", "2", complete: false);
        Assert.True(Checkpoint.Recover(checkpoint));
        Assert.Equal("1", Epoch(checkpoint));
        Assert.Equal(["checkpoint"], Left(root));
    }

    [Fact]
    public void KilledAfterNextWasComplete_BeforeTheFirstRename_TheNewerOneWins()
    {
        string root = FashionMnist.TempFolder(), checkpoint = Path.Combine(root, "checkpoint");
        Make(checkpoint, "1");
        Make(checkpoint + ".next", "2");
        Assert.True(Checkpoint.Recover(checkpoint));
        Assert.Equal("2", Epoch(checkpoint));
        Assert.Equal(["checkpoint"], Left(root));
    }

    [Fact]
    public void KilledBeforeTheFirstCheckpointWasComplete_ThereIsNone()
    {
        string root = FashionMnist.TempFolder(), checkpoint = Path.Combine(root, "checkpoint");
        Assert.False(Checkpoint.Recover(checkpoint));
        Make(checkpoint + ".next", "1", complete: false);
        Assert.False(Checkpoint.Recover(checkpoint));
        Assert.Empty(Left(root));
    }
}
