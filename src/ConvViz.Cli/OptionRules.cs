using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace ConvViz.Cli;

/// <summary>
/// The stated range of a numeric option: finite, from <see cref="Min"/> to <see cref="Max"/>, each end
/// included unless marked exclusive; <see cref="Integer"/> for whole numbers; <see cref="Keyword"/> a word
/// accepted in place of a number (e.g. "auto"), which parses to <see cref="KeywordValue"/>, a value outside the range.
/// </summary>
public sealed record Bounds(double Min, double Max, bool Integer, bool MinExclusive = false, bool MaxExclusive = false, string? Keyword = null, double KeywordValue = 0)
{
    public bool Contains(double value) =>
        double.IsFinite(value) && (MinExclusive ? value > Min : value >= Min) && (MaxExclusive ? value < Max : value <= Max);

    /// <summary>The range in words, e.g. "a whole number from 1 to 16" or "a number greater than 0 and at most 1".</summary>
    public string Describe()
    {
        string kind = Integer ? "a whole number" : "a number";
        string range = (MinExclusive, MaxExclusive) switch
        {
            (false, false) => $"from {Format(Min)} to {Format(Max)}",
            (true, false) => $"greater than {Format(Min)} and at most {Format(Max)}",
            (false, true) => $"at least {Format(Min)} and less than {Format(Max)}",
            (true, true) => $"greater than {Format(Min)} and less than {Format(Max)}",
        };
        return Keyword is null ? $"{kind} {range}" : $"{kind} {range}, or {Keyword}";
    }

    internal static string Format(double value) =>
        Math.Floor(value) == value && Math.Abs(value) < 1e15 ? value.ToString("0", CultureInfo.InvariantCulture) : value.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// Declarative checks on option values, run by System.CommandLine while it parses, so that a bad value
/// is refused (one line, exit code 2, see <see cref="CliApp.Run"/>) before any model is opened or any
/// work starts. Every numeric option of every command states its bounds with <see cref="InRange{T}"/>
/// (or <see cref="Positive{T}"/>, <see cref="Seed{T}"/>), and every enum option takes names only
/// (<see cref="NamesOnly{T}"/>); the option fuzz test walks the command tree and holds every option to this.
/// </summary>
public static class OptionRules
{
    private static readonly ConditionalWeakTable<Option, Bounds> Declared = new();

    /// <summary>The bounds an option states, or null for one that states none.</summary>
    public static Bounds? BoundsOf(Option option) => Declared.TryGetValue(option, out var bounds) ? bounds : null;

    /// <summary>Accepts only finite numbers in [min, max] (an end excluded when marked), or <paramref name="keyword"/>,
    /// which parses to <paramref name="keywordValue"/>: a value outside the range, so the command can tell it apart.
    /// The option's help states the range.</summary>
    public static Option<T> InRange<T>(this Option<T> option, double min, double max, bool minExclusive = false, bool maxExclusive = false,
        string? keyword = null, double keywordValue = 0)
    {
        var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if (type != typeof(int) && type != typeof(long) && type != typeof(float) && type != typeof(double))
            throw new ArgumentException($"{option.Name}: InRange applies to int, long, float and double options, not {typeof(T).Name}");
        var bounds = new Bounds(min, max, type == typeof(int) || type == typeof(long), minExclusive, maxExclusive, keyword, keywordValue);
        if (keyword is not null && bounds.Contains(keywordValue))
            throw new ArgumentException($"{option.Name}: keyword {keyword} must parse to a value outside the range, not {keywordValue}");
        Declared.AddOrUpdate(option, bounds);
        option.Description = $"{option.Description}{(string.IsNullOrEmpty(option.Description) ? "" : "; ")}{bounds.Describe()}";
        option.CustomParser = result => Parse<T>(option.Name, bounds, type, result);
        return option;
    }

    /// <summary>A finite number greater than 0 and at most <paramref name="max"/>.</summary>
    public static Option<T> Positive<T>(this Option<T> option, double max) => option.InRange(0, max, minExclusive: true);

    /// <summary>A seed: any whole number from 0 to 2147483647.</summary>
    public static Option<T> Seed<T>(this Option<T> option) => option.InRange(0, int.MaxValue);

    /// <summary>Accepts an enum option's names only, in any case: System.CommandLine alone also takes any
    /// integer ("--colormap 7"), which is no member at all.</summary>
    public static Option<T> NamesOnly<T>(this Option<T> option)
    {
        var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if (!type.IsEnum) throw new ArgumentException($"{option.Name}: NamesOnly applies to enum options, not {typeof(T).Name}");
        var names = Enum.GetNames(type);
        option.CustomParser = result =>
        {
            string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
            string? name = names.FirstOrDefault(n => string.Equals(n, text.Trim(), StringComparison.OrdinalIgnoreCase));
            if (name is not null) return (T)Enum.Parse(type, name);
            result.AddError($"{option.Name} '{text}' is unknown; expected one of {string.Join(", ", names)}");
            return default!;
        };
        return option;
    }

    /// <summary>Whether the command line gave <paramref name="option"/> (rather than its default).</summary>
    public static bool Given(this ParseResult result, Option option) => result.GetResult(option) is { Implicit: false };

    private static T Box<T>(Type type, double value) =>
        (T)(type == typeof(int) ? (object)(int)value : type == typeof(long) ? (object)(long)value : type == typeof(float) ? (object)(float)value : (object)value);

    private static T Parse<T>(string name, Bounds bounds, Type type, ArgumentResult result)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(" ", result.Tokens.Select(t => t.Value));
        if (bounds.Keyword is not null && string.Equals(text.Trim(), bounds.Keyword, StringComparison.OrdinalIgnoreCase)) return Box<T>(type, bounds.KeywordValue);
        string expected = $"; expected {bounds.Describe()}";
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            return Refuse($"{name} '{text}' is not a number{(bounds.Keyword is null ? "" : $" or {bounds.Keyword}")}{expected}");
        if (!double.IsFinite(value)) return Refuse($"{name} {text} must be a finite number{expected}");
        if (bounds.Integer && Math.Floor(value) != value) return Refuse($"{name} {text} is not a whole number{expected}");
        // Bounds hold for the value the command gets: a float rounds (1e-50 becomes 0), so check after rounding.
        double stored = type == typeof(float) ? (float)value : value;
        if (bounds.MinExclusive ? !(stored > bounds.Min) : !(stored >= bounds.Min))
            return Refuse($"{name} {text} must be {(bounds.MinExclusive ? "greater than" : "at least")} {Bounds.Format(bounds.Min)}{expected}");
        if (bounds.MaxExclusive ? !(stored < bounds.Max) : !(stored <= bounds.Max))
            return Refuse($"{name} {text} must be {(bounds.MaxExclusive ? "less than" : "at most")} {Bounds.Format(bounds.Max)}{expected}");
        return Box<T>(type, stored);

        T Refuse(string message)
        {
            result.AddError(message);
            return default!;
        }
    }
}
