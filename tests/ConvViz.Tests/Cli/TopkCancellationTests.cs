using System.Text.Json;
using System.Text.RegularExpressions;
using ConvViz.Cli;
using ConvViz.Engine.Mining;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>topk cancelled through the token CliApp.Run hands every command (what Ctrl+C cancels): the
/// pass stops at a batch boundary with its state saved, exits 130, and --resume ends where an uninterrupted run does.</summary>
[Collection(CliHarness.Collection)]
public sealed partial class TopkCancellationTests
{
    [Fact]
    public void CancelledThroughTheToken_SavesTheState_AndResumesToTheSameUnits()
    {
        string data = FashionMnist.SubsetFolder(0, 5000);
        string whole = FashionMnist.TempFolder(), parts = FashionMnist.TempFolder();
        string[] command = ["topk", "--data", data, "--layer", "fc8", "--k", "3", "--batch", "10"];
        Assert.Equal(0, CliHarness.Run([.. command, "--out", whole]).Exit);

        // Cancel as soon as the first batch's state is on the disk: 500 batches leave time to stop long before the end.
        // A thread of its own watches, so a busy thread pool cannot delay it.
        string statePath = Path.Combine(parts, "topk", "state.json");
        using var cancel = new CancellationTokenSource();
        var watcher = new Thread(() =>
        {
            while (!File.Exists(statePath) && !cancel.IsCancellationRequested) Thread.Yield();
            cancel.Cancel();
        }) { IsBackground = true };
        watcher.Start();
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = CliApp.Run([.. command, "--out", parts], output, error, cancel.Token);
        watcher.Join();

        Assert.True(exit == 130, $"exit {exit}: {error}{output}");
        var interrupted = InterruptedAfter().Match(output.ToString());
        Assert.True(interrupted.Success, output.ToString());
        int processed = int.Parse(interrupted.Groups[1].Value);
        Assert.InRange(processed, 10, 4990);
        Assert.Equal(processed, TopKState.Load(statePath).Processed);
        Assert.False(File.Exists(Path.Combine(parts, "topk", "index.json")));

        var resumed = CliHarness.Run([.. command, "--resume", "--out", parts]);
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Equal(Units(whole), Units(parts));
    }

    private static string Units(string output) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "topk", "index.json"))).RootElement.GetProperty("layers").ToString();

    [GeneratedRegex(@"interrupted after (\d+) of 5000 images")]
    private static partial Regex InterruptedAfter();
}
