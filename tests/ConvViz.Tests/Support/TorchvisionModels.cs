using System.Diagnostics;
using System.Security.Cryptography;

namespace ConvViz.Tests.Support;

/// <summary>
/// The torchvision networks of tests/fixtures/torchvision/export_models.py, made on first use, once per
/// machine: too large to commit (vgg16_bn alone is about 530 MB), so Debian's /usr/bin/python3 with
/// python3-torch and python3-torchvision (tests/run-all.sh installs them) runs the script into
/// $XDG_CACHE_HOME/convviz-tests/torchvision-&lt;script hash&gt;/ (~/.cache when XDG_CACHE_HOME is unset).
/// The script writes into a temporary folder beside it, which is renamed into place only when the
/// script succeeds, so no test ever reads a half-written folder, and an edited script gets a folder
/// of its own. A missing or failing Python makes every test that needs the files fail, naming why.
/// </summary>
public static class TorchvisionModels
{
    /// <summary>What a cold machine may take: about 2 minutes on 2 shared cores, most of it vgg16_bn.</summary>
    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromMinutes(20);

    /// <summary>A temporary folder this old was left by a killed run, not one that is still being written.</summary>
    private static readonly TimeSpan AbandonedAfter = TimeSpan.FromHours(1);

    private static readonly Lazy<string> Folder = new(Make, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>A file the script made, e.g. "resnet18.onnx" or "resnet18.input.npy".</summary>
    public static string Path(string file) => System.IO.Path.Combine(Folder.Value, file);

    private static string Make()
    {
        string script = Fixtures.Path("torchvision", "export_models.py");
        string hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(script)))[..16];
        string cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        string parent = System.IO.Path.Combine(cache, "convviz-tests");
        string folder = System.IO.Path.Combine(parent, $"torchvision-{hash}");
        // The script writes manifest.json last, and the folder appears only by the rename below.
        if (File.Exists(System.IO.Path.Combine(folder, "manifest.json"))) return folder;

        Directory.CreateDirectory(parent);
        RemoveAbandoned(parent, $"torchvision-{hash}.tmp-");
        string temp = $"{folder}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            Run(script, temp);
            try
            {
                Directory.Move(temp, folder);
            }
            catch (IOException) when (File.Exists(System.IO.Path.Combine(folder, "manifest.json")))
            {
                // Another test process made the same files first; theirs are used.
            }
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
        return folder;
    }

    private static void Run(string script, string outputFolder)
    {
        const string python = "/usr/bin/python3";
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(outputFolder);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {python}");
        // Both streams are read as they come, so neither pipe fills and blocks the script.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(ScriptTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{script} ran longer than {ScriptTimeout.TotalMinutes} minutes");
        }
        if (process.ExitCode != 0)
        {
            string errors = stderr.Result;
            throw new InvalidOperationException(
                $"{python} {script} failed with exit code {process.ExitCode} (it needs Debian's python3-torch, python3-torchvision and python3-onnx; "
                + $"tests/run-all.sh installs them):\n{stdout.Result}\n{errors[Math.Max(0, errors.Length - 4000)..]}");
        }
    }

    /// <summary>Deletes temporary folders that killed runs left behind (each holds up to 750 MB).</summary>
    private static void RemoveAbandoned(string parent, string prefix)
    {
        foreach (var dir in new DirectoryInfo(parent).EnumerateDirectories(prefix + "*"))
        {
            if (DateTime.UtcNow - dir.LastWriteTimeUtc < AbandonedAfter) continue;
            try
            {
                dir.Delete(recursive: true);
            }
            catch (IOException)
            {
                // Another process removed it first, or is still writing into it.
            }
        }
    }
}
