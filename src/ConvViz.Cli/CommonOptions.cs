using System.CommandLine;

namespace ConvViz.Cli;

/// <summary>Options shared by every command, with the same names and defaults everywhere.</summary>
public static class CommonOptions
{
    /// <summary>Upper bounds shared by the commands. A batch of data-set images (28x28 for the default
    /// model) stays far below a gigabyte at MaxBatch; a batch of whole model inputs (227x227x3 for
    /// AlexNet, ~10 MB of activations each) at MaxInputBatch.</summary>
    public const int MaxDevice = 255, MaxThreads = 1024, MaxBatch = 1024, MaxInputBatch = 256, MaxClass = 1_000_000;

    public static Option<string> Model() => new("--model")
    {
        Description = $"Model: a bundle folder, an .onnx file, or a built-in name (default {ModelCatalog.Default})",
        DefaultValueFactory = _ => ModelCatalog.Default,
    };

    public static Option<string> Backend() => new("--backend")
    {
        Description = "Compute backend: " + string.Join(", ", BackendCatalog.All.Select(b => b.Name)),
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<string> Input() => new("--input")
    {
        Description = "Input: an image (PNG, JPEG, PGM/PPM), preprocessed as the model's metadata says; or a float32 .npy of shape (1, C, H, W) or (C, H, W), used exactly as given",
        Required = true,
    };

    public static Option<int?> Device() => new Option<int?>("--device")
    {
        Description = "OpenCL device index for --backend opencl (default 0; `convviz devices` lists them)",
    }.InRange(0, MaxDevice);

    public static Option<int?> Threads() => new Option<int?>("--threads")
    {
        Description = "Worker threads of the cpu backend (default: every core); a seeded run repeats exactly for the same count",
    }.InRange(1, MaxThreads);

    public static Option<string> Data() => new("--data")
    {
        Description = $"MNIST-style folder of IDX files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-... (gzipped or not); default {DataSets.DefaultFolder} (Debian's dataset-fashion-mnist)",
        DefaultValueFactory = _ => DataSets.DefaultFolder,
    };

    public static Option<string> Out() => new("--out")
    {
        Description = "Folder for the images and the experiment card (JSON)",
        DefaultValueFactory = _ => "convviz-out",
    };

    public static Option<ConvViz.Engine.Visualization.Colormap> Colormap(ConvViz.Engine.Visualization.Colormap fallback) => new Option<ConvViz.Engine.Visualization.Colormap>("--colormap")
    {
        Description = "Gray, Viridis, Jet or Diverging",
        DefaultValueFactory = _ => fallback,
    }.NamesOnly();

    /// <summary>--class: a class number or one of the model's class names (any case); the engine resolves it against the model.</summary>
    public static Option<string?> Class(string description) => new("--class") { Description = $"{description} (a number, or a class name in any case)" };

    /// <summary>--class K names a logit, --layer L --unit C a unit: given together, one of them would be ignored.</summary>
    public static void RefuseClassWithUnit(string? classText, string? layerName, string? unitText)
    {
        if (classText is not null && (unitText is not null || layerName is not null))
            throw new UserError($"--class {classText} and {(unitText is not null ? $"--unit {unitText}" : $"--layer {layerName}")} name two targets: give either --class K or --layer L --unit C, not both");
    }

    /// <summary>--unit C or C,Y,X as the engine's coordinates; null when not given.</summary>
    public static ConvViz.Engine.Visualization.UnitCoordinates? Unit(string? text)
    {
        if (text is null) return null;
        var (channel, y, x) = Inputs.ParseUnit(text);
        return new(channel, y, x);
    }

    public static readonly Option<long?> MaxImagePixels = new("--max-image-pixels")
    {
        Description = $"Largest image (width x height) to decode or resize to, checked before decoding (default {ConvViz.Engine.Imaging.ImageLimits.DefaultMaxPixels:N0})",
        Recursive = true,
        Validators = { result => { if (result.GetValueOrDefault<long?>() is < 1) result.AddError("--max-image-pixels must be at least 1"); } },
    };

    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces on errors", Recursive = true };
}
