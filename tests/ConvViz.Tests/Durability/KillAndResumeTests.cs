using System.Diagnostics;
using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;
using Xunit.Abstractions;

namespace ConvViz.Tests.Durability;

/// <summary>
/// The real `convviz` process, killed with SIGKILL at seeded random moments and continued each time,
/// ends with exactly the files of an uninterrupted run. Kill moments are drawn uniformly over an
/// uninterrupted run's measured duration, counted from each start; a continuation that outlives its
/// moment completes its chain (compared then), and the next kill starts a new chain, until ten kills
/// have landed. Joined to the command-line collection so that no other test competes for the cores.
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class KillAndResumeTests(ITestOutputHelper log)
{
    private const int Kills = 10;

    /// <summary>The convviz built beside the tests (the Cli project's own output, copied here as a project reference).</summary>
    private static readonly string Convviz = Path.Combine(AppContext.BaseDirectory, "convviz.dll");

    private sealed record Attempt(int Exit, string Error, TimeSpan Elapsed)
    {
        public bool Killed => Exit == 137;
    }

    /// <summary>Runs convviz to its end, or SIGKILLs it after <paramref name="killAfter"/>.</summary>
    private static Attempt Run(string[] args, TimeSpan? killAfter = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Convviz);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        var error = process.StandardError.ReadToEndAsync();
        if (killAfter is { } wait && !process.WaitForExit(wait))
            process.Kill();
        process.WaitForExit();
        return new Attempt(process.ExitCode, error.Result, clock.Elapsed);
    }

    /// <summary>
    /// The kill-and-continue loop: <paramref name="continueArgs"/>(folder) is the command line that
    /// starts or continues the run in folder; <paramref name="result"/>(folder) is what must equal
    /// the uninterrupted run's. <paramref name="finished"/>(folder) says a run's last write is done: a
    /// kill that lands after it (the process was already exiting) did not interrupt the run, so that
    /// chain is compared as finished.
    /// </summary>
    private void KillAndContinue(int seed, string[] uninterruptedArgs, Func<string, string[]> continueArgs, Func<string, IReadOnlyDictionary<string, byte[]>> result,
        Func<string, string> progress, Func<string, bool> finished)
    {
        string root = FashionMnist.TempFolder(), reference = Path.Combine(root, "uninterrupted");
        var whole = Run([.. uninterruptedArgs, "--out", reference]);
        Assert.True(whole.Exit == 0, whole.Error);
        var expected = result(reference);
        log.WriteLine($"uninterrupted run: {whole.Elapsed.TotalSeconds:F2} s, {expected.Count} files compared");

        var random = new Random(seed);
        int kills = 0, chains = 0, attempts = 0;
        string folder = Path.Combine(root, $"chain{chains}");
        while (kills < Kills)
        {
            Assert.True(++attempts <= 4 * Kills, $"only {kills} of {attempts - 1} attempts were killed before they ended");
            var moment = whole.Elapsed * random.NextDouble();
            var attempt = Run(continueArgs(folder), moment);
            if (attempt.Killed && !finished(folder))
            {
                kills++;
                log.WriteLine($"kill {kills} at {moment.TotalSeconds:F2} s into attempt {attempts}: {progress(folder)}");
                continue;
            }
            if (attempt.Killed) log.WriteLine($"attempt {attempts} was killed at {moment.TotalSeconds:F2} s, after its last write");
            else Assert.True(attempt.Exit == 0, $"attempt {attempts} (started after kill {kills}) ended with {attempt.Exit}: {attempt.Error}");
            AssertSame(expected, result(folder), folder);
            log.WriteLine($"attempt {attempts} finished chain {chains} in {attempt.Elapsed.TotalSeconds:F2} s (its kill was due at {moment.TotalSeconds:F2} s)");
            folder = Path.Combine(root, $"chain{++chains}");
        }
        if (Directory.Exists(folder))
        {
            var last = Run(continueArgs(folder));
            Assert.True(last.Exit == 0, $"the final continuation ended with {last.Exit}: {last.Error}");
            AssertSame(expected, result(folder), folder);
        }
        log.WriteLine($"{kills} kills in {attempts} attempts, {chains + (Directory.Exists(folder) ? 1 : 0)} chain(s), each equal to the uninterrupted run");
    }

    private static void AssertSame(IReadOnlyDictionary<string, byte[]> expected, IReadOnlyDictionary<string, byte[]> actual, string folder)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (file, bytes) in expected)
            Assert.True(bytes.AsSpan().SequenceEqual(actual[file]), $"{file} in {folder} differs from the uninterrupted run's");
    }

    [Fact]
    public void Train_KilledTenTimes_EndsWithTheModelOfAnUninterruptedRun()
    {
        string data = FashionMnist.SubsetFolder(train: 48, test: 30);
        string[] command = ["train", "--data", data, "--epochs", "3", "--batch", "16", "--threads", "1", "--samples-per-class", "2", "--seed", "3"];
        KillAndContinue(seed: 11, command,
            // --resume once a checkpoint was saved (checkpoint/ or, killed mid-swap, checkpoint.old/), otherwise the same command again.
            folder => Directory.Exists(Path.Combine(folder, "checkpoint")) || Directory.Exists(Path.Combine(folder, "checkpoint.old"))
                ? ["train", "--out", folder, "--resume", "--threads", "1", "--samples-per-class", "2"]
                : [.. command, "--out", folder],
            folder => new[] { "model.onnx", "classes.txt", "samples/t10k-images-idx3-ubyte.gz", "samples/t10k-labels-idx1-ubyte.gz" }
                .Where(f => File.Exists(Path.Combine(folder, f))).ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(folder, f))),
            folder => string.Join(", ", new[] { "checkpoint", "checkpoint.old", "checkpoint.next", "model.onnx", "training.json" }
                .Where(f => Path.Exists(Path.Combine(folder, f)))) is { Length: > 0 } left ? left : "nothing yet",
            // training.json is written last, from the finished checkpoint; after it, --resume says every epoch is done.
            folder => File.Exists(Path.Combine(folder, "training.json")));
    }

    [Fact]
    public void Topk_KilledTenTimes_EndsWithTheFilesOfAnUninterruptedRun()
    {
        string data = FashionMnist.SubsetFolder(train: 0, test: 80);
        string[] command = ["topk", "--data", data, "--layer", "fc8", "--k", "3", "--batch", "10", "--threads", "1"];
        KillAndContinue(seed: 12, command,
            folder => File.Exists(Path.Combine(folder, "topk", "state.json")) ? [.. command, "--out", folder, "--resume"] : [.. command, "--out", folder],
            // Everything under topk/ (state, index, unit views, overview); the card topk.json holds timings and is left out, and so
            // are the temporary files of writes that a SIGKILL cut short (no process is left to delete them; they are never renamed in).
            folder => Directory.Exists(Path.Combine(folder, "topk"))
                ? Directory.GetFiles(Path.Combine(folder, "topk"), "*", SearchOption.AllDirectories)
                    .Where(f => !(Path.GetFileName(f).StartsWith('.') && f.EndsWith(".tmp")))
                    .ToDictionary(f => Path.GetRelativePath(folder, f), File.ReadAllBytes)
                : new Dictionary<string, byte[]>(),
            folder => File.Exists(Path.Combine(folder, "topk", "state.json"))
                ? $"state saved{(File.Exists(Path.Combine(folder, "topk", "index.json")) ? ", index written" : "")}"
                : "nothing yet",
            // A finished top-k run continues with --resume like any other, so no kill counts as after the end.
            _ => false);
    }
}
