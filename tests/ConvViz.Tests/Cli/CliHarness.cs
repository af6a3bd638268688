using ConvViz.Cli;

namespace ConvViz.Tests.Cli;

/// <summary>Runs `convviz` in process with captured output, and checks the error contract. The
/// command line writes through Spectre's process-wide AnsiConsole, so every test class that runs
/// it joins the <see cref="Collection"/> collection and they never run at the same time.</summary>
internal static class CliHarness
{
    public const string Collection = "convviz command line";

    public static (int Exit, string Output, string Error) Run(params string[] args) => Run(CancellationToken.None, args);

    /// <summary>Runs with <paramref name="cancellation"/> standing in for Ctrl+C.</summary>
    public static (int Exit, string Output, string Error) Run(CancellationToken cancellation, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = CliApp.Run(args, output, error, cancellation);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>Bad input: exit code 2 and exactly one line, "error: ...", containing <paramref name="message"/>.</summary>
    public static void AssertOneLineError((int Exit, string Output, string Error) result, string message)
    {
        Assert.True(result.Exit == 2, $"exit code {result.Exit}, expected 2; error output: {result.Error}");
        Assert.StartsWith("error: ", result.Error);
        Assert.True(result.Error.Contains(message), $"the error \"{result.Error.TrimEnd()}\" does not say \"{message}\"");
        Assert.Single(result.Error.TrimEnd().Split('\n'));
    }
}
