using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Spectre.Console;

namespace ConvViz.Cli;

/// <summary>
/// Downloads one pinned file over HTTP(S): into FILE.part, resumed with a Range request when an
/// earlier run left a .part behind, with a progress bar; the file takes its final name only once
/// its size and SHA-256 match the pin. Every failure is a one-line <see cref="UserError"/>.
/// </summary>
internal sealed class Downloader : IDisposable
{
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromSeconds(60);

    private readonly HttpClient http;
    private readonly TimeSpan idleTimeout;

    /// <param name="idleTimeout">How long the server may stay silent (to connect, to answer, or
    /// between two reads) before the download fails. The whole download has no limit: a slow line
    /// may take many minutes for a 500 MB model.</param>
    public Downloader(TimeSpan idleTimeout)
    {
        this.idleTimeout = idleTimeout;
        http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = idleTimeout }) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("convviz");
    }

    public void Dispose() => http.Dispose();

    /// <summary>Whether <paramref name="path"/> is exactly the pinned file.</summary>
    public static bool Matches(string path, string sha256, long size) =>
        new FileInfo(path).Length == size && Sha256Of(path) == sha256;

    /// <summary>Downloads <paramref name="url"/> to <paramref name="destination"/>, which holds the
    /// pinned file afterwards; on failure a .part with the bytes received is kept for the next run
    /// to resume, unless those bytes are known to be wrong.</summary>
    public void Download(IAnsiConsole console, Uri url, string destination, string sha256, long size)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        string part = destination + ".part";
        long received = File.Exists(part) ? new FileInfo(part).Length : 0;
        if (received > size)
        {
            File.Delete(part); // longer than the pinned file, so not a piece of it
            received = 0;
        }
        // Only the missing bytes are asked for: none when a run stopped between receiving and checking.
        // Blocking keeps the command synchronous, so Ctrl+C just ends the process and the .part stays for the next run.
        if (received < size) ReceiveAsync(console, url, destination, part, received, size).GetAwaiter().GetResult();

        long length = new FileInfo(part).Length;
        if (length < size)
            throw CannotDownload(url, destination, $"the connection ended after {length} of {size} bytes");
        string actual = Sha256Of(part);
        if (length != size || actual != sha256)
        {
            File.Delete(part);
            throw new UserError($"{Path.GetFileName(destination)} from {url} is not the pinned file: expected {size} bytes with SHA-256 {sha256}, " +
                                $"got {length} bytes with SHA-256 {actual}; the download was deleted");
        }
        File.Move(part, destination, overwrite: true);
    }

    private async Task ReceiveAsync(IAnsiConsole console, Uri url, string destination, string part, long received, long size)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (received > 0) request.Headers.Range = new RangeHeaderValue(received, null);
        using var silence = new CancellationTokenSource(idleTimeout);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, silence.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            throw CannotDownload(url, destination, Reason(e));
        }

        using (response)
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
            {
                File.Delete(part); // the server's file is shorter than what we hold: start over next time
                throw CannotDownload(url, destination, "the server refused to resume (HTTP 416); the partial download was deleted");
            }
            if (!response.IsSuccessStatusCode)
                throw CannotDownload(url, destination, $"the server answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            // A server that ignores Range answers 200 with the whole file: start over, don't append.
            if (response.StatusCode != HttpStatusCode.PartialContent) received = 0;

            string description = Markup.Escape(Path.GetFileName(destination)) +
                                 (received > 0 ? $" (resuming after {received / 1048576.0:F1} MiB)" : "");
            await console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                    new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    // The bar counts this run's bytes only, so that its speed and time left are true on a resume.
                    var task = context.AddTask(description, maxValue: size - received);
                    await using var file = new FileStream(part, received > 0 ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
                    try
                    {
                        await using var body = await response.Content.ReadAsStreamAsync(silence.Token);
                        var buffer = new byte[1 << 16];
                        while (true)
                        {
                            silence.CancelAfter(idleTimeout);
                            int count = await body.ReadAsync(buffer, silence.Token);
                            if (count == 0) break;
                            await file.WriteAsync(buffer.AsMemory(0, count));
                            task.Increment(count);
                        }
                    }
                    catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException)
                    {
                        throw CannotDownload(url, destination, Reason(e));
                    }
                });
        }
    }

    private static UserError CannotDownload(Uri url, string destination, string reason) =>
        new($"cannot download {Path.GetFileName(destination)} from {url}: {reason}; " +
            $"check your internet connection or copy the file to {Path.GetFullPath(destination)}");

    private string Reason(Exception e)
    {
        if (e is OperationCanceledException) return $"no data from the server for {idleTimeout.TotalSeconds:0} s";
        // "The SSL connection could not be established, see inner exception." says nothing by itself.
        string message = e.InnerException is { } inner && e.Message.Contains("inner exception", StringComparison.OrdinalIgnoreCase)
            ? inner.Message : e.Message;
        return string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).TrimEnd('.');
    }

    private static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
