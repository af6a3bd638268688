using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.Models;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>`convviz train` and `convviz eval` end to end on small MNIST-style folders cut from
/// Fashion-MNIST, and their bad-input contract: every error comes before the first batch.</summary>
[Collection(CliHarness.Collection)]
public sealed class TrainCommandTests
{
    private static readonly Lazy<string> SmallData = new(() => FashionMnist.SubsetFolder(train: 192, test: 100));

    [Fact]
    public void Train_WritesBundleCheckpointReportAndSamples_ThenEvalReadsIt()
    {
        string output = Path.Combine(FashionMnist.TempFolder(), "run");
        var result = CliHarness.Run("train", "--out", output, "--data", SmallData.Value, "--epochs", "2", "--batch", "32", "--samples-per-class", "3");
        Assert.True(result.Exit == 0, result.Error + result.Output);
        Assert.Contains("epoch 2/2: train loss", result.Output);
        Assert.Contains("test loss", result.Output);
        foreach (string file in new[] { "model.onnx", "classes.txt", "training.json", "training-loss.png", "training-accuracy.png", "checkpoint/model.onnx", "checkpoint/state.json", "checkpoint/momentum.npy" })
            Assert.True(File.Exists(Path.Combine(output, file)), $"{file} is missing");
        Assert.Equal(FashionAlexNet.Classes, File.ReadAllLines(Path.Combine(output, "classes.txt")));
        var samples = LabeledImages.LoadSplit(Path.Combine(output, "samples"), "t10k");
        Assert.Equal(30, samples.Count);
        string report = File.ReadAllText(Path.Combine(output, "training.json"));
        Assert.Contains("\"trainingSeconds\"", report);
        Assert.Contains("\"epochs\": 2", report);

        var eval = CliHarness.Run("eval", "--model", output, "--data", SmallData.Value, "--json", Path.Combine(output, "eval.json"));
        Assert.True(eval.Exit == 0, eval.Error);
        Assert.Contains("accuracy", eval.Output);
        Assert.Contains("confusion matrix (rows: true class, columns: predicted class)", eval.Output);
        Assert.Contains("Ankle boot", eval.Output);
        string json = File.ReadAllText(Path.Combine(output, "eval.json"));
        Assert.Contains("\"images\": 100", json);
        Assert.Contains("\"confusion\"", json);

        // The same evaluation on the OpenCL backend counts the same predictions.
        var onDevice = CliHarness.Run("eval", "--model", output, "--data", SmallData.Value, "--backend", "opencl");
        Assert.True(onDevice.Exit == 0, onDevice.Error);
        string Accuracy(string text) => text.Split('\n').Single(l => l.StartsWith("accuracy "));
        Assert.Equal(Accuracy(eval.Output)[..30], Accuracy(onDevice.Output)[..30]);
    }

    [Fact]
    public void Resume_ContinuesTheRun_AndEqualsAnUninterruptedOne()
    {
        string root = FashionMnist.TempFolder();
        string straight = Path.Combine(root, "straight"), interrupted = Path.Combine(root, "interrupted");
        string[] common = ["--data", SmallData.Value, "--batch", "32", "--seed", "4", "--threads", "2", "--samples-per-class", "0"];
        Assert.Equal(0, CliHarness.Run(["train", "--out", straight, "--epochs", "2", .. common]).Exit);
        var paused = CliHarness.Run(["train", "--out", interrupted, "--epochs", "2", "--pause-after", "1", .. common]);
        Assert.True(paused.Exit == 0, paused.Error);
        Assert.Contains("paused after epoch 1 of 2", paused.Output);
        Assert.False(File.Exists(Path.Combine(interrupted, "model.onnx")), "a paused run writes only its checkpoint");
        var resumed = CliHarness.Run("train", "--out", interrupted, "--resume", "--threads", "2");
        Assert.True(resumed.Exit == 0, resumed.Error);
        Assert.Contains("resuming after epoch 1", resumed.Output);
        Assert.DoesNotContain("epoch 1/2:", resumed.Output);
        Assert.Contains("epoch 2/2:", resumed.Output);

        using var backend = new CpuBackend();
        using var a = ModelBundle.Load(straight, backend);
        using var b = ModelBundle.Load(interrupted, backend);
        foreach (var (x, y) in a.Network.Parameters.Zip(b.Network.Parameters))
            Assert.True(backend.Download(x.Value).SequenceEqual(backend.Download(y.Value)), $"{x.Name} differs between the resumed and the uninterrupted run");
    }

    [Fact]
    public void MissingIdxFile_IsAOneLineErrorBeforeTraining()
    {
        string data = FashionMnist.TempFolder();
        AssertRefusedBeforeTraining("no train-images-idx3-ubyte or train-images-idx3-ubyte.gz", "--data", data);
    }

    [Fact]
    public void MissingDataFolder_IsAOneLineError()
    {
        CliHarness.AssertOneLineError(CliHarness.Run("eval", "--model", "alexnet", "--data", "/nonexistent/data"), "/nonexistent/data: no such data folder");
    }

    [Fact]
    public void TruncatedIdxFile_IsAOneLineErrorBeforeTraining()
    {
        string data = FashionMnist.SubsetFolder(train: 50, test: 0);
        string images = Path.Combine(data, "train-images-idx3-ubyte.gz");
        var whole = IdxFromGzip(images);
        File.Delete(images);
        File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte"), whole[..(whole.Length - 100)]);
        AssertRefusedBeforeTraining("truncated: the header (50 x 28 x 28) promises 39200 bytes of data, the file has 39100", "--data", data);
    }

    [Fact]
    public void LabelsThatDoNotMatchTheImages_AreAOneLineErrorBeforeTraining()
    {
        string data = FashionMnist.SubsetFolder(train: 50, test: 0);
        Idx.Write(Path.Combine(data, "train-labels-idx1-ubyte.gz"), new IdxArray([49], new byte[49]));
        AssertRefusedBeforeTraining("has 49 labels but", "--data", data);
    }

    [Fact]
    public void ModelWhoseOutputSizeIsNotTheClassCount_IsAOneLineErrorBeforeTraining()
    {
        string model = Path.Combine(FashionMnist.TempFolder(), "five");
        using (var backend = new CpuBackend())
        using (var five = new ModelBundle("five", FashionAlexNet.Create(backend, 1, classes: 5), FashionAlexNet.Preprocessing, ModelBundle.NumberedClasses(5), []))
            five.Save(model);
        AssertRefusedBeforeTraining("the model has 5 outputs but the data has 10 classes", "--data", SmallData.Value, "--model", model);
        CliHarness.AssertOneLineError(CliHarness.Run("eval", "--model", model, "--data", SmallData.Value), "has label 9, outside the 5 classes 0..4");
    }

    [Fact]
    public void ModelWhoseInputDoesNotFitTheImages_IsAOneLineError()
    {
        var result = CliHarness.Run("eval", "--model", "alexnet", "--data", SmallData.Value);
        CliHarness.AssertOneLineError(result, "the model's input (3, 227, 227) does not fit");
    }

    [Theory]
    [InlineData("--epochs", "0", "--epochs 0 must be at least 1")]
    [InlineData("--lr", "-0.1", "--lr -0.1 must be greater than 0")]
    [InlineData("--momentum", "1.5", "--momentum 1.5 must be less than 1")]
    [InlineData("--arch", "resnet", "--arch 'resnet' is unknown")]
    [InlineData("--limit", "0", "--limit 0 must be at least 1")]
    [InlineData("--threads", "0", "--threads 0 must be at least 1")]
    public void BadOptions_AreOneLineErrors(string option, string value, string message)
    {
        string output = Path.Combine(FashionMnist.TempFolder(), "run");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", output, "--data", SmallData.Value, option, value), message);
    }

    [Fact]
    public void ExistingRunIsNeverOverwritten_AndResumeNeedsACheckpoint()
    {
        string output = Path.Combine(FashionMnist.TempFolder(), "run");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", output, "--resume"), "has no checkpoint folder");
        Assert.Equal(0, CliHarness.Run("train", "--out", output, "--data", SmallData.Value, "--epochs", "1", "--limit", "64").Exit);
        var before = File.ReadAllBytes(Path.Combine(output, "model.onnx"));
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", output, "--data", SmallData.Value), "already holds a training run");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", output, "--resume", "--lr", "0.5"), "--resume continues with the checkpoint's own settings");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", output, "--resume", "--epochs", "1"), "all 1 epochs are done");
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(output, "model.onnx")));
    }

    /// <summary>`convviz train --out NEW ARGS...` ends in one line containing message, and no checkpoint was written.</summary>
    private static void AssertRefusedBeforeTraining(string message, params string[] args)
    {
        string output = Path.Combine(FashionMnist.TempFolder(), "run");
        CliHarness.AssertOneLineError(CliHarness.Run(["train", "--out", output, .. args]), message);
        Assert.False(Directory.Exists(Path.Combine(output, "checkpoint")), "the refused run wrote a checkpoint");
    }

    private static byte[] IdxFromGzip(string path)
    {
        using var file = File.OpenRead(path);
        using var zip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionMode.Decompress);
        using var memory = new MemoryStream();
        zip.CopyTo(memory);
        return memory.ToArray();
    }
}
