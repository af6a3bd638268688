namespace ConvViz.Engine.Tensors;

/// <summary>
/// Memory owned by one backend. Each backend subclasses this with its own storage (host memory,
/// an OpenCL buffer, ...); only the owning backend looks inside.
/// </summary>
public abstract class DeviceBuffer : IDisposable
{
    protected DeviceBuffer(long elementCount) => ElementCount = elementCount;

    /// <summary>Number of 4-byte elements the buffer holds.</summary>
    public long ElementCount { get; }
    public bool IsDisposed { get; private set; }

    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        Release();
        GC.SuppressFinalize(this);
    }

    protected abstract void Release();
}
