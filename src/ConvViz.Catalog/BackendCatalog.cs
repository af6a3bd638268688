using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Backends.Reference;
using ConvViz.OpenCL;

namespace ConvViz.Catalog;

/// <summary>The compute backends by name: cpu, reference and opencl, each with a one-line summary.</summary>
public static class BackendCatalog
{
    private static readonly (string Name, string Summary, bool HasDevices, bool HasThreads, Func<int, int?, Backend> Create)[] Entries =
    [
        ("cpu", "SIMD kernels on every core (default)", false, true, (_, threads) => new CpuBackend(threads)),
        ("reference", "plain loops, single thread: the correctness baseline", false, false, (_, _) => new ReferenceBackend()),
        ("opencl", "hand-written OpenCL kernels on one OpenCL device (Device picks it, see OpenCLDevices.List)", true, false, (device, _) => new OpenCLBackend(device)),
    ];

    public static IEnumerable<(string Name, string Summary)> All => Entries.Select(e => (e.Name, e.Summary));

    /// <summary>Creates backend <paramref name="name"/>; <paramref name="device"/> picks the device of
    /// a backend that has several (OpenCL) and is an error for the others; <paramref name="threads"/>
    /// sets the worker count of the cpu backend (default: every core). A backend this machine cannot
    /// run (no OpenCL driver) is a <see cref="NotSupportedException"/> that says what to install.</summary>
    public static Backend Create(string name, int? device = null, int? threads = null)
    {
        foreach (var entry in Entries)
        {
            if (!string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase)) continue;
            if (device is not null && !entry.HasDevices)
                throw new ArgumentException($"Device {device} applies to the opencl backend only, not to '{entry.Name}'", "Device");
            if (device < 0) throw new ArgumentOutOfRangeException("Device", device, $"Device {device} must be 0 or more");
            if (threads is not null && !entry.HasThreads)
                throw new ArgumentException($"Threads {threads} applies to the cpu backend only, not to '{entry.Name}'", "Threads");
            if (threads < 1) throw new ArgumentOutOfRangeException("Threads", threads, $"Threads {threads} must be at least 1");
            try
            {
                return entry.Create(device ?? 0, threads);
            }
            catch (OpenCLUnavailableException e)
            {
                throw new NotSupportedException(e.Message, e);
            }
            catch (ArgumentOutOfRangeException) when (entry.HasDevices)
            {
                throw new ArgumentOutOfRangeException("Device", device, $"Device {device} is out of range: {OpenCLDevices.List().Count} OpenCL device(s) found");
            }
        }
        throw new ArgumentException($"unknown backend '{name}'; expected one of: {string.Join(", ", Entries.Select(e => e.Name))}", nameof(name));
    }
}
