using System.Diagnostics;
using Spectre.Console;

namespace ConvViz.Cli;

/// <summary>One line of a running progress bar: its count and its text (escaped, never read as markup).
/// As an <see cref="IProgress{T}"/> of steps done it takes the engine's reports on the worker's own thread.</summary>
public sealed class ProgressLine(ProgressTask task) : IProgress<int>
{
    private readonly Stopwatch sinceReport = Stopwatch.StartNew();

    /// <summary>Milliseconds since the previous report: one step's time when every step reports.</summary>
    public double StepMilliseconds => sinceReport.Elapsed.TotalMilliseconds;

    public double Total
    {
        get => task.MaxValue;
        set => task.MaxValue = value;
    }

    public void Report(double done, string? text = null)
    {
        task.Value = done;
        if (text is not null) task.Description = Markup.Escape(text);
        sinceReport.Restart();
    }

    void IProgress<int>.Report(int done) => Report(done);
}

/// <summary>The commands' progress display: description, bar, percentage, elapsed and remaining time.</summary>
public static class ProgressBars
{
    public static Progress Create() =>
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn());

    /// <summary>Adds a line to <paramref name="context"/>, its description escaped.</summary>
    public static ProgressLine Add(ProgressContext context, string description, double total) =>
        new(context.AddTask(Markup.Escape(description), maxValue: total));

    /// <summary>Runs <paramref name="work"/> under one bar of <paramref name="total"/> steps and returns its result.</summary>
    public static T Run<T>(string description, double total, Func<ProgressLine, T> work)
    {
        T result = default!;
        Create().Start(context => result = work(Add(context, description, total)));
        return result;
    }

    public static void Run(string description, double total, Action<ProgressLine> work) =>
        Create().Start(context => work(Add(context, description, total)));
}
