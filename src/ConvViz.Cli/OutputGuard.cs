using System.CommandLine;
using ConvViz.Engine.IO;

namespace ConvViz.Cli;

/// <summary>
/// Nothing the user made is lost. Before a command runs, its output paths (--out and --dump folders,
/// --json and --raw files) are checked against its inputs (--input, --data, --model, --content,
/// --style, --classes), symbolic links resolved:
/// <list type="bullet">
/// <item>a run never writes over its own inputs: an output file that is an input, or an existing file
/// inside an input folder, and an output folder that is an input or holds one, are refused;</item>
/// <item>a run never replaces a file convviz did not write: an existing output folder that holds files
/// but is not a convviz folder, and an existing output file that convviz did not write, are refused
/// unless --force is given.</item>
/// </list>
/// What convviz wrote is recorded in a manifest, <c>.convviz</c>, in the folder: the line <c>./</c>
/// claims the folder (and everything under it) as a convviz output folder; a file name claims that
/// one file (a --json or --raw file written into someone else's folder). The claim is written just
/// before the command's first file goes there, so a run that fails early claims nothing, and a run
/// killed at any later moment has already claimed what it wrote.
/// </summary>
public static class OutputGuard
{
    public const string ManifestFile = ".convviz", FolderClaim = "./", ForceOption = "--force";

    private static readonly string[] InputOptions = ["--input", "--data", "--model", "--content", "--style", "--classes"];
    private static readonly string[] FolderOptions = ["--out", "--dump"];
    private static readonly string[] FileOptions = ["--json", "--raw"];

    /// <summary>Gives --force to every command (of the tree under <paramref name="command"/>) that writes into an output folder or a named file.</summary>
    public static Command WithForceOptions(Command command)
    {
        foreach (var sub in command.Subcommands) WithForceOptions(sub);
        if (command.Options.Any(o => FolderOptions.Contains(o.Name) || FileOptions.Contains(o.Name)) && command.Options.All(o => o.Name != ForceOption))
            command.Options.Add(new Option<bool>(ForceOption)
            {
                Description = $"Write even into a folder that holds files convviz did not write, and replace such an output file ({ManifestFile} records what convviz wrote)",
            });
        return command;
    }

    /// <summary>
    /// Refuses (with a <see cref="UserError"/>) an output that would overwrite an input or a file
    /// convviz did not write; otherwise returns the scope, to be held while the command runs, that
    /// records the outputs' claims as the command writes them.
    /// </summary>
    public static IDisposable Check(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        if (parse.Errors.Count > 0 || command.Action is null || !ReferenceEquals(parse.Action, command.Action)) return AtomicFile.Observe(_ => { });
        var inputs = Values(parse, command, InputOptions).Where(v => File.Exists(v.Path) || Directory.Exists(v.Path)).ToArray();
        var folders = Values(parse, command, FolderOptions).ToArray();
        var files = Values(parse, command, FileOptions).ToArray();
        bool force = command.Options.FirstOrDefault(o => o.Name == ForceOption) is Option<bool> forceOption && parse.GetValue(forceOption);

        foreach (var file in files)
        {
            foreach (var input in inputs)
            {
                if (file.Path == input.Path)
                    throw new UserError($"{Name(file)} is the run's input {Name(input)}; a run never writes over its own inputs, write to another file");
                if (Directory.Exists(input.Path) && IsUnder(file.Path, input.Path) && File.Exists(file.Path) && !Claimed(file.Path))
                    throw new UserError($"{Name(file)} would replace a file of the run's input {Name(input)}; a run never writes over its own inputs, write to another file");
            }
            if (!force && File.Exists(file.Path) && !Claimed(file.Path) && !InConvvizFolder(file.Path))
                throw new UserError($"{file.Option} {file.Given} exists and convviz did not write it; write to another file, or pass {ForceOption} to replace it");
        }
        foreach (var folder in folders)
        {
            foreach (var input in inputs)
                if (folder.Path == input.Path || IsUnder(input.Path, folder.Path))
                    throw new UserError($"{Name(folder)} holds the run's input {Name(input)}; a run never writes over its own inputs, choose another {folder.Option} folder");
            if (!force && Directory.Exists(folder.Path) && !InConvvizFolder(Path.Combine(folder.Path, ManifestFile)) && ForeignFiles(folder.Path) is { Length: > 0 } foreign)
                throw new UserError($"{folder.Option} {folder.Given} holds files convviz did not write ({string.Join(", ", foreign)}); choose a new or empty folder, or pass {ForceOption} to write into it");
        }
        return AtomicFile.Observe(new Claims(folders.Select(f => f.Path), files.Select(f => f.Path)).BeforeWrite);
    }

    /// <summary>The path with every symbolic link along it resolved (the parts that exist); full paths compare equal when they name the same file.</summary>
    public static string Canonical(string path) => Canonical(Path.GetFullPath(path), 0);

    private static string Canonical(string full, int depth)
    {
        if (depth > 40) throw new IOException($"{full}: too many levels of symbolic links");
        string root = Path.GetPathRoot(full)!, current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            current = Path.Combine(current, part);
            if (new FileInfo(current).LinkTarget is { } target)
                current = Canonical(Path.GetFullPath(target, Path.GetDirectoryName(current)!), depth + 1);
        }
        return current;
    }

    private static IEnumerable<(string Option, string Given, string Path)> Values(ParseResult parse, Command command, string[] names)
    {
        foreach (var option in command.Options.Where(o => names.Contains(o.Name)))
        {
            string?[] values = option switch
            {
                Option<string> single => new[] { parse.GetValue(single) },
                Option<string[]> many => parse.GetValue(many) ?? [],
                _ => [],
            };
            foreach (string? value in values)
                if (!string.IsNullOrEmpty(value)) yield return (option.Name, value, Canonical(value));
        }
    }

    /// <summary>The option and the path as given, with the file it resolves to when that reads differently.</summary>
    private static string Name((string Option, string Given, string Path) value) =>
        value.Given == value.Path ? $"{value.Option} {value.Given}" : $"{value.Option} {value.Given} ({value.Path})";

    private static bool IsUnder(string path, string folder) =>
        path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>Whether the manifest beside <paramref name="path"/> names this very file.</summary>
    private static bool Claimed(string path) => Manifest(Path.GetDirectoryName(path)!).Contains(Path.GetFileName(path));

    /// <summary>Whether a folder above <paramref name="path"/> is claimed as a convviz output folder.</summary>
    private static bool InConvvizFolder(string path)
    {
        for (string? folder = Path.GetDirectoryName(path); folder is not null; folder = Path.GetDirectoryName(folder))
            if (Manifest(folder).Contains(FolderClaim)) return true;
        return false;
    }

    private static HashSet<string> Manifest(string folder) =>
        ManifestLines(folder)?.Where(l => !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal) ?? [];

    /// <summary>The manifest's lines, or null without one; like every file convviz reads, a regular file of bounded size.</summary>
    private static string[]? ManifestLines(string folder)
    {
        string path = Path.Combine(folder, ManifestFile);
        return File.Exists(path) || Directory.Exists(path) ? InputFiles.ReadAllLines(path, "convviz's manifest of the files it wrote", MaxManifestBytes) : null;
    }

    /// <summary>A manifest names at most a folder claim and the files written beside it: 1 MiB is ample.</summary>
    private const long MaxManifestBytes = 1 << 20;

    /// <summary>A few of the files under <paramref name="folder"/> (empty folders are nobody's work), as paths relative to it.</summary>
    private static string[] ForeignFiles(string folder) =>
        Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 })
            .Where(f => Path.GetFileName(f) != ManifestFile).Take(3).Select(f => Path.GetRelativePath(folder, f)).ToArray();

    /// <summary>Adds <paramref name="line"/> to the manifest of <paramref name="folder"/>, creating both when missing.</summary>
    private static void AddClaim(string folder, string line)
    {
        var lines = ManifestLines(folder)?.ToList()
            ?? ["# written by convviz: ./ marks a folder of convviz outputs; other lines name files convviz wrote here. Later runs may replace them."];
        if (lines.Contains(line)) return;
        lines.Add(line);
        AtomicFile.WriteAllLines(Path.Combine(folder, ManifestFile), lines);
    }

    /// <summary>The claims of one run, each written once, just before the first file that needs it.</summary>
    private sealed class Claims(IEnumerable<string> folders, IEnumerable<string> files)
    {
        private readonly List<string> folders = folders.ToList(), files = files.ToList();
        private readonly Lock gate = new();

        public void BeforeWrite(string path)
        {
            if (Path.GetFileName(path) == ManifestFile) return;
            lock (gate)
            {
                if (folders.Count == 0 && files.Count == 0) return;
                string target = Canonical(path);
                foreach (string folder in folders.Where(f => IsUnder(target, f)).ToArray())
                {
                    folders.Remove(folder);
                    AddClaim(folder, FolderClaim);
                }
                foreach (string file in files.Where(f => f == target).ToArray())
                {
                    files.Remove(file);
                    AddClaim(Path.GetDirectoryName(file)!, Path.GetFileName(file));
                }
            }
        }
    }
}
