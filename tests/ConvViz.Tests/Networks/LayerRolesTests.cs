using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Backends.Reference;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Parity;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Networks;

/// <summary>The layer a visualization picks by role: a ReLU or a Clip (ReLU6) reading a conv holds
/// its rectified maps; a conv nothing rectifies stands for itself; the default layer of Grad-CAM,
/// top-k and the report is the last spatial rectifier.</summary>
public sealed class LayerRolesTests
{
    [Fact]
    public void ReluAndClipAfterAConvAreItsRectifiedMaps()
    {
        using var backend = new ReferenceBackend();
        Conv2dLayer Conv(string name, int seed) =>
            new(name, backend.Upload(TestData.Uniform(4 * 4 * 9, seed), Shape.Nchw(4, 4, 3, 3)), null, Conv2dGeometry.Square(3, pad: 1));
        using var network = new Network(new Shape(4, 6, 6),
        [
            Conv("conv1", 1), new ClipLayer("relu6_1", ClipBounds.Relu6),
            Conv("conv2", 2), new ReluLayer("relu2"),
            Conv("conv3", 3),
            Conv("conv4", 4), new ClipLayer("relu6_4", ClipBounds.Relu6),
        ]);
        Assert.Equal(["relu6_1", "relu2", "conv3", "relu6_4"], LayerRoles.RectifiedConvolutions(network));
        Assert.Equal("relu6_4", LayerRoles.LastSpatialRectifier(network));
    }

    [Fact]
    public void LastSpatialRectifier_IsRelu5InAlexNet()
    {
        using var backend = new CpuBackend();
        using var network = AlexNet.Create(backend, seed: 1);
        Assert.Equal("relu5", LayerRoles.LastSpatialRectifier(network));
    }

    /// <summary>In a residual graph the last conv feeds the Add (or a Concat); the last rectified maps are the ReLU after the join.</summary>
    [Fact]
    public void LastSpatialRectifier_IsTheReluAfterTheLastJoin()
    {
        using var backend = new CpuBackend();
        using var network = SmallNetworks.ResidualConcat(backend, seed: 1, classes: 3);
        Assert.Equal("conv3", LayerRoles.RectifiedConvolutions(network)[^1]);
        Assert.Equal("relu2", LayerRoles.LastSpatialRectifier(network));
    }
}
