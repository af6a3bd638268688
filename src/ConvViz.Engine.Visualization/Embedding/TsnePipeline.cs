using System.Diagnostics;
using System.Globalization;
using System.Text;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Visualization;

namespace ConvViz.Engine.Embedding;

/// <summary>What <see cref="TsnePipeline"/> embeds (a layer's codes) and how: batch, PCA dimensions, t-SNE, image-map grid.</summary>
public sealed record TsnePipelineOptions
{
    /// <summary>Exact t-SNE holds N² doubles (800 MB at this many points) and takes N² steps per iteration.</summary>
    public const int MaxExactPoints = 10_000;

    /// <summary>PCA holds the centered codes as doubles (1 GiB at this many values) and decomposes a
    /// min(N, dimensions)² matrix (minutes at MaxPcaSide); the image map is at most MaxMapPixels.</summary>
    public const long MaxCodeValues = 1L << 27, MaxMapPixels = 1L << 26;

    public const int MaxPcaSide = 4096;

    /// <summary>The layer whose codes are embedded; conv maps are flattened.</summary>
    public required string Layer { get; init; }

    /// <summary>Images per forward pass.</summary>
    public int BatchSize { get; init; } = 200;

    /// <summary>PCA dimensions before t-SNE (fewer when the codes have fewer).</summary>
    public int PcaDimensions { get; init; } = 50;

    /// <summary>The image map is Grid x Grid thumbnails.</summary>
    public int Grid { get; init; } = 40;

    public TsneOptions Tsne { get; init; } = new();

    /// <summary>Refuses, naming the property, settings that cannot run on <paramref name="count"/> codes of
    /// <paramref name="codeDimensions"/> values from images of <paramref name="imageHeight"/> x <paramref name="imageWidth"/>,
    /// or whose PCA, exact gradients or image map would not fit in memory.</summary>
    public void Validate(int count, int codeDimensions, int imageHeight, int imageWidth)
    {
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, $"{nameof(BatchSize)} {BatchSize} must be at least 1");
        if (PcaDimensions < 1) throw new ArgumentOutOfRangeException(nameof(PcaDimensions), PcaDimensions, $"{nameof(PcaDimensions)} {PcaDimensions} must be at least 1");
        if (Grid < 1) throw new ArgumentOutOfRangeException(nameof(Grid), Grid, $"{nameof(Grid)} {Grid} must be at least 1");
        Tsne.Validate(count);
        if (Tsne.MethodFor(count) == TsneMethod.Exact && count > MaxExactPoints)
            throw new ArgumentException($"exact t-SNE on {count:N0} points holds {count:N0}² doubles; it takes at most {MaxExactPoints:N0} points: use Barnes-Hut or fewer images", nameof(Tsne));
        if ((long)count * codeDimensions > MaxCodeValues)
            throw new ArgumentException($"{count:N0} codes of layer '{Layer}' ({codeDimensions:N0} values each) are {(long)count * codeDimensions:N0} values, " +
                                        $"more than the {MaxCodeValues:N0} PCA may hold; embed fewer images or a smaller layer", nameof(Layer));
        if (Math.Min(count, codeDimensions) > MaxPcaSide)
            throw new ArgumentException($"PCA of {count:N0} codes of {codeDimensions:N0} values decomposes a {Math.Min(count, codeDimensions):N0}² matrix, " +
                                        $"more than {MaxPcaSide:N0}²; embed {MaxPcaSide} images or fewer, or a smaller layer", nameof(Layer));
        long mapPixels = (long)Grid * imageHeight * Grid * imageWidth;
        if (mapPixels > MaxMapPixels)
            throw new ArgumentOutOfRangeException(nameof(Grid), Grid, $"{nameof(Grid)} {Grid} of {imageHeight}x{imageWidth} images makes a {mapPixels:N0}-pixel image map, more than {MaxMapPixels:N0}; give a smaller {nameof(Grid)}");
    }
}

/// <summary>The pipeline's stages: extracting codes, then t-SNE's affinities and its iterations.</summary>
public enum TsneStage { Codes, Affinities, Iterations }

/// <summary><paramref name="Done"/> of <paramref name="Total"/> in <paramref name="Stage"/> (images, then iterations);
/// <paramref name="Kl"/> is the KL divergence when t-SNE measured it at this iteration.</summary>
public readonly record struct TsnePipelineProgress(TsneStage Stage, int Done, int Total, double? Kl = null);

/// <summary>The files a <see cref="TsnePipeline"/> run wrote: the map as CSV, the scatter plot (SVG), the image map (PNG) and the page showing both.</summary>
public sealed record TsneMapFiles(string Csv, string Scatter, string ImageMap, string Page)
{
    public IEnumerable<string> All => [Csv, Scatter, ImageMap, Page];
}

/// <summary>A finished embedding: its points, the PCA and t-SNE results, how many images the image map shows, the files and the stages' times.</summary>
public sealed record TsneMap(int Count, int CodeDimensions, PcaResult Pca, TsneResult Tsne, int ImagesOnMap, TsneMapFiles Files, double CodesMilliseconds, double PcaMilliseconds)
{
    /// <summary>Records the run on <paramref name="card"/>: the settings <paramref name="options"/> ran with
    /// (<paramref name="requested"/>: how many images were asked for), the KL curve and figures, the stages'
    /// times, and the files (relative to <paramref name="outFolder"/>).</summary>
    public void Describe(ExperimentCard card, TsnePipelineOptions options, int requested, string outFolder)
    {
        var tsne = options.Tsne;
        bool barnesHut = Tsne.Method == TsneMethod.BarnesHut;
        card.TimingsMs["codes"] = CodesMilliseconds;
        card.TimingsMs["pca"] = PcaMilliseconds;
        card.TimingsMs["affinities"] = Tsne.AffinitySeconds * 1000;
        card.TimingsMs["optimization"] = Tsne.OptimizationSeconds * 1000;
        foreach (string file in Files.All) card.Outputs.Add(Path.GetRelativePath(outFolder, file));

        card.Parameters["layer"] = options.Layer;
        card.Parameters["n"] = Count;
        card.Parameters["requestedN"] = requested;
        card.Parameters["codeDimensions"] = CodeDimensions;
        card.Parameters["pcaDimensions"] = Pca.ComponentCount;
        card.Parameters["method"] = Tsne.Method.ToString();
        card.Parameters["perplexity"] = tsne.Perplexity;
        card.Parameters["learningRate"] = Tsne.LearningRate;
        card.Parameters["learningRateAuto"] = tsne.LearningRate is null;
        card.Parameters["earlyExaggeration"] = tsne.EarlyExaggeration;
        card.Parameters["exaggerationIterations"] = tsne.ExaggerationIterations;
        card.Parameters["iterations"] = tsne.Iterations;
        card.Parameters["momentum"] = $"{tsne.InitialMomentum} until iteration {tsne.MomentumSwitchIteration}, then {tsne.FinalMomentum}";
        card.Parameters["theta"] = barnesHut ? tsne.Theta : null;
        card.Parameters["neighbours"] = barnesHut ? tsne.NeighboursFor(Count) : null;
        card.Parameters["seed"] = tsne.Seed;
        card.Parameters["initialization"] = $"N(0, {TsneOptions.InitialStandardDeviation:G2}²) per coordinate from the seed";
        card.Parameters["threads"] = tsne.Threads;
        card.Parameters["grid"] = options.Grid;
        card.Results["klCurve"] = Tsne.KlCurve.Select(p => new { iteration = p.Iteration, kl = p.Kl }).ToArray();
        card.Results["klMeasure"] = barnesHut ? "KL over the sparse P's nonzeros, with Z from the Barnes-Hut estimate" : "exact KL(P || Q) over all pairs";
        card.Results["finalKl"] = Tsne.KlCurve[^1].Kl;
        card.Results["pcaExplainedVariance"] = Pca.ExplainedVariance;
        card.Results["imagesOnMap"] = ImagesOnMap;
    }
}

/// <summary>
/// A layer's codes of a data set in 2-D: the codes of every image (flattened), PCA to a few dozen
/// dimensions, then t-SNE (exact or Barnes–Hut). Writes FOLDER/&lt;layer&gt;.csv (index,label,class,x,y),
/// &lt;layer&gt;-scatter.svg, &lt;layer&gt;-map.png (each image in the free grid cell nearest its point) and
/// &lt;layer&gt;.html showing both.
/// </summary>
public static class TsnePipeline
{
    /// <param name="classNames">Names of the labels, for the CSV and the legend (labels past its end are "class N").</param>
    /// <param name="modelName">Names the model in the page's title.</param>
    public static TsneMap Run(Network network, Preprocessing preprocessing, LabeledImages images, IReadOnlyList<string> classNames, string modelName,
        TsnePipelineOptions options, string folder, IProgress<TsnePipelineProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (images.Count == 0) throw new ArgumentException($"{images.Source} holds no images", nameof(images));
        int n = images.Count;
        int dimensions = network.OutputShape(options.Layer, 1).SampleSize;
        options.Validate(n, dimensions, images.Height, images.Width);
        var tsne = options.Tsne;

        var clock = Stopwatch.StartNew();
        var codes = LayerCodes.Extract(network, preprocessing, images, options.Layer, options.BatchSize,
            progress is null ? null : new ProgressAction<CodesProgress>(p => progress.Report(new TsnePipelineProgress(TsneStage.Codes, p.Images, p.Total))), cancellation);
        double codesMs = clock.Elapsed.TotalMilliseconds;

        clock.Restart();
        var pca = Pca.Fit(codes.Values, codes.Count, codes.Dimensions, options.PcaDimensions);
        var points = pca.Project(codes.Values, codes.Count);
        double pcaMs = clock.Elapsed.TotalMilliseconds;
        cancellation.ThrowIfCancellationRequested();
        progress?.Report(new TsnePipelineProgress(TsneStage.Affinities, 0, tsne.Iterations));
        var result = Tsne.Run(points, n, pca.ComponentCount, tsne,
            progress is null ? null : new ProgressAction<TsneProgress>(p => progress.Report(new TsnePipelineProgress(TsneStage.Iterations, p.Iteration, p.Iterations, p.Kl))), cancellation);

        Directory.CreateDirectory(folder);
        string stem = FileNames.ForLayer(options.Layer);
        string title = $"t-SNE of {options.Layer} codes, {n:N0} images of {images.Source}";
        var labels = images.Labels;
        var files = new TsneMapFiles(Path.Combine(folder, $"{stem}.csv"), Path.Combine(folder, $"{stem}-scatter.svg"),
            Path.Combine(folder, $"{stem}-map.png"), Path.Combine(folder, $"{stem}.html"));
        AtomicFile.WriteAllText(files.Csv, Csv(result.Coordinates, labels, classNames));
        string svg = ScatterPlot.Svg(result.Coordinates, labels, classNames, title);
        AtomicFile.WriteAllText(files.Scatter, svg);
        var map = ImageMap.Render(result.Coordinates, images, options.Grid);
        ImageFile.Write(files.ImageMap, map);

        int placed = Math.Min(n, options.Grid * options.Grid);
        var page = new ReportPage($"ConvViz t-SNE: {options.Layer} of {modelName}");
        page.Paragraph($"{title}: PCA to {pca.ComponentCount} dimensions, {result.Method} t-SNE, perplexity {tsne.Perplexity}, learning rate {result.LearningRate:G4}, " +
                       $"{tsne.Iterations} iterations, seed {tsne.Seed}; final KL divergence {result.KlCurve[^1].Kl:F4}.");
        page.SvgFigure(svg, "Each dot is an image, colored by its label.");
        page.Figures([(map, $"{placed:N0} of the {n:N0} images on a {options.Grid} x {options.Grid} grid, each in the free cell nearest its map position.")], minimumWidth: 800);
        AtomicFile.WriteAllText(files.Page, page.ToHtml());
        return new TsneMap(n, codes.Dimensions, pca, result, placed, files, codesMs, pcaMs);
    }

    /// <summary>index,label,class,x,y per point; class names quoted.</summary>
    public static string Csv(double[] map, ReadOnlySpan<byte> labels, IReadOnlyList<string> classes)
    {
        var csv = new StringBuilder("index,label,class,x,y\n");
        for (int i = 0; i < labels.Length; i++)
        {
            string name = labels[i] < classes.Count ? classes[labels[i]] : $"class {labels[i]}";
            csv.Append(string.Create(CultureInfo.InvariantCulture, $"{i},{labels[i]},\"{name.Replace("\"", "\"\"")}\",{map[2 * i]:R},{map[2 * i + 1]:R}\n"));
        }
        return csv.ToString();
    }
}
