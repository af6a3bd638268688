using System.CommandLine;
using System.CommandLine.Parsing;

namespace ConvViz.Cli;

/// <summary>
/// A command line System.CommandLine could not parse, in one line of convviz's own words: each error
/// names the option (or the stray word) and what the option expects, never a .NET type name
/// ("System.Nullable`1[System.Int64]") and never the help page. Errors that convviz's own parsers and
/// validators raised (<see cref="OptionRules"/>, which start with the option's name) pass unchanged.
/// </summary>
public static class ParseErrors
{
    public static string Describe(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        var options = OptionsOf(command).ToList();
        var stray = parse.UnmatchedTokens.ToList();
        var messages = new List<string>();
        foreach (var error in parse.Errors)
        {
            string message = error.Message.ReplaceLineEndings(" ").Trim();
            if (OptionOf(error.SymbolResult) is { } given)
                messages.Add(message.StartsWith(given.Option.Name, StringComparison.Ordinal) ? message : Refused(given));
            else if (stray.FirstOrDefault(t => message.Contains($"'{t}'", StringComparison.Ordinal)) is { } token)
            {
                if (Stray(token, parse, options) is { } described) messages.Add(described);
            }
            else if (options.FirstOrDefault(o => o.Required && message.Contains($"'{o.Name}'", StringComparison.Ordinal)) is { } missing)
                messages.Add($"{missing.Name} is required: {Expects(missing)}");
            else
                messages.Add(message);
        }
        return string.Join("; ", messages.Distinct());
    }

    /// <summary>What <paramref name="option"/> takes, in words: its range, its names, or its description.</summary>
    public static string Expects(Option option)
    {
        if (OptionRules.BoundsOf(option) is { } bounds) return bounds.Describe();
        var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        if (type.IsEnum) return $"one of {string.Join(", ", Enum.GetNames(type))}";
        if (type == typeof(bool)) return $"true or false ({option.Name} alone means true)";
        string what = type.IsArray ? "one or more values" : "a value";
        return string.IsNullOrEmpty(option.Description) ? what : $"{what} ({option.Description})";
    }

    /// <summary>An option given a value it could not take, or none.</summary>
    private static string Refused(OptionResult given)
    {
        var option = given.Option;
        if (given.IdentifierToken is null) return $"{option.Name} is required: {Expects(option)}";
        if (given.Tokens.Count == 0) return $"{option.Name} needs {Expects(option)}";
        return $"{option.Name} '{string.Join(" ", given.Tokens.Select(t => t.Value))}' is not valid; expected {Expects(option)}";
    }

    /// <summary>A word the command did not expect: an unknown option (with the nearest known one), a value after a switch, or a
    /// stray argument; null for the value of an unknown option, which the unknown option's message covers.</summary>
    private static string? Stray(string token, ParseResult parse, List<Option> options)
    {
        string usage = $"`{CommandPath(parse.CommandResult)} --help` lists what it takes";
        if (token.StartsWith('-'))
        {
            string? near = options.SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal))
                .Select(n => (Name: n, Distance: Distance(token, n))).Where(c => c.Distance <= Math.Max(2, token.Length / 4))
                .OrderBy(c => c.Distance).Select(c => c.Name).FirstOrDefault();
            return $"{token} is not an option of `{CommandPath(parse.CommandResult)}`{(near is null ? "" : $" (did you mean {near}?)")}; {usage}";
        }
        var tokens = parse.Tokens;
        int at = Enumerable.Range(0, tokens.Count).FirstOrDefault(i => tokens[i].Value == token && tokens[i].Type == TokenType.Argument, -1);
        if (at > 0 && tokens[at - 1].Value.StartsWith('-') && parse.UnmatchedTokens.Contains(tokens[at - 1].Value)) return null;
        if (at > 0 && options.FirstOrDefault(o => o.ValueType == typeof(bool) && (o.Name == tokens[at - 1].Value || o.Aliases.Contains(tokens[at - 1].Value))) is { } flag)
            return $"{flag.Name} '{token}' is not valid; expected {Expects(flag)}";
        return $"unexpected argument '{token}'; {usage}";
    }

    /// <summary>The option a parse error belongs to, when it belongs to one.</summary>
    private static OptionResult? OptionOf(SymbolResult? result) => result switch
    {
        OptionResult option => option,
        ArgumentResult { Parent: OptionResult option } => option,
        _ => null,
    };

    /// <summary>The options of <paramref name="command"/> and the recursive ones of the commands above it.</summary>
    private static IEnumerable<Option> OptionsOf(Command command)
    {
        foreach (var option in command.Options) yield return option;
        for (var parent = command.Parents.OfType<Command>().FirstOrDefault(); parent is not null; parent = parent.Parents.OfType<Command>().FirstOrDefault())
            foreach (var option in parent.Options.Where(o => o.Recursive)) yield return option;
    }

    /// <summary>"convviz model info".</summary>
    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (SymbolResult? r = result; r is not null; r = r.Parent)
            if (r is CommandResult c) names.Add(c.Parent is null ? "convviz" : c.Command.Name);
        names.Reverse();
        return string.Join(" ", names);
    }

    /// <summary>The Levenshtein distance: edits that turn one word into the other.</summary>
    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }
}
