namespace ConvViz.Engine.Tensors;

/// <summary>
/// An immutable tensor shape of rank 1 to 4. Activations are (N, C, H, W); fully connected
/// layers see (N, features); vectors such as biases and labels are rank 1.
/// </summary>
public sealed class Shape : IEquatable<Shape>
{
    public const int MaxRank = 4;
    private readonly int[] dims;

    public Shape(params int[] dims)
    {
        if (dims.Length is 0 or > MaxRank)
            throw new ArgumentException($"a shape has rank 1 to {MaxRank}, got rank {dims.Length}");
        long count = 1;
        foreach (int d in dims)
        {
            if (d < 0)
                throw new ArgumentException($"shape ({string.Join(", ", dims)}) has a negative dimension");
            count *= d;
            if (count > int.MaxValue)
                throw new ArgumentException($"shape ({string.Join(", ", dims)}) has more than {int.MaxValue} elements");
        }
        this.dims = (int[])dims.Clone();
        ElementCount = (int)count;
    }

    public static Shape Nchw(int n, int c, int h, int w) => new(n, c, h, w);

    public int Rank => dims.Length;
    public int ElementCount { get; }
    public int this[int axis] => dims[axis < 0 ? axis + dims.Length : axis];
    public int[] ToArray() => (int[])dims.Clone();

    /// <summary>Batch size: the first dimension.</summary>
    public int N => dims[0];
    /// <summary>Channels of an (N, C, H, W) shape.</summary>
    public int C => dims[1];
    public int H => dims[2];
    public int W => dims[3];

    /// <summary>Elements per batch item: the product of every dimension after the first.</summary>
    public int SampleSize
    {
        get
        {
            int size = 1;
            for (int axis = 1; axis < dims.Length; axis++) size *= dims[axis];
            return size;
        }
    }

    public Shape WithBatch(int n)
    {
        var copy = ToArray();
        copy[0] = n;
        return new Shape(copy);
    }

    public bool Equals(Shape? other) => other is not null && dims.AsSpan().SequenceEqual(other.dims);
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int d in dims) h.Add(d);
        return h.ToHashCode();
    }
    public static bool operator ==(Shape? a, Shape? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(Shape? a, Shape? b) => !(a == b);

    public override string ToString() => "(" + string.Join(", ", dims) + ")";
}
