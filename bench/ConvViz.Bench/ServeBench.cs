using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using ConvViz.Catalog;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Server;

namespace ConvViz.Bench;

/// <summary>
/// `serve [--model fashion-alexnet] [--layer L] [--seconds 10] [--backend B]`: starts `convviz serve`'s server in this
/// process on a free loopback port and streams frames over its WebSocket as fast as it answers (one frame in flight, as
/// the page does), first with the back pane on (Gradient), then off. Reports frames per second, the latency distribution
/// (send to result received) and the server's own stage times from each result's header. Frames are what the page sends
/// from a 640x480 camera: JPEG at quality 90, scaled so the shorter side is twice the model's input side (at most 480),
/// made from the model's samples (or, for a model without samples, two seeded noise pictures), two different ones
/// alternating so every frame is new.
/// </summary>
public static class ServeBench
{
    private const int CameraWidth = 640, CameraHeight = 480, JpegQuality = 90;

    public static int Run(string[] args) => RunAsync(args).GetAwaiter().GetResult();

    private static async Task<int> RunAsync(string[] args)
    {
        string model = EndToEnd.Option(args, "--model") ?? "fashion-alexnet";
        string? layer = EndToEnd.Option(args, "--layer");
        double seconds = double.Parse(EndToEnd.Option(args, "--seconds") ?? "10", System.Globalization.CultureInfo.InvariantCulture);
        string backendName = EndToEnd.Option(args, "--backend") ?? "cpu";

        byte[][] frames;
        int frameWidth, frameHeight;
        using (var backend = BackendCatalog.Create(backendName))
        using (var bundle = ModelCatalog.Open(model, backend))
            (frames, frameWidth, frameHeight) = Frames(bundle);
        Console.WriteLine($"serve: {model}, layer {layer ?? "(default)"}, backend {backendName}, {seconds} s per mode, frames {frameWidth}x{frameHeight} JPEG q{JpegQuality}");
        Console.WriteLine($"{"back pane",-10} {"frames/s",9} {"latency ms: median",19} {"p10",7} {"p90",7} {"p99",7}   server ms (median): decode forward backward render send");
        foreach (string back in new[] { "Gradient", "Off" })
        {
            var backends = new List<Backend>();
            ModelBundle Open()
            {
                var backend = BackendCatalog.Create(backendName);
                lock (backends) backends.Add(backend);
                return ModelCatalog.Open(model, backend);
            }
            try
            {
                await using var server = await ToolboxServer.StartAsync(Open, new ToolboxServerOptions { Port = 0 });
                var result = await Stream(server.Address, layer, back, frames, TimeSpan.FromSeconds(seconds));
                Console.WriteLine($"{back,-10} {result.FramesPerSecond,9:F1} {Percentile(result.Latencies, 0.5),19:F1} {Percentile(result.Latencies, 0.1),7:F1} " +
                                  $"{Percentile(result.Latencies, 0.9),7:F1} {Percentile(result.Latencies, 0.99),7:F1}   " +
                                  string.Join(" ", result.Stages.Select(s => $"{s.Key} {Percentile(s.Value, 0.5):F1}")));
            }
            finally
            {
                foreach (var backend in backends) backend.Dispose();
            }
        }
        return 0;
    }

    private sealed record StreamResult(double FramesPerSecond, List<double> Latencies, Dictionary<string, List<double>> Stages);

    /// <summary>One viewer: hello, select, then frame, wait for its result, next frame, for <paramref name="duration"/>
    /// after a warm-up of 5 frames.</summary>
    private static async Task<StreamResult> Stream(Uri address, string? layer, string back, byte[][] frames, TimeSpan duration)
    {
        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://{address.Authority}/ws"), CancellationToken.None);
        var buffer = new byte[64 << 20];
        var hello = await Receive(socket, buffer);
        if (hello.Type != WebSocketMessageType.Text) throw new InvalidDataException("the server did not say hello first");
        string select = layer is null ? JsonSerializer.Serialize(new { type = "select", unit = 0, back }) : JsonSerializer.Serialize(new { type = "select", layer, unit = 0, back });
        await socket.SendAsync(Encoding.UTF8.GetBytes(select), WebSocketMessageType.Text, true, CancellationToken.None);

        var latencies = new List<double>();
        var stages = new[] { "decodeMs", "forwardMs", "backwardMs", "renderMs", "sendMs" }.ToDictionary(s => s[..^2], _ => new List<double>());
        var total = Stopwatch.StartNew();
        int sent = 0, measured = 0;
        const int warmUp = 5;
        while (true)
        {
            if (sent == warmUp) total.Restart();
            if (sent >= warmUp && total.Elapsed >= duration) break;
            var clock = Stopwatch.StartNew();
            await socket.SendAsync(frames[sent % frames.Length], WebSocketMessageType.Binary, true, CancellationToken.None);
            sent++;
            while (true)
            {
                var message = await Receive(socket, buffer);
                if (message.Type == WebSocketMessageType.Binary)
                {
                    if (sent <= warmUp) break;
                    latencies.Add(clock.Elapsed.TotalMilliseconds);
                    measured++;
                    int headerLength = BinaryPrimitives.ReadInt32LittleEndian(buffer);
                    using var header = JsonDocument.Parse(buffer.AsMemory(4, headerLength));
                    var timings = header.RootElement.GetProperty("timings");
                    foreach (var (name, values) in stages) values.Add(timings.GetProperty(name + "Ms").GetDouble());
                    break;
                }
                string text = Encoding.UTF8.GetString(buffer, 0, message.Count);
                if (text.Contains("\"error\"")) throw new InvalidDataException($"the server refused a frame: {text}");
            }
        }
        double elapsed = total.Elapsed.TotalSeconds;
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        return new StreamResult(measured / elapsed, latencies, stages);
    }

    private static async Task<(WebSocketMessageType Type, int Count)> Receive(WebSocket socket, byte[] buffer)
    {
        int count = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(count), CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close) throw new InvalidDataException("the server closed the connection");
            count += result.Count;
            if (result.EndOfMessage) return (result.MessageType, count);
        }
    }

    /// <summary>Two different frames as the page sends them (see the class summary), and their size.</summary>
    private static (byte[][] Frames, int Width, int Height) Frames(ModelBundle bundle)
    {
        var p = bundle.Preprocessing;
        double scale = Math.Min(1.0, 2.0 * Math.Max(p.Width, p.Height) / Math.Min(CameraWidth, CameraHeight));
        int width = Math.Max(1, (int)Math.Round(CameraWidth * scale)), height = Math.Max(1, (int)Math.Round(CameraHeight * scale));
        var random = new Random(0);
        var frames = Enumerable.Range(0, 2).Select(i =>
        {
            var pixels = new byte[width * height * 3];
            if (bundle.SampleCount > i)
            {
                // The sample stretched over the frame (nearest), as if filling the camera's view.
                var sample = ImageTensors.ToChannels(bundle.Sample(i).Image, 3);
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                        for (int c = 0; c < 3; c++)
                            pixels[(y * width + x) * 3 + c] = sample.Pixels[((y * sample.Height / height) * sample.Width + x * sample.Width / width) * 3 + c];
            }
            else random.NextBytes(pixels);
            return ImageFile.EncodeJpeg(new Image8(width, height, 3, pixels), JpegQuality);
        }).ToArray();
        return (frames, width, height);
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Round(p * (sorted.Length - 1)))];
    }
}
