using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;
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

    /// <summary>
    /// A Pad shifts the field like a conv's pad: Pad(top 2, left 1) then a 3x3 stride-2 conv sees
    /// input rows -2.. and columns -1.. from unit 0, the same field as the conv with those pads
    /// itself, and a crop (negative pad) shifts it the other way. The backward of one unit reaches
    /// exactly the clipped field.
    /// </summary>
    [Fact]
    public void Pad_ShiftsTheFieldLikeAConvPad()
    {
        using var backend = new CpuBackend();
        Network Padded(PadGeometry pad) => new(new Shape(1, 9, 9),
        [
            new PadLayer("pad", pad),
            new Conv2dLayer("conv", backend.Upload(TestData.Uniform(9, 1), Shape.Nchw(1, 1, 3, 3)), null, Conv2dGeometry.Square(3, stride: 2)),
        ]);
        using var padded = Padded(new PadGeometry(2, 1, 0, 0, PadMode.Edge));
        var field = ReceptiveFields.Of(padded, "conv");
        Assert.Equal(new AxisField(3, 2, -2), field.Vertical);
        Assert.Equal(new AxisField(3, 2, -1), field.Horizontal);
        using var convPadded = new Network(new Shape(1, 9, 9),
            [new Conv2dLayer("conv", backend.Upload(TestData.Uniform(9, 1), Shape.Nchw(1, 1, 3, 3)), null, new Conv2dGeometry(3, 3, 2, 2, PadTop: 2, PadLeft: 1))]);
        Assert.Equal(ReceptiveFields.Of(convPadded, "conv") with { Layer = "conv" }, field);
        using var cropped = Padded(new PadGeometry(-1, 0, 0, 0));
        Assert.Equal(new AxisField(3, 2, 1), ReceptiveFields.Of(cropped, "conv").Vertical);

        // Unit (0, 1, 1) of the conv: rows [0, 3) and columns [1, 4) of the input, as Clipped says.
        var (rows, columns) = (field.Vertical.Clipped(1, 9), field.Horizontal.Clipped(1, 9));
        Assert.Equal((0, 3), rows);
        Assert.Equal((1, 3), columns);
        using var x = backend.Upload(TestData.Uniform(81, 2), Shape.Nchw(1, 1, 9, 9));
        using var pass = padded.Forward(x);
        using var seed = padded.UnitSeed(pass, "conv", 0, 1, 1);
        using var dx = padded.Backward(pass, "conv", seed)!;
        var g = backend.Download(dx);
        for (int y = 0; y < 9; y++)
        for (int c = 0; c < 9; c++)
        {
            bool inside = y >= rows.Start && y < rows.Start + rows.Count && c >= columns.Start && c < columns.Start + columns.Count;
            Assert.True(inside || g[y * 9 + c] == 0f, $"input ({y}, {c}) outside the field got gradient {g[y * 9 + c]}");
            Assert.True(!inside || g[y * 9 + c] != 0f, $"input ({y}, {c}) inside the field got no gradient");
        }
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
