using ConvViz.Engine.Models;

namespace ConvViz.Cli;

/// <summary>
/// One pretrained model file of the ONNX model zoo, pinned: <paramref name="Sha256"/> and
/// <paramref name="Size"/> are the file's git LFS object id and size, so a download is either
/// exactly that file or an error.
/// </summary>
public sealed record ZooModel(string Name, string Summary, string FileName, Uri Url, string Sha256, long Size, Preprocessing Preprocessing);

/// <summary>The models `convviz model fetch NAME` can download.</summary>
public static class ModelZoo
{
    private const string ZooRoot = "https://github.com/onnx/models/raw/main/validated/vision/classification/";

    // Files, hashes and sizes: the zoo's ONNX_HUB_MANIFEST.json (model_path, model_sha, model_bytes),
    // the opset-12 entry of each model (opset 7 for ResNet-18 and SqueezeNet 1.1, which the zoo has
    // at no later opset); the manifest still names the paths without the validated/
    // prefix that the files moved under, and the LFS pointers at both places hold the same hashes
    // (checked for bvlcalexnet-8/-12, caffenet-8/-9, zfnet512-12, vgg16-7). Every input is
    // float[1, 3, 224, 224] (the manifest's io_ports).
    //
    // Preprocessing: the zoo's README of AlexNet, CaffeNet and ZFNet-512 leaves "Pre-processing
    // steps" empty. The AlexNet README says its accuracy figures depend on Intel Neural Compressor's
    // example (examples/onnxrt/image_recognition/onnx_model_zoo/alexnet/.../main.py), whose CaffeNet
    // and ZFNet examples do the same: resize the whole image to 224x224, subtract the per-channel
    // mean (R 123.68, G 116.779, B 103.939) from pixels in [0, 255], order the channels BGR, no
    // scaling. That resize ignores the aspect ratio, which this record cannot say; no
    // ResizeShorter (resize to the input size only) is the nearest. ZFNet-512 came from Caffe2,
    // not Caffe, and nothing in the zoo confirms that it was trained with this preprocessing.
    private static readonly Preprocessing CaffeBgr = new(3, 224, 224, ChannelOrder.Bgr, PixelScale: 1f,
        Mean: [103.939f, 116.779f, 123.68f], Scale: [1f, 1f, 1f]);

    // GoogLeNet (BVLC Caffe, through Caffe2) uses the same: the zoo's googlenet/README.md resizes the
    // whole image to 224x224, subtracts (123.68, 116.779, 103.939) from R, G, B and orders them BGR.
    //
    // VGG 16, ResNet-18/50 v1 and SqueezeNet 1.1 (MXNet Gluon): the zoo's README of each and its
    // imagenet_preprocess.py: RGB in
    // [0, 1], mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225), shorter side resized to 256,
    // center crop 224x224.
    private static readonly Preprocessing TorchvisionRgb = new(3, 224, 224, ChannelOrder.Rgb, PixelScale: 1f / 255f,
        Mean: [0.485f, 0.456f, 0.406f], Scale: [1f / 0.229f, 1f / 0.224f, 1f / 0.225f], ResizeShorter: 256);

    public static IReadOnlyList<ZooModel> All { get; } =
    [
        new("alexnet", "BVLC AlexNet (Caffe), opset 12", "bvlcalexnet-12.onnx", new(ZooRoot + "alexnet/model/bvlcalexnet-12.onnx"),
            "6b0da9510f27f234ee96a85dc3809dd210150fdefad87f6850f9788513216945", 243_863_787, CaffeBgr),
        new("caffenet", "BVLC CaffeNet (Caffe), opset 12", "caffenet-12.onnx", new(ZooRoot + "caffenet/model/caffenet-12.onnx"),
            "ea563e5c47d1f58e1717cf1a2d8bf288b8adc07af0ad228b622096cd243aeecb", 243_863_798, CaffeBgr),
        new("zfnet512", "ZFNet-512 (Caffe2), opset 12", "zfnet512-12.onnx", new(ZooRoot + "zfnet-512/model/zfnet512-12.onnx"),
            "c975ca6a24c0a2e1584c6f82667e0ac9c06084fc7769d267f71b4a154d1f1c72", 349_005_501, CaffeBgr),
        new("vgg16", "VGG 16 (MXNet), opset 12", "vgg16-12.onnx", new(ZooRoot + "vgg/model/vgg16-12.onnx"),
            "722c42f53ca03a5480296bf8f9c85a151de3eed9ec982d7d2302ff6e2900c67b", 553_437_752, TorchvisionRgb),
        new("resnet18", "ResNet-18 v1 (MXNet), opset 7", "resnet18-v1-7.onnx", new(ZooRoot + "resnet/model/resnet18-v1-7.onnx"),
            "4e8f8653e7a2222b3904cc3fe8e304cd8b339ce1d05fd24688162f86fb6df52c", 46_820_737, TorchvisionRgb),
        new("resnet50", "ResNet-50 v1 (MXNet), opset 12", "resnet50-v1-12.onnx", new(ZooRoot + "resnet/model/resnet50-v1-12.onnx"),
            "3f03fdef724b22947eed826f1eef1dc5c34151bb4c37d634f1db89dfa2dd1526", 102_576_593, TorchvisionRgb),
        new("googlenet", "GoogLeNet / Inception v1 (BVLC Caffe), opset 12", "googlenet-12.onnx",
            new(ZooRoot + "inception_and_googlenet/googlenet/model/googlenet-12.onnx"),
            "c99c507058eaf41de8723408fdda7db8325cb57f0a89f2ee07a716d6e963e14e", 28_021_836, CaffeBgr),
        new("squeezenet1.1", "SqueezeNet 1.1 (MXNet), opset 7", "squeezenet1.1-7.onnx", new(ZooRoot + "squeezenet/model/squeezenet1.1-7.onnx"),
            "1eeff551a67ae8d565ca33b572fc4b66e3ef357b0eb2863bb9ff47a918cc4088", 4_956_208, TorchvisionRgb),
    ];

    public static ZooModel Find(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new UserError($"unknown zoo model '{name}'; expected one of: {string.Join(", ", All.Select(m => m.Name))}");

    /// <summary>The 1000 ImageNet class names in class-index order, one a line: the list every
    /// model here was trained on. Copied from pytorch/hub's imagenet_classes.txt (the Keras
    /// imagenet_class_index.json names, the first name of each ILSVRC-2012 synset in synset order)
    /// with underscores turned into spaces.</summary>
    public static Stream OpenImageNetClasses() =>
        typeof(ModelZoo).Assembly.GetManifestResourceStream(ImageNetClassesResource)
        ?? throw new InvalidOperationException($"resource {ImageNetClassesResource} is missing from the build");

    private const string ImageNetClassesResource = "ConvViz.Cli.imagenet_classes.txt";
}
