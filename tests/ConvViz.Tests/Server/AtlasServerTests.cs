using System.Net;
using System.Text.Json;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using ConvViz.Server;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Server;

/// <summary>A small atlas of fashion-alexnet (three units of one layer, 60 test images) and a server that shows it.</summary>
public sealed class AtlasServerFixture : IAsyncLifetime
{
    public static readonly int[] Units = [0, 1, 2];
    private readonly List<Backend> backends = [];

    public string Folder { get; } = FashionMnist.TempFolder();
    public string Layer { get; private set; } = "";
    public Atlas Atlas { get; private set; } = null!;
    public ToolboxServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    private ModelBundle OpenModel()
    {
        var backend = BackendCatalog.Create("cpu");
        lock (backends) backends.Add(backend);
        return ModelCatalog.Open("fashion-alexnet", backend);
    }

    public async Task InitializeAsync()
    {
        using (var bundle = OpenModel())
        {
            Layer = ConvViz.Engine.Networks.LayerRoles.LastSpatialRectifier(bundle.Network);
            var card = new ExperimentCard("atlas", bundle.Source, "fashion-mnist test (first 60)");
            var run = AtlasRuns.Run(bundle, FashionMnist.Test.Take(60), new AtlasOptions { Layers = [Layer], Units = Units, Iterations = 3, BatchSize = 30 },
                new RunOutputs(card, Folder, Path.Combine(Folder, Atlas.RunFolder)));
            Assert.True(run.Complete);
        }
        Atlas = Atlas.Open(Folder);
        Server = await ToolboxServer.StartAsync(OpenModel, new ToolboxServerOptions { Port = 0, Atlas = Folder });
        Http = new HttpClient { BaseAddress = Server.Address };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        foreach (var backend in backends) backend.Dispose();
    }
}

/// <summary>`serve --atlas`: a unit's atlas entry as JSON with URLs that take only layer, unit, kind and index, each image the
/// atlas file's bytes; units and images the atlas lacks are 404, bad kinds 400; hello says there is an atlas.</summary>
public sealed class AtlasServerTests(AtlasServerFixture fixture) : IClassFixture<AtlasServerFixture>
{
    [Fact]
    public async Task AUnitsEntry_ListsItsNinePatches_DeconvsAndOptimizedImage_AsTheAtlasFilesBytes()
    {
        foreach (int unit in AtlasServerFixture.Units)
        {
            using var json = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/atlas?layer={fixture.Layer}&unit={unit}"));
            var entry = json.RootElement;
            var expected = fixture.Atlas.Find(fixture.Layer, unit)!;
            var patches = entry.GetProperty("patches").EnumerateArray().ToArray();
            Assert.Equal(9, patches.Length);
            Assert.Equal(expected.Patches.Select(p => p.Value), patches.Select(p => p.GetProperty("value").GetSingle()));
            Assert.Equal(expected.Patches.Select(p => p.Source), patches.Select(p => p.GetProperty("source").GetString()));
            foreach (var (patch, file) in patches.Zip(expected.Patches))
            {
                Assert.Equal(await File.ReadAllBytesAsync(file.Image), await Png(patch.GetProperty("image").GetString()!));
                Assert.Equal(await File.ReadAllBytesAsync(file.Deconv!), await Png(patch.GetProperty("deconv").GetString()!));
            }
            Assert.Equal(await File.ReadAllBytesAsync(expected.Optimized!), await Png(entry.GetProperty("optimized").GetString()!));
        }
    }

    private async Task<byte[]> Png(string url)
    {
        Assert.DoesNotContain("..", url);
        Assert.StartsWith("api/atlas/image?", url);
        using var response = await fixture.Http.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadAsByteArrayAsync();
    }

    [Theory]
    [InlineData("api/atlas?layer=LAYER&unit=5", 404, "the atlas has nothing for LAYER unit 5")]
    [InlineData("api/atlas?layer=conv1&unit=0", 404, "the atlas has nothing for conv1 unit 0")]
    [InlineData("api/atlas?layer=LAYER&unit=100000", 400, "Unit 100000 is outside layer")]
    [InlineData("api/atlas?layer=../../etc&unit=0", 400, "Layer '../../etc' is not a layer")]
    [InlineData("api/atlas/image?layer=LAYER&unit=0&kind=patch&index=9", 404, "has 9 patches in the atlas (index 0 to 8), not 9")]
    [InlineData("api/atlas/image?layer=LAYER&unit=0&kind=patch&index=-1", 404, "not -1")]
    [InlineData("api/atlas/image?layer=LAYER&unit=0&kind=file", 400, "kind=file is not one of patch, deconv, optimized")]
    [InlineData("api/atlas/image?layer=LAYER&unit=0", 400, "the query needs kind=")]
    public async Task WhatTheAtlasLacks_Is404_ABadRequest400_InOneLine(string path, int status, string message)
    {
        using var response = await fixture.Http.GetAsync(path.Replace("LAYER", fixture.Layer));
        string text = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Contains(message.Replace("LAYER", fixture.Layer), text);
        Assert.Single(text.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task Hello_SaysThereIsAnAtlas()
    {
        var (viewer, hello) = await ViewerClient.OpenAsync(fixture.Server.Address);
        await using var _ = viewer;
        Assert.True(hello.GetProperty("atlas").GetBoolean());
    }
}
