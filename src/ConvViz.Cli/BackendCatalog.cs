using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Backends.Reference;
using ConvViz.OpenCL;

namespace ConvViz.Cli;

/// <summary>The backends the command line can create by name (--backend NAME [--device N]).</summary>
public static class BackendCatalog
{
    private static readonly (string Name, string Summary, bool HasDevices, bool HasThreads, Func<int, int?, Backend> Create)[] Entries =
    [
        ("cpu", "SIMD kernels on every core (default)", false, true, (_, threads) => new CpuBackend(threads)),
        ("reference", "plain loops, single thread: the correctness baseline", false, false, (_, _) => new ReferenceBackend()),
        ("opencl", "hand-written OpenCL kernels on one OpenCL device (--device N, see `convviz devices`)", true, false, (device, _) => new OpenCLBackend(device)),
    ];

    public static IEnumerable<(string Name, string Summary)> All => Entries.Select(e => (e.Name, e.Summary));

    /// <summary>Creates backend <paramref name="name"/>; <paramref name="device"/> picks the device of
    /// a backend that has several (OpenCL) and is an error for the others; <paramref name="threads"/>
    /// sets the worker count of the cpu backend (default: every core).</summary>
    public static Backend Create(string name, int? device = null, int? threads = null)
    {
        foreach (var entry in Entries)
        {
            if (!string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase)) continue;
            if (device is not null && !entry.HasDevices)
                throw new UserError($"--device {device} applies to the opencl backend only, not to '{entry.Name}'");
            if (device < 0) throw new UserError($"--device {device} must be 0 or more (see `convviz devices`)");
            if (threads is not null && !entry.HasThreads)
                throw new UserError($"--threads {threads} applies to the cpu backend only, not to '{entry.Name}'");
            if (threads < 1) throw new UserError($"--threads {threads} must be at least 1");
            try
            {
                return entry.Create(device ?? 0, threads);
            }
            catch (OpenCLUnavailableException e)
            {
                throw new UserError(e.Message);
            }
            catch (ArgumentOutOfRangeException) when (entry.HasDevices)
            {
                throw new UserError($"--device {device} is out of range: {OpenCLDevices.List().Count} OpenCL device(s) found (see `convviz devices`)");
            }
        }
        throw new UserError($"unknown backend '{name}'; expected one of: {string.Join(", ", Entries.Select(e => e.Name))}");
    }
}

/// <summary>A problem with what the user asked for: reported as one line, exit code 2.</summary>
public sealed class UserError(string message) : Exception(message);
