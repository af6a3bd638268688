using ConvViz.Catalog;
using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.IO;
using ConvViz.Engine.Visualization;
using ConvViz.Tests.Support;

namespace ConvViz.Tests.Cli;

/// <summary>`convviz backward --dump` writes the engine's <see cref="BackwardTrace"/>: one file per gradient, the same
/// tensors to the bit, and its table lists them in the trace's order.</summary>
[Collection(CliHarness.Collection)]
public sealed class BackwardTraceCommandTests
{
    [Theory]
    [InlineData("conv5", "3", ReluRule.Guided)]
    [InlineData("pool2", "10,1,2", ReluRule.Deconvnet)]
    public void Dump_IsTheTrace_TensorForTensor(string layer, string unit, ReluRule rule)
    {
        string boot = Fixtures.Path("images", "ankle_boot.png"), dump = FashionMnist.TempFolder();
        var result = CliHarness.Run("backward", "--input", boot, "--layer", layer, "--unit", unit, "--rule", rule.ToString(), "--dump", dump);
        Assert.True(result.Exit == 0, result.Error);

        using var backend = BackendCatalog.Create("cpu");
        using var bundle = ModelCatalog.Open("fashion-alexnet", backend);
        using var input = backend.Upload(ImageTensors.ToInput(ImageFile.Read(boot), bundle.Preprocessing), bundle.Network.InputShape(1));
        var parts = unit.Split(',').Select(int.Parse).ToArray();
        var target = parts.Length == 1 ? new Target(layer, parts[0]) : new Target(layer, parts[0], parts[1], parts[2]);
        var trace = BackwardTrace.Run(bundle.Network, input, target, rule);

        Assert.Equal(trace.Gradients.Select(g => FileNames.ForLayer(g.Layer) + ".grad.npy").Order(), Directory.GetFiles(dump, "*.grad.npy").Select(Path.GetFileName).Order());
        foreach (var gradient in trace.Gradients)
        {
            var file = Npy.Read(Path.Combine(dump, FileNames.ForLayer(gradient.Layer) + ".grad.npy"));
            Assert.Equal(gradient.Shape.ToArray(), file.Shape);
            Assert.Equal(gradient.Values, file.Data);
        }
        // The table lists each gradient in the trace's order, the network input last.
        var rows = trace.Gradients.SkipLast(1).Select(g => $"output of {g.Layer}").Append("network input").ToArray();
        int[] positions = rows.Select(row => result.Output.IndexOf(row + " ", StringComparison.Ordinal)).ToArray();
        Assert.DoesNotContain(-1, positions);
        Assert.Equal(positions.Order(), positions);
    }
}
