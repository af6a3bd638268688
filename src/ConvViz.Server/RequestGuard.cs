using System.Net;
using Microsoft.AspNetCore.Http;

namespace ConvViz.Server;

/// <summary>
/// What every request must pass before it is served. The Host header must name this server (a loopback name, or the host
/// it was started on; any name when it listens on every address), so a page on another site that rebinds its own name
/// to this machine's address is refused. A request that carries an Origin (browsers send it on WebSocket connections and
/// on scripts' POSTs) must come from this server's own address; a missing Origin, as from scripts and other non-browser
/// clients, is allowed.
/// </summary>
internal sealed class RequestGuard
{
    private readonly HashSet<string>? names;

    public RequestGuard(string host, IPAddress listening)
    {
        if (listening.Equals(IPAddress.Any) || listening.Equals(IPAddress.IPv6Any)) return;
        names = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "localhost", "127.0.0.1", "[::1]", host, Bracketed(listening) };
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (names is not null && !names.Contains(request.Host.Host))
        {
            await ToolboxApi.Text(context, StatusCodes.Status400BadRequest, $"Host '{request.Host.Host}' is not a name of this server");
            return;
        }
        string? origin = request.Headers.Origin;
        if (origin is not null && !string.Equals(origin, $"{request.Scheme}://{request.Host}", StringComparison.OrdinalIgnoreCase))
        {
            await ToolboxApi.Text(context, StatusCodes.Status403Forbidden, $"requests from {origin} are refused: only pages of this server may call it");
            return;
        }
        await next(context);
    }

    /// <summary>An address as a Host header writes it: IPv6 in brackets.</summary>
    private static string Bracketed(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
}
