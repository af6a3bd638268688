using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>A captioned image of a report.</summary>
public sealed record ReportFigure(Image8 Image, string Caption);

/// <summary>A table of a report: its header and rows of cells.</summary>
public sealed record ReportTable(IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>One section of a report, shown in this order: heading (level 2 or 3), paragraph, figures (each at
/// least <paramref name="MinimumFigureWidth"/> pixels wide on the page), table.</summary>
public sealed record ReportSection(string Heading, int Level, string? Paragraph, IReadOnlyList<ReportFigure> Figures, ReportTable? Table = null,
    int MinimumFigureWidth = 168);

/// <summary>The page model of a report: title, the paragraph about the model, the sections.</summary>
public sealed record ReportModel(string Title, string Summary, IReadOnlyList<ReportSection> Sections)
{
    /// <summary>The page as one self-contained HTML document (images as data URIs).</summary>
    public string ToHtml()
    {
        var page = new ReportPage(Title);
        page.Paragraph(Summary);
        foreach (var section in Sections)
        {
            page.Heading(section.Heading, section.Level);
            if (section.Paragraph is not null) page.Paragraph(section.Paragraph);
            if (section.Figures.Count > 0) page.Figures(section.Figures.Select(f => (f.Image, f.Caption)), section.MinimumFigureWidth);
            if (section.Table is { } table) page.Table([.. table.Header], table.Rows.Select(r => r.ToArray()));
        }
        return page.ToHtml();
    }
}

/// <summary>Images reported so far, out of <paramref name="Total"/>; <paramref name="Name"/> is the one in progress (null when done).</summary>
public readonly record struct ReportProgress(int Images, int Total, string? Name);

/// <summary>
/// One page about a model and some images: for each image the input as the model sees it and its
/// top-5 classes, every layer's activations, and the saliency, deconvnet, guided backprop, Grad-CAM and
/// occlusion views for the top class and for the strongest unit of the last conv layer; then the
/// learned filters once.
/// </summary>
public static class Report
{
    public const string FileName = "report.html";

    /// <summary>Composes the page for <paramref name="images"/> (name, image) and writes it to
    /// <paramref name="outFolder"/>/report.html; returns the page model and the file written.</summary>
    public static (ReportModel Page, string File) Write(ModelBundle bundle, IReadOnlyList<(string Name, Image8 Image)> images, string outFolder,
        IProgress<ReportProgress>? progress = null, CancellationToken cancellation = default)
    {
        var page = Compose(bundle, images, progress, cancellation);
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
    public static ReportModel Compose(ModelBundle bundle, IReadOnlyList<(string Name, Image8 Image)> images,
        IProgress<ReportProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (images.Count == 0) throw new ArgumentException("a report needs at least one image", nameof(images));
        var network = bundle.Network;
        var backend = network.Parameters.First().Value.Backend;
        string summary = $"Model {bundle.Source}: {network.Layers.Count} layers, input {string.Join("x", network.SampleShape.ToArray())}, " +
                         $"{(bundle.HasClasses ? $"{bundle.Classes.Count} classes" : "no classifier (its last layer outputs features)")}. Preprocessing: {bundle.Preprocessing}. " +
                         $"Made by ConvViz on {backend.Description}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.";
        var sections = new List<ReportSection>();
        for (int i = 0; i < images.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            progress?.Report(new ReportProgress(i, images.Count, images[i].Name));
            sections.AddRange(ImageSections(bundle, backend, images[i].Name, images[i].Image));
        }
        sections.Add(FilterSection(bundle, backend));
        progress?.Report(new ReportProgress(images.Count, images.Count, null));
        return new ReportModel($"ConvViz report: {bundle.Source}", summary, sections);
    }

    private static IEnumerable<ReportSection> ImageSections(ModelBundle bundle, Backend backend, string name, Image8 image)
    {
        var network = bundle.Network;
        var p = bundle.Preprocessing;
        using var x = backend.Upload(ImageTensors.ToInput(image, p), network.InputShape(1));
        using var pass = network.Forward(x);
        var seen = ImageTensors.ToImage(backend.Download(x), p);

        var top = bundle.HasClasses ? ClassPredictions.Top(network, backend.Download(pass.Last), 5) : null;
        var topTable = top is null ? null : new ReportTable(["#", "class", "name", "probability"],
            top.Select((t, r) => (IReadOnlyList<string>)[(r + 1).ToString(), t.Index.ToString(), bundle.Classes[t.Index], t.Probability.ToString("F4")]).ToArray());
        var sections = new List<ReportSection>
        {
            new(name, 2, null, [new(seen, "The input as the model sees it (after resizing, cropping and channel conversion).")], topTable),
            new("Activations", 3,
                "Every layer's output for this input, one tile per channel, all tiles of a layer on one gray scale (black = the layer's lowest value, white = its highest), as in the Deep Visualization Toolbox.",
                network.Layers.Select((layer, i) =>
                {
                    var y = pass.Outputs[i].Y;
                    return new ReportFigure(LayerViews.Activations(backend.Download(y), y.Shape, tilePixels: 12), $"{layer.Name} ({layer.OpType}): {Describe(y.Shape)}");
                }).ToArray(), MinimumFigureWidth: 0),
        };
        if (top is not null)
        {
            var classTarget = new Target(ClassPredictions.LogitLayer(bundle.Network), top[0].Index);
            sections.Add(new($"Why \"{bundle.Classes[top[0].Index]}\" (class {top[0].Index}, probability {top[0].Probability:F3})", 3, null,
                Views(bundle, backend, x, seen, classTarget, isClass: true, GradCamLayer(network, classTarget))));
        }
        var unit = StrongestUnit(network, backend, pass);
        sections.Add(new($"The strongest unit of {unit.Layer}: channel {unit.Channel} at ({unit.Y}, {unit.X})", 3,
            $"The channel of {unit.Layer} with the highest activation anywhere for this input, explained at its peak.",
            Views(bundle, backend, x, seen, unit, isClass: false, GradCamLayer(network, unit))));
        return sections;
    }

    /// <summary>Saliency, deconvnet, guided backprop, Grad-CAM, guided Grad-CAM and occlusion for one target.</summary>
    private static List<ReportFigure> Views(ModelBundle bundle, Backend backend, Tensor x, Image8 seen, Target target, bool isClass, string? camLayer)
    {
        var p = bundle.Preprocessing;
        var network = bundle.Network;
        float sigma = Attribution.DefaultBlurSigma(p);
        var gradients = Attribution.InputGradients(network, x, target, ReluRule.Gradient, ReluRule.Deconvnet, ReluRule.Guided);
        var (gradient, deconv, guided) = (gradients[0], gradients[1], gradients[2]);
        var views = new List<ReportFigure>
        {
            new(Attribution.Render(gradient, p, GradientDisplay.Norm, backend, sigma), "Saliency (Simonyan et al.): |d target / d input|, the L2 norm over channels; bright pixels change the target most."),
            new(Attribution.Render(gradient, p, GradientDisplay.NormBlur, backend, sigma), $"Saliency, blurred (Gaussian sigma {sigma:F1} px), as the Toolbox's normblur."),
            new(Attribution.Render(deconv, p, GradientDisplay.Raw, backend, sigma), "Deconvnet (Zeiler & Fergus): the target projected back through unpooling switches and rectified transposed filters; mid gray is zero."),
            new(Attribution.Render(guided, p, GradientDisplay.Raw, backend, sigma), "Guided backprop (Springenberg et al.): the gradient, keeping only positive signals through every ReLU; mid gray is zero."),
        };
        if (camLayer is not null)
        {
            var cam = GradCam.Compute(network, x, camLayer, target);
            var heat = GradCam.Upsampled(cam, p.Height, p.Width);
            views.Add(new(Colormap.Jet.Overlay(seen, heat), $"Grad-CAM (Selvaraju et al.) on {camLayer} ({cam.Height}x{cam.Width}, upsampled): red regions' features raise the target."));
            views.Add(new(Attribution.Render(GradCam.Guided(guided, heat), p, GradientDisplay.Raw, backend, sigma), "Guided Grad-CAM: guided backprop times the Grad-CAM map."));
        }
        int patch = Occlusion.DefaultPatch(p.Height, p.Width);
        var occlusion = Occlusion.Compute(network, x, target, isClass, patch, Math.Max(1, patch / 2), new float[p.Channels]);
        views.Add(new(Colormap.Jet.Overlay(seen, OcclusionMaps.Heat(occlusion, p.Height, p.Width)),
            $"Occlusion (Zeiler & Fergus): a {patch}x{patch} patch of the mean pixel slid over the image; red where covering it lowers the " +
            (isClass ? $"probability (from {occlusion.Baseline:F3}, lowest {occlusion.Values.Min():F3})." : $"activation (from {occlusion.Baseline:G3}, lowest {occlusion.Values.Min():G3}).")));
        return views;
    }

    private static ReportSection FilterSection(ModelBundle bundle, Backend backend) => new("Learned filters", 2,
        "Each conv layer's weights on one gray scale (mid gray is about zero): the first layer one tile per filter, deeper layers one row per filter and one column per input channel of its group.",
        bundle.Network.Layers.OfType<Conv2dLayer>().Select(conv => new ReportFigure(
            LayerViews.Filters(backend.Download(conv.Weight.Value), conv.Weight.Value.Shape, bundle.Preprocessing.Order, tilePixels: 6),
            $"{conv.Name}: {conv.Weight.Value.Shape[0]} filters of {conv.Weight.Value.Shape[1]}x{conv.Weight.Value.Shape[2]}x{conv.Weight.Value.Shape[3]}")).ToArray(),
        MinimumFigureWidth: 0);

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
