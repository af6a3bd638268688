using System.Net;
using System.Net.Sockets;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Models;
using ConvViz.Engine.Toolbox;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace ConvViz.Server;

/// <summary>
/// The live toolbox in the browser: a Kestrel server with the page (GET /), the WebSocket of live frames (/ws) and the HTTP
/// API (/api/...). One compute worker runs every frame and request on the live network (<see cref="ComputeWorker"/>);
/// a second network from <c>openModel</c> optimizes units' images in the background. It prints nothing; the caller says
/// where it listens (<see cref="Address"/>).
/// </summary>
public sealed class ToolboxServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ModelBundle bundle;
    private readonly LiveToolbox toolbox;
    private readonly ComputeWorker worker;
    private readonly BackgroundOptimizer optimizer;
    private int stopped;

    private ToolboxServer(ModelBundle bundle, LiveToolbox toolbox, Atlas? atlas, Func<ModelBundle> openModel, ToolboxServerOptions options, IPAddress listening)
    {
        this.bundle = bundle;
        this.toolbox = toolbox;
        worker = new ComputeWorker(toolbox);
        optimizer = new BackgroundOptimizer(openModel, options.OptimizeIterations);
        var api = new ToolboxApi(worker, optimizer, atlas, options.MaxUploadBytes);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxUploadBytes;
            kestrel.Listen(listening, options.Port);
        });
        builder.Services.AddRoutingCore();
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(5));
        app = builder.Build();

        var guard = new RequestGuard(options.Host, listening);
        app.Use(guard.InvokeAsync);
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(20) });
        app.UseRouting();
        app.MapGet("/api/model", api.Model);
        app.MapPost("/api/predict", api.Predict);
        app.MapPost("/api/activations", api.Activations);
        app.MapPost("/api/backward", api.Backward);
        app.MapPost("/api/trace", api.Trace);
        app.MapGet("/api/optimized", api.Optimized);
        app.MapGet("/api/atlas", api.AtlasUnit);
        app.MapGet("/api/atlas/image", api.AtlasImage);
        app.Map("/ws", context => Viewer(context, atlas is not null, options.MaxUploadBytes));
        app.MapGet("/{**file}", ToolboxApi.PageFile);
        app.MapFallback(context => ToolboxApi.Text(context, StatusCodes.Status404NotFound, ToolboxApi.NotHere(context)));
    }

    /// <summary>
    /// Opens the live network (<paramref name="openModel"/>; called once more, later, for background work, so the two never
    /// share a network), the atlas when <see cref="ToolboxServerOptions.Atlas"/> names one, and starts listening.
    /// A port in use, a host that is no address of this machine or a folder that is no atlas is an exception with a
    /// one-line message naming the parameter (Port, Host, Atlas).
    /// </summary>
    public static async Task<ToolboxServer> StartAsync(Func<ModelBundle> openModel, ToolboxServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(openModel);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var listening = Resolve(options.Host);
        var atlas = options.Atlas is null ? null : Atlas.Open(options.Atlas);
        var bundle = openModel();
        LiveToolbox? toolbox = null;
        ToolboxServer? server = null;
        try
        {
            toolbox = new LiveToolbox(bundle);
            if (atlas is not null) RequireFits(atlas, toolbox.Model);
            server = new ToolboxServer(bundle, toolbox, atlas, openModel, options, listening);
            try { await server.app.StartAsync(cancellationToken); }
            catch (IOException e) when (e.InnerException is AddressInUseException)
            {
                throw new IOException($"Port {options.Port} is already in use on {options.Host}: choose another Port, or 0 for any free one", e);
            }
            catch (Exception e) when ((e as SocketException ?? e.InnerException as SocketException) is { } socket)
            {
                throw new IOException($"Host {options.Host}: cannot listen on {listening} port {options.Port} ({socket.Message})", e);
            }
            return server;
        }
        catch
        {
            if (server is not null) await server.DisposeAsync();
            else
            {
                toolbox?.Dispose();
                bundle.Dispose();
            }
            throw;
        }
    }

    /// <summary>Where the server listens, e.g. http://127.0.0.1:8600/ (the real port when started with port 0).</summary>
    public Uri Address => new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");

    /// <summary>Whether only this machine can connect (the server listens on a loopback address).</summary>
    public bool IsLoopbackOnly => IPAddress.TryParse(Address.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);

    /// <summary>Closes every viewer's connection, waits for the work in progress, and releases both networks.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref stopped, 1) == 1) return;
        try { await app.StopAsync(); }
        finally
        {
            await app.DisposeAsync();
            worker.Dispose();
            optimizer.Dispose();
            toolbox.Dispose();
            bundle.Dispose();
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    private async Task Viewer(HttpContext context, bool hasAtlas, long maxMessageBytes)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            await ToolboxApi.Text(context, StatusCodes.Status400BadRequest, "/ws takes WebSocket connections only");
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        await new LiveSession(socket, worker, optimizer, maxMessageBytes).RunAsync(hasAtlas, context.RequestAborted, stopping);
    }

    /// <summary>The address to listen on: an IP address, localhost (127.0.0.1), or a name resolved to its first address.</summary>
    private static IPAddress Resolve(string host)
    {
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return IPAddress.Loopback;
        if (IPAddress.TryParse(host.Trim('[', ']'), out var address)) return address;
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.First();
        }
        catch (Exception e) when (e is SocketException or ArgumentException or InvalidOperationException)
        {
            throw new ArgumentException($"Host '{host}' is not an IP address, localhost or a name this machine resolves", nameof(ToolboxServerOptions.Host), e);
        }
    }

    /// <summary>An atlas of another model would show the wrong units: at least one of its layers must be a layer of this one.</summary>
    private static void RequireFits(Atlas atlas, ToolboxModel model)
    {
        if (!atlas.Layers.Any(layer => model.Layers.Any(l => l.Name == layer)))
            throw new InvalidDataException($"Atlas {atlas.Folder} was made from {atlas.Model}: none of its layers ({string.Join(", ", atlas.Layers)}) is a layer of {model.Source}");
    }
}
