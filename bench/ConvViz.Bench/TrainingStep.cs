using System.Diagnostics;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Training;

namespace ConvViz.Bench;

/// <summary>
/// `train-step [--backend B] [--batch N] [--repeats N]`: the cost of one SGD step of the default
/// Fashion-MNIST AlexNet (forward in training mode, cross-entropy, backward with parameter
/// gradients, momentum update) with each layer's forward and backward time, and images/s.
/// </summary>
public static class TrainingStep
{
    public static int Run(string[] args)
    {
        int batch = int.Parse(EndToEnd.Option(args, "--batch") ?? "64");
        int repeats = int.Parse(EndToEnd.Option(args, "--repeats") ?? "15");
        using var backend = EndToEnd.CreateBackend(args);
        using var network = FashionAlexNet.Create(backend, seed: 1);
        using var optimizer = new SgdMomentum(network.Parameters, 0.9f, 5e-4f);
        var random = new Random(1);
        var xs = new float[network.InputShape(batch).ElementCount];
        for (int i = 0; i < xs.Length; i++) xs[i] = (float)(random.NextDouble() * 2 - 1);
        var ys = Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        using var x = backend.Upload(xs, network.InputShape(batch));
        using var labels = backend.Upload(ys, new Shape(batch));
        int logits = network.IndexOf("fc8");

        var forward = new double[logits + 1][];
        var backward = new double[logits + 1][];
        for (int i = 0; i <= logits; i++) { forward[i] = new double[repeats]; backward[i] = new double[repeats]; }
        var steps = new double[repeats];
        for (int r = -5; r < repeats; r++)
        {
            var step = Stopwatch.StartNew();
            var outputs = new List<LayerOutput>();
            var input = x;
            for (int i = 0; i <= logits; i++)
            {
                var clock = Stopwatch.StartNew();
                var output = network.Layers[i].Forward(input, training: true);
                backend.Synchronize();
                if (r >= 0) forward[i][r] = clock.Elapsed.TotalMilliseconds;
                outputs.Add(output);
                input = output.Y;
            }
            using var probs = backend.Allocate(batch, 10);
            using var losses = backend.Allocate(batch);
            var dy = backend.Allocate(batch, 10);
            backend.SoftmaxCrossEntropy(input, labels, probs, losses, dy);
            for (int i = logits; i >= 0; i--)
            {
                var clock = Stopwatch.StartNew();
                var layerInput = i == 0 ? x : outputs[i - 1].Y;
                var dx = network.Layers[i].Backward(layerInput, outputs[i], dy, new BackwardOptions(ParameterGradients: true, InputGradient: i > 0));
                backend.Synchronize();
                if (r >= 0) backward[i][r] = clock.Elapsed.TotalMilliseconds;
                if (dx is null || !dx.SharesMemoryWith(dy)) dy.Dispose();
                if (dx is not null) dy = dx;
            }
            var update = Stopwatch.StartNew();
            optimizer.Step(0.001f);
            backend.Synchronize();
            foreach (var o in outputs) { o.Y.Dispose(); o.Saved?.Dispose(); }
            if (r >= 0) steps[r] = step.Elapsed.TotalMilliseconds;
        }
        double Median(double[] t) => t.Order().ElementAt(t.Length / 2);
        double stepMs = Median(steps);
        Console.WriteLine($"{FashionAlexNet.Name} SGD step, batch {batch}, on {backend.Description}; median of {repeats}");
        Console.WriteLine($"  step {stepMs:F1} ms = {batch * 1000 / stepMs:F0} images/s ({network.Summarize(1).Sum(s => s.MultiplyAccumulates) * 6.0 * batch / stepMs / 1e6:F1} GFLOP/s counting 3x the forward work)");
        for (int i = 0; i <= logits; i++)
            Console.WriteLine($"  {network.Layers[i].Name,-6} forward {Median(forward[i]),7:F2} ms   backward {Median(backward[i]),7:F2} ms");
        return 0;
    }
}
