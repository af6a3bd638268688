using ConvViz.Engine.Backends;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;

namespace ConvViz.Cli;

/// <summary>Resolves --model: for now the built-in architectures with seeded random weights.</summary>
public static class ModelCatalog
{
    public const string Default = "alexnet";

    private static readonly (string Name, string Summary, Func<Backend, int, Network> Create)[] BuiltIns =
    [
        ("alexnet", "two-tower AlexNet (Caffe bvlc_alexnet layout), 227x227x3 input, 1000 classes, random weights", (b, seed) => AlexNet.Create(b, seed)),
    ];

    public static Network Load(string name, Backend backend, int seed)
    {
        foreach (var entry in BuiltIns)
            if (string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase))
                return entry.Create(backend, seed);
        throw new UserError($"unknown model '{name}'; expected a built-in model: {string.Join(", ", BuiltIns.Select(e => e.Name))}");
    }

    public static string Describe(string name) =>
        BuiltIns.FirstOrDefault(e => string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase)).Summary ?? name;
}
