using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;
using SkiaSharp;
using Xunit.Abstractions;

namespace ConvViz.Tests.Visualization;

/// <summary>
/// Heatmaps that do not mislead (issue 18, point 4): occlusion's default fill leaves a black background as it was, and
/// the Grad-CAM and occlusion figures are drawn in the maps' real values, their colour bars ending at the maps' real
/// minimum and maximum; the per-image stretch only on request.
/// </summary>
public sealed class HeatmapTests(ITestOutputHelper log)
{
    private const float Unchanged = 1e-4f;

    private static ModelBundle DefaultBundle(CpuBackend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    /// <summary>
    /// Fashion-MNIST's background is black (pixel 0). With the default fill (black through the model's preprocessing) every
    /// patch that lies entirely on background leaves the input, and so the probability of the predicted class, unchanged
    /// (below 1e-4; float noise of another batch position is about 1e-7). The fill before, the model's mean (input 0), is
    /// gray on that background: the same patches move the probability by more, so the test tells the two apart.
    /// </summary>
    [Fact]
    public void Occlusion_WithTheDefaultFill_LeavesEveryPatchOnTheBlackBackgroundBelow1e4()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var p = bundle.Preprocessing;
        var options = new OcclusionOptions().Resolve(p);
        int patch = options.Patch!.Value, checkedPatches = 0;
        double largestBlack = 0, largestMean = 0;
        for (int n = 0; n < 4; n++)
        {
            var image = FashionMnist.Test.ToImage(n);
            using var x = backend.Upload(ImageTensors.ToInput(image, p), bundle.Network.InputShape(1));
            var target = TargetSelection.Resolve(bundle, x, null);
            var black = Occlusion.Compute(bundle.Network, x, target, isClass: true, patch, options.Stride!.Value, options.Fill(p));
            var mean = Occlusion.Compute(bundle.Network, x, target, isClass: true, patch, options.Stride!.Value, [0f]);
            for (int r = 0; r < black.Rows; r++)
                for (int c = 0; c < black.Cols; c++)
                {
                    bool background = true;
                    for (int y = black.Tops[r]; y < black.Tops[r] + patch; y++)
                        for (int xx = black.Lefts[c]; xx < black.Lefts[c] + patch; xx++)
                            background &= image.Pixels[y * 28 + xx] == 0;
                    if (!background) continue;
                    checkedPatches++;
                    float change = Math.Abs(black.Values[r * black.Cols + c] - black.Baseline);
                    Assert.True(change < Unchanged, $"test image {n}: the black patch at ({black.Tops[r]}, {black.Lefts[c]}) over black pixels moved P from {black.Baseline} by {change}");
                    largestBlack = Math.Max(largestBlack, change);
                    largestMean = Math.Max(largestMean, Math.Abs(mean.Values[r * mean.Cols + c] - mean.Baseline));
                }
        }
        log.WriteLine($"{checkedPatches} patches entirely on black background: largest change {largestBlack:E2} with the black fill, {largestMean:E2} with the mean fill");
        Assert.True(checkedPatches >= 20, $"only {checkedPatches} patches lay entirely on background");
        Assert.True(largestMean > Unchanged, $"the mean fill moved no background patch's probability by {Unchanged} or more (largest {largestMean}); the test could not fail");
        Assert.True(largestBlack < largestMean);
    }

    [Fact]
    public void GradCam_ColorBarEndsAreTheMapsRealMinimumAndMaximum_AndTheFigureDrawsThem()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var p = bundle.Preprocessing;
        var image = ImageFile.Read(Fixtures.Path("images", "ankle_boot.png"));
        using var x = backend.Upload(ImageTensors.ToInput(image, p), bundle.Network.InputShape(1));
        string root = FashionMnist.TempFolder();
        var outputs = new RunOutputs(new ExperimentCard("gradcam", bundle.Source, "ankle_boot"), root, Path.Combine(root, "gradcam"));

        var run = GradCamRuns.Run(bundle, x, "ankle_boot", null, null, Colormap.Jet, 0.5f, normalize: false, outputs);

        var real = GradCam.Resized(run.Map, p.Height, p.Width);
        float stretchedMax = GradCam.Upsampled(run.Map, p.Height, p.Width).Max();
        Assert.True(Math.Abs(real.Max() - stretchedMax) > 0.1f * stretchedMax, $"the real map's maximum {real.Max()} is the stretched one's {stretchedMax}: the test could not tell them apart");
        Assert.Equal(new[] { (double)real.Min(), real.Max() }, (double[])outputs.Card.Results["colorBar"]!);
        var heatmap = GradCamRuns.CamHeatmap(bundle, run.Map, run.Layer, normalize: false, Colormap.Jet);
        Assert.Equal(((double)real.Min(), (double)real.Max()), (heatmap.Scale.Min, heatmap.Scale.Max));
        Assert.Equal((FigureText.Number(real.Min()), FigureText.Number(real.Max())), (heatmap.Scale.MinLabel, heatmap.Scale.MaxLabel));

        // The written figure: the map's lowest and highest pixels are the colormap's two ends, and so are the bar's ends.
        var figure = ImageFile.Read(Path.Combine(outputs.Folder, $"ankle_boot-{run.Layer}-class9-heatmap.png"));
        var layout = new TileGrid([heatmap.Colored()], Enlargement.ScaleFor(p.Height, p.Width), 1) { Title = "one line", Bar = heatmap.Scale }.Layout();
        var tile = layout.Tile(0);
        int argMax = Array.IndexOf(real, real.Max()), argMin = Array.IndexOf(real, real.Min());
        Assert.Equal(Rgb(Colormap.Jet.Color(1)), Pixel(figure, tile.Left + argMax % p.Width * layout.Scale, tile.Top + argMax / p.Width * layout.Scale));
        Assert.Equal(Rgb(Colormap.Jet.Color(0)), Pixel(figure, tile.Left + argMin % p.Width * layout.Scale, tile.Top + argMin / p.Width * layout.Scale));
        var strip = new SKRectI(layout.GridLeft, layout.BarTop, layout.GridLeft + layout.BarLength, layout.BarTop + ColorBar.StripHeight);
        Assert.Equal(Rgb(Colormap.Jet.Color(0)), Pixel(figure, strip.Left, strip.MidY));
        Assert.Equal(Rgb(Colormap.Jet.Color(1)), Pixel(figure, strip.Right - 1, strip.MidY));

        // On request, the old stretch: the map divided by its maximum, on a bar from 0 to 1 that says it is relative.
        var stretched = GradCamRuns.CamHeatmap(bundle, run.Map, run.Layer, normalize: true, Colormap.Jet);
        Assert.Equal((0d, 1d), (stretched.Scale.Min, stretched.Scale.Max));
        Assert.Contains("relative", stretched.Scale.Caption);
    }

    /// <summary>The occlusion map is the real drop from the unoccluded probability: its bar ends at the drop's real minimum
    /// and maximum, negative drops (where covering raised the probability) included rather than clamped to 0.</summary>
    [Fact]
    public void Occlusion_ColorBarEndsAreTheRealDrop_WithNegativeDropsKept()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var p = bundle.Preprocessing;
        var image = FashionMnist.Test.ToImage(0);
        using var x = backend.Upload(ImageTensors.ToInput(image, p), bundle.Network.InputShape(1));
        var target = TargetSelection.Resolve(bundle, x, null);
        var options = new OcclusionOptions { Patch = 4, Stride = 2 }.Resolve(p);
        var map = Occlusion.Compute(bundle.Network, x, target, isClass: true, 4, 2, options.Fill(p));

        var heatmap = OcclusionRuns.DropHeatmap(bundle, map, target, classProbability: true, normalize: false, Colormap.Jet);
        var drop = OcclusionMaps.DropPerPixel(map, p.Height, p.Width);
        Assert.Equal(((double)drop.Min(), (double)drop.Max()), (heatmap.Scale.Min, heatmap.Scale.Max));
        Assert.Equal(drop, heatmap.Values);
        log.WriteLine($"drop from {map.Baseline}: {drop.Min():E2} to {drop.Max():E2}");
        Assert.True(drop.Min() < 0, "no patch raised the probability: the test shows no negative drop kept");
        Assert.Contains(FigureText.Number(map.Baseline), heatmap.Scale.Caption);
        Assert.Contains($"P({bundle.Classes[target.Channel]})", OcclusionRuns.Title(bundle, map, target, classProbability: true));

        var stretched = OcclusionRuns.DropHeatmap(bundle, map, target, classProbability: true, normalize: true, Colormap.Jet);
        Assert.Equal(OcclusionMaps.Heat(map, p.Height, p.Width), stretched.Values);
        Assert.Equal((0d, 1d), (stretched.Scale.Min, stretched.Scale.Max));
    }

    private static byte[] Rgb((byte R, byte G, byte B) color) => [color.R, color.G, color.B];

    private static byte[] Pixel(Image8 image, int x, int y) => image.Pixels[((y * image.Width + x) * 3)..((y * image.Width + x) * 3 + 3)];
}
