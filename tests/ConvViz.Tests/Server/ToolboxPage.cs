using System.Text.Json;
using ConvViz.Engine.Imaging;
using Microsoft.Playwright;

namespace ConvViz.Tests.Server;

/// <summary>What the page shows at one moment, read in one evaluation (between two frames, never across one): how many
/// frames the page has received, the last one's seq (the server's number of the input frame: a frame recomputed for a new
/// selection keeps it), hashes of the layer, back and input canvases ("" when hidden), whether the grid is boosted, the
/// unit pane's layer and unit, the back mode and display of the frame on screen, the top-5 class names and the message
/// line ("" when hidden).</summary>
internal sealed record PageSnapshot(long Received, long Seq, string LayerGrid, bool Boost, string Back, string Input, string Layer, int Unit, string BackMode, string BackDisplay, string[] Top, string Message);

/// <summary>A toolbox page in its own browser context, opened on the fixture's server and showing its first frame; it records
/// every console error and uncaught exception of the page.</summary>
internal sealed class ToolboxPage : IAsyncDisposable
{
    private static readonly TimeSpan FrameTimeout = TimeSpan.FromSeconds(20);

    // FNV-1a over the RGBA bytes, with the size, so that equal strings mean equal pictures.
    private const string SnapshotScript = """
        () => {
          const hash = id => {
            const c = document.getElementById(id);
            if (c.hidden || c.width < 2) return '';
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let h = 0x811c9dc5;
            for (let i = 0; i < d.length; i++) { h ^= d[i]; h = Math.imul(h, 0x01000193); }
            return `${c.width}x${c.height}:${(h >>> 0).toString(16)}`;
          };
          const counter = document.getElementById('frame-seq').dataset;
          const title = document.getElementById('unit-title').dataset;
          const message = document.getElementById('message');
          return {
            received: Number(counter.received ?? 0), seq: Number(counter.seq ?? -1),
            layerGrid: hash('layer-canvas'), boost: document.getElementById('layer-pane').dataset.boost === 'true', back: hash('back-canvas'), input: hash('input-canvas'),
            layer: title.layer ?? '', unit: Number(title.unit ?? -1),
            backMode: document.getElementById('back-pane').dataset.mode ?? '',
            backDisplay: document.getElementById('back-pane').dataset.display ?? '',
            top: [...document.querySelectorAll('#top-classes .name')].map(e => e.textContent),
            message: message.hidden ? '' : message.textContent
          };
        }
        """;

    private readonly IBrowserContext context;

    private ToolboxPage(IBrowserContext context, IPage page)
    {
        this.context = context;
        Page = page;
        page.Console += (_, message) => { if (message.Type == "error") Errors.Add($"{message.Text} ({message.Location})"); };
        page.PageError += (_, error) => Errors.Add(error);
    }

    public IPage Page { get; }

    /// <summary>Console errors (each with the address it came from) and uncaught exceptions, in order.</summary>
    public List<string> Errors { get; } = [];

    public static async Task<ToolboxPage> OpenAsync(IBrowser browser, Uri address)
    {
        var context = await browser.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 1000 } });
        var toolbox = new ToolboxPage(context, await context.NewPageAsync());
        await toolbox.Page.GotoAsync(address.AbsoluteUri);
        await toolbox.NextFrameAsync(0);
        return toolbox;
    }

    public async Task<PageSnapshot> SnapshotAsync() =>
        (await Page.EvaluateAsync<JsonElement>(SnapshotScript)).Deserialize<PageSnapshot>(JsonSerializerOptions.Web)!;

    /// <summary>Waits until the page has received more than <paramref name="received"/> frames, then reads it.</summary>
    public async Task<PageSnapshot> NextFrameAsync(long received)
    {
        await Page.WaitForFunctionAsync("n => Number(document.getElementById('frame-seq').dataset.received ?? 0) > n", received,
            new() { Timeout = (float)FrameTimeout.TotalMilliseconds });
        return await SnapshotAsync();
    }

    /// <summary>Reads every new frame until one satisfies <paramref name="shows"/>; fails after <see cref="FrameTimeout"/>.</summary>
    public async Task<PageSnapshot> FrameWhereAsync(Func<PageSnapshot, bool> shows, string what)
    {
        var deadline = DateTime.UtcNow + FrameTimeout;
        var snapshot = await SnapshotAsync();
        while (!shows(snapshot))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no frame showed {what} within {FrameTimeout.TotalSeconds} s; the last: {snapshot}");
            snapshot = await NextFrameAsync(snapshot.Received);
        }
        return snapshot;
    }

    /// <summary>Waits until the input pane (the frame as the model sees it) shows <paramref name="image"/>, a gray image of the
    /// model's input size, give or take 1 per pixel.</summary>
    public async Task WaitForInputPaneAsync(Image8 image)
    {
        await Page.WaitForFunctionAsync("""
            expected => {
              const c = document.getElementById('input-canvas');
              if (c.width * c.height !== expected.length) return false;
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              return expected.every((v, i) => Math.abs(d[4 * i] - v) <= 1);
            }
            """, image.Pixels.Select(p => (int)p).ToArray(), new() { Timeout = (float)FrameTimeout.TotalMilliseconds });
    }

    /// <summary>Waits until the source video (camera or file) has played <paramref name="seconds"/> more.</summary>
    public async Task WaitForVideoAsync(double seconds)
    {
        double start = await Page.EvaluateAsync<double>("() => document.getElementById('source-video').currentTime");
        await Page.WaitForFunctionAsync("t => document.getElementById('source-video').currentTime >= t", start + seconds,
            new() { Timeout = (float)FrameTimeout.TotalMilliseconds });
    }

    /// <summary>A full-page screenshot in <see cref="ToolboxPageFixture.Screenshots"/>; returns its path.</summary>
    public async Task<string> ScreenshotAsync(string name)
    {
        string path = Path.Combine(ToolboxPageFixture.Screenshots, $"toolbox-{name}.png");
        await Page.ScreenshotAsync(new() { Path = path, FullPage = true });
        return path;
    }

    public async ValueTask DisposeAsync() => await context.DisposeAsync();
}
