using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using ConvViz.Engine.Backends.Cpu;

namespace ConvViz.Bench;

/// Sgemm.Multiply on AlexNet's GEMM shapes: convolutions as im2col products
/// (C[outChannels x outPixels] = W[outChannels x inChannels*kh*kw] * cols) and fully connected
/// layers against their N x K weight matrix (transB). The GFLOP/s column is 2*M*N*K / mean time.
[Config(typeof(GflopsConfig))]
public unsafe class SgemmBenchmarks : IFlopCounter
{
    private float* a;
    private float* b;
    private float* c;

    public static IEnumerable<GemmShape> Shapes() =>
    [
        new("conv1", 96, 3025, 363, TransB: false),
        new("conv2g", 128, 729, 1200, TransB: false), // one of conv2's two groups
        new("conv3", 384, 169, 2304, TransB: false),
        new("fc6b1", 1, 4096, 9216, TransB: true), // batch 1
        new("fc6b8", 8, 4096, 9216, TransB: true), // batch 8
    ];

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        a = Allocate((long)Shape.M * Shape.K);
        b = Allocate((long)Shape.K * Shape.N);
        c = Allocate((long)Shape.M * Shape.N);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(a);
        NativeMemory.AlignedFree(b);
        NativeMemory.AlignedFree(c);
    }

    public double Flops(string method) => Shape.Flops;

    [Benchmark]
    public void Multiply() => Sgemm.Multiply(false, Shape.TransB, Shape.M, Shape.N, Shape.K, 1f,
        a, Shape.K, b, Shape.TransB ? Shape.K : Shape.N, 0f, c, Shape.N, Threads);

    private static float* Allocate(long count)
    {
        float* data = (float*)NativeMemory.AlignedAlloc((nuint)count * sizeof(float), 64);
        var random = new Random(42);
        for (long i = 0; i < count; i++)
        {
            data[i] = (float)random.NextDouble() - 0.5f;
        }

        return data;
    }

    /// op(A) is M x K (row-major A), op(B) is K x N: row-major B, or the N x K matrix B when TransB.
    /// Displayed as "name MxNxK", short enough that the summary table does not truncate it.
    public sealed record GemmShape(string Name, int M, int N, int K, bool TransB)
    {
        public double Flops => 2.0 * M * N * K;

        public override string ToString() => $"{Name} {M}x{N}x{K}";
    }
}
