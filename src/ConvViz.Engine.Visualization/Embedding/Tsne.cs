using System.Diagnostics;

namespace ConvViz.Engine.Embedding;

/// <summary>KL(P ‖ Q) of the map after <see cref="Iteration"/> updates.</summary>
public sealed record KlPoint(int Iteration, double Kl);

/// <summary>
/// A t-SNE map: Coordinates N x 2 row-major, the KL curve, the method and learning rate used, and
/// the seconds spent on the input affinities and on the optimization.
/// </summary>
public sealed record TsneResult(double[] Coordinates, IReadOnlyList<KlPoint> KlCurve, TsneMethod Method, double LearningRate,
    double AffinitySeconds, double OptimizationSeconds);

/// <summary>
/// t-SNE (van der Maaten and Hinton 2008; Barnes–Hut: van der Maaten 2014) of N points to 2-D:
/// gradient descent with momentum and per-coordinate gains (delta-bar-delta: +0.2 when the
/// gradient's sign differs from the last update's, else x0.8, at least 0.01), the map re-centered
/// after every update. The same points, options and seed give the same map, whatever the threads.
/// </summary>
/// <summary>Updates done so far, out of <paramref name="Iterations"/>; <paramref name="Kl"/> is the KL divergence when it was measured at this update.</summary>
public readonly record struct TsneProgress(int Iteration, int Iterations, double? Kl);

public static class Tsne
{
    private const double MinimumGain = 0.01;

    /// <param name="points">N x D row-major, e.g. PCA-reduced codes.</param>
    /// <param name="progress">Reports after each update.</param>
    public static TsneResult Run(double[] points, int count, int dimensions, TsneOptions options,
        IProgress<TsneProgress>? progress = null, CancellationToken cancellation = default)
    {
        options.Validate(count);
        if (points.Length != (long)count * dimensions) throw new ArgumentException($"{count} points of {dimensions} need {(long)count * dimensions} values, {points.Length} given");
        var method = options.MethodFor(count);
        var clock = Stopwatch.StartNew();
        TsneGradient gradient = method == TsneMethod.Exact
            ? new ExactTsneGradient(Affinities.Exact(points, count, dimensions, options.Perplexity), count, options.Threads)
            : new BarnesHutTsneGradient(Affinities.Sparse(points, count, dimensions, options.Perplexity, options.NeighboursFor(count)), options.Theta, options.Threads);
        double affinitySeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        double learningRate = options.LearningRateFor(count);
        var y = InitialMap(count, options.Seed);
        var grad = new double[2 * count];
        var update = new double[2 * count];
        var gains = new double[2 * count];
        Array.Fill(gains, 1.0);
        var curve = new List<KlPoint>();
        for (int iteration = 0; ; iteration++)
        {
            cancellation.ThrowIfCancellationRequested();
            bool record = iteration == options.Iterations || (iteration > 0 && iteration % options.KlEvery == 0);
            double exaggeration = iteration < options.ExaggerationIterations ? options.EarlyExaggeration : 1;
            double kl = gradient.Compute(y, exaggeration, grad, record);
            if (record) curve.Add(new KlPoint(iteration, kl));
            if (iteration > 0) progress?.Report(new TsneProgress(iteration, options.Iterations, record ? kl : null));
            if (iteration == options.Iterations) break;

            double momentum = iteration < options.MomentumSwitchIteration ? options.InitialMomentum : options.FinalMomentum;
            for (int k = 0; k < y.Length; k++)
            {
                gains[k] = Math.Sign(grad[k]) != Math.Sign(update[k]) ? gains[k] + 0.2 : Math.Max(gains[k] * 0.8, MinimumGain);
                update[k] = momentum * update[k] - learningRate * gains[k] * grad[k];
                y[k] += update[k];
            }
            Center(y);
        }
        return new TsneResult(y, curve, method, learningRate, affinitySeconds, clock.Elapsed.TotalSeconds);
    }

    /// <summary>N x 2 coordinates drawn from N(0, σ²), σ = <see cref="TsneOptions.InitialStandardDeviation"/>, by Box–Muller from the seed.</summary>
    public static double[] InitialMap(int count, int seed)
    {
        var random = new Random(seed);
        var y = new double[2 * count];
        for (int k = 0; k < y.Length; k += 2)
        {
            double radius = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
            double angle = 2 * Math.PI * random.NextDouble();
            y[k] = TsneOptions.InitialStandardDeviation * radius * Math.Cos(angle);
            y[k + 1] = TsneOptions.InitialStandardDeviation * radius * Math.Sin(angle);
        }
        return y;
    }

    private static void Center(double[] y)
    {
        double meanX = 0, meanY = 0;
        int n = y.Length / 2;
        for (int i = 0; i < n; i++) { meanX += y[2 * i]; meanY += y[2 * i + 1]; }
        meanX /= n;
        meanY /= n;
        for (int i = 0; i < n; i++) { y[2 * i] -= meanX; y[2 * i + 1] -= meanY; }
    }
}
