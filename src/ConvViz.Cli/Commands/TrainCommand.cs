using System.CommandLine;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Data;
using ConvViz.Engine.Models;
using ConvViz.Engine.Training;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz train --out DIR [--data DIR] [--epochs N] ...`: trains a classifier on an MNIST-style
/// data set by minibatch SGD, checkpoints every epoch into DIR/checkpoint (continue with
/// --resume), draws DIR/training-loss.png and DIR/training-accuracy.png after every epoch (unless --no-charts),
/// and writes the final bundle to DIR: model.onnx, classes.txt, training.json and samples/ (the first images of
/// each class of the test split).
/// </summary>
public static class TrainCommand
{
    /// <summary>What --resume may be given: everything else is the checkpoint's and would be ignored.</summary>
    private static readonly string[] ResumeOptions = ["--out", "--resume", "--force", "--epochs", "--pause-after", "--data", "--samples-per-class", "--no-charts", "--backend", "--device", "--threads"];

    private sealed record Settings(string CommandLine, string Out, bool Resume, string Data, bool DataGiven, int? Limit, string? Model, string Arch, string? ClassesFile,
        TrainingOptions Options, IReadOnlyList<string> OptionsGiven, int? PauseAfter, int SamplesPerClass, bool NoCharts, string Backend, int? Device, int? Threads);

    public static Command Create()
    {
        var defaults = new TrainingOptions();
        var outFolder = new Option<string>("--out") { Description = "Folder for the checkpoint and the final bundle", Required = true }.Names(nameof(TrainingRunRequest.OutputFolder));
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last checkpoint (with its options; --epochs may be raised)" };
        var data = CommonOptions.Data();
        var limit = new Option<int?>("--limit") { Description = "Train on the first N training images only" }.InRange(1, int.MaxValue);
        var model = new Option<string?>("--model") { Description = "Start from this model's weights (a bundle folder or .onnx) instead of a fresh --arch" };
        var arch = new Option<string>("--arch") { Description = $"Architecture to train from seeded random weights: {FashionAlexNet.Name}", DefaultValueFactory = _ => FashionAlexNet.Name };
        var classes = new Option<string?>("--classes") { Description = "Class names, one per line (default: classes.txt in --data, or Fashion-MNIST's names for Debian's folder)" };
        var epochs = new Option<int>("--epochs") { Description = "Epochs to train", DefaultValueFactory = _ => defaults.Epochs }.InRange(1, 1000);
        var batch = new Option<int>("--batch") { Description = "Minibatch size", DefaultValueFactory = _ => defaults.BatchSize }.InRange(1, CommonOptions.MaxBatch).Names(nameof(TrainingOptions.BatchSize));
        var lr = new Option<float>("--lr") { Description = "Base learning rate", DefaultValueFactory = _ => defaults.LearningRate }.Positive(100).Names(nameof(TrainingOptions.LearningRate));
        var policy = new Option<LearningRatePolicy>("--lr-policy") { Description = "Learning-rate schedule: constant, step (times --gamma every --step-epochs), cosine (to zero)", DefaultValueFactory = _ => defaults.Policy }.NamesOnly();
        var stepEpochs = new Option<int>("--step-epochs") { Description = "Epochs between rate drops of the step policy", DefaultValueFactory = _ => defaults.StepEpochs }.InRange(1, 1000);
        var gamma = new Option<float>("--gamma") { Description = "Rate factor at each drop of the step policy", DefaultValueFactory = _ => defaults.Gamma }.Positive(1);
        var momentum = new Option<float>("--momentum") { Description = "SGD momentum", DefaultValueFactory = _ => defaults.Momentum }.InRange(0, 1, maxExclusive: true);
        var decay = new Option<float>("--weight-decay") { Description = "L2 weight decay on weights (not biases)", DefaultValueFactory = _ => defaults.WeightDecay }.InRange(0, 1);
        var seed = new Option<int>("--seed") { Description = "Seed of the initial weights, shuffling, augmentation and dropout", DefaultValueFactory = _ => defaults.Seed }.Seed();
        var shift = new Option<int>("--shift") { Description = "Augmentation: random shifts of up to this many pixels (0: none)", DefaultValueFactory = _ => defaults.MaxShift }.InRange(0, 64).Names(nameof(TrainingOptions.MaxShift));
        var warmup = new Option<double>("--warmup") { Description = "Epochs over which the rate ramps up linearly from 0 (0: none)", DefaultValueFactory = _ => defaults.WarmupEpochs }.InRange(0, 1000).Names(nameof(TrainingOptions.WarmupEpochs));
        var noFlip = new Option<bool>("--no-flip") { Description = "Augmentation: no random left-right mirroring" };
        var pauseAfter = new Option<int?>("--pause-after") { Description = "Stop after this many epochs (of --epochs), leaving the checkpoint to --resume later" }.InRange(1, 1000);
        var samples = new Option<int>("--samples-per-class") { Description = "Test images of each class to copy into the bundle's samples/ (0: none)", DefaultValueFactory = _ => 100 }.InRange(0, 10_000);
        var noCharts = new Option<bool>("--no-charts") { Description = "Draw no loss and accuracy charts (they need a font; the numbers stay in training.json)" }.Names(nameof(TrainingRunRequest.Charts));
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("train", "Train a classifier on an MNIST-style data set (default: Fashion-MNIST) and write it as a bundle")
        {
            outFolder, resume, data, limit, model, arch, classes, epochs, batch, lr, policy, stepEpochs, gamma, warmup, momentum, decay, seed, shift, noFlip,
            pauseAfter, samples, noCharts, backend, device, threads,
        };
        command.SetAction((result, cancellation) => Task.FromResult(Execute(new Settings("convviz " + string.Join(' ', result.Tokens.Select(t => t.Value)), result.GetValue(outFolder)!, result.GetValue(resume), result.GetValue(data)!,
            result.GetResult(data) is { Implicit: false }, result.GetValue(limit), result.GetValue(model), result.GetValue(arch)!, result.GetValue(classes),
            new TrainingOptions
            {
                Epochs = result.GetValue(epochs), BatchSize = result.GetValue(batch), LearningRate = result.GetValue(lr), Policy = result.GetValue(policy),
                StepEpochs = result.GetValue(stepEpochs), Gamma = result.GetValue(gamma), WarmupEpochs = result.GetValue(warmup), Momentum = result.GetValue(momentum),
                WeightDecay = result.GetValue(decay), Seed = result.GetValue(seed), MaxShift = result.GetValue(shift), Flip = !result.GetValue(noFlip),
            },
            command.Options.Where(result.Given).Select(o => o.Name).ToArray(),
            result.GetValue(pauseAfter), result.GetValue(samples), result.GetValue(noCharts), result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads)), cancellation)));
        return command;
    }

    /// <summary>Trains; cancelled (Ctrl+C), it stops within a batch and keeps the last epoch's checkpoint.</summary>
    private static int Execute(Settings s, CancellationToken cancellation)
    {
        // Only --resume may change these; a plain rerun of the same command continues its run too.
        var changed = s.OptionsGiven.Except(ResumeOptions).ToArray();
        if (s.Resume && changed.Length > 0)
            throw new UserError($"--resume continues with the checkpoint's own settings; only --epochs, --pause-after, --data, --samples-per-class, --no-charts and the backend options may be given (got {string.Join(", ", changed)})");
        using var backend = BackendCatalog.Create(s.Backend, s.Device, s.Threads);
        var request = new TrainingRunRequest
        {
            OutputFolder = s.Out, Options = s.Options, Resume = s.Resume, Epochs = s.OptionsGiven.Contains("--epochs") ? s.Options.Epochs : null,
            PauseAfter = s.PauseAfter, DataFolder = s.Resume && !s.DataGiven ? null : s.Data, TrainLimit = s.Limit, StartsFromModel = s.Model is not null,
            SamplesPerClass = s.SamplesPerClass, CommandLine = s.CommandLine, Charts = !s.NoCharts,
        };
        var result = RunWithProgress(request, backend, () => Start(s, backend), cancellation);
        switch (result.Outcome)
        {
            case TrainingOutcome.Interrupted:
                AnsiConsole.MarkupLine(Markup.Escape(result.SavedEpochs > 0
                    ? $"interrupted: {result.SavedEpochs} epoch(s) are saved in {result.CheckpointFolder}; continue with `convviz train --out {s.Out} --resume`"
                    : "interrupted before the first epoch was saved: nothing is saved"));
                return 130;
            case TrainingOutcome.Paused:
                AnsiConsole.MarkupLine(Markup.Escape($"paused after epoch {result.CompletedEpochs} of {result.Epochs}: the checkpoint is in {result.CheckpointFolder}; continue with `convviz train --out {s.Out} --resume`"));
                return 0;
            default:
                AnsiConsole.MarkupLine(Markup.Escape($"trained {result.CompletedEpochs} epochs in {Format(result.Seconds)}" +
                    (result.Test is { } test ? $"; test accuracy {test.Accuracy:P2} on {test.Count:N0} images" : "") + $"; wrote the bundle to {s.Out}"));
                return 0;
        }
    }

    /// <summary>A fresh run's model and data, checked before the first batch.</summary>
    private static TrainingStart Start(Settings s, Backend backend)
    {
        if (s.Model is not null && s.OptionsGiven.Contains("--arch"))
            throw new UserError($"--arch {s.Arch} builds a fresh model and --model {s.Model} starts from a trained one; give one of them");
        if (s.Options.Policy != LearningRatePolicy.Step)
            foreach (var stepOnly in new[] { "--step-epochs", "--gamma" })
                if (s.OptionsGiven.Contains(stepOnly))
                    throw new UserError($"{stepOnly} applies to --lr-policy step only, but the policy is {s.Options.Policy.ToString().ToLowerInvariant()}; give --lr-policy step or leave {stepOnly} out");
        if (s.Model is null && !string.Equals(s.Arch, FashionAlexNet.Name, StringComparison.OrdinalIgnoreCase))
            throw new UserError($"--arch '{s.Arch}' is unknown; expected {FashionAlexNet.Name}");
        var train = DataSets.Load(s.Data, LabeledImages.TrainSplit, s.Limit);
        if (train.Count == 0) throw new UserError($"{train.Source} holds no images");
        var bundle = s.Model is null ? null : ModelCatalog.Open(s.Model, backend);
        try
        {
            if (bundle is not null) ClassScores.Require(bundle, "train (it fits class scores to labels)", "start from a model with a classifier, or leave --model out for a fresh fashion-alexnet");
            var classes = DataSets.Classes(s.Data, s.ClassesFile, train, bundle?.Classes);
            bundle ??= new ModelBundle(FashionAlexNet.Name, FashionAlexNet.Create(backend, s.Options.Seed, classes.Count), FashionAlexNet.Preprocessing, classes, []);
            int outputs = bundle.Network.OutputShape(bundle.Network.Layers[^1].Name, 1).SampleSize;
            if (outputs != classes.Count)
                throw new UserError($"the model has {outputs} outputs but the data has {classes.Count} classes; the output size must equal the number of classes");
            if (s.Model is not null) bundle = new ModelBundle(bundle.Source, bundle.Network, bundle.Preprocessing, classes, bundle.Notes);
            return new TrainingStart(bundle, train, s.Data, s.Limit);
        }
        catch
        {
            bundle?.Dispose();
            throw;
        }
    }

    /// <summary>Runs the engine under the console's progress display: the run's header, a bar per epoch and per
    /// test pass, and a line per saved epoch.</summary>
    private static TrainingRunResult RunWithProgress(TrainingRunRequest request, Backend backend, Func<TrainingStart> start, CancellationToken cancellation)
    {
        TrainingRunResult result = null!;
        AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                ProgressTask? epochTask = null, testTask = null;
                int total = 0, trainImages = 0, testImages = 0;
                result = TrainingRun.Run(request, backend, start, new ProgressAction<TrainingProgress>(report =>
                {
                    switch (report)
                    {
                        case TrainingStarted started:
                            var o = started.Options;
                            (total, trainImages, testImages) = (o.Epochs, started.TrainImages, started.TestImages ?? 0);
                            AnsiConsole.MarkupLine(Markup.Escape($"training {started.Model} ({started.ParameterCount:N0} parameters) on {started.TrainImages:N0} images of {started.TrainSource} on {backend.Description}"));
                            AnsiConsole.MarkupLine(Markup.Escape($"epochs {o.Epochs}, batch {o.BatchSize}, lr {o.LearningRate} ({o.Policy.ToString().ToLowerInvariant()}{(o.WarmupEpochs > 0 ? $", warmup {o.WarmupEpochs} epochs" : "")}), momentum {o.Momentum}, weight decay {o.WeightDecay}, seed {o.Seed}, shift {o.MaxShift}, flip {(o.Flip ? "on" : "off")}" +
                                (started.CompletedEpochs > 0 ? $"; resuming after epoch {started.CompletedEpochs}" : "")));
                            break;
                        case TrainingBatch { Report: var r }:
                            if (r.Batch == 1) (epochTask, testTask) = (context.AddTask($"epoch {r.Epoch}/{total}", maxValue: trainImages), null);
                            epochTask!.Value = r.Images;
                            epochTask.Description = $"epoch {r.Epoch}/{total}  loss {r.Loss:F4}  acc {r.Accuracy:P1}  {r.ImagesPerSecond:F0} img/s  lr {r.LearningRate:G3}";
                            break;
                        case TrainingTest { Report: var p }:
                            testTask ??= context.AddTask($"  test {testImages:N0} images", maxValue: testImages);
                            testTask.Value = p.Images;
                            break;
                        case TrainingEpochSaved { Record: var record }:
                            if (testTask is not null) testTask.Description = $"  test loss {record.TestLoss:F4}  acc {record.TestAccuracy:P2}";
                            testTask = null;
                            AnsiConsole.MarkupLine(Markup.Escape($"epoch {record.Epoch}/{total}: train loss {record.Loss:F4} acc {record.Accuracy:P2}" +
                                (record.TestAccuracy is { } acc ? $", test loss {record.TestLoss:F4} acc {acc:P2}" : "") +
                                $", {record.Seconds:F1} s ({record.ImagesPerSecond:F0} img/s); checkpoint saved"));
                            break;
                    }
                }), cancellation);
            });
        return result;
    }

    private static string Format(double seconds) => TimeSpan.FromSeconds(seconds).ToString(seconds >= 3600 ? @"h\:mm\:ss" : @"m\:ss");
}
