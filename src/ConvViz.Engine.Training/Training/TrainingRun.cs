using System.Text.Json;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Data;
using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;

namespace ConvViz.Engine.Training;

/// <summary>What a fresh run starts from: the model whose weights it trains (the run owns and disposes
/// it), the training images, and the folder and limit they were loaded with (recorded for a resume).</summary>
public sealed record TrainingStart(ModelBundle Bundle, LabeledImages Train, string DataFolder, int? TrainLimit);

/// <summary>What <see cref="TrainingRun.Run"/> is asked to do in <see cref="OutputFolder"/>.</summary>
public sealed record TrainingRunRequest
{
    /// <summary>Holds the run: its checkpoint folder while it trains, the final bundle and training.json at the end.</summary>
    public required string OutputFolder { get; init; }

    /// <summary>A fresh run's options. A checkpoint's own options are kept on a resume, except <see cref="Epochs"/>.</summary>
    public required TrainingOptions Options { get; init; }

    /// <summary>Continue the run in <see cref="OutputFolder"/> (it must hold a checkpoint). Without it a run
    /// continues too when its checkpoint records exactly this request (the same command run again).</summary>
    public bool Resume { get; init; }

    /// <summary>On a resume: the run's new epoch count (null keeps the checkpoint's).</summary>
    public int? Epochs { get; init; }

    /// <summary>Stop after this many epochs in all, leaving the checkpoint to resume from (null: train them all).</summary>
    public int? PauseAfter { get; init; }

    /// <summary>The training data's folder (its test split is evaluated after each epoch when it has one);
    /// on a resume null takes the checkpoint's.</summary>
    public string? DataFolder { get; init; }

    /// <summary>A fresh run's limit on the training images (compared with a checkpoint's to recognise the same run).</summary>
    public int? TrainLimit { get; init; }

    /// <summary>Whether a fresh run starts from a trained model: such a run is never taken for the one in a checkpoint.</summary>
    public bool StartsFromModel { get; init; }

    /// <summary>Test images of each class copied into the bundle's samples/ folder (0: none).</summary>
    public int SamplesPerClass { get; init; }

    /// <summary>How the run was asked for (recorded in training.json).</summary>
    public string? CommandLine { get; init; }

    /// <summary>Draw the loss and accuracy by epoch as PNG charts in <see cref="OutputFolder"/> after every epoch (they need a
    /// font, checked before the first batch); false: none, the numbers stay in training.json and the checkpoint.</summary>
    public bool Charts { get; init; } = true;
}

/// <summary>How <see cref="TrainingRun.Run"/> ended.</summary>
public enum TrainingOutcome
{
    /// <summary>Every epoch is trained and the bundle written.</summary>
    Finished,

    /// <summary>Stopped after <see cref="TrainingRunRequest.PauseAfter"/> epochs; the checkpoint holds the run.</summary>
    Paused,

    /// <summary>Cancelled; the checkpoint holds <see cref="TrainingRunResult.SavedEpochs"/> epochs (none when 0).</summary>
    Interrupted,
}

/// <summary>What a run did: the epochs trained (all of them, also those before a resume), the epochs its
/// checkpoint holds, and at the end the final test-split results (null without a test split).</summary>
public sealed record TrainingRunResult(TrainingOutcome Outcome, int CompletedEpochs, int Epochs, int SavedEpochs, double Seconds,
    string CheckpointFolder, EvaluationResult? Test);

/// <summary>Progress of a training run; one of the records below.</summary>
public abstract record TrainingProgress;

/// <summary>Before the first batch: the model and data the run trains, with what options, and the epochs already done (a resume).</summary>
public sealed record TrainingStarted(string Model, long ParameterCount, int TrainImages, string TrainSource, int? TestImages,
    TrainingOptions Options, int CompletedEpochs) : TrainingProgress;

/// <summary>After each training batch.</summary>
public sealed record TrainingBatch(BatchReport Report) : TrainingProgress;

/// <summary>After each batch of a test-split evaluation: after epoch <paramref name="Epoch"/>.</summary>
public sealed record TrainingTest(int Epoch, EvaluationProgress Report) : TrainingProgress;

/// <summary>After an epoch is trained, evaluated and checkpointed.</summary>
public sealed record TrainingEpochSaved(EpochRecord Record, int Epochs) : TrainingProgress;

/// <summary>
/// A whole training run in one folder, as `convviz train` runs it: starts fresh or resumes from the
/// folder's checkpoint (first put back by <see cref="Checkpoint.Recover"/> after a kill), trains epoch by
/// epoch, evaluates the test split and checkpoints after each, and at the end writes the bundle, samples/
/// and training.json (last: its presence says the run is finished). Everything that can be wrong is checked
/// before the first batch. After each epoch it draws <see cref="LossChart"/> and <see cref="AccuracyChart"/> (train and
/// test by epoch, the whole run's history). Cancelled, it stops within a batch and keeps the last epoch's checkpoint.
/// </summary>
public static class TrainingRun
{
    public const string CheckpointFolder = "checkpoint", ReportFile = "training.json", LossChart = "training-loss.png", AccuracyChart = "training-accuracy.png";

    /// <param name="start">Builds a fresh run's model and data; called only when the run does not continue a checkpoint.</param>
    public static TrainingRunResult Run(TrainingRunRequest request, Backend backend, Func<TrainingStart> start,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        string checkpoint = Path.Combine(request.OutputFolder, CheckpointFolder);
        if (request.Charts) FigureFont.Require();
        bool saved = Checkpoint.Recover(checkpoint);
        var (bundle, trainer, dataFolder, limit, train) = request.Resume || saved && IsSameRun(request, checkpoint)
            ? Resume(request, checkpoint, backend)
            : Start(request, checkpoint, start);
        using var ownedBundle = bundle;
        using var ownedTrainer = trainer;
        var test = LabeledImages.HasSplit(dataFolder, LabeledImages.TestSplit) ? LabeledImages.LoadSplit(dataFolder, LabeledImages.TestSplit) : null;
        ImageBatches.CheckFits(bundle.Network, bundle.Preprocessing, train, bundle.Classes.Count);
        if (test is not null) ImageBatches.CheckFits(bundle.Network, bundle.Preprocessing, test, bundle.Classes.Count);
        progress?.Report(new TrainingStarted(bundle.Source, bundle.Network.Parameters.Sum(p => (long)p.Value.ElementCount), train.Count, train.Source,
            test?.Count, trainer.Options, trainer.CompletedEpochs));

        int epochs = trainer.Options.Epochs;
        EvaluationResult? final;
        try
        {
            final = RunEpochs(bundle, trainer, train, test, checkpoint, dataFolder, limit, request.PauseAfter ?? int.MaxValue,
                request.Charts ? request.OutputFolder : null, progress, cancellation);
        }
        catch (OperationCanceledException)
        {
            // What the checkpoint on the disk holds, not what ran: an epoch interrupted in its test pass is not saved.
            int savedEpochs = File.Exists(Path.Combine(checkpoint, Checkpoint.StateFile)) ? Checkpoint.ReadState(checkpoint).History.Count : 0;
            return new TrainingRunResult(TrainingOutcome.Interrupted, trainer.CompletedEpochs, epochs, savedEpochs, trainer.Seconds, checkpoint, null);
        }
        if (trainer.CompletedEpochs < epochs)
            return new TrainingRunResult(TrainingOutcome.Paused, trainer.CompletedEpochs, epochs, trainer.CompletedEpochs, trainer.Seconds, checkpoint, null);

        // A run resumed after its last checkpoint has not evaluated the final model yet; the result is the same.
        final ??= test is null ? null : Evaluate(bundle, test, trainer.CompletedEpochs, progress, cancellation);
        bundle.Save(request.OutputFolder);
        if (test is not null && request.SamplesPerClass > 0)
            test.FirstOfEachClass(request.SamplesPerClass).SaveSplit(Path.Combine(request.OutputFolder, ModelBundle.SamplesFolder), LabeledImages.TestSplit);
        WriteReport(request, bundle, trainer, train, test, final, dataFolder, limit, backend);
        return new TrainingRunResult(TrainingOutcome.Finished, trainer.CompletedEpochs, epochs, trainer.CompletedEpochs, trainer.Seconds, checkpoint, final);
    }

    private static (ModelBundle, Trainer, string DataFolder, int? Limit, LabeledImages Train) Start(TrainingRunRequest request, string checkpoint, Func<TrainingStart> start)
    {
        if (Directory.Exists(checkpoint) || File.Exists(Path.Combine(request.OutputFolder, ModelBundle.ModelFile)))
            throw new ArgumentException($"{nameof(TrainingRunRequest.OutputFolder)} {request.OutputFolder} already holds a training run; continue it with {nameof(TrainingRunRequest.Resume)}, or choose another {nameof(TrainingRunRequest.OutputFolder)}",
                nameof(TrainingRunRequest.OutputFolder));
        request.Options.Validate();
        var fresh = start();
        try
        {
            if (fresh.Train.Count == 0) throw new InvalidDataException($"{fresh.Train.Source} holds no images");
            var trainer = new Trainer(fresh.Bundle.Network, fresh.Bundle.Preprocessing, fresh.Bundle.Classes.Count, request.Options);
            return (fresh.Bundle, trainer, fresh.DataFolder, fresh.TrainLimit, fresh.Train);
        }
        catch
        {
            fresh.Bundle.Dispose();
            throw;
        }
    }

    /// <summary>Whether the request asks for exactly the run saved in the checkpoint (a plain rerun of the same command).</summary>
    private static bool IsSameRun(TrainingRunRequest request, string checkpoint)
    {
        var state = Checkpoint.ReadState(checkpoint);
        return !request.StartsFromModel && state.Options == request.Options && state.TrainLimit == request.TrainLimit
               && request.DataFolder is not null && Path.GetFullPath(state.DataFolder) == Path.GetFullPath(request.DataFolder);
    }

    /// <summary>Whether the bundle in the output folder was written from this checkpoint's last epoch: training.json is written last and records the epochs.</summary>
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

    private static (ModelBundle, Trainer, string DataFolder, int? Limit, LabeledImages Train) Resume(TrainingRunRequest request, string checkpoint, Backend backend)
    {
        if (!Directory.Exists(checkpoint))
            throw new ArgumentException($"{nameof(TrainingRunRequest.Resume)}: {request.OutputFolder} has no checkpoint folder ({CheckpointFolder}/); start a run without {nameof(TrainingRunRequest.Resume)}",
                nameof(TrainingRunRequest.Resume));
        var (bundle, state) = Checkpoint.Load(checkpoint, backend);
        try
        {
            var options = request.Epochs is { } epochs ? state.Options with { Epochs = epochs } : state.Options;
            // All epochs done but the bundle not written (killed in between): go on to write it.
            if (options.Epochs < state.History.Count || options.Epochs == state.History.Count && IsFinished(request.OutputFolder, state))
                throw new ArgumentException($"all {state.History.Count} epochs are done in {checkpoint}; raise {nameof(TrainingOptions.Epochs)} above {state.History.Count} to train further",
                    nameof(TrainingOptions.Epochs));
            var trainer = Checkpoint.Resume(checkpoint, bundle, state, options);
            string dataFolder = request.DataFolder ?? state.DataFolder;
            var all = LabeledImages.LoadSplit(dataFolder, LabeledImages.TrainSplit);
            return (bundle, trainer, dataFolder, state.TrainLimit, state.TrainLimit is { } n ? all.Take(n) : all);
        }
        catch
        {
            bundle.Dispose();
            throw;
        }
    }

    /// <summary>Trains up to the run's epochs or <paramref name="pauseAfter"/>, checkpointing each epoch and drawing the charts into
    /// <paramref name="chartFolder"/> (null: none); returns the last epoch's test-split evaluation (null without a test split or when no epoch ran).</summary>
    private static EvaluationResult? RunEpochs(ModelBundle bundle, Trainer trainer, LabeledImages train, LabeledImages? test, string checkpoint,
        string dataFolder, int? limit, int pauseAfter, string? chartFolder, IProgress<TrainingProgress>? progress, CancellationToken cancellation)
    {
        int total = trainer.Options.Epochs;
        EvaluationResult? lastTest = null;
        var batches = progress is null ? null : new ProgressAction<BatchReport>(r => progress.Report(new TrainingBatch(r)));
        while (trainer.CompletedEpochs < Math.Min(total, pauseAfter))
        {
            trainer.RunEpoch(train, batches, cancellation);
            if (test is not null)
            {
                lastTest = Evaluate(bundle, test, trainer.CompletedEpochs, progress, cancellation);
                trainer.RecordTest(lastTest);
            }
            Checkpoint.Save(checkpoint, bundle, trainer, dataFolder, limit);
            if (chartFolder is not null) WriteCharts(chartFolder, bundle.Source, trainer.History);
            progress?.Report(new TrainingEpochSaved(trainer.History[^1], total));
        }
        return lastTest;
    }

    /// <summary>The mean training loss and accuracy of each epoch (dropout and augmentation on) beside the test split's, when measured.</summary>
    internal static void WriteCharts(string folder, string model, IReadOnlyList<EpochRecord> history)
    {
        var epochs = history.Select(r => (double)r.Epoch).ToArray();
        bool tested = history.Any(r => r.TestLoss is not null);
        ChartSeries[] Curves(Func<EpochRecord, double> trainValue, Func<EpochRecord, double?> testValue) => tested
            ? [new ChartSeries("train", epochs, history.Select(trainValue).ToArray()), new ChartSeries("test", epochs, history.Select(r => testValue(r) ?? double.NaN).ToArray())]
            : [new ChartSeries("train", epochs, history.Select(trainValue).ToArray())];
        ImageFile.Write(Path.Combine(folder, LossChart),
            new LineChart($"Training {model}: mean cross-entropy by epoch", "epoch", "loss", Curves(r => r.Loss, r => r.TestLoss)).Draw());
        ImageFile.Write(Path.Combine(folder, AccuracyChart),
            new LineChart($"Training {model}: accuracy by epoch", "epoch", "accuracy (%)", Curves(r => 100 * r.Accuracy, r => 100 * r.TestAccuracy)).Draw());
    }

    private static EvaluationResult Evaluate(ModelBundle bundle, LabeledImages test, int epoch, IProgress<TrainingProgress>? progress, CancellationToken cancellation) =>
        Evaluator.Evaluate(bundle.Network, bundle.Preprocessing, test, bundle.Classes.Count,
            progress: progress is null ? null : new ProgressAction<EvaluationProgress>(p => progress.Report(new TrainingTest(epoch, p))), cancellation: cancellation);

    private static void WriteReport(TrainingRunRequest request, ModelBundle bundle, Trainer trainer, LabeledImages train, LabeledImages? test,
        EvaluationResult? final, string dataFolder, int? limit, Backend backend)
    {
        var report = new
        {
            model = bundle.Source,
            command = request.CommandLine,
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
        AtomicFile.WriteAllText(Path.Combine(request.OutputFolder, ReportFile), JsonSerializer.Serialize(report, Checkpoint.Json));
    }
}
