using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Engine.Imaging;
using ConvViz.Engine.Models;
using ConvViz.Engine.Tensors;
using ConvViz.Engine.Visualization;
using ConvViz.OpenCL;
using ConvViz.Tests.Support;
using Xunit.Abstractions;

namespace ConvViz.Tests.Visualization;

/// <summary>Neural style: the Gram matrix by hand, L-BFGS on known functions, the objective's gradient
/// against finite differences, loss curves of both optimizers, determinism, OpenCL against cpu, bad options.</summary>
public sealed class NeuralStyleTests(ITestOutputHelper output)
{
    private static ModelBundle DefaultBundle(Backend backend) => ModelBundle.Load(Fixtures.Path("..", "..", "weights", "fashion-alexnet"), backend);

    private static float[] Boot(Preprocessing p) => ImageTensors.ToInput(ImageFile.Read(Fixtures.Path("images", "ankle_boot.png")), p);

    /// <summary>28x28 diagonal black and white stripes, 3 pixels wide: a style with strong, oriented texture.</summary>
    public static Image8 Stripes() =>
        new(28, 28, 1, Enumerable.Range(0, 28 * 28).Select(i => (byte)((i % 28 + i / 28) / 3 % 2 == 0 ? 0 : 255)).ToArray());

    private static float[] StripesInput(Preprocessing p) => ImageTensors.ToInput(Stripes(), p);

    [Fact]
    public void Gram_MatchesAHandComputation()
    {
        using var backend = new CpuBackend();
        // F (2 channels, 3 positions) = [[1, 2, 3], [4, 5, 6]]: F·Fᵀ = [[14, 32], [32, 77]], |F| = 6.
        using var features = backend.Upload([1f, 2, 3, 4, 5, 6], Shape.Nchw(1, 2, 1, 3));
        var gram = StyleObjective.Gram(features);
        float[] expected = [14f / 6, 32f / 6, 32f / 6, 77f / 6];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], gram[i], 1e-5f);
    }

    [Fact]
    public void Lbfgs_FindsTheMinimumOfRosenbrock()
    {
        // f = (1 - a)² + 100 (b - a²)², minimum 0 at (1, 1), from the classic start (-1.2, 1).
        var x = new[] { -1.2f, 1f };
        var outcome = new Lbfgs().Minimize(x, (v, g) =>
        {
            double a = v[0], b = v[1];
            g[0] = (float)(-2 * (1 - a) - 400 * a * (b - a * a));
            g[1] = (float)(200 * (b - a * a));
            return (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
        }, steps: 200);
        output.WriteLine($"{outcome}, x = ({x[0]}, {x[1]})");
        Assert.True(Math.Abs(x[0] - 1) < 1e-3 && Math.Abs(x[1] - 1) < 1e-3, $"L-BFGS ended at ({x[0]}, {x[1]}), {outcome}");
        Assert.True(outcome.Steps < 100, $"L-BFGS took {outcome.Steps} steps; it needs about 40 on Rosenbrock");
    }

    [Fact]
    public void Lbfgs_SolvesAnIllConditionedQuadratic()
    {
        // f = ½ Σ λ_i (x_i - 1)² with λ from 1 to 1e3 (condition number 1e3) in 100 dimensions, from 0.
        // Gradient descent at its best fixed step 2/(λmin + λmax) shrinks the λ = 1 coordinate's error by
        // 0.998 a step and needs ~3500 steps to reach 1e-3; L-BFGS gets there in ~150 (5e-5 at 200).
        const int n = 100;
        var lambda = Enumerable.Range(0, n).Select(i => Math.Pow(1e3, i / (n - 1.0))).ToArray();
        var x = new float[n];
        var outcome = new Lbfgs().Minimize(x, (v, g) =>
        {
            double f = 0;
            for (int i = 0; i < n; i++)
            {
                g[i] = (float)(lambda[i] * (v[i] - 1));
                f += 0.5 * lambda[i] * (v[i] - 1) * (v[i] - 1);
            }
            return f;
        }, steps: 200);
        output.WriteLine(outcome.ToString());
        Assert.True(x.All(v => Math.Abs(v - 1) < 1e-3), $"worst coordinate {x.Max(v => Math.Abs(v - 1))} from 1; {outcome}");
    }

    [Fact]
    public void TotalVariation_IsNeuralStylesTVLossOnAHandExample()
    {
        // u = [[0, 1], [3, 5]]: only (0,0) has both neighbours: dx = 0 - 1 = -1, dy = 0 - 3 = -3.
        // loss = w/2·(1 + 9) = 5w; gradient: (0,0) += w·(dx + dy) = -4w, (0,1) -= w·dx, (1,0) -= w·dy.
        var gradient = new float[4];
        double loss = TotalVariation.AddLossAndGradient([0f, 1, 3, 5], 1, 2, 2, 0.5f, gradient);
        Assert.Equal(2.5, loss, 6);
        Assert.Equal([-2f, 0.5f, 1.5f, 0f], gradient);
    }

    /// <summary>
    /// The objective's gradient at a perturbed content image against central differences at 24 seeded
    /// coordinates. Tolerance reasoning: the forward runs in float32, so the loss (summed in double
    /// from float activations) carries a relative round-off of ~1e-7 and the difference quotient an
    /// absolute noise of ~1e-7·L/2h; with L ≲ 10 and h = 1e-2 input units (≈ 1 pixel level) that is
    /// ~5e-5, far below the 1e-2·max|g| floor used. Truncation is h²/6·|f'''| ≈ 1e-5·|f'''| (the losses
    /// are quadratic and quartic in the activations, and the network is piecewise linear away from the
    /// LRN). A coordinate whose ±h crosses a ReLU or max-pool kink could miss by O(1), which is why the
    /// test image has margins (noise on a real image) and why h stays small. A real bug (missing factor
    /// 2, wrong Gram divisor, a transposed Gemm, a lost layer) is off by 50% or more.
    /// </summary>
    [Theory]
    [InlineData(5f, 0f, 0f)]
    [InlineData(0f, 1e4f, 0f)]
    [InlineData(0f, 0f, 1f)]
    [InlineData(5f, 1e4f, 1e-3f)]
    public void Gradient_MatchesCentralDifferences(float contentWeight, float styleWeight, float tvWeight)
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var p = bundle.Preprocessing;
        var options = new StyleOptions { ContentWeight = contentWeight, StyleWeight = styleWeight, TvWeight = tvWeight }.Resolve(bundle.Network);
        using var objective = new StyleObjective(bundle.Network, p, Boot(p), StripesInput(p), options);
        var noise = TestData.Uniform(p.Channels * p.Height * p.Width, 11, 0.5f);
        var x = StripesInput(p).Select((v, i) => 0.5f * v + noise[i]).ToArray();
        var gradient = new float[x.Length];
        double loss = objective.Evaluate(x, gradient);
        Assert.True(loss > 0, "the check needs a nonzero loss");

        const float h = 1e-2f;
        double scale = gradient.Max(v => Math.Abs((double)v));
        var scratch = new float[x.Length];
        var random = new Random(5);
        for (int k = 0; k < 24; k++)
        {
            int i = random.Next(x.Length);
            float saved = x[i];
            x[i] = saved + h;
            double plus = objective.Evaluate(x, scratch);
            x[i] = saved - h;
            double minus = objective.Evaluate(x, scratch);
            x[i] = saved;
            double numeric = (plus - minus) / (2 * h);
            double tolerance = 1e-2 * Math.Max(Math.Max(Math.Abs(numeric), Math.Abs(gradient[i])), scale);
            Assert.True(Math.Abs(numeric - gradient[i]) <= tolerance,
                $"coordinate {i}: analytic {gradient[i]:G6}, numeric {numeric:G6} (largest |g| {scale:G4}, loss {loss:G6})");
        }
    }

    /// <summary>Style weight 1e4: on this small-activation model the style term at neural-style's
    /// default of 100 is ~0.04 against a content term of ~0.6, so it would hardly be tested. In 40 steps
    /// both take the style loss from 3.8 to about 1.0 (bar: half); the content term, traded against
    /// style and TV, falls less (0.61 to 0.43 with Adam, 0.48 with L-BFGS; bar: 0.9x).</summary>
    [Theory]
    [InlineData(StyleOptimizer.Adam)]
    [InlineData(StyleOptimizer.Lbfgs)]
    public void StyleTransfer_LowersContentAndStyleLoss(StyleOptimizer optimizer)
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var p = bundle.Preprocessing;
        var options = new StyleOptions { Optimizer = optimizer, Iterations = 40, StyleWeight = 1e4f };
        var result = NeuralStyle.Run(bundle.Network, p, Boot(p), StripesInput(p), options);
        var start = result.Losses[0];
        output.WriteLine($"start {start}, final {result.Final}, {result.Evaluations} evaluations, stop {result.Stop}");
        Assert.Equal(41, result.Losses.Count);
        Assert.True(result.Final.Content < 0.9 * start.Content, $"content loss {start.Content:G4} -> {result.Final.Content:G4}");
        Assert.True(result.Final.Style < 0.5 * start.Style, $"style loss {start.Style:G4} -> {result.Final.Style:G4}");
        var clipped = (float[])result.Image.Clone();
        p.ClampToPixelRange(clipped);
        Assert.Equal(clipped, result.Image);
    }

    [Fact]
    public void SameSeed_SameImage_OtherSeed_OtherImage()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var p = bundle.Preprocessing;
        float[] Run(int seed) => NeuralStyle.Run(bundle.Network, p, Boot(p), StripesInput(p), new StyleOptions { Iterations = 5, Seed = seed }).Image;
        Assert.Equal(Run(3), Run(3));
        Assert.NotEqual(Run(3), Run(4));
    }

    /// <summary>
    /// The objective at one image, then five L-BFGS steps, on OpenCL (PoCL's CPU device) against cpu.
    /// The backends agree per layer to ~1e-4 relative (OpenCLEndToEndTests); the losses are squared
    /// differences of activations, so they agree to ~2e-4, and the gradient to ~1e-4 of its largest
    /// value. Over five steps the L-BFGS iterates depend continuously on those gradients (a different
    /// backtracking count would show as a jump of 2x in the step, far above 1e-2), hence 1e-2 there.
    /// </summary>
    [Fact]
    public void OpenCL_MatchesCpu()
    {
        using var cpu = new CpuBackend();
        using var opencl = new OpenCLBackend();
        using var onCpu = DefaultBundle(cpu);
        using var onDevice = DefaultBundle(opencl);
        var p = onCpu.Preprocessing;
        var options = new StyleOptions { Optimizer = StyleOptimizer.Lbfgs, StyleWeight = 1e4f, Iterations = 5 };
        var x = Boot(p).Select((v, i) => 0.5f * v).ToArray();
        var (cpuGradient, deviceGradient) = (new float[x.Length], new float[x.Length]);
        using (var cpuObjective = new StyleObjective(onCpu.Network, p, Boot(p), StripesInput(p), options.Resolve(onCpu.Network)))
        using (var deviceObjective = new StyleObjective(onDevice.Network, p, Boot(p), StripesInput(p), options.Resolve(onDevice.Network)))
        {
            cpuObjective.Evaluate(x, cpuGradient);
            deviceObjective.Evaluate(x, deviceGradient);
            AssertLosses(cpuObjective.Latest, deviceObjective.Latest, 1e-3, "one evaluation");
        }
        double scale = cpuGradient.Max(v => Math.Abs((double)v));
        TensorAssert.Close(cpuGradient, deviceGradient, 1e-3 * scale, 1e-3, "gradient");

        var cpuRun = NeuralStyle.Run(onCpu.Network, p, Boot(p), StripesInput(p), options);
        var deviceRun = NeuralStyle.Run(onDevice.Network, p, Boot(p), StripesInput(p), options);
        Assert.Equal(cpuRun.Losses.Count, deviceRun.Losses.Count);
        for (int k = 0; k < cpuRun.Losses.Count; k++) AssertLosses(cpuRun.Losses[k], deviceRun.Losses[k], 1e-2, $"iteration {k}");
    }

    private static void AssertLosses(StyleLosses expected, StyleLosses actual, double relative, string label)
    {
        foreach (var (name, e, a) in new[] { ("content", expected.Content, actual.Content), ("style", expected.Style, actual.Style), ("tv", expected.TotalVariation, actual.TotalVariation) })
            Assert.True(Math.Abs(e - a) <= relative * Math.Abs(e) + 1e-9, $"{label}: {name} loss {a:G6} on OpenCL, {e:G6} on cpu");
    }

    [Theory]
    [InlineData("--content-weight -1", "ContentWeight -1 must be")]
    [InlineData("--style-weight -1", "StyleWeight -1 must be")]
    [InlineData("--tv-weight -1", "TvWeight -1 must be")]
    [InlineData("--iterations 0", "Iterations 0 must be at least 1")]
    [InlineData("--lr 0", "LearningRate 0 must be a positive number")]
    [InlineData("--content-layer nope", "ContentLayer nope: no layer named 'nope'")]
    [InlineData("--style-layers relu1,nope", "StyleLayers nope: no layer named 'nope'")]
    [InlineData("--style-layers fc6", "StyleLayers fc6: Gram matrices need feature maps (C, H, W)")]
    [InlineData("--style-layers relu1,relu1", "names a layer twice")]
    public void BadOptions_SayWhichOptionAndWhy(string option, string message)
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var parts = option.Split(' ');
        var defaults = new StyleOptions();
        var options = parts[0] switch
        {
            "--content-weight" => defaults with { ContentWeight = float.Parse(parts[1]) },
            "--style-weight" => defaults with { StyleWeight = float.Parse(parts[1]) },
            "--tv-weight" => defaults with { TvWeight = float.Parse(parts[1]) },
            "--iterations" => defaults with { Iterations = int.Parse(parts[1]) },
            "--lr" => defaults with { LearningRate = float.Parse(parts[1]) },
            "--content-layer" => defaults with { ContentLayer = parts[1] },
            _ => defaults with { StyleLayers = parts[1].Split(',') },
        };
        var e = Assert.ThrowsAny<ArgumentException>(() => options.Resolve(bundle.Network));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void DefaultLayers_AreTheReLUsAfterTheConvs()
    {
        using var backend = new CpuBackend();
        using var bundle = DefaultBundle(backend);
        var options = new StyleOptions().Resolve(bundle.Network);
        Assert.Equal("relu4", options.ContentLayer);
        Assert.Equal(["relu1", "relu2", "relu3", "relu4", "relu5"], options.StyleLayers);
    }
}
