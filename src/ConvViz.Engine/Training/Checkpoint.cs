using System.Text.Json;
using System.Text.Json.Serialization;
using ConvViz.Engine.Backends;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;

namespace ConvViz.Engine.Training;

/// <summary>What a checkpoint records besides the weights: the options, where the data came from,
/// the epochs done and each dropout layer's draw counter.</summary>
public sealed record TrainingState(TrainingOptions Options, string DataFolder, int? TrainLimit, IReadOnlyList<EpochRecord> History,
    IReadOnlyDictionary<string, uint> DropoutSteps);

/// <summary>
/// A resumable snapshot at an epoch boundary, as a folder: the model as a bundle (model.onnx,
/// classes.txt), momentum.npy (every velocity, concatenated in parameter order) and state.json. It
/// is written beside the old one and swapped in by renames, so an interruption at any moment
/// leaves a complete checkpoint.
/// </summary>
public static class Checkpoint
{
    public const string StateFile = "state.json", MomentumFile = "momentum.npy";

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public static void Save(string folder, ModelBundle bundle, Trainer trainer, string dataFolder, int? trainLimit)
    {
        string full = Path.GetFullPath(folder);
        string next = full + ".next", old = full + ".old";
        if (Directory.Exists(next)) Directory.Delete(next, recursive: true);
        bundle.Save(next);
        var velocities = trainer.Optimizer.DownloadVelocities();
        Npy.Write(Path.Combine(next, MomentumFile), velocities, [velocities.Length]);
        var steps = bundle.Network.Layers.OfType<DropoutLayer>().ToDictionary(d => d.Name, d => d.Step);
        var state = new TrainingState(trainer.Options, dataFolder, trainLimit, trainer.History, steps);
        File.WriteAllText(Path.Combine(next, StateFile), JsonSerializer.Serialize(state, Json));

        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        if (Directory.Exists(full)) Directory.Move(full, old);
        Directory.Move(next, full);
        if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
    }

    /// <summary>Loads a checkpoint onto <paramref name="backend"/>: the bundle, a trainer with its
    /// momentum and history restored, and the state (the caller may override Options.Epochs).</summary>
    public static (ModelBundle Bundle, TrainingState State) Load(string folder, Backend backend)
    {
        string stateFile = Path.Combine(folder, StateFile);
        if (!File.Exists(stateFile))
            throw new FileNotFoundException($"{folder}: not a training checkpoint (no {StateFile}); pass the checkpoint folder that `convviz train` writes");
        TrainingState state;
        try
        {
            state = JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(stateFile), Json)
                    ?? throw new InvalidDataException($"{stateFile}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{stateFile}: not a valid checkpoint state: {e.Message}", e);
        }
        var bundle = ModelBundle.Load(folder, backend);
        try
        {
            foreach (var dropout in bundle.Network.Layers.OfType<DropoutLayer>())
                dropout.Step = state.DropoutSteps.TryGetValue(dropout.Name, out uint step)
                    ? step : throw new InvalidDataException($"{stateFile}: no dropout step for layer '{dropout.Name}'");
            return (bundle, state);
        }
        catch
        {
            bundle.Dispose();
            throw;
        }
    }

    /// <summary>A trainer for a loaded checkpoint, with its history and momentum restored.</summary>
    public static Trainer Resume(string folder, ModelBundle bundle, TrainingState state, TrainingOptions options)
    {
        var velocities = Npy.Read(Path.Combine(folder, MomentumFile)).Data;
        var trainer = new Trainer(bundle.Network, bundle.Preprocessing, bundle.Classes.Count, options);
        try
        {
            trainer.Restore(state.History, velocities);
            return trainer;
        }
        catch
        {
            trainer.Dispose();
            throw;
        }
    }
}
