using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Toolbox;
using ConvViz.Engine.Visualization;

namespace ConvViz.Tests.Server;

/// <summary>
/// The HTTP API of `convviz serve` against the library run directly on a network of its own: the same numbers and the same
/// pixels (PNG answers decoded and compared byte for byte); bad requests get a 4xx and one line, and the server answers on.
/// </summary>
public sealed class HttpApiTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private static ByteArrayContent Body(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    private async Task<HttpResponseMessage> PostAsync(string path, byte[] body) => await server.Http.PostAsync(path, Body(body));

    private static async Task<Image8> PngOf(HttpResponseMessage response)
    {
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("image/png", response.Content.Headers.ContentType?.MediaType);
        return ImageFile.Decode(await response.Content.ReadAsByteArrayAsync(), "the answer");
    }

    private static void AssertSamePixels(Image8 expected, Image8 actual)
    {
        Assert.Equal((expected.Width, expected.Height, expected.Channels), (actual.Width, actual.Height, actual.Channels));
        Assert.True(expected.Pixels.AsSpan().SequenceEqual(actual.Pixels), "the pixels differ");
    }

    [Fact]
    public async Task Model_IsTheToolboxModel()
    {
        using var json = JsonDocument.Parse(await server.Http.GetStringAsync("api/model"));
        var model = json.RootElement;
        var expected = server.Toolbox.Model;
        Assert.Equal(expected.Source, model.GetProperty("source").GetString());
        Assert.Equal((expected.InputChannels, expected.InputHeight, expected.InputWidth),
            (model.GetProperty("inputChannels").GetInt32(), model.GetProperty("inputHeight").GetInt32(), model.GetProperty("inputWidth").GetInt32()));
        Assert.Equal(expected.Layers.Select(l => (l.Name, l.OpType, l.Channels, l.Height, l.Width)),
            model.GetProperty("layers").EnumerateArray().Select(l => (l.GetProperty("name").GetString()!, l.GetProperty("opType").GetString()!,
                l.GetProperty("channels").GetInt32(), l.GetProperty("height").GetInt32(), l.GetProperty("width").GetInt32())));
        Assert.Equal(expected.Classes, model.GetProperty("classes").EnumerateArray().Select(c => c.GetString()!));
        Assert.Equal(expected.SampleCount, model.GetProperty("sampleCount").GetInt32());
        Assert.Equal(expected.DefaultLayer, model.GetProperty("defaultLayer").GetString());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public async Task Predict_IsTheNetworksTopFive(int sample)
    {
        var (image, png) = server.Sample(sample);
        using var response = await PostAsync("api/predict", png);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var network = server.Reference.Network;
        using var x = server.Input(image);
        using var pass = network.Forward(x);
        var expected = ClassPredictions.Top(network, server.ReferenceBackend.Download(pass.Last), 5);
        var top = json.RootElement.GetProperty("top").EnumerateArray().ToArray();
        Assert.Equal(expected.Select(c => c.Index), top.Select(t => t.GetProperty("index").GetInt32()));
        Assert.Equal(expected.Select(c => c.Probability), top.Select(t => t.GetProperty("probability").GetSingle()));
        Assert.Equal(expected.Select(c => server.Reference.Classes[c.Index]), top.Select(t => t.GetProperty("name").GetString()));
        // The sample's own class is the network's first choice on these samples.
        Assert.Equal(server.Reference.Sample(sample).Label, top[0].GetProperty("index").GetInt32());
        Assert.Equal(server.Toolbox.Model.Layers.Select(l => l.Name), json.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Activations_AreTheLayerViewsGridOfTheLayersOutput_ForEveryLayer()
    {
        var (image, png) = server.Sample(3);
        var network = server.Reference.Network;
        using var x = server.Input(image);
        using var pass = network.Forward(x);
        foreach (var layer in server.Toolbox.Model.Layers)
        {
            using var response = await PostAsync($"api/activations?layer={Uri.EscapeDataString(layer.Name)}", png);
            var output = pass.Output(layer.Name);
            var expected = LayerViews.Activations(server.ReferenceBackend.Download(output), output.Shape);
            AssertSamePixels(expected, await PngOf(response));
        }
    }

    [Theory]
    [InlineData("gradient", ReluRule.Gradient, GradientDisplay.Raw)]
    [InlineData("deconvnet", ReluRule.Deconvnet, GradientDisplay.Gray)]
    [InlineData("Guided", ReluRule.Guided, GradientDisplay.NormBlur)]
    public async Task Backward_IsTheRenderedInputGradientOfTheUnit(string rule, ReluRule expectedRule, GradientDisplay display)
    {
        var (image, png) = server.Sample(1);
        string layer = server.Toolbox.Model.DefaultLayer;
        const int unit = 5;
        using var response = await PostAsync($"api/backward?layer={layer}&unit={unit}&rule={rule}&display={display.ToString().ToLowerInvariant()}", png);

        var p = server.Reference.Preprocessing;
        using var x = server.Input(image);
        var gradient = Attribution.InputGradient(server.Reference.Network, x, new Target(layer, unit), expectedRule);
        var expected = Attribution.Render(gradient, p, display, server.ReferenceBackend, Attribution.DefaultBlurSigma(p));
        AssertSamePixels(expected, await PngOf(response));
    }

    [Fact]
    public async Task Trace_IsTheLibrarysBackwardTrace_ExactFloats()
    {
        var (image, png) = server.Sample(2);
        using var response = await PostAsync("api/trace?layer=conv2&unit=3&rule=deconvnet", png);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        using var x = server.Input(image);
        var expected = BackwardTrace.Run(server.Reference.Network, x, new Target("conv2", 3), ReluRule.Deconvnet);
        var gradients = json.RootElement.GetProperty("gradients").EnumerateArray().ToArray();
        Assert.Equal(expected.Gradients.Select(g => g.Layer), gradients.Select(g => g.GetProperty("layer").GetString()));
        foreach (var (want, got) in expected.Gradients.Zip(gradients))
        {
            Assert.Equal(want.Shape.ToArray(), got.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()));
            Assert.Equal(want.Values, got.GetProperty("values").EnumerateArray().Select(v => v.GetSingle()));
            Assert.Equal(want.Norm, got.GetProperty("norm").GetDouble());
        }
        var steps = json.RootElement.GetProperty("steps").EnumerateArray().ToArray();
        Assert.Equal(expected.Steps.Select(s => (s.Layer, s.Explanation)), steps.Select(s => (s.GetProperty("layer").GetString()!, s.GetProperty("explanation").GetString()!)));
        Assert.Equal(expected.Steps[0].Before.Values, steps[0].GetProperty("before").GetProperty("values").EnumerateArray().Select(v => v.GetSingle()));
        Assert.Equal("Deconvnet", json.RootElement.GetProperty("rule").GetString());
    }

    public static TheoryData<string, string, int, string> BadRequests => new()
    {
        { "api/activations?layer=nope", "png", 400, "Layer 'nope' is not a layer" },
        { "api/activations", "png", 400, "the query needs layer=" },
        { "api/backward?layer=conv5&unit=100000", "png", 400, "Unit 100000 is outside layer 'conv5'" },
        { "api/backward?layer=conv5&unit=-1", "png", 400, "Unit -1 is outside" },
        { "api/backward?layer=conv5&unit=two", "png", 400, "unit=two is not a whole number" },
        { "api/backward?layer=conv5&unit=1&rule=off", "png", 400, "rule=off is not one of gradient, deconvnet, guided" },
        { "api/trace?layer=conv5", "png", 400, "the query needs unit=" },
        { "api/predict", "text", 400, "not a PNG, JPEG, WebP, GIF, BMP, PGM or PPM image" },
        { "api/predict", "gif", 400, "the body: truncated GIF file" },
        { "api/predict", "empty", 400, "the body is empty" },
        { "api/predict", "truncated", 400, "the body" },
        { "api/predict", "huge", 413, "over the server's upload limit of 16,777,216 bytes" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadRequests_GetA4xxWithOneLine_AndTheServerAnswersOn(string path, string body, int status, string message)
    {
        var (_, png) = server.Sample(0);
        byte[] bytes = body switch
        {
            "png" => png,
            "text" => "hello, not an image"u8.ToArray(),
            "gif" => "GIF89a\x01\x00\x01\x00"u8.ToArray(),
            "empty" => [],
            "truncated" => png[..(png.Length / 2)],
            _ => new byte[50 << 20],
        };
        using var response = await PostAsync(path, bytes);
        string text = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(message, text);
        Assert.Single(text.TrimEnd('\n').Split('\n'));
        using var after = await PostAsync("api/predict", png);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task AnUploadOverTheLimit_Gets413_AlsoWhenTheClientWaitsFor100Continue()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/activations?layer=conv1") { Content = Body(new byte[20 << 20]) };
        request.Headers.ExpectContinue = true;
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("a body of 20,971,520 bytes is over the server's upload limit", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("api/optimized?layer=conv5&unit=0", 404, "no optimized image of conv5 unit 0 yet")]
    [InlineData("api/atlas?layer=conv5&unit=0", 404, "this server has no atlas")]
    [InlineData("api/nothing", 404, "is not an address of this server")]
    [InlineData("../../../etc/passwd", 404, "is not an address of this server")]
    [InlineData("wwwroot/index.html", 404, "is not an address of this server")]
    [InlineData("ws", 400, "/ws takes WebSocket connections only")]
    public async Task GetsOfWhatIsNotThere_Get4xxWithOneLine(string path, int status, string message)
    {
        using var response = await server.Http.GetAsync(path);
        string text = await response.Content.ReadAsStringAsync();
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Contains(message, text);
        Assert.Single(text.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task ThePageIsServedFromTheAssembly()
    {
        using var root = await server.Http.GetAsync("");
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("text/html", root.Content.Headers.ContentType?.MediaType);
        byte[] page = await root.Content.ReadAsByteArrayAsync();
        Assert.Equal(page, await server.Http.GetByteArrayAsync("index.html"));
        using var resource = typeof(ConvViz.Server.ToolboxServer).Assembly.GetManifestResourceStream("wwwroot/index.html")!;
        using var copy = new MemoryStream();
        resource.CopyTo(copy);
        Assert.Equal(copy.ToArray(), page);
    }

    [Fact]
    public async Task ARequestFromAnotherOrigin_IsRefused_OneFromTheServersOwnIsServed()
    {
        var (_, png) = server.Sample(0);
        using var foreign = new HttpRequestMessage(HttpMethod.Post, "api/predict") { Content = Body(png) };
        foreign.Headers.Add("Origin", "http://evil.example");
        using var refused = await server.Http.SendAsync(foreign);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("requests from http://evil.example are refused", await refused.Content.ReadAsStringAsync());

        using var own = new HttpRequestMessage(HttpMethod.Post, "api/predict") { Content = Body(png) };
        own.Headers.Add("Origin", server.Server.Address.GetLeftPart(UriPartial.Authority));
        using var served = await server.Http.SendAsync(own);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task AHostHeaderThatIsNotThisServer_IsRefused()
    {
        using var rebound = new HttpRequestMessage(HttpMethod.Get, "api/model");
        rebound.Headers.Host = $"attacker.example:{server.Server.Address.Port}";
        using var response = await server.Http.SendAsync(rebound);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Host 'attacker.example' is not a name of this server", await response.Content.ReadAsStringAsync());
    }
}
