namespace ConvViz.Tests.Cli;

/// <summary>convviz gradcheck's verdict: the errors, the tolerance and PASS (exit 0) or FAIL (exit 1).</summary>
[Collection(CliHarness.Collection)]
public sealed class GradcheckCommandTests
{
    /// <summary>The default model with default settings passes; the points where the step crosses a
    /// ReLU or max-pool switch are named as kinks rather than failed.</summary>
    [Fact]
    public void DefaultModelPasses_NamingItsKinks()
    {
        var (exit, output, error) = CliHarness.Run("gradcheck");

        Assert.True(exit == 0, error + output);
        Assert.Contains("tolerance 0.01", output);
        Assert.Contains("worst relative error", output);
        Assert.Contains("PASS: every checked coordinate of 40 tensors is within tolerance 0.01", output);
        Assert.Contains(output.Split('\n'), line => line.StartsWith("kink: ", StringComparison.Ordinal));
        Assert.DoesNotContain("FAIL", output);
    }

    /// <summary>No float32 difference agrees to 1e-9: the same check fails, says so and exits 1, not 2 (the input was fine).</summary>
    [Fact]
    public void AnAbsurdlySmallToleranceFails_WithExitCode1()
    {
        var (exit, output, error) = CliHarness.Run("gradcheck", "--tolerance", "1e-9");

        Assert.Equal(1, exit);
        Assert.Equal("", error);
        Assert.Contains("tolerance 1E-09", output);
        Assert.Contains(output.Split('\n'), line => line.StartsWith("FAIL: ", StringComparison.Ordinal) && line.Contains("beyond tolerance 1E-09"));
    }
}
