using System.CommandLine;
using ConvViz.Cli.Commands;
using Spectre.Console;

namespace ConvViz.Cli;

/// <summary>The `convviz` command line: parses, runs, and turns bad input into one line and exit code 2.</summary>
public static class CliApp
{
    public static Command CreateRoot() => OutputGuard.WithForceOptions(new RootCommand("ConvViz: see inside convolutional networks")
    {
        CommonOptions.Verbose,
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
        DreamCommand.Create(),
        StyleCommand.Create(),
        GradCamCommand.Create(),
        OcclusionCommand.Create(),
        TsneCommand.Create(),
        DevicesCommand.Create(),
    });

    /// <summary>Runs one command line; output and error default to the process's console.</summary>
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        error ??= Console.Error;
        var previousConsole = AnsiConsole.Console;
        if (output is not null)
        {
            // A writer has no terminal width; give tables room rather than wrapping at 80 columns.
            AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No });
            AnsiConsole.Console.Profile.Width = 200;
        }
        var parse = CreateRoot().Parse(args);
        try
        {
            using var claims = OutputGuard.Check(parse);
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = output ?? Console.Out, Error = error });
        }
        catch (Exception e) when (e is UserError or ArgumentException or InvalidOperationException or IOException or ObjectDisposedException
                                       or InvalidDataException or NotSupportedException or UnauthorizedAccessException)
        {
            // Bad input: one line, no stack trace unless --verbose.
            error.WriteLine(parse.GetValue(CommonOptions.Verbose) ? $"error: {e}" : $"error: {e.Message}");
            return 2;
        }
        finally
        {
            AnsiConsole.Console = previousConsole;
        }
    }
}
