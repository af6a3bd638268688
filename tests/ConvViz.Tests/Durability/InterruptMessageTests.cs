using System.Diagnostics;
using System.Runtime.InteropServices;
using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Durability;

/// <summary>Ctrl+C says that work is saved only when it is: `convviz train` interrupted (SIGINT, as
/// Ctrl+C sends it) while its first epoch is being evaluated on the test split has saved nothing.</summary>
[Collection(CliHarness.Collection)]
public sealed partial class InterruptMessageTests
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    private const int SigInt = 2;

    [Fact]
    public async Task CtrlCDuringTheFirstTestPass_SaysNothingIsSaved()
    {
        // One training batch, then a test pass of seconds: the interrupt lands in the test pass (or in the
        // batch before it), and in both nothing has been saved yet.
        string data = FashionMnist.SubsetFolder(train: 16, test: 4000), output = FashionMnist.TempFolder();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in new[] { Path.Combine(AppContext.BaseDirectory, "convviz.dll"), "train", "--out", output, "--data", data, "--epochs", "1",
                     "--batch", "16", "--threads", "1", "--samples-per-class", "0" })
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        // The settings line comes just before the epochs start and Ctrl+C is handled.
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            lines.Add(line);
            if (line.StartsWith("epochs 1, batch 16")) break;
        }
        await Task.Delay(1500);
        Assert.Equal(0, Kill(process.Id, SigInt));
        lines.AddRange((await process.StandardOutput.ReadToEndAsync()).Split('\n'));
        await process.WaitForExitAsync();
        string text = string.Join('\n', lines);
        Assert.True(process.ExitCode == 130, $"exit code {process.ExitCode}: {await error}{text}");
        Assert.Contains("interrupted before the first epoch was saved: nothing is saved", text);
        Assert.DoesNotContain("epoch(s) are saved", text);
        Assert.False(Directory.Exists(Path.Combine(output, "checkpoint")));
    }
}
