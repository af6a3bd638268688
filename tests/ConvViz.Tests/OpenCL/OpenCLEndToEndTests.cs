using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.OpenCL;
using ConvViz.Tests.Parity;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.OpenCL;

/// <summary>
/// The OpenCL backend against the SIMD Cpu backend end to end: AlexNet forward at batch 2 and the
/// three backward rules to the input agree within 1e-4 relative, and ten SGD steps of the small
/// AlexNet-style network (every layer type, dropout on) end at the same parameters.
/// "Relative" is against each tensor's largest magnitude: both backends accumulate in float in
/// different orders, so elements near zero differ by rounding on the scale of the whole tensor.
/// </summary>
public sealed class OpenCLEndToEndTests : IDisposable
{
    private readonly OpenCLBackend opencl = new();
    private readonly CpuBackend cpu = new();

    public void Dispose()
    {
        opencl.Dispose();
        cpu.Dispose();
    }

    private static void AssertSame(float[] expected, float[] actual, double relative, string label, Shape shape)
    {
        double scale = Math.Max(1e-12, expected.Max(v => Math.Abs((double)v)));
        TensorAssert.Close(expected, actual, relative * scale, relative, label, shape);
    }

    private static float[] Input(Shape shape) => TestData.Uniform(shape.ElementCount, 21);

    [Fact]
    public void AlexNetForwardMatchesCpuAtEveryLayer()
    {
        using var onDevice = AlexNet.Create(opencl, seed: 3);
        using var onCpu = AlexNet.Create(cpu, seed: 3);
        var shape = onCpu.InputShape(2);
        using var deviceInput = opencl.Upload(Input(shape), shape);
        using var cpuInput = cpu.Upload(Input(shape), shape);
        using var devicePass = onDevice.Forward(deviceInput);
        using var cpuPass = onCpu.Forward(cpuInput);
        foreach (var layer in onCpu.Layers)
            AssertSame(cpu.Download(cpuPass.Output(layer.Name)), opencl.Download(devicePass.Output(layer.Name)), 1e-4,
                $"AlexNet {layer.Name}", cpuPass.Output(layer.Name).Shape);
    }

    [Theory]
    [InlineData(ReluRule.Gradient, "fc8")]
    [InlineData(ReluRule.Gradient, "conv5")]
    [InlineData(ReluRule.Deconvnet, "conv5")]
    [InlineData(ReluRule.Deconvnet, "fc8")]
    [InlineData(ReluRule.Guided, "conv5")]
    [InlineData(ReluRule.Guided, "fc8")]
    public void AlexNetBackwardToInputMatchesCpu(ReluRule rule, string from)
    {
        float[] Run(Backend backend)
        {
            using var network = AlexNet.Create(backend, seed: 4);
            var shape = network.InputShape(1);
            using var input = backend.Upload(Input(shape), shape);
            using var pass = network.Forward(input, upTo: from);
            using var seed = network.UnitSeed(pass, from, 11);
            using var dx = network.Backward(pass, from, seed, new BackwardOptions(rule))!;
            return backend.Download(dx);
        }
        var expected = Run(cpu);
        Assert.Contains(expected, v => v != 0f);
        AssertSame(expected, Run(opencl), 1e-4, $"AlexNet d {from}[11] / d input, {rule} rule", new Shape(expected.Length));
    }

    [Fact]
    public void TenSgdStepsEndAtTheSameParameters()
    {
        var (cpuParameters, cpuLosses) = TrainTenSteps(cpu);
        var (deviceParameters, deviceLosses) = TrainTenSteps(opencl);
        Assert.True(cpuLosses[^1] < cpuLosses[0], $"the loss should fall over ten steps: {string.Join(", ", cpuLosses)}");
        for (int step = 0; step < cpuLosses.Length; step++)
            Assert.True(Math.Abs(cpuLosses[step] - deviceLosses[step]) <= 1e-4 * Math.Abs(cpuLosses[step]),
                $"loss at step {step}: cpu {cpuLosses[step]}, opencl {deviceLosses[step]}");
        // Ten steps compound the per-step rounding differences; 1e-4 of each tensor's scale still
        // separates a wrong gradient (which moves parameters by about lr * |g|, far more) from rounding.
        foreach (var (name, expected) in cpuParameters)
            AssertSame(expected, deviceParameters[name], 1e-4, $"{name} after 10 SGD steps", new Shape(expected.Length));
    }

    /// <summary>Ten steps of plain SGD (lr 0.05) on a fixed batch of 4 with softmax cross-entropy,
    /// dropout drawing a new mask each step.</summary>
    /// <summary>
    /// The Trainer (seeded shuffling, augmentation, dropout, SGD with momentum and weight decay
    /// through the backend's element-wise ops) for one epoch of four batches of the default
    /// Fashion-MNIST architecture: the same epoch loss and the same parameters on both backends.
    /// Four momentum steps compound the rounding differences of every layer, hence 1e-3 relative.
    /// </summary>
    [Fact]
    public void TrainerEpochMatchesCpu()
    {
        var data = FashionMnist.Train.Take(128);
        var options = new ConvViz.Engine.Training.TrainingOptions { Epochs = 1, BatchSize = 32, Seed = 3 };
        (ConvViz.Engine.Training.EpochRecord, Dictionary<string, float[]>) Train(Backend backend)
        {
            using var network = FashionAlexNet.Create(backend, seed: 3);
            using var trainer = new ConvViz.Engine.Training.Trainer(network, FashionAlexNet.Preprocessing, 10, options);
            var record = trainer.RunEpoch(data);
            return (record, network.Parameters.ToDictionary(p => p.Name, p => backend.Download(p.Value)));
        }
        var (cpuRecord, cpuParameters) = Train(cpu);
        var (deviceRecord, deviceParameters) = Train(opencl);
        Assert.Equal(cpuRecord.Loss, deviceRecord.Loss, 1e-3 * cpuRecord.Loss);
        foreach (var (name, expected) in cpuParameters)
            AssertSame(expected, deviceParameters[name], 1e-3, $"{name} after one epoch", new Shape(expected.Length));
    }

    private static (Dictionary<string, float[]> Parameters, float[] Losses) TrainTenSteps(Backend backend)
    {
        using var network = SmallNetworks.AlexNetStyle(backend, seed: 13, classes: 5);
        var shape = network.InputShape(4);
        using var input = backend.Upload(Input(shape), shape);
        using var labels = backend.Upload(new[] { 1, 4, 0, 2 }, new Shape(4));
        var losses = new float[10];
        for (int step = 0; step < 10; step++)
        {
            using var pass = network.Forward(input, training: true);
            using var probs = backend.Allocate(pass.Last.Shape);
            using var sampleLosses = backend.Allocate(4);
            using var dlogits = backend.Allocate(pass.Last.Shape);
            backend.SoftmaxCrossEntropy(pass.Last, labels, probs, sampleLosses, dlogits);
            network.Backward(pass, network.Layers[^1].Name, dlogits, new BackwardOptions(ParameterGradients: true, InputGradient: false));
            foreach (var p in network.Parameters) backend.Axpy(-0.05f, p.Gradient!, p.Value);
            losses[step] = backend.Download(sampleLosses).Average();
        }
        return (network.Parameters.ToDictionary(p => p.Name, p => backend.Download(p.Value)), losses);
    }
}
