namespace ConvViz.Tests.Support;

/// <summary>Seeded random test data.</summary>
public static class TestData
{
    /// <summary>Uniform values in [-scale, scale).</summary>
    public static float[] Uniform(int count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return data;
    }

    /// <summary>Uniform values whose magnitude is at least margin, so that nothing sits on a ReLU kink.</summary>
    public static float[] AwayFromZero(int count, int seed, float margin = 0.05f, float scale = 1f)
    {
        var data = Uniform(count, seed, scale);
        for (int i = 0; i < count; i++)
            if (Math.Abs(data[i]) < margin) data[i] = data[i] < 0 ? -margin - Math.Abs(data[i]) : margin + data[i];
        return data;
    }

    /// <summary>A random permutation of distinct values spaced by gap, so that max pooling never meets a tie.</summary>
    public static float[] Distinct(int count, int seed, float gap = 0.01f)
    {
        var random = new Random(seed);
        var data = new float[count];
        for (int i = 0; i < count; i++) data[i] = (i - count / 2) * gap;
        random.Shuffle(data);
        return data;
    }
}

/// <summary>Files committed beside the tests (tests/fixtures), found from the test binary's folder.</summary>
public static class Fixtures
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "ConvVizGpu.sln"))) return System.IO.Path.Combine(dir.FullName, "tests", "fixtures");
        throw new DirectoryNotFoundException($"no ConvVizGpu.sln above {AppContext.BaseDirectory}");
    });

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);
}
