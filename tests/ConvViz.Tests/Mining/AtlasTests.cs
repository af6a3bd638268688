using System.Net;
using System.Text.RegularExpressions;
using ConvViz.Engine;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Figures;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Models;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Mining;

/// <summary>One atlas of the default model (two units of relu5, three of fc7, over 60 test images, 6 optimization steps)
/// and the top-k run of the same settings, made once for the tests that only read them.</summary>
public sealed class AtlasFixture : IDisposable
{
    public CpuBackend Backend { get; } = new();
    public ModelBundle Bundle { get; }
    public LabeledImages Data { get; } = FashionMnist.Test.Take(60);
    public static AtlasOptions Options { get; } = new()
    {
        Layers = ["relu5", "fc7"], Units = [4, 1], LayerUnits = new Dictionary<string, IReadOnlyList<int>> { ["fc7"] = [3, 0, 8] },
        BatchSize = 20, Iterations = 6, OptimizationBatch = 2,
    };
    public string Root { get; } = FashionMnist.TempFolder();
    public string TopKRoot { get; } = FashionMnist.TempFolder();
    public AtlasRun Run { get; }
    public TopKRun TopK { get; }

    public AtlasFixture()
    {
        Bundle = ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), Backend);
        Run = RunInto(Root, Options);
        TopK = TopKRuns.Run(Bundle, Data, new TopKOptions { Layers = Options.Layers, K = Options.K, BatchSize = Options.BatchSize },
            // Unlabelled, so its unit views are the bare patches | deconvolutions the atlas's files are compared with.
            new RunOutputs(new ExperimentCard("topk", Bundle.Source, Data.Source), TopKRoot, Path.Combine(TopKRoot, "topk")) { Labels = false });
    }

    public AtlasRun RunInto(string root, AtlasOptions options, IProgress<AtlasProgress>? progress = null, CancellationToken cancellation = default) =>
        AtlasRuns.Run(Bundle, Data, options, new RunOutputs(new ExperimentCard("atlas", Bundle.Source, Data.Source), root, Path.Combine(root, Atlas.RunFolder)), progress, cancellation);

    public void Dispose()
    {
        Bundle.Dispose();
        Backend.Dispose();
    }
}

/// <summary>The atlas run and its reader: every unit's patches, deconvolutions and optimized image; the patches as topk makes them;
/// pages whose links resolve; a cancelled run resumed to the uninterrupted result; bad runs and non-atlases refused in one line.</summary>
public sealed partial class AtlasTests(AtlasFixture fixture) : IClassFixture<AtlasFixture>
{
    private static readonly (string Layer, int[] Units)[] Chosen = [("relu5", [4, 1]), ("fc7", [3, 0, 8])];

    [Fact]
    public void Run_WritesEveryUnitsPatchesDeconvolutionsAndOptimizedImage_AndFindReturnsThem()
    {
        Assert.True(fixture.Run.Complete);
        Assert.Equal((60, 60, 5, 5), (fixture.Run.Images, fixture.Run.ImagesMined, fixture.Run.Units, fixture.Run.UnitsOptimized));
        // The run's output folder opens as well as the atlas folder in it.
        var atlas = Atlas.Open(fixture.Root);
        Assert.Equal(Path.Combine(fixture.Root, Atlas.RunFolder), atlas.Folder);
        Assert.Equal(fixture.Bundle.Source, atlas.Model);
        Assert.Equal(["relu5", "fc7"], atlas.Layers);
        foreach (var (layer, units) in Chosen)
        {
            Assert.Equal(units, atlas.UnitsOf(layer));
            foreach (int unit in units)
            {
                var found = atlas.Find(layer, unit);
                Assert.NotNull(found);
                Assert.Equal(9, found.Patches.Count);
                foreach (string file in found.Patches.SelectMany(p => new[] { p.Image, p.Deconv! }).Append(found.Optimized!))
                {
                    Assert.True(File.Exists(file), $"{layer} unit {unit}: {file} is missing");
                    Assert.StartsWith(atlas.Folder + Path.DirectorySeparatorChar, file);
                }
                Assert.Equal(found.Patches.Select(p => p.Value).OrderByDescending(v => v), found.Patches.Select(p => p.Value));
            }
        }
        Assert.Null(atlas.Find("relu5", 0));
        Assert.Null(atlas.Find("conv1", 4));
        Assert.Empty(atlas.UnitsOf("conv1"));
    }

    /// <summary>A relu5 unit is optimized at conv5 (the ReLU passes no gradient at a zero start); its image is the single run's.</summary>
    [Fact]
    public void OptimizedImage_IsTheUnitsOwnOptimization_AtTheLayerBelowItsReLU()
    {
        var atlas = Atlas.Open(fixture.Root);
        var p = fixture.Bundle.Preprocessing;
        var options = OptimizationOptions.Preset(3).AdaptedTo(p) with { Iterations = 6 };
        foreach (var (layer, target) in new[] { ("relu5", new Target("conv5", 1)), ("fc7", new Target("fc7", 8)) })
        {
            var single = ActivationMaximization.Run(fixture.Bundle.Network, p, target, options);
            Assert.True(single.BestObjective > single.Objectives[0], $"{target}: the optimization moved nothing ({single.Objectives[0]} to {single.BestObjective})");
            var written = ImageFile.Read(atlas.Find(layer, target.Channel)!.Optimized!);
            // Single-image outputs are written enlarged to a readable size (crisp pixels); the values are the optimization's.
            Assert.Equal(Enlargement.ToMinimumSide(ImageTensors.ToImageCentered(single.Best, p)).Pixels, written.Pixels);
        }
    }

    /// <summary>What `convviz topk` writes for the same data, layers, k and batch: the same images and values per unit, and
    /// its unit view (patches | deconvolutions) is the atlas's patch files side by side, pixel for pixel.</summary>
    [Fact]
    public void Patches_AreWhatTopKMakesForTheSameSettings()
    {
        var atlas = Atlas.Open(fixture.Root);
        var index = fixture.TopK.Index!;
        foreach (var (layer, units) in Chosen)
            foreach (int unit in units)
            {
                var found = atlas.Find(layer, unit)!;
                var top = index.Layers.Single(l => l.Name == layer).Units[unit].Top;
                Assert.Equal(top.Select(e => e.Value), found.Patches.Select(p => p.Value));
                for (int i = 0; i < top.Count; i++)
                    Assert.StartsWith($"image {top[i].Image}, label {top[i].Label} (", found.Patches[i].Source);
                var patches = found.Patches.Select(p => ImageFile.Read(p.Image)).ToArray();
                var deconvolutions = found.Patches.Select(p => ImageFile.Read(p.Deconv!)).ToArray();
                var entries = top.Select(e => new TopEntry(e.Image, e.Value, e.Y, e.X)).ToArray();
                var view = TopKViews.UnitFigure(fixture.Bundle, layer, new UnitPatches(unit, entries, patches, deconvolutions), fixture.Data.Count,
                    TopKViews.ViewScale(patches[0]), labels: false);
                var written = ImageFile.Read(Path.Combine(fixture.TopKRoot, "topk", layer, $"unit-{unit}.png"));
                Assert.Equal((written.Width, written.Height, written.Channels), (view.Width, view.Height, view.Channels));
                Assert.True(written.Pixels.AsSpan().SequenceEqual(view.Pixels), $"{layer} unit {unit}: the atlas's patches differ from topk's view");
            }
    }

    [GeneratedRegex("(?:href|src)=\"([^\"]*)\"")]
    private static partial Regex Link();

    [Fact]
    public void Pages_LinkOnlyToFilesOfTheAtlas_AndReachEveryUnit()
    {
        string folder = Path.Combine(fixture.Root, Atlas.RunFolder);
        var pages = Directory.GetFiles(folder, "*.html", SearchOption.AllDirectories);
        Assert.Equal(1 + 2 + 5, pages.Length);
        var reached = new HashSet<string>();
        foreach (string page in pages)
            foreach (Match match in Link().Matches(File.ReadAllText(page)))
            {
                string target = Path.GetFullPath(Uri.UnescapeDataString(WebUtility.HtmlDecode(match.Groups[1].Value)), Path.GetDirectoryName(page)!);
                Assert.True(File.Exists(target), $"{page} links {match.Groups[1].Value}, which does not exist");
                Assert.StartsWith(folder + Path.DirectorySeparatorChar, target);
                reached.Add(target);
            }
        Assert.Subset(reached, pages.Where(p => Path.GetFileName(p) != AtlasRuns.IndexPage || Path.GetDirectoryName(p) != folder).ToHashSet());
        var atlas = Atlas.Open(folder);
        foreach (var (layer, units) in Chosen)
            foreach (int unit in units)
                Assert.Subset(reached, atlas.Find(layer, unit)!.Patches.SelectMany(p => new[] { p.Image, p.Deconv! }).Append(atlas.Find(layer, unit)!.Optimized!).ToHashSet());
    }

    /// <summary>Cancelled during the pass, resumed and cancelled during the optimization, resumed again: the same atlas as one
    /// uninterrupted run, byte for byte, and the units optimized before the second stop are not optimized again.</summary>
    [Fact]
    public void CancelledTwiceAndResumed_IsTheUninterruptedAtlas_WithoutRedoingOptimizedUnits()
    {
        string parts = FashionMnist.TempFolder();
        using (var cancel = new CancellationTokenSource())
        {
            var mining = fixture.RunInto(parts, AtlasFixture.Options, new ProgressAction<AtlasProgress>(r => { if (r is AtlasMiningBatch) cancel.Cancel(); }), cancel.Token);
            Assert.Equal((false, 20, 0), (mining.Complete, mining.ImagesMined, mining.UnitsOptimized));
            Assert.Contains("unfinished atlas", Assert.Throws<InvalidDataException>(() => Atlas.Open(parts)).Message);
        }
        using (var cancel = new CancellationTokenSource())
        {
            // The second optimization batch is the first of fc7 (relu5's two units make one batch).
            var optimizing = fixture.RunInto(parts, AtlasFixture.Options with { Resume = true },
                new ProgressAction<AtlasProgress>(r => { if (r is AtlasOptimizeStep { UnitsDone: 2 }) cancel.Cancel(); }), cancel.Token);
            Assert.Equal((false, 60, 2), (optimizing.Complete, optimizing.ImagesMined, optimizing.UnitsOptimized));
        }
        var reports = new List<AtlasProgress>();
        var resumed = fixture.RunInto(parts, AtlasFixture.Options with { Resume = true }, new ProgressAction<AtlasProgress>(reports.Add));
        Assert.True(resumed.Complete);
        Assert.Equal(new AtlasStarted(60, 60, 5, 2, 6), reports[0]);
        Assert.DoesNotContain(reports, r => r is AtlasMiningBatch or AtlasPatchBatch);
        Assert.Equal([3, 0, 8], reports.OfType<AtlasOptimizeStep>().SelectMany(s => s.Units).Distinct());

        string whole = Path.Combine(fixture.Root, Atlas.RunFolder), resumedFolder = Path.Combine(parts, Atlas.RunFolder);
        Assert.Equal(File.ReadAllText(Path.Combine(whole, Atlas.ManifestFile)), File.ReadAllText(Path.Combine(resumedFolder, Atlas.ManifestFile)));
        var files = Directory.GetFiles(whole, "*.*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(whole, f)).Order().ToArray();
        Assert.Equal(files, Directory.GetFiles(resumedFolder, "*.*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(resumedFolder, f)).Order());
        foreach (string file in files.Where(f => f != AtlasRuns.StateFile))
            Assert.True(File.ReadAllBytes(Path.Combine(whole, file)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(resumedFolder, file))), $"{file} differs");
    }

    [Fact]
    public void BadRuns_AreRefusedInOneLine_BeforeAnyWork()
    {
        string Refused(string root, AtlasOptions options)
        {
            var before = Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => (f, File.GetLastWriteTimeUtc(f))).ToArray();
            var e = Assert.ThrowsAny<ArgumentException>(() => fixture.RunInto(root, options));
            // .NET adds "Actual value was ..." on a line of its own to an out-of-range message; the command line drops it.
            string message = e is ArgumentOutOfRangeException ? e.Message.Replace($"{Environment.NewLine}Actual value was {((ArgumentOutOfRangeException)e).ActualValue}.", "") : e.Message;
            Assert.DoesNotContain('\n', message);
            Assert.Equal(before, Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => (f, File.GetLastWriteTimeUtc(f))));
            return message;
        }
        var options = AtlasFixture.Options;
        Assert.Contains("already holds a finished atlas", Refused(fixture.Root, options));
        Assert.Contains("the interrupted atlas used k 9, this one asks for 5", Refused(fixture.Root, options with { Resume = true, K = 5 }));
        Assert.Contains("used iterations 6, this one asks for 7", Refused(fixture.Root, options with { Resume = true, Iterations = 7 }));
        Assert.Contains("used the units of fc7: 3,0,8, this one asks for 3,0", Refused(fixture.Root, options with
        {
            Resume = true, LayerUnits = new Dictionary<string, IReadOnlyList<int>> { ["fc7"] = [3, 0] },
        }));
        string empty = FashionMnist.TempFolder();
        Assert.Contains("holds no atlas to continue", Refused(empty, options with { Resume = true }));
        Assert.StartsWith("no layer named 'conv9'", Refused(empty, options with { Layers = ["relu5", "conv9"] }));
        Assert.StartsWith("Units: unit 512 is out of range for layer 'fc7', which has 512 units (0 to 511)", Refused(empty, options with
        {
            LayerUnits = new Dictionary<string, IReadOnlyList<int>> { ["fc7"] = [0, 512] },
        }));
        Assert.StartsWith("Units: unit 200 is out of range for layer 'relu5', which has 128 units", Refused(empty, options with { Units = [200] }));
        Assert.StartsWith("Units names layer 'fc6', which is not among the Layers relu5, fc7", Refused(empty, options with
        {
            LayerUnits = new Dictionary<string, IReadOnlyList<int>> { ["fc6"] = [0] },
        }));
        Assert.StartsWith("K 61 is more than the 60 images", Refused(empty, options with { K = 61 }));
    }

    [Fact]
    public void Open_RefusesWhatIsNotAnAtlas_InOneLine()
    {
        string OneLine(Exception e)
        {
            Assert.DoesNotContain('\n', e.Message);
            return e.Message;
        }
        string empty = FashionMnist.TempFolder();
        Assert.Contains("is not an atlas folder: it has no atlas.json", OneLine(Assert.Throws<IOException>(() => Atlas.Open(empty))));
        Assert.Contains("no such folder", OneLine(Assert.Throws<DirectoryNotFoundException>(() => Atlas.Open(Path.Combine(empty, "missing")))));
        File.WriteAllText(Path.Combine(empty, Atlas.ManifestFile), "{ \"method\": \"optimize\" ");
        Assert.Contains("is not an atlas manifest", OneLine(Assert.Throws<InvalidDataException>(() => Atlas.Open(empty))));
        File.WriteAllText(Path.Combine(empty, Atlas.ManifestFile), "{ \"format\": \"other\" }");
        Assert.Contains("is not an atlas manifest", OneLine(Assert.Throws<InvalidDataException>(() => Atlas.Open(empty))));
    }

    /// <summary>A manifest whose path leads out of the folder (by "..", as an absolute path, or through a link) opens nothing.</summary>
    [Theory]
    [InlineData("../outside.png")]
    [InlineData("layers/relu5/../../../outside.png")]
    [InlineData("/etc/passwd")]
    [InlineData("escape/passwd")]
    public void Open_RefusesAManifestPathLeadingOutOfTheFolder(string path)
    {
        string folder = FashionMnist.TempFolder();
        Directory.CreateSymbolicLink(Path.Combine(folder, "escape"), "/etc");
        string manifest = File.ReadAllText(Path.Combine(fixture.Root, Atlas.RunFolder, Atlas.ManifestFile));
        File.WriteAllText(Path.Combine(folder, Atlas.ManifestFile), manifest.Replace("\"layers/fc7/unit-8/deconv-4.png\"", $"\"{path}\""));
        var e = Assert.Throws<InvalidDataException>(() => Atlas.Open(folder));
        Assert.Contains($"the path '{path}' of fc7 unit 8 leads outside the atlas folder", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        File.WriteAllText(Path.Combine(folder, Atlas.ManifestFile), manifest);
        Assert.Equal(Path.Combine(folder, "layers", "fc7", "unit-8", "deconv-4.png"), Atlas.Open(folder).Find("fc7", 8)!.Patches[4].Deconv);
    }
}
