using System.Text.RegularExpressions;
using System.CommandLine;
using ConvViz.Cli;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Validation;

/// <summary>
/// The engine speaks its own language: its messages and comments name its parameters (Iterations, BatchSize), never
/// a command-line flag (--iterations, --batch); the CLI maps one to the other (EngineParameters). Checked over the
/// string literals and comments of every library source.
/// </summary>
public sealed partial class EngineLanguageTests
{
    private static readonly string[] Libraries =
        ["ConvViz.Engine", "ConvViz.Engine.Cpu", "ConvViz.Engine.Visualization", "ConvViz.Engine.Training", "ConvViz.OpenCL", "ConvViz.Catalog"];

    [GeneratedRegex(@"""(?:[^""\\\n]|\\.)*""|//.*$")]
    private static partial Regex StringOrComment();

    [GeneratedRegex(@"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")]
    private static partial Regex Flag();

    [Fact]
    public void NoLibrarySourceNamesACommandLineFlag()
    {
        string src = Path.GetFullPath(Path.Combine(Fixtures.Path(), "..", "..", "src"));
        var found = new List<string>();
        int files = 0;
        foreach (string library in Libraries)
            foreach (string file in Directory.EnumerateFiles(Path.Combine(src, library), "*.cs", SearchOption.AllDirectories))
            {
                if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")) continue;
                files++;
                var lines = File.ReadAllLines(file);
                for (int i = 0; i < lines.Length; i++)
                    foreach (Match text in StringOrComment().Matches(lines[i]))
                        foreach (Match flag in Flag().Matches(text.Value))
                            found.Add($"{Path.GetRelativePath(src, file)}:{i + 1}: {flag.Value}");
            }
        Assert.True(files > 100, $"only {files} library sources found under {src}");
        Assert.True(found.Count == 0, $"library sources name command-line flags:\n{string.Join("\n", found)}");
    }

    [Fact]
    public void TheCheckFindsAFlagInAStringAndInAComment()
    {
        Assert.Equal("--iterations", Flag().Match(StringOrComment().Match("throw new ArgumentException($\"--iterations {n} must be\");").Value).Value);
        Assert.Equal("--blur-sigma", Flag().Match(StringOrComment().Match("x = 1; // as --blur-sigma says").Value).Value);
        Assert.DoesNotMatch(Flag(), StringOrComment().Match("int node = stack[--top]; string s = \"a-b\";").Value);
    }

    private static Command Command() => new("demo")
    {
        new Option<int>("--iterations"),
        new Option<int>("--batch").Names("BatchSize"),
        new Option<string>("--model"),
        new Option<int>("--sample"),
    };

    [Fact]
    public void TheCliMapsParameterNamesToItsFlags()
    {
        var e = new ArgumentOutOfRangeException("Iterations", 0, "Iterations 0 must be at least 1");
        Assert.Equal("--iterations 0 must be at least 1", EngineParameters.Translate(e, Command()));
        // A command without such an option leaves the engine's name: it is still the library's parameter.
        Assert.Equal("BatchSize 0 must be at least 1", EngineParameters.Translate(new ArgumentException("BatchSize 0 must be at least 1"), new Command("other")));
    }

    [Fact]
    public void PathsFileNamesAndQuotedNamesKeepTheirWords()
    {
        var e = new ArgumentException("/data/Sample/x.png: BatchSize 0 must be at least 1 (see Model.onnx, layer 'Model', Iterations-Free, Model)", "BatchSize");
        Assert.Equal("/data/Sample/x.png: --batch 0 must be at least 1 (see Model.onnx, layer 'Model', Iterations-Free, --model)", EngineParameters.Translate(e, Command()));
    }
}
