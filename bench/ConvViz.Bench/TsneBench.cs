using System.Diagnostics;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Embedding;
using ConvViz.Engine.Models;

namespace ConvViz.Bench;

/// <summary>
/// `tsne [--n 5000] [--method auto|exact|barnes-hut] [--threads N] [--data DIR]`: the time of
/// `convviz tsne`'s stages on the default model's fc7 codes of the first N Fashion-MNIST test
/// images (Debian's dataset-fashion-mnist): code extraction, PCA to 50, the affinities and the
/// 1000 iterations, with the final KL. The target: t-SNE of 5,000 points under 60 s on 2 cores.
/// </summary>
public static class TsneBench
{
    public static int Run(string[] args)
    {
        int n = int.Parse(EndToEnd.Option(args, "--n") ?? "5000");
        string? threadsText = EndToEnd.Option(args, "--threads");
        int? threads = threadsText is null ? null : int.Parse(threadsText);
        string data = EndToEnd.Option(args, "--data") ?? "/usr/share/datasets/fashion-mnist";
        var method = (EndToEnd.Option(args, "--method") ?? "auto") switch
        {
            "auto" => TsneMethod.Auto,
            "exact" => TsneMethod.Exact,
            "barnes-hut" => TsneMethod.BarnesHut,
            var other => throw new ArgumentException($"unknown method '{other}'; expected auto, exact or barnes-hut"),
        };
        using var backend = new CpuBackend(threads);
        using var bundle = ModelBundle.Load(BundleFolder(), backend);
        var images = LabeledImages.LoadSplit(data, LabeledImages.TestSplit).Take(n);

        var clock = Stopwatch.StartNew();
        var codes = LayerCodes.Extract(bundle.Network, bundle.Preprocessing, images, "fc7");
        double codesSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var pca = Pca.Fit(codes.Values, codes.Count, codes.Dimensions, 50);
        var points = pca.Project(codes.Values, codes.Count);
        double pcaSeconds = clock.Elapsed.TotalSeconds;
        var result = Tsne.Run(points, images.Count, pca.ComponentCount, new TsneOptions { Method = method, Threads = threads });

        Console.WriteLine($"t-SNE of {FashionAlexNet.Name} fc7 codes, {images.Count:N0} Fashion-MNIST test images, {result.Method}, {threads?.ToString() ?? "all"} threads ({Environment.ProcessorCount} cores)");
        Console.WriteLine($"  codes {codesSeconds:F2} s   PCA 512 -> {pca.ComponentCount} {pcaSeconds:F2} s");
        Console.WriteLine($"  t-SNE {result.AffinitySeconds + result.OptimizationSeconds:F2} s (affinities {result.AffinitySeconds:F2} s, 1000 iterations {result.OptimizationSeconds:F2} s); final KL {result.KlCurve[^1].Kl:F4}");
        Console.WriteLine($"  10-NN label agreement in the map {NeighbourLabelAgreement(result.Coordinates, images.Labels, 10):P2}");
        return 0;
    }

    private static double NeighbourLabelAgreement(double[] map, ReadOnlySpan<byte> labels, int k)
    {
        var (nearest, _) = NearestNeighbours.Find(map, labels.Length, 2, k);
        int agree = 0;
        for (int i = 0; i < labels.Length; i++)
            for (int m = 0; m < k; m++)
                if (labels[nearest[i * k + m]] == labels[i]) agree++;
        return (double)agree / (labels.Length * k);
    }

    /// <summary>weights/fashion-alexnet of the repository the bench runs in.</summary>
    private static string BundleFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ConvVizGpu.sln"))) return Path.Combine(dir.FullName, "weights", FashionAlexNet.Name);
        throw new DirectoryNotFoundException($"no ConvVizGpu.sln above {AppContext.BaseDirectory}");
    }
}
