using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Tests.Parity;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Models;

/// <summary>A per-pixel mean image in a bundle: saved and loaded back exactly, subtracted at each
/// pixel and added back by the inverse, and the pixel clamp shifted by it pixel by pixel.</summary>
public sealed class MeanImageTests
{
    private static readonly float[] Mean = Enumerable.Range(0, 3 * 4 * 5).Select(i => 60f + 2.5f * i).ToArray();
    private static readonly Preprocessing WithMeanImage = new(3, 4, 5, ChannelOrder.Bgr, 1f, [1f, 2f, 3f], [0.5f, 1f, 2f], ResizeShorter: 4, MeanImage: Mean);

    [Fact]
    public void ABundleKeepsItsMeanImageThroughSaveAndLoad()
    {
        using var backend = new CpuBackend();
        var small = SmallNetworks.AlexNetStyle(backend, seed: 2, classes: 4);
        string folder = Path.Combine(FashionMnist.TempFolder(), "bundle");
        var shape = small.SampleShape;
        var p = WithMeanImage with { Channels = shape[0], Height = shape[1], Width = shape[2],
            Mean = new float[shape[0]], Scale = Enumerable.Repeat(1f, shape[0]).ToArray(),
            MeanImage = Enumerable.Range(0, shape.ElementCount).Select(i => i % 251 * 0.5f).ToArray() };
        using (var bundle = new ModelBundle("small", small, p, ModelBundle.NumberedClasses(4), []))
            bundle.Save(folder);
        using var loaded = ModelBundle.Load(folder, backend);
        Assert.Equal(p.MeanImage, loaded.Preprocessing.MeanImage);
        Assert.Equal(p.ToString(), loaded.Preprocessing.ToString());
    }

    [Fact]
    public void EachPixelLosesItsOwnMeanAndTheInverseAddsItBack()
    {
        var p = WithMeanImage;
        var pixels = Enumerable.Range(0, 4 * 5 * 3).Select(i => (byte)(i * 4)).ToArray();
        var image = new Image8(5, 4, 3, pixels);
        var input = ImageTensors.ToInput(image, p);
        // Model channel 0 is the image's blue (BGR): pixel (1, 2) is image byte (1·5 + 2)·3 + 2.
        int at = 1 * 5 + 2;
        Assert.Equal((pixels[at * 3 + 2] - 1f - Mean[at]) * 0.5f, input[at]);
        Assert.Equal((pixels[at * 3 + 0] - 3f - Mean[2 * 20 + at]) * 2f, input[2 * 20 + at]);
        Assert.Equal(pixels, ImageTensors.ToImage(input, p).Pixels);
    }

    [Fact]
    public void TheClampKeepsEveryPixelInItsOwnRange()
    {
        var p = WithMeanImage;
        var input = Enumerable.Range(0, 60).Select(i => i % 2 == 0 ? 1e6f : -1e6f).ToArray();
        p.ClampToPixelRange(input);
        var image = ImageTensors.ToImage(input, p);
        for (int i = 0; i < 20; i++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(input[c * 20 + i] > 0 ? 255 : 0, image.Pixels[i * 3 + (2 - c)]);
        Assert.Equal(255.0, p.ToPixel(input[0], 0, 0), 3);
        Assert.Equal(0.0, p.ToPixel(input[1], 0, 1), 3);
    }
}
