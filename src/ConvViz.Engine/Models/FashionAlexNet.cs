using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Models;

/// <summary>
/// AlexNet's layout (<see cref="AlexNetLayout"/>) scaled to 28x28 gray images (Fashion-MNIST):
/// conv1 32x5x5 pad 2, relu1, norm1, pool1 3/2 (ceil, as Caffe): 32x14x14;
/// conv2 64x5x5 pad 2 groups 2, relu2, norm2, pool2 3/2: 64x7x7;
/// conv3 128x3x3, relu3; conv4 128x3x3 groups 2, relu4; conv5 128x3x3 groups 2, relu5, pool5 3/2: 128x3x3;
/// fc6 512, relu6, drop6; fc7 512, relu7, drop7; fc8 classes (N(0, 0.01²), so training starts near
/// the chance-level loss); prob. Every conv's output channels per group are a multiple of 32, the
/// channel block of the Cpu backend's direct convolution.
/// </summary>
public static class FashionAlexNet
{
    public const string Name = "fashion-alexnet";

    /// <summary>Fashion-MNIST's pixel statistics over its 60,000 training images (pixels scaled to [0, 1]).</summary>
    public const float PixelMean = 0.2860f, PixelStd = 0.3530f;

    public static Network Create(Backend backend, int seed, int classes = 10) => new AlexNetLayout(
        Input: new Shape(1, 28, 28), Conv1: Conv2dGeometry.Square(5, pad: 2), Conv2Kernel: 5, PoolCeilMode: true,
        Channels: [32, 64, 128, 128, 128], Pool5Size: 3, FullyConnected: 512, Classes: classes, Fc8Std: 0.01, Softmax: true).Create(backend, seed);

    /// <summary>Gray, pixels scaled to [0, 1], normalized by the training set's mean and deviation.</summary>
    public static Preprocessing Preprocessing => new(1, 28, 28, ChannelOrder.Gray, 1f / 255f, [PixelMean], [1f / PixelStd]);

    /// <summary>Fashion-MNIST's ten classes, in label order.</summary>
    public static IReadOnlyList<string> Classes { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
}
