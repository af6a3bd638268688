namespace ConvViz.Engine.Tensors;

/// <summary>Seeded normal deviates (Box–Muller), the same sequence on every machine for a given Random.</summary>
public static class GaussianNoise
{
    /// <summary>One N(0, 1) deviate: two uniforms in (0, 1] give one standard normal.</summary>
    public static double Next(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
