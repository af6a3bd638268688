using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Backends.Host;

/// <summary>Zero-initialized native memory aligned to 64 bytes (one zmm register, one cache line),
/// so the GC never moves it and vector loads never split a line. Rented from, and returned to, the
/// backend's <see cref="HostMemoryPool"/>.</summary>
internal sealed unsafe class HostBuffer : DeviceBuffer
{
    private readonly HostMemoryPool pool;
    private readonly nuint bytes;
    private void* memory;

    public HostBuffer(HostMemoryPool pool, int elementCount) : base(elementCount)
    {
        this.pool = pool;
        memory = pool.Rent(elementCount, out bytes);
    }

    public float* Floats => (float*)Pointer;
    public int* Ints => (int*)Pointer;

    public Span<float> FloatSpan => new(Pointer, (int)ElementCount);
    public Span<int> IntSpan => new(Pointer, (int)ElementCount);
    public Span<byte> Bytes => new(Pointer, (int)ElementCount * sizeof(float));

    private void* Pointer => IsDisposed ? throw new ObjectDisposedException(nameof(HostBuffer)) : memory;

    protected override void Release()
    {
        pool.Return(memory, bytes);
        memory = null;
    }

    ~HostBuffer() => Dispose();
}
