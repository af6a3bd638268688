using System.CommandLine;
using ConvViz.Cli.Commands;
using ConvViz.Engine.Imaging;
using Spectre.Console;

namespace ConvViz.Cli;

/// <summary>The `convviz` command line: parses, runs, and turns bad input into one line and exit code 2.</summary>
public static class CliApp
{
    public static Command CreateRoot() => OutputGuard.WithForceOptions(new RootCommand("ConvViz: see inside convolutional networks")
    {
        CommonOptions.Verbose,
        CommonOptions.MaxImagePixels,
        new Command("model", "Inspect, convert and fetch models") { ModelInfoCommand.Create(), ModelExportCommand.Create(), ModelFetchCommand.Create() },
        ForwardCommand.Create(),
        BackwardCommand.Create(),
        GradcheckCommand.Create(),
        TrainCommand.Create(),
        EvalCommand.Create(),
        ActivationsCommand.Create(),
        FiltersCommand.Create(),
        AttributionCommand.Saliency(),
        AttributionCommand.Deconv(),
        AttributionCommand.Guided(),
        ReportCommand.Create(),
        OptimizeCommand.Create(),
        TopkCommand.Create(),
        AtlasCommand.Create(),
        DreamCommand.Create(),
        StyleCommand.Create(),
        GradCamCommand.Create(),
        OcclusionCommand.Create(),
        TsneCommand.Create(),
        DevicesCommand.Create(),
        ServeCommand.Create(),
    });

    /// <summary>The exit code of a run that failed for a reason other than its input (EX_SOFTWARE).</summary>
    public const int InternalError = 70;

    /// <summary>
    /// Input the user can fix: a <see cref="UserError"/>; a file-system refusal (the runtime's
    /// message names the path); or an argument, data or support error thrown by ConvViz's own code,
    /// whose message says what was wrong. The same types thrown inside the runtime carry the
    /// runtime's wording ("Specified argument was out of the range..."), which means ConvViz missed
    /// a check: that is reported as an internal error.
    /// </summary>
    public static bool IsUserError(Exception e) => e switch
    {
        UserError or IOException or UnauthorizedAccessException => true,
        ArgumentException or InvalidOperationException or InvalidDataException or NotSupportedException =>
            e.TargetSite?.DeclaringType?.Assembly.GetName().Name?.StartsWith("ConvViz", StringComparison.Ordinal) == true,
        _ => false,
    };

    /// <summary>The exception a parallel loop or a reflection call wrapped, when there is exactly one.</summary>
    private static Exception Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        System.Reflection.TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        _ => e,
    };

    private static string OneLine(string message) => string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>How long a cancelled command (Ctrl+C, SIGINT, SIGTERM) has to save its state and return
    /// before the process ends anyway: topk and train finish their batch and write their checkpoint.</summary>
    public static readonly TimeSpan CancelGrace = TimeSpan.FromSeconds(30);

    /// <summary>Runs one command line; output and error default to the process's console. Ctrl+C is
    /// handled once, here, by System.CommandLine: it cancels the token every command's action receives
    /// (as does <paramref name="cancellation"/>, which tests use to stand in for Ctrl+C).</summary>
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellation = default)
    {
        error ??= Console.Error;
        var previousConsole = AnsiConsole.Console;
        if (output is not null)
        {
            // A writer has no terminal width; give tables room rather than wrapping at 80 columns.
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No });
            AnsiConsole.Console.Profile.Width = 200;
        }
        // With no command at all, help says more than "Required command was not provided".
        var parse = CreateRoot().Parse(args.Length == 0 ? ["--help"] : args);
        long previousMaxPixels = ImageLimits.MaxPixels;
        ImageLimits.MaxPixels = parse.Errors.Count == 0 && parse.GetValue(CommonOptions.MaxImagePixels) is { } maxPixels ? maxPixels : ImageLimits.DefaultMaxPixels;
        try
        {
            // Parse errors (unknown options, missing or out-of-range values, see OptionRules) follow the
            // same contract as any bad input, before any work: one line, exit code 2, no help page.
            if (parse.Errors.Count > 0)
            {
                error.WriteLine($"error: {ParseErrors.Describe(parse)}");
                return 2;
            }
            using var claims = OutputGuard.Check(parse);
            var configuration = new InvocationConfiguration
            {
                EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = CancelGrace, Output = output ?? Console.Out, Error = error,
            };
            return parse.InvokeAsync(configuration, cancellation).GetAwaiter().GetResult();
        }
        catch (Exception thrown)
        {
            var e = Unwrap(thrown);
            bool verbose = parse.GetValue(CommonOptions.Verbose);
            if (e is OperationCanceledException)
            {
                error.WriteLine("error: cancelled");
                return 130;
            }
            if (!IsUserError(e))
            {
                // A bug, not bad input: say so in one line rather than show the runtime's own text.
                error.WriteLine(verbose ? $"error: internal error: {e}" : $"error: internal error ({e.GetType().Name}); this is a bug in convviz; rerun with --verbose and report it");
                return InternalError;
            }
            // Bad input: one line in the command's words (engine parameter names become its flags), no stack trace unless --verbose.
            string hint = e.Data.Contains(ImageLimits.ExceededKey) ? $" (raise it with {CommonOptions.MaxImagePixels.Name})" : "";
            error.WriteLine(verbose ? $"error: {e}" : $"error: {OneLine(EngineParameters.Translate(e, parse.CommandResult.Command))}{hint}");
            return 2;
        }
        finally
        {
            ImageLimits.MaxPixels = previousMaxPixels;
            AnsiConsole.Console = previousConsole;
        }
    }
}
