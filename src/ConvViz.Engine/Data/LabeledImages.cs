using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;

namespace ConvViz.Engine.Data;

/// <summary>
/// A labelled set of 8-bit images of one size: Count images of Height x Width pixels, row-major,
/// channels interleaved (1 gray, as MNIST-style IDX files hold them, or 3 RGB, as a folder of photos
/// becomes), and one label byte per image; with the classes' names when the set has them.
/// </summary>
public sealed class LabeledImages
{
    /// <summary>The file endings <see cref="FromImageFolder"/> reads.</summary>
    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".pgm", ".ppm", ".pnm"];

    /// <summary>The split names of MNIST-style folders: {split}-images-idx3-ubyte[.gz], {split}-labels-idx1-ubyte[.gz].</summary>
    public const string TrainSplit = "train", TestSplit = "t10k";

    private readonly byte[] pixels;
    private readonly byte[] labels;

    public LabeledImages(byte[] pixels, byte[] labels, int height, int width, string source, int channels = 1, IReadOnlyList<string>? classNames = null)
    {
        if (height < 1 || width < 1) throw new ArgumentException($"{source}: images of {height}x{width} pixels; expected at least 1x1");
        if (channels is not (1 or 3)) throw new ArgumentException($"{source}: images of {channels} channels; expected 1 (gray) or 3 (RGB)");
        if (pixels.Length != (long)labels.Length * height * width * channels)
            throw new InvalidDataException($"{source}: {pixels.Length / Math.Max(1, height * width * channels)} images but {labels.Length} labels; expected one label per image");
        this.pixels = pixels;
        this.labels = labels;
        Height = height;
        Width = width;
        Channels = channels;
        Source = source;
        ClassCount = labels.Length == 0 ? 0 : labels.Max() + 1;
        if (classNames is not null && classNames.Count < ClassCount)
            throw new ArgumentException($"{source}: {classNames.Count} class names for labels up to {ClassCount - 1}");
        ClassNames = classNames;
    }

    public int Count => labels.Length;
    public int Height { get; }
    public int Width { get; }

    /// <summary>1 (gray) or 3 (RGB, interleaved).</summary>
    public int Channels { get; }

    /// <summary>Height · Width · Channels.</summary>
    public int BytesPerImage => Height * Width * Channels;

    /// <summary>The names of the classes the labels number, when the set brings them (a folder of photos does).</summary>
    public IReadOnlyList<string>? ClassNames { get; }

    /// <summary>Image <paramref name="index"/> as an <see cref="Image8"/>.</summary>
    public Image8 ToImage(int index) => new(Width, Height, Channels, Image(index).ToArray());

    /// <summary>Where the images came from, for messages.</summary>
    public string Source { get; }

    /// <summary>One more than the largest label.</summary>
    public int ClassCount { get; }

    public ReadOnlySpan<byte> Image(int index) => pixels.AsSpan(index * BytesPerImage, BytesPerImage);
    public int Label(int index) => labels[index];
    public ReadOnlySpan<byte> Labels => labels;

    /// <summary>
    /// The one label rule of everything that reads a labelled set (training, evaluation, top-k mining,
    /// t-SNE): every label is below <paramref name="classCount"/>, the classes of
    /// <paramref name="classesOf"/>. Throws naming the first image whose label is not.
    /// </summary>
    public void CheckLabels(int classCount, string classesOf)
    {
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= classCount)
                throw new ArgumentException($"{Source} has label {labels[i]}, outside the {classCount} classes 0..{classCount - 1} of {classesOf} (image {i})");
    }

    /// <summary>Reads an images file (IDX, N x H x W) and a labels file (IDX, N) and checks they belong together.</summary>
    public static LabeledImages Load(string imagesPath, string labelsPath)
    {
        var images = Idx.Read(imagesPath);
        if (images.Dimensions.Length != 3)
            throw new InvalidDataException($"{imagesPath}: IDX images have dimensions ({string.Join(", ", images.Dimensions)}); expected (count, height, width)");
        var labels = Idx.Read(labelsPath);
        if (labels.Dimensions.Length != 1)
            throw new InvalidDataException($"{labelsPath}: IDX labels have dimensions ({string.Join(", ", labels.Dimensions)}); expected (count)");
        if (labels.Dimensions[0] != images.Dimensions[0])
            throw new InvalidDataException($"{labelsPath} has {labels.Dimensions[0]} labels but {imagesPath} has {images.Dimensions[0]} images; they must match one to one");
        return new LabeledImages(images.Data, labels.Data, images.Dimensions[1], images.Dimensions[2], imagesPath);
    }

    /// <summary>Loads split "train" or "t10k" of an MNIST-style folder (files gzipped or not).</summary>
    public static LabeledImages LoadSplit(string folder, string split)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such data folder");
        return Load(SplitFile(folder, split, "images-idx3-ubyte"), SplitFile(folder, split, "labels-idx1-ubyte"));
    }

    /// <summary>True when the folder has both files of the split.</summary>
    public static bool HasSplit(string folder, string split) =>
        FindSplitFile(folder, split, "images-idx3-ubyte") is not null && FindSplitFile(folder, split, "labels-idx1-ubyte") is not null;

    private static string SplitFile(string folder, string split, string kind) =>
        FindSplitFile(folder, split, kind)
        ?? throw new FileNotFoundException($"{folder}: no {split}-{kind} or {split}-{kind}.gz; expected an MNIST-style folder with {split}-images-idx3-ubyte and {split}-labels-idx1-ubyte (gzipped or not)");

    private static string? FindSplitFile(string folder, string split, string kind)
    {
        string plain = Path.Combine(folder, $"{split}-{kind}");
        return File.Exists(plain) ? plain : File.Exists(plain + ".gz") ? plain + ".gz" : null;
    }

    /// <summary>
    /// The images of a folder (PNG, JPEG, PGM/PPM, in name order), each resized and center-cropped to
    /// the input size of <paramref name="p"/> as <see cref="ImageTensors.ResizeAndCrop"/> does, in its
    /// channel count. Images in subfolders are labelled by subfolder (the classes, in name order);
    /// images directly in the folder form one class named after it.
    /// </summary>
    public static LabeledImages FromImageFolder(string folder, Preprocessing p)
    {
        var groups = ImageFolderClasses(folder);
        if (groups.Count > 256) throw new InvalidDataException($"{folder}: {groups.Count} class folders; labels are bytes, so at most 256");
        int count = groups.Sum(g => g.Files.Length);
        if (count == 0) throw new FileNotFoundException($"{folder}: no images ({string.Join(", ", ImageExtensions)}) in it or its subfolders");
        int channels = p.Channels == 1 ? 1 : 3, size = p.Height * p.Width * channels;
        var pixels = new byte[(long)count * size];
        var labels = new byte[count];
        int i = 0;
        foreach (var (group, label) in groups.Select((g, l) => (g, l)))
            foreach (string file in group.Files)
            {
                ImageTensors.ResizeAndCrop(ImageFile.Read(file), p).Pixels.CopyTo(pixels, (long)i * size);
                labels[i++] = (byte)label;
            }
        return new LabeledImages(pixels, labels, p.Height, p.Width, folder, channels, groups.Select(g => g.Name).ToArray());
    }

    /// <summary>The classes of a folder of images as <see cref="FromImageFolder"/> reads them, in label order:
    /// each subfolder holding images (in name order), or else the folder itself; each with its image files in name order.</summary>
    internal static List<(string Name, string[] Files)> ImageFolderClasses(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such data folder");
        static string[] ImagesIn(string directory) => Directory.GetFiles(directory)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToArray();
        var groups = Directory.GetDirectories(folder).Order(StringComparer.Ordinal)
            .Select(d => (Name: Path.GetFileName(d), Files: ImagesIn(d))).Where(g => g.Files.Length > 0).ToList();
        if (groups.Count == 0) groups.Add((Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)), ImagesIn(folder)));
        return groups;
    }

    /// <summary>True when <paramref name="folder"/> holds image files, directly or in subfolders.</summary>
    public static bool IsImageFolder(string folder) =>
        Directory.Exists(folder) && Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Any(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()));

    /// <summary>Writes this set as {split}-images-idx3-ubyte.gz and {split}-labels-idx1-ubyte.gz in folder.</summary>
    public void SaveSplit(string folder, string split)
    {
        if (Channels != 1) throw new NotSupportedException($"{Source}: IDX files hold gray images; these have {Channels} channels");
        Directory.CreateDirectory(folder);
        Idx.Write(Path.Combine(folder, $"{split}-images-idx3-ubyte.gz"), new IdxArray([Count, Height, Width], pixels));
        Idx.Write(Path.Combine(folder, $"{split}-labels-idx1-ubyte.gz"), new IdxArray([Count], labels));
    }

    /// <summary>The images at the given indices, in that order.</summary>
    public LabeledImages Subset(IReadOnlyList<int> indices, string? source = null)
    {
        var subsetPixels = new byte[indices.Count * BytesPerImage];
        var subsetLabels = new byte[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Image(indices[i]).CopyTo(subsetPixels.AsSpan(i * BytesPerImage));
            subsetLabels[i] = labels[indices[i]];
        }
        return new LabeledImages(subsetPixels, subsetLabels, Height, Width, source ?? $"{Source} (subset of {indices.Count})", Channels, ClassNames);
    }

    /// <summary>The first n images (all when n is at least Count).</summary>
    public LabeledImages Take(int n) => n >= Count ? this : Subset(Enumerable.Range(0, n).ToArray(), $"{Source} (first {n})");

    /// <summary>The first <paramref name="perClass"/> images of each class, grouped by class in label
    /// order and in file order within a class; a class with fewer images contributes all it has.</summary>
    public LabeledImages FirstOfEachClass(int perClass)
    {
        var indices = Enumerable.Range(0, ClassCount)
            .SelectMany(c => Enumerable.Range(0, Count).Where(i => labels[i] == c).Take(perClass))
            .ToArray();
        return Subset(indices, $"{Source} (first {perClass} of each class)");
    }
}
