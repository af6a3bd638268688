using ConvViz.Engine;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Toolbox;
using ConvViz.Engine.Visualization;
using ConvViz.Server;
using ConvViz.Tests.Support;
using Xunit.Abstractions;

namespace ConvViz.Tests.Server;

/// <summary>
/// The live toolbox page of `convviz serve` in headless Chromium (Playwright), on the default model, with a fake camera that
/// plays two bundled samples of different classes in turn. Each test reads the canvases' pixels and waits for the page's
/// frame counter to advance rather than sleeping; each writes full-page screenshots to screenshots/ beside the test binaries,
/// and fails on any console error of the page.
/// </summary>
public sealed class ToolboxPageTests(ToolboxPageFixture fixture, ITestOutputHelper log) : IClassFixture<ToolboxPageFixture>
{
    [Fact]
    public async Task Camera_LayerGridFollowsTheFrames_AndStopsChangingWhenFrozen()
    {
        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, fixture.Server.Address);
        var page = toolbox.Page;
        await page.ClickAsync("#camera-button");
        await page.WaitForFunctionAsync("() => document.getElementById('source-name').textContent === 'camera'");
        // Every frame after this one comes from the camera: samples are sent only when asked for.
        var snapshot = await toolbox.SnapshotAsync();

        var grids = new HashSet<string>();
        var topClasses = new HashSet<string>();
        string[] clipClasses = fixture.ClipSamples.Select(s => s.Class).ToArray();
        var deadline = DateTime.UtcNow + 8 * ToolboxPageFixture.ClipLength;
        while (grids.Count < 2 || !clipClasses.All(topClasses.Contains))
        {
            Assert.True(DateTime.UtcNow < deadline, $"in {grids.Count} different grids the camera frames' top classes were [{string.Join(", ", topClasses)}], expected {string.Join(" and ", clipClasses)}");
            snapshot = await toolbox.NextFrameAsync(snapshot.Received);
            grids.Add(snapshot.LayerGrid);
            topClasses.Add(snapshot.Top[0]);
        }
        log.WriteLine($"camera: {grids.Count} different layer grids up to frame {snapshot.Seq}; top classes {string.Join(", ", topClasses)}; {await toolbox.ScreenshotAsync("camera")}");

        await page.Keyboard.PressAsync("f");
        // A frame sent just before f may still come back; after that nothing does, while the camera shows both samples.
        await page.WaitForFunctionAsync("() => document.getElementById('frame-seq').dataset.waiting === 'false'");
        var frozen = await toolbox.SnapshotAsync();
        await toolbox.WaitForVideoAsync(ToolboxPageFixture.ClipLength.TotalSeconds + 0.2);
        var later = await toolbox.SnapshotAsync();
        Assert.Equal(frozen.Received, later.Received);
        Assert.Equal(frozen.LayerGrid, later.LayerGrid);
        log.WriteLine($"frozen at frame {frozen.Seq}: {await toolbox.ScreenshotAsync("frozen")}");

        // Frozen, the frame still follows the selection.
        await page.Keyboard.PressAsync("l");
        var moved = await toolbox.FrameWhereAsync(s => s.Unit == frozen.Unit + 1, "the next unit while frozen");
        Assert.Equal(frozen.Input, moved.Input);
        Assert.Equal(frozen.Seq, moved.Seq);

        await page.Keyboard.PressAsync("f");
        await toolbox.NextFrameAsync(moved.Received);
        Assert.Empty(toolbox.Errors);
    }

    [Fact]
    public async Task Samples_InputPaneIsTheSample_AndTheTopClassIsItsClass()
    {
        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, fixture.Server.Address);
        var page = toolbox.Page;
        foreach (var (sample, className) in fixture.ClipSamples)
        {
            await page.FillAsync("#sample-number", sample.Number.ToString());
            await page.PressAsync("#sample-number", "Tab");
            // The input pane is the frame as the model sees it: for a 28x28 gray sample, the sample itself.
            await toolbox.WaitForInputPaneAsync(sample.Image);
            var snapshot = await toolbox.SnapshotAsync();
            Assert.Equal(5, snapshot.Top.Length);
            Assert.Equal(className, snapshot.Top[0]);
            log.WriteLine($"sample {sample.Number}: top-5 {string.Join(", ", snapshot.Top)}");
        }
        log.WriteLine(await toolbox.ScreenshotAsync("sample"));
        Assert.Empty(toolbox.Errors);
    }

    [Fact]
    public async Task Keys_MoveTheSelectedUnit_AndTheBackPaneFollowsTheUnitAndItsMode()
    {
        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, fixture.Server.Address);
        var page = toolbox.Page;
        var outline = page.Locator("#unit-outline");
        var first = await toolbox.SnapshotAsync();
        Assert.Equal(0, first.Unit);
        Assert.Equal(nameof(BackMode.Gradient), first.BackMode);
        Assert.NotEqual("", first.Back);
        var tile0 = (await outline.BoundingBoxAsync())!;

        await page.Keyboard.PressAsync("ArrowRight");
        var right = await toolbox.FrameWhereAsync(s => s.Unit == 1, "unit 1 after →");
        var tile1 = (await outline.BoundingBoxAsync())!;
        Assert.True(tile1.X > tile0.X && tile1.Y == tile0.Y, $"the outline moved from ({tile0.X}, {tile0.Y}) to ({tile1.X}, {tile1.Y}), expected right");
        Assert.NotEqual(first.Back, right.Back);
        Assert.Equal(first.LayerGrid, right.LayerGrid);

        await page.Keyboard.PressAsync("k");
        var down = await toolbox.FrameWhereAsync(s => s.Unit > 1, "a unit one row down after k");
        var tileBelow = (await outline.BoundingBoxAsync())!;
        Assert.True(tileBelow.X == tile1.X && tileBelow.Y > tile1.Y, $"the outline moved from ({tile1.X}, {tile1.Y}) to ({tileBelow.X}, {tileBelow.Y}), expected down");
        await page.Keyboard.PressAsync("i");
        await toolbox.FrameWhereAsync(s => s.Unit == 1, "unit 1 again after i");

        // The tile right of unit 1's: a click selects unit 2, and hovering names its channel.
        double stride = tile1.X - tile0.X;
        await page.Mouse.MoveAsync((float)(tile1.X + stride + tile1.Width / 2), (float)(tile1.Y + tile1.Height / 2));
        Assert.Equal("channel 2", await page.Locator("#tile-tooltip").TextContentAsync());
        await page.Mouse.ClickAsync((float)(tile1.X + stride + tile1.Width / 2), (float)(tile1.Y + tile1.Height / 2));
        var clicked = await toolbox.FrameWhereAsync(s => s.Unit == 2, "unit 2 after a click on its tile");

        await page.Keyboard.PressAsync("b");
        var deconvnet = await toolbox.FrameWhereAsync(s => s.BackMode == nameof(BackMode.Deconvnet), "the deconvnet back pane after b");
        Assert.NotEqual(clicked.Back, deconvnet.Back);
        Assert.Equal(2, deconvnet.Unit);
        log.WriteLine($"deconvnet of unit 2: {await toolbox.ScreenshotAsync("deconvnet")}");
        // n cycles the display: Gray (a gray model's Raw already is), then Norm.
        await page.Keyboard.PressAsync("n");
        await toolbox.FrameWhereAsync(s => s.BackDisplay == nameof(GradientDisplay.Gray), "the gray display after n");
        await page.Keyboard.PressAsync("n");
        var norm = await toolbox.FrameWhereAsync(s => s.BackDisplay == nameof(GradientDisplay.Norm), "the norm display after n");
        Assert.NotEqual(deconvnet.Back, norm.Back);
        await page.Keyboard.PressAsync("b");
        await toolbox.FrameWhereAsync(s => s.BackMode == nameof(BackMode.Guided), "guided backprop after b");
        await page.Keyboard.PressAsync("b");
        var off = await toolbox.FrameWhereAsync(s => s.BackMode == nameof(BackMode.Off), "no back pane after b");
        Assert.Equal("", off.Back);
        Assert.Equal(norm.LayerGrid, off.LayerGrid);

        await page.Keyboard.PressAsync("o");
        var nextLayer = await toolbox.FrameWhereAsync(s => s.Layer != first.Layer, "the next layer after o");
        Assert.NotEqual(first.LayerGrid, nextLayer.LayerGrid);
        await page.Keyboard.PressAsync("t");
        var boosted = await toolbox.FrameWhereAsync(s => s.Boost, "the boosted grid after t");
        Assert.NotEqual(nextLayer.LayerGrid, boosted.LayerGrid);
        Assert.Equal("true", await page.Locator("#boost-button").GetAttributeAsync("aria-pressed"));

        await page.Keyboard.PressAsync("h");
        var help = page.Locator("#help");
        Assert.True(await help.IsVisibleAsync());
        string keys = (await help.TextContentAsync())!;
        foreach (string key in new[] { "j l", "i k", "u o", "b", "n", "t", "f", "g", "s / shift+s" })
            Assert.Contains(key, keys);
        log.WriteLine($"help: {await toolbox.ScreenshotAsync("help")}");
        await page.Keyboard.PressAsync("Escape");
        Assert.False(await help.IsVisibleAsync());
        Assert.Empty(toolbox.Errors);
    }

    [Fact]
    public async Task LayerByLayer_ListsEveryLayerDownToTheInput_AndStepsThroughTheBackwardPass()
    {
        BackwardTrace trace;
        using (var bundle = fixture.OpenModel())
        using (var live = new LiveToolbox(bundle))
            trace = live.Trace(bundle.Sample(0).Image, live.DefaultSelection);

        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, fixture.Server.Address);
        var page = toolbox.Page;
        await page.Keyboard.PressAsync("g");
        string[] expected = trace.Gradients.Select(g => g.Layer).ToArray();
        Assert.Equal(BackwardTrace.InputName, expected[^1]);
        await page.WaitForFunctionAsync("n => document.querySelectorAll('#trace-list li canvas').length === n && [...document.querySelectorAll('#trace-list li canvas')].every(c => c.width > 1)", expected.Length);
        string[] listed = await page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('#trace-list li')].map(li => li.dataset.layer)");
        Assert.Equal(expected, listed);

        await page.Keyboard.PressAsync("s");
        await page.WaitForFunctionAsync("n => document.getElementById('step-position').textContent === `step 1 of ${n}`", trace.Steps.Count);
        string step1 = (await page.Locator("#step-explanation").TextContentAsync())!;
        Assert.Contains(trace.Steps[0].Layer, step1);
        Assert.Contains(trace.Steps[0].Explanation, step1);
        Assert.Equal(2, await page.Locator("#step-explanation table").CountAsync());
        await page.Keyboard.PressAsync("s");
        Assert.Contains(trace.Steps[1].Explanation, (await page.Locator("#step-explanation").TextContentAsync())!);
        Assert.Equal($"step 2 of {trace.Steps.Count}", await page.Locator("#step-position").TextContentAsync());
        Assert.Equal(trace.Steps[1].After.Layer, await page.Locator("#trace-list li.current").GetAttributeAsync("data-layer"));
        log.WriteLine($"layer by layer, step 2 ({trace.Steps[1].Layer}): {await toolbox.ScreenshotAsync("layer-by-layer")}");
        await page.Keyboard.PressAsync("Shift+S");
        Assert.Equal($"step 1 of {trace.Steps.Count}", await page.Locator("#step-position").TextContentAsync());
        Assert.Empty(toolbox.Errors);
    }

    [Fact]
    public async Task DroppedImage_And_VideoFile_BecomeTheFrames()
    {
        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, fixture.Server.Address);
        var page = toolbox.Page;
        var (sample, className) = fixture.ClipSamples[1];
        await page.EvaluateAsync("""
            base64 => {
              const bytes = Uint8Array.from(atob(base64), c => c.charCodeAt(0));
              const transfer = new DataTransfer();
              transfer.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
              document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
            """, Convert.ToBase64String(ImageFile.EncodePng(sample.Image)));
        await toolbox.WaitForInputPaneAsync(sample.Image);
        Assert.Equal(className, (await toolbox.SnapshotAsync()).Top[0]);
        Assert.Equal("image dropped.png", await page.Locator("#source-name").TextContentAsync());

        // A WebM the browser records from a canvas that alternates the two samples, opened with the file picker.
        await page.EvaluateAsync("""
            async samples => {
              const canvas = document.createElement('canvas');
              canvas.width = canvas.height = 28;
              const context = canvas.getContext('2d');
              const recorder = new MediaRecorder(canvas.captureStream(20), { mimeType: 'video/webm' });
              const chunks = [];
              recorder.ondataavailable = event => chunks.push(event.data);
              const stopped = new Promise(resolve => { recorder.onstop = resolve; });
              recorder.start();
              for (let frame = 0; frame < 16; frame++) {
                const gray = samples[Math.floor(frame / 4) % 2];
                const image = context.createImageData(28, 28);
                gray.forEach((v, i) => { image.data.set([v, v, v, 255], 4 * i); });
                context.putImageData(image, 0, 0);
                await new Promise(resolve => setTimeout(resolve, 100));
              }
              recorder.stop();
              await stopped;
              const transfer = new DataTransfer();
              transfer.items.add(new File(chunks, 'clip.webm', { type: 'video/webm' }));
              const input = document.getElementById('file-input');
              input.files = transfer.files;
              input.dispatchEvent(new Event('change'));
            }
            """, fixture.ClipSamples.Select(s => s.Sample.Image.Pixels.Select(p => (int)p).ToArray()).ToArray());
        Assert.Equal("video clip.webm", await page.Locator("#source-name").TextContentAsync());
        var snapshot = await toolbox.SnapshotAsync();
        var inputs = new HashSet<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (inputs.Count < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the video's frames showed {inputs.Count} different input panes in 15 s");
            inputs.Add((snapshot = await toolbox.NextFrameAsync(snapshot.Received)).Input);
        }
        log.WriteLine($"video: {inputs.Count} different input panes by frame {snapshot.Seq}; {await toolbox.ScreenshotAsync("video")}");
        Assert.Empty(toolbox.Errors);
    }

    [Fact]
    public async Task Upload_Of50MB_IsRefused_AndThePageKeepsWorking()
    {
        string huge = Path.Combine(FashionMnist.TempFolder(), "huge.png");
        using (var file = File.Create(huge))
        {
            file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
            file.SetLength(50L << 20);
        }
        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, fixture.Server.Address);
        var page = toolbox.Page;
        var before = await toolbox.SnapshotAsync();
        await page.SetInputFilesAsync("#file-input", huge);
        await page.WaitForSelectorAsync("#message:not([hidden])", new() { Timeout = 30_000 });
        string message = (await page.Locator("#message").TextContentAsync())!;
        Assert.False(string.IsNullOrWhiteSpace(message));
        log.WriteLine($"50 MB upload: \"{message}\"; {await toolbox.ScreenshotAsync("upload-refused")}");

        await page.Keyboard.PressAsync("l");
        var after = await toolbox.FrameWhereAsync(s => s.Unit == before.Unit + 1, "the next unit after the refused upload");
        Assert.Equal("", after.Message);
        Assert.Equal(before.Input, after.Input);
        Assert.Empty(toolbox.Errors);
    }

    [Fact]
    public async Task ClosedConnection_ThePageReconnects_AndShowsItsFrameAgain()
    {
        await using var first = await ToolboxServer.StartAsync(fixture.OpenModel, new ToolboxServerOptions { Port = 0 });
        int port = first.Address.Port;
        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, first.Address);
        var page = toolbox.Page;
        await page.Keyboard.PressAsync("l");
        var before = await toolbox.FrameWhereAsync(s => s.Unit == 1, "unit 1 after l");
        await first.StopAsync();
        await page.WaitForSelectorAsync("#connection[data-state=closed]");

        // The same address again: the page reconnects by itself and sends its selection and its sample again.
        await using var second = await ToolboxServer.StartAsync(fixture.OpenModel, new ToolboxServerOptions { Port = port });
        var after = await toolbox.NextFrameAsync(before.Received);
        Assert.Equal("open", await page.Locator("#connection").GetAttributeAsync("data-state"));
        Assert.Equal(1, after.Unit);
        Assert.Equal(before.Input, after.Input);
        Assert.Equal(before.LayerGrid, after.LayerGrid);
        Assert.All(toolbox.Errors, e => Assert.Contains("ERR_CONNECTION_REFUSED", e));
    }

    [Fact]
    public async Task OptimizeButton_ComputesTheUnitsImageInTheBackground_AndShowsIt()
    {
        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, fixture.Server.Address);
        var page = toolbox.Page;
        Assert.False(await page.Locator("#atlas-view").IsVisibleAsync());
        // The progress bar shows between the click and the image: an observer notes the largest fraction it showed.
        await page.EvaluateAsync("""
            () => {
              const bar = document.getElementById('optimize-progress');
              window.progressShown = 0;
              new MutationObserver(() => { if (!bar.hidden) window.progressShown = Math.max(window.progressShown, bar.value / bar.max); })
                .observe(document.getElementById('wants-pane'), { subtree: true, attributes: true, childList: true, characterData: true });
            }
            """);
        await page.ClickAsync("#optimize-button");
        await page.WaitForFunctionAsync("() => { const i = document.getElementById('optimized-image'); return !document.getElementById('optimized-figure').hidden && i.complete && i.naturalWidth > 0; }",
            null, new() { Timeout = 60_000 });
        Assert.False(await page.Locator("#optimize-view").IsVisibleAsync());
        double progress = await page.EvaluateAsync<double>("() => window.progressShown");
        Assert.True(progress > 0, "the progress bar never showed progress");
        log.WriteLine($"optimized: {await toolbox.ScreenshotAsync("optimized")}");
        Assert.Empty(toolbox.Errors);
    }

    [Fact]
    public async Task Atlas_UnitPaneShowsNinePatches_TheirDeconvs_AndTheOptimizedImage()
    {
        // A tiny atlas: units 0 and 1 of relu5 (the layer the page starts on) over 40 test images, 6 optimization steps.
        string root = FashionMnist.TempFolder();
        var data = FashionMnist.Test.Take(40);
        using (var bundle = fixture.OpenModel())
            AtlasRuns.Run(bundle, data, new AtlasOptions { Layers = ["relu5"], Units = [0, 1], BatchSize = 20, Iterations = 6, OptimizationBatch = 2 },
                new RunOutputs(new ExperimentCard("atlas", bundle.Source, data.Source), root, Path.Combine(root, Atlas.RunFolder)));
        await using var server = await ToolboxServer.StartAsync(fixture.OpenModel, new ToolboxServerOptions { Port = 0, Atlas = root });
        await using var toolbox = await ToolboxPage.OpenAsync(fixture.Browser, server.Address);
        var page = toolbox.Page;

        string[] unit0 = await AtlasImagesAsync(page);
        Assert.Equal(0, (await toolbox.SnapshotAsync()).Unit);
        log.WriteLine($"atlas, unit 0: {await toolbox.ScreenshotAsync("atlas")}");

        await page.Keyboard.PressAsync("l");
        await page.WaitForFunctionAsync("first => document.querySelector('#atlas-patches img')?.getAttribute('src') !== first", unit0[0]);
        string[] unit1 = await AtlasImagesAsync(page);
        Assert.Empty(unit0.Intersect(unit1));

        // A unit the atlas does not cover: said so, and the button to optimize it instead.
        await page.Keyboard.PressAsync("l");
        await page.WaitForSelectorAsync("#atlas-missing:not([hidden])");
        Assert.True(await page.Locator("#optimize-button").IsVisibleAsync());
        Assert.Equal(0, await page.Locator("#atlas-patches img").CountAsync());
        // The browser logs the server's 404 for that unit; nothing else went wrong.
        Assert.All(toolbox.Errors, e => Assert.Contains("404", e));
        Assert.All(toolbox.Errors, e => Assert.Contains("/api/atlas?layer=relu5&unit=2", e));
    }

    /// <summary>Waits until the page shows an atlas unit whole (9 patches, 9 deconvolutions and the optimized image, every
    /// one loaded) and returns the addresses of those 19 images.</summary>
    private static async Task<string[]> AtlasImagesAsync(Microsoft.Playwright.IPage page)
    {
        await page.WaitForFunctionAsync("""
            () => {
              const images = [...document.querySelectorAll('#atlas-patches img, #atlas-deconvs img'), document.getElementById('optimized-image')];
              return document.querySelectorAll('#atlas-patches img').length === 9 && document.querySelectorAll('#atlas-deconvs img').length === 9 &&
                !document.getElementById('optimized-figure').hidden && images.every(i => i.complete && i.naturalWidth > 0);
            }
            """);
        Assert.False(await page.Locator("#optimize-view").IsVisibleAsync());
        return await page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('#atlas-patches img, #atlas-deconvs img'), document.getElementById('optimized-image')].map(i => i.getAttribute('src'))");
    }
}
