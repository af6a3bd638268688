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
/// is written whole as FOLDER.next (every file on the disk, state.json last, so a .next folder with
/// state.json is complete) and swapped in by renames (FOLDER to FOLDER.old, FOLDER.next to FOLDER).
/// An interruption at any moment leaves a complete checkpoint, possibly only as .next or .old, and
/// <see cref="Recover"/> puts the newest complete one back in place.
/// </summary>
public static class Checkpoint
{
    public const string StateFile = "state.json", MomentumFile = "momentum.npy", NextSuffix = ".next", OldSuffix = ".old";

    /// <summary>The largest state or training.json read back: options and a history of at most
    /// 1,000 epochs take kilobytes, so 64 MiB only ever refuses a file that is not one.</summary>
    public const long MaxStateBytes = 64 << 20;

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
    };

    public static void Save(string folder, ModelBundle bundle, Trainer trainer, string dataFolder, int? trainLimit)
    {
        string full = Path.GetFullPath(folder);
        string next = full + NextSuffix;
        Discard(next);
        bundle.Save(next);
        var velocities = trainer.Optimizer.DownloadVelocities();
        Npy.Write(Path.Combine(next, MomentumFile), velocities, [velocities.Length]);
        var steps = bundle.Network.Layers.OfType<DropoutLayer>().ToDictionary(d => d.Name, d => d.Step);
        var state = new TrainingState(trainer.Options, dataFolder, trainLimit, trainer.History, steps);
        // Last, and only after the files above are flushed to the disk (AtomicFile does): its presence says .next is whole.
        AtomicFile.WriteAllText(Path.Combine(next, StateFile), JsonSerializer.Serialize(state, Json));
        Promote(full);
    }

    /// <summary>
    /// Puts the newest complete checkpoint in place after an interruption of <see cref="Save"/> at any
    /// moment: a complete FOLDER.next (it has state.json) is newer than FOLDER and is swapped in; an
    /// incomplete one is deleted; FOLDER.old stands in when FOLDER is missing and no complete .next is
    /// left (a swap cut short whose .next did not survive, such as a power loss before the disk had it
    /// all) and is deleted otherwise. Returns whether a checkpoint is there afterwards.
    /// </summary>
    public static bool Recover(string folder)
    {
        string full = Path.GetFullPath(folder);
        string next = full + NextSuffix, old = full + OldSuffix;
        if (File.Exists(Path.Combine(next, StateFile))) Promote(full);
        else Discard(next);
        if (!Directory.Exists(full) && File.Exists(Path.Combine(old, StateFile))) Directory.Move(old, full);
        Discard(old);
        return File.Exists(Path.Combine(full, StateFile));
    }

    /// <summary>Swaps the complete FOLDER.next in: FOLDER becomes .old, .next becomes FOLDER, .old goes.</summary>
    private static void Promote(string full)
    {
        string next = full + NextSuffix, old = full + OldSuffix;
        Discard(old);
        if (Directory.Exists(full)) Directory.Move(full, old);
        Directory.Move(next, full);
        Discard(old);
    }

    /// <summary>Deletes a checkpoint folder, state.json first, so that a deletion cut short never
    /// leaves a folder that looks complete.</summary>
    private static void Discard(string folder)
    {
        if (!Directory.Exists(folder)) return;
        File.Delete(Path.Combine(folder, StateFile));
        Directory.Delete(folder, recursive: true);
    }

    /// <summary>Loads a checkpoint onto <paramref name="backend"/>: the bundle, a trainer with its
    /// momentum and history restored, and the state (the caller may override Options.Epochs).</summary>
    public static (ModelBundle Bundle, TrainingState State) Load(string folder, Backend backend)
    {
        string stateFile = Path.Combine(folder, StateFile);
        var state = ReadState(folder);
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

    /// <summary>The checkpoint's state alone: options, data, history, dropout counters.</summary>
    public static TrainingState ReadState(string folder)
    {
        string stateFile = Path.Combine(folder, StateFile);
        if (!File.Exists(stateFile))
            throw new FileNotFoundException($"{folder}: not a training checkpoint (no {StateFile}); pass the checkpoint folder that `convviz train` writes");
        try
        {
            return JsonSerializer.Deserialize<TrainingState>(InputFiles.ReadAllBytes(stateFile, "a checkpoint's state", MaxStateBytes), Json)
                   ?? throw new InvalidDataException($"{stateFile}: empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{stateFile}: not a valid checkpoint state: {e.Message}", e);
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
