using ConvViz.Engine.Backends;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Models;

/// <summary>
/// The other members of the AlexNet family, with seeded random weights (<see cref="WeightInitializer"/>),
/// Caffe layer names: CaffeNet, ZFNet and VGG-16. <see cref="AlexNet"/> is the first of them.
/// </summary>
public static class ClassicNets
{
    private static readonly LrnParameters CaffeLrn = new(Size: 5, Alpha: 1e-4f, Beta: 0.75f, Bias: 1f);

    /// <summary>CaffeNet (Caffe's bvlc_reference_caffenet): AlexNet with each pooling before its normalization.</summary>
    public static Network CaffeNet(Backend backend, int seed, int classes = 1000)
    {
        var init = new WeightInitializer(backend, seed);
        var pool = PoolGeometry.Square(3, 2);
        return new Network(new Shape(3, 227, 227),
        [
            init.Conv("conv1", 3, 96, Conv2dGeometry.Square(11, stride: 4)), new ReluLayer("relu1"),
            new MaxPoolLayer("pool1", pool), new LrnLayer("norm1", CaffeLrn),
            init.Conv("conv2", 96, 256, Conv2dGeometry.Square(5, pad: 2, groups: 2)), new ReluLayer("relu2"),
            new MaxPoolLayer("pool2", pool), new LrnLayer("norm2", CaffeLrn),
            init.Conv("conv3", 256, 384, Conv2dGeometry.Square(3, pad: 1)), new ReluLayer("relu3"),
            init.Conv("conv4", 384, 384, Conv2dGeometry.Square(3, pad: 1, groups: 2)), new ReluLayer("relu4"),
            init.Conv("conv5", 384, 256, Conv2dGeometry.Square(3, pad: 1, groups: 2)), new ReluLayer("relu5"),
            new MaxPoolLayer("pool5", pool),
            .. Classifier(init, 256 * 6 * 6, 4096, classes, seed),
        ]);
    }

    /// <summary>ZFNet (Zeiler &amp; Fergus 2013): 7x7/2 first filters, 5x5/2 second layer, no groups, 224x224 input.</summary>
    public static Network ZfNet(Backend backend, int seed, int classes = 1000)
    {
        var init = new WeightInitializer(backend, seed);
        var pool = new PoolGeometry(3, 3, 2, 2, 0, 0, 1, 1, CeilMode: false);
        return new Network(new Shape(3, 224, 224),
        [
            init.Conv("conv1", 3, 96, Conv2dGeometry.Square(7, stride: 2, pad: 1)), new ReluLayer("relu1"),
            new MaxPoolLayer("pool1", pool), new LrnLayer("norm1", CaffeLrn),
            init.Conv("conv2", 96, 256, Conv2dGeometry.Square(5, stride: 2)), new ReluLayer("relu2"),
            new MaxPoolLayer("pool2", pool), new LrnLayer("norm2", CaffeLrn),
            init.Conv("conv3", 256, 384, Conv2dGeometry.Square(3, pad: 1)), new ReluLayer("relu3"),
            init.Conv("conv4", 384, 384, Conv2dGeometry.Square(3, pad: 1)), new ReluLayer("relu4"),
            init.Conv("conv5", 384, 256, Conv2dGeometry.Square(3, pad: 1)), new ReluLayer("relu5"),
            new MaxPoolLayer("pool5", PoolGeometry.Square(3, 2)),
            .. Classifier(init, 256 * 6 * 6, 4096, classes, seed),
        ]);
    }

    /// <summary>
    /// VGG-16 (Simonyan &amp; Zisserman, configuration D): thirteen 3x3 convolutions in five blocks,
    /// each block ending in 2x2 max pooling, then three fully connected layers. widthDivisor and
    /// inputSize scale it down (1 and 224 give the original, 138 M parameters).
    /// </summary>
    public static Network Vgg16(Backend backend, int seed, int classes = 1000, int widthDivisor = 1, int inputSize = 224)
    {
        if (widthDivisor < 1 || 64 % widthDivisor != 0) throw new ArgumentException($"VGG-16: width divisor {widthDivisor} must divide 64");
        if (inputSize < 32 || inputSize % 32 != 0) throw new ArgumentException($"VGG-16: input size {inputSize} must be a multiple of 32");
        var init = new WeightInitializer(backend, seed);
        var layers = new List<Layer>();
        int channels = 3;
        int[][] blocks = [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]];
        for (int b = 0; b < blocks.Length; b++)
        {
            for (int c = 0; c < blocks[b].Length; c++)
            {
                int width = blocks[b][c] / widthDivisor;
                layers.Add(init.Conv($"conv{b + 1}_{c + 1}", channels, width, Conv2dGeometry.Square(3, pad: 1)));
                layers.Add(new ReluLayer($"relu{b + 1}_{c + 1}"));
                channels = width;
            }
            layers.Add(new MaxPoolLayer($"pool{b + 1}", PoolGeometry.Square(2, 2)));
        }
        int spatial = inputSize / 32;
        layers.AddRange(Classifier(init, channels * spatial * spatial, 4096 / widthDivisor, classes, seed));
        return new Network(new Shape(3, inputSize, inputSize), layers);
    }

    /// <summary>fc6, relu6, drop6, fc7, relu7, drop7, fc8: the classifier the family shares.</summary>
    private static Layer[] Classifier(WeightInitializer init, int inputs, int hidden, int classes, int seed) =>
    [
        init.FullyConnected("fc6", inputs, hidden), new ReluLayer("relu6"), new DropoutLayer("drop6", 0.5f, (uint)seed + 6),
        init.FullyConnected("fc7", hidden, hidden), new ReluLayer("relu7"), new DropoutLayer("drop7", 0.5f, (uint)seed + 7),
        init.FullyConnected("fc8", hidden, classes),
    ];
}
