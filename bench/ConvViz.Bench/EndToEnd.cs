using System.Diagnostics;
using ConvViz.Catalog;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;

namespace ConvViz.Bench;

/// <summary>
/// End-to-end AlexNet timings: forward at batch 1 and 8, forward to conv5 + backward to the input
/// (the deconvnet / guided-backprop workload) and forward + backward from a class logit (saliency)
/// at batch 1. Each figure is the median of
/// --repeats runs after warm-up runs, wall-clock.
/// </summary>
public static class EndToEnd
{
    public static int Run(string[] args)
    {
        int repeats = int.Parse(Option(args, "--repeats") ?? "15");
        using var backend = CreateBackend(args);
        using var network = AlexNet.Create(backend, seed: 1);
        Console.WriteLine($"AlexNet end to end on {backend.Description}; median of {repeats} runs after warm-up");
        foreach (int batch in new[] { 1, 8 })
        {
            using var input = RandomInput(backend, network, batch);
            Report($"forward, batch {batch}", repeats, () =>
            {
                using var pass = network.Forward(input);
                backend.Synchronize();
            });
        }
        foreach (int batch in new[] { 1, 8 })
        {
            using var input = RandomInput(backend, network, batch);
            PerLayer(network, backend, input, repeats);
        }
        using (var input = RandomInput(backend, network, 1))
        {
            Report("forward to conv5 + backward to input (guided), batch 1", repeats, () =>
            {
                using var pass = network.Forward(input, upTo: "conv5");
                using var seed = network.UnitSeed(pass, "conv5", 7);
                using var dx = network.Backward(pass, "conv5", seed, new BackwardOptions(ReluRule.Guided));
                backend.Synchronize();
            });
        }
        using (var input = RandomInput(backend, network, 1))
        {
            Report("forward + backward from a class logit to input (saliency), batch 1", repeats, () =>
            {
                using var pass = network.Forward(input);
                using var seed = network.UnitSeed(pass, "fc8", 3);
                using var dx = network.Backward(pass, "fc8", seed);
                backend.Synchronize();
            });
        }
        return 0;
    }

    /// <summary>Median time of each layer's forward at this batch, to show where the time goes.</summary>
    private static void PerLayer(Network network, Backend backend, ConvViz.Engine.Tensors.Tensor input, int repeats)
    {
        var times = new double[network.Layers.Count][];
        for (int i = 0; i < times.Length; i++) times[i] = new double[repeats];
        for (int r = -10; r < repeats; r++)
        {
            var x = input;
            var outputs = new List<LayerOutput>();
            for (int i = 0; i < network.Layers.Count; i++)
            {
                var clock = Stopwatch.StartNew();
                var output = network.Layers[i].Forward(x, training: false);
                backend.Synchronize();
                if (r >= 0) times[i][r] = clock.Elapsed.TotalMilliseconds;
                outputs.Add(output);
                x = output.Y;
            }
            foreach (var o in outputs)
            {
                o.Y.Dispose();
                o.Saved?.Dispose();
            }
        }
        var medians = times.Select(t => t.Order().ElementAt(repeats / 2)).ToArray();
        Console.WriteLine($"  per layer, batch {input.Shape.N} (median ms): " + string.Join("  ",
            network.Layers.Select((l, i) => $"{l.Name} {medians[i]:F2}")) + $"  | sum {medians.Sum():F2}");
    }

    private static void Report(string label, int repeats, Action action)
    {
        // Warm up until tiered JIT has promoted the hot methods (30 calls, then a background
        // recompile): 40 calls or 2 seconds, whichever comes last.
        var warmup = Stopwatch.StartNew();
        for (int i = 0; i < 40 || warmup.Elapsed.TotalSeconds < 2; i++) action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            times[i] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        Console.WriteLine($"{label,-58} median {times[repeats / 2],8:F2} ms   min {times[0],8:F2} ms   max {times[^1],8:F2} ms");
    }

    private static ConvViz.Engine.Tensors.Tensor RandomInput(Backend backend, Network network, int batch)
    {
        var shape = network.InputShape(batch);
        var random = new Random(batch);
        var data = new float[shape.ElementCount];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
        return backend.Upload(data, shape);
    }

    /// <summary>The backend named by --backend (default cpu) and --device (default 0).</summary>
    internal static Backend CreateBackend(string[] args)
    {
        string name = Option(args, "--backend") ?? "cpu";
        return BackendCatalog.Create(name, Option(args, "--device") is { } device ? int.Parse(device) : null);
    }

    internal static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
