using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using ConvViz.Engine.Onnx;
using ConvViz.Engine.Tensors;
using ConvViz.Tests.Support;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace ConvViz.Tests.Conformance;

/// <summary>
/// Runs the ONNX backend test vectors that Debian's libonnx-testdata installs (one-node models with
/// input and expected output TensorProtos) on <see cref="BackendTest.Backend"/>, through the op
/// mappings of <see cref="OnnxNodeRunner"/>. Vectors are discovered by listing the folders whose
/// names match each family's pattern, so a new vector is picked up automatically; each family must
/// find at least as many vectors as were on disk when it was written, so a missing or emptied data
/// folder fails instead of passing vacuously. Float outputs are compared with the backend's
/// <see cref="BackendTest.Tolerance"/>, integer and boolean outputs exactly.
///
/// What is deliberately not run, and why (everything else matching a pattern runs, and a vector
/// the engine cannot express fails with the reason):
/// <list type="bullet">
/// <item>test_convinteger_*: integer convolution (uint8 data, zero points); the engine is float32
///   only. Not matched by the "test_conv_" pattern.</item>
/// <item>test_maxpool_1d_*, test_maxpool_3d_*, test_averagepool_1d_*, test_averagepool_3d_*: the
///   engine pools 2-D planes only. Not matched by the "_2d_" patterns.</item>
/// <item>test_maxpool_2d_uint8: uint8 tensors; the engine is float32 only (listed as excluded).</item>
/// <item>test_convtranspose_1d, test_convtranspose_3d: the engine convolves 2-D planes only
///   (listed as excluded).</item>
/// <item>test_softmax_*_expanded: the same Softmax written as a function body of ReduceMax, Sub,
///   Exp, ReduceSum and Div, ops the engine does not have; the plain test_softmax_* vectors hold
///   the same data (listed as excluded).</item>
/// <item>test_edge_pad, test_reflect_pad: int32 tensors in this corpus; the engine is float32 only
///   (listed as excluded; pytorch-converted's ReflectionPad2d and ReplicationPad2d run both modes).</item>
/// <item>test_clip_default_int8_*: int8 tensors; the engine is float32 only (listed as excluded).</item>
/// <item>test_split_zero_size_splits: empty tensors and empty parts, which the engine's channel copy
///   refuses (listed as excluded).</item>
/// <item>test_add_uint8, test_sub_uint8, test_mul_uint8, test_div_uint8: uint8 tensors; the engine is
///   float32 only. Not matched by the arithmetic pattern.</item>
/// <item>pytorch-operator's Add vectors: the legacy broadcast and axis attributes of opset 6; the
///   importer reads arithmetic from opset 7 on. Not matched.</item>
/// </list>
/// The arithmetic vectors run as the importer runs arithmetic with a constant: the second input
/// becomes the per-channel scale and shift of a depthwise 1x1 conv (<see cref="OnnxArithmetic"/>).
/// All six dropout vectors run: at inference (no training_mode, or training_mode false; opset 7+)
/// ONNX Dropout is the identity with an all-true mask whatever the ratio, which is exactly what the
/// engine does at inference.
/// </summary>
public abstract class OnnxConformanceTests : BackendTest
{
    /// <summary>Where libonnx-testdata puts the vectors; CONVVIZ_ONNX_TESTDATA overrides it.</summary>
    public static string DataRoot =>
        Environment.GetEnvironmentVariable("CONVVIZ_ONNX_TESTDATA") is { Length: > 0 } root ? root : "/usr/share/libonnx-testdata/data";

    private const string InstallHint = "install the ONNX test vectors with `apt-get install -y libonnx-testdata`";

    /// <summary>
    /// The families: corpus folder, name pattern, the vectors on disk when this was written (the
    /// minimum to find), and the names excluded with their reason.
    /// </summary>
    public static IReadOnlyList<Family> Families { get; } =
    [
        new("conv", "node", @"^test_conv_", 4),
        new("convtranspose", "node", @"^test_convtranspose", 8, name => name switch
        {
            "test_convtranspose_1d" => "1-D transposed convolution; the engine convolves 2-D planes only",
            "test_convtranspose_3d" => "3-D transposed convolution; the engine convolves 2-D planes only",
            _ => null,
        }),
        new("maxpool_2d", "node", @"^test_maxpool_2d_", 10, name => name == "test_maxpool_2d_uint8"
            ? "uint8 tensors; the engine is float32 only" : null),
        new("maxpool_with_argmax", "node", @"^test_maxpool_with_argmax_", 2),
        new("maxunpool", "node", @"^test_maxunpool_", 2),
        new("averagepool_2d", "node", @"^test_averagepool_2d_", 11),
        new("globalaveragepool", "node", @"^test_globalaveragepool", 2),
        new("lrn", "node", @"^test_lrn(_default)?$", 2),
        new("relu", "node", @"^test_relu$", 1),
        new("gemm", "node", @"^test_gemm_", 11),
        new("softmax", "node", @"^test_softmax_", 7, name => name.Contains("_expanded")
            ? "Softmax expanded into ReduceMax/Sub/Exp/ReduceSum/Div, ops the engine does not have; the plain vector holds the same data" : null),
        new("flatten", "node", @"^test_flatten_", 9),
        new("dropout", "node", @"^test_dropout", 6),
        new("pad", "node", @"^test_(constant|edge|reflect)_pad$", 1, name => name is "test_edge_pad" or "test_reflect_pad"
            ? "int32 tensors in this corpus; the engine is float32 only (pytorch_Pad2d runs reflect and edge on float data)" : null),
        new("clip", "node", @"^test_clip", 8, name => name.Contains("_int8")
            ? "int8 tensors; the engine is float32 only" : null),
        new("split", "node", @"^test_split_", 6, name => name == "test_split_zero_size_splits"
            ? "empty tensors and parts; the engine's channel copy needs at least one channel" : null),
        new("arithmetic", "node", @"^test_(add|sub|mul|div)(_bcast|_example)?$", 11),
        new("pytorch_Pad2d", "pytorch-converted", @"^test_(Constant|Reflection|Replication|Zero)Pad2d$", 4),
        new("pytorch_operator_pad_clip_chunk", "pytorch-operator", @"^test_operator_(pad|clip|chunk)$", 3),
        new("pytorch_Conv2d", "pytorch-converted", @"^test_Conv2d", 11),
        new("pytorch_ConvTranspose2d", "pytorch-converted", @"^test_ConvTranspose2d", 2),
        new("pytorch_MaxPool2d", "pytorch-converted", @"^test_MaxPool2d", 2),
        new("pytorch_AvgPool2d", "pytorch-converted", @"^test_AvgPool2d", 2),
        new("pytorch_Linear", "pytorch-converted", @"^test_Linear", 2),
        new("pytorch_ReLU", "pytorch-converted", @"^test_ReLU$", 1),
        new("pytorch_Softmax", "pytorch-converted", @"^test_Softmax$", 1),
    ];

    public static TheoryData<string> FamilyNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var f in Families) data.Add(f.Name);
            return data;
        }
    }

    // Results per (test class, family): the summary Fact and the per-family cases share one run.
    private static readonly ConcurrentDictionary<(Type, string), Lazy<FamilyResult>> Results = new();

    private readonly ITestOutputHelper output;

    protected OnnxConformanceTests(ITestOutputHelper output) => this.output = output;

    /// <summary>Every vector of one family; all failures of the family are reported together.</summary>
    [Theory]
    [MemberData(nameof(FamilyNames), MemberType = typeof(OnnxConformanceTests))]
    public void Family_vectors_match_the_onnx_outputs(string family)
    {
        var result = ResultOf(Families.Single(f => f.Name == family));
        output.WriteLine(result.Summary);
        foreach (var line in result.Log) output.WriteLine(line);
        Assert.True(result.Problems.Count == 0, $"{family}:\n" + string.Join("\n", result.Problems));
    }

    /// <summary>Every family at once, with a table of vectors found, run and passed, and totals.</summary>
    [Fact]
    public void All_families_summary()
    {
        var results = Families.Select(ResultOf).ToArray();
        var table = new StringBuilder();
        table.AppendLine($"ONNX conformance on backend '{Backend.Name}' (data: {DataRoot})");
        table.AppendLine($"{"family",-26} {"found",5} {"excluded",8} {"ran",5} {"passed",6}");
        foreach (var r in results)
            table.AppendLine($"{r.Family.Name,-26} {r.Found,5} {r.Excluded.Count,8} {r.Ran,5} {r.Passed,6}");
        table.AppendLine($"{"total",-26} {results.Sum(r => r.Found),5} {results.Sum(r => r.Excluded.Count),8} {results.Sum(r => r.Ran),5} {results.Sum(r => r.Passed),6}");
        foreach (var r in results)
            foreach (var (name, reason) in r.Excluded)
                table.AppendLine($"excluded {r.Family.Corpus}/{name}: {reason}");
        output.WriteLine(table.ToString());

        var problems = results.SelectMany(r => r.Problems.Select(p => $"[{r.Family.Name}] {p}")).ToArray();
        Assert.True(problems.Length == 0, $"{problems.Length} problems:\n" + string.Join("\n", problems));
    }

    private FamilyResult ResultOf(Family family) =>
        Results.GetOrAdd((GetType(), family.Name), _ => new Lazy<FamilyResult>(() => RunFamily(family))).Value;

    private FamilyResult RunFamily(Family family)
    {
        var result = new FamilyResult(family);
        string corpus = Path.Combine(DataRoot, family.Corpus);
        if (!Directory.Exists(corpus))
        {
            result.Problems.Add($"the ONNX test data folder {corpus} does not exist; {InstallHint}");
            return result;
        }
        var pattern = new Regex(family.Pattern, RegexOptions.CultureInvariant);
        var folders = Directory.GetDirectories(corpus)
            .Where(d => pattern.IsMatch(Path.GetFileName(d)))
            .OrderBy(d => d, StringComparer.Ordinal)
            .ToArray();
        result.Found = folders.Length;
        foreach (var folder in folders)
        {
            string name = Path.GetFileName(folder);
            if (family.Exclude?.Invoke(name) is { } reason)
            {
                result.Excluded.Add((name, reason));
                continue;
            }
            result.Ran++;
            try
            {
                int sets = RunVector(folder);
                result.Passed++;
                result.Log.Add($"  pass {family.Corpus}/{name} ({sets} data set{(sets == 1 ? "" : "s")})");
            }
            catch (Exception e)
            {
                string message = e is XunitException ? e.Message : $"{e.GetType().Name}: {e.Message}";
                result.Problems.Add($"{family.Corpus}/{name}: {message}");
                result.Log.Add($"  FAIL {family.Corpus}/{name}");
            }
        }
        if (result.Ran < family.MinimumToRun)
            result.Problems.Insert(0,
                $"found {result.Ran} runnable vectors matching {family.Pattern} in {corpus}, expected at least {family.MinimumToRun}; {InstallHint}");
        result.Summary = $"{family.Name}: found {result.Found}, excluded {result.Excluded.Count}, ran {result.Ran}, passed {result.Passed}";
        return result;
    }

    /// <summary>Runs every test_data_set_* of one vector folder; returns how many sets ran.</summary>
    private int RunVector(string folder)
    {
        string modelPath = Path.Combine(folder, "model.onnx");
        var model = OnnxTensors.LoadModel(modelPath);
        var sets = Directory.GetDirectories(folder, "test_data_set_*").OrderBy(d => d, StringComparer.Ordinal).ToArray();
        if (sets.Length == 0) throw new XunitException($"{folder} holds no test_data_set_* folder");
        foreach (var set in sets)
        {
            var inputs = NumberedFiles(set, "input").Select(OnnxTensors.LoadTensor).ToArray();
            var expected = NumberedFiles(set, "output");
            using var runner = new OnnxNodeRunner(Backend, model, modelPath);
            var actual = runner.Run(inputs);
            if (actual.Count != expected.Length)
                throw new XunitException($"{set}: the graph has {actual.Count} outputs but {expected.Length} output files");
            for (int k = 0; k < expected.Length; k++)
                Compare(OnnxTensors.LoadTensor(expected[k]), actual[k].Value, $"{Path.GetFileName(folder)}/{Path.GetFileName(set)} output {k} '{actual[k].Name}'");
        }
        return sets.Length;
    }

    /// <summary>input_0.pb, input_1.pb, ... in index order (input_10 after input_9).</summary>
    private static string[] NumberedFiles(string set, string prefix) =>
        Directory.GetFiles(set, prefix + "_*.pb")
            .Select(f => (File: f, Index: int.TryParse(Path.GetFileNameWithoutExtension(f)[(prefix.Length + 1)..], out int i) ? i : -1))
            .Where(f => f.Index >= 0)
            .OrderBy(f => f.Index)
            .Select(f => f.File)
            .ToArray();

    private void Compare(OnnxTensorData expected, OnnxValue actual, string label)
    {
        if (!expected.Dims.SequenceEqual(actual.Dims))
            throw new XunitException($"{label}: shape [{string.Join(", ", actual.Dims)}], expected [{string.Join(", ", expected.Dims)}]");
        if (expected.DataType == Engine.Onnx.Protos.TensorProto.Types.DataType.Float)
        {
            if (actual.Tensor is null) throw new XunitException($"{label}: got {actual.Kind} data, expected float");
            var (atol, rtol) = Tolerance;
            var shape = expected.Dims.Length is > 0 and <= Shape.MaxRank ? new Shape(expected.Dims) : null;
            TensorAssert.Close(expected.Floats, Backend.Download(actual.Tensor), atol, rtol, label, shape);
            return;
        }
        // Integer and boolean outputs (pooling indices, dropout masks) must match exactly.
        long[] want = expected.ToInt64();
        long[] got = actual.Integers ?? actual.Bools?.Select(b => b ? 1L : 0L).ToArray()
            ?? throw new XunitException($"{label}: got {actual.Kind} data, expected {expected.DataType}");
        if ((actual.Bools is not null) != (expected.DataType == Engine.Onnx.Protos.TensorProto.Types.DataType.Bool))
            throw new XunitException($"{label}: got {actual.Kind} data, expected {expected.DataType}");
        var mismatches = Enumerable.Range(0, want.Length).Where(i => want[i] != got[i]).ToArray();
        if (mismatches.Length > 0)
            throw new XunitException($"{label}: {mismatches.Length} of {want.Length} {expected.DataType} values differ: "
                + string.Join("; ", mismatches.Take(5).Select(i => $"[{i}] expected {want[i]}, got {got[i]}")));
    }

    /// <summary>A family of vectors: the folders of one corpus whose names match Pattern.</summary>
    public sealed record Family(string Name, string Corpus, string Pattern, int MinimumToRun, Func<string, string?>? Exclude = null)
    {
        public override string ToString() => Name;
    }

    private sealed class FamilyResult(Family family)
    {
        public Family Family { get; } = family;
        public int Found { get; set; }
        public int Ran { get; set; }
        public int Passed { get; set; }
        public List<(string Name, string Reason)> Excluded { get; } = [];
        public List<string> Problems { get; } = [];
        public List<string> Log { get; } = [];
        public string Summary { get; set; } = $"{family.Name}: not run";
    }
}
