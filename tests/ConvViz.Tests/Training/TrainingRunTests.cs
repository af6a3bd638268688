using ConvViz.Engine;
using System.Text.Json;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Models;
using ConvViz.Engine.Training;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Training;

/// <summary><see cref="TrainingRun.Run"/> without the CLI: a finished run's files, and a cancelled run
/// that keeps its last checkpoint and resumes from it.</summary>
public sealed class TrainingRunTests
{
    private static readonly Lazy<string> SmallData = new(() => FashionMnist.SubsetFolder(train: 64, test: 20));

    [Fact]
    public void OneEpoch_WritesCheckpointBundleAndHistory()
    {
        string output = Path.Combine(FashionMnist.TempFolder(), "run");
        using var backend = new CpuBackend(threads: 1);
        var reports = new List<TrainingProgress>();
        var result = TrainingRun.Run(Request(output, epochs: 1), backend, () => FreshStart(backend), new ProgressAction<TrainingProgress>(reports.Add));

        Assert.Equal(TrainingOutcome.Finished, result.Outcome);
        Assert.Equal(1, result.CompletedEpochs);
        Assert.Equal(20, result.Test?.Count);
        var started = Assert.IsType<TrainingStarted>(reports[0]);
        Assert.Equal((64, 20, 0), (started.TrainImages, started.TestImages, started.CompletedEpochs));
        Assert.Equal(2, reports.OfType<TrainingBatch>().Count());
        Assert.Equal(20, reports.OfType<TrainingTest>().Last().Report.Images);
        Assert.Equal(1, Assert.Single(reports.OfType<TrainingEpochSaved>()).Record.Epoch);

        var state = Checkpoint.ReadState(Path.Combine(output, TrainingRun.CheckpointFolder));
        var saved = Assert.Single(state.History);
        Assert.Equal(result.Test!.Accuracy, saved.TestAccuracy);
        Assert.True(File.Exists(Path.Combine(output, ModelBundle.ModelFile)), "the bundle's model.onnx is missing");
        Assert.Equal(LabeledImages.LoadSplit(SmallData.Value, LabeledImages.TestSplit).FirstOfEachClass(2).Count,
            LabeledImages.LoadSplit(Path.Combine(output, ModelBundle.SamplesFolder), LabeledImages.TestSplit).Count);
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, TrainingRun.ReportFile)));
        Assert.Equal(1, report.RootElement.GetProperty("history").GetArrayLength());
        Assert.Equal(result.Test.Accuracy, report.RootElement.GetProperty("test").GetProperty("accuracy").GetDouble());

        // The same request again finds the run finished.
        var again = Assert.Throws<ArgumentException>(() => TrainingRun.Run(Request(output, epochs: 1), backend, () => FreshStart(backend)));
        Assert.Equal(nameof(TrainingOptions.Epochs), again.ParamName);
    }

    [Fact]
    public void Cancelled_KeepsTheLastCheckpoint_AndResumesFromIt()
    {
        string output = Path.Combine(FashionMnist.TempFolder(), "run");
        using var backend = new CpuBackend(threads: 1);
        using (var beforeAnEpoch = new CancellationTokenSource())
        {
            var nothing = TrainingRun.Run(Request(output, epochs: 2), backend, () => FreshStart(backend),
                new ProgressAction<TrainingProgress>(p => { if (p is TrainingBatch) beforeAnEpoch.Cancel(); }), beforeAnEpoch.Token);
            Assert.Equal((TrainingOutcome.Interrupted, 0), (nothing.Outcome, nothing.SavedEpochs));
            Assert.False(File.Exists(Path.Combine(nothing.CheckpointFolder, Checkpoint.StateFile)), "a run cancelled in its first epoch saved a checkpoint");
        }

        output = Path.Combine(FashionMnist.TempFolder(), "run");
        using var afterEpochOne = new CancellationTokenSource();
        var interrupted = TrainingRun.Run(Request(output, epochs: 2), backend, () => FreshStart(backend),
            new ProgressAction<TrainingProgress>(p => { if (p is TrainingEpochSaved) afterEpochOne.Cancel(); }), afterEpochOne.Token);
        Assert.Equal((TrainingOutcome.Interrupted, 1), (interrupted.Outcome, interrupted.SavedEpochs));
        Assert.False(File.Exists(Path.Combine(output, ModelBundle.ModelFile)), "an interrupted run wrote its final bundle");

        var reports = new List<TrainingProgress>();
        var resumed = TrainingRun.Run(Request(output, epochs: 2) with { Resume = true, DataFolder = null }, backend,
            () => throw new InvalidOperationException("a resumed run started afresh"), new ProgressAction<TrainingProgress>(reports.Add));
        Assert.Equal((TrainingOutcome.Finished, 2), (resumed.Outcome, resumed.CompletedEpochs));
        Assert.Equal(1, Assert.IsType<TrainingStarted>(reports[0]).CompletedEpochs);
        Assert.Equal([2], reports.OfType<TrainingEpochSaved>().Select(r => r.Record.Epoch));
        Assert.Equal(2, Checkpoint.ReadState(resumed.CheckpointFolder).History.Count);
    }

    private static TrainingRunRequest Request(string output, int epochs) => new()
    {
        OutputFolder = output, DataFolder = SmallData.Value, SamplesPerClass = 2,
        Options = new TrainingOptions { Epochs = epochs, BatchSize = 32, Seed = 3 },
    };

    private static TrainingStart FreshStart(CpuBackend backend)
    {
        var train = LabeledImages.LoadSplit(SmallData.Value, LabeledImages.TrainSplit);
        var bundle = new ModelBundle(FashionAlexNet.Name, FashionAlexNet.Create(backend, seed: 3), FashionAlexNet.Preprocessing, FashionAlexNet.Classes, []);
        return new TrainingStart(bundle, train, SmallData.Value, null);
    }
}
