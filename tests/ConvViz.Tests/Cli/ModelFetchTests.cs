using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ConvViz.Cli;
using ConvViz.Cli.Commands;
using ConvViz.Engine.Models;
using ConvViz.Engine.Onnx.Protos;
using ConvViz.Engine.Tensors;
using Google.Protobuf;
using Spectre.Console;

namespace ConvViz.Tests.Cli;

/// <summary>
/// `convviz model fetch` against a local HTTP server serving a small made-up model under a pin
/// made for it: download, resume, servers that ignore Range, wrong hashes, no server at all, and
/// the metadata appended to the bundle's model.onnx.
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class ModelFetchTests : IDisposable
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(5);

    private readonly string cache = Path.Combine(Path.GetTempPath(), "convviz-fetch-" + Guid.NewGuid().ToString("N"));
    private readonly StringWriter output = new();
    private readonly IAnsiConsole console;
    private readonly byte[] payload = MakeModel().ToByteArray();

    public ModelFetchTests()
    {
        console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 400;
    }

    public void Dispose()
    {
        if (Directory.Exists(cache)) Directory.Delete(cache, recursive: true);
    }

    /// <summary>A serialized ModelProto of ~100 KB that already has one metadata entry, so the
    /// bundle's model.onnx must parse back with both the old and the appended entries.</summary>
    private static ModelProto MakeModel()
    {
        var random = new Random(7);
        var model = new ModelProto
        {
            IrVersion = 7,
            ProducerName = "convviz-test",
            DocString = new string(Enumerable.Range(0, 100_000).Select(_ => (char)('a' + random.Next(26))).ToArray()),
            Graph = new GraphProto { Name = "graph" },
        };
        model.MetadataProps.Add(new StringStringEntryProto { Key = "author", Value = "test" });
        return model;
    }

    private ZooModel Pinned(Uri url, string? sha256 = null) =>
        new("testnet", "a made-up model", "testnet-12.onnx", url, sha256 ?? Convert.ToHexStringLower(SHA256.HashData(payload)),
            payload.Length, ModelZoo.Find("alexnet").Preprocessing);

    private string Download => Path.Combine(cache, "downloads", "testnet-12.onnx");

    private string Fetch(ZooModel model, bool force = false)
    {
        using var downloader = new Downloader(IdleTimeout);
        return ModelFetchCommand.Fetch(model, cache, force, downloader, console);
    }

    [Fact]
    public void FullDownloadIsVerifiedAndBundledAndNotRepeated()
    {
        using var server = new PayloadServer(payload, honourRange: true);
        var model = Pinned(server.Url);

        string bundle = Fetch(model);

        Assert.Equal(payload, File.ReadAllBytes(Download));
        Assert.False(File.Exists(Download + ".part"));
        Assert.Equal(Path.Combine(cache, "testnet"), bundle);
        var parsed = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(bundle, "model.onnx")));
        Assert.Equal(MakeModel().DocString, parsed.DocString);
        Assert.Equal("graph", parsed.Graph.Name);
        Assert.Equal(["author", .. model.Preprocessing.ToMetadata().Keys], parsed.MetadataProps.Select(p => p.Key));
        string[] classes = File.ReadAllLines(Path.Combine(bundle, "classes.txt"));
        Assert.Equal(1000, classes.Length);
        Assert.Equal(("tench", "great white shark", "toilet tissue"), (classes[0], classes[2], classes[999]));
        Assert.Contains($"use it: convviz model info --model {bundle}", output.ToString());

        int requests = server.Ranges.Count;
        Fetch(model);
        Assert.Equal(requests, server.Ranges.Count);
        Assert.Contains("is already present and verified: not downloading it again", output.ToString());

        Fetch(model, force: true);
        Assert.Equal(requests + 1, server.Ranges.Count);
        Assert.Equal(payload, File.ReadAllBytes(Download));
    }

    [Fact]
    public void ResumedDownloadAsksForTheRestWithRange()
    {
        using var server = new PayloadServer(payload, honourRange: true);
        int half = payload.Length / 2;
        Directory.CreateDirectory(Path.GetDirectoryName(Download)!);
        File.WriteAllBytes(Download + ".part", payload[..half]);

        Fetch(Pinned(server.Url));

        Assert.Equal([$"bytes={half}-"], server.Ranges);
        Assert.Equal(payload, File.ReadAllBytes(Download));
        Assert.False(File.Exists(Download + ".part"));
    }

    [Fact]
    public void ConnectionThatEndsEarlyKeepsThePartForTheNextRun()
    {
        using var server = new PayloadServer(payload, honourRange: true, firstAnswerCutAt: payload.Length / 3);
        var model = Pinned(server.Url);

        var error = Assert.Throws<UserError>(() => Fetch(model));
        Assert.Contains($"the connection ended after {payload.Length / 3} of {payload.Length} bytes", error.Message);
        Assert.Equal(payload.Length / 3, new FileInfo(Download + ".part").Length);

        Fetch(model);
        Assert.Equal([null, $"bytes={payload.Length / 3}-"], server.Ranges);
        Assert.Equal(payload, File.ReadAllBytes(Download));
    }

    [Fact]
    public void ServerThatIgnoresRangeStillGivesTheRightFile()
    {
        using var server = new PayloadServer(payload, honourRange: false);
        // Not even a piece of the file: with a 200 answer the .part must be started over, not appended to.
        Directory.CreateDirectory(Path.GetDirectoryName(Download)!);
        File.WriteAllBytes(Download + ".part", new byte[payload.Length / 2]);

        Fetch(Pinned(server.Url));

        Assert.Equal([$"bytes={payload.Length / 2}-"], server.Ranges);
        Assert.Equal(payload, File.ReadAllBytes(Download));
    }

    [Fact]
    public void WrongHashFailsWithOneLineAndLeavesNoPart()
    {
        using var server = new PayloadServer(payload, honourRange: true);
        string wrong = new('0', 64);

        var error = Assert.Throws<UserError>(() => Fetch(Pinned(server.Url, wrong)));

        Assert.Single(error.Message.Split('\n'));
        Assert.Contains($"expected {payload.Length} bytes with SHA-256 {wrong}", error.Message);
        Assert.Contains($"got {payload.Length} bytes with SHA-256 {Convert.ToHexStringLower(SHA256.HashData(payload))}", error.Message);
        Assert.False(File.Exists(Download + ".part"));
        Assert.False(File.Exists(Download));
        Assert.False(Directory.Exists(Path.Combine(cache, "testnet")));
    }

    [Fact]
    public void UnreachableServerFailsFastWithOneLine()
    {
        var url = new Uri($"http://127.0.0.1:{FreePort()}/testnet-12.onnx");
        var clock = Stopwatch.StartNew();

        var error = Assert.Throws<UserError>(() => Fetch(Pinned(url)));

        Assert.True(clock.Elapsed < IdleTimeout, $"took {clock.Elapsed}");
        Assert.Single(error.Message.Split('\n'));
        Assert.StartsWith($"cannot download testnet-12.onnx from {url}: ", error.Message);
        Assert.EndsWith($"; check your internet connection or copy the file to {Download}", error.Message);
    }

    [Fact]
    public void UnknownModelNameListsTheKnownOnes()
    {
        var root = new RootCommand { new Command("model") { ModelFetchCommand.Create() } };

        var error = Assert.Throws<UserError>(() => root.Parse(["model", "fetch", "resnet34", "--cache", cache])
            .Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }));

        Assert.Equal("unknown zoo model 'resnet34'; expected one of: alexnet, caffenet, zfnet512, vgg16, resnet18, resnet50, googlenet, squeezenet1.1", error.Message);
    }

    [Fact]
    public void AppendedMetadataParsesBackIntoTheSamePreprocessing()
    {
        var preprocessing = ModelZoo.Find("vgg16").Preprocessing;
        using var stream = new MemoryStream();
        MakeModel().WriteTo(stream);

        ConvViz.Engine.Onnx.OnnxExporter.AppendMetadata(stream, preprocessing.ToMetadata());

        var parsed = ModelProto.Parser.ParseFrom(stream.ToArray());
        Assert.Equal("convviz-test", parsed.ProducerName);
        Assert.Equal("graph", parsed.Graph.Name);
        Assert.Equal("author", parsed.MetadataProps[0].Key);
        var metadata = parsed.MetadataProps.Skip(1).ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal(preprocessing.ToMetadata(), metadata);
        var defaulted = new List<string>();
        var back = Preprocessing.FromMetadata(metadata, new Shape(3, 224, 224), defaulted);
        Assert.Empty(defaulted);
        Assert.Equal(preprocessing.ToString(), back.ToString());
    }

    [Fact]
    public void CacheFolderIsTheOptionElseXdgCacheHomeElseHomeCache()
    {
        Assert.Equal(Path.GetFullPath("some/dir"), ModelFetchCommand.CacheFolder("some/dir", "/xdg", "/home/u"));
        Assert.Equal("/xdg/convviz/models", ModelFetchCommand.CacheFolder(null, "/xdg", "/home/u"));
        Assert.Equal("/home/u/.cache/convviz/models", ModelFetchCommand.CacheFolder(null, null, "/home/u"));
        Assert.Equal("/home/u/.cache/convviz/models", ModelFetchCommand.CacheFolder(null, "relative", "/home/u"));
    }

    [Fact]
    public void EveryPinIsAZooFileWithAFullHash()
    {
        Assert.Equal(["alexnet", "caffenet", "zfnet512", "vgg16", "resnet18", "resnet50", "googlenet", "squeezenet1.1"], ModelZoo.All.Select(m => m.Name));
        foreach (var model in ModelZoo.All)
        {
            Assert.Matches("^[0-9a-f]{64}$", model.Sha256);
            Assert.StartsWith("https://github.com/onnx/models/raw/main/validated/vision/classification/", model.Url.ToString());
            Assert.EndsWith("/" + model.FileName, model.Url.ToString());
            Assert.InRange(model.Size, 4_000_000, 600_000_000);
            Assert.Equal((3, 224, 224), (model.Preprocessing.Channels, model.Preprocessing.Height, model.Preprocessing.Width));
        }
    }

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    /// <summary>Serves one payload at any path on 127.0.0.1, answering a Range request with 206
    /// and the rest of the payload (or, when it does not honour Range, with 200 and all of it), and
    /// records the Range header of every request (null when there was none). With
    /// <c>firstAnswerCutAt</c>, the first answer is chunked, without a length, and ends cleanly
    /// after that many bytes, as a proxy that drops the connection might.</summary>
    private sealed class PayloadServer : IDisposable
    {
        private readonly HttpListener listener = new();
        private readonly byte[] payload;
        private readonly bool honourRange;
        private int? firstAnswerCutAt;
        private readonly Task serving;

        public ConcurrentQueue<string?> Ranges { get; } = new();
        public Uri Url { get; }

        public PayloadServer(byte[] payload, bool honourRange, int? firstAnswerCutAt = null)
        {
            this.payload = payload;
            this.honourRange = honourRange;
            this.firstAnswerCutAt = firstAnswerCutAt;
            int port = FreePort();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            listener.Start();
            Url = new Uri($"http://127.0.0.1:{port}/models/testnet-12.onnx");
            serving = Task.Run(ServeAsync);
        }

        private async Task ServeAsync()
        {
            while (true)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return; // stopped
                }
                string? range = context.Request.Headers["Range"];
                Ranges.Enqueue(range);
                int from = 0;
                if (honourRange && range is not null)
                {
                    from = int.Parse(range["bytes=".Length..].TrimEnd('-'));
                    context.Response.StatusCode = 206;
                    context.Response.Headers["Content-Range"] = $"bytes {from}-{payload.Length - 1}/{payload.Length}";
                }
                int to = payload.Length;
                if (firstAnswerCutAt is { } cut)
                {
                    context.Response.SendChunked = true;
                    to = cut;
                    firstAnswerCutAt = null;
                }
                else context.Response.ContentLength64 = payload.Length - from;
                await context.Response.OutputStream.WriteAsync(payload.AsMemory(from, to - from));
                context.Response.Close();
            }
        }

        public void Dispose()
        {
            listener.Stop();
            listener.Close();
            serving.Wait(TimeSpan.FromSeconds(5));
        }
    }
}
