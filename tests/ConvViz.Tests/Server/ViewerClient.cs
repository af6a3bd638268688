using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using ConvViz.Engine.Imaging;

namespace ConvViz.Tests.Server;

/// <summary>One frame's result as the server sent it: the JSON header and each pane as an image.</summary>
public sealed record FrameResult(JsonElement Header, IReadOnlyDictionary<string, Image8> Panes)
{
    public long Seq => Header.GetProperty("seq").GetInt64();
    public int Unit => Header.GetProperty("selection").GetProperty("unit").GetInt32();
}

/// <summary>A viewer of /ws as the page is one: sends frames and JSON messages, reads text messages and frame results.</summary>
public sealed class ViewerClient : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly ClientWebSocket socket;

    private ViewerClient(ClientWebSocket socket) => this.socket = socket;

    public static async Task<ViewerClient> ConnectAsync(Uri address, string? origin = null)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (origin is not null) socket.Options.SetRequestHeader("Origin", origin);
        await socket.ConnectAsync(new Uri($"ws://{address.Authority}/ws"), CancellationToken.None);
        return new ViewerClient(socket);
    }

    /// <summary>Connects and reads the hello message.</summary>
    public static async Task<(ViewerClient Viewer, JsonElement Hello)> OpenAsync(Uri address)
    {
        var viewer = await ConnectAsync(address);
        return (viewer, await viewer.TextAsync("hello"));
    }

    public Task SendFrameAsync(byte[] encoded) => socket.SendAsync(encoded, WebSocketMessageType.Binary, true, CancellationToken.None);

    public Task SendAsync(object message) => SendTextAsync(JsonSerializer.Serialize(message));

    public Task SendTextAsync(string text) => socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>The next message: text as JSON, or a frame result.</summary>
    public async Task<object> ReceiveAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        using var message = new MemoryStream();
        var buffer = new byte[1 << 16];
        WebSocketReceiveResult part;
        do
        {
            part = await socket.ReceiveAsync(buffer, timeout.Token);
            if (part.MessageType == WebSocketMessageType.Close) throw new WebSocketException($"the server closed the connection: {part.CloseStatusDescription}");
            message.Write(buffer, 0, part.Count);
        }
        while (!part.EndOfMessage);
        byte[] bytes = message.ToArray();
        if (part.MessageType == WebSocketMessageType.Text) return JsonDocument.Parse(bytes).RootElement.Clone();
        return Parse(bytes);
    }

    /// <summary>The next text message, which must be of <paramref name="type"/>.</summary>
    public async Task<JsonElement> TextAsync(string type)
    {
        var message = await ReceiveAsync();
        var text = Assert.IsType<JsonElement>(message);
        Assert.True(text.GetProperty("type").GetString() == type, $"expected a {type} message, got {text}");
        return text;
    }

    /// <summary>The next message, which must be a frame result.</summary>
    public async Task<FrameResult> FrameAsync()
    {
        var message = await ReceiveAsync();
        return message as FrameResult ?? throw new Xunit.Sdk.XunitException($"expected a frame result, got {message}");
    }

    /// <summary>Frame results until the one computed from frame <paramref name="seq"/>, in the order they came.</summary>
    public async Task<List<FrameResult>> FramesUntilAsync(long seq)
    {
        var results = new List<FrameResult>();
        do results.Add(await FrameAsync());
        while (results[^1].Seq < seq);
        return results;
    }

    private static FrameResult Parse(byte[] message)
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(message);
        var header = JsonDocument.Parse(message.AsMemory(4, length)).RootElement.Clone();
        Assert.Equal("frame", header.GetProperty("type").GetString());
        int body = 4 + length;
        var panes = new Dictionary<string, Image8>();
        foreach (var pane in header.GetProperty("panes").EnumerateArray())
        {
            int offset = pane.GetProperty("offset").GetInt32(), size = pane.GetProperty("length").GetInt32();
            var image = new Image8(pane.GetProperty("width").GetInt32(), pane.GetProperty("height").GetInt32(), pane.GetProperty("channels").GetInt32(),
                message.AsSpan(body + offset, size).ToArray());
            panes.Add(pane.GetProperty("name").GetString()!, image);
        }
        Assert.Equal(message.Length, body + header.GetProperty("panes").EnumerateArray().Sum(p => p.GetProperty("length").GetInt32()));
        return new FrameResult(header, panes);
    }

    public async ValueTask DisposeAsync()
    {
        if (socket.State == WebSocketState.Open)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token); }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
        }
        socket.Dispose();
    }
}
