using System.Text.Json;
using ConvViz.Engine.Backends;
using ConvViz.Engine.IO;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Tensors;
using ConvViz.OpenCL;
using ConvViz.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ConvViz.Tests.Gradients;

/// <summary>
/// ConvViz's three backward rules (the true gradient, i.e. saliency; Zeiler–Fergus deconvnet;
/// guided backprop) against an independent PyTorch implementation: tests/fixtures/backward_rules,
/// made offline by make_fixture.py beside it (the rules as torch autograd Functions, each also
/// checked there against a second torch formulation). Two models exported to ONNX: a small
/// AlexNet-style chain (conv, ReLU, LRN, max pool, conv, ReLU, conv, ReLU, max pool, fc), and a
/// branching graph (a residual Add, a Concat, a standalone BatchNormalization and two ReLU6, i.e.
/// Clip(0, 6), whose rules differ from ReLU's). For each model and rule, the input gradient of one
/// class logit and of one unit of an inner layer (the last ReLU, the last Clip).
/// </summary>
public sealed class BackwardRuleFixtureTests(ITestOutputHelper output)
{
    private static readonly string[] Rules = ["gradient", "deconvnet", "guided"];

    private static readonly string[] BackendNames = ["reference", "cpu", "opencl", "opencl-tiled"];

    /// <summary>Each fixture's file name prefix and the ConvViz layers its ONNX file must import as.</summary>
    private static readonly Dictionary<string, (string Prefix, string[] OpTypes)> Models = new()
    {
        ["alexnet_style"] = ("", ["Conv", "Relu", "LRN", "MaxPool", "Conv", "Relu", "Conv", "Relu", "MaxPool", "Flatten", "Gemm"]),
        // The twelfth layer is the standalone BatchNormalization (after the Concat, so it cannot be
        // folded), which ConvViz imports as a depthwise 1x1 convolution.
        ["branching"] = ("branching_", ["Conv", "Relu", "MaxPool", "Conv", "Clip", "Conv", "Add", "Relu", "Conv", "Conv", "Concat",
            "Conv", "Clip", "GlobalAveragePool", "Flatten", "Gemm"]),
    };

    public static TheoryData<string, string> Cases()
    {
        var cases = new TheoryData<string, string>();
        foreach (var model in Models.Keys)
            foreach (var backend in BackendNames) cases.Add(model, backend);
        return cases;
    }

    private static Backend CreateBackend(string name) => name switch
    {
        // The tiled kernels are a variant the catalog does not offer by name.
        "opencl-tiled" => new OpenCLBackend(0, OpenCLKernelVariant.Tiled),
        _ => BackendCatalog.Create(name),
    };

    private static ReluRule RuleOf(string rule) => rule switch
    {
        "gradient" => ReluRule.Gradient,
        "deconvnet" => ReluRule.Deconvnet,
        "guided" => ReluRule.Guided,
        _ => throw new ArgumentException($"unknown rule '{rule}'"),
    };

    private static string FixturePath(string model, string file) => Fixtures.Path("backward_rules", Models[model].Prefix + file);

    private sealed record Target(string Name, string Layer, int Channel, int? Y, int? X);

    private static (Target[] Targets, float[] Logits) ReadFixture(string model)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(FixturePath(model, "fixture.json")));
        var root = json.RootElement;
        var cls = root.GetProperty("class");
        var unit = root.GetProperty("unit");
        Target[] targets =
        [
            // Seed 1 at logit k of the fc layer's output (shape (1, 10): a channel, no position).
            new("class", cls.GetProperty("layer").GetString()!, cls.GetProperty("k").GetInt32(), null, null),
            // Seed 1 at (c, y, x) of the last ReLU's (Clip's) output; backward runs through that layer too.
            new("unit", unit.GetProperty("layer").GetString()!, unit.GetProperty("c").GetInt32(),
                unit.GetProperty("y").GetInt32(), unit.GetProperty("x").GetInt32()),
        ];
        var logits = root.GetProperty("logits").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        return (targets, logits);
    }

    private static double Scale(ReadOnlySpan<float> values)
    {
        double max = 0;
        foreach (var v in values) max = Math.Max(max, Math.Abs((double)v));
        return max;
    }

    private static double MaxRelativeDifference(float[] expected, float[] actual)
    {
        double worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs((double)actual[i] - expected[i]));
        return worst / Scale(expected);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BackwardRulesMatchPyTorch(string model, string backendName)
    {
        var (targets, logits) = ReadFixture(model);
        var input = Npy.Read(FixturePath(model, "input.npy"));
        using var backend = CreateBackend(backendName);
        using var network = OnnxImporter.Load(FixturePath(model, "model.onnx"), backend).Network;
        Assert.Equal(Models[model].OpTypes, network.Layers.Select(l => l.OpType));
        Assert.Equal(input.Shape, network.InputShape(1).ToArray());

        using var x = backend.Upload(input.Data, new Shape(input.Shape));
        using var pass = network.Forward(x);
        // The forward pass first: if this fails, the gradients below cannot match either.
        TensorAssert.Close(logits, backend.Download(pass.Last), 1e-4 * Scale(logits), 1e-4, $"{model} {backendName} logits");

        var failures = new List<string>();
        foreach (var target in targets)
        {
            var results = new Dictionary<string, float[]>();
            foreach (var rule in Rules)
            {
                var expected = Npy.Read(FixturePath(model, $"grad_{target.Name}_{rule}.npy"));
                Assert.Equal(input.Shape, expected.Shape);
                using var seed = network.UnitSeed(pass, target.Layer, target.Channel, target.Y, target.X);
                using var dx = network.Backward(pass, target.Layer, seed, new BackwardOptions(RuleOf(rule)))!;
                Assert.Equal(x.Shape, dx.Shape);
                var actual = backend.Download(dx);
                results[rule] = actual;
                // The tolerance is relative to the tensor's scale (its largest magnitude), not to each
                // element: torch and ConvViz add the same float32 products in different orders, and
                // those sums differ on the order of the scale times float epsilon, so an element
                // that is near zero by cancellation carries an error set by the scale, not by itself.
                double scale = Scale(expected.Data);
                string label = $"{model} {backendName} {target.Name} ({target.Layer}) {rule}";
                try
                {
                    TensorAssert.Close(expected.Data, actual, 1e-4 * scale, 1e-4, label, new Shape(expected.Shape));
                }
                catch (XunitException e)
                {
                    failures.Add(e.Message);
                }
                output.WriteLine($"{label}: max |actual - expected| / max |expected| = {MaxRelativeDifference(expected.Data, actual):G3}");
            }

            // The rules must give materially different results, so this test cannot pass with a
            // rule ignored (for example every rule treated as the plain gradient).
            foreach (var (a, b) in new[] { ("gradient", "deconvnet"), ("gradient", "guided"), ("deconvnet", "guided") })
            {
                double scale = Math.Max(Scale(results[a]), Scale(results[b]));
                double difference = 0;
                for (int i = 0; i < results[a].Length; i++) difference = Math.Max(difference, Math.Abs((double)results[a][i] - results[b][i]));
                if (!(difference > 0.01 * scale))
                    failures.Add($"{model} {backendName} {target.Name}: {a} and {b} differ by only {difference:G3} (scale {scale:G3}); the rules are not distinct");
            }
        }
        if (failures.Count > 0) throw new XunitException(string.Join("\n", failures));
    }
}
