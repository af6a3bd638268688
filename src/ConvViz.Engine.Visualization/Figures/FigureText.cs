using System.Globalization;

namespace ConvViz.Engine.Figures;

/// <summary>How figures write numbers and choose axis ticks.</summary>
internal static class FigureText
{
    /// <summary>A value in at most four significant digits, invariant culture: 0.2443, 12.35, 1.235E+04, -0.001.</summary>
    public static string Number(double value)
    {
        if (value == 0) return "0";
        if (!double.IsFinite(value)) return value.ToString(CultureInfo.InvariantCulture);
        double magnitude = Math.Abs(value);
        if (magnitude is >= 1e5 or < 1e-4) return value.ToString("0.###E+0", CultureInfo.InvariantCulture);
        int decimals = Math.Max(0, 3 - (int)Math.Floor(Math.Log10(magnitude)));
        return Math.Round(value, decimals).ToString("0.########", CultureInfo.InvariantCulture);
    }

    /// <summary>The tick values of a linear axis over [<paramref name="low"/>, <paramref name="high"/>]: multiples of 1, 2 or 5 times a
    /// power of ten, about <paramref name="count"/> of them, all inside the range.</summary>
    public static IReadOnlyList<double> Ticks(double low, double high, int count = 5)
    {
        if (!(high > low) || !double.IsFinite(low) || !double.IsFinite(high)) return double.IsFinite(low) ? [low] : [];
        double step = NiceStep((high - low) / Math.Max(1, count));
        double first = Math.Ceiling(low / step - 1e-9);
        // Counted in whole steps from the first: where low / step exceeds 2^53, first + 1 == first and a loop on k would never end.
        int steps = (int)Math.Min(4L * Math.Max(1, count) + 2, Math.Floor((high - first * step) / step + 1e-9) + 1);
        var ticks = new List<double>();
        for (int i = 0; i < steps; i++)
        {
            double tick = (first + i) * step;
            ticks.Add(Math.Abs(tick) < step * 1e-9 ? 0 : tick);
        }
        return ticks;
    }

    /// <summary>The smallest of 1, 2, 5 times a power of ten at least <paramref name="rough"/>.</summary>
    public static double NiceStep(double rough)
    {
        double power = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        foreach (double factor in new[] { 1.0, 2.0, 5.0, 10.0 })
            if (factor * power >= rough * (1 - 1e-9)) return factor * power;
        return 10 * power;
    }
}
