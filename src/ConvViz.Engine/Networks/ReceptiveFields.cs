using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;

namespace ConvViz.Engine.Networks;

/// <summary>
/// Where one unit of a layer looks in the input, along one axis: unit i's field covers input
/// pixels First + i·Stride .. First + i·Stride + Size - 1 (First is negative when padding puts part
/// of unit 0's field before the image). Computed by the usual recurrence over the layers: a layer
/// with kernel k (dilation d), stride s and padding p turns (size, stride, first) into
/// (size + (k-1)·d·stride, stride·s, first - p·stride).
/// </summary>
public sealed record AxisField(int Size, int Stride, int First)
{
    /// <summary>The input pixels of unit <paramref name="index"/>'s field, clipped to 0..length-1: (start, count).</summary>
    public (int Start, int Count) Clipped(int index, int length)
    {
        int start = First + index * Stride, end = start + Size;
        start = Math.Max(0, start);
        end = Math.Min(length, end);
        return (start, Math.Max(0, end - start));
    }

    /// <summary>The center of unit <paramref name="index"/>'s field in input pixels.</summary>
    public double Center(int index) => First + index * Stride + (Size - 1) / 2.0;
}

/// <summary>A layer's receptive field on both axes; <see cref="Spatial"/> is false once a layer has
/// flattened the maps (every unit then sees the whole input).</summary>
public sealed record ReceptiveField(string Layer, AxisField Vertical, AxisField Horizontal, bool Spatial);

public static class ReceptiveFields
{
    /// <summary>
    /// The receptive field of every layer of <paramref name="network"/>, in order. Each layer grows the
    /// field of what it reads; a layer that joins several inputs (Add, Concat) sees the union of their
    /// fields, which must step with one stride (as every residual and Inception join does).
    /// </summary>
    public static IReadOnlyList<ReceptiveField> Of(Network network)
    {
        var fields = new ReceptiveField[network.Layers.Count];
        var rows = network.Summarize(1);
        var whole = (Vertical: new AxisField(network.SampleShape.Rank == 3 ? network.SampleShape[1] : 1, 1, 0),
                     Horizontal: new AxisField(network.SampleShape.Rank == 3 ? network.SampleShape[2] : 1, 1, 0));
        for (int i = 0; i < fields.Length; i++)
        {
            var layer = network.Layers[i];
            var read = network.InputsOf(i).Select(j => j == Network.Input ? new ReceptiveField("input", new AxisField(1, 1, 0), new AxisField(1, 1, 0), true) : fields[j]).ToArray();
            var shape = network.InputsOf(i)[0] == Network.Input ? network.InputShape(1) : rows[network.InputsOf(i)[0]].OutputShape;
            var window = layer switch
            {
                Conv2dLayer conv => new Window(conv.Geometry.KernelH, conv.Geometry.KernelW, conv.Geometry.StrideH, conv.Geometry.StrideW,
                    conv.Geometry.PadTop, conv.Geometry.PadLeft, conv.Geometry.DilationH, conv.Geometry.DilationW),
                MaxPoolLayer pool => Window.Of(pool.Geometry),
                AveragePoolLayer average => Window.Of(average.GeometryFor(shape)),
                // Output row oh reads input row oh - top: a shift like a conv's pad (a crop shifts the other way).
                PadLayer pad => new Window(1, 1, 1, 1, pad.Geometry.Top, pad.Geometry.Left, 1, 1),
                _ => new Window(1, 1, 1, 1, 0, 0, 1, 1),
            };
            bool spatial = read.All(f => f.Spatial) && rows[i].OutputShape.Rank == 4;
            fields[i] = spatial
                ? new ReceptiveField(layer.Name, Grow(Union(layer, read.Select(f => f.Vertical)), window.KernelH, window.StrideH, window.PadTop, window.DilationH),
                    Grow(Union(layer, read.Select(f => f.Horizontal)), window.KernelW, window.StrideW, window.PadLeft, window.DilationW), true)
                : new ReceptiveField(layer.Name, whole.Vertical, whole.Horizontal, false);
        }
        return fields;
    }

    /// <summary>The receptive field of one layer.</summary>
    public static ReceptiveField Of(Network network, string layer) => Of(network)[network.IndexOf(layer)];

    /// <summary>A sliding window's geometry (a conv's or a pool's): what the recurrence needs.</summary>
    private sealed record Window(int KernelH, int KernelW, int StrideH, int StrideW, int PadTop, int PadLeft, int DilationH, int DilationW)
    {
        public static Window Of(PoolGeometry g) => new(g.KernelH, g.KernelW, g.StrideH, g.StrideW, g.PadTop, g.PadLeft, g.DilationH, g.DilationW);
    }

    /// <summary>The smallest field that holds each of <paramref name="fields"/> (all of one stride).</summary>
    private static AxisField Union(Layer layer, IEnumerable<AxisField> fields)
    {
        var list = fields.ToArray();
        if (list.Any(f => f.Stride != list[0].Stride))
            throw new ArgumentException($"layer '{layer.Name}' ({layer.OpType}) joins maps whose units step {string.Join(" and ", list.Select(f => f.Stride))} input pixels apart; they cannot share one receptive field");
        int first = list.Min(f => f.First), end = list.Max(f => f.First + f.Size);
        return new AxisField(end - first, list[0].Stride, first);
    }

    private static AxisField Grow(AxisField field, int kernel, int stride, int pad, int dilation) =>
        new(field.Size + (kernel - 1) * dilation * field.Stride, field.Stride * stride, field.First - pad * field.Stride);
}
