using ConvViz.Engine;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Visualization;

/// <summary>The report's page model on the default model and two of its samples, and the page it writes.</summary>
public sealed class ReportTests
{
    [Fact]
    public void TwoImages_GiveFourSectionsEach_ThenTheFilters_AndOnePage()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelCatalog.Open(ModelCatalog.Default, backend);
        var samples = LabeledImages.LoadSplit(bundle.Samples!, LabeledImages.TestSplit);
        var images = new[] { ("first", samples.ToImage(0)), ("second", samples.ToImage(1)) };
        string folder = FashionMnist.TempFolder();
        var reports = new List<ReportProgress>();

        var (page, file) = Report.Write(bundle, images, folder, new ProgressAction<ReportProgress>(reports.Add));

        Assert.Equal(2 * 4 + 1, page.Sections.Count);
        Assert.Equal(["first", "second"], page.Sections.Where(s => s.Level == 2).Select(s => s.Heading).Take(2));
        Assert.Equal("Learned filters", page.Sections[^1].Heading);
        Assert.Equal(2, page.Sections.Count(s => s.Heading == "Activations"));
        Assert.Equal(2, page.Sections.Count(s => s.Heading.StartsWith("Why \"", StringComparison.Ordinal)));
        Assert.Equal(2, page.Sections.Count(s => s.Heading.StartsWith("The strongest unit of relu5", StringComparison.Ordinal)));
        var first = page.Sections[0];
        Assert.Equal(5, first.Table!.Rows.Count);
        Assert.Equal(bundle.Network.Layers.Count, page.Sections[1].Figures.Count);
        // Saliency, blurred saliency, deconvnet, guided backprop, Grad-CAM, guided Grad-CAM, occlusion.
        Assert.Equal(7, page.Sections[2].Figures.Count);
        Assert.Equal(5, page.Sections[^1].Figures.Count);
        Assert.Equal(Path.Combine(folder, Report.FileName), file);
        string html = File.ReadAllText(file);
        Assert.Contains("<h2>second</h2>", html);
        Assert.Equal([0, 1, 2], reports.Select(r => r.Images));
        Assert.Null(reports[^1].Name);
    }
}
