using System.Text;
using ConvViz.Engine.Tensors;
using Xunit.Sdk;

namespace ConvViz.Tests.Support;

/// <summary>Element-wise comparison with a combined tolerance |actual - expected| &lt;= atol + rtol * |expected|.
/// On failure it lists the first mismatches with their coordinates and the largest error.</summary>
public static class TensorAssert
{
    /// <summary>max |actual − expected| / max |expected| (0 when both are all zeros): an error measured
    /// against the tensor's own scale, as the parity tests against ONNX Runtime state their tolerance.</summary>
    public static double RelativeToScale(float[] actual, float[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double difference = 0, scale = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            difference = Math.Max(difference, Math.Abs((double)actual[i] - expected[i]));
            scale = Math.Max(scale, Math.Abs((double)expected[i]));
        }
        return difference == 0 ? 0 : difference / scale;
    }

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol, string label, Shape? shape = null)
    {
        if (expected.Length != actual.Length)
            throw new XunitException($"{label}: {actual.Length} values, expected {expected.Length}");
        int failures = 0;
        double worst = 0;
        int worstIndex = -1;
        var report = new StringBuilder();
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            double error = Math.Abs(a - e);
            bool bothNan = double.IsNaN(e) && double.IsNaN(a);
            bool sameInfinity = double.IsInfinity(e) && e == a;
            if (bothNan || sameInfinity) continue;
            if (!(error <= atol + rtol * Math.Abs(e)))
            {
                if (failures < 5) report.AppendLine($"  at {Coordinates(i, shape)}: expected {e:G9}, got {a:G9} (error {error:G3})");
                failures++;
            }
            if (!(error <= worst)) (worst, worstIndex) = (error, i);
        }
        if (failures > 0)
            throw new XunitException(
                $"{label}: {failures} of {expected.Length} values differ beyond atol {atol} + rtol {rtol}; max error {worst:G3} at {Coordinates(worstIndex, shape)}\n{report}");
    }

    private static string Coordinates(int index, Shape? shape)
    {
        if (shape is null || index < 0) return $"[{index}]";
        var coords = new int[shape.Rank];
        int rest = index;
        for (int axis = shape.Rank - 1; axis >= 0; axis--)
        {
            coords[axis] = shape[axis] == 0 ? 0 : rest % shape[axis];
            rest = shape[axis] == 0 ? 0 : rest / shape[axis];
        }
        return "[" + string.Join(", ", coords) + "]";
    }
}
