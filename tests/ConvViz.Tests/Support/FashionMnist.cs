using ConvViz.Engine.Data;

namespace ConvViz.Tests.Support;

/// <summary>Fashion-MNIST from Debian's dataset-fashion-mnist (tests/run-all.sh installs it), and small
/// MNIST-style folders cut from it. Missing data fails the test with the install hint; it never skips.</summary>
public static class FashionMnist
{
    public const string Folder = "/usr/share/datasets/fashion-mnist";

    private static readonly Lazy<LabeledImages> TrainSet = new(() => Load(LabeledImages.TrainSplit));
    private static readonly Lazy<LabeledImages> TestSet = new(() => Load(LabeledImages.TestSplit));

    public static LabeledImages Train => TrainSet.Value;
    public static LabeledImages Test => TestSet.Value;

    private static LabeledImages Load(string split)
    {
        Assert.True(Directory.Exists(Folder), $"Fashion-MNIST is not installed at {Folder}: run `apt-get install dataset-fashion-mnist` (tests/run-all.sh does)");
        return LabeledImages.LoadSplit(Folder, split);
    }

    /// <summary>A new MNIST-style folder (with classes.txt) holding the first <paramref name="train"/> training and
    /// <paramref name="test"/> test images, under a fresh temporary directory.</summary>
    public static string SubsetFolder(int train, int test)
    {
        string folder = Path.Combine(Path.GetTempPath(), "convviz-tests", Guid.NewGuid().ToString("N"));
        Train.Take(train).SaveSplit(folder, LabeledImages.TrainSplit);
        if (test > 0) Test.Take(test).SaveSplit(folder, LabeledImages.TestSplit);
        File.WriteAllLines(Path.Combine(folder, "classes.txt"), ConvViz.Engine.Models.FashionAlexNet.Classes);
        return folder;
    }

    public static string TempFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "convviz-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }
}
