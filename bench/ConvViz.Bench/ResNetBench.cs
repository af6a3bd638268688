using System.Diagnostics;
using System.Security.Cryptography;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Onnx.Protos;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Tensor = ConvViz.Engine.Tensors.Tensor;

namespace ConvViz.Bench;

/// <summary>
/// ResNet-18 and ResNet-50 forward, ConvViz's Cpu backend against ONNX Runtime (CPU execution
/// provider, as many intra-op threads as ConvViz uses, graph optimizations at their default), at
/// batch 1 and 8. Both run in this process, interleaved (ConvViz, ORT, ConvViz, ORT, ...) after a
/// warm-up, so a noisy neighbour slows both alike; each config prints the median, quartiles and
/// min/max of each and the ratio of the medians. Before timing, each config checks that both give
/// the same output. Then, per net at batch 1 and 8, where ConvViz's time goes: each layer timed on
/// its own (median over the repeats), summed by layer type, with the network's finite-output check
/// (Backend.AllFinite on each layer's output right after the layer) as its own line.
///
/// ResNet-18 is the CNTK ImageNet file of NuGet's Microsoft.ML.DnnImageFeaturizer.ResNet18 (every
/// BatchNormalization folded into its conv by the importer). Its input is fixed at batch 1; for
/// batch 8 the copy given to ONNX Runtime has the batch dimension of its input and output made
/// symbolic (no node in it depends on the batch). ResNet-50 is torchvision's, with seeded random
/// weights, exported by export_resnet50.py (Debian's python3-torch) on first use into
/// $XDG_CACHE_HOME/convviz/bench (else ~/.cache/convviz/bench).
/// </summary>
public static class ResNetBench
{
    /// <summary>Largest |ConvViz − ORT| over the largest |ORT| accepted before timing: both sum in
    /// float32 in different orders, which over 50 layers stays well below this; a wrong layer does not.</summary>
    private const double OutputTolerance = 1e-3;

    public static int Run(string[] args)
    {
        int repeats = int.Parse(EndToEnd.Option(args, "--repeats") ?? "21");
        string nets = EndToEnd.Option(args, "--nets") ?? "resnet18,resnet50";
        int[] batches = (EndToEnd.Option(args, "--batches") ?? "1,8").Split(',').Select(int.Parse).ToArray();
        int? threads = EndToEnd.Option(args, "--threads") is { } t ? int.Parse(t) : null;
        bool layers = !args.Contains("--no-layers");

        using var backend = new CpuBackend(threads);
        Console.WriteLine($"ResNet forward, ConvViz {backend.Description} vs ONNX Runtime (CPU EP, {backend.Threads} intra-op thread(s), default graph optimizations)");
        Console.WriteLine($"CPU: {CpuModel()}, {Environment.ProcessorCount} logical processors; {repeats} interleaved runs per config after warm-up; times in ms");
        foreach (string net in nets.Split(','))
        {
            string path = net switch
            {
                "resnet18" => Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18.onnx"),
                "resnet50" => ResNet50Path(),
                _ => throw new ArgumentException($"unknown net '{net}'; expected resnet18 or resnet50"),
            };
            var imported = OnnxImporter.Load(path, backend);
            using var network = imported.Network;
            using var ort = CreateSession(path, backend.Threads);
            foreach (int batch in batches)
            {
                Compare($"{net} batch {batch}", network, backend, ort, imported.InputName, batch, repeats);
                if (layers) WhereTheTimeGoes(network, backend, batch, repeats);
            }
        }
        return 0;
    }

    private static void Compare(string label, Network network, Backend backend, InferenceSession ort, string inputName, int batch, int repeats)
    {
        var shape = network.InputShape(batch);
        float[] data = RandomValues(shape.ElementCount, seed: batch);
        using var input = backend.Upload(data, shape);
        using var ortInput = OrtValue.CreateTensorValueFromMemory(data, shape.ToArray().Select(d => (long)d).ToArray());
        string outputName = ort.OutputMetadata.Keys.Single();
        using var runOptions = new RunOptions();

        float[] RunConvViz()
        {
            using var pass = network.Forward(input);
            return backend.Download(pass.Last);
        }
        float[] RunOrt()
        {
            using var results = ort.Run(runOptions, [inputName], [ortInput], [outputName]);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }

        float[] ours = RunConvViz(), theirs = RunOrt();
        double scale = theirs.Max(MathF.Abs), error = ours.Zip(theirs, (a, b) => (double)MathF.Abs(a - b)).Max() / scale;
        if (ours.Length != theirs.Length || !(error <= OutputTolerance))
            throw new InvalidOperationException($"{label}: ConvViz and ONNX Runtime disagree (max error {error:G3} of the largest output {scale:G3}); not timing");

        // Warm-up until tiered JIT has promoted the hot methods (30 calls, then a background
        // recompile) and ORT's arena has its blocks: 10 rounds of each, and at least 3 seconds.
        var warmup = Stopwatch.StartNew();
        for (int i = 0; i < 10 || warmup.Elapsed.TotalSeconds < 3; i++)
        {
            RunConvViz();
            RunOrt();
        }
        var convViz = new double[repeats];
        var onnxRuntime = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            convViz[r] = Time(() => RunConvViz());
            onnxRuntime[r] = Time(() => RunOrt());
        }
        var a = Statistics.Of(convViz);
        var b = Statistics.Of(onnxRuntime);
        Console.WriteLine($"{label,-17} ConvViz {a}   ORT {b}   ConvViz/ORT {a.Median / b.Median:F2}   (output error {error:G2})");
    }

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Each layer timed alone (median over repeats), summed by type, plus the finite check.</summary>
    private static void WhereTheTimeGoes(Network network, Backend backend, int batch, int repeats)
    {
        var shape = network.InputShape(batch);
        using var input = backend.Upload(RandomValues(shape.ElementCount, seed: batch), shape);
        int count = network.Layers.Count;
        var times = new double[count][];
        for (int i = 0; i < count; i++) times[i] = new double[repeats];
        var finiteCheck = new double[repeats];
        for (int r = -5; r < repeats; r++)
        {
            var outputs = new LayerOutput[count];
            Tensor InputOf(int j) => j == Network.Input ? input : outputs[j].Y;
            for (int i = 0; i < count; i++)
            {
                var clock = Stopwatch.StartNew();
                var layer = network.Layers[i];
                outputs[i] = layer is JoinLayer join
                    ? join.Forward(network.InputsOf(i).Select(InputOf).ToArray(), training: false)
                    : layer.Forward(InputOf(network.InputsOf(i)[0]), training: false);
                if (r >= 0) times[i][r] = clock.Elapsed.TotalMilliseconds;
                // As Network.Forward does it: each output checked right after its layer.
                var check = Stopwatch.StartNew();
                bool finite = backend.AllFinite(outputs[i].Y);
                if (r >= 0) finiteCheck[r] += check.Elapsed.TotalMilliseconds;
                if (!finite) throw new InvalidOperationException($"layer '{layer.Name}' output is not finite");
            }
            foreach (var o in outputs)
            {
                o.Y.Dispose();
                o.Saved?.Dispose();
            }
        }

        var summary = network.Summarize(batch);
        var rows = Enumerable.Range(0, count)
            .GroupBy(i => Kind(network.Layers[i]))
            .Select(g => (Kind: g.Key, Layers: g.Count(), Ms: g.Sum(i => Statistics.MedianOf(times[i])), Macs: g.Sum(i => summary[i].MultiplyAccumulates)))
            .OrderByDescending(row => row.Ms)
            .ToList();
        double total = rows.Sum(row => row.Ms) + Statistics.MedianOf(finiteCheck);
        Console.WriteLine($"  where ConvViz's time goes at batch {batch} (each layer alone, medians; sum {total:F1} ms):");
        foreach (var row in rows)
            Console.WriteLine($"    {row.Kind,-24} {row.Layers,3} layers {row.Ms,8:F2} ms {100 * row.Ms / total,5:F1}%" +
                              (row.Macs > 0 ? $"  {2e-6 * row.Macs / row.Ms,6:F1} GFLOP/s" : ""));
        Console.WriteLine($"    {"finite check (AllFinite)",-24} {count,3} tensors {Statistics.MedianOf(finiteCheck),7:F2} ms {100 * Statistics.MedianOf(finiteCheck) / total,5:F1}%");
    }

    /// <summary>The layer-type bucket of a layer: convs by kernel and stride, a standalone
    /// BatchNormalization (a depthwise 1x1 conv; folded ones cost nothing), and the rest by op.</summary>
    private static string Kind(Layer layer) => layer switch
    {
        Conv2dLayer conv when conv.Geometry.Groups > 1 && conv.Geometry.Groups == conv.OutputChannels && conv.Weight.Value.Shape[2] == 1
            => "batchnorm (standalone)",
        Conv2dLayer conv => $"conv {conv.Weight.Value.Shape[2]}x{conv.Weight.Value.Shape[3]} stride {conv.Geometry.StrideH}",
        _ => layer.OpType.ToLowerInvariant(),
    };

    /// <summary>ONNX Runtime's session on the file; a fixed batch of 1 on the input (and output) is made
    /// symbolic in memory so that the same session also runs batch 8.</summary>
    private static InferenceSession CreateSession(string path, int threads)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        foreach (var value in model.Graph.Input.Concat(model.Graph.Output))
        {
            var dims = value.Type?.TensorType?.Shape?.Dim;
            if (dims is { Count: > 0 } && dims[0].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && dims[0].DimValue == 1)
                dims[0] = new TensorShapeProto.Types.Dimension { DimParam = "batch" };
        }
        model.Graph.ValueInfo.Clear();
        var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
        // ORT's intra-op workers otherwise spin-wait after each run, and with runs interleaved they
        // spin through ConvViz's next run, holding a core its second thread needs (measured: with
        // spinning, ConvViz's two-thread ResNet-18 took about as long as its one-thread run).
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        return new InferenceSession(model.ToByteArray(), options);
    }

    /// <summary>The cached ResNet-50 export, made by export_resnet50.py on first use. The file name carries
    /// the script's hash, so an edited script exports anew; the export goes to a temporary name and is
    /// moved into place only when complete.</summary>
    private static string ResNet50Path()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "export_resnet50.py");
        string hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(script)))[..12].ToLowerInvariant();
        string xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? "";
        string root = Path.IsPathRooted(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        string folder = Path.Combine(root, "convviz", "bench");
        string path = Path.Combine(folder, $"resnet50-{hash}.onnx");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(folder);
        string temporary = Path.Combine(folder, $".resnet50-{hash}.{Environment.ProcessId}.onnx");
        Console.WriteLine($"exporting torchvision ResNet-50 to {path} (once)");
        try
        {
            using var python = Process.Start(new ProcessStartInfo("/usr/bin/python3", [script, temporary]) { UseShellExecute = false })
                ?? throw new InvalidOperationException("could not start /usr/bin/python3");
            python.WaitForExit();
            if (python.ExitCode != 0)
                throw new InvalidOperationException($"export_resnet50.py exited with {python.ExitCode}; it needs Debian's python3-torch, python3-torchvision and python3-onnx");
            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
        return path;
    }

    private static float[] RandomValues(int count, int seed)
    {
        var random = new Random(seed);
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
        return data;
    }

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>Median, quartiles and extremes of a set of timings.</summary>
    private readonly record struct Statistics(double Median, double Q1, double Q3, double Min, double Max)
    {
        public static Statistics Of(double[] values)
        {
            var sorted = values.Order().ToArray();
            return new Statistics(Quantile(sorted, 0.5), Quantile(sorted, 0.25), Quantile(sorted, 0.75), sorted[0], sorted[^1]);
        }

        public static double MedianOf(double[] values) => Quantile(values.Order().ToArray(), 0.5);

        private static double Quantile(double[] sorted, double q)
        {
            double position = q * (sorted.Length - 1);
            int low = (int)position;
            return low + 1 < sorted.Length ? sorted[low] + (position - low) * (sorted[low + 1] - sorted[low]) : sorted[low];
        }

        public override string ToString() => $"{Median,7:F1} [IQR {Q1:F1}-{Q3:F1}, {Min:F1}..{Max:F1}]";
    }
}
