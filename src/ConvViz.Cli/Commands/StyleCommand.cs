using System.CommandLine;
using System.Diagnostics;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Visualization;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz style --content IMG --style IMG [options]`: Gatys et al. neural style with
/// jcjohnson/neural-style's losses and default weights, by Adam or L-BFGS; writes OUT/style/&lt;content&gt;-&lt;style&gt;-&lt;content layer&gt;&lt;settings&gt;-stylized.png
/// (the settings that differ from the defaults),
/// the content and style images as the model sees them, and the card OUT/style.json.
/// </summary>
public static class StyleCommand
{
    /// <summary>Loss weights above this overflow float32 losses on any model.</summary>
    private const float MaxWeight = 1e9f;

    public static Command Create()
    {
        var content = new Option<string?>("--content") { Description = "Content image (PNG, JPEG, PGM/PPM)" };
        var style = new Option<string?>("--style") { Description = "Style image (PNG, JPEG, PGM/PPM)" };
        var model = CommonOptions.Model();
        var contentLayer = new Option<string?>("--content-layer") { Description = "Layer of the content loss (default: the ReLU after the 4th conv)" };
        var styleLayers = new Option<string?>("--style-layers") { Description = "Comma-separated layers of the style loss (default: the ReLU after every conv)" };
        var defaults = new StyleOptions();
        var contentWeight = new Option<float>("--content-weight") { Description = "Weight of the content loss", DefaultValueFactory = _ => defaults.ContentWeight }.InRange(0, MaxWeight);
        var styleWeight = new Option<float>("--style-weight") { Description = "Weight of the style loss", DefaultValueFactory = _ => defaults.StyleWeight }.InRange(0, MaxWeight);
        var tvWeight = new Option<float>("--tv-weight") { Description = "Weight of the total-variation loss (on the model input)", DefaultValueFactory = _ => defaults.TvWeight }.InRange(0, MaxWeight);
        var iterations = new Option<int>("--iterations") { Description = "Optimizer steps", DefaultValueFactory = _ => defaults.Iterations }.InRange(1, 10_000);
        var optimizer = new Option<StyleOptimizer>("--optimizer") { Description = "adam or lbfgs", DefaultValueFactory = _ => defaults.Optimizer }.NamesOnly();
        var lr = new Option<float>("--lr") { Description = "Adam's step in model input units", DefaultValueFactory = _ => defaults.LearningRate }.Positive(100).Names("LearningRate");
        var history = new Option<int>("--history") { Description = "L-BFGS's number of stored curvature pairs", DefaultValueFactory = _ => defaults.History }.InRange(1, 1000);
        var init = new Option<StyleInit>("--init") { Description = "noise (the model's mean plus tiny noise) or content", DefaultValueFactory = _ => StyleInit.Noise }.NamesOnly();
        var seed = new Option<int>("--seed") { Description = "Seed of the start noise", DefaultValueFactory = _ => 0 }.Seed();
        var raw = new Option<string?>("--raw") { Description = "Also write the stylized image as the model's input, float32 .npy of shape (1, C, H, W): the tensor of the last forward pass" };
        var noLabels = CommonOptions.NoLabels("no loss chart");
        var output = CommonOptions.Out();
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("style", "Render the content image in the style of another (Gatys et al. 2016, as jcjohnson/neural-style)")
        {
            content, style, model, contentLayer, styleLayers, contentWeight, styleWeight, tvWeight, iterations, optimizer, lr, history, init, seed,
            raw, noLabels, output, backend, device, threads,
        };
        command.SetAction((result, cancellation) =>
        {
            var options = new StyleOptions
            {
                ContentLayer = result.GetValue(contentLayer),
                StyleLayers = result.GetValue(styleLayers)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                ContentWeight = result.GetValue(contentWeight),
                StyleWeight = result.GetValue(styleWeight),
                TvWeight = result.GetValue(tvWeight),
                Iterations = result.GetValue(iterations),
                Optimizer = result.GetValue(optimizer),
                LearningRate = result.GetValue(lr),
                History = result.GetValue(history),
                Init = result.GetValue(init),
                Seed = result.GetValue(seed),
            };
            // Each of these options drives one optimizer or one start only; with the other it would be ignored.
            if (options.Optimizer == StyleOptimizer.Adam && result.Given(history))
                throw new UserError($"--history {options.History} applies to --optimizer lbfgs only; Adam keeps no curvature pairs");
            if (options.Optimizer == StyleOptimizer.Lbfgs && result.Given(lr))
                throw new UserError($"--lr {options.LearningRate} applies to --optimizer adam only; L-BFGS picks its step by line search");
            if (options.Init == StyleInit.Content && result.Given(seed))
                throw new UserError($"--seed {options.Seed} seeds the start noise, and --init content starts from the content image without noise");
            return Task.FromResult(Execute(result.GetValue(content), result.GetValue(style), result.GetValue(model)!, options, result.GetValue(raw), result.GetValue(noLabels),
                result.GetValue(output)!, result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads), cancellation));
        });
        return command;
    }

    private static int Execute(string? contentPath, string? stylePath, string modelName, StyleOptions options, string? rawPath, bool noLabels, string outFolder, string backendName,
        int? device, int? threads, CancellationToken cancellation)
    {
        if (contentPath is null) throw new UserError("give --content IMG, the image whose layout to keep");
        if (stylePath is null) throw new UserError("give --style IMG, the image whose style to copy");
        options.Validate();
        var contentImage = Read("--content", contentPath);
        var styleImage = Read("--style", stylePath);
        using var backend = BackendCatalog.Create(backendName, device, threads);
        using var bundle = ModelCatalog.Open(modelName, backend);
        var p = bundle.Preprocessing;
        var content = new NamedInput(Path.GetFileNameWithoutExtension(contentPath), ImageTensors.ToInput(contentImage, p), contentPath);
        var style = new NamedInput(Path.GetFileNameWithoutExtension(stylePath), ImageTensors.ToInput(styleImage, p), stylePath);
        var card = new ExperimentCard("style", bundle.Source, contentPath);
        card.Parameters["backend"] = backend.Description;
        var outputs = new RunOutputs(card, outFolder, Path.Combine(outFolder, "style")) { Labels = !noLabels };
        var clock = Stopwatch.StartNew();
        var run = ProgressBars.Run("styling", options.Iterations, line =>
            StyleRuns.Run(bundle, content, style, options, outputs, rawPath, new ProgressAction<StyleProgress>(s =>
                line.Report(s.Iteration, $"step {s.Iteration}/{s.Iterations}  content {s.Losses.Content:G4}  style {s.Losses.Style:G4}  tv {s.Losses.TotalVariation:G4}" +
                                         $"  {line.StepMilliseconds:F1} ms/step")), cancellation));
        var result = run.Result;
        var first = result.Losses[0];
        AnsiConsole.MarkupLine(Markup.Escape($"content {first.Content:G4} -> {result.Final.Content:G4}, style {first.Style:G4} -> {result.Final.Style:G4}, " +
            $"tv {result.Final.TotalVariation:G4}; {result.Losses.Count - 1} steps ({result.Stop}), {result.Evaluations} evaluations in {clock.Elapsed.TotalSeconds:F1} s; " +
            $"wrote {run.Image} and the card {card.Save(outFolder)}"));
        return 0;
    }

    private static Image8 Read(string option, string path)
    {
        if (!File.Exists(path)) throw new UserError($"{option} {path}: no such file");
        try { return ImageFile.Read(path); }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException) { throw new UserError($"{option} {path}: {e.Message}"); }
    }
}
