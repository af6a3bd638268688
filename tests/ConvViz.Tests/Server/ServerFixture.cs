using ConvViz.Engine.Backends;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Toolbox;
using ConvViz.Server;

namespace ConvViz.Tests.Server;

/// <summary>
/// A toolbox server on any free port with fashion-alexnet on the cpu backend, an HttpClient for it, and the library on a
/// network of its own (<see cref="Reference"/>, <see cref="Toolbox"/>) to compute every answer directly.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    /// <summary>Short background optimizations, so a test waits seconds.</summary>
    public const int OptimizeIterations = 4;

    private readonly List<Backend> backends = [];

    public ToolboxServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public ModelBundle Reference { get; private set; } = null!;
    public LiveToolbox Toolbox { get; private set; } = null!;
    public Backend ReferenceBackend => backends[^1];

    public ModelBundle OpenModel()
    {
        var backend = BackendCatalog.Create("cpu");
        lock (backends) backends.Add(backend);
        return ModelCatalog.Open("fashion-alexnet", backend);
    }

    public async Task InitializeAsync()
    {
        Server = await ToolboxServer.StartAsync(OpenModel, new ToolboxServerOptions { Port = 0, OptimizeIterations = OptimizeIterations });
        Http = new HttpClient { BaseAddress = Server.Address, Timeout = TimeSpan.FromMinutes(2) };
        Reference = OpenModel();
        Toolbox = new LiveToolbox(Reference);
    }

    /// <summary>The network input of <paramref name="image"/> as the toolbox makes it: resized and cropped to bytes (the input
    /// pane), then preprocessed; (1, C, H, W) on the reference backend.</summary>
    public Tensor Input(Image8 image)
    {
        var p = Reference.Preprocessing;
        var shown = ImageTensors.ResizeAndCrop(image, p);
        var values = new float[p.Channels * p.Height * p.Width];
        ImageTensors.CroppedToInput(shown.Pixels, p, values);
        return ReferenceBackend.Upload(values, Reference.Network.InputShape(1));
    }

    /// <summary>Sample <paramref name="number"/> of the bundle and its PNG bytes (what a page or script would send).</summary>
    public (Image8 Image, byte[] Png) Sample(int number)
    {
        var image = Reference.Sample(number).Image;
        return (image, ImageFile.EncodePng(image));
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Toolbox.Dispose();
        Reference.Dispose();
        foreach (var backend in backends) backend.Dispose();
    }
}
