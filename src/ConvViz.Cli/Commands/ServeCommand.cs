using System.CommandLine;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Models;
using ConvViz.Server;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz serve [--model M] [--port 8600] [--host 127.0.0.1] [--atlas DIR] [--backend B] [--device N]`: the live toolbox
/// in the browser (webcam, video, images; every layer live; a unit's backprop and what it wants). Prints the address and
/// serves until Ctrl+C.
/// </summary>
public static class ServeCommand
{
    public const int DefaultPort = 8600, MaxPort = 65535;

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var port = new Option<int>("--port") { Description = $"Port to listen on (0: any free port)", DefaultValueFactory = _ => DefaultPort }.InRange(0, MaxPort);
        var host = new Option<string>("--host")
        {
            Description = "Address to listen on: 127.0.0.1 (this machine only; use SSH port forwarding from another), or an address of a network " +
                          "(0.0.0.0: every network), whose every machine can then use the server",
            DefaultValueFactory = _ => "127.0.0.1",
        };
        var atlas = new Option<string?>("--atlas") { Description = "Folder written by `convviz atlas`: the page shows each unit's top-9 patches, their deconvnets and its optimized image" };
        var command = new Command("serve", "The live toolbox in the browser: webcam, video or images through every layer; click a unit for its backprop and what it wants")
            { model, backend, device, port, host, atlas };
        command.SetAction((result, cancellation) => Execute(result.GetValue(model)!, result.GetValue(backend)!, result.GetValue(device),
            new ToolboxServerOptions { Host = result.GetValue(host)!, Port = result.GetValue(port), Atlas = result.GetValue(atlas) }, cancellation));
        return command;
    }

    private static async Task<int> Execute(string modelName, string backendName, int? device, ToolboxServerOptions options, CancellationToken cancellation)
    {
        // The server opens the model twice (the live network and the background one), each on a backend of its own.
        var backends = new List<Backend>();
        ModelBundle Open()
        {
            var backend = BackendCatalog.Create(backendName, device);
            lock (backends) backends.Add(backend);
            return ModelCatalog.Open(modelName, backend);
        }
        try
        {
            await using var server = await ToolboxServer.StartAsync(Open, options, cancellation);
            var address = server.Address;
            AnsiConsole.MarkupLine(Markup.Escape($"convviz serve: {modelName} on {backendName} at {address}"));
            if (server.IsLoopbackOnly)
                AnsiConsole.MarkupLine(Markup.Escape($"from another machine, forward the port over SSH: ssh -L {address.Port}:{address.Host}:{address.Port} USER@THIS-MACHINE, then open http://localhost:{address.Port}/"));
            else
                AnsiConsole.MarkupLine(Markup.Escape($"warning: listening on {options.Host}: anyone on that network can use this server and run the model on what they send"));
            AnsiConsole.MarkupLine("Ctrl+C stops it");
            await Task.Delay(Timeout.Infinite, cancellation);
        }
        // Ctrl+C is how a server ends, starting or serving: a clean stop, not an error.
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested) { }
        finally
        {
            foreach (var backend in backends) backend.Dispose();
        }
        AnsiConsole.MarkupLine("stopped");
        return 0;
    }
}
