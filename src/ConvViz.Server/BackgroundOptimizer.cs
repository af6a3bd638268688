using System.Diagnostics;
using ConvViz.Engine;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;

namespace ConvViz.Server;

/// <summary>
/// "What the unit wants" without an atlas: the optimized image of a unit (activation maximization, preset 3), made one at a
/// time on a thread and a network of its own (a second bundle from openModel, opened at the first request), so the live
/// frames never wait for it. Every viewer that asks for a unit gets its progress and, when done, the URL of its PNG; images
/// stay in memory per (layer, unit) for the server's life.
/// </summary>
internal sealed class BackgroundOptimizer(Func<ModelBundle> openModel, int iterations) : IDisposable
{
    /// <summary>Progress messages at most this often (and the last one always).</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(100);

    private readonly object gate = new();
    private readonly Dictionary<(string Layer, int Unit), byte[]> images = [];
    private readonly Dictionary<(string Layer, int Unit), List<LiveSession>> askers = [];
    private readonly Queue<(string Layer, int Unit)> queue = new();
    private readonly CancellationTokenSource stopping = new();
    private Thread? thread;
    private bool stopped;
    private ModelBundle? bundle;

    /// <summary>The image's address, relative to the page (so the page works under any path prefix).</summary>
    public static string Url(string layer, int unit) => $"api/optimized?layer={Uri.EscapeDataString(layer)}&unit={unit}";

    /// <summary>The PNG of the unit's optimized image, or null when it has not been made.</summary>
    public byte[]? Image(string layer, int unit)
    {
        lock (gate) return images.GetValueOrDefault((layer, unit));
    }

    /// <summary>Makes the unit's image unless it is made or under way; <paramref name="asker"/> hears of its progress and result.</summary>
    public void Request(string layer, int unit, LiveSession asker)
    {
        lock (gate)
        {
            if (stopped) return;
            if (images.ContainsKey((layer, unit)))
            {
                asker.Send(Ready(layer, unit));
                return;
            }
            if (askers.TryGetValue((layer, unit), out var waiting))
            {
                if (!waiting.Contains(asker)) waiting.Add(asker);
                return;
            }
            askers[(layer, unit)] = [asker];
            queue.Enqueue((layer, unit));
            thread ??= StartThread();
            Monitor.Pulse(gate);
        }
    }

    private Thread StartThread()
    {
        var started = new Thread(Loop) { IsBackground = true, Name = "convviz background optimize" };
        started.Start();
        return started;
    }

    private static object Ready(string layer, int unit) => new { type = "optimized", layer, unit, url = Url(layer, unit) };

    private void Loop()
    {
        while (true)
        {
            (string Layer, int Unit) job;
            lock (gate)
            {
                while (queue.Count == 0 && !stopped) Monitor.Wait(gate);
                if (stopped) return;
                job = queue.Dequeue();
            }
            try
            {
                byte[] png = Optimize(job.Layer, job.Unit, stopping.Token);
                lock (gate) images[job] = png;
                Tell(job, Ready(job.Layer, job.Unit), done: true);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                string why = RequestErrors.IsBadInput(e) ? ServerJson.OneLine(e) : RequestErrors.Internal(e);
                // The error says why; "optimized" without a url tells the page the unit is no longer under way.
                Tell(job, new { type = "error", message = $"optimizing {job.Layer} unit {job.Unit}: {why}", layer = job.Layer, unit = job.Unit }, done: false);
                Tell(job, new { type = "optimized", layer = job.Layer, unit = job.Unit }, done: true);
            }
        }
    }

    private byte[] Optimize(string layer, int unit, CancellationToken cancellation)
    {
        bundle ??= openModel();
        var p = bundle.Preprocessing;
        var options = OptimizationOptions.Preset(3).AdaptedTo(p) with { Iterations = iterations };
        var clock = Stopwatch.StartNew();
        var progress = new ProgressAction<OptimizeProgress>(step =>
        {
            int done = step.Iteration + 1;
            if (done < step.Iterations && clock.Elapsed < ProgressInterval) return;
            clock.Restart();
            Tell((layer, unit), new { type = "optimize", layer, unit, done, total = step.Iterations }, done: false);
        });
        var result = ActivationMaximization.Run(bundle.Network, p, new Target(layer, unit), options, start: null, progress, cancellation);
        return ImageFile.EncodePng(ImageTensors.ToImageCentered(result.Best, p));
    }

    private void Tell((string Layer, int Unit) job, object message, bool done)
    {
        LiveSession[] listeners;
        lock (gate)
        {
            if (!askers.TryGetValue(job, out var waiting)) return;
            listeners = [.. waiting];
            if (done) askers.Remove(job);
        }
        foreach (var listener in listeners) listener.Send(message);
    }

    /// <summary>Stops the optimization under way (its askers hear nothing more) and releases the second network.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (stopped) return;
            stopped = true;
            Monitor.Pulse(gate);
        }
        stopping.Cancel();
        thread?.Join();
        bundle?.Dispose();
        stopping.Dispose();
    }
}
