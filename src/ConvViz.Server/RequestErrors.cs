namespace ConvViz.Server;

/// <summary>A request the server refuses: the HTTP status and a one-line message.</summary>
internal sealed class RequestRefusedException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>Which exceptions are the request's fault (400 and an error message, as the command line's exit code 2) and which are the server's.</summary>
internal static class RequestErrors
{
    /// <summary>The engine's refusals of bad input: an argument out of range, an unknown layer, an image it cannot decode.</summary>
    public static bool IsBadInput(Exception e) => e is ArgumentException or InvalidDataException or NotSupportedException;

    public static string Internal(Exception e) => $"internal error ({e.GetType().Name}): {ServerJson.OneLine(e)}";
}
