using System.Runtime.CompilerServices;
using ConvViz.Engine.Tensors;
using ConvViz.OpenCL.Native;
using static ConvViz.OpenCL.Native.OpenCLNative;

namespace ConvViz.OpenCL;

/// <summary>A cl_mem of 4-byte elements owned by one <see cref="OpenCLContext"/>.</summary>
internal sealed class OpenCLBuffer : DeviceBuffer
{
    internal OpenCLBuffer(OpenCLContext context, nint handle, long elementCount) : base(elementCount)
    {
        Context = context;
        Handle = handle;
    }

    public OpenCLContext Context { get; }
    internal nint Handle { get; }
    public long ByteCount => ElementCount * sizeof(float);

    protected override void Release() => Check(clReleaseMemObject(Handle), "clReleaseMemObject");
}

/// <summary>One kernel run's device time (profiling END - START).</summary>
public readonly record struct KernelTiming(string Kernel, long Nanoseconds);

/// <summary>A kernel of a built program, cached and owned by its <see cref="OpenCLContext"/>.</summary>
internal sealed class OpenCLKernel
{
    internal OpenCLKernel(string sourceName, string name, nint handle)
    {
        SourceName = sourceName;
        Name = name;
        Handle = handle;
    }

    public string SourceName { get; }
    public string Name { get; }
    internal nint Handle { get; }
}

/// <summary>One kernel argument: a buffer, an int, a uint, a float, or a size of local memory.</summary>
internal readonly struct KernelArg
{
    private enum Kind : byte { Buffer, Int, UInt, Float, Local }

    private readonly Kind kind;
    private readonly OpenCLBuffer? buffer;
    private readonly int intValue;
    private readonly float floatValue;
    private readonly long localBytes;

    private KernelArg(Kind kind, OpenCLBuffer? buffer = null, int intValue = 0, float floatValue = 0, long localBytes = 0)
    {
        this.kind = kind;
        this.buffer = buffer;
        this.intValue = intValue;
        this.floatValue = floatValue;
        this.localBytes = localBytes;
    }

    public static implicit operator KernelArg(OpenCLBuffer buffer) =>
        new(Kind.Buffer, buffer: buffer ?? throw new ArgumentNullException(nameof(buffer)));
    public static implicit operator KernelArg(int value) => new(Kind.Int, intValue: value);
    public static implicit operator KernelArg(uint value) => new(Kind.UInt, intValue: unchecked((int)value));
    public static implicit operator KernelArg(float value) => new(Kind.Float, floatValue: value);

    /// <summary>A <c>LOCAL</c> pointer argument with <paramref name="bytes"/> of local memory.</summary>
    public static KernelArg Local(long bytes) =>
        bytes > 0 ? new(Kind.Local, localBytes: bytes) : throw new ArgumentOutOfRangeException(nameof(bytes));

    internal unsafe void Set(OpenCLContext context, nint kernel, uint index)
    {
        int err;
        switch (kind)
        {
            case Kind.Buffer:
                if (buffer!.IsDisposed) throw new ObjectDisposedException(nameof(OpenCLBuffer));
                if (buffer.Context != context)
                    throw new ArgumentException($"kernel argument {index}: buffer belongs to another OpenCL context");
                nint mem = buffer.Handle;
                err = clSetKernelArg(kernel, index, (nuint)sizeof(nint), &mem);
                break;
            case Kind.Int:
            case Kind.UInt:
                int i = intValue;
                err = clSetKernelArg(kernel, index, sizeof(int), &i);
                break;
            case Kind.Float:
                float f = floatValue;
                err = clSetKernelArg(kernel, index, sizeof(float), &f);
                break;
            default:
                err = clSetKernelArg(kernel, index, (nuint)localBytes, null);
                break;
        }
        if (err != CL_SUCCESS) throw new OpenCLException("clSetKernelArg", err, $"argument {index} ({kind})");
    }
}

/// <summary>
/// An OpenCL context and an in-order, profiling command queue on one device, with buffer
/// transfers, program building and a kernel cache keyed by (source name, kernel name).
/// </summary>
internal sealed unsafe class OpenCLContext : IDisposable
{
    private readonly nint context;
    private readonly nint queue;
    private readonly object gate = new();
    private readonly Dictionary<string, nint> programs = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Source, string Kernel), OpenCLKernel> kernels = new();
    private List<(string Kernel, nint Event)>? recording;
    private bool disposed;

    /// <summary>Opens device <paramref name="deviceIndex"/> of <see cref="OpenCLDevices.List"/>.</summary>
    public OpenCLContext(int deviceIndex = 0)
    {
        var devices = OpenCLDevices.List();
        if ((uint)deviceIndex >= (uint)devices.Count)
            throw new ArgumentOutOfRangeException(nameof(deviceIndex),
                $"OpenCL device index {deviceIndex} is out of range: {devices.Count} device(s) found");
        Device = devices[deviceIndex];

        nint device = Device.Device;
        nint* properties = stackalloc nint[3];
        properties[0] = 0x1084; // CL_CONTEXT_PLATFORM
        properties[1] = Device.Platform;
        properties[2] = 0;
        int err;
        context = clCreateContext(properties, 1, &device, 0, null, &err);
        Check(err, "clCreateContext");
        queue = clCreateCommandQueue(context, device, CL_QUEUE_PROFILING_ENABLE, &err);
        if (err != CL_SUCCESS)
        {
            clReleaseContext(context);
            throw new OpenCLException("clCreateCommandQueue", err);
        }
    }

    public OpenCLDeviceInfo Device { get; }

    // ---- buffers -----------------------------------------------------------------------------

    /// <summary>An uninitialised read-write buffer of <paramref name="elementCount"/> 4-byte elements.</summary>
    public OpenCLBuffer CreateBuffer(long elementCount)
    {
        ThrowIfDisposed();
        if (elementCount <= 0)
            throw new ArgumentOutOfRangeException(nameof(elementCount), "an OpenCL buffer needs at least one element");
        int err;
        nint mem = clCreateBuffer(context, CL_MEM_READ_WRITE, (nuint)(elementCount * 4), null, &err);
        Check(err, "clCreateBuffer");
        return new OpenCLBuffer(this, mem, elementCount);
    }

    /// <summary>A buffer holding a copy of <paramref name="data"/>.</summary>
    public OpenCLBuffer CreateBuffer<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var buffer = CreateBuffer(data.Length);
        try { Write(buffer, data); }
        catch { buffer.Dispose(); throw; }
        return buffer;
    }

    /// <summary>Blocking write of <paramref name="source"/> (4-byte elements: float, int, uint)
    /// into <paramref name="destination"/> starting at element <paramref name="offset"/>.</summary>
    public void Write<T>(OpenCLBuffer destination, ReadOnlySpan<T> source, long offset = 0) where T : unmanaged
    {
        CheckElement<T>();
        CheckRange(destination, offset, source.Length);
        if (source.Length == 0) return;
        fixed (T* p = source)
            Check(clEnqueueWriteBuffer(queue, destination.Handle, CL_TRUE, (nuint)(offset * 4),
                (nuint)(source.Length * 4L), p, 0, null, null), "clEnqueueWriteBuffer");
    }

    /// <summary>Blocking read of <paramref name="destination"/>.Length elements from
    /// <paramref name="source"/> starting at element <paramref name="offset"/>; waits for all
    /// earlier commands on the queue.</summary>
    public void Read<T>(OpenCLBuffer source, Span<T> destination, long offset = 0) where T : unmanaged
    {
        CheckElement<T>();
        CheckRange(source, offset, destination.Length);
        if (destination.Length == 0) return;
        fixed (T* p = destination)
            Check(clEnqueueReadBuffer(queue, source.Handle, CL_TRUE, (nuint)(offset * 4),
                (nuint)(destination.Length * 4L), p, 0, null, null), "clEnqueueReadBuffer");
    }

    /// <summary>Reads the whole buffer into a new array.</summary>
    public T[] Read<T>(OpenCLBuffer source) where T : unmanaged
    {
        var result = new T[checked((int)source.ElementCount)];
        Read<T>(source, result);
        return result;
    }

    /// <summary>Enqueues a device-side copy of <paramref name="count"/> elements.</summary>
    public void Copy(OpenCLBuffer source, OpenCLBuffer destination, long count, long sourceOffset = 0, long destinationOffset = 0)
    {
        CheckRange(source, sourceOffset, count);
        CheckRange(destination, destinationOffset, count);
        if (count == 0) return;
        nint evt;
        Check(clEnqueueCopyBuffer(queue, source.Handle, destination.Handle, (nuint)(sourceOffset * 4),
            (nuint)(destinationOffset * 4), (nuint)(count * 4), 0, null, &evt), "clEnqueueCopyBuffer");
        Track("clEnqueueCopyBuffer", evt);
    }

    /// <summary>Enqueues filling <paramref name="count"/> elements (all from
    /// <paramref name="offset"/> when negative) with <paramref name="value"/>.</summary>
    public void Fill(OpenCLBuffer destination, float value, long offset = 0, long count = -1) =>
        FillPattern(destination, BitConverter.SingleToInt32Bits(value), offset, count);

    /// <inheritdoc cref="Fill(OpenCLBuffer, float, long, long)"/>
    public void Fill(OpenCLBuffer destination, int value, long offset = 0, long count = -1) =>
        FillPattern(destination, value, offset, count);

    private void FillPattern(OpenCLBuffer destination, int pattern, long offset, long count)
    {
        if (count < 0) count = destination.ElementCount - offset;
        CheckRange(destination, offset, count);
        if (count == 0) return;
        nint evt;
        Check(clEnqueueFillBuffer(queue, destination.Handle, &pattern, sizeof(int), (nuint)(offset * 4),
            (nuint)(count * 4), 0, null, &evt), "clEnqueueFillBuffer");
        Track("clEnqueueFillBuffer", evt);
    }

    /// <summary>Blocks until every enqueued command has finished.</summary>
    public void Finish()
    {
        ThrowIfDisposed();
        Check(clFinish(queue), "clFinish");
    }

    // ---- programs & kernels ------------------------------------------------------------------

    /// <summary>The cached kernel <paramref name="kernelName"/> of the embedded source
    /// <paramref name="sourceName"/> (e.g. "prelude_ids.cl"), built with portability.h prepended.</summary>
    public OpenCLKernel GetKernel(string sourceName, string kernelName) =>
        GetKernel(sourceName, kernelName, () => KernelSources.Get(sourceName));

    /// <summary>The cached kernel <paramref name="kernelName"/> of a program built from
    /// <paramref name="sourceText"/> (used as given) and cached under <paramref name="sourceName"/>.</summary>
    public OpenCLKernel GetKernel(string sourceName, string kernelName, string sourceText) =>
        GetKernel(sourceName, kernelName, () => sourceText);

    private OpenCLKernel GetKernel(string sourceName, string kernelName, Func<string> sourceText)
    {
        lock (gate)
        {
            ThrowIfDisposed();
            if (kernels.TryGetValue((sourceName, kernelName), out var cached)) return cached;
            if (!programs.TryGetValue(sourceName, out nint program))
            {
                program = BuildProgram(sourceName, sourceText());
                programs.Add(sourceName, program);
            }
            var nameBytes = ToCString(kernelName);
            int err;
            nint handle;
            fixed (byte* n = nameBytes) handle = clCreateKernel(program, n, &err);
            if (err != CL_SUCCESS)
                throw new OpenCLException("clCreateKernel", err, $"kernel '{kernelName}' in '{sourceName}'");
            var kernel = new OpenCLKernel(sourceName, kernelName, handle);
            kernels.Add((sourceName, kernelName), kernel);
            return kernel;
        }
    }

    /// <summary>Builds a program; on failure the exception message carries the full build log.</summary>
    private nint BuildProgram(string sourceName, string source, string options = "-cl-std=CL1.2")
    {
        var sourceBytes = ToCString(source);
        var optionBytes = ToCString(options);
        int err;
        nint program;
        fixed (byte* s = sourceBytes)
        {
            byte* strings = s;
            nuint length = (nuint)(sourceBytes.Length - 1);
            program = clCreateProgramWithSource(context, 1, &strings, &length, &err);
        }
        Check(err, "clCreateProgramWithSource");

        nint device = Device.Device;
        fixed (byte* o = optionBytes) err = clBuildProgram(program, 1, &device, o, 0, null);
        if (err != CL_SUCCESS)
        {
            string log = BuildLog(program);
            clReleaseProgram(program);
            throw new OpenCLException("clBuildProgram", err, $"build log for '{sourceName}':{Environment.NewLine}{log}");
        }
        return program;
    }

    private string BuildLog(nint program)
    {
        nuint size;
        if (clGetProgramBuildInfo(program, Device.Device, CL_PROGRAM_BUILD_LOG, 0, null, &size) != CL_SUCCESS)
            return "(build log unavailable)";
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes)
            if (clGetProgramBuildInfo(program, Device.Device, CL_PROGRAM_BUILD_LOG, size, p, null) != CL_SUCCESS)
                return "(build log unavailable)";
        return DecodeCString(bytes);
    }

    /// <summary>
    /// Runs <paramref name="kernel"/> over the NDRange <paramref name="global"/> (1 to 3 sizes) with
    /// work-groups of <paramref name="local"/> (same rank, or empty to let the runtime choose), waits
    /// for it, and returns its device time in nanoseconds (profiling END - START).
    /// </summary>
    public long Launch(OpenCLKernel kernel, ReadOnlySpan<long> global, ReadOnlySpan<long> local, params ReadOnlySpan<KernelArg> args)
    {
        nint evt = EnqueueCore(kernel, global, local, args);
        try
        {
            Check(clWaitForEvents(1, &evt), "clWaitForEvents");
            return DeviceNanoseconds(evt);
        }
        finally
        {
            clReleaseEvent(evt);
        }
    }

    /// <summary>
    /// Enqueues <paramref name="kernel"/> like <see cref="Launch"/> without waiting: the in-order
    /// queue runs it after everything enqueued before. While <see cref="StartRecording"/> is on, its
    /// event is kept so <see cref="StopRecording"/> can report its device time.
    /// </summary>
    public void Enqueue(OpenCLKernel kernel, ReadOnlySpan<long> global, ReadOnlySpan<long> local, params ReadOnlySpan<KernelArg> args)
    {
        Track(kernel.Name, EnqueueCore(kernel, global, local, args));
    }

    /// <summary>Keeps a command's event for <see cref="StopRecording"/> while recording, else releases it.</summary>
    private void Track(string command, nint evt)
    {
        lock (gate)
        {
            if (recording is not null) recording.Add((command, evt));
            else clReleaseEvent(evt);
        }
    }

    /// <summary>From now on every <see cref="Enqueue"/>, <see cref="Copy"/> and <see cref="Fill(OpenCLBuffer, float, long, long)"/>
    /// keeps its event for <see cref="StopRecording"/>.</summary>
    public void StartRecording()
    {
        lock (gate)
        {
            ThrowIfDisposed();
            if (recording is not null) throw new InvalidOperationException("kernel recording is already on");
            recording = [];
        }
    }

    /// <summary>Waits for the queue and returns every kernel (or copy, or fill) enqueued since <see cref="StartRecording"/>
    /// with its device time in nanoseconds, in issue order.</summary>
    public IReadOnlyList<KernelTiming> StopRecording()
    {
        List<(string Kernel, nint Event)> events;
        lock (gate)
        {
            events = recording ?? throw new InvalidOperationException("kernel recording is not on");
            recording = null;
        }
        Finish();
        var timings = new List<KernelTiming>(events.Count);
        foreach (var (name, evt) in events)
        {
            try { timings.Add(new KernelTiming(name, DeviceNanoseconds(evt))); }
            finally { clReleaseEvent(evt); }
        }
        return timings;
    }

    private nint EnqueueCore(OpenCLKernel kernel, ReadOnlySpan<long> global, ReadOnlySpan<long> local, ReadOnlySpan<KernelArg> args)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (global.Length is < 1 or > 3)
            throw new ArgumentException($"an NDRange has 1 to 3 dimensions, got {global.Length}", nameof(global));
        if (local.Length != 0 && local.Length != global.Length)
            throw new ArgumentException($"local range has {local.Length} dimensions, global has {global.Length}", nameof(local));

        nuint* g = stackalloc nuint[3];
        nuint* l = stackalloc nuint[3];
        for (int d = 0; d < global.Length; d++)
        {
            if (global[d] <= 0) throw new ArgumentOutOfRangeException(nameof(global), $"global size {global[d]} in dimension {d}");
            g[d] = (nuint)global[d];
            if (local.Length != 0)
            {
                if (local[d] <= 0 || global[d] % local[d] != 0)
                    throw new ArgumentException($"local size {local[d]} does not divide global size {global[d]} in dimension {d}", nameof(local));
                l[d] = (nuint)local[d];
            }
        }

        nint evt;
        lock (kernel)
        {
            ThrowIfDisposed();
            for (int i = 0; i < args.Length; i++) args[i].Set(this, kernel.Handle, (uint)i);
            int err = clEnqueueNDRangeKernel(queue, kernel.Handle, (uint)global.Length, null, g,
                local.Length == 0 ? null : l, 0, null, &evt);
            if (err != CL_SUCCESS) throw new OpenCLException("clEnqueueNDRangeKernel", err, $"kernel '{kernel.Name}'");
        }
        return evt;
    }

    private static long DeviceNanoseconds(nint evt)
    {
        ulong start, end;
        Check(clGetEventProfilingInfo(evt, CL_PROFILING_COMMAND_START, sizeof(ulong), &start, null), "clGetEventProfilingInfo");
        Check(clGetEventProfilingInfo(evt, CL_PROFILING_COMMAND_END, sizeof(ulong), &end, null), "clGetEventProfilingInfo");
        return (long)(end - start);
    }

    // ---- plumbing ----------------------------------------------------------------------------

    private void CheckRange(OpenCLBuffer buffer, long offset, long count)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(buffer);
        ObjectDisposedException.ThrowIf(buffer.IsDisposed, buffer);
        if (buffer.Context != this) throw new ArgumentException("the buffer belongs to another OpenCL context");
        if (offset < 0 || count < 0 || offset + count > buffer.ElementCount)
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"elements [{offset}, {offset + count}) are outside a buffer of {buffer.ElementCount}");
    }

    private static void CheckElement<T>() where T : unmanaged
    {
        if (Unsafe.SizeOf<T>() != 4)
            throw new ArgumentException($"OpenCL buffers hold 4-byte elements; {typeof(T).Name} is {Unsafe.SizeOf<T>()} bytes");
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);

    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            clFinish(queue);
            foreach (var (_, evt) in recording ?? []) clReleaseEvent(evt);
            recording = null;
            foreach (var kernel in kernels.Values) clReleaseKernel(kernel.Handle);
            foreach (var program in programs.Values) clReleaseProgram(program);
            kernels.Clear();
            programs.Clear();
            clReleaseCommandQueue(queue);
            clReleaseContext(context);
        }
    }
}
