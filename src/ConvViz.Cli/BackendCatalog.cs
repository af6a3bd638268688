using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Backends.Reference;

namespace ConvViz.Cli;

/// <summary>The backends the command line can create by name (--backend NAME).</summary>
public static class BackendCatalog
{
    private static readonly (string Name, string Summary, Func<Backend> Create)[] Entries =
    [
        ("cpu", "SIMD kernels on every core (default)", () => new CpuBackend()),
        ("reference", "plain loops, single thread: the correctness baseline", () => new ReferenceBackend()),
    ];

    public static IEnumerable<(string Name, string Summary)> All => Entries.Select(e => (e.Name, e.Summary));

    public static Backend Create(string name)
    {
        foreach (var entry in Entries)
            if (string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase))
                return entry.Create();
        throw new UserError($"unknown backend '{name}'; expected one of: {string.Join(", ", Entries.Select(e => e.Name))}");
    }
}

/// <summary>A problem with what the user asked for: reported as one line, exit code 2.</summary>
public sealed class UserError(string message) : Exception(message);
