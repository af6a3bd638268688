using System.Diagnostics;
using ConvViz.Engine.Data;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Models;

namespace ConvViz.Bench;

/// <summary>
/// `topk [--backend B] [--images 10000] [--k 9] [--batch 100]`: the default model's top-k pass over
/// Debian's Fashion-MNIST test images for every unit of conv5 and fc7, then the deconvnet projection
/// of every kept entry (the two engine stages of `convviz topk`; the command adds the PNGs).
/// </summary>
public static class TopKBench
{
    public static int Run(string[] args)
    {
        int count = int.Parse(EndToEnd.Option(args, "--images") ?? "10000");
        int k = int.Parse(EndToEnd.Option(args, "--k") ?? "9");
        int batch = int.Parse(EndToEnd.Option(args, "--batch") ?? "100");
        using var backend = EndToEnd.CreateBackend(args);
        string weights = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "weights", "fashion-alexnet");
        using var bundle = ModelBundle.Load(weights, backend);
        var data = LabeledImages.LoadSplit("/usr/share/datasets/fashion-mnist", LabeledImages.TestSplit).Take(count);
        var state = new TopKState { Model = "fashion-alexnet", Data = data.Source, Images = data.Count, K = k, Layers = ["conv5", "fc7"] };
        Console.WriteLine($"topk: default model, {data.Count} images, k {k}, conv5 + fc7, batch {batch}, backend {backend.Description}");

        var clock = Stopwatch.StartNew();
        var units = TopKMining.Run(bundle.Network, bundle.Preprocessing, data, state, batch);
        double pass = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  pass: {pass:F1} s ({data.Count / pass:F0} images/s)");
        clock.Restart();
        int projected = 0;
        foreach (var layer in units)
        {
            var items = Enumerable.Range(0, layer.Channels).SelectMany(c => layer.Of(c).Select(e => (c, e))).ToArray();
            TopKProjections.Compute(bundle.Network, bundle.Preprocessing, data, layer.Layer, items, batch);
            projected += items.Length;
        }
        double projections = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"  deconvnet projections: {projected} in {projections:F1} s ({projected / projections:F0}/s)");
        Console.WriteLine($"  total: {pass + projections:F1} s");
        return 0;
    }
}
