using System.Globalization;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>A captioned image of a report.</summary>
public sealed record ReportFigure(Image8 Image, string Caption)
{
    /// <summary>The figure's anchor on the page; with <see cref="Name"/>, it is listed in the table of contents.</summary>
    public string? Id { get; init; }

    /// <summary>The figure's name in the table of contents: "saliency", "occlusion".</summary>
    public string? Name { get; init; }
}

/// <summary>A table of a report: its header and rows of cells.</summary>
public sealed record ReportTable(IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>One section of a report, shown in this order: heading (level 2 or 3), paragraph, figures (each at
/// least <paramref name="MinimumFigureWidth"/> pixels wide on the page), table. A section collapses to its heading; a
/// level-2 section holds the level-3 sections after it.</summary>
public sealed record ReportSection(string Heading, int Level, string? Paragraph, IReadOnlyList<ReportFigure> Figures, ReportTable? Table = null,
    int MinimumFigureWidth = 168)
{
    /// <summary>The section's anchor on the page; a section with one is listed in the table of contents.</summary>
    public string? Id { get; init; }

    /// <summary>Whether the section is open when the page loads (closed, it shows its heading only, until clicked or linked to).</summary>
    public bool Open { get; init; } = true;
}

/// <summary>The page model of a report: title, the paragraph about the model, what a reader must know before believing it
/// (<see cref="Notices"/>), then a table of contents of the anchored sections and the sections.</summary>
public sealed record ReportModel(string Title, string Summary, IReadOnlyList<ReportSection> Sections)
{
    /// <summary>Set off under the summary: the model's weights are random, it has no classes.</summary>
    public IReadOnlyList<string> Notices { get; init; } = [];

    /// <summary>The anchored sections as table-of-contents lines, each with its anchored, named figures as parts.</summary>
    public IReadOnlyList<ReportContentsEntry> Contents => Sections.Where(s => s.Id is not null).Select(s => new ReportContentsEntry(s.Heading, s.Id!, s.Level,
        s.Figures.Where(f => f.Id is not null && f.Name is not null).Select(f => (f.Name!, f.Id!)).ToArray())).ToArray();

    /// <summary>The page as one self-contained HTML document (images as data URIs).</summary>
    public string ToHtml()
    {
        var page = new ReportPage(Title);
        page.Paragraph(Summary);
        foreach (string notice in Notices) page.Notice(notice);
        if (Contents.Count > 0) page.Contents(Contents);
        bool inLevel2 = false;
        foreach (var section in Sections)
        {
            if (section.Level <= 2 && inLevel2) page.EndSection();
            page.BeginSection(section.Heading, section.Level, section.Id, section.Open);
            if (section.Paragraph is not null) page.Paragraph(section.Paragraph);
            if (section.Figures.Count > 0) page.Figures(section.Figures, section.MinimumFigureWidth);
            if (section.Table is { } table) page.Table([.. table.Header], table.Rows.Select(r => r.ToArray()));
            if (section.Level <= 2) inLevel2 = true;
            else page.EndSection();
        }
        if (inLevel2) page.EndSection();
        return page.ToHtml();
    }
}

/// <summary>What a report shows beyond its defaults: <see cref="AllLayers"/> adds the activations of every layer that computes
/// something (conv and fully connected pre-activations, LRN, the class scores) to the rectifier and pooling outputs.</summary>
public sealed record ReportOptions
{
    public bool AllLayers { get; init; }
}

/// <summary>Images reported so far, out of <paramref name="Total"/>; <paramref name="Name"/> is the one in progress (null when done).</summary>
public readonly record struct ReportProgress(int Images, int Total, string? Name);

/// <summary>
/// One page about a model and some images. Under the summary, what a reader must know first (random weights, no
/// classes), then a table of contents with an anchor per image, per section and per method. For each image, a
/// collapsible section: the input as the model sees it and its top-5 classes; the activations (closed at first) of the
/// layers that matter, the rectifier and pooling outputs, one labelled grid each (<see cref="ReportOptions.AllLayers"/>
/// adds conv and fully connected pre-activations, LRN and the class scores; dropout, flatten and reshape layers, whose
/// outputs repeat their inputs, never appear); saliency, deconvnet, guided backprop, Grad-CAM and occlusion for the top
/// class (open) and for the strongest unit of the last conv layer (closed, open for a model without classes). Then the
/// learned filters once (closed). Grad-CAM and occlusion are drawn in their real values over a colour bar; occlusion
/// slides black patches (<see cref="OcclusionOptions"/>' default), which the caption says.
/// </summary>
public static class Report
{
    public const string FileName = "report.html";

    /// <summary>The tile size of the activation grids: small, as the Toolbox's; a grid is a sketch of the layer.</summary>
    private const int ActivationTilePixels = 12;

    /// <summary>How wide a method's view is shown: a 28x28 input six times, so the seven views of a target fit one row of a
    /// 1400-pixel page.</summary>
    private const int ViewPixels = 168;

    /// <summary>Composes the page for <paramref name="images"/> (name, image) and writes it to
    /// <paramref name="outFolder"/>/report.html; returns the page model and the file written.</summary>
    /// <param name="options">What to show beyond the defaults (null: the defaults).</param>
    public static (ReportModel Page, string File) Write(ModelBundle bundle, IReadOnlyList<(string Name, Image8 Image)> images, string outFolder,
        ReportOptions? options = null, IProgress<ReportProgress>? progress = null, CancellationToken cancellation = default)
    {
        var page = Compose(bundle, images, options, progress, cancellation);
        Directory.CreateDirectory(outFolder);
        string file = Path.Combine(outFolder, FileName);
        AtomicFile.WriteAllText(file, page.ToHtml());
        return (page, file);
    }

    /// <summary>The images a report shows when none are given: the first sample of each of the first
    /// <paramref name="count"/> classes of the bundle's samples; for a model without classes, its first samples.</summary>
    public static IReadOnlyList<(string Name, Image8 Image)> SampleImages(ModelBundle bundle, int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (bundle.SampleCount == 0) throw new ArgumentException($"{bundle.Source} has no samples to report on; give the report its images", nameof(bundle));
        if (!bundle.HasClasses)
            return Enumerable.Range(0, Math.Min(count, bundle.SampleCount)).Select(n => ($"sample {n}", bundle.Sample(n).Image)).ToList();
        // Samples are read in order until classes 0..count-1 each have one (a data set's first images cover them all).
        var firstOfClass = new SortedDictionary<int, BundleSample>();
        for (int n = 0; n < bundle.SampleCount && !Enumerable.Range(0, count).All(firstOfClass.ContainsKey); n++)
            if (bundle.Sample(n) is { Label: var label } sample && label < bundle.Classes.Count) firstOfClass.TryAdd(label, sample);
        return firstOfClass.Values.Take(count).Select(s => ($"sample {s.Number} (a {bundle.Classes[s.Label]})", s.Image)).ToList();
    }

    /// <summary>The page model for <paramref name="images"/>, without writing it.</summary>
    /// <param name="options">What to show beyond the defaults (null: the defaults).</param>
    public static ReportModel Compose(ModelBundle bundle, IReadOnlyList<(string Name, Image8 Image)> images, ReportOptions? options = null,
        IProgress<ReportProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (images.Count == 0) throw new ArgumentException("a report needs at least one image", nameof(images));
        options ??= new ReportOptions();
        FigureFont.Require();
        var network = bundle.Network;
        var backend = network.Parameters.First().Value.Backend;
        string summary = $"Model {bundle.Source}: {network.Layers.Count} layers, input {string.Join("x", network.SampleShape.ToArray())}, " +
                         $"{(bundle.HasClasses ? $"{bundle.Classes.Count} classes" : "no classifier (its last layer outputs features)")}. Preprocessing: {bundle.Preprocessing}. " +
                         (bundle.Notes.Count > 0 ? $"Notes: {string.Join("; ", bundle.Notes)}. " : "") +
                         $"Made by ConvViz on {backend.Description}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.";
        var sections = new List<ReportSection>();
        for (int i = 0; i < images.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            progress?.Report(new ReportProgress(i, images.Count, images[i].Name));
            sections.AddRange(ImageSections(bundle, backend, $"image-{i + 1}", images[i].Name, images[i].Image, options));
        }
        sections.Add(FilterSection(bundle, backend));
        progress?.Report(new ReportProgress(images.Count, images.Count, null));
        return new ReportModel($"ConvViz report: {bundle.Source}", summary, sections) { Notices = Notices(bundle) };
    }

    /// <summary>What a reader must know before believing the page.</summary>
    internal static IReadOnlyList<string> Notices(ModelBundle bundle)
    {
        var notices = new List<string>();
        if (bundle.RandomWeights)
            notices.Add($"The weights of {bundle.Source} are random, not trained: its class scores and every picture below show what the architecture does " +
                        "to an image before any learning, not what a trained network has learned.");
        if (!bundle.HasClasses)
        {
            var last = bundle.Network.Layers[^1];
            notices.Add($"{bundle.Source} has no classes: its last layer, {last.Name}, outputs {bundle.Network.OutputShape(last.Name, 1).SampleSize} features, not class scores. " +
                        "There is no top-5 and no class to explain; each image's strongest unit is explained instead.");
        }
        return notices;
    }

    private static IEnumerable<ReportSection> ImageSections(ModelBundle bundle, Backend backend, string id, string name, Image8 image, ReportOptions options)
    {
        var network = bundle.Network;
        var p = bundle.Preprocessing;
        using var x = backend.Upload(ImageTensors.ToInput(image, p), network.InputShape(1));
        using var pass = network.Forward(x);
        var seen = ImageTensors.ToImage(backend.Download(x), p);

        var top = bundle.HasClasses ? ClassPredictions.Top(network, backend.Download(pass.Last), 5) : null;
        var topTable = top is null ? null : new ReportTable(["#", "class", "name", "probability"],
            top.Select((t, r) => (IReadOnlyList<string>)[(r + 1).ToString(CultureInfo.InvariantCulture), t.Index.ToString(CultureInfo.InvariantCulture), bundle.Classes[t.Index], t.Probability.ToString("F4", CultureInfo.InvariantCulture)]).ToArray());
        var shown = network.Layers.Select((layer, i) => (Layer: layer, Index: i)).Where(l => options.AllLayers ? !RepeatsItsInput(l.Layer) : MattersByDefault(l.Layer)).ToArray();
        var sections = new List<ReportSection>
        {
            new(name, 2, null, [new(seen, "The input as the model sees it (after resizing, cropping and channel conversion).")], topTable) { Id = id },
            new("Activations", 3,
                (options.AllLayers
                    ? "The output of every layer that computes something, "
                    : "The output of each rectifier (ReLU) and pooling layer, the layers whose maps the network passes on (conv and fully connected pre-activations, " +
                      "LRN and the class scores only on request), ") +
                "one tile per channel, numbered (named by class on the class scores), all tiles of a layer on one gray scale whose real values the bar gives, " +
                "as in the Deep Visualization Toolbox. Dropout, flatten and reshape layers are left out: their outputs repeat their inputs.",
                shown.SelectMany(l =>
                {
                    var y = pass.Outputs[l.Index].Y;
                    return LayerFigures.Activations(backend.Download(y), y.Shape, $"{l.Layer.Name} ({l.Layer.OpType})", Normalization.PerLayer, Colormap.Gray,
                            ActivationTilePixels, labels: true, UnitNames.ClassesOf(bundle, l.Layer.Name))
                        .Select((page, k) => new ReportFigure(page, $"{l.Layer.Name} ({l.Layer.OpType}): {Describe(y.Shape)}{(k > 0 ? $", page {k + 1}" : "")}"));
                }).ToArray(), MinimumFigureWidth: 0) { Id = $"{id}-activations", Open = false },
        };
        if (top is not null)
        {
            var classTarget = new Target(ClassPredictions.LogitLayer(bundle.Network), top[0].Index);
            sections.Add(new(FormattableString.Invariant($"Why \"{bundle.Classes[top[0].Index]}\" (class {top[0].Index}, probability {top[0].Probability:F3})"), 3, HeatmapNote,
                Views(bundle, backend, x, seen, classTarget, isClass: true, GradCamLayer(network, classTarget), $"{id}-class")) { Id = $"{id}-class" });
        }
        var unit = StrongestUnit(network, backend, pass);
        sections.Add(new($"The strongest unit of {unit.Layer}: channel {unit.Channel} at ({unit.Y}, {unit.X})", 3,
            $"The channel of {unit.Layer} with the highest activation anywhere for this input, explained at its peak. {HeatmapNote}",
            Views(bundle, backend, x, seen, unit, isClass: false, GradCamLayer(network, unit), $"{id}-unit")) { Id = $"{id}-unit", Open = top is null });
        return sections;
    }

    private const string HeatmapNote = "Grad-CAM and occlusion are drawn in their real values: the colour bar under each runs from the map's lowest to its " +
                                       "highest value, so a small effect is read as small whatever its colour.";

    /// <summary>Whether a layer is shown by default: a rectifier (ReLU, ReLU6) or a pooling layer.</summary>
    internal static bool MattersByDefault(Layer layer) => LayerRoles.IsRectifier(layer) || layer is MaxPoolLayer or AveragePoolLayer;

    /// <summary>Whether a layer's output holds its input's values unchanged (dropout at inference, flatten, reshape): never shown.</summary>
    internal static bool RepeatsItsInput(Layer layer) => layer is DropoutLayer or ReshapeLayer;

    /// <summary>Saliency, deconvnet, guided backprop, Grad-CAM, guided Grad-CAM and occlusion for one target, each anchored at
    /// <paramref name="id"/>-&lt;method&gt;.</summary>
    private static List<ReportFigure> Views(ModelBundle bundle, Backend backend, Tensor x, Image8 seen, Target target, bool isClass, string? camLayer, string id)
    {
        var p = bundle.Preprocessing;
        var network = bundle.Network;
        float sigma = Attribution.DefaultBlurSigma(p);
        var gradients = Attribution.InputGradients(network, x, target, ReluRule.Gradient, ReluRule.Deconvnet, ReluRule.Guided);
        var (gradient, deconv, guided) = (gradients[0], gradients[1], gradients[2]);
        ReportFigure Figure(Image8 image, string name, string caption) => new(image, caption) { Id = $"{id}-{name.Replace(' ', '-')}", Name = name };
        var views = new List<ReportFigure>
        {
            Figure(Attribution.Render(gradient, p, GradientDisplay.Norm, backend, sigma), "saliency",
                "Saliency (Simonyan et al.): |d target / d input|, L2 over channels; bright pixels change the target most."),
            Figure(Attribution.Render(gradient, p, GradientDisplay.NormBlur, backend, sigma), "saliency blurred",
                FormattableString.Invariant($"Saliency blurred (Gaussian sigma {sigma:F1} px), the Toolbox's normblur.")),
            Figure(Attribution.Render(deconv, p, GradientDisplay.Raw, backend, sigma), "deconvnet",
                "Deconvnet (Zeiler & Fergus): back through unpooling switches and rectified transposed filters; mid gray is 0."),
            Figure(Attribution.Render(guided, p, GradientDisplay.Raw, backend, sigma), "guided backprop",
                "Guided backprop (Springenberg et al.): the gradient, only positive signals through each ReLU; mid gray is 0."),
        };
        if (camLayer is not null)
        {
            var cam = GradCam.Compute(network, x, camLayer, target);
            var heatmap = GradCamRuns.CamHeatmap(bundle, cam, camLayer, normalize: false, Colormap.Jet);
            views.Add(Figure(heatmap.Figure(heatmap.Overlay(seen, 0.5f), labels: true, minimumSide: ViewPixels), "Grad-CAM",
                $"Grad-CAM (Selvaraju et al.) on {camLayer} ({cam.Height}x{cam.Width}, upsampled): where the features that raise the target are; " +
                $"values {FigureText.Number(heatmap.Scale.Min)} to {FigureText.Number(heatmap.Scale.Max)}."));
            views.Add(Figure(Attribution.Render(GradCam.Guided(guided, GradCam.Upsampled(cam, p.Height, p.Width)), p, GradientDisplay.Raw, backend, sigma), "guided Grad-CAM",
                "Guided Grad-CAM: guided backprop times the Grad-CAM map."));
        }
        var occlusion = new OcclusionOptions().Resolve(p);
        var map = Occlusion.Compute(network, x, target, isClass, occlusion.Patch!.Value, occlusion.Stride!.Value, occlusion.Fill(p));
        var drop = OcclusionRuns.DropHeatmap(bundle, map, target, isClass, normalize: false, Colormap.Jet);
        string measured = isClass ? $"the probability of {bundle.Classes[target.Channel]}" : "the activation";
        views.Add(Figure(drop.Figure(drop.Overlay(seen, 0.5f), labels: true, minimumSide: ViewPixels), "occlusion",
            $"Occlusion (Zeiler & Fergus): {occlusion.Patch}x{occlusion.Patch} patches of {occlusion.DescribeFill(p)}, stride {occlusion.Stride}; " +
            $"the colour is how much covering a pixel lowers {measured} from its unoccluded {FigureText.Number(map.Baseline)} (lowest: {FigureText.Number(map.Values.Min())}). " +
            "A black patch leaves a black background as it was."));
        return views;
    }

    private static ReportSection FilterSection(ModelBundle bundle, Backend backend) => new("Learned filters", 2,
        "Each conv layer's weights on one gray scale whose real values the bar gives (mid gray is about zero): the first layer one tile per filter, " +
        $"deeper layers one row per filter of its input channels (its {LayerFigures.StrongestChannels} strongest, by L2 norm, when it has more).",
        bundle.Network.Layers.OfType<Conv2dLayer>().SelectMany(conv =>
        {
            var weights = conv.Weight.Value;
            return LayerFigures.Filters(backend.Download(weights), weights.Shape, bundle.Preprocessing.Order, conv.Name, labels: true, tilePixels: 6)
                .Select((page, k) => new ReportFigure(page, $"{conv.Name}: {weights.Shape[0]} filters of {weights.Shape[1]}x{weights.Shape[2]}x{weights.Shape[3]}{(k > 0 ? $", page {k + 1}" : "")}"));
        }).ToArray(),
        MinimumFigureWidth: 0) { Id = "filters", Open = false };

    /// <summary>The ReLU after the last conv layer (or that conv layer): its channel with the highest activation, at its peak.</summary>
    private static Target StrongestUnit(Network network, Backend backend, ForwardPass pass)
    {
        int index = network.IndexOf(LayerRoles.LastSpatialRectifier(network));
        var y = pass.Outputs[index].Y;
        var values = backend.Download(y);
        int plane = y.Shape.H * y.Shape.W, best = 0;
        for (int i = 1; i < y.Shape.C * plane; i++)
            if (values[i] > values[best]) best = i;
        return new Target(network.Layers[index].Name, best / plane, best % plane / y.Shape.W, best % y.Shape.W);
    }

    /// <summary>The feature maps for Grad-CAM: the last rectified conv output (else conv output) strictly below the target, or null.</summary>
    private static string? GradCamLayer(Network network, Target target)
    {
        var below = network.Layers.Take(network.IndexOf(target.Layer)).Where(l => network.OutputShape(l.Name, 1).Rank == 4).ToList();
        return (below.LastOrDefault(LayerRoles.IsRectifier) ?? below.LastOrDefault(l => l is Conv2dLayer))?.Name;
    }

    private static string Describe(Shape shape) => shape.Rank == 4 ? $"{shape.C} channels of {shape.H}x{shape.W}" : $"{shape.SampleSize} units";
}
