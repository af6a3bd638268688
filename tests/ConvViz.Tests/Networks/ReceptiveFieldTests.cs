using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Networks;

/// <summary>Receptive-field arithmetic against AlexNet's published sizes, and the clipping used to crop patches.</summary>
public sealed class ReceptiveFieldTests
{
    [Theory]
    [InlineData("conv1", 11, 4, 0)]
    [InlineData("relu1", 11, 4, 0)]
    [InlineData("pool1", 19, 8, 0)]
    [InlineData("conv2", 51, 8, -16)]
    [InlineData("pool2", 67, 16, -16)]
    [InlineData("conv3", 99, 16, -32)]
    [InlineData("conv4", 131, 16, -48)]
    [InlineData("conv5", 163, 16, -64)]
    [InlineData("pool5", 195, 32, -64)]
    public void AlexNet_MatchesThePublishedSizes(string layer, int size, int stride, int first)
    {
        using var backend = new CpuBackend();
        using var network = AlexNet.Create(backend, seed: 1);
        var field = ReceptiveFields.Of(network, layer);
        Assert.True(field.Spatial);
        Assert.Equal(new AxisField(size, stride, first), field.Vertical);
        Assert.Equal(field.Vertical, field.Horizontal);
    }

    [Fact]
    public void FullyConnectedUnits_SeeTheWholeInput()
    {
        using var backend = new CpuBackend();
        using var network = AlexNet.Create(backend, seed: 1);
        var fields = ReceptiveFields.Of(network);
        Assert.Equal(network.Layers.Count, fields.Count);
        var fc7 = ReceptiveFields.Of(network, "fc7");
        Assert.False(fc7.Spatial);
        Assert.Equal(new AxisField(227, 1, 0), fc7.Vertical);
    }

    [Fact]
    public void ClippedField_StaysInsideTheImage()
    {
        var field = new AxisField(51, 8, -16);
        Assert.Equal((0, 35), field.Clipped(0, 227));
        Assert.Equal((8 * 3 - 16, 51), field.Clipped(3, 227));
        Assert.Equal((200, 27), field.Clipped(27, 227));
        Assert.Equal(9.0, field.Center(0));
    }

    [Fact]
    public void DefaultModel_FieldsGrowThroughItsLayers()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        var fields = ReceptiveFields.Of(bundle.Network).Where(f => f.Spatial).ToArray();
        Assert.Equal(5, ReceptiveFields.Of(bundle.Network, "conv1").Vertical.Size);
        Assert.Equal(19, ReceptiveFields.Of(bundle.Network, "pool2").Vertical.Size);
        for (int i = 1; i < fields.Length; i++) Assert.True(fields[i].Vertical.Size >= fields[i - 1].Vertical.Size);
    }
}
