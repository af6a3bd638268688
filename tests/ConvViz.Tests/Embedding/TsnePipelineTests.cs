using ConvViz.Engine;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Embedding;
using ConvViz.Engine.Models;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Embedding;

/// <summary>The codes -> PCA -> t-SNE pipeline in one call: its files, its reports, and the limits it refuses by property name.</summary>
public sealed class TsnePipelineTests
{
    [Fact]
    public void OneCall_WritesOneCsvRowPerImage_AndReportsEveryStage()
    {
        using var backend = new CpuBackend();
        using var bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);
        var images = LabeledImages.LoadSplit(bundle.Samples!, LabeledImages.TestSplit).Take(120);
        string folder = FashionMnist.TempFolder();
        var reports = new List<TsnePipelineProgress>();
        var options = new TsnePipelineOptions { Layer = "fc7", BatchSize = 50, PcaDimensions = 10, Grid = 12, Tsne = new TsneOptions { Iterations = 60 } };

        var map = TsnePipeline.Run(bundle.Network, bundle.Preprocessing, images, bundle.Classes, bundle.Source, options, folder,
            new ProgressAction<TsnePipelineProgress>(reports.Add));

        var csv = File.ReadAllLines(map.Files.Csv);
        Assert.Equal("index,label,class,x,y", csv[0]);
        Assert.Equal(images.Count, csv.Length - 1);
        Assert.Equal(Enumerable.Range(0, 120).Select(i => i.ToString()), csv.Skip(1).Select(line => line.Split(',')[0]));
        Assert.Equal(2 * 120, map.Tsne.Coordinates.Length);
        Assert.Equal(10, map.Pca.ComponentCount);
        Assert.Equal(120, map.ImagesOnMap);
        Assert.All(map.Files.All, file => Assert.True(File.Exists(file), file));
        Assert.Equal(Path.Combine(folder, "fc7-map.png"), map.Files.ImageMap);
        Assert.Equal([50, 100, 120], reports.Where(r => r.Stage == TsneStage.Codes).Select(r => r.Done));
        Assert.Single(reports, r => r.Stage == TsneStage.Affinities);
        Assert.Equal(Enumerable.Range(1, 60), reports.Where(r => r.Stage == TsneStage.Iterations).Select(r => r.Done));
        Assert.Contains(reports, r => r.Kl is not null);
    }

    [Fact]
    public void ASizeBeyondTheLimits_IsRefusedNamingTheProperty()
    {
        var options = new TsnePipelineOptions { Layer = "fc7", Grid = 200 };
        var grid = Assert.ThrowsAny<ArgumentException>(() => options.Validate(1000, 512, 224, 224));
        Assert.Equal(nameof(TsnePipelineOptions.Grid), grid.ParamName);
        Assert.StartsWith("Grid 200 of 224x224 images", grid.Message);
        var codes = Assert.ThrowsAny<ArgumentException>(() => (options with { Grid = 10 }).Validate(100_000, 4096, 28, 28));
        Assert.Equal(nameof(TsnePipelineOptions.Layer), codes.ParamName);
        (options with { Grid = 10 }).Validate(1000, 4096, 28, 28);
    }
}
