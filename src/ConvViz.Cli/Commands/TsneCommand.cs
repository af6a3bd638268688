using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using ConvViz.Engine.Data;
using ConvViz.Engine.Embedding;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Training;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz tsne [--model M] [--data DIR|IDX] [--layer fc7] [--n 5000] [t-SNE options]`: a layer's
/// codes for the first N images, flattened, PCA to 50 dimensions, then t-SNE (exact up to 2,000
/// points, Barnes–Hut above). Writes OUT/tsne/: the map as CSV, a scatter plot (SVG), the image
/// map (PNG) and a page showing both; and the card OUT/tsne.json. An --n above the data set's size
/// is clamped to it, with a note.
/// </summary>
public static class TsneCommand
{
    public const string DefaultLayer = "fc7";

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var data = new Option<string?>("--data")
        {
            Description = $"MNIST-style folder of IDX files, an images IDX file with its labels file beside it, or a folder of photos (subfolders are classes); default {DataSets.DefaultFolder} (Debian's dataset-fashion-mnist) for a 28x28 gray model when installed, else the model's own samples/",
        };
        var split = new Option<string>("--split") { Description = "Which split of a --data folder: t10k (test) or train", DefaultValueFactory = _ => LabeledImages.TestSplit };
        var layer = new Option<string>("--layer") { Description = "Layer whose codes are embedded (conv maps are flattened)", DefaultValueFactory = _ => DefaultLayer };
        var count = new Option<int>("--n") { Description = "Embed the first N images (clamped to the data set's size)", DefaultValueFactory = _ => 5000 }.InRange(1, 100_000);
        var batch = new Option<int>("--batch") { Description = "Images per forward pass", DefaultValueFactory = _ => 200 }.InRange(1, CommonOptions.MaxBatch);
        var pca = new Option<int>("--pca") { Description = "PCA dimensions before t-SNE (fewer when the codes have fewer)", DefaultValueFactory = _ => 50 }.InRange(1, 1000);
        var method = new Option<string>("--method") { Description = "exact (O(N²)), barnes-hut (O(N log N)) or auto (exact up to 2,000 points)", DefaultValueFactory = _ => "auto" };
        var perplexity = new Option<double>("--perplexity") { Description = "Effective number of neighbours; needs N - 1 > 3 x perplexity (default 30, less for a few images)", DefaultValueFactory = _ => 30 }.Positive(200);
        var learningRate = new Option<double>("--learning-rate") { Description = "Step size, or auto = max(N / early exaggeration / 4, 50)", DefaultValueFactory = _ => 200 }
            .InRange(0, 1e6, minExclusive: true, keyword: "auto", keywordValue: AutoRate);
        var exaggeration = new Option<double>("--early-exaggeration") { Description = "P is multiplied by this for the first 250 iterations", DefaultValueFactory = _ => 12 }.InRange(1, 1000);
        var iterations = new Option<int>("--iterations") { Description = "Gradient steps", DefaultValueFactory = _ => 1000 }.InRange(1, 10_000);
        var theta = new Option<double>("--theta") { Description = "Barnes–Hut opening angle (0: exact sums)", DefaultValueFactory = _ => 0.5 }.InRange(0, 1);
        var seed = new Option<int>("--seed") { Description = "Seed of the initial map, N(0, 1e-8) per coordinate", DefaultValueFactory = _ => 0 }.Seed();
        var grid = new Option<int>("--grid") { Description = "The image map is grid x grid thumbnails (default 40; fewer for large images, when 40 would not fit)", DefaultValueFactory = _ => 40 }.InRange(1, 200);
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("tsne", "Embed a layer's codes of a data set in 2-D with t-SNE: CSV, scatter plot, image map")
            { model, data, split, layer, count, batch, pca, method, perplexity, learningRate, exaggeration, iterations, theta, seed, grid, output, backend, device, threads };
        command.SetAction(result =>
        {
            var request = new Request(result.GetValue(model)!, result.GetValue(data), result.GetValue(split)!, result.GetValue(layer)!, result.GetValue(count),
                result.GetValue(batch), result.GetValue(pca), result.GetValue(grid), result.GetValue(output)!, result.Given(theta),
                result.Given(perplexity), result.Given(grid));
            var options = new TsneOptions
            {
                Method = ParseMethod(result.GetValue(method)!),
                Perplexity = result.GetValue(perplexity),
                LearningRate = result.GetValue(learningRate) is var rate && rate == AutoRate ? null : rate,
                EarlyExaggeration = result.GetValue(exaggeration),
                Iterations = result.GetValue(iterations),
                Theta = result.GetValue(theta),
                Seed = result.GetValue(seed),
                Threads = result.GetValue(threads),
            };
            Execute(request, options, result.GetValue(backend)!, result.GetValue(device));
        });
        return command;
    }

    private sealed record Request(string Model, string? Data, string Split, string Layer, int Count, int Batch, int Pca, int Grid, string Out, bool ThetaGiven,
        bool PerplexityGiven = true, bool GridGiven = true);

    /// <summary>Exact t-SNE holds N² doubles (800 MB at this many points) and takes N² steps per iteration.</summary>
    public const int MaxExactPoints = 10_000;

    /// <summary>What --learning-rate auto parses to: no rate is 0.</summary>
    private const double AutoRate = 0;

    /// <summary>PCA holds the centered codes as doubles (1 GiB at this many values) and decomposes a
    /// min(N, dimensions)² matrix (minutes at MaxPcaSide); the image map is at most MaxMapPixels.</summary>
    public const long MaxCodeValues = 1L << 27, MaxMapPixels = 1L << 26;
    public const int MaxPcaSide = 4096;

    private static TsneMethod ParseMethod(string text) => text switch
    {
        "auto" => TsneMethod.Auto,
        "exact" => TsneMethod.Exact,
        "barnes-hut" => TsneMethod.BarnesHut,
        _ => throw new UserError($"--method '{text}' is unknown; expected exact, barnes-hut or auto"),
    };

    private static void Execute(Request request, TsneOptions options, string backendName, int? device)
    {
        if (request.Split is not (LabeledImages.TestSplit or LabeledImages.TrainSplit))
            throw new UserError($"--split '{request.Split}' is unknown; expected {LabeledImages.TestSplit} or {LabeledImages.TrainSplit}");
        options.Validate(int.MaxValue);

        using var backend = BackendCatalog.Create(backendName, device, options.Threads);
        using var bundle = ModelCatalog.Open(request.Model, backend);
        bundle.Network.IndexOf(request.Layer);
        var all = DataSets.Open(request.Data, request.Split, bundle, "embedding");
        if (all.Count == 0) throw new UserError($"{all.Source} holds no images");
        var images = all.Take(request.Count);
        ImageBatches.CheckFits(bundle.Network, bundle.Preprocessing, images, bundle.Classes.Count);
        int n = images.Count;
        (request, options) = FitDefaults(request, options, n, images);
        options.Validate(n);
        RefuseTooLarge(request, options, n, bundle.Network.OutputShape(request.Layer, 1).SampleSize, images);
        if (request.Count > all.Count)
            AnsiConsole.MarkupLine(Markup.Escape($"note: --n {request.Count:N0} is more than the {all.Count:N0} images of {all.Source}: embedding all {all.Count:N0}"));

        var card = new ExperimentCard("tsne", bundle.Source, images.Source) { Target = $"codes of layer '{request.Layer}'" };
        var total = Stopwatch.StartNew();
        var clock = Stopwatch.StartNew();
        Codes codes = null!;
        TsneResult result = null!;
        PcaResult pca = null!;
        double pcaMs = 0;
        ProgressBars.Create().Start(progress =>
            {
                var extract = ProgressBars.Add(progress, $"{request.Layer} codes of {n:N0} images", n);
                codes = LayerCodes.Extract(bundle.Network, bundle.Preprocessing, images, request.Layer, request.Batch, done => extract.Report(done));
                card.TimingsMs["codes"] = clock.Elapsed.TotalMilliseconds;

                var embed = ProgressBars.Add(progress, "PCA", options.Iterations);
                clock.Restart();
                pca = Pca.Fit(codes.Values, codes.Count, codes.Dimensions, request.Pca);
                var points = pca.Project(codes.Values, codes.Count);
                pcaMs = clock.Elapsed.TotalMilliseconds;
                embed.Report(0, $"t-SNE ({options.MethodFor(n)}) affinities");
                double lastKl = double.NaN;
                result = Tsne.Run(points, n, pca.ComponentCount, options, (iteration, kl) =>
                {
                    if (kl is { } value) lastKl = value;
                    embed.Report(iteration, $"t-SNE ({options.MethodFor(n)}) iteration {iteration}/{options.Iterations}  KL {lastKl:F4}");
                });
            });
        card.TimingsMs["pca"] = pcaMs;
        card.TimingsMs["affinities"] = result.AffinitySeconds * 1000;
        card.TimingsMs["optimization"] = result.OptimizationSeconds * 1000;

        string folder = Path.Combine(request.Out, "tsne");
        Directory.CreateDirectory(folder);
        string stem = Inputs.FileName(request.Layer);
        string title = $"t-SNE of {request.Layer} codes, {n:N0} images of {images.Source}";
        var labels = images.Labels;
        // A model without a classifier names the points by the data set's own classes (a photo folder's subfolders).
        var classNames = bundle.HasClasses ? bundle.Classes : images.ClassNames ?? ModelBundle.NumberedClasses(images.ClassCount);

        string csvPath = Path.Combine(folder, $"{stem}.csv");
        AtomicFile.WriteAllText(csvPath, Csv(result.Coordinates, labels, classNames));
        card.Outputs.Add(Path.GetRelativePath(request.Out, csvPath));
        string svg = ScatterPlot.Svg(result.Coordinates, labels, classNames, title);
        string svgPath = Path.Combine(folder, $"{stem}-scatter.svg");
        AtomicFile.WriteAllText(svgPath, svg);
        card.Outputs.Add(Path.GetRelativePath(request.Out, svgPath));
        var map = ImageMap.Render(result.Coordinates, images, request.Grid);
        string mapPath = Path.Combine(folder, $"{stem}-map.png");
        AttributionCommand.Write(card, request.Out, mapPath, map);

        int placed = Math.Min(n, request.Grid * request.Grid);
        var page = new ReportPage($"ConvViz t-SNE: {request.Layer} of {bundle.Source}");
        page.Paragraph($"{title}: PCA to {pca.ComponentCount} dimensions, {result.Method} t-SNE, perplexity {options.Perplexity}, learning rate {result.LearningRate:G4}, " +
                       $"{options.Iterations} iterations, seed {options.Seed}; final KL divergence {result.KlCurve[^1].Kl:F4}.");
        page.SvgFigure(svg, "Each dot is an image, colored by its label.");
        page.Figures([(map, $"{placed:N0} of the {n:N0} images on a {request.Grid} x {request.Grid} grid, each in the free cell nearest its map position.")], minimumWidth: 800);
        string pagePath = Path.Combine(folder, $"{stem}.html");
        AtomicFile.WriteAllText(pagePath, page.ToHtml());
        card.Outputs.Add(Path.GetRelativePath(request.Out, pagePath));

        card.Parameters["layer"] = request.Layer;
        card.Parameters["n"] = n;
        card.Parameters["requestedN"] = request.Count;
        card.Parameters["codeDimensions"] = codes.Dimensions;
        card.Parameters["pcaDimensions"] = pca.ComponentCount;
        card.Parameters["method"] = result.Method.ToString();
        card.Parameters["perplexity"] = options.Perplexity;
        card.Parameters["learningRate"] = result.LearningRate;
        card.Parameters["learningRateAuto"] = options.LearningRate is null;
        card.Parameters["earlyExaggeration"] = options.EarlyExaggeration;
        card.Parameters["exaggerationIterations"] = options.ExaggerationIterations;
        card.Parameters["iterations"] = options.Iterations;
        card.Parameters["momentum"] = $"{options.InitialMomentum} until iteration {options.MomentumSwitchIteration}, then {options.FinalMomentum}";
        card.Parameters["theta"] = result.Method == TsneMethod.BarnesHut ? options.Theta : null;
        card.Parameters["neighbours"] = result.Method == TsneMethod.BarnesHut ? options.NeighboursFor(n) : null;
        card.Parameters["seed"] = options.Seed;
        card.Parameters["initialization"] = $"N(0, {TsneOptions.InitialStandardDeviation:G2}²) per coordinate from the seed";
        card.Parameters["threads"] = options.Threads;
        card.Parameters["grid"] = request.Grid;
        card.Parameters["backend"] = backend.Description;
        card.Results["klCurve"] = result.KlCurve.Select(p => new { iteration = p.Iteration, kl = p.Kl }).ToArray();
        card.Results["klMeasure"] = result.Method == TsneMethod.Exact
            ? "exact KL(P || Q) over all pairs"
            : "KL over the sparse P's nonzeros, with Z from the Barnes-Hut estimate";
        card.Results["finalKl"] = result.KlCurve[^1].Kl;
        card.Results["pcaExplainedVariance"] = pca.ExplainedVariance;
        card.Results["imagesOnMap"] = placed;
        card.TimingsMs["total"] = total.Elapsed.TotalMilliseconds;

        AnsiConsole.MarkupLine(Markup.Escape($"{n:N0} images, {request.Layer} ({codes.Dimensions} values) -> PCA {pca.ComponentCount} -> {result.Method} t-SNE: " +
            $"KL {result.KlCurve[0].Kl:F4} at iteration {result.KlCurve[0].Iteration}, {result.KlCurve[^1].Kl:F4} at {result.KlCurve[^1].Iteration}; " +
            $"codes {card.TimingsMs["codes"] / 1000:F1} s, PCA {pcaMs / 1000:F1} s, t-SNE {result.AffinitySeconds + result.OptimizationSeconds:F1} s"));
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {csvPath}, {svgPath}, {mapPath}, {pagePath} and the card {card.Save(request.Out)}"));
    }

    /// <summary>
    /// Defaults made for thousands of small images, fitted where they would be refused (a folder of a
    /// few photos) when the user did not give them: a perplexity just inside t-SNE's N - 1 > 3 x
    /// perplexity, and, when the default grid's image map would exceed <see cref="MaxMapPixels"/>, a
    /// grid of about √N cells a side that fits. Each change is said.
    /// </summary>
    private static (Request, TsneOptions) FitDefaults(Request request, TsneOptions options, int n, LabeledImages images)
    {
        if (!request.PerplexityGiven && n - 1 <= 3 * options.Perplexity)
        {
            double fitted = Math.Max(0.5, Math.Floor((n - 1) / 3.0 * 0.9 * 100) / 100);
            AnsiConsole.MarkupLine(Markup.Escape($"note: {n:N0} images are too few for the default perplexity {options.Perplexity}; using {fitted} (give --perplexity to choose)"));
            options = options with { Perplexity = fitted };
        }
        if (!request.GridGiven && (long)request.Grid * images.Height * request.Grid * images.Width > MaxMapPixels)
        {
            int byPixels = (int)Math.Floor(Math.Sqrt((double)MaxMapPixels / ((long)images.Height * images.Width)));
            int fitted = Math.Clamp(Math.Min(request.Grid, (int)Math.Ceiling(Math.Sqrt(n)) + 1), 1, Math.Max(1, byPixels));
            if (fitted != request.Grid)
            {
                AnsiConsole.MarkupLine(Markup.Escape($"note: a {fitted} x {fitted} image map for {n:N0} images of {images.Height}x{images.Width} (give --grid to choose)"));
                request = request with { Grid = fitted };
            }
        }
        return (request, options);
    }

    /// <summary>Refuses, before any code is extracted, a --theta that exact t-SNE would ignore and a run
    /// whose PCA, exact gradients or image map would not fit in memory.</summary>
    private static void RefuseTooLarge(Request request, TsneOptions options, int n, int dimensions, LabeledImages images)
    {
        var method = options.MethodFor(n);
        if (request.ThetaGiven && method == TsneMethod.Exact)
            throw new UserError($"--theta {options.Theta} applies to Barnes-Hut t-SNE, but {n:N0} points run exact t-SNE ({(options.Method == TsneMethod.Exact ? "--method exact" : $"--method auto up to {options.ExactLimit:N0} points")}); leave --theta out or give --method barnes-hut");
        if (method == TsneMethod.Exact && n > MaxExactPoints)
            throw new UserError($"--method exact on {n:N0} points holds {n:N0}² doubles; exact t-SNE takes at most {MaxExactPoints:N0} points: give --method barnes-hut or a smaller --n");
        if ((long)n * dimensions > MaxCodeValues)
            throw new UserError($"{n:N0} codes of layer '{request.Layer}' ({dimensions:N0} values each) are {(long)n * dimensions:N0} values, more than the {MaxCodeValues:N0} PCA may hold; give a smaller --n or a smaller layer");
        if (Math.Min(n, dimensions) > MaxPcaSide)
            throw new UserError($"PCA of {n:N0} codes of {dimensions:N0} values decomposes a {Math.Min(n, dimensions):N0}² matrix, more than {MaxPcaSide:N0}²; give --n {MaxPcaSide} or less, or a smaller layer");
        long mapPixels = (long)request.Grid * images.Height * request.Grid * images.Width;
        if (mapPixels > MaxMapPixels)
            throw new UserError($"--grid {request.Grid} of {images.Height}x{images.Width} images makes a {mapPixels:N0}-pixel image map, more than {MaxMapPixels:N0}; give a smaller --grid");
    }

    /// <summary>index,label,class,x,y per point; class names quoted.</summary>
    private static string Csv(double[] map, ReadOnlySpan<byte> labels, IReadOnlyList<string> classes)
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
