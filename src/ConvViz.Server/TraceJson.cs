using ConvViz.Engine.Visualization;

namespace ConvViz.Server;

/// <summary>A <see cref="BackwardTrace"/> as JSON: every gradient (with or without its values) and every step.</summary>
internal static class TraceJson
{
    /// <summary>The whole trace, each gradient's values in (C, H, W) order: what POST /api/trace returns.</summary>
    public static object Full(BackwardTrace trace) => new
    {
        target = new { layer = trace.Target.Layer, channel = trace.Target.Channel, y = trace.Target.Y, x = trace.Target.X },
        rule = trace.Rule,
        gradients = trace.Gradients.Select(g => new { layer = g.Layer, shape = g.Shape.ToArray(), norm = g.Norm, maxAbs = g.MaxAbs, values = g.Values }),
        steps = Steps(trace),
    };

    /// <summary>Each gradient's layer, shape, norm and largest magnitude, without the values (a frame's header carries them as panes).</summary>
    public static object Summary(BackwardTrace trace) =>
        trace.Gradients.Select(g => new { layer = g.Layer, shape = g.Shape.ToArray(), norm = g.Norm, maxAbs = g.MaxAbs }).ToArray();

    public static object Steps(BackwardTrace trace) => trace.Steps.Select(s => new
    {
        layer = s.Layer, opType = s.OpType, explanation = s.Explanation, before = Window(s.Before), after = Window(s.After),
    }).ToArray();

    private static object Window(GradientWindow w) => new { layer = w.Layer, channel = w.Channel, y = w.Y, x = w.X, size = w.Size, values = w.Values };
}
