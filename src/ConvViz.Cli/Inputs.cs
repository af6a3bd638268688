using System.Diagnostics.CodeAnalysis;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;
using Tensor = ConvViz.Engine.Tensors.Tensor;

namespace ConvViz.Cli;

/// <summary>
/// What a command reads: a file (--input: an image or a .npy) or sample <see cref="Sample"/> of the
/// model's bundle (--sample). Messages, cards and file names call it by its path or "sampleN"; so does
/// its conversion to a string.
/// </summary>
public sealed record InputSource(string? File, int? Sample)
{
    public override string ToString() => File ?? $"sample{Sample}";

    [return: NotNullIfNotNull(nameof(input))]
    public static implicit operator string?(InputSource? input) => input?.ToString();
}

/// <summary>Turns --input (an image or a .npy) or --sample into a network input tensor (batch 1), and parses --unit / --class targets.</summary>
public static class Inputs
{
    /// <summary>The file (see <see cref="Load(string, ModelBundle, Backend)"/>) or the bundle's sample, preprocessed by the bundle's metadata.</summary>
    public static Tensor Load(InputSource input, ModelBundle bundle, Backend backend) =>
        input.File is { } file ? Load(file, bundle, backend) : backend.Upload(bundle.SampleInput(input.Sample!.Value), bundle.Network.InputShape(1));

    /// <summary>The image file or the bundle's sample image, as stored (not yet preprocessed).</summary>
    public static Image8 ReadImage(InputSource input, ModelBundle bundle) =>
        input.File is { } file ? ReadImage(file) : bundle.Sample(input.Sample!.Value).Image;

    /// <summary>
    /// An image file (PNG, JPEG, PGM/PPM), preprocessed by the bundle's metadata; or a float32 .npy
    /// of shape (1, C, H, W) or (C, H, W) matching the model, used exactly as given.
    /// </summary>
    public static Tensor Load(string path, ModelBundle bundle, Backend backend)
    {
        if (!File.Exists(path)) throw new UserError($"--input {path}: no such file");
        var sample = bundle.Network.SampleShape;
        if (!path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            return backend.Upload(ImageTensors.ToInput(ReadImage(path), bundle.Preprocessing), new Shape([1, .. sample.ToArray()]));
        }
        string expected = $"(1, {string.Join(", ", sample.ToArray())}) or ({string.Join(", ", sample.ToArray())})";
        NpyArray array;
        try { array = Npy.Read(path); }
        catch (InvalidDataException e) { throw new UserError($"--input {e.Message}"); }
        var dims = array.Shape.Length == sample.Rank ? [1, .. array.Shape] : array.Shape;
        if (!dims.SequenceEqual([1, .. sample.ToArray()]))
            throw new UserError($"--input {path}: shape ({string.Join(", ", array.Shape)}) does not fit the model; expected {expected}");
        return backend.Upload(array.Data, new Shape(dims));
    }

    /// <summary>An image file for --input; a file that cannot be read or decoded is a one-line error naming it and why.</summary>
    public static Image8 ReadImage(string path)
    {
        try { return ImageFile.Read(path); }
        catch (Exception e) when (e is InvalidDataException or NotSupportedException or FileNotFoundException) { throw new UserError($"--input {e.Message}"); }
    }

    /// <summary>--unit C (a whole channel) or C,Y,X (one neuron).</summary>
    public static (int Channel, int? Y, int? X) ParseUnit(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length is 1 or 3 && parts.All(p => int.TryParse(p, out int v) && v >= 0))
        {
            var v = parts.Select(int.Parse).ToArray();
            return parts.Length == 1 ? (v[0], null, null) : (v[0], v[1], v[2]);
        }
        throw new UserError($"--unit '{text}' is not C or C,Y,X (non-negative integers: a channel, or a channel and a position)");
    }
}
