using System.Buffers.Binary;
using ConvViz.Engine.Onnx.Protos;
using Google.Protobuf;
using Google.Protobuf.Collections;
using OnnxDataType = ConvViz.Engine.Onnx.Protos.TensorProto.Types.DataType;

namespace ConvViz.Engine.Onnx;

/// <summary>
/// The contents of one ONNX TensorProto on the host: its name, its dimensions (row-major; an empty
/// array is a scalar holding one element) and its elements in the array type that fits the element
/// type: float[] for FLOAT, long[] for INT64, int[] for INT32, bool[] for BOOL.
/// </summary>
internal sealed class OnnxTensorData
{
    public OnnxTensorData(string name, int[] dims, OnnxDataType dataType, Array data)
    {
        ArgumentNullException.ThrowIfNull(dims);
        ArgumentNullException.ThrowIfNull(data);
        long count = OnnxTensors.ElementCount(dims, name);
        if (data.Length != count)
            throw new ArgumentException($"tensor '{name}' has dims [{string.Join(", ", dims)}] ({count} elements) but {data.Length} values");
        Name = name;
        Dims = (int[])dims.Clone();
        DataType = dataType;
        Data = data;
    }

    public string Name { get; }

    /// <summary>The ONNX dimensions; empty for a scalar.</summary>
    public int[] Dims { get; }

    public OnnxDataType DataType { get; }

    /// <summary>float[], long[], int[] or bool[], as <see cref="DataType"/> says.</summary>
    public Array Data { get; }

    public int Rank => Dims.Length;
    public int ElementCount => Data.Length;

    public float[] Floats => As<float>(OnnxDataType.Float);
    public long[] Int64s => As<long>(OnnxDataType.Int64);
    public int[] Int32s => As<int>(OnnxDataType.Int32);
    public bool[] Bools => As<bool>(OnnxDataType.Bool);

    /// <summary>The elements of an integer or boolean tensor widened to long (true is 1).</summary>
    public long[] ToInt64() => Data switch
    {
        long[] l => (long[])l.Clone(),
        int[] i => Array.ConvertAll(i, v => (long)v),
        bool[] b => Array.ConvertAll(b, v => v ? 1L : 0L),
        _ => throw new InvalidOperationException($"tensor '{Name}' has element type {DataType}, expected an integer or boolean type"),
    };

    private T[] As<T>(OnnxDataType expected) => Data as T[]
        ?? throw new InvalidOperationException($"tensor '{Name}' has element type {DataType}, expected {expected}");

    public override string ToString() => $"{Name} {DataType} [{string.Join(", ", Dims)}]";
}

/// <summary>Reading ONNX tensors and models: TensorProto to host arrays, and files to protos.</summary>
internal static class OnnxTensors
{
    /// <summary>The element types <see cref="Read"/> understands.</summary>
    public static IReadOnlyList<OnnxDataType> SupportedTypes { get; } =
        [OnnxDataType.Float, OnnxDataType.Int64, OnnxDataType.Int32, OnnxDataType.Bool];

    /// <summary>Parses an .onnx model file.</summary>
    public static ModelProto LoadModel(string path) => Load(path, "model", ModelProto.Parser);

    /// <summary>Parses a serialized TensorProto (.pb) file.</summary>
    public static TensorProto LoadTensorProto(string path) => Load(path, "tensor", TensorProto.Parser);

    /// <summary>Parses a TensorProto file and reads its contents; errors name the file.</summary>
    public static OnnxTensorData LoadTensor(string path) => Read(LoadTensorProto(path), path);

    /// <summary>
    /// The contents of a TensorProto. Data may be in raw_data (little-endian, BOOL one byte per
    /// element) or in the typed field of its element type (float_data, int64_data, or int32_data for
    /// INT32 and BOOL). source (a file name, or a model and initializer name) is used in error messages.
    /// </summary>
    public static OnnxTensorData Read(TensorProto proto, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(proto);
        string where = Describe(proto, source);
        var dataType = (OnnxDataType)proto.DataType;
        if (proto.Segment is not null)
            throw new NotSupportedException($"{where}: segmented tensors (TensorProto.segment) are not supported");
        if (proto.DataLocation == TensorProto.Types.DataLocation.External || proto.ExternalData.Count > 0)
            throw new NotSupportedException($"{where}: tensor data stored in an external file is not supported");

        var dims = new int[proto.Dims.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            long d = proto.Dims[i];
            if (d < 0 || d > int.MaxValue)
                throw new InvalidDataException($"{where}: dimension {i} is {d}, expected 0 to {int.MaxValue}");
            dims[i] = (int)d;
        }
        long count = ElementCount(dims, where);
        bool raw = !proto.RawData.IsEmpty;

        Array data = dataType switch
        {
            OnnxDataType.Float => raw
                ? ReadRaw(proto.RawData, count, sizeof(float), where, dataType, (b, i) => BinaryPrimitives.ReadSingleLittleEndian(b[(i * 4)..]))
                : Typed(proto.FloatData, count, "float_data", where, dataType, v => v),
            OnnxDataType.Int64 => raw
                ? ReadRaw(proto.RawData, count, sizeof(long), where, dataType, (b, i) => BinaryPrimitives.ReadInt64LittleEndian(b[(i * 8)..]))
                : Typed(proto.Int64Data, count, "int64_data", where, dataType, v => v),
            OnnxDataType.Int32 => raw
                ? ReadRaw(proto.RawData, count, sizeof(int), where, dataType, (b, i) => BinaryPrimitives.ReadInt32LittleEndian(b[(i * 4)..]))
                : Typed(proto.Int32Data, count, "int32_data", where, dataType, v => v),
            OnnxDataType.Bool => raw
                ? ReadRaw(proto.RawData, count, 1, where, dataType, (b, i) => b[i] != 0)
                : Typed(proto.Int32Data, count, "int32_data", where, dataType, v => v != 0),
            _ => throw new NotSupportedException(
                $"{where}: element type {DataTypeName(proto.DataType)} is not supported (supported: {string.Join(", ", SupportedTypes)})"),
        };
        return new OnnxTensorData(proto.Name, dims, dataType, data);
    }

    /// <summary>The product of dims (1 for a scalar), checked against int.MaxValue.</summary>
    internal static long ElementCount(int[] dims, string where)
    {
        long count = 1;
        foreach (int d in dims)
        {
            if (d < 0) throw new InvalidDataException($"{where}: negative dimension in [{string.Join(", ", dims)}]");
            count *= d;
            if (count > int.MaxValue)
                throw new InvalidDataException($"{where}: dims [{string.Join(", ", dims)}] hold more than {int.MaxValue} elements");
        }
        return count;
    }

    private static T[] ReadRaw<T>(ByteString raw, long count, int elementSize, string where, OnnxDataType type, Func<ReadOnlySpan<byte>, int, T> read)
    {
        var bytes = raw.Span;
        if (bytes.Length != count * elementSize)
            throw new InvalidDataException(
                $"{where}: raw_data holds {bytes.Length} bytes, expected {count * elementSize} ({count} {type} elements of {elementSize} bytes)");
        var result = new T[count];
        for (int i = 0; i < result.Length; i++) result[i] = read(bytes, i);
        return result;
    }

    private static T[] Typed<TField, T>(RepeatedField<TField> field, long count, string fieldName, string where, OnnxDataType type, Func<TField, T> convert)
    {
        if (field.Count != count)
            throw new InvalidDataException(
                field.Count == 0 && count > 0
                    ? $"{where}: no data for {count} {type} elements (neither raw_data nor {fieldName} is set)"
                    : $"{where}: {fieldName} holds {field.Count} values, expected {count} for the dims");
        var result = new T[count];
        for (int i = 0; i < result.Length; i++) result[i] = convert(field[i]);
        return result;
    }

    private static string Describe(TensorProto proto, string? source)
    {
        string name = string.IsNullOrEmpty(proto.Name) ? "" : $"tensor '{proto.Name}'";
        return (source, name) switch
        {
            (null or "", "") => "unnamed tensor",
            (null or "", _) => name,
            (_, "") => source,
            _ => $"{source}: {name}",
        };
    }

    private static string DataTypeName(int value) =>
        Enum.IsDefined(typeof(OnnxDataType), value) ? $"{(OnnxDataType)value} ({value})" : $"unknown ({value})";

    private static T Load<T>(string path, string what, MessageParser<T> parser) where T : IMessage<T>
    {
        try
        {
            using var stream = ConvViz.Engine.IO.InputFiles.OpenRead(path, $"an ONNX {what} file");
            return parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"{path}: not a valid ONNX {what} file ({e.Message})", e);
        }
    }
}
