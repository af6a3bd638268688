namespace ConvViz.Server;

/// <summary>
/// Where <see cref="ToolboxServer"/> listens and what it accepts. <see cref="Host"/> is an IP address, "localhost" or a name
/// of this machine (loopback by default: only this machine can connect; over SSH, forward the port); <see cref="Port"/> 0
/// takes any free port. <see cref="MaxUploadBytes"/> bounds every request body and every WebSocket frame.
/// <see cref="Atlas"/> is a folder written by `convviz atlas` whose units the page shows; <see cref="OptimizeIterations"/>
/// is how long the background optimization of a unit's image runs when there is no atlas image for it.
/// </summary>
public sealed record ToolboxServerOptions
{
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 8600;
    public string? Atlas { get; init; }
    public long MaxUploadBytes { get; init; } = 16L << 20;
    public int OptimizeIterations { get; init; } = 200;

    /// <summary>The largest value <see cref="OptimizeIterations"/> takes (optimize's own bound).</summary>
    internal const int MaxOptimizeIterations = 100_000;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the parameter that is out of range.</summary>
    internal void Validate()
    {
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port), Port, $"Port {Port} must be from 0 (any free port) to 65535");
        if (MaxUploadBytes < 1) throw new ArgumentOutOfRangeException(nameof(MaxUploadBytes), MaxUploadBytes, $"MaxUploadBytes {MaxUploadBytes} must be at least 1");
        if (OptimizeIterations is < 1 or > MaxOptimizeIterations)
            throw new ArgumentOutOfRangeException(nameof(OptimizeIterations), OptimizeIterations, $"OptimizeIterations {OptimizeIterations} must be from 1 to {MaxOptimizeIterations}");
        if (string.IsNullOrWhiteSpace(Host)) throw new ArgumentException("Host is empty: give an IP address, localhost or a name of this machine", nameof(Host));
    }
}
