using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Models;

/// <summary>
/// The original two-tower AlexNet (Krizhevsky et al. 2012, as in Caffe's bvlc_alexnet deploy.prototxt):
/// 227x227x3 input; conv1 96x11x11/4, relu1, norm1 LRN(5, 1e-4, 0.75, 1), pool1 3/2;
/// conv2 256x5x5 pad 2 groups 2, relu2, norm2, pool2 3/2; conv3 384x3x3 pad 1, relu3;
/// conv4 384x3x3 pad 1 groups 2, relu4; conv5 256x3x3 pad 1 groups 2, relu5, pool5 3/2;
/// fc6 4096, relu6, drop6; fc7 4096, relu7, drop7; fc8 classes.
/// </summary>
public static class AlexNet
{
    public static Network Create(Backend backend, int seed, int classes = 1000) => new AlexNetLayout(
        Input: new Shape(3, 227, 227), Conv1: Conv2dGeometry.Square(11, stride: 4), Conv2Kernel: 5, PoolCeilMode: false,
        Channels: [96, 256, 384, 384, 256], Pool5Size: 6, FullyConnected: 4096, Classes: classes).Create(backend, seed);
}

/// <summary>
/// AlexNet's layer sequence with its sizes as parameters, Caffe's layer names throughout:
/// conv1, relu1, norm1 LRN(5, 1e-4, 0.75, 1), pool1 3/2; conv2 (pad kernel/2, groups 2), relu2,
/// norm2, pool2 3/2; conv3 3x3 pad 1, relu3; conv4 3x3 pad 1 groups 2, relu4; conv5 3x3 pad 1
/// groups 2, relu5, pool5 3/2; fc6, relu6, drop6 0.5; fc7, relu7, drop7 0.5; fc8; and, when
/// <see cref="Softmax"/>, prob. Weights are He-normal except fc8's when <see cref="Fc8Std"/> is set.
/// </summary>
public sealed record AlexNetLayout(Shape Input, Conv2dGeometry Conv1, int Conv2Kernel, bool PoolCeilMode, int[] Channels,
    int Pool5Size, int FullyConnected, int Classes, double? Fc8Std = null, bool Softmax = false)
{
    public Network Create(Backend backend, int seed)
    {
        var init = new WeightInitializer(backend, seed);
        var lrn = new LrnParameters(Size: 5, Alpha: 1e-4f, Beta: 0.75f, Bias: 1f);
        var pool = PoolGeometry.Square(kernel: 3, stride: 2, ceilMode: PoolCeilMode);
        int[] c = Channels;
        var layers = new List<Layer>
        {
            init.Conv("conv1", Input[0], c[0], Conv1),
            new ReluLayer("relu1"),
            new LrnLayer("norm1", lrn),
            new MaxPoolLayer("pool1", pool),
            init.Conv("conv2", c[0], c[1], Conv2dGeometry.Square(Conv2Kernel, pad: Conv2Kernel / 2, groups: 2)),
            new ReluLayer("relu2"),
            new LrnLayer("norm2", lrn),
            new MaxPoolLayer("pool2", pool),
            init.Conv("conv3", c[1], c[2], Conv2dGeometry.Square(3, pad: 1)),
            new ReluLayer("relu3"),
            init.Conv("conv4", c[2], c[3], Conv2dGeometry.Square(3, pad: 1, groups: 2)),
            new ReluLayer("relu4"),
            init.Conv("conv5", c[3], c[4], Conv2dGeometry.Square(3, pad: 1, groups: 2)),
            new ReluLayer("relu5"),
            new MaxPoolLayer("pool5", pool),
            init.FullyConnected("fc6", c[4] * Pool5Size * Pool5Size, FullyConnected),
            new ReluLayer("relu6"),
            new DropoutLayer("drop6", 0.5f, (uint)seed + 6),
            init.FullyConnected("fc7", FullyConnected, FullyConnected),
            new ReluLayer("relu7"),
            new DropoutLayer("drop7", 0.5f, (uint)seed + 7),
            Fc8Std is { } std ? init.FullyConnected("fc8", FullyConnected, Classes, std) : init.FullyConnected("fc8", FullyConnected, Classes),
        };
        if (Softmax) layers.Add(new SoftmaxLayer("prob"));
        return new Network(Input, layers);
    }
}

/// <summary>
/// Seeded He (Kaiming) normal initialization for layers followed by ReLU: weights ~ N(0, 2/fan_in),
/// biases 0. Values are drawn on the host in layer order, so a seed gives the same network on every backend.
/// </summary>
public sealed class WeightInitializer(Backend backend, int seed)
{
    private readonly Random random = new(seed);

    public Conv2dLayer Conv(string name, int inputs, int outputs, Conv2dGeometry g)
    {
        int fanIn = inputs / g.Groups * g.KernelH * g.KernelW;
        var weight = Normal(new Shape(outputs, inputs / g.Groups, g.KernelH, g.KernelW), Math.Sqrt(2.0 / fanIn));
        return new Conv2dLayer(name, weight, backend.Allocate(outputs), g);
    }

    public FullyConnectedLayer FullyConnected(string name, int inputs, int outputs) => FullyConnected(name, inputs, outputs, Math.Sqrt(2.0 / inputs));

    /// <summary>A fully connected layer with weights ~ N(0, std²): a small std for a classifier's last
    /// layer (Caffe uses 0.01) starts training at the chance-level loss ln(classes).</summary>
    public FullyConnectedLayer FullyConnected(string name, int inputs, int outputs, double std) =>
        new(name, Normal(new Shape(outputs, inputs), std), backend.Allocate(outputs));

    private Tensor Normal(Shape shape, double std)
    {
        var data = new float[shape.ElementCount];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (float)(std * GaussianNoise.Next(random));
        }
        return backend.Upload(data, shape);
    }
}
