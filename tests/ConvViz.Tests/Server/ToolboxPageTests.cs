using ConvViz.Engine.Toolbox;
using ConvViz.Engine.Visualization;
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
        await toolbox.WaitForVideoAsync(0.3);
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
            await page.WaitForFunctionAsync("""
                expected => {
                  const c = document.getElementById('input-canvas');
                  if (c.width * c.height !== expected.length) return false;
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  return expected.every((v, i) => Math.abs(d[4 * i] - v) <= 1);
                }
                """, sample.Image.Pixels.Select(p => (int)p).ToArray());
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
    public async Task Upload_Of50MB_IsRefused_AndThePageKeepsWorking()
    {
        string huge = Path.Combine(Support.FashionMnist.TempFolder(), "huge.png");
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
}
