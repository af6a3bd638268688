using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using ConvViz.Cli;
using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;
using Xunit.Abstractions;

namespace ConvViz.Tests.Validation;

/// <summary>
/// Every numeric and enum option of every command, found by walking <see cref="CliApp.CreateRoot"/>, run
/// in process with hostile values: each run returns within a time budget without throwing, exits 0 or 2,
/// a 2 is exactly one "error: " line without .NET exception text, and every value outside the option's
/// stated bounds (and any number for an enum) is refused. A new option or command is covered without
/// touching this test; a new numeric option that states no bounds, or a command without cheap base
/// arguments here, fails it.
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class OptionFuzzTests(ITestOutputHelper log)
{
    private const int Seed = 20261122;

    /// <summary>Generous: a value inside the bounds runs the command for real, model loading included.</summary>
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(20);

    private static readonly string[] Hostile = ["NaN", "Infinity", "-Infinity", "-1", "0", "2147483647", "2147483648", "1e30", "-1e30", ""];

    /// <summary>Text that is no number, one drawn per option with the seed.</summary>
    private static readonly string[] Junk = ["1,5", "0x10", "1e", "five", "--", "1_000", "\u0663", "+-1", "∞", "1.5.2"];

    /// <summary>.NET's wording for exceptions that escaped as messages instead of a sentence about the input.</summary>
    private static readonly string[] ExceptionText =
        ["Parameter '", "Specified argument", "Sequence contains", "Exception", "Object reference", "Index was outside", "Specified cast", "Value was either", "Arithmetic operation"];

    private static string Boot => Fixtures.Path("images", "ankle_boot.png");

    private static readonly Lazy<string> Data = new(() => FashionMnist.SubsetFolder(train: 64, test: 60));

    /// <summary>
    /// Per command, the options that make it valid and quick (one step, one epoch, a few images), so
    /// that a fuzzed value inside its bounds runs the whole command in seconds. A folder option gets a
    /// fresh folder per run, since train and topk refuse to overwrite an earlier run.
    /// </summary>
    private static readonly Dictionary<string, Func<string[]>> BaseArguments = new()
    {
        ["model info"] = () => [],
        ["model export"] = () => ["--out", FashionMnist.TempFolder()],
        ["forward"] = () => ["--input", Boot],
        ["backward"] = () => ["--input", Boot, "--class", "1"],
        ["gradcheck"] = () => ["--layer", "conv1", "--points", "1"],
        ["train"] = () => ["--out", Path.Combine(FashionMnist.TempFolder(), "run"), "--data", Data.Value, "--epochs", "1", "--limit", "32", "--batch", "32", "--samples-per-class", "0"],
        ["eval"] = () => ["--data", Data.Value, "--limit", "20"],
        ["activations"] = () => ["--input", Boot, "--layer", "conv1", "--out", FashionMnist.TempFolder()],
        ["saliency"] = () => ["--input", Boot, "--class", "1", "--out", FashionMnist.TempFolder()],
        ["deconv"] = () => ["--input", Boot, "--class", "1", "--out", FashionMnist.TempFolder()],
        ["guided"] = () => ["--input", Boot, "--class", "1", "--out", FashionMnist.TempFolder()],
        ["report"] = () => ["--samples", "1", "--out", FashionMnist.TempFolder()],
        ["optimize"] = () => ["--class", "1", "--iterations", "2", "--out", FashionMnist.TempFolder()],
        ["topk"] = () => ["--data", Data.Value, "--limit", "20", "--k", "2", "--layer", "relu1", "--out", FashionMnist.TempFolder()],
        ["serve"] = () => ["--port", "0"],
        ["atlas"] = () => ["--data", Data.Value, "--layers", "fc8", "--units", "0", "--k", "2", "--iterations", "2", "--out", FashionMnist.TempFolder()],
        ["dream"] = () => ["--iterations", "1", "--octaves", "1", "--out", FashionMnist.TempFolder()],
        ["style"] = () => ["--content", Boot, "--style", Boot, "--iterations", "1", "--out", FashionMnist.TempFolder()],
        ["gradcam"] = () => ["--input", Boot, "--out", FashionMnist.TempFolder()],
        ["occlusion"] = () => ["--input", Boot, "--patch", "14", "--stride", "14", "--out", FashionMnist.TempFolder()],
        ["tsne"] = () => ["--data", Data.Value, "--n", "50", "--iterations", "10", "--perplexity", "5", "--grid", "5", "--out", FashionMnist.TempFolder()],
    };

    /// <summary>Commands that run until Ctrl+C (a server): each run is cancelled after this long, as Ctrl+C would, and then
    /// must stop cleanly (exit 0) like any finished command.</summary>
    private static readonly Dictionary<string, TimeSpan> RunUntilCancelled = new() { ["serve"] = TimeSpan.FromSeconds(1) };

    private static CancellationTokenSource Cancellation(string command)
    {
        var cancel = new CancellationTokenSource();
        if (RunUntilCancelled.TryGetValue(command, out var after)) cancel.CancelAfter(after);
        return cancel;
    }

    private sealed record Case(string Command, Option Option, string Value, bool MustRefuse);

    [Fact]
    public void EveryNumericAndEnumOption_RefusesHostileValuesInOneLine_AndNeverCrashesOrRunsAway()
    {
        var cases = Cases().ToList();
        var failures = new List<string>();
        int refused = 0, ran = 0, refusedInsideBounds = 0;
        foreach (var c in cases)
        {
            var (exit, error, elapsed, thrown) = Run(c);
            string label = $"{c.Command} {c.Option.Name} '{c.Value}'";
            if (thrown is not null) { failures.Add($"{label}: threw {thrown.GetType().Name}: {thrown.Message}"); continue; }
            if (elapsed > Budget) failures.Add($"{label}: took {elapsed.TotalSeconds:F1} s, over the {Budget.TotalSeconds} s budget");
            if (exit is not (0 or 2)) { failures.Add($"{label}: exit code {exit}; error output: {error}"); continue; }
            if (exit == 0)
            {
                ran++;
                if (c.MustRefuse) failures.Add($"{label}: outside the stated bounds ({Describe(c.Option)}) but ran (exit 0)");
                continue;
            }
            refused++;
            if (!c.MustRefuse)
            {
                refusedInsideBounds++;
                log.WriteLine($"inside the bounds, refused: {label}: {error.TrimEnd()}");
            }
            var lines = error.TrimEnd().Split('\n');
            if (lines.Length != 1 || !error.StartsWith("error: ")) failures.Add($"{label}: not one 'error: ' line: {error}");
            if (ExceptionText.FirstOrDefault(error.Contains) is { } text) failures.Add($"{label}: .NET exception text \"{text}\" in: {error.TrimEnd()}");
            if (c.MustRefuse && !error.Contains(c.Option.Name)) failures.Add($"{label}: the error does not name the option: {error.TrimEnd()}");
        }
        log.WriteLine($"seed {Seed}: {cases.Count} cases over {cases.Select(c => c.Command).Distinct().Count()} commands and " +
                      $"{cases.Select(c => (c.Command, c.Option.Name)).Distinct().Count()} options; {cases.Count(c => c.MustRefuse)} outside the bounds or no value; " +
                      $"{refused} refused (exit 2, {refusedInsideBounds} of them inside the bounds, by a cross-option or model rule), {ran} ran (exit 0)");
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} cases failed:\n{string.Join("\n", failures)}");
        // The values inside the bounds must really run the commands, or the budget and crash checks prove nothing.
        Assert.True(ran >= 20, $"only {ran} cases ran to completion");
    }

    [Fact]
    public void EveryCommandWithNumericOrEnumOptions_HasBaseArguments_AndEveryNumericOptionStatesBounds()
    {
        foreach (var (path, command) in Commands(CliApp.CreateRoot(), ""))
        {
            var fuzzed = command.Options.Where(o => IsNumeric(o.ValueType) || IsEnum(o.ValueType)).ToList();
            if (fuzzed.Count == 0) continue;
            Assert.True(BaseArguments.ContainsKey(path), $"`convviz {path}` has numeric or enum options but no base arguments in OptionFuzzTests");
            Assert.Equal(0, RunBase(path).Exit);
            foreach (var option in fuzzed.Where(o => IsNumeric(o.ValueType)))
                Assert.True(OptionRules.BoundsOf(option) is not null, $"`convviz {path}` {option.Name} states no bounds (OptionRules.InRange)");
        }
    }

    private (int Exit, string Error) RunBase(string path)
    {
        using var cancel = Cancellation(path);
        var result = CliHarness.Run(cancel.Token, [.. path.Split(' '), .. BaseArguments[path]()]);
        if (result.Exit != 0) log.WriteLine($"{path}: {result.Error}");
        return (result.Exit, result.Error);
    }

    private static IEnumerable<Case> Cases()
    {
        var random = new Random(Seed);
        foreach (var (path, command) in Commands(CliApp.CreateRoot(), ""))
            foreach (var option in command.Options)
            {
                if (IsEnum(option.ValueType))
                {
                    // An enum takes its members' names only: every number, and every non-name, is refused.
                    foreach (var value in Hostile.Append("7").Append(Junk[random.Next(Junk.Length)]))
                        yield return new Case(path, option, value, MustRefuse: true);
                }
                else if (IsNumeric(option.ValueType))
                {
                    var bounds = OptionRules.BoundsOf(option)
                                 ?? throw new InvalidOperationException($"`convviz {path}` {option.Name} states no bounds");
                    foreach (var value in Hostile.Concat(Edges(bounds, random)).Append(Junk[random.Next(Junk.Length)]))
                        yield return new Case(path, option, value, MustRefuse: !Inside(bounds, value));
                }
            }
    }

    /// <summary>Values just past each end of the range: the first one outside, and a random one further out.</summary>
    private static IEnumerable<string> Edges(Bounds bounds, Random random)
    {
        double step = bounds.Integer ? 1 : Math.Max(Math.Abs(bounds.Max), 1) * 1e-3;
        yield return Format(bounds.MaxExclusive ? bounds.Max : bounds.Max + step);
        yield return Format(bounds.Max + Math.Max(Math.Abs(bounds.Max), 1) * (1 + random.NextDouble() * 1e3));
        step = bounds.Integer ? 1 : Math.Max(Math.Abs(bounds.Min), 1) * 1e-3;
        yield return Format(bounds.MinExclusive ? bounds.Min : bounds.Min - step);
        yield return Format(bounds.Min - Math.Max(Math.Abs(bounds.Min), 1) * (1 + random.NextDouble() * 1e3));
    }

    private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Whether <paramref name="text"/> is a value the option's stated bounds allow (its keyword included).</summary>
    private static bool Inside(Bounds bounds, string text) =>
        string.Equals(text, bounds.Keyword, StringComparison.OrdinalIgnoreCase)
        || double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
           && bounds.Contains(value) && (!bounds.Integer || Math.Floor(value) == value);

    private static string Describe(Option option) => OptionRules.BoundsOf(option)?.Describe() ?? "names only";

    private static (int Exit, string Error, TimeSpan Elapsed, Exception? Thrown) Run(Case c)
    {
        var arguments = BaseArguments.TryGetValue(c.Command, out var make) ? make() : [];
        // The fuzzed option replaces the base's own value for it.
        var rest = new List<string>();
        for (int i = 0; i < arguments.Length; i++)
        {
            if (arguments[i] == c.Option.Name) { i++; continue; }
            rest.Add(arguments[i]);
        }
        string[] args = [.. c.Command.Split(' '), .. rest, c.Option.Name, c.Value];
        var clock = Stopwatch.StartNew();
        using var cancel = Cancellation(c.Command);
        var run = Task.Run(() => CliHarness.Run(cancel.Token, args));
        try
        {
            // A run that never returns fails here rather than hanging the suite.
            if (!run.Wait(Budget * 3)) return (-1, "no result: still running", clock.Elapsed, new TimeoutException($"still running after {clock.Elapsed.TotalSeconds:F0} s"));
            return (run.Result.Exit, run.Result.Error, clock.Elapsed, null);
        }
        catch (AggregateException e)
        {
            return (-1, "", clock.Elapsed, e.InnerException);
        }
    }

    /// <summary>Every command that runs something, with its path below the root ("model info", "tsne").</summary>
    private static IEnumerable<(string Path, Command Command)> Commands(Command parent, string prefix)
    {
        foreach (var command in parent.Subcommands)
        {
            string path = prefix.Length == 0 ? command.Name : $"{prefix} {command.Name}";
            if (command.Action is not null) yield return (path, command);
            foreach (var child in Commands(command, path)) yield return child;
        }
    }

    private static bool IsNumeric(Type type) =>
        (Nullable.GetUnderlyingType(type) ?? type) is var t && (t == typeof(int) || t == typeof(long) || t == typeof(float) || t == typeof(double) || t == typeof(decimal));

    private static bool IsEnum(Type type) => (Nullable.GetUnderlyingType(type) ?? type).IsEnum;
}
