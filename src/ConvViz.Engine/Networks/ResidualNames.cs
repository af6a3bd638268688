using ConvViz.Engine.Layers;

namespace ConvViz.Engine.Networks;

/// <summary>
/// Torchvision-style names for the layers of a residual network, derived from its graph rather than
/// from its file's names (a CNTK export calls them Convolution249, Plus267, ...). Each Add closes a
/// residual block, which runs from the layer after the previous block to the ReLU that reads the Add;
/// a stage is a run of blocks with the same number of output channels, so a new stage starts where
/// the channels change (double, in ResNets): layer1.0, layer1.1, layer2.0, ... Inside a block the
/// convolutions and ReLUs are numbered in order (conv1, relu1, conv2, add, relu2), and the layers on
/// the Add's other input, when it is not the block's input, are the downsample shortcut. Layers before
/// the first block and after the last are named by their kind: conv1, relu, maxpool, avgpool.
/// </summary>
public static class ResidualNames
{
    /// <summary>The new name of every layer, in layer order; throws when the network has no residual Add.</summary>
    public static IReadOnlyList<string> Of(Network network)
    {
        var layers = network.Layers;
        var adds = Enumerable.Range(0, layers.Count).Where(i => layers[i] is AddLayer).ToArray();
        if (adds.Length == 0) throw new ArgumentException("the network has no residual Add; its layers keep their names");
        var names = new string[layers.Count];
        int stem = FirstBlockStart(network, adds[0]), start = stem, stage = 0, block = 0, channels = -1;
        foreach (int add in adds)
        {
            // The block ends with the ReLU that reads the Add, when one does.
            int end = add + 1 < layers.Count && layers[add + 1] is ReluLayer && network.InputsOf(add + 1)[0] == add ? add + 1 : add;
            int outputChannels = network.OutputShape(layers[end].Name, 1)[1];
            if (outputChannels != channels) (stage, block, channels) = (stage + 1, 0, outputChannels);
            else block++;
            string prefix = $"layer{stage}.{block}.";
            var shortcut = Shortcut(network, add, start);
            var counts = new Dictionary<string, int>();
            for (int i = start; i <= end; i++)
            {
                if (i == add) names[i] = prefix + "add";
                else if (shortcut.Count == 1 && shortcut[0] == i) names[i] = prefix + "downsample";
                else if (shortcut.IndexOf(i) is var k and >= 0) names[i] = $"{prefix}downsample.{k}";
                else
                {
                    string kind = Kind(layers[i]);
                    names[i] = prefix + kind + (counts[kind] = counts.GetValueOrDefault(kind) + 1);
                }
            }
            start = end + 1;
        }
        NameByKind(layers, names, 0, stem);
        NameByKind(layers, names, start, layers.Count);
        for (int i = 0; i < names.Length; i++) names[i] ??= layers[i].Name;
        if (names.Distinct(StringComparer.Ordinal).Count() != names.Length)
            throw new ArgumentException("the network's residual blocks do not follow one another; its layers keep their names");
        return names;
    }

    /// <summary>The layers from <paramref name="start"/> on that only the Add's shortcut input reads
    /// through (a projection conv, its norm), in order; empty for an identity shortcut.</summary>
    private static List<int> Shortcut(Network network, int add, int start)
    {
        var inputs = network.InputsOf(add);
        var chains = inputs.Select(input =>
        {
            var chain = new List<int>();
            for (int i = input; i >= start; i = network.InputsOf(i)[0])
            {
                chain.Insert(0, i);
                if (network.InputsOf(i).Count != 1) break;
            }
            return chain;
        }).OrderBy(c => c.Count).ToArray();
        return chains[0];
    }

    /// <summary>Where the first block starts: after the block input, the last layer that both inputs of its Add read through.</summary>
    private static int FirstBlockStart(Network network, int add)
    {
        var reached = new HashSet<int>();
        foreach (int input in network.InputsOf(add))
            for (int i = input; i >= 0; i = network.InputsOf(i)[0])
                if (!reached.Add(i)) return i + 1;
        return 0;
    }

    /// <summary>Names layers [from, to) by kind: convolutions numbered (conv1, conv2), others plain
    /// (relu, maxpool) unless a kind repeats, then numbered from its second (relu, relu2).</summary>
    private static void NameByKind(IReadOnlyList<Layer> layers, string[] names, int from, int to)
    {
        var counts = new Dictionary<string, int>();
        for (int i = from; i < to; i++)
        {
            string kind = Kind(layers[i]);
            int n = counts[kind] = counts.GetValueOrDefault(kind) + 1;
            names[i] = kind == "conv" || n > 1 ? kind + n : kind;
        }
    }

    private static string Kind(Layer layer) => layer.OpType switch
    {
        "Conv" => "conv",
        "Relu" => "relu",
        "MaxPool" => "maxpool",
        "AveragePool" or "GlobalAveragePool" => "avgpool",
        "Gemm" or "MatMul" => "fc",
        "BatchNormalization" => "bn",
        var other => other.ToLowerInvariant(),
    };
}
