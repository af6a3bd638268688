using System.CommandLine;
using ConvViz.Cli;
using ConvViz.Cli.Commands;

var root = new RootCommand("ConvViz: see inside convolutional networks")
{
    CommonOptions.Verbose,
    new Command("model", "Inspect models") { ModelInfoCommand.Create() },
    DevicesCommand.Create(),
};

var parse = root.Parse(args);
try
{
    return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is UserError or ArgumentException or InvalidOperationException or IOException or ObjectDisposedException)
{
    // Bad input: one line on stderr, no stack trace unless --verbose.
    Console.Error.WriteLine(parse.GetValue(CommonOptions.Verbose) ? $"error: {e}" : $"error: {e.Message}");
    return 2;
}
