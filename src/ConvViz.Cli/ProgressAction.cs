namespace ConvViz.Cli;

/// <summary>An <see cref="IProgress{T}"/> that hands each of the engine's reports to <paramref name="report"/> at once,
/// on the engine's own thread (a <see cref="Progress{T}"/> would post it later, out of order with the output).</summary>
public sealed class ProgressAction<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
