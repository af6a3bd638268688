using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Tests.Parity;

namespace ConvViz.Tests.Networks;

/// <summary>The layers the visualizations pick by role: the default layer of Grad-CAM, top-k and the report.</summary>
public sealed class LayerRoleTests
{
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
