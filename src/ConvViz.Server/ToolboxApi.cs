using System.Globalization;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Mining;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Toolbox;
using ConvViz.Engine.Visualization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace ConvViz.Server;

/// <summary>
/// The HTTP API for scripts and tests. The image endpoints take the image's bytes as the request body (PNG, JPEG, WebP, GIF,
/// BMP, PGM or PPM, decoded as the command line decodes files) and run on the compute worker in turn with the live viewers. A bad
/// request is a 400 (413 for a body over the upload limit, 404 for something not there) with a one-line text message.
/// </summary>
internal sealed class ToolboxApi(ComputeWorker worker, BackgroundOptimizer optimizer, Atlas? atlas, long maxUploadBytes)
{
    private const string Png = "image/png";

    /// <summary>GET /api/model: the model as the page sees it (layers, shapes, classes, samples).</summary>
    public Task Model(HttpContext context) => Answer(context, () => Json(context, worker.Toolbox.Model));

    /// <summary>POST /api/predict: the top-5 classes of the image and the model's layers.</summary>
    public Task Predict(HttpContext context) => Answer(context, async () =>
    {
        var image = await ReadImage(context);
        var frame = await worker.RunAsync((toolbox, cancellation) => toolbox.Run(image, toolbox.DefaultSelection with { Back = BackMode.Off }, cancellation));
        await Json(context, new { top = frame.Top, layers = worker.Toolbox.Model.Layers });
    });

    /// <summary>POST /api/activations?layer=L: the layer's output for the image, one tile per channel (LayerViews.Activations), as PNG.</summary>
    public Task Activations(HttpContext context) => Answer(context, async () =>
    {
        string layer = Required(context, "layer", "a layer name");
        var image = await ReadImage(context);
        var grid = await worker.RunAsync((toolbox, _) =>
        {
            toolbox.Validate(new ToolboxSelection { Layer = layer });
            var shape = toolbox.Model.Layers.First(l => l.Name == layer);
            return LayerViews.Activations(toolbox.Activations(image, layer), new Shape(1, shape.Channels, shape.Height, shape.Width));
        });
        await Bytes(context, ImageFile.EncodePng(grid), Png);
    });

    /// <summary>POST /api/backward?layer=L&amp;unit=C&amp;rule=gradient|deconvnet|guided[&amp;display=raw|gray|norm|normblur]: the back
    /// pane, the gradient of unit C reaching the input under the rule, rendered as the display says, as PNG.</summary>
    public Task Backward(HttpContext context) => Answer(context, async () =>
    {
        var selection = Unit(context) with
        {
            Back = Named(context, "rule", BackMode.Gradient, [BackMode.Gradient, BackMode.Deconvnet, BackMode.Guided]),
            Display = Named(context, "display", GradientDisplay.Raw, Enum.GetValues<GradientDisplay>()),
        };
        var image = await ReadImage(context);
        var frame = await worker.RunAsync((toolbox, cancellation) =>
        {
            toolbox.Validate(selection);
            return toolbox.Run(image, selection, cancellation);
        });
        await Bytes(context, ImageFile.EncodePng(frame.Back!), Png);
    });

    /// <summary>POST /api/trace?layer=L&amp;unit=C&amp;rule=R: backprop layer by layer (BackwardTrace) as JSON, every gradient's values included.</summary>
    public Task Trace(HttpContext context) => Answer(context, async () =>
    {
        var selection = Unit(context) with { Back = Named(context, "rule", BackMode.Gradient, [BackMode.Gradient, BackMode.Deconvnet, BackMode.Guided]) };
        var image = await ReadImage(context);
        var trace = await worker.RunAsync((toolbox, _) =>
        {
            toolbox.Validate(selection);
            return toolbox.Trace(image, selection);
        });
        await Json(context, TraceJson.Full(trace));
    });

    /// <summary>GET /api/optimized?layer=L&amp;unit=C: the unit's optimized image once the background optimization made it, as PNG.</summary>
    public Task Optimized(HttpContext context) => Answer(context, () =>
    {
        var selection = Unit(context);
        byte[] png = optimizer.Image(selection.Layer, selection.Unit)
            ?? throw new RequestRefusedException(404, $"no optimized image of {selection.Layer} unit {selection.Unit} yet: ask for it on the WebSocket with {{\"type\":\"optimize\"}}");
        return Bytes(context, png, Png);
    });

    /// <summary>GET /api/atlas?layer=L&amp;unit=C: what the atlas holds for the unit, with the URLs of its images.</summary>
    public Task AtlasUnit(HttpContext context) => Answer(context, () =>
    {
        var unit = FindInAtlas(context);
        string Url(string kind, int index) =>
            $"api/atlas/image?layer={Uri.EscapeDataString(unit.Layer)}&unit={unit.Unit}&kind={kind}&index={index}";
        return Json(context, new
        {
            layer = unit.Layer,
            unit = unit.Unit,
            patches = unit.Patches.Select((p, i) => new { image = Url("patch", i), deconv = p.Deconv is null ? null : Url("deconv", i), value = p.Value, source = p.Source }),
            optimized = unit.Optimized is null ? null : Url("optimized", 0),
        });
    });

    /// <summary>GET /api/atlas/image?layer=L&amp;unit=C&amp;kind=patch|deconv|optimized&amp;index=i: one of the unit's atlas images, as PNG.
    /// The file is one the atlas reader listed for the unit, inside the atlas folder; no part of the request is a path.</summary>
    public Task AtlasImage(HttpContext context) => Answer(context, async () =>
    {
        var unit = FindInAtlas(context);
        string kind = Required(context, "kind", "patch, deconv or optimized");
        int index = context.Request.Query.ContainsKey("index") ? Integer(context, "index") : 0;
        string? file = kind switch
        {
            "patch" or "deconv" when index < 0 || index >= unit.Patches.Count =>
                throw new RequestRefusedException(404, $"{unit.Layer} unit {unit.Unit} has {unit.Patches.Count} patches in the atlas (index 0 to {unit.Patches.Count - 1}), not {index}"),
            "patch" => unit.Patches[index].Image,
            "deconv" => unit.Patches[index].Deconv,
            "optimized" => unit.Optimized,
            _ => throw new RequestRefusedException(400, $"kind={kind} is not one of patch, deconv, optimized"),
        };
        if (file is null) throw new RequestRefusedException(404, $"the atlas has no {kind} image for {unit.Layer} unit {unit.Unit}");
        string folder = Path.GetFullPath(atlas!.Folder).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        string path = Path.GetFullPath(file);
        if (!path.StartsWith(folder, StringComparison.Ordinal) || !path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            throw new RequestRefusedException(404, $"the atlas lists a {kind} image for {unit.Layer} unit {unit.Unit} that is not a PNG inside its folder");
        byte[] bytes;
        try { bytes = await File.ReadAllBytesAsync(path, context.RequestAborted); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RequestRefusedException(404, $"the atlas's {kind} image for {unit.Layer} unit {unit.Unit} is missing from its folder");
        }
        await Bytes(context, bytes, Png);
    });

    /// <summary>GET of a page file: the embedded table, or 404.</summary>
    public static Task PageFile(HttpContext context)
    {
        if (!EmbeddedPage.Files.TryGetValue(context.Request.Path.Value ?? "/", out var file))
            return Text(context, StatusCodes.Status404NotFound, NotHere(context));
        context.Response.Headers.CacheControl = "no-cache";
        return Bytes(context, file.Bytes, file.ContentType);
    }

    public static string NotHere(HttpContext context) => $"{context.Request.Method} {context.Request.Path} is not an address of this server";

    private AtlasUnit FindInAtlas(HttpContext context)
    {
        if (atlas is null) throw new RequestRefusedException(404, "this server has no atlas");
        var selection = Unit(context);
        worker.Toolbox.Validate(selection);
        return atlas.Find(selection.Layer, selection.Unit)
            ?? throw new RequestRefusedException(404, $"the atlas has nothing for {selection.Layer} unit {selection.Unit} (it covers {string.Join(", ", atlas.Layers)})");
    }

    /// <summary>The request's layer and unit (both required).</summary>
    private static ToolboxSelection Unit(HttpContext context) =>
        new() { Layer = Required(context, "layer", "a layer name"), Unit = Integer(context, "unit") };

    private static string Required(HttpContext context, string name, string what) =>
        context.Request.Query[name] is { Count: 1 } values && !string.IsNullOrEmpty(values[0])
            ? values[0]!
            : throw new RequestRefusedException(400, $"the query needs {name}= once ({what})");

    private static int Integer(HttpContext context, string name)
    {
        string text = Required(context, name, "a whole number");
        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new RequestRefusedException(400, $"{name}={text} is not a whole number");
    }

    private static T Named<T>(HttpContext context, string name, T fallback, T[] allowed) where T : struct, Enum
    {
        if (!context.Request.Query.ContainsKey(name)) return fallback;
        string text = Required(context, name, string.Join(", ", allowed).ToLowerInvariant());
        foreach (var value in allowed)
            if (value.ToString().Equals(text, StringComparison.OrdinalIgnoreCase)) return value;
        throw new RequestRefusedException(400, $"{name}={text} is not one of {string.Join(", ", allowed).ToLowerInvariant()}");
    }

    /// <summary>The most a refused body is read (and thrown away) so that the client, still sending, sees the 413; past it
    /// the connection is dropped.</summary>
    private const long MaxDiscardedBytes = 256L << 20;

    /// <summary>The request body as an image; 413 past the upload limit, 400 when empty or not an image.</summary>
    private async Task<Image8> ReadImage(HttpContext context)
    {
        var request = context.Request;
        string over = $"over the server's upload limit of {maxUploadBytes:N0} bytes";
        if (request.ContentLength > maxUploadBytes)
        {
            // A client that waits for "100 Continue" has sent nothing and gets the answer at once. Any other (a browser)
            // is still sending: a reply before its body is read would reach it as a reset connection, not as a 413.
            if (!request.Headers.Expect.Any(e => e?.Contains("100-continue", StringComparison.OrdinalIgnoreCase) == true)) await Discard(context);
            throw new RequestRefusedException(StatusCodes.Status413PayloadTooLarge, $"a body of {request.ContentLength:N0} bytes is {over}");
        }
        using var body = new MemoryStream();
        try { await request.Body.CopyToAsync(body, context.RequestAborted); }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new RequestRefusedException(StatusCodes.Status413PayloadTooLarge, $"the body is {over}");
        }
        if (body.Length == 0) throw new RequestRefusedException(StatusCodes.Status400BadRequest, "the body is empty: send the image's bytes (PNG, JPEG, WebP, GIF, BMP, PGM or PPM)");
        return ImageFile.Decode(body.ToArray(), "the body");
    }

    private static async Task Discard(HttpContext context)
    {
        if (context.Request.ContentLength > MaxDiscardedBytes || context.Features.Get<IHttpMaxRequestBodySizeFeature>() is not { IsReadOnly: false } limit)
        {
            context.Abort();
            return;
        }
        limit.MaxRequestBodySize = MaxDiscardedBytes;
        var buffer = new byte[1 << 16];
        while (await context.Request.Body.ReadAsync(buffer, context.RequestAborted) > 0) { }
    }

    /// <summary>Runs a handler and turns its refusals into a status and a one-line message; the server lives on.</summary>
    private static async Task Answer(HttpContext context, Func<Task> handle)
    {
        try { await handle(); }
        catch (RequestRefusedException e) { await Text(context, e.Status, e.Message); }
        catch (Exception e) when (RequestErrors.IsBadInput(e)) { await Text(context, StatusCodes.Status400BadRequest, ServerJson.OneLine(e)); }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            await Text(context, StatusCodes.Status503ServiceUnavailable, "the server is stopping");
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            await Text(context, StatusCodes.Status500InternalServerError, RequestErrors.Internal(e));
        }
    }

    public static Task Text(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message + "\n");
    }

    private static Task Json(HttpContext context, object value)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.Body.WriteAsync(ServerJson.Bytes(value)).AsTask();
    }

    private static Task Bytes(HttpContext context, byte[] bytes, string contentType)
    {
        context.Response.ContentType = contentType;
        context.Response.ContentLength = bytes.Length;
        return context.Response.Body.WriteAsync(bytes).AsTask();
    }
}
