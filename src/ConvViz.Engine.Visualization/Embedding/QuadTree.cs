namespace ConvViz.Engine.Embedding;

/// <summary>
/// A point-region quadtree over 2-D points with each cell's point count and center of mass, for
/// Barnes–Hut sums of t-SNE's repulsive forces. Built sequentially (the same tree for the same
/// points); queries only read it, so many threads may query at once. Points at the same position
/// share one leaf.
/// </summary>
internal sealed class QuadTree
{
    private const int MaxDepth = 48;

    // Node k: the cell's center and half width, its points' count and coordinate sums, and the
    // index of its first of four consecutive children (-1 for a leaf).
    private double[] centerX = new double[64], centerY = new double[64], halfWidth = new double[64];
    private double[] sumX = new double[64], sumY = new double[64];
    private int[] count = new int[64], firstChild = new int[64];
    private int nodes;

    public int NodeCount => nodes;

    /// <summary>Rebuilds the tree over N points, <paramref name="y"/> N x 2 row-major.</summary>
    public void Build(ReadOnlySpan<double> y)
    {
        int n = y.Length / 2;
        double minX = double.PositiveInfinity, minY = double.PositiveInfinity, maxX = double.NegativeInfinity, maxY = double.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            minX = Math.Min(minX, y[2 * i]); maxX = Math.Max(maxX, y[2 * i]);
            minY = Math.Min(minY, y[2 * i + 1]); maxY = Math.Max(maxY, y[2 * i + 1]);
        }
        nodes = 0;
        double half = Math.Max(Math.Max(maxX - minX, maxY - minY) / 2, 1e-12) * (1 + 1e-9);
        AddNode((minX + maxX) / 2, (minY + maxY) / 2, half);
        for (int i = 0; i < n; i++) Insert(y[2 * i], y[2 * i + 1]);
    }

    /// <summary>
    /// Barnes–Hut estimate, at (x, y), of Σⱼ q̃ⱼ and Σⱼ q̃ⱼ² (y - yⱼ) over all points j of the tree,
    /// q̃ⱼ = 1 / (1 + ‖y - yⱼ‖²): a cell whose width over its distance to (x, y) is below
    /// <paramref name="theta"/> counts as its point count at its center of mass. A point at (x, y)
    /// itself adds 1 to the sum and nothing to the force (the caller subtracts its own 1).
    /// </summary>
    public (double SumQ, double ForceX, double ForceY) Repulsion(double x, double y, double theta)
    {
        double sumQ = 0, forceX = 0, forceY = 0;
        Span<int> stack = stackalloc int[4 * MaxDepth + 8];
        int top = 0;
        stack[top++] = 0;
        double theta2 = theta * theta;
        while (top > 0)
        {
            int node = stack[--top];
            int points = count[node];
            if (points == 0) continue;
            double comX = sumX[node] / points, comY = sumY[node] / points;
            double dx = x - comX, dy = y - comY;
            double distance2 = dx * dx + dy * dy;
            double width = 2 * halfWidth[node];
            if (firstChild[node] < 0 || width * width < theta2 * distance2)
            {
                double q = 1 / (1 + distance2);
                sumQ += points * q;
                double pull = points * q * q;
                forceX += pull * dx;
                forceY += pull * dy;
            }
            else
            {
                for (int c = 0; c < 4; c++) stack[top++] = firstChild[node] + c;
            }
        }
        return (sumQ, forceX, forceY);
    }

    private void Insert(double x, double y)
    {
        int node = 0;
        for (int depth = 0; ; depth++)
        {
            int before = count[node];
            // A leaf holding points holds them at one position: its center of mass, read before adding.
            double heldX = before == 0 ? 0 : sumX[node] / before, heldY = before == 0 ? 0 : sumY[node] / before;
            count[node]++;
            sumX[node] += x;
            sumY[node] += y;
            if (firstChild[node] >= 0)
            {
                node = firstChild[node] + Quadrant(node, x, y);
                continue;
            }
            if (before == 0) return;
            if ((heldX == x && heldY == y) || depth >= MaxDepth) return;
            Split(node);
            int heldChild = firstChild[node] + Quadrant(node, heldX, heldY);
            count[heldChild] = before;
            sumX[heldChild] = heldX * before;
            sumY[heldChild] = heldY * before;
            node = firstChild[node] + Quadrant(node, x, y);
        }
    }

    private int Quadrant(int node, double x, double y) => (x >= centerX[node] ? 1 : 0) + (y >= centerY[node] ? 2 : 0);

    private void Split(int node)
    {
        double quarter = halfWidth[node] / 2;
        int first = nodes;
        for (int c = 0; c < 4; c++)
            AddNode(centerX[node] + ((c & 1) != 0 ? quarter : -quarter), centerY[node] + ((c & 2) != 0 ? quarter : -quarter), quarter);
        firstChild[node] = first;
    }

    private void AddNode(double x, double y, double half)
    {
        if (nodes == count.Length)
        {
            int size = nodes * 2;
            Array.Resize(ref centerX, size); Array.Resize(ref centerY, size); Array.Resize(ref halfWidth, size);
            Array.Resize(ref sumX, size); Array.Resize(ref sumY, size);
            Array.Resize(ref count, size); Array.Resize(ref firstChild, size);
        }
        centerX[nodes] = x; centerY[nodes] = y; halfWidth[nodes] = half;
        sumX[nodes] = 0; sumY[nodes] = 0; count[nodes] = 0; firstChild[nodes] = -1;
        nodes++;
    }
}
