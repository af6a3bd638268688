using ConvViz.Engine;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Visualization;

/// <summary>The report's page model on the default model and two of its samples, and the page it writes: sections, the
/// layers shown, the table of contents, and what it says about random weights and missing classes.</summary>
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

        var (page, file) = Report.Write(bundle, images, folder, progress: new ProgressAction<ReportProgress>(reports.Add));

        Assert.Equal(2 * 4 + 1, page.Sections.Count);
        Assert.Equal(["first", "second"], page.Sections.Where(s => s.Level == 2).Select(s => s.Heading).Take(2));
        Assert.Equal("Learned filters", page.Sections[^1].Heading);
        Assert.Equal(2, page.Sections.Count(s => s.Heading == "Activations"));
        Assert.Equal(2, page.Sections.Count(s => s.Heading.StartsWith("Why \"", StringComparison.Ordinal)));
        Assert.Equal(2, page.Sections.Count(s => s.Heading.StartsWith("The strongest unit of relu5", StringComparison.Ordinal)));
        var first = page.Sections[0];
        Assert.Equal(5, first.Table!.Rows.Count);
        // Saliency, blurred saliency, deconvnet, guided backprop, Grad-CAM, guided Grad-CAM, occlusion.
        Assert.Equal(7, page.Sections[2].Figures.Count);
        Assert.Contains("pixel 0 (black)", page.Sections[2].Figures[^1].Caption);
        Assert.All(bundle.Network.Layers.OfType<Conv2dLayer>(), conv => Assert.Contains(page.Sections[^1].Figures, f => f.Caption.StartsWith($"{conv.Name}: ", StringComparison.Ordinal)));
        Assert.Equal(Path.Combine(folder, Report.FileName), file);
        string html = File.ReadAllText(file);
        Assert.Contains("<h2>second</h2>", html);
        Assert.Equal([0, 1, 2], reports.Select(r => r.Images));
        Assert.Null(reports[^1].Name);
        Assert.Empty(page.Notices);
    }

    /// <summary>By default one grid per rectifier and pooling layer; on request every layer that computes something
    /// (conv, LRN, fully connected, the class scores); never dropout or flatten, whose outputs repeat their inputs.</summary>
    [Fact]
    public void Activations_ShowTheRectifierAndPoolingLayers_AllLayersOnRequest_NeverDropoutOrFlatten()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelCatalog.Open(ModelCatalog.Default, backend);
        var network = bundle.Network;
        Assert.Contains(network.Layers, l => l is DropoutLayer);
        Assert.Contains(network.Layers, l => l is ReshapeLayer);
        var images = new[] { ("boot", bundle.Sample(0).Image) };

        string[] Shown(ReportModel page) => page.Sections.Single(s => s.Heading == "Activations").Figures.Select(f => f.Caption[..f.Caption.IndexOf(' ')]).Distinct().ToArray();
        var byDefault = Shown(Report.Compose(bundle, images));
        var all = Shown(Report.Compose(bundle, images, new ReportOptions { AllLayers = true }));

        Assert.Equal(network.Layers.Where(l => l is ReluLayer or MaxPoolLayer).Select(l => l.Name), byDefault);
        Assert.Equal(network.Layers.Where(l => l is not DropoutLayer and not ReshapeLayer).Select(l => l.Name), all);
        Assert.Contains(network.Layers.OfType<Conv2dLayer>().First().Name, all);
        Assert.Contains(network.Layers.OfType<LrnLayer>().First().Name, all);
    }

    /// <summary>Every anchor of the table of contents names exactly one section or figure, each image's section, the
    /// sections inside it and every method's figure are listed, and the ids are unique.</summary>
    [Fact]
    public void Contents_ListEveryImage_Section_AndMethod_ByUniqueAnchors()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelCatalog.Open(ModelCatalog.Default, backend);
        var page = Report.Compose(bundle, [("a", bundle.Sample(0).Image), ("b", bundle.Sample(1).Image)]);

        var ids = page.Sections.Select(s => s.Id).Concat(page.Sections.SelectMany(s => s.Figures).Select(f => f.Id)).OfType<string>().ToArray();
        Assert.Equal(ids.Length, ids.Distinct().Count());
        var contents = page.Contents;
        Assert.Equal(["image-1", "image-1-activations", "image-1-class", "image-1-unit", "image-2", "image-2-activations", "image-2-class", "image-2-unit", "filters"],
            contents.Select(c => c.Id));
        Assert.Equal(["saliency", "saliency blurred", "deconvnet", "guided backprop", "Grad-CAM", "guided Grad-CAM", "occlusion"],
            contents.Single(c => c.Id == "image-2-class").Parts.Select(p => p.Text));
        Assert.All(contents.SelectMany(c => c.Parts.Select(p => p.Id).Append(c.Id)), id => Assert.Contains(id, ids));

        string html = page.ToHtml();
        foreach (string id in ids) Assert.Contains($"id=\"{id}\"", html);
        // The input and the class views are open when the page loads; the activations, the strongest unit and the filters are not.
        Assert.Equal([true, false, true, false], page.Sections.Take(4).Select(s => s.Open));
        Assert.False(page.Sections[^1].Open);
    }

    [Fact]
    public void RandomWeights_AndMissingClasses_AreStated()
    {
        using var backend = new CpuBackend();
        using var alexnet = ModelCatalog.Open("alexnet", backend);
        Assert.True(alexnet.RandomWeights);
        Assert.Contains("random, not trained", Assert.Single(Report.Notices(alexnet)));

        using var trained = ModelCatalog.Open(ModelCatalog.Default, backend);
        Assert.False(trained.RandomWeights);
        // Not disposed: it shares the trained bundle's network.
        var headless = new ModelBundle("features-only", trained.Network, trained.Preprocessing, [], []);
        var page = Report.Compose(headless, [("a", trained.Sample(0).Image)]);
        Assert.Contains("has no classes", Assert.Single(page.Notices));
        Assert.DoesNotContain(page.Sections, s => s.Heading.StartsWith("Why", StringComparison.Ordinal));
        // Without a class to explain, the strongest unit is what the page explains: its section is open.
        Assert.True(page.Sections.Single(s => s.Id == "image-1-unit").Open);
        Assert.Contains("has no classes", page.ToHtml());
    }
}
