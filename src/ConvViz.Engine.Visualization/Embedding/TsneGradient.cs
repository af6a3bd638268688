namespace ConvViz.Engine.Embedding;

/// <summary>
/// The gradient of KL(P ‖ Q) for a 2-D map: dC/dyᵢ = 4 Σⱼ (α p_ij - q_ij) q̃_ij (yᵢ - yⱼ), with
/// q̃_ij = 1 / (1 + ‖yᵢ - yⱼ‖²), q_ij = q̃_ij / Z, Z = Σ_{k≠l} q̃_kl and α the early exaggeration.
/// Work is split by point; every sum over points is added in index order afterwards, so results
/// do not depend on the number of threads.
/// </summary>
internal abstract class TsneGradient(int count, int? threads)
{
    public int Count { get; } = count;
    protected ParallelOptions Parallelism { get; } = new() { MaxDegreeOfParallelism = threads ?? -1 };

    /// <summary>
    /// Fills <paramref name="gradient"/> (N x 2) at <paramref name="y"/> (N x 2). With
    /// <paramref name="withKl"/>, returns KL(P ‖ Q) of the unexaggerated P at y; else NaN.
    /// </summary>
    public abstract double Compute(double[] y, double exaggeration, double[] gradient, bool withKl);

    protected static double InOrderSum(double[] partials)
    {
        double sum = 0;
        foreach (double value in partials) sum += value;
        return sum;
    }
}

/// <summary>Exact gradient and KL over all N² pairs with dense P (for N up to a few thousand).</summary>
internal sealed class ExactTsneGradient : TsneGradient
{
    private readonly double[] p;
    private readonly double[] kernel;
    private readonly double[] rowSums;

    public ExactTsneGradient(double[] jointP, int count, int? threads) : base(count, threads)
    {
        p = jointP;
        kernel = new double[(long)count * count];
        rowSums = new double[count];
    }

    public override double Compute(double[] y, double exaggeration, double[] gradient, bool withKl)
    {
        int n = Count;
        Parallel.For(0, n, Parallelism, i =>
        {
            double xi = y[2 * i], yi = y[2 * i + 1], sum = 0;
            var row = kernel.AsSpan(i * n, n);
            for (int j = 0; j < n; j++)
            {
                double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
                double q = j == i ? 0 : 1 / (1 + dx * dx + dy * dy);
                row[j] = q;
                sum += q;
            }
            rowSums[i] = sum;
        });
        double z = InOrderSum(rowSums);
        Parallel.For(0, n, Parallelism, i =>
        {
            double xi = y[2 * i], yi = y[2 * i + 1], gx = 0, gy = 0;
            var row = kernel.AsSpan(i * n, n);
            var pRow = p.AsSpan(i * n, n);
            for (int j = 0; j < n; j++)
            {
                double q = row[j];
                double strength = (exaggeration * pRow[j] - q / z) * q;
                gx += strength * (xi - y[2 * j]);
                gy += strength * (yi - y[2 * j + 1]);
            }
            gradient[2 * i] = 4 * gx;
            gradient[2 * i + 1] = 4 * gy;
        });
        if (!withKl) return double.NaN;
        var partials = new double[n];
        Parallel.For(0, n, Parallelism, i =>
        {
            double sum = 0;
            for (int j = 0; j < n; j++)
            {
                double pij = p[i * n + j];
                if (pij > 0) sum += pij * Math.Log(pij * z / kernel[i * n + j]);
            }
            partials[i] = sum;
        });
        return InOrderSum(partials);
    }
}

/// <summary>
/// Barnes–Hut gradient (van der Maaten 2014): the attractive part exactly over the sparse P, the
/// repulsive part and Z from a quadtree with opening angle θ. Its KL is Σ over the sparse P's
/// nonzeros of p_ij log(p_ij / q_ij) with the tree's estimate of Z; P's zeros add nothing.
/// </summary>
internal sealed class BarnesHutTsneGradient : TsneGradient
{
    private readonly SparseAffinities p;
    private readonly double theta;
    private readonly QuadTree tree = new();
    private readonly double[] sumQ, repulsion;

    public BarnesHutTsneGradient(SparseAffinities jointP, double theta, int? threads) : base(jointP.Count, threads)
    {
        p = jointP;
        this.theta = theta;
        sumQ = new double[Count];
        repulsion = new double[2 * Count];
    }

    public override double Compute(double[] y, double exaggeration, double[] gradient, bool withKl)
    {
        int n = Count;
        tree.Build(y);
        Parallel.For(0, n, Parallelism, i =>
        {
            var (sum, fx, fy) = tree.Repulsion(y[2 * i], y[2 * i + 1], theta);
            sumQ[i] = sum - 1; // the point itself, at distance 0, is not a pair
            repulsion[2 * i] = fx;
            repulsion[2 * i + 1] = fy;
        });
        double z = InOrderSum(sumQ);
        Parallel.For(0, n, Parallelism, i =>
        {
            double xi = y[2 * i], yi = y[2 * i + 1], ax = 0, ay = 0;
            for (int e = p.RowStarts[i]; e < p.RowStarts[i + 1]; e++)
            {
                int j = p.Columns[e];
                double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
                double strength = exaggeration * p.Values[e] / (1 + dx * dx + dy * dy);
                ax += strength * dx;
                ay += strength * dy;
            }
            gradient[2 * i] = 4 * (ax - repulsion[2 * i] / z);
            gradient[2 * i + 1] = 4 * (ay - repulsion[2 * i + 1] / z);
        });
        if (!withKl) return double.NaN;
        var partials = new double[n];
        Parallel.For(0, n, Parallelism, i =>
        {
            double sum = 0;
            for (int e = p.RowStarts[i]; e < p.RowStarts[i + 1]; e++)
            {
                int j = p.Columns[e];
                double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
                double pij = p.Values[e];
                if (pij > 0) sum += pij * Math.Log(pij * z * (1 + dx * dx + dy * dy));
            }
            partials[i] = sum;
        });
        return InOrderSum(partials);
    }
}
