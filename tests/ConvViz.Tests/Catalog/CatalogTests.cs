using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Backends.Reference;

namespace ConvViz.Tests.Catalog;

/// <summary>The catalog of built-in models and backends a program opens by name, and the parameter names in its refusals.</summary>
public sealed class CatalogTests
{
    [Fact]
    public void Backends_AreCreatedByName_AndRefusalsNameTheParameter()
    {
        Assert.Equal(["cpu", "reference", "opencl"], BackendCatalog.All.Select(b => b.Name));
        using (var cpu = BackendCatalog.Create("CPU", threads: 2)) Assert.IsType<CpuBackend>(cpu);
        using (var reference = BackendCatalog.Create("reference")) Assert.IsType<ReferenceBackend>(reference);

        var device = Assert.ThrowsAny<ArgumentException>(() => BackendCatalog.Create("cpu", device: 1));
        Assert.Equal("Device", device.ParamName);
        Assert.StartsWith("Device 1 applies to the opencl backend only", device.Message);
        var threads = Assert.ThrowsAny<ArgumentException>(() => BackendCatalog.Create("reference", threads: 2));
        Assert.Equal("Threads", threads.ParamName);
        Assert.Equal("Threads", Assert.ThrowsAny<ArgumentException>(() => BackendCatalog.Create("cpu", threads: 0)).ParamName);
        Assert.StartsWith("unknown backend 'gpu'; expected one of: cpu, reference, opencl", Assert.Throws<ArgumentException>(() => BackendCatalog.Create("gpu")).Message);
    }

    [Fact]
    public void Models_OpenByName_WithTheirSummaries()
    {
        Assert.Equal(["fashion-alexnet", "resnet18-imagenet", "alexnet"], ModelCatalog.All.Select(m => m.Name));
        Assert.All(ModelCatalog.All, m => Assert.False(string.IsNullOrWhiteSpace(m.Summary)));
        using var backend = new CpuBackend();
        using var bundle = ModelCatalog.Open("Fashion-AlexNet", backend);
        Assert.Equal(ModelCatalog.Default, bundle.Source);
        Assert.Equal(10, bundle.Classes.Count);
        Assert.StartsWith("AlexNet-style network trained on Fashion-MNIST", ModelCatalog.Describe(bundle));
        Assert.StartsWith("unknown model 'vgg99'", Assert.Throws<ArgumentException>(() => ModelCatalog.Open("vgg99", backend)).Message);
        var seed = Assert.Throws<ArgumentException>(() => ModelCatalog.RefuseWeightSeed("/some/model.onnx", 3));
        Assert.Equal("Seed", seed.ParamName);
        ModelCatalog.RefuseWeightSeed("alexnet", 3);
    }
}
