using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Models;
using ConvViz.Server;
using ConvViz.Tests.Support;
using Microsoft.Playwright;

namespace ConvViz.Tests.Server;

/// <summary>
/// One `convviz serve` of the default model (in process, any free port) and one headless Chromium whose fake camera plays
/// a clip of two bundled samples of different classes, both classified correctly by the model (0.5 s each, looping), shared
/// by the page tests so that they start the server and the browser once.
/// </summary>
public sealed class ToolboxPageFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";
    private const int ClipSize = 112;
    private const int ClipFramesPerSecond = 10;
    private const int ClipFramesEach = 5;

    /// <summary>How long the camera clip takes to show both samples once.</summary>
    public static readonly TimeSpan ClipLength = TimeSpan.FromSeconds(2.0 * ClipFramesEach / ClipFramesPerSecond);

    private readonly List<Backend> backends = [];
    private IPlaywright? playwright;
    private IBrowser? browser;
    private ToolboxServer? server;

    public ToolboxServer Server => server ?? throw new InvalidOperationException("the fixture has not started");
    public IBrowser Browser => browser ?? throw new InvalidOperationException("the fixture has not started");

    /// <summary>The camera clip's two samples in the order it shows them, with the class names the model gives them (their labels).</summary>
    public IReadOnlyList<(BundleSample Sample, string Class)> ClipSamples { get; private set; } = [];

    /// <summary>Where the page tests write their screenshots: screenshots/ beside the test binaries.</summary>
    public static string Screenshots { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    /// <summary>The default model on a backend of its own (the server opens one for the live pipeline, one for background work).</summary>
    public ModelBundle OpenModel()
    {
        var backend = new CpuBackend();
        lock (backends) backends.Add(backend);
        return ModelCatalog.Open(ModelCatalog.Default, backend);
    }

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (tests/run-all.sh does)");
        ClipSamples = CorrectlyClassifiedSamplesOfTwoClasses();
        string clip = Path.Combine(FashionMnist.TempFolder(), "camera.y4m");
        FakeCameraClip.Write(clip, ClipSamples.Select(s => s.Sample.Image).ToArray(), ClipSize, ClipFramesEach, ClipFramesPerSecond);
        Directory.CreateDirectory(Screenshots);

        server = await ToolboxServer.StartAsync(OpenModel, new ToolboxServerOptions { Port = 0, OptimizeIterations = 50 }, CancellationToken.None);
        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", $"--use-file-for-fake-video-capture={clip}"],
        });
    }

    public async Task DisposeAsync()
    {
        if (browser is not null) await browser.DisposeAsync();
        playwright?.Dispose();
        if (server is not null) await server.DisposeAsync();
        lock (backends) backends.ForEach(b => b.Dispose());
    }

    private IReadOnlyList<(BundleSample, string)> CorrectlyClassifiedSamplesOfTwoClasses()
    {
        using var bundle = OpenModel();
        var chosen = new List<(BundleSample, string)>();
        for (int number = 0; number < bundle.SampleCount && chosen.Count < 2; number++)
        {
            var sample = bundle.Sample(number);
            if (chosen.Count == 1 && chosen[0].Item1.Label == sample.Label) continue;
            if (TopClass(bundle, number) == sample.Label) chosen.Add((sample, bundle.Classes[sample.Label]));
        }
        Assert.True(chosen.Count == 2, "the bundled samples hold no two classes that the model gets right");
        return chosen;
    }

    private static int TopClass(ModelBundle bundle, int sample)
    {
        var backend = bundle.Network.Parameters.First().Value.Backend;
        using var input = backend.Upload(bundle.SampleInput(sample), bundle.Network.InputShape(1));
        using var pass = bundle.Network.Forward(input);
        float[] scores = backend.Download(pass.Last);
        return Array.IndexOf(scores, scores.Max());
    }
}
