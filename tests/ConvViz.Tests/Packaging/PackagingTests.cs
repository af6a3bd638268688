using System.Diagnostics;
using System.IO.Compression;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Packaging;

/// <summary>
/// The solution packed once per test run (`dotnet pack --no-build`, the configuration these tests were built in) into
/// a feed of its own, under a version no other run uses, so nothing restored from an earlier pack can stand in for
/// it. Packages restored for the checks go to a folder of the run's own (NUGET_PACKAGES); their dependencies come from
/// the machine's global packages folder as a fallback, so nothing is downloaded.
/// </summary>
public sealed class PackedSolution : IDisposable
{
#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    public string Root { get; } = Directory.CreateTempSubdirectory("convviz-pack-").FullName;
    public string Version { get; } = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
    public string Feed => Path.Combine(Root, "feed");
    public string RepositoryRoot { get; } = Path.GetFullPath(Path.Combine(Fixtures.Path(), "..", ".."));

    public PackedSolution()
    {
        var pack = Run("dotnet", ["pack", Path.Combine(RepositoryRoot, "ConvVizGpu.sln"), "-c", Configuration, "--no-build", $"-p:Version={Version}", "-o", Feed], RepositoryRoot);
        Assert.True(pack.ExitCode == 0, $"dotnet pack failed:\n{pack.Output}");
    }

    public static readonly string GlobalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } folder
        ? folder
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    public sealed record Result(int ExitCode, string Output, string Error);

    /// <summary>Runs a program to its end (at most 10 minutes), restoring into this run's package folder unless
    /// <paramref name="ownPackages"/> is false (a build of the repository itself uses the machine's).</summary>
    public Result Run(string program, IEnumerable<string> arguments, string folder, bool ownPackages = true)
    {
        var start = new ProcessStartInfo(program) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        if (ownPackages) start.Environment["NUGET_PACKAGES"] = Path.Combine(Root, "packages");
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {string.Join(' ', start.ArgumentList)} ran past 10 minutes");
        }
        return new Result(process.ExitCode, output, error.Result);
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public sealed class PackagingTests(PackedSolution packed) : IClassFixture<PackedSolution>
{
    private static readonly string[] Libraries =
        ["ConvViz.Engine", "ConvViz.Engine.Cpu", "ConvViz.Engine.Visualization", "ConvViz.Engine.Training", "ConvViz.OpenCL", "ConvViz.Catalog", "ConvViz.Server"];

    [Fact]
    public void PackCarriesEveryLibraryAndTheToolWithReadmeLicenseAndVersion()
    {
        foreach (string id in Libraries.Append("convviz"))
        {
            string file = Path.Combine(packed.Feed, $"{id}.{packed.Version}.nupkg");
            Assert.True(File.Exists(file), $"dotnet pack made no {Path.GetFileName(file)}");
            using var package = ZipFile.OpenRead(file);
            var names = package.Entries.Select(e => e.FullName).ToHashSet();
            Assert.Contains("README.md", names);
            Assert.Contains("LICENSE", names);
            using var nuspec = new StreamReader(package.GetEntry($"{id}.nuspec")!.Open());
            string manifest = nuspec.ReadToEnd();
            Assert.Contains($"<version>{packed.Version}</version>", manifest);
            Assert.Contains("<license type=\"expression\">MIT</license>", manifest);
            if (id == "convviz")
            {
                Assert.Contains("<packageType name=\"DotnetTool\" />", manifest);
                Assert.Contains("tools/net10.0/any/DotnetToolSettings.xml", names);
            }
            else
            {
                Assert.Contains($"lib/net10.0/{id}.dll", names);
            }
            // resnet18-imagenet works in a program that uses the catalog package: its files come as content files.
            if (id == "ConvViz.Catalog")
                foreach (string content in new[] { "DnnImageModels/ResNet18.onnx", "DnnImageModels/ResNetPreprocess.onnx", "models/resnet18-imagenet/samples/cat.png" })
                    Assert.Contains($"contentFiles/any/any/{content}", names);
        }
    }

    [Fact]
    public void LibrarySampleBuildsFromThePackagesAndRunsAReportAndAnOptimize()
    {
        // Outside the repository, so neither its Directory.Build.props nor its projects can reach the build.
        string sample = Path.Combine(packed.Root, "sample");
        Directory.CreateDirectory(sample);
        foreach (string file in Directory.GetFiles(Path.Combine(packed.RepositoryRoot, "samples", "LibraryQuickstart"), "*.cs*"))
            File.Copy(file, Path.Combine(sample, Path.GetFileName(file)));

        var run = packed.Run("dotnet", ["run", "-c", "Release", $"-p:ConvVizVersion={packed.Version}", $"-p:RestoreAdditionalProjectSources={packed.Feed}",
            $"-p:RestoreFallbackFolders={PackedSolution.GlobalPackages}", "--", "out", "20"], sample);

        Assert.True(run.ExitCode == 0, $"the sample failed ({run.ExitCode}):\n{run.Output}\n{run.Error}");
        Assert.Contains("report 3/3", run.Output);
        Assert.Contains("optimize 20/20", run.Output);
        Assert.Matches(@"wrote .*report\.html: \d+ sections", run.Output);
        Assert.True(new FileInfo(Path.Combine(sample, "out", "report.html")).Length > 10_000);
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(sample, "out", "optimize"), "*-best.png"));
        // The libraries came from this run's packages, not from the repository's projects.
        foreach (string id in Libraries.Except(["ConvViz.Engine.Training", "ConvViz.Server"]))
            Assert.True(Directory.Exists(Path.Combine(packed.Root, "packages", id.ToLowerInvariant(), packed.Version)), $"{id} {packed.Version} was not restored from the feed");
    }

    [Fact]
    public void ToolInstallsIntoAToolPathAndRunsReportInAFreshFolder()
    {
        string tools = Path.Combine(packed.Root, "tools"), fresh = Path.Combine(packed.Root, "fresh");
        Directory.CreateDirectory(fresh);
        var install = packed.Run("dotnet", ["tool", "install", "convviz", "--tool-path", tools, "--add-source", packed.Feed, "--version", packed.Version], packed.Root);
        Assert.True(install.ExitCode == 0, $"dotnet tool install failed:\n{install.Output}\n{install.Error}");

        var report = packed.Run(Path.Combine(tools, "convviz"), ["report"], fresh);

        Assert.True(report.ExitCode == 0, $"convviz report failed ({report.ExitCode}):\n{report.Output}\n{report.Error}");
        Assert.True(new FileInfo(Path.Combine(fresh, "convviz-out", "report.html")).Length > 10_000);
        Assert.True(File.Exists(Path.Combine(fresh, "convviz-out", "report.json")));
    }

    [Fact]
    public void ConvvizScriptBuildsOnceThenRunsTheBuiltBinary()
    {
        string script = Path.Combine(packed.RepositoryRoot, "convviz");
        var first = packed.Run(script, ["--help"], packed.Root, ownPackages: false);
        Assert.True(first.ExitCode == 0, $"./convviz --help failed ({first.ExitCode}):\n{first.Output}\n{first.Error}");

        var again = packed.Run(script, ["model", "info"], packed.Root, ownPackages: false);

        Assert.Equal(0, again.ExitCode);
        Assert.Contains("fashion-alexnet", again.Output);
        Assert.DoesNotContain("building", again.Error);
    }
}
