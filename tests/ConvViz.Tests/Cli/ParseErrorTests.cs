namespace ConvViz.Tests.Cli;

/// <summary>A command line that does not parse ends in one line, "error: ...", naming the option and what it
/// expects: no help page, no .NET type name, exit code 2.</summary>
[Collection(CliHarness.Collection)]
public sealed class ParseErrorTests
{
    [Theory]
    [InlineData("--iterations 'abc' is not a number; expected a whole number from 1 to 100000", "optimize", "--iterations", "abc")]
    [InlineData("--bogus is not an option of `convviz optimize`; `convviz optimize --help` lists what it takes", "optimize", "--bogus")]
    [InlineData("--iteratons is not an option of `convviz optimize` (did you mean --iterations?)", "optimize", "--iteratons", "3")]
    [InlineData("--iterations needs a whole number from 1 to 100000", "optimize", "--iterations")]
    [InlineData("--colormap needs one of Gray, Viridis, Jet, Diverging", "activations", "--sample", "1", "--colormap")]
    [InlineData("--model needs a value (Model: a bundle folder", "forward", "--sample", "1", "--model")]
    [InlineData("--out is required: a value (Folder for the checkpoint", "train")]
    [InlineData("--force 'abc' is not valid; expected true or false (--force alone means true)", "optimize", "--class", "1", "--force", "abc")]
    [InlineData("--force 'abc' is not valid; expected true or false", "optimize", "--class", "1", "--force=abc")]
    [InlineData("--verbose 'maybe' is not valid; expected true or false", "--verbose=maybe", "forward", "--sample", "1")]
    [InlineData("--max-image-pixels 'abc' is not a number; expected a whole number from 1 to", "forward", "--sample", "1", "--max-image-pixels", "abc")]
    [InlineData("--max-image-pixels 0 must be at least 1", "--max-image-pixels", "0", "forward", "--sample", "1")]
    [InlineData("--max-image-pixels needs a whole number", "forward", "--sample", "1", "--max-image-pixels")]
    [InlineData("unexpected argument 'extra'; `convviz forward --help` lists what it takes", "forward", "extra", "--sample", "1")]
    public void AParseError_IsOneLineNamingTheOptionAndWhatItExpects(string message, params string[] args)
    {
        var result = CliHarness.Run(args);
        CliHarness.AssertOneLineError(result, message);
        Assert.DoesNotContain("System.", result.Error);
        Assert.DoesNotContain("`1", result.Error);
        Assert.DoesNotContain("Usage", result.Error + result.Output);
        Assert.Equal("", result.Output);
    }
}
