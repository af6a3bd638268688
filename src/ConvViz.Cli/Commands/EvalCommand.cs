using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ConvViz.Engine.Data;
using ConvViz.Engine.IO;
using ConvViz.Engine.Training;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>`convviz eval [--model M] [--data DIR] [--split t10k|train]`: accuracy, per-class accuracy
/// and the confusion matrix of a classifier on an MNIST-style data set; --json writes them too.</summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var data = new Option<string?>("--data")
        {
            Description = $"MNIST-style folder of IDX files (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, train-..., gzipped or not); default {DataSets.DefaultFolder} (Debian's dataset-fashion-mnist), or the model's own samples/ when that is not installed",
        };
        var split = new Option<string>("--split") { Description = "Which split of --data: t10k (test) or train", DefaultValueFactory = _ => LabeledImages.TestSplit };
        var limit = new Option<int?>("--limit") { Description = "Evaluate the first N images only" }.InRange(1, int.MaxValue);
        var batch = new Option<int>("--batch") { Description = "Images per forward pass", DefaultValueFactory = _ => 200 }.InRange(1, CommonOptions.MaxBatch).Names("BatchSize");
        var json = new Option<string?>("--json") { Description = "Also write the results (accuracy, per-class accuracy, confusion matrix) to this JSON file" };
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("eval", "Evaluate a classifier on a labelled data set: accuracy, per-class accuracy, confusion matrix")
            { model, data, split, limit, batch, json, backend, device, threads };
        command.SetAction((result, cancellation) =>
        {
            Execute(result.GetValue(model)!, result.GetValue(data), result.GetValue(split)!, result.GetValue(limit),
                result.GetValue(batch), result.GetValue(json), result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads), cancellation);
            return Task.FromResult(0);
        });
        return command;
    }

    private static void Execute(string modelName, string? dataFolder, string split, int? limit, int batch, string? json, string backendName, int? device, int? threads,
        CancellationToken cancellation)
    {
        if (split is not (LabeledImages.TestSplit or LabeledImages.TrainSplit))
            throw new UserError($"--split '{split}' is unknown; expected {LabeledImages.TestSplit} or {LabeledImages.TrainSplit}");
        using var backend = BackendCatalog.Create(backendName, device, threads);
        using var bundle = ModelCatalog.Open(modelName, backend);
        ClassScores.Require(bundle, "eval (accuracy over labelled images)", "evaluate a model with a classifier; for this one, topk and tsne show what its units and codes respond to");
        dataFolder ??= DataSets.DefaultFor(bundle, "evaluating");
        var images = DataSets.Load(dataFolder, split, limit);
        ImageBatches.CheckFits(bundle.Network, bundle.Preprocessing, images, bundle.Classes.Count);

        var clock = Stopwatch.StartNew();
        var result = ProgressBars.Run($"evaluating {images.Count:N0} images", images.Count, line =>
            Evaluator.Evaluate(bundle.Network, bundle.Preprocessing, images, bundle.Classes.Count, batch,
                new ProgressAction<EvaluationProgress>(p => line.Report(p.Images)), cancellation));
        double seconds = clock.Elapsed.TotalSeconds;

        AnsiConsole.MarkupLine(Markup.Escape($"{bundle.Source} on {images.Source} ({images.Count:N0} images, {backend.Name}, {seconds:F1} s, {images.Count / seconds:F0} img/s)"));
        AnsiConsole.MarkupLine(Markup.Escape($"accuracy {result.Accuracy:P2} ({result.Correct:N0} of {result.Count:N0}), mean cross-entropy {result.MeanLoss:F4}"));
        var perClass = new Table().Border(TableBorder.Rounded).AddColumn("class").AddColumn("name")
            .AddColumn(new TableColumn("images").RightAligned()).AddColumn(new TableColumn("accuracy").RightAligned());
        for (int c = 0; c < result.Classes; c++)
            perClass.AddRow(c.ToString(), Markup.Escape(bundle.Classes[c]), result.ClassCount(c).ToString("N0"),
                result.ClassCount(c) == 0 ? "-" : result.ClassAccuracy(c).ToString("P1"));
        AnsiConsole.Write(perClass);

        AnsiConsole.MarkupLine("confusion matrix (rows: true class, columns: predicted class)");
        var confusion = new Table().Border(TableBorder.Rounded).AddColumn("true \\ predicted");
        for (int c = 0; c < result.Classes; c++) confusion.AddColumn(new TableColumn(c.ToString()).RightAligned());
        for (int t = 0; t < result.Classes; t++)
            confusion.AddRow([Markup.Escape($"{t} {bundle.Classes[t]}"), .. Enumerable.Range(0, result.Classes)
                .Select(p => t == p ? $"[bold]{result.Confusion[t, p]}[/]" : result.Confusion[t, p].ToString())]);
        AnsiConsole.Write(confusion);

        if (json is not null)
        {
            var document = new
            {
                model = bundle.Source,
                data = images.Source,
                images = result.Count,
                accuracy = result.Accuracy,
                meanLoss = result.MeanLoss,
                classes = bundle.Classes,
                perClassAccuracy = Enumerable.Range(0, result.Classes).Select(c => result.ClassCount(c) == 0 ? (double?)null : result.ClassAccuracy(c)),
                confusion = Enumerable.Range(0, result.Classes).Select(t => Enumerable.Range(0, result.Classes).Select(p => result.Confusion[t, p])),
                seconds,
            };
            AtomicFile.WriteAllText(json, JsonSerializer.Serialize(document, Checkpoint.Json));
            AnsiConsole.MarkupLine(Markup.Escape($"wrote {json}"));
        }
    }
}
