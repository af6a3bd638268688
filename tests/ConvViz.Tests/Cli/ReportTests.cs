using Microsoft.Playwright;
using ConvViz.Tests.Support;
using Xunit.Abstractions;

namespace ConvViz.Tests.Cli;

/// <summary>
/// `convviz report` on the default model and its samples, opened in a real browser: Debian's
/// headless Chromium driven by Playwright (tests/run-all.sh installs chromium). Every image must
/// load, the page must log no console error, and a full-page screenshot is written beside the test
/// binaries (report-screenshot.png) for a person to look at.
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class ReportTests(ITestOutputHelper log)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task Report_LoadsInChromium_WithEveryImage_AndNoConsoleErrors()
    {
        string output = FashionMnist.TempFolder();
        var result = CliHarness.Run("report", "--out", output, "--samples", "2");
        Assert.True(result.Exit == 0, result.Error);
        string html = Path.Combine(output, "report.html");
        string text = File.ReadAllText(html);
        foreach (string section in new[] { "Activations", "Why &quot;", "The strongest unit of relu5", "Learned filters", "Saliency", "Deconvnet", "Guided backprop", "Grad-CAM", "Occlusion" })
            Assert.Contains(section, text);
        Assert.DoesNotContain("src=\"http", text); // self-contained: no external resources
        Assert.True(File.Exists(Path.Combine(output, "report.json")));

        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (tests/run-all.sh does)");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 900 } });
        var errors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") errors.Add(message.Text); };
        page.PageError += (_, error) => errors.Add(error);
        await page.GotoAsync(new Uri(html).AbsoluteUri, new() { WaitUntil = WaitUntilState.Load });

        int images = await page.EvaluateAsync<int>("() => document.images.length");
        int broken = await page.EvaluateAsync<int>("() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length");
        int captions = await page.EvaluateAsync<int>("() => document.querySelectorAll('figcaption').length");
        Assert.True(images >= 2 * 30, $"only {images} images on the page");
        Assert.Equal(0, broken);
        Assert.Equal(images, captions);
        Assert.Empty(errors);

        string screenshot = Path.Combine(AppContext.BaseDirectory, "report-screenshot.png");
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        Assert.True(new FileInfo(screenshot).Length > 10_000, "the screenshot is nearly empty");
        log.WriteLine($"report: {html}; {images} images; screenshot: {screenshot}");
    }
}
