using System.Diagnostics;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Layers;
using ConvViz.Engine.Models;
using ConvViz.Engine.Networks;
using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Visualization;

/// <summary>
/// DeepDream's settings, as google/deepdream's dream.ipynb: octave_n, octave_scale, iter_n,
/// step_size and jitter. Step and jitter are in pixels (the notebook's Caffe input is pixels minus
/// the mean), whatever scaling the model applies to its input.
/// </summary>
public sealed record DreamOptions
{
    public int Octaves { get; init; } = 4;
    public float OctaveScale { get; init; } = 1.4f;
    public int Iterations { get; init; } = 10;
    /// <summary>Each step changes the pixels by this much on average: x += Step · g / mean|g| (g in pixel units).</summary>
    public float Step { get; init; } = 1.5f;
    /// <summary>The largest random roll in pixels, both axes; null: <see cref="DefaultJitter"/> for the model's size.</summary>
    public int? Jitter { get; init; }
    public int Seed { get; init; }

    /// <summary>The notebook's 32 pixels at 224, scaled to the model's shorter side (4 at 28, 32 at 227).</summary>
    public static int DefaultJitter(Preprocessing p) => Math.Max(1, (int)Math.Round(32.0 * Math.Min(p.Height, p.Width) / 224));

    /// <summary>"-oct3-it5-seed2": each setting that differs from <paramref name="reference"/>, for file names.</summary>
    public string DifferencesFrom(DreamOptions reference)
    {
        var parts = new List<string>();
        void Add<T>(string key, T mine, T theirs)
        {
            if (!EqualityComparer<T>.Default.Equals(mine, theirs)) parts.Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"-{key}{mine}"));
        }
        Add("oct", Octaves, reference.Octaves);
        Add("scale", OctaveScale, reference.OctaveScale);
        Add("it", Iterations, reference.Iterations);
        Add("step", Step, reference.Step);
        Add("jitter", Jitter, reference.Jitter);
        Add("seed", Seed, reference.Seed);
        return string.Concat(parts);
    }

    public void Validate()
    {
        if (Octaves < 1) throw new ArgumentOutOfRangeException(nameof(Octaves), Octaves, $"{nameof(Octaves)} {Octaves} must be at least 1");
        if (!(OctaveScale > 1))
            throw new ArgumentOutOfRangeException(nameof(OctaveScale), OctaveScale, $"{nameof(OctaveScale)} {OctaveScale} must be greater than 1 (each octave is this much smaller than the next)");
        if (Iterations < 1) throw new ArgumentOutOfRangeException(nameof(Iterations), Iterations, $"{nameof(Iterations)} {Iterations} must be at least 1");
        if (!(Step > 0)) throw new ArgumentOutOfRangeException(nameof(Step), Step, $"{nameof(Step)} {Step} must be positive (the mean pixel change per iteration)");
        if (Jitter < 0) throw new ArgumentOutOfRangeException(nameof(Jitter), Jitter, $"{nameof(Jitter)} {Jitter} must be zero (no jitter) or a positive number of pixels");
    }
}

/// <summary>One octave: its size, the objective 0.5·Σa² (and the mean a²) at its start image and at
/// its end, both without jitter, and its wall-clock time.</summary>
public sealed record DreamOctave(int Height, int Width, double Before, double After, double MeanSquareBefore, double MeanSquareAfter, double Milliseconds);

/// <summary>After step <see cref="Iteration"/> of octave <see cref="Octave"/> (both from 0): the objective 0.5·Σa² at the jittered image before the step.</summary>
public readonly record struct DreamProgress(int Octave, int Octaves, int Iteration, int Iterations, double Objective);

/// <summary>The dreamed image as a model input (C, H, W) at the model's size, and every octave, smallest first.</summary>
public sealed record DreamResult(float[] Image, IReadOnlyList<DreamOctave> Octaves);

/// <summary>
/// DeepDream (Mordvintsev et al. 2015, the dream.ipynb recipe): gradient ascent on the L2 of a
/// layer's activations, 0.5·Σa² (so the backward seed is the activations themselves), over
/// octaves from the smallest, size / scale^(octaves-1), up to the model's size. The detail an
/// octave adds (its image minus its base, the start image resized) is upsampled onto the next
/// octave's base. Each iteration rolls the image by a random offset, steps, and rolls back.
/// </summary>
public static class DeepDream
{
    /// <param name="start">The start image as a model input (C, H, W) at the model's size.</param>
    /// <param name="progress">Told after every step, on the calling thread.</param>
    public static DreamResult Run(Network network, Preprocessing p, string layer, DreamOptions o, float[] start,
        IProgress<DreamProgress>? progress = null, CancellationToken cancellation = default)
    {
        Validate(network, p, layer, o);
        int channels = p.Channels;
        if (start.Length != channels * p.Height * p.Width)
            throw new ArgumentException($"the start image has {start.Length} values, the model takes ({channels}, {p.Height}, {p.Width})", nameof(start));
        var sizes = OctaveSizes(p.Height, p.Width, o.Octaves, o.OctaveScale);
        int jitter = o.Jitter ?? DreamOptions.DefaultJitter(p);
        var random = new Random(o.Seed);

        // bases[i] is the start image at octave i's size, each shrunk from the next larger one.
        var bases = new float[sizes.Count][];
        bases[^1] = start;
        for (int i = sizes.Count - 2; i >= 0; i--)
            bases[i] = Resize(bases[i + 1], channels, sizes[i + 1], sizes[i], ResizeMethod.Area);

        var octaves = new List<DreamOctave>();
        var detail = new float[bases[0].Length];
        float[] image = [];
        for (int octave = 0; octave < sizes.Count; octave++)
        {
            var clock = Stopwatch.StartNew();
            var (height, width) = sizes[octave];
            if (octave > 0) detail = Resize(detail, channels, sizes[octave - 1], sizes[octave], ResizeMethod.Bilinear);
            image = bases[octave].Zip(detail, (b, d) => b + d).ToArray();
            p.ClampToPixelRange(image, height, width);
            var before = Objective(network, layer, image, channels, height, width);
            for (int iteration = 0; iteration < o.Iterations; iteration++)
            {
                cancellation.ThrowIfCancellationRequested();
                int shiftX = random.Next(-jitter, jitter + 1), shiftY = random.Next(-jitter, jitter + 1);
                var rolled = Roll(image, channels, height, width, shiftX, shiftY);
                var (objective, gradient) = ObjectiveAndGradient(network, layer, rolled, channels, height, width);
                AscentStep(image, Roll(gradient, channels, height, width, -shiftX, -shiftY), p, o.Step);
                p.ClampToPixelRange(image, height, width);
                progress?.Report(new DreamProgress(octave, sizes.Count, iteration, o.Iterations, objective.Half));
            }
            var after = Objective(network, layer, image, channels, height, width);
            octaves.Add(new DreamOctave(height, width, before.Half, after.Half, before.MeanSquare, after.MeanSquare, clock.Elapsed.TotalMilliseconds));
            detail = image.Zip(bases[octave], (x, b) => x - b).ToArray();
        }
        return new DreamResult(image, octaves);
    }

    /// <summary>The (height, width) of each octave, smallest first: each is the next larger one divided by scale, rounded.</summary>
    public static IReadOnlyList<(int Height, int Width)> OctaveSizes(int height, int width, int octaves, float scale)
    {
        var sizes = new List<(int, int)> { (height, width) };
        for (int i = 1; i < octaves; i++)
        {
            var (h, w) = sizes[^1];
            sizes.Add((Math.Max(1, (int)Math.Round(h / scale)), Math.Max(1, (int)Math.Round(w / scale))));
        }
        sizes.Reverse();
        return sizes;
    }

    /// <summary>The ReLU after the third convolution (after the last when there are fewer); the convolution itself when no ReLU follows it.</summary>
    public static string DefaultLayer(Network network)
    {
        var rectified = LayerRoles.RectifiedConvolutions(network);
        if (rectified.Count == 0) throw new ArgumentException("the model has no convolution to dream with; give a Layer", "Layer");
        return rectified[Math.Min(2, rectified.Count - 1)];
    }

    /// <summary>
    /// The model input (C, H, W) of the mean image (mid-gray for a model without a mean) plus
    /// N(0, std²) pixel noise, clipped to the pixel range: the start when there is no image.
    /// </summary>
    public static float[] MeanPlusNoise(Preprocessing p, int seed, float std = 10f)
    {
        var random = new Random(seed);
        int plane = p.Height * p.Width;
        var input = new float[p.Channels * plane];
        for (int i = 0; i < input.Length; i++)
        {
            int c = i / plane;
            double noise = std * GaussianNoise.Next(random);
            input[i] = p.ToInput(Math.Clamp((float)(p.MeanPixel(c, i % plane) + noise), 0f, 255f), c, i % plane);
        }
        return input;
    }

    /// <summary>
    /// Checks the options and that the layer runs at every octave's size: a layer without spatial
    /// extent (fully connected) only at the model's size, so with one octave; a convolutional one down
    /// to its smallest input, which the message names with the most octaves that fit.
    /// </summary>
    public static void Validate(Network network, Preprocessing p, string layer, DreamOptions o)
    {
        o.Validate();
        var modelOutput = network.OutputShape(layer, 1);
        if (o.Octaves == 1) return;
        if (modelOutput.Rank != 4)
            throw new ArgumentException($"Octaves {o.Octaves}: layer '{layer}' has no spatial extent (its output is {modelOutput}), so it runs only at the model's " +
                                        $"{p.Height}x{p.Width} size and cannot dream over smaller octaves; use Octaves 1 or a convolutional layer", "Octaves");
        var (height, width) = OctaveSizes(p.Height, p.Width, o.Octaves, o.OctaveScale)[0];
        if (network.Accepts(layer, Shape.Nchw(1, p.Channels, height, width))) return;
        var (minHeight, minWidth) = SmallestInput(network, p, layer);
        int most = Enumerable.Range(1, o.Octaves).Last(n =>
        {
            var (smallestHeight, smallestWidth) = OctaveSizes(p.Height, p.Width, n, o.OctaveScale)[0];
            return smallestHeight >= minHeight && smallestWidth >= minWidth;
        });
        throw new ArgumentException($"Octaves {o.Octaves} makes the smallest octave {height}x{width}, too small for layer '{layer}' " +
                                    $"(needs at least {minHeight}x{minWidth}); use at most {most} octave{(most == 1 ? "" : "s")} at OctaveScale {o.OctaveScale}", "Octaves");
    }

    /// <summary>The smallest height (at the model's width) and width (at the model's height) the
    /// layer runs at; output sizes of convolutions and pools grow with their input, so every larger size runs too.</summary>
    private static (int Height, int Width) SmallestInput(Network network, Preprocessing p, string layer)
    {
        int height = Enumerable.Range(1, p.Height).First(h => network.Accepts(layer, Shape.Nchw(1, p.Channels, h, p.Width)));
        int width = Enumerable.Range(1, p.Width).First(w => network.Accepts(layer, Shape.Nchw(1, p.Channels, p.Height, w)));
        return (height, width);
    }

    /// <summary>0.5·Σa² and mean a² of the layer's activations a.</summary>
    private readonly record struct L2(double Half, double MeanSquare)
    {
        public static L2 Of(float[] activations)
        {
            double sum = 0;
            foreach (float a in activations) sum += (double)a * a;
            return new L2(0.5 * sum, sum / activations.Length);
        }
    }

    private static L2 Objective(Network network, string layer, float[] image, int channels, int height, int width)
    {
        var backend = network.Parameters.First().Value.Backend;
        using var input = backend.Upload(image, Shape.Nchw(1, channels, height, width));
        using var pass = network.Forward(input, upTo: layer);
        return L2.Of(backend.Download(pass.Last));
    }

    /// <summary>The objective and its gradient with respect to the image (C, H, W): backward with the activations as the seed.</summary>
    private static (L2 Objective, float[] Gradient) ObjectiveAndGradient(Network network, string layer, float[] image, int channels, int height, int width)
    {
        var backend = network.Parameters.First().Value.Backend;
        using var input = backend.Upload(image, Shape.Nchw(1, channels, height, width));
        using var pass = network.Forward(input, upTo: layer);
        var objective = L2.Of(backend.Download(pass.Last));
        using var gradient = network.Backward(pass, layer, pass.Last)!;
        return (objective, backend.Download(gradient));
    }

    /// <summary>
    /// x += Step · g / mean|g| in pixel units: with k_c input units per pixel, the pixel gradient is
    /// g·k_c and a pixel change Δ is an input change Δ·k_c, so the input moves by Step·k_c²·g / mean|g·k|.
    /// A zero gradient (a dead layer) leaves the image as it is.
    /// </summary>
    private static void AscentStep(float[] image, float[] gradient, Preprocessing p, float step)
    {
        int plane = image.Length / p.Channels;
        double meanAbsolute = 0;
        for (int i = 0; i < gradient.Length; i++) meanAbsolute += Math.Abs(gradient[i] * p.InputPerPixel(i / plane));
        meanAbsolute /= gradient.Length;
        if (meanAbsolute == 0) return;
        for (int i = 0; i < image.Length; i++)
        {
            float perPixel = p.InputPerPixel(i / plane);
            image[i] += (float)(step * perPixel * perPixel * gradient[i] / meanAbsolute);
        }
    }

    /// <summary>np.roll over both spatial axes: out[c, y, x] = in[c, (y - shiftY) mod H, (x - shiftX) mod W].</summary>
    public static float[] Roll(float[] image, int channels, int height, int width, int shiftX, int shiftY)
    {
        var rolled = new float[image.Length];
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < height; y++)
            {
                int sourceRow = (c * height + Modulo(y - shiftY, height)) * width;
                for (int x = 0; x < width; x++) rolled[(c * height + y) * width + x] = image[sourceRow + Modulo(x - shiftX, width)];
            }
        return rolled;
    }

    private static int Modulo(int value, int divisor) => ((value % divisor) + divisor) % divisor;

    private static float[] Resize(float[] image, int channels, (int Height, int Width) from, (int Height, int Width) to, ResizeMethod method)
    {
        int plane = from.Height * from.Width;
        var planes = Enumerable.Range(0, channels).Select(c => image.AsSpan(c * plane, plane).ToArray()).ToArray();
        return ImageTensors.Resize(planes, from.Width, from.Height, to.Width, to.Height, method).SelectMany(v => v).ToArray();
    }
}
