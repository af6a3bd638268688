using System.Diagnostics;
using ConvViz.Engine.Figures;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;

namespace ConvViz.Engine.Visualization;

/// <summary>A style transfer as run: its result (with the resolved options) and the stylized image's path.</summary>
public sealed record StyleRun(StyleResult Result, string Image);

/// <summary>
/// Neural style with its outputs: the content and style images as the model sees them
/// (&lt;content&gt;-content.png, &lt;style&gt;-style.png) and the stylized image
/// (&lt;content&gt;-&lt;style&gt;-&lt;content layer&gt;&lt;settings&gt;-stylized.png, the settings that differ from the
/// defaults), so runs with other images, layers or weights into one folder keep each other's images; each enlarged to
/// at least 224 pixels a side with crisp pixels. With labels, the loss terms by iteration are drawn as a chart
/// (...-stylized-losses.png).
/// </summary>
public static class StyleRuns
{
    /// <summary>"-relu4-sw10000-it5": the content layer and the settings of resolved <paramref name="options"/> that differ from the defaults on <paramref name="network"/>.</summary>
    public static string SettingsStem(StyleOptions options, Network network) =>
        $"-{FileNames.ForLayer(options.ContentLayer ?? "")}{options.DifferencesFrom(new StyleOptions().Resolve(network))}";

    /// <summary>
    /// Stylizes <paramref name="content"/> after <paramref name="style"/> (both model inputs of the model's size) and writes the
    /// images; with <paramref name="rawPath"/>, the stylized image as a float32 .npy (1, C, H, W). The card gets the resolved
    /// options, the loss curves and the timings.
    /// </summary>
    public static StyleRun Run(ModelBundle bundle, NamedInput content, NamedInput style, StyleOptions options, RunOutputs outputs, string? rawPath = null,
        IProgress<StyleProgress>? progress = null, CancellationToken cancellation = default)
    {
        var p = bundle.Preprocessing;
        options = options.Resolve(bundle.Network);
        outputs.RequireFont();
        var card = outputs.Card;
        card.Parameters["style"] = style.Description;
        card.Parameters["options"] = options;

        var stepMs = new List<double>();
        var step = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        var timed = new ProgressAction<StyleProgress>(s =>
        {
            if (s.Iteration > 0) stepMs.Add(step.Elapsed.TotalMilliseconds);
            step.Restart();
            progress?.Report(s);
        });
        var result = NeuralStyle.Run(bundle.Network, p, content.Values, style.Values, options, timed, cancellation);
        card.TimingsMs["style"] = clock.Elapsed.TotalMilliseconds;
        card.TimingsMs["meanStep"] = stepMs.Count > 0 ? stepMs.Average() : 0;

        string contentName = FileNames.ForLayer(content.Name), styleName = FileNames.ForLayer(style.Name);
        string stem = $"{contentName}-{styleName}{SettingsStem(options, bundle.Network)}-stylized";
        string image = outputs.Enlarged($"{stem}.png", ImageTensors.ToImage(result.Image, p));
        outputs.Enlarged($"{contentName}-content.png", ImageTensors.ToImage(content.Values, p));
        outputs.Enlarged($"{styleName}-style.png", ImageTensors.ToImage(style.Values, p));
        outputs.Chart($"{stem}-losses.png", () => LossChart(result.Losses, $"Neural style of {content.Name} after {style.Name}: the weighted losses by iteration"));
        if (rawPath is not null) outputs.Tensor(rawPath, result.Image, p.Channels, p.Height, p.Width);
        card.Results["final"] = result.Final;
        card.Results["evaluations"] = result.Evaluations;
        card.Results["stop"] = result.Stop;
        card.Results["content"] = result.Losses.Select(l => l.Content);
        card.Results["style"] = result.Losses.Select(l => l.Style);
        card.Results["tv"] = result.Losses.Select(l => l.TotalVariation);
        return new StyleRun(result, image);
    }

    /// <summary>The content, style and total-variation terms and their total by iteration (0: the start), without a term that is 0 throughout;
    /// on a logarithmic axis when every value is positive.</summary>
    internal static LineChart LossChart(IReadOnlyList<StyleLosses> losses, string title)
    {
        var x = Enumerable.Range(0, losses.Count).Select(i => (double)i).ToArray();
        var series = new[]
        {
            new ChartSeries("total", x, losses.Select(l => l.Total).ToArray()),
            new ChartSeries("content", x, losses.Select(l => l.Content).ToArray()),
            new ChartSeries("style", x, losses.Select(l => l.Style).ToArray()),
            new ChartSeries("total variation", x, losses.Select(l => l.TotalVariation).ToArray()),
        }.Where(s => s.Y.Any(v => v != 0)).ToArray();
        return new LineChart(title, "iteration", "loss", series) { LogY = series.All(s => s.Y.All(v => !double.IsFinite(v) || v > 0)) };
    }
}
