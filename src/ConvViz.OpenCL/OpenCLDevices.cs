using ConvViz.OpenCL.Native;
using static ConvViz.OpenCL.Native.OpenCLNative;

namespace ConvViz.OpenCL;

/// <summary>No usable OpenCL platform or device on this machine (or no ICD loader at all).</summary>
public sealed class OpenCLUnavailableException : Exception
{
    public const string InstallHint =
        "install an OpenCL driver, e.g. `apt-get install ocl-icd-libopencl1 pocl-opencl-icd`";

    public OpenCLUnavailableException(string what, Exception? inner = null)
        : base($"{what}: {InstallHint}", inner) { }
}

/// <summary>One OpenCL device as discovered on this machine.</summary>
/// <param name="Index">Position in <see cref="OpenCLDevices.List"/>; pass it to <see cref="OpenCLContext"/>.</param>
public sealed record OpenCLDeviceInfo(
    int Index,
    string PlatformName,
    string DeviceName,
    string DeviceType,
    int ComputeUnits,
    long GlobalMemoryBytes,
    long MaxWorkGroupSize,
    string OpenCLVersion)
{
    internal nint Platform { get; init; }
    internal nint Device { get; init; }

    public override string ToString() =>
        $"[{Index}] {PlatformName} / {DeviceName} ({DeviceType}, {ComputeUnits} CU, " +
        $"{GlobalMemoryBytes / (1024 * 1024)} MiB, max work-group {MaxWorkGroupSize}, {OpenCLVersion})";
}

/// <summary>Discovery of every OpenCL device on every platform.</summary>
public static unsafe class OpenCLDevices
{
    /// <summary>
    /// Every device of every platform, in platform order then device order. Throws
    /// <see cref="OpenCLUnavailableException"/> (one line, with the packages to install) when the
    /// loader library is missing or there is no platform or no device.
    /// </summary>
    public static IReadOnlyList<OpenCLDeviceInfo> List()
    {
        nint[] platforms;
        try
        {
            platforms = GetPlatforms();
        }
        catch (DllNotFoundException e)
        {
            throw new OpenCLUnavailableException("no OpenCL platform found", e);
        }
        if (platforms.Length == 0) throw new OpenCLUnavailableException("no OpenCL platform found");

        var result = new List<OpenCLDeviceInfo>();
        foreach (nint platform in platforms)
        {
            string platformName = GetPlatformString(platform, CL_PLATFORM_NAME);
            foreach (nint device in GetDevices(platform))
            {
                result.Add(new OpenCLDeviceInfo(
                    result.Count,
                    platformName,
                    GetDeviceString(device, CL_DEVICE_NAME),
                    TypeName(GetDeviceValue<ulong>(device, CL_DEVICE_TYPE)),
                    (int)GetDeviceValue<uint>(device, CL_DEVICE_MAX_COMPUTE_UNITS),
                    (long)GetDeviceValue<ulong>(device, CL_DEVICE_GLOBAL_MEM_SIZE),
                    (long)GetDeviceValue<nuint>(device, CL_DEVICE_MAX_WORK_GROUP_SIZE),
                    GetDeviceString(device, CL_DEVICE_VERSION))
                {
                    Platform = platform,
                    Device = device,
                });
            }
        }
        if (result.Count == 0) throw new OpenCLUnavailableException("no OpenCL device found");
        return result;
    }

    private static nint[] GetPlatforms()
    {
        uint count;
        int err = clGetPlatformIDs(0, null, &count);
        if (err == CL_PLATFORM_NOT_FOUND_KHR) return [];
        Check(err, "clGetPlatformIDs");
        if (count == 0) return [];
        var platforms = new nint[count];
        fixed (nint* p = platforms) Check(clGetPlatformIDs(count, p, null), "clGetPlatformIDs");
        return platforms;
    }

    private static nint[] GetDevices(nint platform)
    {
        uint count;
        int err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, null, &count);
        if (err == CL_DEVICE_NOT_FOUND) return [];
        Check(err, "clGetDeviceIDs");
        if (count == 0) return [];
        var devices = new nint[count];
        fixed (nint* p = devices) Check(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, p, null), "clGetDeviceIDs");
        return devices;
    }

    private static string TypeName(ulong type)
    {
        var names = new List<string>();
        if ((type & CL_DEVICE_TYPE_CPU) != 0) names.Add("CPU");
        if ((type & CL_DEVICE_TYPE_GPU) != 0) names.Add("GPU");
        if ((type & CL_DEVICE_TYPE_ACCELERATOR) != 0) names.Add("Accelerator");
        if ((type & CL_DEVICE_TYPE_CUSTOM) != 0) names.Add("Custom");
        if (names.Count == 0) names.Add((type & CL_DEVICE_TYPE_DEFAULT) != 0 ? "Default" : $"0x{type:x}");
        return string.Join("|", names);
    }
}
