using ConvViz.Cli;
using ConvViz.Cli.Commands;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Data;
using ConvViz.Engine.IO;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Tests.Cli;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Validation;

/// <summary>
/// The failures a fuzzing pass found, each refused in one line before any work: out-of-range and
/// non-finite values, enums given as numbers, options that another option makes meaningless, labels
/// outside the classes, and models that one command accepted and another refused.
/// </summary>
[Collection(CliHarness.Collection)]
public sealed class OptionRuleTests
{
    private static string Boot => Fixtures.Path("images", "ankle_boot.png");

    [Theory]
    [InlineData("--blur-sigma 1e30 must be at most 100", "saliency", "--input", "BOOT", "--blur-sigma", "1e30", "--out", "OUT")]
    [InlineData("--blur-sigma 1e30 must be at most 100", "optimize", "--class", "1", "--blur-sigma", "1e30", "--out", "OUT")]
    [InlineData("--octaves 2147483647 must be at most 16", "dream", "--octaves", "2147483647", "--out", "OUT")]
    [InlineData("--grid 2000 must be at most 200", "tsne", "--grid", "2000", "--out", "OUT")]
    [InlineData("--early-exaggeration Infinity must be a finite number", "tsne", "--early-exaggeration", "Infinity", "--out", "OUT")]
    [InlineData("--opacity NaN must be a finite number", "gradcam", "--input", "BOOT", "--opacity", "NaN", "--out", "OUT")]
    [InlineData("--lr NaN must be a finite number", "optimize", "--class", "1", "--lr", "NaN", "--out", "OUT")]
    [InlineData("--style-weight Infinity must be a finite number", "style", "--content", "BOOT", "--style", "BOOT", "--style-weight", "Infinity", "--out", "OUT")]
    [InlineData("--step Infinity must be a finite number; expected a number greater than 0 and at most 1", "gradcheck", "--step", "Infinity")]
    [InlineData("--iterations 2147483648 must be at most 100000", "optimize", "--class", "1", "--iterations", "2147483648", "--out", "OUT")]
    [InlineData("--octaves 2.5 is not a whole number", "dream", "--octaves", "2.5", "--out", "OUT")]
    [InlineData("--octaves 'four' is not a number; expected a whole number from 1 to 16", "dream", "--octaves", "four", "--out", "OUT")]
    [InlineData("--colormap '7' is unknown; expected one of Gray, Viridis, Jet, Diverging", "activations", "--input", "BOOT", "--colormap", "7", "--out", "OUT")]
    [InlineData("--rule '1' is unknown; expected one of Gradient, Deconvnet, Guided", "backward", "--input", "BOOT", "--class", "1", "--rule", "1")]
    [InlineData("--lr-policy 'Constant,Progress' is unknown", "optimize", "--class", "1", "--lr-policy", "Constant,Progress", "--out", "OUT")]
    [InlineData("--optimizer '0' is unknown; expected one of Adam, Lbfgs", "style", "--content", "BOOT", "--style", "BOOT", "--optimizer", "0", "--out", "OUT")]
    [InlineData("--frobnicate is not an option of `convviz dream`", "dream", "--frobnicate", "--out", "OUT")]
    [InlineData("--input", "saliency", "--out", "OUT")]
    public void OutOfRangeValues_AreRefusedInOneLine_BeforeAnyWork(string message, params string[] args)
    {
        string output = FashionMnist.TempFolder();
        CliHarness.AssertOneLineError(CliHarness.Run([.. args.Select(a => a == "BOOT" ? Boot : a == "OUT" ? output : a)]), message);
        Assert.Empty(Directory.GetFileSystemEntries(output));
    }

    [Fact]
    public void EnumNames_AreAcceptedInAnyCase()
    {
        var result = CliHarness.Run("activations", "--input", Boot, "--layer", "conv1", "--colormap", "viridis", "--normalize", "PERTILE", "--out", FashionMnist.TempFolder());
        Assert.True(result.Exit == 0, result.Error);
    }

    [Theory]
    [InlineData("--class 1 and --unit 1 name two targets: give either --class K or --layer L --unit C, not both", "optimize", "--class", "1", "--layer", "conv5", "--unit", "1")]
    [InlineData("--class 1 and --layer conv5 name two targets", "optimize", "--class", "1", "--layer", "conv5")]
    [InlineData("--class 2 and --unit 3 name two targets", "occlusion", "--input", "BOOT", "--class", "2", "--unit", "3")]
    [InlineData("--batch 4 applies to --units only", "optimize", "--class", "1", "--batch", "4")]
    [InlineData("--sweep-seed 3 applies to --sweep only", "optimize", "--class", "1", "--sweep-seed", "3")]
    [InlineData("--blur-every is drawn at random by --sweep 3", "optimize", "--class", "1", "--sweep", "3", "--blur-every", "2")]
    [InlineData("--blur-sigma 2 has no effect: --blur-every 0 never blurs", "optimize", "--class", "1", "--blur-every", "0", "--blur-sigma", "2")]
    [InlineData("--blur-sigma 2 has no effect: preset 2 never blurs", "optimize", "--class", "1", "--preset", "2", "--blur-sigma", "2")]
    [InlineData("--max-lr applies to --lr-policy Progress, but preset 3 uses the Constant policy", "optimize", "--class", "1", "--max-lr", "5")]
    [InlineData("--lr applies to --lr-policy Constant, but preset 1 uses the Progress policy", "optimize", "--class", "1", "--preset", "1", "--lr", "5")]
    [InlineData("--lp-power 4 has no effect without an Lp penalty", "optimize", "--class", "1", "--lp-power", "4")]
    [InlineData("--tv-beta 3 has no effect without a TV penalty", "optimize", "--class", "1", "--tv-beta", "3")]
    [InlineData("100000 iterations x 1 unit(s) x 20 setting(s) = 2,000,000 steps", "optimize", "--class", "1", "--iterations", "100000", "--sweep", "20")]
    [InlineData("--units '0-2147483646' names more than 65,536 units", "optimize", "--layer", "conv5", "--units", "0-2147483646")]
    [InlineData("--history 5 applies to --optimizer lbfgs only", "style", "--content", "BOOT", "--style", "BOOT", "--history", "5")]
    [InlineData("--lr 0.5 applies to --optimizer adam only", "style", "--content", "BOOT", "--style", "BOOT", "--optimizer", "lbfgs", "--lr", "0.5")]
    [InlineData("--seed 4 seeds the start noise, and --init content", "style", "--content", "BOOT", "--style", "BOOT", "--init", "content", "--seed", "4")]
    [InlineData("--samples 2 picks bundled samples when no --input is given", "report", "--input", "BOOT", "--samples", "2")]
    [InlineData("--theta 0.3 applies to Barnes-Hut t-SNE, but 300 points run exact t-SNE", "tsne", "--data", "SAMPLES", "--n", "300", "--theta", "0.3")]
    public void IgnoredOrContradictoryOptions_AreRefused_BeforeAnyWork(string message, params string[] args)
    {
        string output = FashionMnist.TempFolder();
        string samples = Fixtures.Path("..", "..", "weights", "fashion-alexnet", "samples");
        CliHarness.AssertOneLineError(CliHarness.Run([.. args.Select(a => a == "BOOT" ? Boot : a == "SAMPLES" ? samples : a), "--out", output]), message);
        Assert.Empty(Directory.GetFileSystemEntries(output));
    }

    [Fact]
    public void TrainRefusesOptionsItWouldIgnore()
    {
        string data = FashionMnist.SubsetFolder(train: 40, test: 0);
        string Out() => Path.Combine(FashionMnist.TempFolder(), "run");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", Out(), "--data", data, "--model", "fashion-alexnet", "--arch", "fashion-alexnet"),
            "--arch fashion-alexnet builds a fresh model and --model fashion-alexnet starts from a trained one");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", Out(), "--data", data, "--gamma", "0.5"), "--gamma applies to --lr-policy step only, but the policy is cosine");
        string run = Out();
        Assert.Equal(0, CliHarness.Run("train", "--out", run, "--data", data, "--epochs", "2", "--pause-after", "1", "--samples-per-class", "0").Exit);
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", run, "--resume", "--classes", Path.Combine(data, "classes.txt")),
            "--resume continues with the checkpoint's own settings; only --epochs, --pause-after, --data, --samples-per-class, --no-charts and the backend options may be given (got --classes)");
    }

    [Fact]
    public void ModelSeeds_AreRefusedForModelsThatBringTheirOwnWeights()
    {
        string bundle = EmbeddedModels.Folder(EmbeddedModels.FashionAlexNet);
        CliHarness.AssertOneLineError(CliHarness.Run("model", "info", "--model", bundle, "--seed", "3"), $"--seed 3 seeds a built-in model's random weights, and {bundle} brings its own");
        CliHarness.AssertOneLineError(CliHarness.Run("model", "export", "--model", bundle, "--seed", "3", "--out", FashionMnist.TempFolder()), "--seed 3 seeds a built-in model's random weights");
        Assert.Equal(0, CliHarness.Run("model", "info", "--model", bundle, "--seed", "3", "--run").Exit);
    }

    /// <summary>A copy of Fashion-MNIST's first test images with label 10 at image 3 and 255 at image 7.</summary>
    private static string CorruptLabels(bool withClasses)
    {
        string folder = FashionMnist.SubsetFolder(train: 60, test: 60);
        foreach (var split in new[] { LabeledImages.TrainSplit, LabeledImages.TestSplit })
        {
            var set = LabeledImages.LoadSplit(folder, split);
            var labels = set.Labels.ToArray();
            labels[3] = 10;
            labels[7] = 255;
            var pixels = Enumerable.Range(0, set.Count).SelectMany(i => set.Image(i).ToArray()).ToArray();
            new LabeledImages(pixels, labels, set.Height, set.Width, split).SaveSplit(folder, split);
        }
        if (!withClasses) File.Delete(Path.Combine(folder, ModelBundle.ClassesFile));
        return folder;
    }

    [Theory]
    [InlineData("eval")]
    [InlineData("topk")]
    [InlineData("tsne")]
    public void OneLabelRule_EveryConsumerRefusesLabelsOutsideTheModelsClasses(string command)
    {
        string data = CorruptLabels(withClasses: true);
        string[] extra = command switch { "topk" => ["--k", "2", "--layer", "relu1", "--out", FashionMnist.TempFolder()], "tsne" => ["--n", "60", "--perplexity", "5", "--out", FashionMnist.TempFolder()], _ => [] };
        CliHarness.AssertOneLineError(CliHarness.Run([command, "--data", data, .. extra]),
            "has label 10, outside the 10 classes 0..9 of the model (image 3)");
    }

    [Fact]
    public void OneLabelRule_TrainRefusesADamagedLabel_InsteadOfMakingA256ClassModel()
    {
        string output = Path.Combine(FashionMnist.TempFolder(), "run");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", output, "--data", CorruptLabels(withClasses: true)),
            "has label 10, outside the 10 classes 0..9 of the model (image 3)");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", output, "--data", CorruptLabels(withClasses: false)),
            "has labels up to 255 but no image of classes 11, 12, 13, 14, 15 and 239 more: a damaged label?");
        CliHarness.AssertOneLineError(CliHarness.Run("train", "--out", output, "--data", CorruptLabels(withClasses: false), "--model", "fashion-alexnet"),
            "has label 10, outside the 10 classes 0..9 of the model (image 3)");
        Assert.False(Directory.Exists(output), "a refused run wrote its --out folder");
    }

    [Fact]
    public void OneLabelRule_LabelsNumberTheClassesWhenNothingNamesThem()
    {
        string data = FashionMnist.SubsetFolder(train: 200, test: 0);
        File.Delete(Path.Combine(data, ModelBundle.ClassesFile));
        string output = Path.Combine(FashionMnist.TempFolder(), "run");
        var result = CliHarness.Run("train", "--out", output, "--data", data, "--epochs", "1", "--limit", "200", "--samples-per-class", "0");
        Assert.True(result.Exit == 0, result.Error);
        Assert.Equal(ModelBundle.NumberedClasses(10), File.ReadAllLines(Path.Combine(output, ModelBundle.ClassesFile)));
    }

    public static TheoryData<string, string, string> HostileMetadata => new()
    {
        { "pixel_scale", "NaN", "model.onnx: metadata pixel_scale 'NaN' is not a comma-separated list of finite numbers" },
        { "pixel_scale", "0", "model.onnx: metadata pixel_scale '0' is zero, which would map every pixel to one value" },
        { "scale", "0", "model.onnx: metadata scale '0' is zero, which would map every pixel to one value" },
        { "mean", "Infinity", "model.onnx: metadata mean 'Infinity' is not a comma-separated list of finite numbers" },
        { "resize_shorter", "100000", "model.onnx: metadata resize_shorter '100000' is not a whole number from 1 to 8192" },
        { "resize_shorter", "-3", "model.onnx: metadata resize_shorter '-3' is not a whole number from 1 to 8192" },
        { "mean_image", "../mean.npy", "model.onnx: metadata mean_image '../mean.npy' is not a plain file name" },
        { "mean_image", "missing.npy", "model.onnx: metadata mean_image names 'missing.npy', which is not in" },
        { "outputs", "logits", "model.onnx: metadata outputs 'logits' is not classes or features" },
    };

    [Theory]
    [InlineData(new[] { 1, 27, 28 }, false, "the mean image has shape (1, 27, 28); the model's input is (1, 28, 28)")]
    [InlineData(new[] { 1, 28, 28 }, true, "the mean image holds NaN at value 5; every value must be finite")]
    public void ModelInfo_RefusesAMeanImageOfTheWrongShapeOrNotFinite(int[] shape, bool notFinite, string message)
    {
        string bundle = Path.Combine(FashionMnist.TempFolder(), "bundle");
        using (var backend = new CpuBackend())
        using (var model = ModelBundle.Load(EmbeddedModels.Folder(EmbeddedModels.FashionAlexNet), backend))
            model.Save(bundle);
        var mean = new float[shape.Aggregate(1, (a, b) => a * b)];
        if (notFinite) mean[5] = float.NaN;
        Npy.Write(Path.Combine(bundle, Preprocessing.MeanImageFile), mean, shape);
        using (var stream = new FileStream(Path.Combine(bundle, ModelBundle.ModelFile), FileMode.Append, FileAccess.Write))
            ConvViz.Engine.Onnx.OnnxExporter.AppendMetadata(stream, new Dictionary<string, string> { [Preprocessing.MeanImageKey] = Preprocessing.MeanImageFile });
        CliHarness.AssertOneLineError(CliHarness.Run("model", "info", "--model", bundle), message);
    }

    [Theory]
    [MemberData(nameof(HostileMetadata))]
    public void ModelInfo_RefusesExactlyWhatForwardRefuses(string key, string value, string message)
    {
        string bundle = Path.Combine(FashionMnist.TempFolder(), "bundle");
        using (var backend = new CpuBackend())
        using (var model = ModelBundle.Load(EmbeddedModels.Folder(EmbeddedModels.FashionAlexNet), backend))
            model.Save(bundle);
        using (var stream = new FileStream(Path.Combine(bundle, ModelBundle.ModelFile), FileMode.Append, FileAccess.Write))
            ConvViz.Engine.Onnx.OnnxExporter.AppendMetadata(stream, new Dictionary<string, string> { [key] = value });
        var forward = CliHarness.Run("forward", "--model", bundle, "--input", Boot);
        var info = CliHarness.Run("model", "info", "--model", bundle);
        CliHarness.AssertOneLineError(forward, message);
        CliHarness.AssertOneLineError(info, message);
        Assert.Equal(forward.Error, info.Error);
    }

    [Fact]
    public void Gradcheck_CountsAnOverflowingDifferenceAsTheWorstError_NotAsNone()
    {
        var row = GradientCheck.Check("layer", "input", [1f, 2f], [0.5f, 0.5f], points: 2, step: 0.01f, tolerance: 1e-2, new Random(1), _ => double.NaN);
        Assert.Equal(double.PositiveInfinity, row.WorstRelativeError);
        Assert.False(row.Passes(1e-2));
    }

    [Fact]
    public void Bounds_AreStatedInTheHelp()
    {
        var result = CliHarness.Run("dream", "--help");
        Assert.Equal(0, result.Exit);
        Assert.Contains("a whole number from 1 to 16", result.Output);
    }
}
