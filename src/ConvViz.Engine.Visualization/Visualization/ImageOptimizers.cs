namespace ConvViz.Engine.Visualization;

/// <summary>A differentiable objective: returns f(x) and writes ∇f(x) into <paramref name="gradient"/> (same length as x).</summary>
public delegate double LossAndGradient(float[] x, float[] gradient);

/// <summary>
/// Adam (Kingma and Ba 2015) with bias correction: m = β1·m + (1-β1)·g, v = β2·v + (1-β2)·g²,
/// x -= lr · m̂ / (√v̂ + ε). Each coordinate moves by about lr per step whatever the gradient's
/// scale, so lr is in the units of x.
/// </summary>
internal sealed class Adam(int length, float learningRate, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f)
{
    private readonly double[] m = new double[length], v = new double[length];
    private int steps;

    public void Step(float[] x, float[] gradient)
    {
        if (x.Length != m.Length || gradient.Length != m.Length)
            throw new ArgumentException($"Adam was made for {m.Length} values; got x of {x.Length} and a gradient of {gradient.Length}");
        steps++;
        double correction1 = 1 - Math.Pow(beta1, steps), correction2 = 1 - Math.Pow(beta2, steps);
        for (int i = 0; i < x.Length; i++)
        {
            m[i] = beta1 * m[i] + (1 - beta1) * gradient[i];
            v[i] = beta2 * v[i] + (1 - beta2) * (double)gradient[i] * gradient[i];
            x[i] -= (float)(learningRate * (m[i] / correction1) / (Math.Sqrt(v[i] / correction2) + epsilon));
        }
    }
}

/// <summary>After the evaluation of accepted step <see cref="Step"/> (0: the start) of at most <see cref="Steps"/>: f there.</summary>
public readonly record struct LbfgsProgress(int Step, int Steps, double Loss);

/// <summary>Why <see cref="Lbfgs.Minimize"/> returned.</summary>
internal enum LbfgsStop { Iterations, SmallGradient, NoDecrease }

/// <summary>How a minimization ended: accepted steps, objective evaluations, the reason and the final f.</summary>
internal sealed record LbfgsOutcome(int Steps, int Evaluations, LbfgsStop Reason, double Loss);

/// <summary>
/// Limited-memory BFGS: the two-loop recursion over the last <see cref="History"/> pairs
/// (s = Δx, y = Δg), with the initial inverse Hessian γ·I, γ = sᵀy / yᵀy; a backtracking line
/// search for the Armijo condition f(x + t·d) ≤ f(x) + c1·t·∇fᵀd, starting at t = 1 (at
/// t = min(1, 1/|g|₁) on the first step, when there is no curvature yet, as torch's optim.lbfgs).
/// Pairs with sᵀy ≤ ε·yᵀy (no positive curvature, possible without a Wolfe curvature test) are not
/// stored, so the recursion's matrix stays positive definite; a direction that is not a descent
/// direction restarts from steepest descent. The vectors are float (x is an image); the recursion's
/// dot products run in double.
/// </summary>
internal sealed record Lbfgs
{
    public int History { get; init; } = 10;
    /// <summary>Armijo's sufficient-decrease constant.</summary>
    public double C1 { get; init; } = 1e-4;
    /// <summary>The step is halved at most this many times before the search gives up.</summary>
    public int MaxBacktracks { get; init; } = 30;
    /// <summary>Stops when the gradient's largest coordinate is at most this.</summary>
    public double GradientTolerance { get; init; } = 1e-9;

    /// <summary>
    /// Minimizes f from x (updated in place) for at most <paramref name="steps"/> accepted steps.
    /// <paramref name="progress"/> hears (k, f) after the start's evaluation (k = 0) and after each
    /// accepted step k, right after the evaluation of the accepted point: a caller that keeps
    /// by-products of the latest evaluation (e.g. loss terms) sees those of x at that moment.
    /// </summary>
    public LbfgsOutcome Minimize(float[] x, LossAndGradient f, int steps, IProgress<LbfgsProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (History < 1) throw new ArgumentOutOfRangeException(nameof(History), History, $"{nameof(History)} {History} must be at least 1");
        int n = x.Length;
        var g = new float[n];
        double loss = f(x, g);
        int evaluations = 1;
        progress?.Report(new LbfgsProgress(0, steps, loss));
        var pairs = new LinkedList<(float[] S, float[] Y, double Rho)>();
        var direction = new float[n];
        var trial = new float[n];
        var trialGradient = new float[n];

        for (int k = 1; k <= steps; k++)
        {
            cancellation.ThrowIfCancellationRequested();
            if (MaxAbs(g) <= GradientTolerance) return new(k - 1, evaluations, LbfgsStop.SmallGradient, loss);
            Direction(g, pairs, direction);
            double slope = Dot(g, direction);
            if (!(slope < 0))
            {
                pairs.Clear();
                Direction(g, pairs, direction);
                slope = Dot(g, direction);
            }
            double t = pairs.Count == 0 ? Math.Min(1.0, 1.0 / SumAbs(g)) : 1.0;
            double trialLoss = double.NaN;
            bool accepted = false;
            for (int tries = 0; tries <= MaxBacktracks && !accepted; tries++, t *= 0.5)
            {
                for (int i = 0; i < n; i++) trial[i] = (float)(x[i] + t * direction[i]);
                trialLoss = f(trial, trialGradient);
                evaluations++;
                accepted = trialLoss <= loss + C1 * t * slope;
            }
            if (!accepted) return new(k - 1, evaluations, LbfgsStop.NoDecrease, loss);

            var s = new float[n];
            var y = new float[n];
            for (int i = 0; i < n; i++)
            {
                s[i] = trial[i] - x[i];
                y[i] = trialGradient[i] - g[i];
            }
            double sy = Dot(s, y), yy = Dot(y, y);
            if (sy > 1e-10 * yy && yy > 0)
            {
                pairs.AddLast((s, y, 1 / sy));
                if (pairs.Count > History) pairs.RemoveFirst();
            }
            trial.CopyTo(x, 0);
            (g, trialGradient) = (trialGradient, g);
            loss = trialLoss;
            progress?.Report(new LbfgsProgress(k, steps, loss));
        }
        return new(steps, evaluations, LbfgsStop.Iterations, loss);
    }

    /// <summary>d = -H·g by the two-loop recursion over the stored pairs (oldest first in the list).</summary>
    private static void Direction(float[] g, LinkedList<(float[] S, float[] Y, double Rho)> pairs, float[] d)
    {
        var q = g.Select(v => (double)v).ToArray();
        var alphas = new double[pairs.Count];
        int index = pairs.Count - 1;
        for (var node = pairs.Last; node is not null; node = node.Previous, index--)
        {
            var (s, y, rho) = node.Value;
            double alpha = rho * Dot(s, q);
            alphas[index] = alpha;
            for (int i = 0; i < q.Length; i++) q[i] -= alpha * y[i];
        }
        if (pairs.Last is { } newest)
        {
            double gamma = 1 / (newest.Value.Rho * Dot(newest.Value.Y, newest.Value.Y));
            for (int i = 0; i < q.Length; i++) q[i] *= gamma;
        }
        index = 0;
        foreach (var (s, y, rho) in pairs)
        {
            double beta = rho * Dot(y, q);
            for (int i = 0; i < q.Length; i++) q[i] += (alphas[index] - beta) * s[i];
            index++;
        }
        for (int i = 0; i < d.Length; i++) d[i] = (float)-q[i];
    }

    private static double Dot(float[] a, float[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += (double)a[i] * b[i];
        return sum;
    }

    private static double Dot(float[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    private static double MaxAbs(float[] v) => v.Length == 0 ? 0 : v.Max(e => Math.Abs((double)e));

    private static double SumAbs(float[] v) => v.Sum(e => Math.Abs((double)e));
}
