using System.Runtime.InteropServices;

namespace ConvViz.Engine.Backends.Host;

/// <summary>
/// Keeps freed host blocks for reuse by size. A forward pass allocates the same activation sizes
/// every time; without reuse each large block comes fresh from the OS and every page faults on first
/// touch, which measured 2-10x slower than the op itself for batch-8 activations. Thread-safe,
/// because buffers may be released by the finalizer thread.
/// </summary>
internal sealed unsafe class HostMemoryPool : IDisposable
{
    /// <summary>Cached bytes above which freed blocks go back to the OS.</summary>
    public const long CapacityBytes = 1L << 30;

    private readonly Dictionary<nuint, Stack<nint>> free = [];
    private long cachedBytes;
    private bool disposed;

    /// <summary>Sizes are rounded up to whole 4 KiB pages so near-equal requests share blocks.</summary>
    public static nuint RoundedBytes(int elementCount) => ((nuint)Math.Max(1, elementCount) * sizeof(float) + 4095) & ~(nuint)4095;

    /// <summary>A zero-filled, 64-byte aligned block of at least elementCount floats.</summary>
    public void* Rent(int elementCount, out nuint bytes)
    {
        bytes = RoundedBytes(elementCount);
        void* block = null;
        lock (free)
        {
            if (free.TryGetValue(bytes, out var stack) && stack.Count > 0)
            {
                block = (void*)stack.Pop();
                cachedBytes -= (long)bytes;
            }
        }
        if (block == null) block = NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(block, bytes);
        return block;
    }

    public void Return(void* block, nuint bytes)
    {
        lock (free)
        {
            if (!disposed && cachedBytes + (long)bytes <= CapacityBytes)
            {
                if (!free.TryGetValue(bytes, out var stack)) free[bytes] = stack = new Stack<nint>();
                stack.Push((nint)block);
                cachedBytes += (long)bytes;
                return;
            }
        }
        NativeMemory.AlignedFree(block);
    }

    /// <summary>Frees every cached block; buffers returned later are freed directly.</summary>
    public void Dispose()
    {
        lock (free)
        {
            disposed = true;
            foreach (var stack in free.Values)
                while (stack.Count > 0) NativeMemory.AlignedFree((void*)stack.Pop());
            free.Clear();
            cachedBytes = 0;
        }
    }
}
