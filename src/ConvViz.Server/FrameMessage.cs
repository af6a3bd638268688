using System.Buffers.Binary;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Toolbox;
using ConvViz.Engine.Visualization;

namespace ConvViz.Server;

/// <summary>How long one frame took outside the engine: decoding it, and sending the viewer's previous result.</summary>
internal readonly record struct FrameCosts(double DecodeMs, double PreviousSendMs);

/// <summary>
/// One frame's result as one binary WebSocket message: a 4-byte little-endian length L, L bytes of UTF-8 JSON header, then
/// the panes' raw 8-bit pixels (row major, channels interleaved) at the offsets the header gives, counted from the first
/// byte after the header.
/// </summary>
internal static class FrameMessage
{
    public static byte[] Encode(long seq, long dropped, ToolboxSelection selection, ToolboxFrame frame, FrameCosts costs)
    {
        var trace = frame.Trace;
        var panes = new List<(string Name, Image8 Image)> { ("input", frame.Input), ("layer", frame.LayerGrid), ("unit", frame.Unit) };
        if (frame.Back is not null) panes.Add(("back", frame.Back));
        if (trace is not null) panes.AddRange(trace.Gradients.Select(g => ($"trace:{g.Layer}", BackwardTrace.Render(g))));
        // The page draws 1 (gray) or 3 (RGB) channels; anything else is shown as RGB.
        panes = panes.Select(p => (p.Name, p.Image.Channels is 1 or 3 ? p.Image : ImageTensors.ToChannels(p.Image, 3))).ToList();

        long offset = 0;
        var described = new List<object>();
        foreach (var (name, image) in panes)
        {
            described.Add(new { name, width = image.Width, height = image.Height, channels = image.Channels, offset, length = image.Pixels.Length });
            offset += image.Pixels.Length;
        }
        var header = ServerJson.Bytes(new
        {
            type = "frame",
            seq,
            dropped,
            selection,
            unitValue = frame.UnitValue,
            top = frame.Top,
            layout = frame.Layout,
            timings = new
            {
                decodeMs = costs.DecodeMs, forwardMs = frame.Timings.ForwardMs, backwardMs = frame.Timings.BackwardMs, renderMs = frame.Timings.RenderMs,
                sendMs = costs.PreviousSendMs,
            },
            panes = described,
            trace = trace is null ? null : TraceJson.Summary(trace),
            steps = trace is null ? null : TraceJson.Steps(trace),
        });

        var message = new byte[4 + header.Length + offset];
        BinaryPrimitives.WriteInt32LittleEndian(message, header.Length);
        header.CopyTo(message, 4);
        int at = 4 + header.Length;
        foreach (var (_, image) in panes)
        {
            image.Pixels.CopyTo(message, at);
            at += image.Pixels.Length;
        }
        return message;
    }
}
