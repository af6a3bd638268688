using System.Diagnostics;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;

namespace ConvViz.Bench;

/// <summary>
/// `optimize [--backend B] [--iterations 1000] [--units 8] [--batch-iterations 100]`: regularized
/// activation maximization on conv5 of the 227x227 AlexNet (random weights: the cost does not depend
/// on them) with Table 1's preset 3 (raw-pixel input, so the paper's rates unchanged). Times one
/// full run of unit 0, then --units units as 8 single runs against one batch, per unit and step.
/// </summary>
public static class OptimizeBench
{
    public static int Run(string[] args)
    {
        int iterations = int.Parse(EndToEnd.Option(args, "--iterations") ?? "1000");
        int units = int.Parse(EndToEnd.Option(args, "--units") ?? "8");
        int batchIterations = int.Parse(EndToEnd.Option(args, "--batch-iterations") ?? "100");
        using var backend = EndToEnd.CreateBackend(args);
        using var network = AlexNet.Create(backend, seed: 1);
        var p = new Preprocessing(3, 227, 227, ChannelOrder.Bgr, 1f, [104f, 117f, 123f], [1f, 1f, 1f]);
        var preset3 = OptimizationOptions.Preset(3).AdaptedTo(p);
        Console.WriteLine($"optimize: AlexNet 227x227 conv5, preset 3, backend {backend.Description}");

        // Warm up the kernels and the JIT.
        ActivationMaximization.Run(network, p, new Target("conv5", 0), preset3 with { Iterations = 5 });

        var clock = Stopwatch.StartNew();
        var single = ActivationMaximization.Run(network, p, new Target("conv5", 0), preset3 with { Iterations = iterations });
        double seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  one unit, {iterations} iterations: {seconds:F1} s ({1000 * seconds / iterations:F1} ms/iteration), best objective {single.BestObjective:G4}");

        var targets = Enumerable.Range(0, units).Select(k => new Target("conv5", k)).ToArray();
        var shortRun = preset3 with { Iterations = batchIterations };
        clock.Restart();
        foreach (var target in targets) ActivationMaximization.Run(network, p, target, shortRun);
        double singles = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        ActivationMaximization.RunBatch(network, p, targets, shortRun);
        double batched = clock.Elapsed.TotalMilliseconds;
        Console.WriteLine($"  {units} units x {batchIterations} iterations: {units} single runs {singles / 1000:F1} s = {singles / units / batchIterations:F1} ms per unit-iteration; " +
                          $"one batch {batched / 1000:F1} s = {batched / units / batchIterations:F1} ms per unit-iteration ({singles / batched:F2}x)");
        return 0;
    }
}
