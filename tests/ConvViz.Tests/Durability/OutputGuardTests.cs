using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Durability;

/// <summary>Nothing the user made is lost: a run never writes over its own inputs, and never replaces
/// a file convviz did not write unless --force says so. Every refusal is one line, exit code 2, before
/// any file is touched.</summary>
[Collection(CliHarness.Collection)]
public sealed class OutputGuardTests
{
    private static string Model => Fixtures.Path("onnx", "alexnet_style.onnx");

    /// <summary>A copy of the fixture model's input in <paramref name="folder"/>, as the user's own file.</summary>
    private static string UserInput(string folder, string name = "x.npy")
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, name);
        File.Copy(Fixtures.Path("onnx", "alexnet_style.input.npy"), path);
        return path;
    }

    /// <summary>Runs the command line, expects a one-line refusal saying <paramref name="message"/>, and the file unchanged.</summary>
    private static void AssertRefusedAndUntouched(string file, string message, params string[] args)
    {
        var before = File.ReadAllBytes(file);
        CliHarness.AssertOneLineError(CliHarness.Run(args), message);
        Assert.Equal(before, File.ReadAllBytes(file));
    }

    [Theory]
    [InlineData("saliency")]
    [InlineData("deconv")]
    [InlineData("guided")]
    public void RawPointedAtTheInput_IsRefused_AlsoThroughASymbolicLink(string method)
    {
        string folder = FashionMnist.TempFolder(), input = UserInput(folder), output = Path.Combine(folder, "out");
        AssertRefusedAndUntouched(input, $"--raw {input} is the run's input --input {input}",
            method, "--model", Model, "--input", input, "--class", "1", "--out", output, "--raw", input, "--force");
        string link = Path.Combine(folder, "link.npy");
        File.CreateSymbolicLink(link, input);
        AssertRefusedAndUntouched(input, $"--raw {link} ({input}) is the run's input --input {input}",
            method, "--model", Model, "--input", input, "--class", "1", "--out", output, "--raw", link);
        Assert.False(Directory.Exists(output), "a refused run wrote into --out");
    }

    [Fact]
    public void EvalJsonPointedAtADataSetFile_IsRefused()
    {
        string data = FashionMnist.SubsetFolder(train: 0, test: 20);
        string labels = Path.Combine(data, "t10k-labels-idx1-ubyte.gz");
        AssertRefusedAndUntouched(labels, $"--json {labels} would replace a file of the run's input --data {data}",
            "eval", "--data", data, "--json", labels, "--force");
    }

    [Theory]
    [InlineData("forward")]
    [InlineData("backward")]
    public void DumpFolderHoldingTheInput_IsRefused(string command)
    {
        string dump = Path.Combine(FashionMnist.TempFolder(), "dump"), input = UserInput(dump);
        string[] target = command == "backward" ? ["--class", "1"] : [];
        AssertRefusedAndUntouched(input, $"--dump {dump} holds the run's input --input {input}",
            [command, "--model", Model, "--input", input, .. target, "--dump", dump, "--force"]);
        Assert.Equal([input], Directory.GetFiles(dump));
    }

    [Fact]
    public void DumpIntoAFolderOfTheUsersFiles_IsRefused_ForceWritesIt_AndTheSameRunAgainNeedsNoForce()
    {
        string folder = FashionMnist.TempFolder(), input = UserInput(folder), dump = Path.Combine(folder, "dump");
        Directory.CreateDirectory(dump);
        // The user's own file under a name the dump writes.
        string users = Path.Combine(dump, "_conv1_Conv.npy");
        File.WriteAllText(users, "the user's notes");
        string[] forward = ["forward", "--model", Model, "--input", input, "--dump", dump];
        AssertRefusedAndUntouched(users, $"--dump {dump} holds files convviz did not write (_conv1_Conv.npy)", forward);
        Assert.Equal([users], Directory.GetFiles(dump));

        var forced = CliHarness.Run([.. forward, "--force"]);
        Assert.True(forced.Exit == 0, forced.Error);
        Assert.Equal(21, Directory.GetFiles(dump, "*.npy").Length);
        Assert.Contains("./", File.ReadAllLines(Path.Combine(dump, ".convviz")));
        var again = CliHarness.Run(forward);
        Assert.True(again.Exit == 0, again.Error);
        Assert.Empty(Directory.GetFiles(dump, "*.tmp"));
    }

    [Fact]
    public void TrainIntoAFolderHoldingTheUsersModel_IsRefused()
    {
        string output = FashionMnist.TempFolder();
        string users = Path.Combine(output, "model.onnx");
        File.Copy(Model, users);
        AssertRefusedAndUntouched(users, $"--out {output} holds files convviz did not write (model.onnx)",
            "train", "--out", output, "--data", FashionMnist.SubsetFolder(train: 32, test: 0), "--epochs", "1");
        Assert.Equal([users], Directory.GetFiles(output));
    }

    [Fact]
    public void JsonOverAFileConvvizDidNotWrite_IsRefused_UnlessForced_AndItsOwnJsonIsReplaced()
    {
        string folder = FashionMnist.TempFolder(), data = FashionMnist.SubsetFolder(train: 0, test: 20);
        string json = Path.Combine(folder, "results.json");
        File.WriteAllText(json, "{\"mine\": true}");
        string[] eval = ["eval", "--data", data, "--json", json];
        AssertRefusedAndUntouched(json, $"--json {json} exists and convviz did not write it", eval);

        var forced = CliHarness.Run([.. eval, "--force"]);
        Assert.True(forced.Exit == 0, forced.Error);
        Assert.Contains("\"accuracy\"", File.ReadAllText(json));
        // Claimed by name, not the whole folder: the next run replaces its own file, and a new user file stays protected.
        Assert.Equal(["results.json"], File.ReadAllLines(Path.Combine(folder, ".convviz")).Where(l => !l.StartsWith('#')));
        Assert.Equal(0, CliHarness.Run(eval).Exit);
        string other = Path.Combine(folder, "other.json");
        File.WriteAllText(other, "{}");
        AssertRefusedAndUntouched(other, "exists and convviz did not write it", "eval", "--data", data, "--json", other);
    }

    [Fact]
    public void AFreshOrEmptyFolder_NeedsNoForce_AndARefusedRunClaimsNothing()
    {
        string empty = FashionMnist.TempFolder(), input = UserInput(FashionMnist.TempFolder());
        CliHarness.AssertOneLineError(CliHarness.Run("forward", "--model", Model, "--input", input, "--dump", empty, "--top", "0"), "--top 0 must be at least 1");
        Assert.Empty(Directory.GetFileSystemEntries(empty));
        var result = CliHarness.Run("forward", "--model", Model, "--input", input, "--dump", empty);
        Assert.True(result.Exit == 0, result.Error);
        Assert.True(File.Exists(Path.Combine(empty, ".convviz")));
    }
}
