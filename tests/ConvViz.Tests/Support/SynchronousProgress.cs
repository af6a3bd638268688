namespace ConvViz.Tests.Support;

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread, as it happens
/// (<see cref="Progress{T}"/> would post to the thread pool, after the call may have returned).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
