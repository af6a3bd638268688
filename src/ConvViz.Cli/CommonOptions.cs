using System.CommandLine;
using System.CommandLine.Parsing;

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

    /// <summary>The largest --sample number: far above any bundle's sample count (Fashion-MNIST's test split has 10,000).</summary>
    public const int MaxSample = 1_000_000;

    /// <summary>
    /// The input of a command: --input FILE or --sample N, never both; one of them is required unless
    /// <paramref name="required"/> is false (the command then has a default input of its own).
    /// Add it to a command like an option; <see cref="GetValue"/> reads it.
    /// </summary>
    public static InputOptions Input(bool required = true, string description =
        "Input: an image (PNG, JPEG, PGM/PPM), preprocessed as the model's metadata says; or a float32 .npy of shape (1, C, H, W) or (C, H, W), used exactly as given") =>
        new(new Option<string>("--input") { Description = $"{description} (or --sample N)" }, Sample(), required);

    /// <summary>--sample N: sample N (from 0) of the model's bundle.</summary>
    public static Option<int?> Sample() => new Option<int?>("--sample")
    {
        Description = "Use the model's bundled sample N (from 0) as the input, instead of --input: the images of its samples/ folder " +
                      "(fashion-alexnet's t10k IDX files, resnet18-imagenet's photos)",
    }.InRange(0, MaxSample);

    /// <summary>Adds --input and --sample to <paramref name="command"/>, with the rule that one (and only one) is given.</summary>
    public static void Add(this Command command, InputOptions input)
    {
        command.Options.Add(input.File);
        command.Options.Add(input.Sample);
        command.Validators.Add(result =>
        {
            // The values as typed: a value its own option refuses has no parsed value to read here.
            var (file, sample) = (result.GetResult(input.File), result.GetResult(input.Sample));
            static string Typed(OptionResult option) => string.Join(" ", option.Tokens.Select(t => t.Value));
            if (file is not null && sample is not null)
                result.AddError($"{input.File.Name} {Typed(file)} and {input.Sample.Name} {Typed(sample)} name two inputs; give one");
            else if (file is null && sample is null && input.Required)
                result.AddError($"{input.File.Name} FILE (an image or a .npy) or {input.Sample.Name} N (one of the model's bundled samples) is required");
        });
    }

    /// <summary>The input the command line gave, or null when it gave none.</summary>
    public static InputSource? GetValue(this ParseResult result, InputOptions input) =>
        result.GetValue(input.File) is { } file ? new InputSource(file, null)
        : result.GetValue(input.Sample) is { } sample ? new InputSource(null, sample)
        : null;

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

    /// <summary>--no-labels: figures without text (engine <c>RunOutputs.Labels</c> false), for a machine without fonts or for bare pictures.</summary>
    public static Option<bool> NoLabels(string what = "no tile numbers, titles or colour bars") => new Option<bool>("--no-labels")
    {
        Description = $"Draw figures without text ({what}); needs no font",
    }.Names("Labels");

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

    /// <summary>The largest --max-image-pixels: 2^40 pixels, a terabyte even in gray, beyond any memory.</summary>
    public const long MaxImagePixelsLimit = 1L << 40;

    public static readonly Option<long?> MaxImagePixels = new Option<long?>("--max-image-pixels")
    {
        Description = $"Largest image (width x height) to decode or resize to, checked before decoding (default {ConvViz.Engine.Imaging.ImageLimits.DefaultMaxPixels:N0})",
        Recursive = true,
    }.InRange(1, MaxImagePixelsLimit);

    public static readonly Option<bool> Verbose = new("--verbose") { Description = "Show stack traces on errors", Recursive = true };
}

/// <summary>A command's --input and --sample options (see <see cref="CommonOptions.Input"/>).</summary>
public sealed record InputOptions(Option<string> File, Option<int?> Sample, bool Required);
