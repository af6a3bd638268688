using ConvViz.Engine.Backends;
using ConvViz.Engine.Tensors;
using ConvViz.OpenCL;

namespace ConvViz.Bench;

/// <summary>
/// `opencl-kernels [--device N] [--batch 8] [--repeats N]`: every op of the OpenCL backend at
/// AlexNet's shapes, timed with device events (profiling END - START of each kernel, summed over
/// the kernels one op enqueues), median of --repeats after one warm-up call that also builds the
/// programs. Compute ops report GFLOP/s (2 per multiply-add), memory ops GB/s (bytes read + written).
/// </summary>
public static class OpenCLKernels
{
    private sealed record Case(string Op, string Shape, double Flops, double Bytes, Action Run);

    public static int Run(string[] args)
    {
        int device = int.Parse(EndToEnd.Option(args, "--device") ?? "0");
        int batch = int.Parse(EndToEnd.Option(args, "--batch") ?? "8");
        int repeats = int.Parse(EndToEnd.Option(args, "--repeats") ?? "5");
        using var backend = new OpenCLBackend(device);
        Console.WriteLine($"OpenCL kernels at AlexNet shapes, batch {batch}, on {backend.Description}");
        Console.WriteLine($"device time per op (median of {repeats}), from OpenCL profiling events");
        Console.WriteLine($"{"op",-28} {"shape",-34} {"kernels",-40} {"ms",9} {"GFLOP/s",9} {"GB/s",8}");

        var tensors = new List<Tensor>();
        Tensor T(params int[] dims)
        {
            var shape = new Shape(dims);
            var data = new float[shape.ElementCount];
            var random = new Random(tensors.Count + 1);
            for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
            var t = backend.Upload(data, shape);
            tensors.Add(t);
            return t;
        }
        Tensor Switches(Shape shape)
        {
            var t = backend.Allocate(shape, DataType.Int32);
            tensors.Add(t);
            return t;
        }

        var cases = new List<Case>();
        // AlexNet's convolutions: (name, C, H, K, kernel, stride, pad, groups).
        var convs = new (string Name, int C, int H, int K, int Kernel, int Stride, int Pad, int Groups)[]
        {
            ("conv1", 3, 227, 96, 11, 4, 0, 1), ("conv2", 96, 27, 256, 5, 1, 2, 2), ("conv3", 256, 13, 384, 3, 1, 1, 1),
            ("conv4", 384, 13, 384, 3, 1, 1, 2), ("conv5", 384, 13, 256, 3, 1, 1, 2),
        };
        foreach (var c in convs)
        {
            var g = Conv2dGeometry.Square(c.Kernel, c.Stride, c.Pad, c.Groups);
            var x = T(batch, c.C, c.H, c.H);
            var w = T(c.K, c.C / c.Groups, c.Kernel, c.Kernel);
            var bias = T(c.K);
            var yShape = Backend.ConvOutputShape(x.Shape, w.Shape, g);
            var y = T(yShape.ToArray());
            double flops = 2.0 * yShape.ElementCount * (c.C / c.Groups) * c.Kernel * c.Kernel;
            string shape = $"{c.Name} {x.Shape}→{yShape}";
            cases.Add(new($"conv2d forward", shape, flops, 0, () => backend.Conv2dForward(x, w, bias, y, g)));
            cases.Add(new($"conv2d backward data", shape, flops, 0, () => backend.Conv2dBackwardData(y, w, x, g)));
            cases.Add(new($"conv2d backward filter+bias", shape, flops, 0, () => backend.Conv2dBackwardFilter(x, y, w, bias, g)));
        }
        foreach (var (name, inputs, outputs) in new[] { ("fc6", 9216, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000) })
        {
            var x = T(batch, inputs);
            var w = T(outputs, inputs);
            var b = T(outputs);
            var y = T(batch, outputs);
            double flops = 2.0 * batch * inputs * outputs;
            cases.Add(new("gemm (x w^T + b)", $"{name} ({batch},{inputs})x({outputs},{inputs})^T", flops, 0,
                () => backend.Gemm(x, w, b, y, transB: true)));
            var dx = T(batch, inputs);
            cases.Add(new("gemm (dy w)", $"{name} backward data", flops, 0, () => backend.Gemm(y, w, null, dx)));
            var dw = T(outputs, inputs);
            cases.Add(new("gemm (dy^T x)", $"{name} backward weights", flops, 0, () => backend.Gemm(y, x, null, dw, transA: true)));
        }

        var act = T(batch, 96, 55, 55);
        var act2 = T(batch, 96, 55, 55);
        var grad = T(batch, 96, 55, 55);
        var scale = T(batch, 96, 55, 55);
        var gradIn = T(batch, 96, 55, 55);
        long n = act.ElementCount;
        var pool = PoolGeometry.Square(3, 2);
        var pooledShape = Backend.PoolOutputShape(act.Shape, pool);
        var pooled = T(pooledShape.ToArray());
        var switches = Switches(pooledShape);
        var lrn = new LrnParameters(5, 1e-4f, 0.75f, 1f);
        string a = $"relu1 {act.Shape}";
        cases.Add(new("relu forward", a, 0, 8.0 * n, () => backend.ReluForward(act, act2)));
        cases.Add(new("relu backward (guided)", a, 0, 12.0 * n, () => backend.ReluBackward(act, grad, act2, ReluRule.Guided)));
        cases.Add(new("lrn forward", $"norm1 {act.Shape}", 0, 12.0 * n, () => backend.LrnForward(act, act2, scale, lrn)));
        cases.Add(new("lrn backward", $"norm1 {act.Shape}", 0, 20.0 * n, () => backend.LrnBackward(act, act2, scale, grad, gradIn, lrn)));
        cases.Add(new("maxpool forward + switches", $"pool1 {act.Shape}→{pooledShape}", 0, 4.0 * n + 8.0 * pooledShape.ElementCount,
            () => backend.MaxPoolForward(act, pooled, switches, pool)));
        cases.Add(new("max unpool (pool backward)", $"pool1 {pooledShape}→{act.Shape}", 0, 4.0 * n + 8.0 * pooledShape.ElementCount,
            () => backend.MaxUnpool(pooled, switches, act2)));
        cases.Add(new("avgpool forward", $"{act.Shape} 3x3/2", 0, 4.0 * n + 4.0 * pooledShape.ElementCount, () => backend.AvgPoolForward(act, pooled, pool)));
        cases.Add(new("avgpool backward", $"{pooledShape}→{act.Shape}", 0, 4.0 * n + 4.0 * pooledShape.ElementCount, () => backend.AvgPoolBackward(pooled, act2, pool)));
        cases.Add(new("dropout forward", a, 0, 12.0 * n, () => backend.DropoutForward(act, act2, scale, 0.5f, 7)));
        cases.Add(new("multiply", a, 0, 12.0 * n, () => backend.Multiply(act, grad, act2)));
        cases.Add(new("axpy", a, 0, 12.0 * n, () => backend.Axpy(0.5f, act, act2)));
        var logits = T(batch, 1000);
        var probs = T(batch, 1000);
        var dprobs = T(batch, 1000);
        var dlogits = T(batch, 1000);
        var losses = T(batch);
        var labels = backend.Upload(Enumerable.Range(0, batch).Select(i => i * 7 % 1000).ToArray(), new Shape(batch));
        tensors.Add(labels);
        cases.Add(new("softmax", $"{logits.Shape}", 0, 8.0 * logits.ElementCount, () => backend.Softmax(logits, probs)));
        cases.Add(new("softmax backward", $"{logits.Shape}", 0, 12.0 * logits.ElementCount, () => backend.SoftmaxBackward(probs, dprobs, dlogits)));
        cases.Add(new("softmax cross-entropy", $"{logits.Shape}", 0, 12.0 * logits.ElementCount,
            () => backend.SoftmaxCrossEntropy(logits, labels, probs, losses, dlogits)));
        cases.Add(new("scale", a, 0, 8.0 * n, () => backend.Scale(act2, 0.5f)));
        cases.Add(new("clamp", a, 0, 8.0 * n, () => backend.Clamp(act2, -1f, 1f)));
        cases.Add(new("fill (clEnqueueFillBuffer)", a, 0, 4.0 * n, () => backend.Fill(act2, 0.25f)));
        cases.Add(new("copy (clEnqueueCopyBuffer)", a, 0, 8.0 * n, () => backend.Copy(act, act2)));
        var image = T(batch, 3, 227, 227);
        var blurred = T(batch, 3, 227, 227);
        cases.Add(new("gaussian blur sigma 1", $"{image.Shape}", 0, 16.0 * image.ElementCount, () => backend.GaussianBlur(image, blurred, 1f)));

        foreach (var c in cases)
        {
            c.Run();
            backend.Synchronize();
            var times = new double[repeats];
            string kernels = "";
            for (int r = 0; r < repeats; r++)
            {
                backend.Context.StartRecording();
                c.Run();
                var timings = backend.Context.StopRecording();
                times[r] = timings.Sum(t => t.Nanoseconds) / 1e6;
                kernels = string.Join("+", timings.Select(t => t.Kernel).Distinct());
            }
            Array.Sort(times);
            double ms = times[repeats / 2];
            string gflops = c.Flops > 0 ? $"{c.Flops / ms / 1e6,9:F1}" : $"{"",9}";
            string gbs = c.Bytes > 0 ? $"{c.Bytes / ms / 1e6,8:F1}" : $"{"",8}";
            Console.WriteLine($"{c.Op,-28} {c.Shape,-34} {kernels,-40} {ms,9:F3} {gflops} {gbs}");
        }
        foreach (var t in tensors) t.Dispose();
        return 0;
    }
}
