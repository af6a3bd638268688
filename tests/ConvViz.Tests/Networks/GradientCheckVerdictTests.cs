using ConvViz.Engine.Networks;

namespace ConvViz.Tests.Networks;

/// <summary>How <see cref="GradientCheck.Check"/> tells a wrong gradient from a kink, on objectives with known derivatives.</summary>
public sealed class GradientCheckVerdictTests
{
    /// <summary>J(v) = 3v is linear: an analytic derivative of 2 is simply wrong and fails, with its errors.</summary>
    [Fact]
    public void AWrongGradientOfALinearObjectiveFails()
    {
        var row = GradientCheck.Check("layer", "weight", [0.5f], [2f], points: 1, step: 0.01f, tolerance: 1e-2, new Random(1), v => 3.0 * v[0]);

        var point = Assert.Single(row.Checked);
        Assert.False(point.Kink);
        Assert.Equal(3.0, point.Numeric, 1e-4);
        Assert.Equal(1.0, point.AbsoluteError, 1e-4);
        Assert.Equal(1.0 / 3, point.RelativeError, 1e-4);
        Assert.False(row.Passes(1e-2));
        Assert.False(new GradientCheckReport([row], 1e-2).Passed);
    }

    /// <summary>J(v) = relu(v) at v = 0.004 with h = 0.01: the step crosses the switch, the central difference
    /// is 0.7, not the derivative 1, and the half-step slopes (0, 0.8, 1, 1) say why: a kink, which passes.</summary>
    [Fact]
    public void AStepAcrossAReluSwitchIsAKink_NotAFailure()
    {
        var row = GradientCheck.Check("relu", "output", [0.004f], [1f], points: 1, step: 0.01f, tolerance: 1e-2, new Random(1), v => Math.Max(0.0, v[0]));

        var point = Assert.Single(row.Checked);
        Assert.True(point.Kink);
        Assert.Equal(0.7, point.Numeric, 1e-3);
        Assert.True(row.Passes(1e-2));
        Assert.Equal(1, new GradientCheckReport([row], 1e-2).Kinks);
    }

    [Fact]
    public void ARightGradientPasses()
    {
        var row = GradientCheck.Check("layer", "weight", [0.5f, -1f], [3f, 3f], points: 2, step: 0.01f, tolerance: 1e-2, new Random(1), v => 3.0 * v[0] + 3.0 * v[1]);

        Assert.True(row.Passes(1e-2));
        Assert.True(row.WorstRelativeError < 1e-3);
        Assert.Equal(0, row.Kinks);
    }
}
