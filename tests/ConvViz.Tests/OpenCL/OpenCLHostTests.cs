using ConvViz.OpenCL;
using ConvViz.OpenCL.Native;

namespace ConvViz.Tests.OpenCL;

/// <summary>
/// The OpenCL host layer on whatever OpenCL device this machine has (PoCL's CPU device in CI).
/// These tests fail, never skip, when no OpenCL driver is installed: the failure message carries
/// the packages to install.
/// </summary>
public sealed class OpenCLHostTests : IDisposable
{
    private OpenCLContext? context;

    private OpenCLContext Context => context ??= new OpenCLContext(0);

    public void Dispose() => context?.Dispose();

    [Fact]
    public void DiscoveryFindsAtLeastOneUsableDevice()
    {
        IReadOnlyList<OpenCLDeviceInfo> devices;
        try
        {
            devices = OpenCLDevices.List();
        }
        catch (OpenCLUnavailableException e)
        {
            Assert.Fail(e.Message);
            return;
        }

        Assert.NotEmpty(devices);
        for (int i = 0; i < devices.Count; i++)
        {
            var d = devices[i];
            Assert.Equal(i, d.Index);
            Assert.False(string.IsNullOrWhiteSpace(d.PlatformName), d.ToString());
            Assert.False(string.IsNullOrWhiteSpace(d.DeviceName), d.ToString());
            Assert.False(string.IsNullOrWhiteSpace(d.DeviceType), d.ToString());
            Assert.True(d.ComputeUnits >= 1, d.ToString());
            Assert.True(d.GlobalMemoryBytes > 0, d.ToString());
            Assert.True(d.MaxWorkGroupSize >= 1, d.ToString());
            Assert.StartsWith("OpenCL ", d.OpenCLVersion);
        }
    }

    [Fact]
    public void UnavailableMessageIsOneLineNamingThePackages()
    {
        var e = new OpenCLUnavailableException("no OpenCL platform found");
        Assert.Equal(
            "no OpenCL platform found: install an OpenCL driver, e.g. `apt-get install ocl-icd-libopencl1 pocl-opencl-icd`",
            e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1001)]
    [InlineData(65537)]
    public void BufferRoundTripWriteReadCopyFill(int length)
    {
        var data = new float[length];
        for (int i = 0; i < length; i++) data[i] = i * 0.25f - 3.5f;

        using var a = Context.CreateBuffer(length);
        using var b = Context.CreateBuffer(length);
        Assert.Equal(length, a.ElementCount);

        Context.Write<float>(a, data);
        Assert.Equal(data, Context.Read<float>(a));

        Context.Copy(a, b, length);
        Assert.Equal(data, Context.Read<float>(b));

        Context.Fill(a, 42.5f);
        Assert.All(Context.Read<float>(a), v => Assert.Equal(42.5f, v));

        // Partial fill and copy with odd offsets.
        if (length >= 7)
        {
            int offset = length / 3, count = length - offset - 1;
            Context.Fill(b, -1f, offset, count);
            var expected = (float[])data.Clone();
            for (int i = offset; i < offset + count; i++) expected[i] = -1f;
            Assert.Equal(expected, Context.Read<float>(b));

            Context.Copy(b, a, count, sourceOffset: offset, destinationOffset: 1);
            var slice = new float[count];
            Context.Read<float>(a, slice, offset: 1);
            Assert.All(slice, v => Assert.Equal(-1f, v));
            Assert.Equal(42.5f, Context.Read<float>(a)[0]);
        }

        // Partial write/read.
        var tail = new float[] { 1f, 2f, 3f };
        if (length >= tail.Length)
        {
            Context.Write<float>(b, tail, offset: length - tail.Length);
            var back = new float[tail.Length];
            Context.Read<float>(b, back, offset: length - tail.Length);
            Assert.Equal(tail, back);
        }
    }

    [Fact]
    public void OutOfRangeTransfersAreRejectedOnTheHost()
    {
        using var a = Context.CreateBuffer(5);
        Assert.Throws<ArgumentOutOfRangeException>(() => Context.Write<float>(a, new float[6]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Context.Read<float>(a, new float[2], offset: 4));
        Assert.Throws<ArgumentException>(() => Context.Write<double>(a, new double[1]));
    }

    [Theory]
    [InlineData(8, 6, 4, 4, 3, 2)]
    [InlineData(6, 4, 10, 3, 1, 5)]
    [InlineData(2, 9, 3, 1, 9, 3)]
    public void PreludeIdsMatchTheHostForEveryWorkItem(int gx, int gy, int gz, int lx, int ly, int lz)
    {
        const int PerItem = 12;
        int items = gx * gy * gz;
        using var output = Context.CreateBuffer(items * PerItem);
        Context.Fill(output, -7);

        var kernel = Context.GetKernel("prelude_ids.cl", "prelude_ids");
        Context.Launch(kernel, [gx, gy, gz], [lx, ly, lz], output);
        var ids = Context.Read<int>(output);

        int[] global = [gx, gy, gz], local = [lx, ly, lz];
        for (int z = 0; z < gz; z++)
        for (int y = 0; y < gy; y++)
        for (int x = 0; x < gx; x++)
        {
            int linear = (z * gy + y) * gx + x;
            int[] g = [x, y, z];
            var expected = new int[PerItem];
            for (int d = 0; d < 3; d++)
            {
                expected[d] = g[d];
                expected[3 + d] = g[d] % local[d];
                expected[6 + d] = g[d] / local[d];
                expected[9 + d] = local[d];
            }
            var actual = ids.AsSpan(linear * PerItem, PerItem).ToArray();
            Assert.True(expected.SequenceEqual(actual),
                $"work-item ({x}, {y}, {z}) of global ({string.Join(", ", global)}): expected " +
                $"[{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
        }
    }

    [Fact]
    public void KernelCacheReturnsTheSameKernel()
    {
        var first = Context.GetKernel("prelude_ids.cl", "prelude_ids");
        var second = Context.GetKernel("prelude_ids.cl", "prelude_ids");
        Assert.Same(first, second);
        Assert.Contains("prelude_ids.cl", KernelSources.Names);
        Assert.Contains("portability.h", KernelSources.Names);
        Assert.StartsWith(KernelSources.Raw("portability.h"), KernelSources.Get("prelude_ids.cl"));
    }

    [Fact]
    public void BuildFailureCarriesTheBuildLog()
    {
        const string source = """
            KERNEL void broken(GLOBAL float* x)
            {
                x[GID(0)] = undeclared_convviz_identifier * 2.0f;
            }
            """;
        var e = Assert.Throws<OpenCLException>(() =>
            Context.GetKernel("broken.cl", "broken", KernelSources.WithPortability(source, "broken.cl")));
        Assert.Equal("clBuildProgram", e.Call);
        Assert.Equal(OpenCLNative.CL_BUILD_PROGRAM_FAILURE, e.ErrorCode);
        Assert.StartsWith("clBuildProgram failed: CL_BUILD_PROGRAM_FAILURE (-11)", e.Message);
        Assert.Contains("undeclared_convviz_identifier", e.Message);
    }

    [Fact]
    public void UnknownKernelNameNamesTheCallAndError()
    {
        var e = Assert.Throws<OpenCLException>(() => Context.GetKernel("prelude_ids.cl", "no_such_kernel"));
        Assert.Contains("clCreateKernel failed: CL_INVALID_KERNEL_NAME (-46)", e.Message);
    }

    [Fact]
    public void KernelLaunchReportsPositiveDeviceTime()
    {
        const string source = """
            KERNEL void busy(GLOBAL float* x, int iterations, float scale)
            {
                const int i = GID(0);
                float v = x[i];
                for (int k = 0; k < iterations; k++) v = v * scale + 1.0f;
                x[i] = v;
            }
            """;
        const int n = 1 << 16;
        var kernel = Context.GetKernel("busy.cl", "busy", KernelSources.WithPortability(source, "busy.cl"));
        using var x = Context.CreateBuffer(n);
        Context.Fill(x, 0f);

        long nanoseconds = Context.Launch(kernel, [n], [], x, 64, 0.5f);
        Assert.True(nanoseconds > 0, $"device time {nanoseconds} ns");

        // v <- v/2 + 1 from 0 converges to 2.
        Assert.All(Context.Read<float>(x), v => Assert.Equal(2f, v, 1e-5f));
    }

    [Fact]
    public void RecordingReportsEveryEnqueuedCommandInOrder()
    {
        using var output = Context.CreateBuffer(8 * 12);
        using var other = Context.CreateBuffer(8 * 12);
        var kernel = Context.GetKernel("prelude_ids.cl", "prelude_ids");
        Context.Enqueue(kernel, [8, 1, 1], [4, 1, 1], output);
        Context.StartRecording();
        Context.Fill(other, 0f);
        Context.Enqueue(kernel, [8, 1, 1], [4, 1, 1], output);
        Context.Copy(output, other, 8 * 12);
        var timings = Context.StopRecording();
        Assert.Equal(["clEnqueueFillBuffer", "prelude_ids", "clEnqueueCopyBuffer"], timings.Select(t => t.Kernel));
        Assert.All(timings, t => Assert.True(t.Nanoseconds >= 0, t.ToString()));
        // The copy ran after the kernel: the queue is in order.
        var ids = Context.Read<int>(other);
        Assert.Equal(7, ids[7 * 12]);
        Assert.Throws<InvalidOperationException>(() => Context.StopRecording());
    }
}
