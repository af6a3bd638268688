using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Toolbox;
using ConvViz.Engine.Visualization;

namespace ConvViz.Tests.Server;

/// <summary>
/// The live transport at /ws: hello, frame results whose panes are the library's panes byte for byte, selections that
/// recompute the last frame, newest-frame-wins, one selection per viewer, the origin check, errors that leave the
/// connection working, the layer-by-layer trace and the background optimization.
/// </summary>
public sealed class WebSocketTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static void AssertSamePixels(Image8 expected, Image8 actual, string pane)
    {
        Assert.True((expected.Width, expected.Height, expected.Channels) == (actual.Width, actual.Height, actual.Channels),
            $"{pane}: {actual.Width}x{actual.Height}x{actual.Channels}, expected {expected.Width}x{expected.Height}x{expected.Channels}");
        Assert.True(expected.Pixels.AsSpan().SequenceEqual(actual.Pixels), $"{pane}: the pixels differ");
    }

    /// <summary>The result's panes against <see cref="LiveToolbox.Run"/> of the same image and selection on the reference network.</summary>
    private void AssertPanesOf(Image8 image, ToolboxSelection selection, FrameResult result)
    {
        var expected = server.Toolbox.Run(image, selection);
        AssertSamePixels(expected.Input, result.Panes["input"], "input");
        AssertSamePixels(expected.LayerGrid, result.Panes["layer"], "layer");
        AssertSamePixels(expected.Unit, result.Panes["unit"], "unit");
        if (expected.Back is null) Assert.False(result.Panes.ContainsKey("back"));
        else AssertSamePixels(expected.Back, result.Panes["back"], "back");
        Assert.Equal(expected.UnitValue, result.Header.GetProperty("unitValue").GetSingle());
        Assert.Equal(expected.Top.Select(c => c.Index), result.Header.GetProperty("top").EnumerateArray().Select(c => c.GetProperty("index").GetInt32()));
        var layout = result.Header.GetProperty("layout");
        Assert.Equal((expected.Layout.Count, expected.Layout.Columns, expected.Layout.TileWidth, expected.Layout.Scale),
            (layout.GetProperty("count").GetInt32(), layout.GetProperty("columns").GetInt32(), layout.GetProperty("tileWidth").GetInt32(), layout.GetProperty("scale").GetInt32()));
    }

    [Fact]
    public async Task Hello_ThenAFrame_GivesTheHeadersPanes_EqualToTheLibrarys()
    {
        var (viewer, hello) = await ViewerClient.OpenAsync(server.Server.Address);
        await using var _ = viewer;
        Assert.Equal(server.Toolbox.Model.DefaultLayer, hello.GetProperty("model").GetProperty("defaultLayer").GetString());
        Assert.Equal(server.Toolbox.Model.Layers.Count, hello.GetProperty("model").GetProperty("layers").GetArrayLength());
        Assert.Equal(server.Toolbox.DefaultSelection.Layer, hello.GetProperty("selection").GetProperty("layer").GetString());
        Assert.Equal("Gradient", hello.GetProperty("selection").GetProperty("back").GetString());
        Assert.False(hello.GetProperty("atlas").GetBoolean());

        var (image, png) = server.Sample(4);
        await viewer.SendFrameAsync(png);
        var result = await viewer.FrameAsync();

        Assert.Equal(1, result.Seq);
        Assert.Equal(["input", "layer", "unit", "back"], result.Panes.Keys);
        AssertPanesOf(image, server.Toolbox.DefaultSelection, result);
        var timings = result.Header.GetProperty("timings");
        foreach (string stage in new[] { "decodeMs", "forwardMs", "backwardMs", "renderMs", "sendMs" })
            Assert.True(timings.GetProperty(stage).GetDouble() >= 0, stage);
        Assert.True(timings.GetProperty("forwardMs").GetDouble() > 0);
        Assert.Equal(server.Reference.Sample(4).Label, result.Header.GetProperty("top")[0].GetProperty("index").GetInt32());
    }

    [Fact]
    public async Task ASelectionChange_RecomputesTheLastFrame_AndTheSampleMessageUsesTheBundlesSample()
    {
        var (viewer, _) = await ViewerClient.OpenAsync(server.Server.Address);
        await using var _v = viewer;
        await viewer.SendAsync(new { type = "sample", number = 6 });
        var first = await viewer.FrameAsync();
        var image = server.Reference.Sample(6).Image;
        AssertPanesOf(image, server.Toolbox.DefaultSelection, first);

        await viewer.SendAsync(new { type = "select", layer = "conv2", unit = 7, back = "guided", display = "Norm", boost = true });
        var second = await viewer.FrameAsync();

        Assert.Equal(first.Seq, second.Seq);
        var selection = new ToolboxSelection { Layer = "conv2", Unit = 7, Back = BackMode.Guided, Display = GradientDisplay.Norm, Boost = true };
        Assert.Equal(7, second.Unit);
        Assert.Equal("Guided", second.Header.GetProperty("selection").GetProperty("back").GetString());
        AssertPanesOf(image, selection, second);
        Assert.False(first.Panes["back"].Pixels.AsSpan().SequenceEqual(second.Panes["back"].Pixels));

        await viewer.SendAsync(new { type = "select", back = "Off" });
        var third = await viewer.FrameAsync();
        Assert.False(third.Panes.ContainsKey("back"));
        Assert.Equal(7, third.Unit);
    }

    [Fact]
    public async Task NewestFrameWins_StaleFramesAreDropped_AndTheLastResultIsTheLastFrames()
    {
        var (viewer, _) = await ViewerClient.OpenAsync(server.Server.Address);
        await using var _v = viewer;
        var frames = Enumerable.Range(10, 10).Select(server.Sample).ToArray();
        foreach (var (_, png) in frames) await viewer.SendFrameAsync(png);

        var results = await viewer.FramesUntilAsync(10);

        Assert.True(results.Count < 10, $"{results.Count} results for 10 frames sent at once: none was dropped");
        Assert.Equal(10, results[^1].Seq);
        Assert.True(results[^1].Header.GetProperty("dropped").GetInt64() > 0);
        Assert.Equal(results.Select(r => r.Seq).Order(), results.Select(r => r.Seq));
        AssertSamePixels(ImageTensors.ResizeAndCrop(frames[^1].Image, server.Reference.Preprocessing), results[^1].Panes["input"], "input");
    }

    [Fact]
    public async Task TwoViewers_EachGetTheirOwnSelection()
    {
        var (first, _) = await ViewerClient.OpenAsync(server.Server.Address);
        var (second, _) = await ViewerClient.OpenAsync(server.Server.Address);
        await using var _1 = first;
        await using var _2 = second;
        await first.SendAsync(new { type = "select", unit = 1, back = "Deconvnet" });
        await second.SendAsync(new { type = "select", layer = "conv1", unit = 2 });
        var (image, png) = server.Sample(5);
        await first.SendFrameAsync(png);
        await second.SendFrameAsync(png);

        var a = await first.FrameAsync();
        var b = await second.FrameAsync();

        AssertPanesOf(image, server.Toolbox.DefaultSelection with { Unit = 1, Back = BackMode.Deconvnet }, a);
        AssertPanesOf(image, new ToolboxSelection { Layer = "conv1", Unit = 2 }, b);
        Assert.Equal((1, 2), (a.Unit, b.Unit));
    }

    [Fact]
    public async Task AConnectionFromAnotherOrigin_IsRefusedWith403_OneFromTheServersOwnIsAccepted()
    {
        using var foreign = new ClientWebSocket();
        foreign.Options.CollectHttpResponseDetails = true;
        foreign.Options.SetRequestHeader("Origin", "http://evil.example");
        var uri = new Uri($"ws://{server.Server.Address.Authority}/ws");
        await Assert.ThrowsAsync<WebSocketException>(() => foreign.ConnectAsync(uri, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Forbidden, foreign.HttpStatusCode);

        await using var own = await ViewerClient.ConnectAsync(server.Server.Address, server.Server.Address.GetLeftPart(UriPartial.Authority));
        await own.TextAsync("hello");
    }

    [Theory]
    [InlineData("frame: not a PNG, JPEG, WebP, GIF, BMP, PGM or PPM image", null)]
    [InlineData("is not valid JSON", "{not json")]
    [InlineData("a text message is a JSON object with a \"type\"", "[1, 2]")]
    [InlineData("unknown message type 'zoom'", "{\"type\":\"zoom\"}")]
    [InlineData("Layer 'nope' is not a layer the toolbox shows", "{\"type\":\"select\",\"layer\":\"nope\"}")]
    [InlineData("Unit 100000 is outside layer", "{\"type\":\"select\",\"unit\":100000}")]
    [InlineData("\"unit\": \"three\" is not a unit number", "{\"type\":\"select\",\"unit\":\"three\"}")]
    [InlineData("\"back\": 'sideways' is not one of Off, Gradient, Deconvnet, Guided", "{\"type\":\"select\",\"back\":\"sideways\"}")]
    [InlineData("select: unknown field 'colour'", "{\"type\":\"select\",\"colour\":\"red\"}")]
    [InlineData("Sample 99999999 is out of range", "{\"type\":\"sample\",\"number\":99999999}")]
    [InlineData("\"enabled\" is missing", "{\"type\":\"trace\"}")]
    public async Task AMalformedMessage_GetsAnErrorMessage_AndTheConnectionKeepsWorking(string error, string? text)
    {
        var (viewer, _) = await ViewerClient.OpenAsync(server.Server.Address);
        await using var _v = viewer;
        if (text is null) await viewer.SendFrameAsync([0x89, 0x50, 1, 2, 3]);
        else await viewer.SendTextAsync(text);

        var message = await viewer.TextAsync("error");
        Assert.Contains(error, message.GetProperty("message").GetString());
        Assert.DoesNotContain('\n', message.GetProperty("message").GetString()!);

        var (image, png) = server.Sample(0);
        await viewer.SendFrameAsync(png);
        AssertPanesOf(image, server.Toolbox.DefaultSelection, await viewer.FrameAsync());
    }

    [Fact]
    public async Task AFrameOverTheUploadLimit_GetsAnErrorMessage_AndTheConnectionKeepsWorking()
    {
        var (viewer, _) = await ViewerClient.OpenAsync(server.Server.Address);
        await using var _v = viewer;
        await viewer.SendFrameAsync(new byte[(16 << 20) + 1]);
        var message = await viewer.TextAsync("error");
        Assert.Contains("a message of 16,777,217 bytes is over the server's limit of 16,777,216 bytes", message.GetProperty("message").GetString());

        var (image, png) = server.Sample(0);
        await viewer.SendFrameAsync(png);
        var result = await viewer.FrameAsync();
        // A refused message is no frame: the first frame computed is number 1.
        Assert.Equal(1, result.Seq);
        AssertPanesOf(image, server.Toolbox.DefaultSelection, result);
    }

    [Fact]
    public async Task WithTheTraceOn_EachFrameCarriesTheGradientAtEveryLayer_AsTheLibraryComputesIt()
    {
        var (viewer, _) = await ViewerClient.OpenAsync(server.Server.Address);
        await using var _v = viewer;
        await viewer.SendAsync(new { type = "select", layer = "conv3", unit = 4, back = "Guided" });
        await viewer.SendAsync(new { type = "trace", enabled = true });
        var (image, png) = server.Sample(8);
        await viewer.SendFrameAsync(png);
        var result = await viewer.FrameAsync();

        var selection = new ToolboxSelection { Layer = "conv3", Unit = 4, Back = BackMode.Guided };
        var expected = server.Toolbox.Trace(image, selection);
        var trace = result.Header.GetProperty("trace").EnumerateArray().ToArray();
        Assert.Equal(expected.Gradients.Select(g => g.Layer), trace.Select(t => t.GetProperty("layer").GetString()));
        foreach (var (gradient, summary) in expected.Gradients.Zip(trace))
        {
            Assert.Equal(gradient.Norm, summary.GetProperty("norm").GetDouble());
            Assert.Equal(gradient.MaxAbs, summary.GetProperty("maxAbs").GetDouble());
            AssertSamePixels(BackwardTrace.Render(gradient), result.Panes[$"trace:{gradient.Layer}"], $"trace:{gradient.Layer}");
        }
        Assert.Equal(expected.Steps.Select(s => s.Explanation), result.Header.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("explanation").GetString()));
        AssertPanesOf(image, selection, result);

        await viewer.SendAsync(new { type = "trace", enabled = false });
        var off = await viewer.FrameAsync();
        Assert.False(off.Header.TryGetProperty("trace", out _));
        Assert.DoesNotContain(off.Panes.Keys, name => name.StartsWith("trace:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task OptimizingAUnit_ReportsProgress_ThenServesTheLibrarysOptimizedImage()
    {
        var (viewer, _) = await ViewerClient.OpenAsync(server.Server.Address);
        await using var _v = viewer;
        const string layer = "conv4";
        const int unit = 6;
        await viewer.SendAsync(new { type = "optimize", layer, unit });

        var messages = new List<JsonElement>();
        do messages.Add(Assert.IsType<JsonElement>(await viewer.ReceiveAsync()));
        while (messages[^1].GetProperty("type").GetString() == "optimize");

        var ready = messages[^1];
        Assert.Equal("optimized", ready.GetProperty("type").GetString());
        Assert.Equal((layer, unit), (ready.GetProperty("layer").GetString(), ready.GetProperty("unit").GetInt32()));
        var progress = messages[..^1];
        Assert.NotEmpty(progress);
        Assert.All(progress, p => Assert.Equal(ServerFixture.OptimizeIterations, p.GetProperty("total").GetInt32()));

        using var response = await server.Http.GetAsync(ready.GetProperty("url").GetString());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var image = ImageFile.Decode(await response.Content.ReadAsByteArrayAsync(), "the optimized image");
        var p = server.Reference.Preprocessing;
        var options = OptimizationOptions.Preset(3).AdaptedTo(p) with { Iterations = ServerFixture.OptimizeIterations };
        var expected = ActivationMaximization.Run(server.Reference.Network, p, new Target(layer, unit), options);
        AssertSamePixels(ImageTensors.ToImageCentered(expected.Best, p), image, "optimized");

        // Asked again, the image is ready at once, from the cache.
        await viewer.SendAsync(new { type = "optimize", layer, unit });
        Assert.Equal(ready.GetProperty("url").GetString(), (await viewer.TextAsync("optimized")).GetProperty("url").GetString());
    }
}
