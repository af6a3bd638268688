using System.Text.Json;
using System.Text.Json.Serialization;

namespace ConvViz.Server;

/// <summary>The server's JSON: camelCase names, enums by name, floats written round-trip exact (a float read back is the same float).</summary>
internal static class ServerJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        // An absent field is absent, not null (a frame without trace has no "trace").
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static byte[] Bytes<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    public static string Text<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>A message in one line: an exception's text with .NET's "(Parameter 'X')" tail dropped and line breaks joined.</summary>
    public static string OneLine(Exception e)
    {
        string message = e is ArgumentException { ParamName: { } parameter } ? e.Message.Replace($" (Parameter '{parameter}')", "") : e.Message;
        int actual = message.IndexOf("Actual value was", StringComparison.Ordinal);
        if (e is ArgumentOutOfRangeException && actual > 0) message = message[..actual];
        return string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
