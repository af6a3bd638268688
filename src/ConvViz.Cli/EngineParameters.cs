using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace ConvViz.Cli;

/// <summary>
/// The engine speaks its own language: an argument error names the engine's parameter
/// (<c>"Iterations 0 must be at least 1"</c>, ParamName "Iterations"), never a command-line flag.
/// This maps those names back to the flags of the command that ran, so the user reads
/// <c>"--iterations 0 must be at least 1"</c>. An option's engine name is its flag in PascalCase
/// ("--blur-sigma" is BlurSigma); <see cref="Names{T}"/> adds the names of options that differ
/// ("--rotate" sets RotateDegrees, "--batch" sets BatchSize) and of one-letter flags ("--k" sets K).
/// </summary>
public static partial class EngineParameters
{
    private static readonly ConditionalWeakTable<Option, string[]> Declared = new();

    /// <summary>Declares the engine parameter names <paramref name="option"/> sets, beside its PascalCase name.</summary>
    public static Option<T> Names<T>(this Option<T> option, params string[] engineNames)
    {
        Declared.AddOrUpdate(option, engineNames);
        return option;
    }

    /// <summary>"--blur-sigma" → "BlurSigma".</summary>
    public static string PascalName(string flag) =>
        string.Concat(flag.TrimStart('-').Split('-', StringSplitOptions.RemoveEmptyEntries).Select(w => char.ToUpperInvariant(w[0]) + w[1..]));

    /// <summary>Every engine name an option of <paramref name="command"/> (or a recursive option above it) answers to.</summary>
    public static IReadOnlyDictionary<string, string> FlagsByName(Command command)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
            foreach (var option in c.Options)
            {
                if (!option.Name.StartsWith("--", StringComparison.Ordinal)) continue;
                // A one-letter name ("N" of --n) is more often a symbol in the message ("N - 1 > 3 x perplexity"):
                // it maps only when the option declares it.
                if (PascalName(option.Name) is { Length: > 1 } pascal) map.TryAdd(pascal, option.Name);
                if (Declared.TryGetValue(option, out var names))
                    foreach (var name in names) map.TryAdd(name, option.Name);
            }
        return map;
    }

    /// <summary>
    /// The message of <paramref name="e"/> in the words of <paramref name="command"/>: .NET's
    /// "(Parameter 'X')" and "Actual value was" tails dropped, and each whole-word engine name that
    /// one of the command's options sets replaced by that option's flag.
    /// </summary>
    public static string Translate(Exception e, Command command)
    {
        string message = e.Message;
        if (e is ArgumentException { ParamName: { } parameter })
        {
            message = message.Replace($" (Parameter '{parameter}')", "");
            if (e is ArgumentOutOfRangeException) message = ActualValueTail().Replace(message, "");
        }
        var flags = FlagsByName(command);
        return flags.Count == 0 ? message : PascalWord().Replace(message, m => flags.TryGetValue(m.Value, out var flag) ? flag : m.Value);
    }

    /// <summary>A capitalized word standing alone: not part of a path, a file name, a quoted name or a hyphenated word
    /// ("/data/Sample/x.png", "Model.onnx", "'Input'" stay as they are).</summary>
    [GeneratedRegex(@"(?<![\w/\\.\-'""`])[A-Z][A-Za-z0-9]*(?![\w/\\\-'""`]|\.\w)")]
    private static partial Regex PascalWord();

    [GeneratedRegex(@"\r?\nActual value was .*$", RegexOptions.Singleline)]
    private static partial Regex ActualValueTail();
}
