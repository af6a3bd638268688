using ConvViz.Engine.Data;
using ConvViz.Engine.Models;
using Spectre.Console;

namespace ConvViz.Cli;

/// <summary>Resolves --data (an MNIST-style folder of IDX files, or a folder of photos for a color
/// model) and the class names that go with it.</summary>
public static class DataSets
{
    /// <summary>Where Debian's dataset-fashion-mnist package puts Fashion-MNIST.</summary>
    public const string DefaultFolder = "/usr/share/datasets/fashion-mnist";

    public static string MissingHint(string folder) => Path.GetFullPath(folder) == DefaultFolder
        ? $"; install it with `apt-get install dataset-fashion-mnist`, or point --data at an MNIST-style folder"
        : "";

    /// <summary>The data set a command uses without --data: Debian's Fashion-MNIST when installed, else
    /// the model's own bundled samples (said on the console: "note: ... <paramref name="doing"/> the model's own ...").</summary>
    public static string DefaultFor(ModelBundle bundle, string doing)
    {
        // Fashion-MNIST's 28x28 gray images feed only a model of that input; any other model uses its own samples.
        var p = bundle.Preprocessing;
        if (bundle.Samples is not null && !(p.Channels == 1 && p.Height == 28 && p.Width == 28)) return bundle.Samples;
        if (Directory.Exists(DefaultFolder) || bundle.Samples is null) return DefaultFolder;
        AnsiConsole.MarkupLine(Markup.Escape(
            $"note: Fashion-MNIST is not installed at {DefaultFolder} (apt-get install dataset-fashion-mnist): {doing} the model's own {bundle.Samples} instead"));
        return bundle.Samples;
    }

    /// <summary>
    /// --data as a folder (its <paramref name="split"/>), an images IDX file (its labels file named
    /// alike beside it), or by default <see cref="DefaultFor"/>; the first <paramref name="limit"/>
    /// images when given.
    /// </summary>
    public static LabeledImages Open(string? data, string split, ModelBundle bundle, string doing, int? limit = null)
    {
        if (data is not null && File.Exists(data))
        {
            string labels = data.Replace("images-idx3-ubyte", "labels-idx1-ubyte");
            if (labels == data || !File.Exists(labels))
                throw new UserError($"--data {data}: an images IDX file needs its labels file beside it, named with labels-idx1-ubyte in place of images-idx3-ubyte");
            if (limit < 1) throw new UserError($"--limit {limit} must be at least 1");
            var images = LabeledImages.Load(data, labels);
            return limit is { } n ? images.Take(n) : images;
        }
        return Load(data ?? DefaultFor(bundle, doing), split, limit, bundle.Preprocessing);
    }

    /// <summary>Loads split "train" or "t10k" of <paramref name="folder"/>, the first <paramref name="limit"/>
    /// images when given; a folder of photos (no IDX files), resized and cropped by <paramref name="preprocessing"/>.</summary>
    public static LabeledImages Load(string folder, string split, int? limit = null, Preprocessing? preprocessing = null)
    {
        if (limit < 1) throw new UserError($"--limit {limit} must be at least 1");
        try
        {
            if (preprocessing is not null && !LabeledImages.HasSplit(folder, split) && LabeledImages.IsImageFolder(folder))
            {
                var photos = LabeledImages.FromImageFolder(folder, preprocessing);
                return limit is { } count ? photos.Take(count) : photos;
            }
            var data = LabeledImages.LoadSplit(folder, split);
            return limit is { } n ? data.Take(n) : data;
        }
        catch (IOException e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new UserError(e.Message + MissingHint(folder));
        }
    }

    /// <summary>
    /// The classes of a data set to train on, which fix the class count that every label must stay
    /// below (<see cref="LabeledImages.CheckLabels"/>, checked with the model in ImageBatches.CheckFits):
    /// <paramref name="classesFile"/> when given, else classes.txt in the data folder, else Fashion-MNIST's
    /// names for Debian's Fashion-MNIST folder, else the classes of <paramref name="model"/>, the model
    /// training starts from. Without any of these the labels number the classes, "class 0" to the
    /// largest; a class in between without a single image is refused, since one damaged label byte
    /// (255) would otherwise make a 256-class model.
    /// </summary>
    public static IReadOnlyList<string> Classes(string folder, string? classesFile, LabeledImages data, IReadOnlyList<string>? model = null)
    {
        string? file = classesFile ?? (File.Exists(Path.Combine(folder, ModelBundle.ClassesFile)) ? Path.Combine(folder, ModelBundle.ClassesFile) : null);
        if (file is not null)
        {
            if (!File.Exists(file)) throw new UserError($"--classes {file}: no such file");
            var names = ConvViz.Engine.IO.InputFiles.ReadAllLines(file, "class names, one per line", ModelBundle.MaxClassFileBytes).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
            if (names.Length == 0) throw new UserError($"{file} names no classes; expected one name per line");
            return names;
        }
        if (Path.GetFullPath(folder) == DefaultFolder) return FashionAlexNet.Classes;
        if (model is not null) return model;
        var counts = new int[data.ClassCount];
        foreach (byte label in data.Labels) counts[label]++;
        var empty = Enumerable.Range(0, counts.Length).Where(c => counts[c] == 0).ToArray();
        if (empty.Length > 0)
            throw new UserError($"{data.Source} has labels up to {data.ClassCount - 1} but no image of class{(empty.Length == 1 ? "" : "es")} " +
                                $"{string.Join(", ", empty.Take(5))}{(empty.Length > 5 ? $" and {empty.Length - 5} more" : "")}: a damaged label? " +
                                $"Name the classes in {Path.Combine(folder, ModelBundle.ClassesFile)} or with --classes FILE, one per line");
        return ModelBundle.NumberedClasses(counts.Length);
    }
}
