using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Data;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Training;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz train --out DIR [--data DIR] [--epochs N] ...`: trains a classifier on an MNIST-style
/// data set by minibatch SGD, checkpoints every epoch into DIR/checkpoint (continue with
/// --resume), and writes the final bundle to DIR: model.onnx, classes.txt, training.json and
/// samples/ (the first images of each class of the test split).
/// </summary>
public static class TrainCommand
{
    public const string CheckpointFolder = "checkpoint", ReportFile = "training.json";

    /// <summary>What --resume may be given: everything else is the checkpoint's and would be ignored.</summary>
    private static readonly string[] ResumeOptions = ["--out", "--resume", "--force", "--epochs", "--pause-after", "--data", "--samples-per-class", "--backend", "--device", "--threads"];

    private sealed record Settings(string CommandLine, string Out, bool Resume, string Data, bool DataGiven, int? Limit, string? Model, string Arch, string? ClassesFile,
        TrainingOptions Options, IReadOnlyList<string> OptionsGiven, int? PauseAfter, int SamplesPerClass, string Backend, int? Device, int? Threads);

    public static Command Create()
    {
        var defaults = new TrainingOptions();
        var outFolder = new Option<string>("--out") { Description = "Folder for the checkpoint and the final bundle", Required = true };
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
        var backend = CommonOptions.Backend();
        var device = CommonOptions.Device();
        var threads = CommonOptions.Threads();
        var command = new Command("train", "Train a classifier on an MNIST-style data set (default: Fashion-MNIST) and write it as a bundle")
        {
            outFolder, resume, data, limit, model, arch, classes, epochs, batch, lr, policy, stepEpochs, gamma, warmup, momentum, decay, seed, shift, noFlip,
            pauseAfter, samples, backend, device, threads,
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
            result.GetValue(pauseAfter), result.GetValue(samples), result.GetValue(backend)!, result.GetValue(device), result.GetValue(threads)), cancellation)));
        return command;
    }

    /// <summary>Trains; cancelled (Ctrl+C), it stops within a batch and keeps the last epoch's checkpoint.</summary>
    private static int Execute(Settings s, CancellationToken cancellation)
    {
        string checkpoint = Path.Combine(s.Out, CheckpointFolder);
        using var backend = BackendCatalog.Create(s.Backend, s.Device, s.Threads);

        // A run killed in the middle of swapping checkpoints left it as checkpoint.next or .old: put it back first.
        bool saved = Checkpoint.Recover(checkpoint);
        // Everything that can be wrong is checked here, before the first batch. The same command again
        // continues its own run, as --resume does.
        var (bundle, trainer, dataFolder, limit, train) = s.Resume || saved && IsSameRun(s, checkpoint)
            ? Resume(s, checkpoint, backend)
            : Start(s, checkpoint, backend);
        using var ownedBundle = bundle;
        using var ownedTrainer = trainer;
        var test = LabeledImages.HasSplit(dataFolder, LabeledImages.TestSplit) ? DataSets.Load(dataFolder, LabeledImages.TestSplit) : null;
        ImageBatches.CheckFits(bundle.Network, bundle.Preprocessing, train, bundle.Classes.Count);
        if (test is not null) ImageBatches.CheckFits(bundle.Network, bundle.Preprocessing, test, bundle.Classes.Count);

        var o = trainer.Options;
        AnsiConsole.MarkupLine(Markup.Escape($"training {bundle.Source} ({bundle.Network.Parameters.Sum(p => (long)p.Value.ElementCount):N0} parameters) on {train.Count:N0} images of {train.Source} on {backend.Description}"));
        AnsiConsole.MarkupLine(Markup.Escape($"epochs {o.Epochs}, batch {o.BatchSize}, lr {o.LearningRate} ({o.Policy.ToString().ToLowerInvariant()}{(o.WarmupEpochs > 0 ? $", warmup {o.WarmupEpochs} epochs" : "")}), momentum {o.Momentum}, weight decay {o.WeightDecay}, seed {o.Seed}, shift {o.MaxShift}, flip {(o.Flip ? "on" : "off")}" +
            (trainer.CompletedEpochs > 0 ? $"; resuming after epoch {trainer.CompletedEpochs}" : "")));

        EvaluationResult? final;
        try
        {
            final = RunEpochs(bundle, trainer, train, test, checkpoint, dataFolder, limit, s.PauseAfter ?? int.MaxValue, cancellation);
        }
        catch (OperationCanceledException)
        {
            // What the checkpoint on the disk holds, not what ran: an epoch interrupted in its test pass is not saved.
            int savedEpochs = File.Exists(Path.Combine(checkpoint, Checkpoint.StateFile)) ? Checkpoint.ReadState(checkpoint).History.Count : 0;
            AnsiConsole.MarkupLine(Markup.Escape(savedEpochs > 0
                ? $"interrupted: {savedEpochs} epoch(s) are saved in {checkpoint}; continue with `convviz train --out {s.Out} --resume`"
                : "interrupted before the first epoch was saved: nothing is saved"));
            return 130;
        }
        if (trainer.CompletedEpochs < o.Epochs)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"paused after epoch {trainer.CompletedEpochs} of {o.Epochs}: the checkpoint is in {checkpoint}; continue with `convviz train --out {s.Out} --resume`"));
            return 0;
        }

        // A run resumed after its last checkpoint has not evaluated the final model yet; the result is the same.
        final ??= test is null ? null : ProgressBars.Run($"test {test.Count:N0} images", test.Count, line =>
            Evaluator.Evaluate(bundle.Network, bundle.Preprocessing, test, bundle.Classes.Count,
                progress: new ProgressAction<EvaluationProgress>(p => line.Report(p.Images)), cancellation: cancellation));
        bundle.Save(s.Out);
        if (test is not null && s.SamplesPerClass > 0)
            test.FirstOfEachClass(s.SamplesPerClass).SaveSplit(Path.Combine(s.Out, ModelBundle.SamplesFolder), LabeledImages.TestSplit);
        WriteReport(s, bundle, trainer, train, test, final, dataFolder, limit, backend);
        AnsiConsole.MarkupLine(Markup.Escape($"trained {trainer.CompletedEpochs} epochs in {Format(trainer.Seconds)}" +
            (final is null ? "" : $"; test accuracy {final.Accuracy:P2} on {final.Count:N0} images") + $"; wrote the bundle to {s.Out}"));
        return 0;
    }

    private static (ModelBundle, Trainer, string DataFolder, int? Limit, LabeledImages Train) Start(Settings s, string checkpoint, Backend backend)
    {
        if (Directory.Exists(checkpoint) || File.Exists(Path.Combine(s.Out, ModelBundle.ModelFile)))
            throw new UserError($"--out {s.Out} already holds a training run; continue it with --resume, or choose another --out");
        s.Options.Validate();
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
            return (bundle, new Trainer(bundle.Network, bundle.Preprocessing, classes.Count, s.Options), s.Data, s.Limit, train);
        }
        catch
        {
            bundle?.Dispose();
            throw;
        }
    }

    /// <summary>Whether this command line asks for exactly the run saved in the checkpoint (a plain rerun of the same command).</summary>
    private static bool IsSameRun(Settings s, string checkpoint)
    {
        var state = Checkpoint.ReadState(checkpoint);
        return s.Model is null && state.Options == s.Options && state.TrainLimit == s.Limit
               && Path.GetFullPath(state.DataFolder) == Path.GetFullPath(s.Data);
    }

    /// <summary>Whether the bundle in --out was written from this checkpoint's last epoch: training.json is written last and records the epochs.</summary>
    private static bool IsFinished(string outFolder, TrainingState state)
    {
        string report = Path.Combine(outFolder, ReportFile);
        if (!File.Exists(report)) return false;
        try
        {
            using var document = JsonDocument.Parse(InputFiles.ReadAllBytes(report, "the run's training.json", Checkpoint.MaxStateBytes));
            return document.RootElement.TryGetProperty("history", out var history) && history.GetArrayLength() == state.History.Count;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static (ModelBundle, Trainer, string DataFolder, int? Limit, LabeledImages Train) Resume(Settings s, string checkpoint, Backend backend)
    {
        if (!Directory.Exists(checkpoint))
            throw new UserError($"--resume: {s.Out} has no checkpoint folder ({CheckpointFolder}/); start a run without --resume");
        // A plain rerun of the same command continues too (IsSameRun); only --resume may differ in these options.
        var changed = s.OptionsGiven.Except(ResumeOptions).ToArray();
        if (s.Resume && changed.Length > 0)
            throw new UserError($"--resume continues with the checkpoint's own settings; only --epochs, --pause-after, --data, --samples-per-class and the backend options may be given (got {string.Join(", ", changed)})");
        var (bundle, state) = Checkpoint.Load(checkpoint, backend);
        try
        {
            var options = s.OptionsGiven.Contains("--epochs") ? state.Options with { Epochs = s.Options.Epochs } : state.Options;
            // All epochs done but the bundle not written (killed in between): go on to write it.
            if (options.Epochs < state.History.Count || options.Epochs == state.History.Count && IsFinished(s.Out, state))
                throw new UserError($"all {state.History.Count} epochs are done in {checkpoint}; raise --epochs above {state.History.Count} to train further");
            var trainer = Checkpoint.Resume(checkpoint, bundle, state, options);
            string dataFolder = s.DataGiven ? s.Data : state.DataFolder;
            return (bundle, trainer, dataFolder, state.TrainLimit, DataSets.Load(dataFolder, LabeledImages.TrainSplit, state.TrainLimit));
        }
        catch
        {
            bundle.Dispose();
            throw;
        }
    }

    /// <summary>Trains up to --epochs or --pause-after, checkpointing each epoch; returns the last
    /// epoch's test-split evaluation (null without a test split).</summary>
    private static EvaluationResult? RunEpochs(ModelBundle bundle, Trainer trainer, LabeledImages train, LabeledImages? test, string checkpoint,
        string dataFolder, int? limit, int pauseAfter, CancellationToken cancellation)
    {
        int total = trainer.Options.Epochs;
        EvaluationResult? lastTest = null;
        while (trainer.CompletedEpochs < Math.Min(total, pauseAfter))
        {
            int epoch = trainer.CompletedEpochs + 1;
            EpochRecord record = null!;
            AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(progress =>
                {
                    var task = progress.AddTask($"epoch {epoch}/{total}", maxValue: train.Count);
                    record = trainer.RunEpoch(train, new ProgressAction<BatchReport>(r =>
                    {
                        task.Value = r.Images;
                        task.Description = $"epoch {epoch}/{total}  loss {r.Loss:F4}  acc {r.Accuracy:P1}  {r.ImagesPerSecond:F0} img/s  lr {r.LearningRate:G3}";
                    }), cancellation);
                    if (test is not null)
                    {
                        var evaluation = progress.AddTask($"  test {test.Count:N0} images", maxValue: test.Count);
                        lastTest = Evaluator.Evaluate(bundle.Network, bundle.Preprocessing, test, bundle.Classes.Count,
                            progress: new ProgressAction<EvaluationProgress>(p => evaluation.Value = p.Images), cancellation: cancellation);
                        trainer.RecordTest(lastTest);
                        record = trainer.History[^1];
                        evaluation.Description = $"  test loss {record.TestLoss:F4}  acc {record.TestAccuracy:P2}";
                    }
                });
            Checkpoint.Save(checkpoint, bundle, trainer, dataFolder, limit);
            AnsiConsole.MarkupLine(Markup.Escape($"epoch {epoch}/{total}: train loss {record.Loss:F4} acc {record.Accuracy:P2}" +
                (record.TestAccuracy is { } acc ? $", test loss {record.TestLoss:F4} acc {acc:P2}" : "") +
                $", {record.Seconds:F1} s ({record.ImagesPerSecond:F0} img/s); checkpoint saved"));
        }
        return lastTest;
    }

    private static void WriteReport(Settings s, ModelBundle bundle, Trainer trainer, LabeledImages train, LabeledImages? test,
        EvaluationResult? final, string dataFolder, int? limit, Backend backend)
    {
        var report = new
        {
            model = bundle.Source,
            command = s.CommandLine,
            options = trainer.Options,
            data = new { folder = Path.GetFullPath(dataFolder), trainImages = train.Count, limit, testImages = test?.Count },
            backend = backend.Description,
            trainingSeconds = trainer.Seconds,
            test = final is null ? null : new
            {
                accuracy = final.Accuracy,
                loss = final.MeanLoss,
                perClass = Enumerable.Range(0, final.Classes).ToDictionary(c => bundle.Classes[c], final.ClassAccuracy),
            },
            history = trainer.History,
        };
        AtomicFile.WriteAllText(Path.Combine(s.Out, ReportFile), JsonSerializer.Serialize(report, Checkpoint.Json));
    }

    private static string Format(double seconds) => TimeSpan.FromSeconds(seconds).ToString(seconds >= 3600 ? @"h\:mm\:ss" : @"m\:ss");
}
