using System.Globalization;
using ConvViz.Engine.Figures;
using ConvViz.Engine.IO;
using ConvViz.Engine.Imaging;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// Where a visualization run writes: its files go into <see cref="Folder"/>, and each is listed in
/// <see cref="Card"/> by its path relative to <see cref="Root"/>, the folder the card is saved in. Single images
/// are written enlarged to at least 224 pixels a side with crisp pixels; grids carry tile numbers, titles and
/// colour bars, and runs with curves write them as PNG charts, while <see cref="Labels"/> is on.
/// </summary>
public sealed record RunOutputs(ExperimentCard Card, string Root, string Folder)
{
    /// <summary>Whether figures carry text: tile numbers and names, titles, colour bars, and the charts of loss or objective
    /// curves. Text needs a font (Debian's fonts-dejavu-core, or any under /usr/share/fonts); false draws the bare
    /// pictures, writes no charts (their numbers stay on the card) and needs none.</summary>
    public bool Labels { get; init; } = true;

    /// <summary>Writes <paramref name="image"/> as Folder/<paramref name="fileName"/> and returns its path.</summary>
    internal string Image(string fileName, Image8 image) => Listed(Path.Combine(Folder, fileName), path => ImageFile.Write(path, image));

    /// <summary>Writes a single picture (an input, a result, a heatmap) enlarged by <see cref="Enlargement.ToMinimumSide"/>.</summary>
    internal string Enlarged(string fileName, Image8 image) => Image(fileName, Enlargement.ToMinimumSide(image));

    /// <summary>Writes the pages of one figure as <paramref name="stem"/>.png, <paramref name="stem"/>-page2.png, ...; returns their paths in order.</summary>
    internal IReadOnlyList<string> Pages(string stem, IReadOnlyList<Image8> pages) =>
        pages.Select((page, p) => Image(GridPages.FileName(stem, p), page)).ToArray();

    /// <summary>Writes <paramref name="chart"/> as a PNG when <see cref="Labels"/> is on; returns its path, or null.</summary>
    internal string? Chart(string fileName, Func<LineChart> chart) => Labels ? Image(fileName, chart().Draw()) : null;

    /// <summary>With <see cref="Labels"/> on, makes sure a font exists before long work whose figures need it.</summary>
    internal void RequireFont()
    {
        if (Labels) FigureFont.Require();
    }

    internal string Text(string fileName, string text) => Listed(Path.Combine(Folder, fileName), path => AtomicFile.WriteAllText(path, text));

    internal string Lines(string fileName, IEnumerable<string> lines) => Listed(Path.Combine(Folder, fileName), path => AtomicFile.WriteAllLines(path, lines));

    /// <summary>Writes a model input (C, H, W) as a float32 .npy of shape (1, C, H, W) at <paramref name="path"/>, wherever it is.</summary>
    internal string Tensor(string path, float[] input, int channels, int height, int width) =>
        Listed(path, p => Npy.Write(p, input, [1, channels, height, width]));

    private string Listed(string path, Action<string> write)
    {
        write(path);
        Card.Outputs.Add(Path.GetRelativePath(Root, path));
        return path;
    }

    /// <summary>A target as a file-name part that carries every coordinate: "conv5-3", "conv5-3-y2-x4".</summary>
    public static string TargetStem(Target target) => FileNames.ForLayer(target.Y is null
        ? string.Create(CultureInfo.InvariantCulture, $"{target.Layer}-{target.Channel}")
        : string.Create(CultureInfo.InvariantCulture, $"{target.Layer}-{target.Channel}-y{target.Y}-x{target.X}"));
}

/// <summary>A model input (C, H, W) with the name its files carry (<see cref="Name"/>, usable in a file name) and the words a card describes it by.</summary>
public sealed record NamedInput(string Name, float[] Values, string Description);
