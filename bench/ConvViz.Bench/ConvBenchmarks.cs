using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Tensors;

namespace ConvViz.Bench;

/// <summary>
/// Conv forward and backward-data on the CPU backend at AlexNet's five conv shapes, batch 1 and 8.
/// The GFLOP/s column is 2 · MACs / mean time.
/// </summary>
[Config(typeof(GflopsConfig))]
[MemoryDiagnoser]
public class ConvBenchmarks : IFlopCounter
{
    public enum Layer { Conv1, Conv2, Conv3, Conv4, Conv5 }

    [Params(Layer.Conv1, Layer.Conv2, Layer.Conv3, Layer.Conv4, Layer.Conv5)]
    public Layer Shape { get; set; }

    [Params(1, 8)]
    public int Batch { get; set; }

    private Backend backend = null!;
    private Tensor x = null!, w = null!, bias = null!, y = null!;
    private Conv2dGeometry geometry = null!;

    public static (int C, int H, int K, int Kernel, int Stride, int Pad, int Groups) Spec(Layer layer) => layer switch
    {
        Layer.Conv1 => (3, 227, 96, 11, 4, 0, 1),
        Layer.Conv2 => (96, 27, 256, 5, 1, 2, 2),
        Layer.Conv3 => (256, 13, 384, 3, 1, 1, 1),
        Layer.Conv4 => (384, 13, 384, 3, 1, 1, 2),
        _ => (384, 13, 256, 3, 1, 1, 2),
    };

    [GlobalSetup]
    public void Setup()
    {
        var s = Spec(Shape);
        backend = new CpuBackend();
        geometry = Conv2dGeometry.Square(s.Kernel, s.Stride, s.Pad, s.Groups);
        var xs = ConvViz.Engine.Tensors.Shape.Nchw(Batch, s.C, s.H, s.H);
        var ws = new Shape(s.K, s.C / s.Groups, s.Kernel, s.Kernel);
        var random = new Random(42);
        float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        x = backend.Upload(Random(xs.ElementCount), xs);
        w = backend.Upload(Random(ws.ElementCount), ws);
        bias = backend.Upload(Random(s.K), new Shape(s.K));
        y = backend.Allocate(Backend.ConvOutputShape(xs, ws, geometry));
    }

    [GlobalCleanup]
    public void Cleanup() => backend.Dispose();

    [Benchmark]
    public void Forward() => backend.Conv2dForward(x, w, bias, y, geometry);

    [Benchmark]
    public void BackwardData() => backend.Conv2dBackwardData(y, w, x, geometry);

    public double Flops(string method)
    {
        var s = Spec(Shape);
        int outSize = (s.H + 2 * s.Pad - s.Kernel) / s.Stride + 1;
        return 2.0 * Batch * s.K * outSize * outSize * (s.C / s.Groups) * s.Kernel * s.Kernel;
    }
}
