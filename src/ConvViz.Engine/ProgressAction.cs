namespace ConvViz.Engine;

/// <summary>
/// An <see cref="IProgress{T}"/> that hands each report to <paramref name="report"/> at once, on the reporting
/// (engine's) thread, in order. <see cref="Progress{T}"/> posts each report to a synchronization context or the
/// thread pool instead, so a console's lines can arrive late and out of order.
/// </summary>
public sealed class ProgressAction<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
