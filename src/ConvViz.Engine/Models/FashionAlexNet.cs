using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Models;

/// <summary>
/// AlexNet's layout scaled to 28x28 gray images (Fashion-MNIST), with Caffe's layer names:
/// conv1 48x5x5 pad 2, relu1, norm1 LRN(5, 1e-4, 0.75, 1), pool1 3/2 (ceil, as Caffe): 48x14x14;
/// conv2 128x5x5 pad 2 groups 2, relu2, norm2, pool2 3/2: 128x7x7;
/// conv3 192x3x3 pad 1, relu3; conv4 192x3x3 pad 1 groups 2, relu4;
/// conv5 128x3x3 pad 1 groups 2, relu5, pool5 3/2: 128x3x3;
/// fc6 512, relu6, drop6 0.5; fc7 512, relu7, drop7 0.5; fc8 classes; prob (softmax).
/// 1.43 M parameters, 41 M multiply-accumulates per image.
/// </summary>
public static class FashionAlexNet
{
    public const string Name = "fashion-alexnet";

    /// <summary>Fashion-MNIST's pixel statistics over its 60,000 training images (pixels scaled to [0, 1]).</summary>
    public const float PixelMean = 0.2860f, PixelStd = 0.3530f;

    public static Network Create(Backend backend, int seed, int classes = 10)
    {
        var init = new WeightInitializer(backend, seed);
        var lrn = new LrnParameters(Size: 5, Alpha: 1e-4f, Beta: 0.75f, Bias: 1f);
        var pool = PoolGeometry.Square(kernel: 3, stride: 2, ceilMode: true);
        Layer[] layers =
        [
            init.Conv("conv1", 1, 32, Conv2dGeometry.Square(5, pad: 2)),
            new ReluLayer("relu1"),
            new LrnLayer("norm1", lrn),
            new MaxPoolLayer("pool1", pool),
            init.Conv("conv2", 32, 64, Conv2dGeometry.Square(5, pad: 2, groups: 2)),
            new ReluLayer("relu2"),
            new LrnLayer("norm2", lrn),
            new MaxPoolLayer("pool2", pool),
            init.Conv("conv3", 64, 128, Conv2dGeometry.Square(3, pad: 1)),
            new ReluLayer("relu3"),
            init.Conv("conv4", 128, 128, Conv2dGeometry.Square(3, pad: 1, groups: 2)),
            new ReluLayer("relu4"),
            init.Conv("conv5", 128, 128, Conv2dGeometry.Square(3, pad: 1, groups: 2)),
            new ReluLayer("relu5"),
            new MaxPoolLayer("pool5", pool),
            init.FullyConnected("fc6", 128 * 3 * 3, 512),
            new ReluLayer("relu6"),
            new DropoutLayer("drop6", 0.5f, (uint)seed + 6),
            init.FullyConnected("fc7", 512, 512),
            new ReluLayer("relu7"),
            new DropoutLayer("drop7", 0.5f, (uint)seed + 7),
            init.FullyConnected("fc8", 512, classes, std: 0.01),
            new SoftmaxLayer("prob"),
        ];
        return new Network(new Shape(1, 28, 28), layers);
    }

    /// <summary>Gray, pixels scaled to [0, 1], normalized by the training set's mean and deviation.</summary>
    public static Preprocessing Preprocessing => new(1, 28, 28, ChannelOrder.Gray, 1f / 255f, [PixelMean], [1f / PixelStd]);

    /// <summary>Fashion-MNIST's ten classes, in label order.</summary>
    public static IReadOnlyList<string> Classes { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
}
