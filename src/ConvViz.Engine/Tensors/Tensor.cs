using ConvViz.Engine.Backends;

namespace ConvViz.Engine.Tensors;

/// <summary>
/// A shape plus a buffer owned by one backend. Data moves between host and device only through
/// <see cref="Backend.Upload(ReadOnlySpan{float}, Shape)"/> and <see cref="Backend.Download(Tensor)"/>.
/// A tensor made by <see cref="Reshape"/> is a view: it shares its owner's buffer, and disposing it
/// leaves the buffer alone.
/// </summary>
public sealed class Tensor : IDisposable
{
    private readonly bool ownsBuffer;

    internal Tensor(Backend backend, DeviceBuffer buffer, Shape shape, DataType dataType, bool ownsBuffer)
    {
        Backend = backend;
        Buffer = buffer;
        Shape = shape;
        DataType = dataType;
        this.ownsBuffer = ownsBuffer;
    }

    public Backend Backend { get; }
    public Shape Shape { get; }
    public DataType DataType { get; }
    public int ElementCount => Shape.ElementCount;
    public bool IsView => !ownsBuffer;
    public bool IsDisposed => Buffer.IsDisposed;
    internal DeviceBuffer Buffer { get; }

    /// <summary>The same data under another shape with the same element count (no copy).</summary>
    public Tensor Reshape(Shape shape)
    {
        if (shape.ElementCount != ElementCount)
            throw new ArgumentException(
                $"Reshape: cannot view {Shape} ({ElementCount} elements) as {shape} ({shape.ElementCount} elements)");
        return new Tensor(Backend, Buffer, shape, DataType, ownsBuffer: false);
    }

    public Tensor Reshape(params int[] dims) => Reshape(new Shape(dims));

    /// <summary>True when both tensors are views of (or are) the same buffer.</summary>
    public bool SharesMemoryWith(Tensor other) => ReferenceEquals(Buffer, other.Buffer);

    public void Dispose()
    {
        if (ownsBuffer) Buffer.Dispose();
    }

    public override string ToString() => $"Tensor{Shape} {DataType} on {Backend.Name}";
}
