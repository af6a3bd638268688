using ConvViz.Engine;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Training;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Mining;

/// <summary>The streaming top-k pass against brute force, its resumption, and the patch views.</summary>
public sealed class TopKTests
{
    private static ModelBundle DefaultBundle(CpuBackend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    private static TopKState NewState(LabeledImages data, int k, params string[] layers) =>
        new() { Model = "fashion-alexnet", Data = data.Source, Images = data.Count, K = k, Layers = layers };

    /// <summary>
    /// Brute force: every image's activations kept in memory, each unit's images sorted by value
    /// (then by index) and the peak found by a full scan. The activations come from forward passes
    /// over the same batches as the streaming pass, so the values are bit-identical and the order
    /// can be compared exactly; what is under test is the streaming selection, not the forward.
    /// </summary>
    private static List<TopEntry>[] BruteForce(ModelBundle bundle, CpuBackend backend, LabeledImages data, string layer, int k, int batch)
    {
        var values = new List<(int Image, float[] Map)>[bundle.Network.OutputShape(layer, 1)[1]];
        for (int c = 0; c < values.Length; c++) values[c] = [];
        int height = 1, width = 1;
        for (int first = 0; first < data.Count; first += batch)
        {
            int count = Math.Min(batch, data.Count - first);
            var x = new float[count * data.BytesPerImage];
            ImageBatches.Assemble(data, Enumerable.Range(first, count).ToArray(), bundle.Preprocessing, x, new int[count]);
            using var input = backend.Upload(x, bundle.Network.InputShape(count));
            using var pass = bundle.Network.Forward(input, upTo: "fc7");
            var output = pass.Output(layer);
            var all = backend.Download(output);
            (height, width) = output.Shape.Rank == 4 ? (output.Shape.H, output.Shape.W) : (1, 1);
            for (int n = 0; n < count; n++)
                for (int c = 0; c < values.Length; c++)
                    values[c].Add((first + n, all.AsSpan(((n * values.Length) + c) * height * width, height * width).ToArray()));
        }
        return values.Select(unit => unit
            .Select(v => (v.Image, Max: v.Map.Max(), Peak: Array.IndexOf(v.Map, v.Map.Max())))
            .OrderByDescending(v => v.Max).ThenBy(v => v.Image).Take(k)
            .Select(v => new TopEntry(v.Image, v.Max, v.Peak / width, v.Peak % width)).ToList()).ToArray();
    }

    [Theory]
    [InlineData("relu5")]
    [InlineData("fc7")]
    [InlineData("pool1")]
    public void StreamingPass_MatchesBruteForce(string layer)
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var data = FashionMnist.Test.Take(300);
        var state = NewState(data, 5, layer == "fc7" ? [layer] : [layer, "fc7"]);
        var units = TopKMining.Run(bundle.Network, bundle.Preprocessing, data, state, batchSize: 64);
        var expected = BruteForce(bundle, backend, data, layer, 5, batch: 64);
        var mined = units.Single(u => u.Layer == layer);
        Assert.Equal(expected.Length, mined.Channels);
        for (int c = 0; c < expected.Length; c++)
            Assert.Equal(expected[c], mined.Of(c));
        Assert.Contains(Enumerable.Range(0, mined.Channels), c => mined.Of(c).Select(e => e.Image).Distinct().Count() == 5);
    }

    [Fact]
    public void Offer_KeepsTheKBest_TiesToTheEarlierImage_AndIgnoresNaN()
    {
        var units = new TopUnits("layer", 1, 3);
        foreach (var (image, value) in new[] { (0, 1f), (1, 5f), (2, 3f), (3, 5f), (4, float.NaN), (5, 0.5f), (6, 4f) })
            units.Offer(0, new TopEntry(image, value, 0, 0));
        Assert.Equal([1, 3, 6], units.Of(0).Select(e => e.Image));
    }

    [Fact]
    public void InterruptedAndResumed_EqualsUninterrupted()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var data = FashionMnist.Test.Take(250);
        var whole = NewState(data, 4, "relu5", "fc7");
        TopKMining.Run(bundle.Network, bundle.Preprocessing, data, whole, batchSize: 40);

        string path = Path.Combine(FashionMnist.TempFolder(), "state.json");
        var first = NewState(data, 4, "relu5", "fc7");
        TopKMining.Run(bundle.Network, bundle.Preprocessing, data, first, batchSize: 40, statePath: path, stopAfter: 100);
        Assert.Equal(120, first.Processed);
        Assert.False(first.Complete);
        var resumed = TopKState.Load(path);
        resumed.RequireSame(whole);
        TopKMining.Run(bundle.Network, bundle.Preprocessing, data, resumed, batchSize: 40, statePath: path);
        Assert.True(resumed.Complete);
        foreach (var layer in whole.Layers)
            for (int c = 0; c < whole.Units[layer].Length; c++)
                Assert.Equal(whole.Units[layer][c], resumed.Units[layer][c]);
    }

    [Fact]
    public void Cancellation_StopsAtABatchBoundary_WithTheStateSaved()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var data = FashionMnist.Test.Take(200);
        string path = Path.Combine(FashionMnist.TempFolder(), "state.json");
        using var cancel = new CancellationTokenSource();
        var state = NewState(data, 2, "fc7");
        TopKMining.Run(bundle.Network, bundle.Preprocessing, data, state, batchSize: 50, statePath: path,
            progress: new ProgressAction<TopKProgress>(p => { if (p.Processed == 100) cancel.Cancel(); }), cancellation: cancel.Token);
        Assert.Equal(100, state.Processed);
        Assert.Equal(100, TopKState.Load(path).Processed);
    }

    /// <summary>The one-call run: stopped, it keeps its state and writes no views; resumed, it ends with the
    /// units of an uninterrupted run and lists its files in the card; a finished run is not overwritten.</summary>
    [Fact]
    public void Run_StoppedAndResumed_WritesTheViewsOfAnUninterruptedRun()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var data = FashionMnist.Test.Take(60);
        var options = new TopKOptions { Layers = ["fc7"], K = 2, BatchSize = 20 };
        int units = bundle.Network.OutputShape("fc7", 1)[1];
        TopKRun RunInto(string root, TopKOptions o, IProgress<TopKRunProgress>? progress = null) =>
            TopKRuns.Run(bundle, data, o, new RunOutputs(new ExperimentCard("topk", bundle.Source, data.Source), root, Path.Combine(root, "topk")), progress);

        var whole = RunInto(FashionMnist.TempFolder(), options);
        Assert.True(whole.State.Complete);
        Assert.Equal(units, whole.UnitCount);

        string parts = FashionMnist.TempFolder();
        var stopped = RunInto(parts, options with { StopAfter = 20 });
        Assert.Equal((20, true, null), (stopped.State.Processed, stopped.StateSaved, stopped.Index));
        Assert.False(File.Exists(Path.Combine(parts, "topk", TopKViews.IndexFile)));
        var reports = new List<TopKRunProgress>();
        var resumed = RunInto(parts, options with { Resume = true }, new ProgressAction<TopKRunProgress>(reports.Add));
        Assert.Equal(new TopKPassStarted(20, 60), reports[0]);
        Assert.Equal([40, 60], reports.OfType<TopKPassBatch>().Select(r => r.Report.Processed));
        Assert.Contains(reports, r => r is TopKViewBatch { Report.Done: var done } && done == 2 * units);
        Assert.Equal(Path.Combine(parts, "topk", TopKViews.IndexFile), resumed.Files[^1]);
        for (int c = 0; c < units; c++) Assert.Equal(whole.State.Units["fc7"][c], resumed.State.Units["fc7"][c]);
        Assert.Contains("already holds a finished top-k run", Assert.Throws<ArgumentException>(() => RunInto(parts, options)).Message);
    }

    [Fact]
    public void BadRuns_AreRefusedBeforeAnyWork()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var data = FashionMnist.Test.Take(5);
        string Message(TopKState state) => Assert.ThrowsAny<ArgumentException>(() => TopKMining.Run(bundle.Network, bundle.Preprocessing, data, state, 10)).Message;
        Assert.StartsWith("K 9 is more than the 5 images of the data set; use at most K 5 (Parameter 'K')", Message(NewState(data, 9, "fc7")));
        Assert.StartsWith("no layer named 'fc9'", Message(NewState(data, 2, "fc9")));
        Assert.Equal("Layers fc7,relu5,fc7 names a layer twice (Parameter 'Layers')", Message(NewState(data, 2, "fc7", "relu5", "fc7")));
        var empty = new LabeledImages([], [], 28, 28, "empty.idx");
        Assert.Equal("empty.idx holds no images; top-k needs at least one",
            Assert.Throws<ArgumentException>(() => TopKMining.Run(bundle.Network, bundle.Preprocessing, empty, NewState(empty, 1, "fc7"), 10)).Message);
        var other = NewState(data, 3, "fc7");
        Assert.Contains("used k 2, this one asks for 3", Assert.Throws<ArgumentException>(() => NewState(data, 2, "fc7").RequireSame(other)).Message);
    }

    [Fact]
    public void Deconvolutions_AreTheDeconvnetProjectionsOfEachEntry()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var data = FashionMnist.Test.Take(20);
        var items = new[] { (3, new TopEntry(4, 0, 1, 2)), (7, new TopEntry(11, 0, 3, 3)), (3, new TopEntry(0, 0, 0, 6)) };
        var batched = TopKProjections.Compute(bundle.Network, bundle.Preprocessing, data, "relu5", items, batchSize: 2);
        for (int i = 0; i < items.Length; i++)
        {
            var (channel, entry) = items[i];
            var x = new float[data.BytesPerImage];
            ImageBatches.Assemble(data, [entry.Image], bundle.Preprocessing, x, new int[1]);
            using var input = backend.Upload(x, bundle.Network.InputShape(1));
            var single = Attribution.InputGradient(bundle.Network, input, new Target("relu5", channel, entry.Y, entry.X), ReluRule.Deconvnet);
            TensorAssert.Close(single, batched[i], 1e-6, 1e-5, $"entry {i}");
        }
    }

    [Fact]
    public void Patch_CutsTheReceptiveField_AndShadesWhatLiesOutsideTheImage()
    {
        var pixels = Enumerable.Range(0, 10 * 10).Select(i => (byte)(i + 100)).ToArray();
        var image = new Image8(10, 10, 1, pixels);
        var field = new ReceptiveField("conv", new AxisField(5, 2, -1), new AxisField(5, 2, -1), true);
        var inside = PatchViews.Patch(image, field, new TopEntry(0, 0, 2, 3));
        Assert.Equal((5, 5), (inside.Width, inside.Height));
        Assert.Equal(pixels[3 * 10 + 5], inside.Pixels[0]);
        var corner = PatchViews.Patch(image, field, new TopEntry(0, 0, 0, 0));
        Assert.Equal(PatchViews.OutsideShade, corner.Pixels[0]);
        Assert.Equal(pixels[0], corner.Pixels[1 * 5 + 1]);

        var whole = PatchViews.Patch(image, new ReceptiveField("fc", new AxisField(10, 1, 0), new AxisField(10, 1, 0), false), new TopEntry(0, 0, 0, 0));
        Assert.Equal(pixels, whole.Pixels);
    }
}
