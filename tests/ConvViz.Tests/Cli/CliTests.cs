using ConvViz.Cli;

namespace ConvViz.Tests.Cli;

/// <summary>The README's main job and the command line's error contract, run in process.</summary>
[Collection(CliHarness.Collection)]
public sealed class CliTests
{
    private static (int Exit, string Output, string Error) Run(params string[] args) => CliHarness.Run(args);

    [Theory]
    [InlineData("cpu")]
    [InlineData("reference")]
    [InlineData("opencl")]
    public void ModelInfoPrintsTheLayerTableAndRunsBothPasses(string backend)
    {
        var (exit, output, error) = Run("model", "info", "--model", "alexnet", "--run", "--backend", backend);
        Assert.True(exit == 0, error);
        Assert.Contains("conv1", output);
        Assert.Contains("(1, 96, 55, 55)", output);
        Assert.Contains("60,965,224", output);
        Assert.Contains("724,406,816", output);
        Assert.Contains("1.449 GFLOP", output);
        Assert.Contains("195/32@-64", output);
        Assert.Contains("whole input", output);
        Assert.Contains("forward, batch 1", output);
        Assert.Contains("backward from fc8", output);
        Assert.Contains("backward from conv5", output);
    }

    [Theory]
    [InlineData("unknown backend 'gpu'", "model", "info", "--backend", "gpu")]
    [InlineData("unknown model 'vgg99'", "model", "info", "--model", "vgg99")]
    [InlineData("--batch 0 must be at least 1", "model", "info", "--batch", "0")]
    [InlineData("--device 99 is out of range", "model", "info", "--backend", "opencl", "--device", "99")]
    [InlineData("--device 1 applies to the opencl backend only", "model", "info", "--backend", "cpu", "--device", "1")]
    public void BadInputEndsWithOneLineAndExitCode2(string message, params string[] args)
    {
        CliHarness.AssertOneLineError(Run(args), message);
    }

    [Fact]
    public void UnknownOptionsEndWithOneLineAndExitCode2()
    {
        CliHarness.AssertOneLineError(Run("model", "info", "--frobnicate"), "--frobnicate");
    }

    [Fact]
    public void DevicesListsEveryBackend()
    {
        var (exit, output, _) = Run("devices");
        Assert.Equal(0, exit);
        Assert.Contains("cpu", output);
        Assert.Contains("reference", output);
        Assert.Contains("opencl [0]", output);
        // The test script installs PoCL, so an OpenCL device (not the install hint) must be listed.
        Assert.Contains("OpenCL devices", output);
        Assert.Contains(ConvViz.OpenCL.OpenCLDevices.List()[0].DeviceName, output);
    }

    [Fact]
    public void OpenCLWithoutAnyPlatformSaysWhatToInstall()
    {
        // A separate process, because the ICD loader reads OCL_ICD_VENDORS once per process: an
        // empty vendor folder is a machine without any OpenCL driver.
        var start = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            ArgumentList = { typeof(CliApp).Assembly.Location, "model", "info", "--backend", "opencl" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["OCL_ICD_VENDORS"] = Path.Combine(Path.GetTempPath(), "convviz-no-opencl-vendors");
        using var process = System.Diagnostics.Process.Start(start)!;
        string error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(2, process.ExitCode);
        Assert.Equal("error: no OpenCL platform found: install an OpenCL driver, e.g. `apt-get install ocl-icd-libopencl1 pocl-opencl-icd`",
            error.Trim());
    }
}
