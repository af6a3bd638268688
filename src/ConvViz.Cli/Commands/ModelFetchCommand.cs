using System.CommandLine;
using ConvViz.Engine.IO;
using ConvViz.Engine.Onnx;
using Spectre.Console;

namespace ConvViz.Cli.Commands;

/// <summary>
/// `convviz model fetch NAME`: downloads a pretrained model of the ONNX model zoo into the cache
/// (checked against its pinned SHA-256, resumed when interrupted) and writes a bundle folder next
/// to it: model.onnx, with the model's preprocessing in its metadata_props, and classes.txt.
/// </summary>
public static class ModelFetchCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("name")
        {
            Description = "Zoo model: " + string.Join("; ", ModelZoo.All.Select(m => $"{m.Name} = {m.Summary}, {m.Size / 1048576.0:F0} MiB")),
        };
        var cache = new Option<string?>("--cache") { Description = "Cache folder (default $XDG_CACHE_HOME/convviz/models, else ~/.cache/convviz/models)" };
        var force = new Option<bool>("--force") { Description = "Download again even when a verified copy is in the cache" };
        var command = new Command("fetch", "Download a pretrained model from the ONNX model zoo (needs internet) and make a bundle of it") { name, cache, force };
        command.SetAction(result =>
        {
            var model = ModelZoo.Find(result.GetValue(name)!);
            string cacheFolder = CacheFolder(result.GetValue(cache), Environment.GetEnvironmentVariable("XDG_CACHE_HOME"),
                Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
            using var downloader = new Downloader(Downloader.DefaultIdleTimeout);
            Fetch(model, cacheFolder, result.GetValue(force), downloader, AnsiConsole.Console);
        });
        return command;
    }

    /// <summary>--cache DIR, else $XDG_CACHE_HOME/convviz/models, else ~/.cache/convviz/models.</summary>
    internal static string CacheFolder(string? option, string? xdgCacheHome, string home)
    {
        if (!string.IsNullOrEmpty(option)) return Path.GetFullPath(option);
        // The XDG base directory spec says a relative path in XDG_CACHE_HOME is invalid and is ignored.
        string root = !string.IsNullOrEmpty(xdgCacheHome) && Path.IsPathRooted(xdgCacheHome) ? xdgCacheHome : Path.Combine(home, ".cache");
        return Path.Combine(root, "convviz", "models");
    }

    /// <summary>Makes sure CACHE/downloads/FILE is the pinned zoo file, downloading it when it is
    /// missing, wrong or <paramref name="force"/>d, then writes the bundle CACHE/NAME and returns its path.</summary>
    internal static string Fetch(ZooModel model, string cache, bool force, Downloader downloader, IAnsiConsole console)
    {
        string downloads = Path.Combine(cache, "downloads");
        string download = Path.Combine(downloads, model.FileName);
        Directory.CreateDirectory(downloads);
        if (force)
        {
            File.Delete(download);
            File.Delete(download + ".part");
        }

        if (File.Exists(download) && Downloader.Matches(download, model.Sha256, model.Size))
            console.MarkupLine($"{Markup.Escape(download)} is already present and verified: not downloading it again");
        else
        {
            if (File.Exists(download))
            {
                console.MarkupLine($"{Markup.Escape(download)} is not the pinned file (size or SHA-256 differs): downloading it again");
                File.Delete(download);
            }
            console.MarkupLine($"downloading {Markup.Escape(model.Url.ToString())} ({model.Size / 1048576.0:F1} MiB)");
            downloader.Download(console, model.Url, download, model.Sha256, model.Size);
            console.MarkupLine($"{Markup.Escape(download)}: size and SHA-256 {model.Sha256} verified");
        }

        string bundle = Path.Combine(cache, model.Name);
        WriteBundle(model, download, bundle);
        console.MarkupLine($"bundle: [bold]{Markup.Escape(bundle)}[/] (model.onnx with its preprocessing: {Markup.Escape(model.Preprocessing.ToString())}; classes.txt)");
        console.MarkupLine($"use it: convviz model info --model {Markup.Escape(bundle)}");
        return bundle;
    }

    /// <summary>Writes BUNDLE/model.onnx, the zoo file with the model's preprocessing added to its
    /// metadata_props, and BUNDLE/classes.txt, the ImageNet class names.</summary>
    private static void WriteBundle(ZooModel model, string download, string bundle)
    {
        Directory.CreateDirectory(bundle);
        string modelPath = Path.Combine(bundle, "model.onnx");
        // Written under another name first, so an interrupted run never leaves a model.onnx without its metadata.
        string partial = modelPath + ".part";
        File.Copy(download, partial, overwrite: true);
        using (var stream = new FileStream(partial, FileMode.Append, FileAccess.Write))
            OnnxExporter.AppendMetadata(stream, model.Preprocessing.ToMetadata());
        File.Move(partial, modelPath, overwrite: true);

        using var classes = ModelZoo.OpenImageNetClasses();
        AtomicFile.Write(Path.Combine(bundle, "classes.txt"), classes.CopyTo);
    }
}
