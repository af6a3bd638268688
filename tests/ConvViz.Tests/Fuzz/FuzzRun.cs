using System.Diagnostics;
using ConvViz.Cli;
using Xunit.Abstractions;

namespace ConvViz.Tests.Fuzz;

/// <summary>
/// One fuzz campaign: runs generated cases through a library loader and through the command line
/// in process, and tallies what must never happen. A case fails when
/// <list type="bullet">
/// <item>a loader throws anything but the documented user errors: <see cref="InvalidDataException"/>,
/// <see cref="NotSupportedException"/>, <see cref="IOException"/>, or an <see cref="ArgumentException"/>
/// thrown by ConvViz's own code (a runtime-thrown one means a check was missed);</item>
/// <item>the command line exits with anything but 0 or 2, or its error is not exactly one line
/// "error: ..." free of the runtime's own wording;</item>
/// <item>the case allocates more than its budget (bytes allocated by the running thread);</item>
/// <item>it takes longer than the time budget (a hang);</item>
/// <item>input the case marks as invalid is accepted (a silent success).</item>
/// </list>
/// </summary>
internal sealed class FuzzRun(ITestOutputHelper output, string category, long allocationBudget, TimeSpan timeBudget)
{
    /// <summary>Phrases of the runtime's exception messages that must never reach a user.</summary>
    private static readonly string[] RuntimeWording =
    [
        "Specified argument", "(Parameter '", "Sequence contains", "Object reference", "Index was outside", "Exception",
        "Arithmetic operation resulted", "Attempted to divide", "Unable to cast", "Value was either too large", "at ConvViz.", "   at ",
    ];

    private enum Failure { Crash, OverBudget, Hang, SilentSuccess, ValidRefused }

    private readonly List<string> failures = [];
    private readonly int[] counts = new int[Enum.GetValues<Failure>().Length];
    public int Cases { get; private set; }
    public int Refused { get; private set; }

    /// <summary>Runs one case through the library. <paramref name="valid"/>: true = must load, false = must
    /// be refused, null = either (only crashes, budget and time count).</summary>
    public void Library(string name, bool? valid, Action load)
    {
        Cases++;
        var (error, bytes, elapsed) = Measure(load);
        if (elapsed > timeBudget) Fail(Failure.Hang, $"{name}: took {elapsed.TotalSeconds:F1} s (budget {timeBudget.TotalSeconds:F0} s)");
        if (bytes > allocationBudget) Fail(Failure.OverBudget, $"{name}: allocated {bytes / 1048576.0:F1} MiB (budget {allocationBudget / 1048576.0:F0} MiB)");
        if (error is null)
        {
            if (valid == false) Fail(Failure.SilentSuccess, $"{name}: invalid input was accepted");
            return;
        }
        if (!IsDocumented(error)) Fail(Failure.Crash, $"{name}: {error.GetType().Name}: {error.Message}\n{error.StackTrace}");
        else
        {
            Refused++;
            if (valid == true) Fail(Failure.ValidRefused, $"{name}: valid input was refused: {error.Message}");
        }
    }

    /// <summary>Runs one command line in process (output captured) under the same rules.</summary>
    public void Cli(string name, bool? valid, params string[] args)
    {
        Cases++;
        int exit = -1;
        string stderr = "";
        var (error, bytes, elapsed) = Measure(() =>
        {
            var outWriter = new StringWriter();
            var errWriter = new StringWriter();
            exit = CliApp.Run(args, outWriter, errWriter);
            stderr = errWriter.ToString();
        });
        string where = $"{name} (convviz {string.Join(' ', args)})";
        if (elapsed > timeBudget) Fail(Failure.Hang, $"{where}: took {elapsed.TotalSeconds:F1} s (budget {timeBudget.TotalSeconds:F0} s)");
        if (bytes > allocationBudget) Fail(Failure.OverBudget, $"{where}: allocated {bytes / 1048576.0:F1} MiB (budget {allocationBudget / 1048576.0:F0} MiB)");
        if (error is not null) { Fail(Failure.Crash, $"{where}: threw {error}"); return; }
        if (exit == 0)
        {
            if (valid == false) Fail(Failure.SilentSuccess, $"{where}: invalid input gave exit 0");
            return;
        }
        string[] lines = stderr.TrimEnd().Split('\n');
        if (exit != 2 || lines.Length != 1 || !stderr.StartsWith("error: ", StringComparison.Ordinal) || RuntimeWording.Any(stderr.Contains))
        {
            Fail(Failure.Crash, $"{where}: exit {exit}, error output: {stderr.TrimEnd()}");
            return;
        }
        Refused++;
        if (valid == true) Fail(Failure.ValidRefused, $"{where}: valid input was refused: {stderr.TrimEnd()}");
    }

    /// <summary>Writes the tally and fails the test with every failure listed.</summary>
    public void AssertClean()
    {
        output.WriteLine($"{category}: {Cases} cases, {Refused} refused cleanly, {counts[(int)Failure.Crash]} crashes, " +
                         $"{counts[(int)Failure.OverBudget]} over the allocation budget, {counts[(int)Failure.Hang]} over the time budget, " +
                         $"{counts[(int)Failure.SilentSuccess]} silent successes, {counts[(int)Failure.ValidRefused]} valid inputs refused");
        Assert.True(failures.Count == 0, $"{category}: {failures.Count} of {Cases} cases failed:\n" + string.Join("\n", failures.Take(40)));
    }

    private void Fail(Failure kind, string message)
    {
        counts[(int)kind]++;
        failures.Add(message);
    }

    /// <summary>The documented user errors, thrown by ConvViz itself (see the class summary).</summary>
    private static bool IsDocumented(Exception e) => e switch
    {
        IOException => true,
        InvalidDataException or NotSupportedException or ArgumentException => e.TargetSite?.DeclaringType?.Assembly.GetName().Name?.StartsWith("ConvViz", StringComparison.Ordinal) == true,
        _ => false,
    };

    /// <summary>Runs the action on this thread, with the bytes it allocated and the time it took;
    /// a run that outlasts twice the time budget is abandoned and reported as a hang.</summary>
    private (Exception? Error, long Bytes, TimeSpan Elapsed) Measure(Action action)
    {
        Exception? error = null;
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        var task = Task.Factory.StartNew(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { action(); }
            catch (Exception e) { error = e; }
            bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        }, TaskCreationOptions.LongRunning);
        if (!task.Wait(timeBudget * 2)) return (null, 0, clock.Elapsed);
        return (error, bytes, clock.Elapsed);
    }
}
