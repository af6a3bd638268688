using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Toolbox;
using ConvViz.Engine.Visualization;

namespace ConvViz.Server;

/// <summary>Where a viewer's next frame comes from: an encoded image it sent, one of the bundle's samples, or its last frame again.</summary>
internal abstract record FrameInput
{
    public sealed record Encoded(byte[] Data) : FrameInput;
    public sealed record Sample(int Number) : FrameInput;
    public sealed record Previous : FrameInput;
}

/// <summary>
/// One viewer (a browser tab) on the WebSocket at /ws: its selection and a slot for its newest frame. A frame that arrives
/// while an earlier one waits replaces it (the earlier one is dropped and counted, never queued); a selection change
/// recomputes the last frame, so a frozen frame follows the selection. Results and messages go out in order through
/// one sender, so the compute worker never waits for a slow viewer.
/// </summary>
internal sealed class LiveSession : IComputeSource
{
    private readonly WebSocket socket;
    private readonly ComputeWorker worker;
    private readonly BackgroundOptimizer optimizer;
    private readonly long maxMessageBytes;
    private readonly Channel<(byte[] Bytes, WebSocketMessageType Type)> outbox =
        Channel.CreateUnbounded<(byte[], WebSocketMessageType)>(new UnboundedChannelOptions { SingleReader = true });

    // Guarded by worker.Gate.
    private ToolboxSelection selection;
    private FrameInput? pending;
    private bool queued, hasLastFrame, traceEnabled, closed;
    // A frame's result is being computed or waits to be sent: the next frame is taken only after it has gone, so a viewer
    // that reads slowly holds at most one result in memory (newer frames replace each other in the pending slot meanwhile).
    private bool resultOutstanding;
    private long received, dropped;

    private long pendingSeq;

    // Used by the worker thread only: the last frame decoded and its number.
    private Image8? lastFrame;
    private long lastFrameSeq;

    private double previousSendMs;

    public LiveSession(WebSocket socket, ComputeWorker worker, BackgroundOptimizer optimizer, long maxMessageBytes)
    {
        this.socket = socket;
        this.worker = worker;
        this.optimizer = optimizer;
        this.maxMessageBytes = maxMessageBytes;
        selection = worker.Toolbox.DefaultSelection;
    }

    /// <summary>Says hello, then serves the viewer until it closes, the connection drops or <paramref name="stopping"/> asks it to close.</summary>
    public async Task RunAsync(bool hasAtlas, CancellationToken aborted, CancellationToken stopping)
    {
        var toolbox = worker.Toolbox;
        Send(new { type = "hello", model = toolbox.Model, selection = toolbox.DefaultSelection, atlas = hasAtlas, maxUploadBytes = maxMessageBytes });
        var sender = SendAllAsync(aborted);
        using (stopping.Register(() => outbox.Writer.TryComplete()))
        {
            try { await ReceiveAllAsync(aborted); }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
            finally
            {
                lock (worker.Gate)
                {
                    closed = true;
                    pending = null;
                }
                outbox.Writer.TryComplete();
            }
        }
        await sender;
    }

    private async Task ReceiveAllAsync(CancellationToken aborted)
    {
        var buffer = new byte[64 << 10];
        using var message = new MemoryStream();
        while (true)
        {
            message.SetLength(0);
            long length = 0;
            ValueWebSocketReceiveResult part;
            do
            {
                part = await socket.ReceiveAsync(buffer.AsMemory(), aborted);
                if (part.MessageType == WebSocketMessageType.Close) return;
                length += part.Count;
                // Past the limit the rest of the message is read and thrown away, so the connection stays usable.
                if (length <= maxMessageBytes) message.Write(buffer, 0, part.Count);
            }
            while (!part.EndOfMessage);

            if (length > maxMessageBytes)
                SendError($"a message of {length:N0} bytes is over the server's limit of {maxMessageBytes:N0} bytes; it was not used");
            else if (part.MessageType == WebSocketMessageType.Binary)
                Offer(new FrameInput.Encoded(message.ToArray()));
            else
                Handle(Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length));
        }
    }

    private async Task SendAllAsync(CancellationToken aborted)
    {
        try
        {
            await foreach (var (bytes, type) in outbox.Reader.ReadAllAsync(aborted))
            {
                var clock = Stopwatch.StartNew();
                await socket.SendAsync(bytes, type, endOfMessage: true, aborted);
                if (type == WebSocketMessageType.Binary)
                {
                    Volatile.Write(ref previousSendMs, clock.Elapsed.TotalMilliseconds);
                    ResultGone();
                }
            }
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "closing", aborted);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
    }

    /// <summary>A text message to the viewer, as JSON.</summary>
    public void Send(object message) => outbox.Writer.TryWrite((ServerJson.Bytes(message), WebSocketMessageType.Text));

    public void SendError(string message) => Send(new { type = "error", message });

    private void Offer(FrameInput input)
    {
        lock (worker.Gate)
        {
            received++;
            if (pending is FrameInput.Encoded or FrameInput.Sample) dropped++;
            pending = input;
            pendingSeq = received;
            EnqueueLocked();
        }
    }

    private void EnqueueLocked()
    {
        if (queued || closed) return;
        queued = true;
        worker.Enqueue(this);
    }

    /// <summary>Under the worker's gate: the pending frame with the selection and trace setting of this moment.</summary>
    public Action<LiveToolbox, CancellationToken>? Take()
    {
        queued = false;
        if (pending is null || closed || resultOutstanding) return null;
        var (input, chosen, trace, seq, droppedSoFar) = (pending, selection, traceEnabled, pendingSeq, dropped);
        pending = null;
        resultOutstanding = true;
        return (toolbox, cancellation) => Compute(toolbox, input, chosen, trace, seq, droppedSoFar, cancellation);
    }

    private void Compute(LiveToolbox toolbox, FrameInput input, ToolboxSelection chosen, bool trace, long seq, long droppedSoFar, CancellationToken cancellation)
    {
        try
        {
            var clock = Stopwatch.StartNew();
            var image = input switch
            {
                FrameInput.Encoded encoded => ImageFile.Decode(encoded.Data, "frame"),
                FrameInput.Sample sample => toolbox.Bundle.Sample(sample.Number).Image,
                _ => lastFrame!,
            };
            double decodeMs = clock.Elapsed.TotalMilliseconds;
            if (input is FrameInput.Previous) seq = lastFrameSeq;
            (lastFrame, lastFrameSeq) = (image, seq);
            lock (worker.Gate) hasLastFrame = true;

            // With the trace on, the back pane and the trace come from one backward pass.
            var frame = toolbox.Run(image, chosen, withTrace: trace, cancellation);
            var costs = new FrameCosts(decodeMs, Volatile.Read(ref previousSendMs));
            if (outbox.Writer.TryWrite((FrameMessage.Encode(seq, droppedSoFar, chosen, frame, costs), WebSocketMessageType.Binary))) return;
            ResultGone();
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested) { ResultGone(); }
        catch (Exception e)
        {
            ResultGone();
            SendError(RequestErrors.IsBadInput(e) ? ServerJson.OneLine(e) : RequestErrors.Internal(e));
        }
    }

    /// <summary>The outstanding result was sent (or none will come): a frame that arrived meanwhile is computed next.</summary>
    private void ResultGone()
    {
        lock (worker.Gate)
        {
            resultOutstanding = false;
            if (pending is not null) EnqueueLocked();
        }
    }

    private void Handle(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                throw new InvalidDataException("a text message is a JSON object with a \"type\": select, sample, trace or optimize");
            switch (type.GetString())
            {
                case "select": Select(root); break;
                case "sample": Offer(new FrameInput.Sample(Field(root, "number", "a sample number", e => e.GetInt32()))); break;
                case "trace": SetTrace(Field(root, "enabled", "true or false", e => e.GetBoolean())); break;
                case "optimize": Optimize(root); break;
                default: throw new InvalidDataException($"unknown message type '{type.GetString()}'; expected select, sample, trace or optimize");
            }
        }
        catch (JsonException e)
        {
            SendError($"a text message is not valid JSON: {ServerJson.OneLine(e)}");
        }
        catch (Exception e) when (RequestErrors.IsBadInput(e))
        {
            SendError(ServerJson.OneLine(e));
        }
    }

    /// <summary>{"type":"select", any of "layer", "unit", "back", "display", "boost"}: the fields given change, the others stay.</summary>
    private void Select(JsonElement root)
    {
        ToolboxSelection current;
        lock (worker.Gate) current = selection;
        var chosen = current;
        foreach (var field in root.EnumerateObject())
        {
            chosen = field.Name switch
            {
                "type" => chosen,
                "layer" => chosen with { Layer = Field(root, "layer", "a layer name", ReadString) },
                "unit" => chosen with { Unit = Field(root, "unit", "a unit number", e => e.GetInt32()) },
                "back" => chosen with { Back = Named<BackMode>(root, "back") },
                "display" => chosen with { Display = Named<GradientDisplay>(root, "display") },
                "boost" => chosen with { Boost = Field(root, "boost", "true or false", e => e.GetBoolean()) },
                _ => throw new InvalidDataException($"select: unknown field '{field.Name}'; the fields are layer, unit, back, display and boost"),
            };
        }
        worker.Toolbox.Validate(chosen);
        lock (worker.Gate)
        {
            selection = chosen;
            RecomputeLocked();
        }
    }

    private void SetTrace(bool enabled)
    {
        lock (worker.Gate)
        {
            if (traceEnabled == enabled) return;
            traceEnabled = enabled;
            RecomputeLocked();
        }
    }

    /// <summary>With no frame waiting, the last frame again (under the new selection or setting).</summary>
    private void RecomputeLocked()
    {
        if (pending is not null || !hasLastFrame) return;
        pending = new FrameInput.Previous();
        EnqueueLocked();
    }

    /// <summary>{"type":"optimize"[, "layer", "unit"]}: the optimized image of a unit (the selected one by default), made in the background.</summary>
    private void Optimize(JsonElement root)
    {
        ToolboxSelection current;
        lock (worker.Gate) current = selection;
        var target = current with
        {
            Layer = root.TryGetProperty("layer", out _) ? Field(root, "layer", "a layer name", ReadString) : current.Layer,
            Unit = root.TryGetProperty("unit", out _) ? Field(root, "unit", "a unit number", e => e.GetInt32()) : current.Unit,
        };
        worker.Toolbox.Validate(target);
        optimizer.Request(target.Layer, target.Unit, this);
    }

    private static T Field<T>(JsonElement root, string name, string what, Func<JsonElement, T> read)
    {
        if (!root.TryGetProperty(name, out var value)) throw new InvalidDataException($"\"{name}\" is missing: give {what}");
        try { return read(value); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"\"{name}\": {value.GetRawText()} is not {what}");
        }
    }

    private static string ReadString(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new InvalidOperationException();

    private static T Named<T>(JsonElement root, string name) where T : struct, Enum
    {
        string text = Field(root, name, $"one of {string.Join(", ", Enum.GetNames<T>())}", ReadString);
        return Enum.GetNames<T>().FirstOrDefault(n => n.Equals(text, StringComparison.OrdinalIgnoreCase)) is { } known
            ? Enum.Parse<T>(known)
            : throw new InvalidDataException($"\"{name}\": '{text}' is not one of {string.Join(", ", Enum.GetNames<T>())}");
    }
}
