using System.Runtime.InteropServices;

namespace ConvViz.OpenCL.Native;

/// <summary>An OpenCL call returned an error code (or the runtime reported a failure).</summary>
public class OpenCLException : Exception
{
    public OpenCLException(string call, int errorCode, string? detail = null)
        : base(Format(call, errorCode, detail))
    {
        Call = call;
        ErrorCode = errorCode;
    }

    /// <summary>The OpenCL function that failed, e.g. "clBuildProgram".</summary>
    public string Call { get; }

    /// <summary>The raw cl_int error code, e.g. -11.</summary>
    public int ErrorCode { get; }

    private static string Format(string call, int errorCode, string? detail)
    {
        string message = $"{call} failed: {OpenCLNative.ErrorName(errorCode)} ({errorCode})";
        return string.IsNullOrEmpty(detail) ? message : message + Environment.NewLine + detail;
    }
}

/// <summary>
/// Thin OpenCL 1.2 bindings against the ICD loader. Handles are plain <see cref="nint"/>s; every
/// parameter is blittable so no marshalling happens. Callers check results with <see cref="Check"/>.
/// </summary>
internal static unsafe partial class OpenCLNative
{
    public const string Library = "libOpenCL.so.1";

    // ---- error codes -------------------------------------------------------------------------
    public const int CL_SUCCESS = 0;
    public const int CL_DEVICE_NOT_FOUND = -1;
    public const int CL_BUILD_PROGRAM_FAILURE = -11;
    public const int CL_PLATFORM_NOT_FOUND_KHR = -1001;

    // ---- cl_bool -----------------------------------------------------------------------------
    public const uint CL_FALSE = 0;
    public const uint CL_TRUE = 1;

    // ---- cl_platform_info --------------------------------------------------------------------
    public const uint CL_PLATFORM_PROFILE = 0x0900;
    public const uint CL_PLATFORM_VERSION = 0x0901;
    public const uint CL_PLATFORM_NAME = 0x0902;
    public const uint CL_PLATFORM_VENDOR = 0x0903;

    // ---- cl_device_type (bitfield) -----------------------------------------------------------
    public const ulong CL_DEVICE_TYPE_DEFAULT = 1UL << 0;
    public const ulong CL_DEVICE_TYPE_CPU = 1UL << 1;
    public const ulong CL_DEVICE_TYPE_GPU = 1UL << 2;
    public const ulong CL_DEVICE_TYPE_ACCELERATOR = 1UL << 3;
    public const ulong CL_DEVICE_TYPE_CUSTOM = 1UL << 4;
    public const ulong CL_DEVICE_TYPE_ALL = 0xFFFFFFFFUL;

    // ---- cl_device_info ----------------------------------------------------------------------
    public const uint CL_DEVICE_TYPE = 0x1000;
    public const uint CL_DEVICE_MAX_COMPUTE_UNITS = 0x1002;
    public const uint CL_DEVICE_MAX_WORK_ITEM_DIMENSIONS = 0x1003;
    public const uint CL_DEVICE_MAX_WORK_GROUP_SIZE = 0x1004;
    public const uint CL_DEVICE_MAX_WORK_ITEM_SIZES = 0x1005;
    public const uint CL_DEVICE_MAX_MEM_ALLOC_SIZE = 0x1010;
    public const uint CL_DEVICE_GLOBAL_MEM_SIZE = 0x101F;
    public const uint CL_DEVICE_LOCAL_MEM_SIZE = 0x1023;
    public const uint CL_DEVICE_NAME = 0x102B;
    public const uint CL_DEVICE_VENDOR = 0x102C;
    public const uint CL_DRIVER_VERSION = 0x102D;
    public const uint CL_DEVICE_VERSION = 0x102F;

    // ---- cl_command_queue_properties ---------------------------------------------------------
    public const ulong CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE = 1UL << 0;
    public const ulong CL_QUEUE_PROFILING_ENABLE = 1UL << 1;

    // ---- cl_mem_flags ------------------------------------------------------------------------
    public const ulong CL_MEM_READ_WRITE = 1UL << 0;
    public const ulong CL_MEM_WRITE_ONLY = 1UL << 1;
    public const ulong CL_MEM_READ_ONLY = 1UL << 2;
    public const ulong CL_MEM_COPY_HOST_PTR = 1UL << 5;

    // ---- cl_program_build_info ---------------------------------------------------------------
    public const uint CL_PROGRAM_BUILD_STATUS = 0x1181;
    public const uint CL_PROGRAM_BUILD_OPTIONS = 0x1182;
    public const uint CL_PROGRAM_BUILD_LOG = 0x1183;

    // ---- cl_profiling_info -------------------------------------------------------------------
    public const uint CL_PROFILING_COMMAND_QUEUED = 0x1280;
    public const uint CL_PROFILING_COMMAND_SUBMIT = 0x1281;
    public const uint CL_PROFILING_COMMAND_START = 0x1282;
    public const uint CL_PROFILING_COMMAND_END = 0x1283;

    private static readonly Dictionary<int, string> ErrorNames = new()
    {
        [0] = "CL_SUCCESS",
        [-1] = "CL_DEVICE_NOT_FOUND",
        [-2] = "CL_DEVICE_NOT_AVAILABLE",
        [-3] = "CL_COMPILER_NOT_AVAILABLE",
        [-4] = "CL_MEM_OBJECT_ALLOCATION_FAILURE",
        [-5] = "CL_OUT_OF_RESOURCES",
        [-6] = "CL_OUT_OF_HOST_MEMORY",
        [-7] = "CL_PROFILING_INFO_NOT_AVAILABLE",
        [-8] = "CL_MEM_COPY_OVERLAP",
        [-9] = "CL_IMAGE_FORMAT_MISMATCH",
        [-10] = "CL_IMAGE_FORMAT_NOT_SUPPORTED",
        [-11] = "CL_BUILD_PROGRAM_FAILURE",
        [-12] = "CL_MAP_FAILURE",
        [-13] = "CL_MISALIGNED_SUB_BUFFER_OFFSET",
        [-14] = "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
        [-15] = "CL_COMPILE_PROGRAM_FAILURE",
        [-16] = "CL_LINKER_NOT_AVAILABLE",
        [-17] = "CL_LINK_PROGRAM_FAILURE",
        [-18] = "CL_DEVICE_PARTITION_FAILED",
        [-19] = "CL_KERNEL_ARG_INFO_NOT_AVAILABLE",
        [-30] = "CL_INVALID_VALUE",
        [-31] = "CL_INVALID_DEVICE_TYPE",
        [-32] = "CL_INVALID_PLATFORM",
        [-33] = "CL_INVALID_DEVICE",
        [-34] = "CL_INVALID_CONTEXT",
        [-35] = "CL_INVALID_QUEUE_PROPERTIES",
        [-36] = "CL_INVALID_COMMAND_QUEUE",
        [-37] = "CL_INVALID_HOST_PTR",
        [-38] = "CL_INVALID_MEM_OBJECT",
        [-39] = "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR",
        [-40] = "CL_INVALID_IMAGE_SIZE",
        [-41] = "CL_INVALID_SAMPLER",
        [-42] = "CL_INVALID_BINARY",
        [-43] = "CL_INVALID_BUILD_OPTIONS",
        [-44] = "CL_INVALID_PROGRAM",
        [-45] = "CL_INVALID_PROGRAM_EXECUTABLE",
        [-46] = "CL_INVALID_KERNEL_NAME",
        [-47] = "CL_INVALID_KERNEL_DEFINITION",
        [-48] = "CL_INVALID_KERNEL",
        [-49] = "CL_INVALID_ARG_INDEX",
        [-50] = "CL_INVALID_ARG_VALUE",
        [-51] = "CL_INVALID_ARG_SIZE",
        [-52] = "CL_INVALID_KERNEL_ARGS",
        [-53] = "CL_INVALID_WORK_DIMENSION",
        [-54] = "CL_INVALID_WORK_GROUP_SIZE",
        [-55] = "CL_INVALID_WORK_ITEM_SIZE",
        [-56] = "CL_INVALID_GLOBAL_OFFSET",
        [-57] = "CL_INVALID_EVENT_WAIT_LIST",
        [-58] = "CL_INVALID_EVENT",
        [-59] = "CL_INVALID_OPERATION",
        [-60] = "CL_INVALID_GL_OBJECT",
        [-61] = "CL_INVALID_BUFFER_SIZE",
        [-62] = "CL_INVALID_MIP_LEVEL",
        [-63] = "CL_INVALID_GLOBAL_WORK_SIZE",
        [-64] = "CL_INVALID_PROPERTY",
        [-65] = "CL_INVALID_IMAGE_DESCRIPTOR",
        [-66] = "CL_INVALID_COMPILER_OPTIONS",
        [-67] = "CL_INVALID_LINKER_OPTIONS",
        [-68] = "CL_INVALID_DEVICE_PARTITION_COUNT",
        [-1001] = "CL_PLATFORM_NOT_FOUND_KHR",
    };

    /// <summary>The symbolic name of an OpenCL error code, or "CL_UNKNOWN_ERROR".</summary>
    public static string ErrorName(int errorCode) =>
        ErrorNames.TryGetValue(errorCode, out var name) ? name : "CL_UNKNOWN_ERROR";

    /// <summary>Throws <see cref="OpenCLException"/> naming <paramref name="call"/> unless
    /// <paramref name="errorCode"/> is CL_SUCCESS.</summary>
    public static void Check(int errorCode, string call)
    {
        if (errorCode != CL_SUCCESS) throw new OpenCLException(call, errorCode);
    }

    // ---- platforms & devices -----------------------------------------------------------------
    [LibraryImport(Library)]
    public static partial int clGetPlatformIDs(uint numEntries, nint* platforms, uint* numPlatforms);

    [LibraryImport(Library)]
    public static partial int clGetPlatformInfo(nint platform, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    [LibraryImport(Library)]
    public static partial int clGetDeviceIDs(nint platform, ulong deviceType, uint numEntries, nint* devices, uint* numDevices);

    [LibraryImport(Library)]
    public static partial int clGetDeviceInfo(nint device, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseDevice(nint device);

    // ---- context & queue ---------------------------------------------------------------------
    [LibraryImport(Library)]
    public static partial nint clCreateContext(nint* properties, uint numDevices, nint* devices, nint pfnNotify, void* userData, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseContext(nint context);

    /// <summary>The OpenCL 1.2 queue constructor (deprecated in 2.0 but present in every loader).</summary>
    [LibraryImport(Library)]
    public static partial nint clCreateCommandQueue(nint context, nint device, ulong properties, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseCommandQueue(nint queue);

    [LibraryImport(Library)]
    public static partial int clFinish(nint queue);

    // ---- buffers -----------------------------------------------------------------------------
    [LibraryImport(Library)]
    public static partial nint clCreateBuffer(nint context, ulong flags, nuint size, void* hostPtr, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseMemObject(nint memobj);

    [LibraryImport(Library)]
    public static partial int clEnqueueWriteBuffer(nint queue, nint buffer, uint blockingWrite, nuint offset, nuint size, void* ptr, uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clEnqueueReadBuffer(nint queue, nint buffer, uint blockingRead, nuint offset, nuint size, void* ptr, uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clEnqueueCopyBuffer(nint queue, nint srcBuffer, nint dstBuffer, nuint srcOffset, nuint dstOffset, nuint size, uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clEnqueueFillBuffer(nint queue, nint buffer, void* pattern, nuint patternSize, nuint offset, nuint size, uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    // ---- programs & kernels ------------------------------------------------------------------
    [LibraryImport(Library)]
    public static partial nint clCreateProgramWithSource(nint context, uint count, byte** strings, nuint* lengths, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clBuildProgram(nint program, uint numDevices, nint* deviceList, byte* options, nint pfnNotify, void* userData);

    [LibraryImport(Library)]
    public static partial int clGetProgramBuildInfo(nint program, nint device, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseProgram(nint program);

    [LibraryImport(Library)]
    public static partial nint clCreateKernel(nint program, byte* kernelName, int* errcodeRet);

    [LibraryImport(Library)]
    public static partial int clSetKernelArg(nint kernel, uint argIndex, nuint argSize, void* argValue);

    [LibraryImport(Library)]
    public static partial int clReleaseKernel(nint kernel);

    [LibraryImport(Library)]
    public static partial int clEnqueueNDRangeKernel(nint queue, nint kernel, uint workDim, nuint* globalWorkOffset, nuint* globalWorkSize, nuint* localWorkSize, uint numEventsInWaitList, nint* eventWaitList, nint* evt);

    // ---- events ------------------------------------------------------------------------------
    [LibraryImport(Library)]
    public static partial int clWaitForEvents(uint numEvents, nint* eventList);

    [LibraryImport(Library)]
    public static partial int clGetEventProfilingInfo(nint evt, uint paramName, nuint paramValueSize, void* paramValue, nuint* paramValueSizeRet);

    [LibraryImport(Library)]
    public static partial int clReleaseEvent(nint evt);

    // ---- small helpers for info queries ------------------------------------------------------

    /// <summary>Reads a string-valued platform parameter.</summary>
    public static string GetPlatformString(nint platform, uint param)
    {
        nuint size;
        Check(clGetPlatformInfo(platform, param, 0, null, &size), "clGetPlatformInfo");
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes) Check(clGetPlatformInfo(platform, param, size, p, null), "clGetPlatformInfo");
        return DecodeCString(bytes);
    }

    /// <summary>Reads a string-valued device parameter.</summary>
    public static string GetDeviceString(nint device, uint param)
    {
        nuint size;
        Check(clGetDeviceInfo(device, param, 0, null, &size), "clGetDeviceInfo");
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes) Check(clGetDeviceInfo(device, param, size, p, null), "clGetDeviceInfo");
        return DecodeCString(bytes);
    }

    /// <summary>Reads a fixed-size (unmanaged) device parameter such as cl_uint, cl_ulong, size_t.</summary>
    public static T GetDeviceValue<T>(nint device, uint param) where T : unmanaged
    {
        T value = default;
        Check(clGetDeviceInfo(device, param, (nuint)sizeof(T), &value, null), "clGetDeviceInfo");
        return value;
    }

    /// <summary>UTF-8 bytes of <paramref name="text"/> with a terminating NUL.</summary>
    public static byte[] ToCString(string text)
    {
        int count = System.Text.Encoding.UTF8.GetByteCount(text);
        var bytes = new byte[count + 1];
        System.Text.Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
        return bytes;
    }

    public static string DecodeCString(byte[] bytes)
    {
        int end = Array.IndexOf(bytes, (byte)0);
        if (end < 0) end = bytes.Length;
        return System.Text.Encoding.UTF8.GetString(bytes, 0, end).Trim();
    }
}
