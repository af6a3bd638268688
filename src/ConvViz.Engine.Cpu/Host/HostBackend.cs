using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Backends.Host;

/// <summary>The memory side shared by the backends that compute on the host CPU: tensors live in
/// <see cref="HostBuffer"/>s, and upload/download are plain copies.</summary>
public abstract class HostBackend : Backend
{
    private readonly HostMemoryPool pool = new();

    protected override DeviceBuffer AllocateCore(int elementCount) => new HostBuffer(pool, elementCount);

    public override void Dispose()
    {
        pool.Dispose();
        base.Dispose();
    }

    protected override void WriteCore(DeviceBuffer buffer, ReadOnlySpan<byte> source) => source.CopyTo(((HostBuffer)buffer).Bytes);

    protected override void ReadCore(DeviceBuffer buffer, Span<byte> destination) => ((HostBuffer)buffer).Bytes.CopyTo(destination);

    protected override bool AllFiniteCore(Tensor tensor) => System.Numerics.Tensors.TensorPrimitives.IsFiniteAll<float>(F(tensor));

    /// <summary>The float elements of a tensor (views included, as their own shape's length).</summary>
    protected static Span<float> F(Tensor t) => ((HostBuffer)BufferOf(t)).FloatSpan[..t.ElementCount];

    protected static Span<int> I(Tensor t) => ((HostBuffer)BufferOf(t)).IntSpan[..t.ElementCount];

    protected static unsafe float* P(Tensor t) => ((HostBuffer)BufferOf(t)).Floats;

    protected static unsafe int* PI(Tensor t) => ((HostBuffer)BufferOf(t)).Ints;
}
