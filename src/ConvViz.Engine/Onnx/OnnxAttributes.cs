using System.Text;
using ConvViz.Engine.Onnx.Protos;
using AttributeType = ConvViz.Engine.Onnx.Protos.AttributeProto.Types.AttributeType;

namespace ConvViz.Engine.Onnx;

/// <summary>
/// Reading a node's attributes by name, with defaults for absent ones. An attribute that is present
/// with another type than asked for is an error naming the node, the attribute and both types.
/// Attributes without a type (IR version 1) are read from the field that was asked for.
/// </summary>
internal static class OnnxAttributes
{
    /// <summary>The attribute with that name, or null.</summary>
    public static AttributeProto? Find(this NodeProto node, string name)
    {
        ArgumentNullException.ThrowIfNull(node);
        foreach (var attribute in node.Attribute)
            if (attribute.Name == name) return attribute;
        return null;
    }

    public static bool HasAttribute(this NodeProto node, string name) => node.Find(name) is not null;

    /// <summary>The names of the node's attributes, in file order.</summary>
    public static IReadOnlyList<string> AttributeNames(this NodeProto node) => node.Attribute.Select(a => a.Name).ToArray();

    public static long GetInt(this NodeProto node, string name, long defaultValue) =>
        Get(node, name, AttributeType.Int) is { } a ? a.I : defaultValue;

    /// <summary>An INT attribute that must fit in an int.</summary>
    public static int GetInt32(this NodeProto node, string name, int defaultValue)
    {
        long value = node.GetInt(name, defaultValue);
        if (value is < int.MinValue or > int.MaxValue)
            throw new InvalidDataException($"{Describe(node)}: attribute '{name}' is {value}, out of the 32-bit range");
        return (int)value;
    }

    /// <summary>An INTS attribute, or defaultValue (null when absent and no default given).</summary>
    public static long[]? GetInts(this NodeProto node, string name, long[]? defaultValue = null) =>
        Get(node, name, AttributeType.Ints) is { } a ? a.Ints.ToArray() : defaultValue;

    /// <summary>An INTS attribute whose values must fit in an int.</summary>
    public static int[]? GetInt32s(this NodeProto node, string name, int[]? defaultValue = null)
    {
        var values = node.GetInts(name);
        if (values is null) return defaultValue;
        var result = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] is < int.MinValue or > int.MaxValue)
                throw new InvalidDataException($"{Describe(node)}: attribute '{name}' holds {values[i]}, out of the 32-bit range");
            result[i] = (int)values[i];
        }
        return result;
    }

    public static float GetFloat(this NodeProto node, string name, float defaultValue) =>
        Get(node, name, AttributeType.Float) is { } a ? a.F : defaultValue;

    public static float[]? GetFloats(this NodeProto node, string name, float[]? defaultValue = null) =>
        Get(node, name, AttributeType.Floats) is { } a ? a.Floats.ToArray() : defaultValue;

    /// <summary>A STRING attribute decoded as UTF-8.</summary>
    public static string GetString(this NodeProto node, string name, string defaultValue) =>
        Get(node, name, AttributeType.String) is { } a ? Encoding.UTF8.GetString(a.S.Span) : defaultValue;

    public static string[]? GetStrings(this NodeProto node, string name, string[]? defaultValue = null) =>
        Get(node, name, AttributeType.Strings) is { } a ? a.Strings.Select(s => Encoding.UTF8.GetString(s.Span)).ToArray() : defaultValue;

    public static TensorProto? GetTensor(this NodeProto node, string name) =>
        Get(node, name, AttributeType.Tensor)?.T;

    /// <summary>"Conv node 'conv1'" or "Conv node" for messages.</summary>
    public static string Describe(NodeProto node) =>
        string.IsNullOrEmpty(node.Name) ? $"{node.OpType} node" : $"{node.OpType} node '{node.Name}'";

    private static AttributeProto? Get(NodeProto node, string name, AttributeType expected)
    {
        var attribute = node.Find(name);
        if (attribute is null) return null;
        if (!string.IsNullOrEmpty(attribute.RefAttrName))
            throw new NotSupportedException(
                $"{Describe(node)}: attribute '{name}' refers to the function attribute '{attribute.RefAttrName}'; only graphs outside functions are supported");
        if (attribute.Type != expected && attribute.Type != AttributeType.Undefined)
            throw new InvalidDataException($"{Describe(node)}: attribute '{name}' has type {attribute.Type}, expected {expected}");
        return attribute;
    }
}
