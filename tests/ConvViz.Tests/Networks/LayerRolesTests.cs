using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Reference;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Networks;

/// <summary>The layer a visualization picks by role: a ReLU or a Clip (ReLU6) reading a conv holds
/// its rectified maps; a conv nothing rectifies stands for itself.</summary>
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
        Assert.Equal("relu6_4", LayerRoles.LastRectifiedConvolution(network));
    }
}
