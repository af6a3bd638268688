namespace ConvViz.Engine.Mining;

/// <summary>One of a unit's top-k patches in an atlas: the patch image, its deconvnet projection (null when not made),
/// the unit's activation on it, and where the patch came from (data set image number and box, in words). Paths are absolute
/// files inside the atlas folder.</summary>
public sealed record AtlasPatch(string Image, string? Deconv, float Value, string Source);

/// <summary>What an atlas holds for one unit: its top-k patches (best first) and its optimized image (null when not made).</summary>
public sealed record AtlasUnit(string Layer, int Unit, IReadOnlyList<AtlasPatch> Patches, string? Optimized);

/// <summary>
/// A folder written by `convviz atlas` (<see cref="AtlasRuns"/>): for every unit of the chosen layers, its top-9 dataset
/// patches with deconvnet projections and its optimized image, plus static pages. This reader is what the live toolbox's server
/// uses; it never opens a file outside <see cref="Folder"/>.
/// </summary>
public sealed class Atlas
{
    /// <summary>The manifest of an atlas folder, written last: a folder with it holds a finished atlas.</summary>
    public const string ManifestFile = "atlas.json";

    /// <summary>The folder an atlas run writes into under its output folder (which also holds the run's card).</summary>
    public const string RunFolder = "atlas";

    private readonly AtlasManifest manifest;
    private readonly Dictionary<(string Layer, int Unit), AtlasUnit> units;

    private Atlas(string folder, AtlasManifest manifest, Dictionary<(string, int), AtlasUnit> units) => (Folder, this.manifest, this.units) = (folder, manifest, units);

    /// <summary>Opens an atlas folder; an <see cref="IOException"/> or <see cref="InvalidDataException"/> with a one-line message
    /// naming the folder when it is not one.</summary>
    /// <remarks>Also takes the output folder of the run (the atlas is its <see cref="RunFolder"/>). Every path of the manifest must
    /// lead to a file inside the folder, symbolic links followed as they stand when the atlas is opened; one that leads out refuses
    /// the whole atlas.</remarks>
    public static Atlas Open(string folder)
    {
        string full = Path.GetFullPath(folder);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"{folder}: no such folder (expected an atlas folder, with {ManifestFile})");
        string nested = Path.Combine(full, RunFolder);
        if (File.Exists(Path.Combine(nested, ManifestFile)) || File.Exists(Path.Combine(nested, AtlasRuns.StateFile))) full = nested;
        string manifestPath = Path.Combine(full, ManifestFile);
        if (!File.Exists(manifestPath))
            throw File.Exists(Path.Combine(full, AtlasRuns.StateFile))
                ? new InvalidDataException($"{full} holds an unfinished atlas: its run was interrupted; resume the run to finish it")
                : new IOException($"{folder} is not an atlas folder: it has no {ManifestFile}");
        var manifest = AtlasManifest.Load(manifestPath);
        string root = Canonical(full);
        string Inside(string path, string what)
        {
            string resolved = Path.GetFullPath(Path.Combine(root, path));
            if (Path.IsPathRooted(path) || !IsUnder(resolved, root) || !IsUnder(Canonical(resolved), root))
                throw new InvalidDataException($"{manifestPath}: the path '{path}' of {what} leads outside the atlas folder {root}; an atlas names only its own files");
            return resolved;
        }
        var units = new Dictionary<(string, int), AtlasUnit>();
        foreach (var layer in manifest.Layers)
            foreach (var unit in layer.Units)
            {
                string what = $"{layer.Name} unit {unit.Unit}";
                var patches = unit.Top.Select(t => new AtlasPatch(Inside(t.Image, what), Inside(t.Deconv, what), t.Value, t.Source)).ToArray();
                if (!units.TryAdd((layer.Name, unit.Unit), new AtlasUnit(layer.Name, unit.Unit, patches, Inside(unit.Optimized, what))))
                    throw new InvalidDataException($"{manifestPath} lists {what} twice");
                Inside(unit.Page, what);
            }
        foreach (string page in manifest.Layers.Select(l => l.Page).Append(manifest.Index)) Inside(page, "a page");
        return new Atlas(root, manifest, units);
    }

    public string Folder { get; }

    /// <summary>The model the atlas was made from, as its source was named.</summary>
    public string Model => manifest.Model;

    /// <summary>The layers the atlas covers.</summary>
    public IReadOnlyList<string> Layers => manifest.Layers.Select(l => l.Name).ToArray();

    /// <summary>The units the atlas holds for <paramref name="layer"/>, in its order; empty for a layer it does not cover.</summary>
    public IReadOnlyList<int> UnitsOf(string layer) => manifest.Layers.FirstOrDefault(l => l.Name == layer)?.Units.Select(u => u.Unit).ToArray() ?? [];

    /// <summary>What the atlas holds for <paramref name="unit"/> of <paramref name="layer"/>; null when it has nothing for it.</summary>
    public AtlasUnit? Find(string layer, int unit) => units.GetValueOrDefault((layer, unit));

    private static bool IsUnder(string path, string folder) =>
        path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>The full path with every symbolic link along it resolved (the parts that exist).</summary>
    private static string Canonical(string full)
    {
        string root = Path.GetPathRoot(full)!, current = root;
        int links = 0;
        var parts = new Queue<string>(full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries));
        while (parts.TryDequeue(out string? part))
        {
            current = part == ".." ? Path.GetDirectoryName(current) ?? root : Path.Combine(current, part);
            if (new FileInfo(current).LinkTarget is not { } target) continue;
            if (++links > 40) throw new IOException($"{full}: too many levels of symbolic links");
            // The link's target replaces it; the target's own parts are resolved in turn, then the rest of the path.
            string resolved = Path.GetFullPath(target, Path.GetDirectoryName(current)!);
            string resolvedRoot = Path.GetPathRoot(resolved)!;
            parts = new Queue<string>(resolved[resolvedRoot.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Concat(parts));
            current = resolvedRoot;
        }
        return current;
    }
}
