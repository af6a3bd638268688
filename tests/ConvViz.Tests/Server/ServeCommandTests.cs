using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using ConvViz.Cli;
using ConvViz.Engine.IO;
using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Server;

/// <summary>`convviz serve` on the command line: it serves until Ctrl+C and then stops cleanly; a busy port, a host it cannot
/// listen on or a folder that is no atlas is one line; and the server's layer-by-layer trace is `convviz backward --dump`.</summary>
[Collection(CliHarness.Collection)]
public sealed partial class ServeCommandTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    [Theory]
    [InlineData("conv3", 2, "Guided")]
    [InlineData("conv5", 0, "Gradient")]
    [InlineData("fc7", 11, "Deconvnet")]
    public async Task TheTrace_IsBackwardDump_ExactFloats(string layer, int unit, string rule)
    {
        var (_, png) = server.Sample(9);
        string folder = FashionMnist.TempFolder(), input = Path.Combine(folder, "input.png"), dump = Path.Combine(folder, "dump");
        await File.WriteAllBytesAsync(input, png);
        var backward = CliHarness.Run("backward", "--input", input, "--layer", layer, "--unit", unit.ToString(), "--rule", rule, "--dump", dump);
        Assert.True(backward.Exit == 0, backward.Error);

        using var response = await server.Http.PostAsync($"api/trace?layer={layer}&unit={unit}&rule={rule}", new ByteArrayContent(png));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var gradients = json.RootElement.GetProperty("gradients").EnumerateArray().ToArray();
        Assert.Equal(Directory.GetFiles(dump, "*.grad.npy").Length, gradients.Length);
        Assert.Equal(layer, gradients[0].GetProperty("layer").GetString());
        Assert.Equal("input", gradients[^1].GetProperty("layer").GetString());
        foreach (var gradient in gradients)
        {
            var dumped = Npy.Read(Path.Combine(dump, FileNames.ForLayer(gradient.GetProperty("layer").GetString()!) + ".grad.npy"));
            Assert.Equal(dumped.Shape, gradient.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()));
            Assert.Equal(dumped.Data, gradient.GetProperty("values").EnumerateArray().Select(v => v.GetSingle()));
        }
        Assert.Contains(gradients, g => g.GetProperty("maxAbs").GetDouble() > 0);
    }

    [Fact]
    public void Serve_OnABusyPort_IsOneLine()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        int port = ((IPEndPoint)busy.LocalEndpoint).Port;
        CliHarness.AssertOneLineError(CliHarness.Run("serve", "--port", port.ToString()), $"--port {port} is already in use on 127.0.0.1: choose another --port, or 0 for any free one");
    }

    [Fact]
    public void Serve_OnAnAddressOfNoInterfaceHere_IsOneLine()
    {
        // 192.0.2.1 is TEST-NET-1 (RFC 5737): documentation only, never an address of this machine.
        CliHarness.AssertOneLineError(CliHarness.Run("serve", "--port", "0", "--host", "192.0.2.1"), "--host 192.0.2.1: cannot listen on 192.0.2.1 port 0");
    }

    [Fact]
    public void Serve_WithAFolderThatIsNoAtlas_IsOneLine()
    {
        string folder = FashionMnist.TempFolder();
        CliHarness.AssertOneLineError(CliHarness.Run("serve", "--port", "0", "--atlas", folder), $"{folder} is not an atlas folder: it has no atlas.json");
        CliHarness.AssertOneLineError(CliHarness.Run("serve", "--port", "0", "--atlas", Path.Combine(folder, "missing")), "no such folder");
    }

    [Theory]
    [InlineData("127.0.0.1", "forward the port over SSH: ssh -L")]
    [InlineData("0.0.0.0", "warning: listening on 0.0.0.0: anyone on that network can use this server")]
    public async Task Serve_PrintsItsAddress_Serves_AndStopsCleanlyOnCtrlC(string host, string advice)
    {
        var output = new SharedWriter();
        var error = new SharedWriter();
        using var cancel = new CancellationTokenSource();
        var run = Task.Run(() => CliApp.Run(["serve", "--port", "0", "--host", host], output, error, cancel.Token));

        var address = await AddressPrinted(output, error, run);
        int port = new Uri(address).Port;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using (var page = await http.GetAsync($"http://127.0.0.1:{port}/"))
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains(advice, output.Text);

        cancel.Cancel();
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))) == run, "serve did not stop within 30 s of Ctrl+C");
        int exit = await run;
        Assert.True(exit == 0, $"exit {exit}: {error.Text}");
        Assert.Equal("", error.Text);
        Assert.EndsWith("stopped", output.Text.TrimEnd());
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{port}/"));
    }

    private static async Task<string> AddressPrinted(SharedWriter output, SharedWriter error, Task<int> run)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (Url().Match(output.Text) is { Success: true } url) return url.Value;
            if (run.IsCompleted) Assert.Fail($"serve ended (exit {await run}) before printing its address: {error.Text}{output.Text}");
            await Task.Delay(50);
        }
        throw new TimeoutException($"serve printed no address within 60 s: {output.Text}");
    }

    [GeneratedRegex(@"http://[^\s/]+/")]
    private static partial Regex Url();

    /// <summary>A writer the command writes to while the test reads it.</summary>
    private sealed class SharedWriter : StringWriter
    {
        public string Text
        {
            get { lock (this) return ToString(); }
        }

        public override void Write(char value)
        {
            lock (this) base.Write(value);
        }

        public override void Write(char[] buffer, int index, int count)
        {
            lock (this) base.Write(buffer, index, count);
        }

        public override void Write(string? value)
        {
            lock (this) base.Write(value);
        }
    }
}
