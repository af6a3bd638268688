using System.CommandLine;
using System.Diagnostics;
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
        var batch = new Option<int>("--batch") { Description = "Images per forward pass", DefaultValueFactory = _ => 200 }.InRange(1, CommonOptions.MaxBatch).Names("BatchSize");
        var pca = new Option<int>("--pca") { Description = "PCA dimensions before t-SNE (fewer when the codes have fewer)", DefaultValueFactory = _ => 50 }.InRange(1, 1000).Names("PcaDimensions");
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
        command.SetAction((result, cancellation) =>
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
            Execute(request, options, result.GetValue(backend)!, result.GetValue(device), cancellation);
            return Task.FromResult(0);
        });
        return command;
    }

    private sealed record Request(string Model, string? Data, string Split, string Layer, int Count, int Batch, int Pca, int Grid, string Out, bool ThetaGiven,
        bool PerplexityGiven = true, bool GridGiven = true);

    /// <summary>What --learning-rate auto parses to: no rate is 0.</summary>
    private const double AutoRate = 0;

    private static TsneMethod ParseMethod(string text) => text switch
    {
        "auto" => TsneMethod.Auto,
        "exact" => TsneMethod.Exact,
        "barnes-hut" => TsneMethod.BarnesHut,
        _ => throw new UserError($"--method '{text}' is unknown; expected exact, barnes-hut or auto"),
    };

    private static void Execute(Request request, TsneOptions options, string backendName, int? device, CancellationToken cancellation)
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
        if (request.ThetaGiven && options.MethodFor(n) == TsneMethod.Exact)
            throw new UserError($"--theta {options.Theta} applies to Barnes-Hut t-SNE, but {n:N0} points run exact t-SNE ({(options.Method == TsneMethod.Exact ? "--method exact" : $"--method auto up to {options.ExactLimit:N0} points")}); leave --theta out or give --method barnes-hut");
        var pipeline = new TsnePipelineOptions { Layer = request.Layer, BatchSize = request.Batch, PcaDimensions = request.Pca, Grid = request.Grid, Tsne = options };
        pipeline.Validate(n, bundle.Network.OutputShape(request.Layer, 1).SampleSize, images.Height, images.Width);
        if (request.Count > all.Count)
            AnsiConsole.MarkupLine(Markup.Escape($"note: --n {request.Count:N0} is more than the {all.Count:N0} images of {all.Source}: embedding all {all.Count:N0}"));

        var card = new ExperimentCard("tsne", bundle.Source, images.Source) { Target = $"codes of layer '{request.Layer}'" };
        var total = Stopwatch.StartNew();
        // A model without a classifier names the points by the data set's own classes (a photo folder's subfolders).
        var classNames = bundle.HasClasses ? bundle.Classes : images.ClassNames ?? ModelBundle.NumberedClasses(images.ClassCount);
        string folder = Path.Combine(request.Out, "tsne");
        TsneMap embedding = null!;
        ProgressBars.Create().Start(context =>
            {
                var extract = ProgressBars.Add(context, $"{request.Layer} codes of {n:N0} images", n);
                var embed = ProgressBars.Add(context, "PCA", options.Iterations);
                double lastKl = double.NaN;
                embedding = TsnePipeline.Run(bundle.Network, bundle.Preprocessing, images, classNames, bundle.Source, pipeline, folder,
                    new ProgressAction<TsnePipelineProgress>(p =>
                    {
                        if (p.Kl is { } kl) lastKl = kl;
                        switch (p.Stage)
                        {
                            case TsneStage.Codes: extract.Report(p.Done); break;
                            case TsneStage.Affinities: embed.Report(0, $"t-SNE ({options.MethodFor(n)}) affinities"); break;
                            default: embed.Report(p.Done, $"t-SNE ({options.MethodFor(n)}) iteration {p.Done}/{p.Total}  KL {lastKl:F4}"); break;
                        }
                    }), cancellation);
            });
        var result = embedding.Tsne;
        embedding.Describe(card, pipeline, request.Count, request.Out);
        card.Parameters["backend"] = backend.Description;
        card.TimingsMs["total"] = total.Elapsed.TotalMilliseconds;

        AnsiConsole.MarkupLine(Markup.Escape($"{n:N0} images, {request.Layer} ({embedding.CodeDimensions} values) -> PCA {embedding.Pca.ComponentCount} -> {result.Method} t-SNE: " +
            $"KL {result.KlCurve[0].Kl:F4} at iteration {result.KlCurve[0].Iteration}, {result.KlCurve[^1].Kl:F4} at {result.KlCurve[^1].Iteration}; " +
            $"codes {embedding.CodesMilliseconds / 1000:F1} s, PCA {embedding.PcaMilliseconds / 1000:F1} s, t-SNE {result.AffinitySeconds + result.OptimizationSeconds:F1} s"));
        AnsiConsole.MarkupLine(Markup.Escape($"wrote {string.Join(", ", embedding.Files.All.SkipLast(1))}, {embedding.Files.Page} and the card {card.Save(request.Out)}"));
    }

    /// <summary>
    /// Defaults made for thousands of small images, fitted where they would be refused (a folder of a
    /// few photos) when the user did not give them: a perplexity just inside t-SNE's N - 1 > 3 x
    /// perplexity, and, when the default grid's image map would exceed <see cref="TsnePipelineOptions.MaxMapPixels"/>, a
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
        if (!request.GridGiven && (long)request.Grid * images.Height * request.Grid * images.Width > TsnePipelineOptions.MaxMapPixels)
        {
            int byPixels = (int)Math.Floor(Math.Sqrt((double)TsnePipelineOptions.MaxMapPixels / ((long)images.Height * images.Width)));
            int fitted = Math.Clamp(Math.Min(request.Grid, (int)Math.Ceiling(Math.Sqrt(n)) + 1), 1, Math.Max(1, byPixels));
            if (fitted != request.Grid)
            {
                AnsiConsole.MarkupLine(Markup.Escape($"note: a {fitted} x {fitted} image map for {n:N0} images of {images.Height}x{images.Width} (give --grid to choose)"));
                request = request with { Grid = fitted };
            }
        }
        return (request, options);
    }
}
