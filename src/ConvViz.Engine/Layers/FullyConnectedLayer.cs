using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Layers;

/// <summary>
/// y (N, out) = x (N, in) · weightᵀ + bias, with weight (out, in) as in ONNX Gemm with transB = 1
/// and Caffe's InnerProduct. A rank-4 input (N, C, H, W) is read as (N, C·H·W), as Caffe does.
/// </summary>
public sealed class FullyConnectedLayer : Layer
{
    private Tensor? ones;

    public FullyConnectedLayer(string name, Tensor weight, Tensor? bias) : base(name)
    {
        if (weight.Shape.Rank != 2) throw new ArgumentException($"layer '{name}' (Gemm): weight has shape {weight.Shape}, expected (outputs, inputs)");
        Weight = new Parameter(name + ".weight", weight);
        Bias = bias is null ? null : new Parameter(name + ".bias", bias);
    }

    public Parameter Weight { get; }
    public Parameter? Bias { get; }
    public int Inputs => Weight.Value.Shape[1];
    public int Outputs => Weight.Value.Shape[0];

    public override string OpType => "Gemm";
    public override IReadOnlyList<Parameter> Parameters => Bias is null ? [Weight] : [Weight, Bias];

    public override Shape OutputShape(Shape input)
    {
        if (input.SampleSize != Inputs || input.Rank < 2)
            throw new ArgumentException($"layer '{Name}' (Gemm): input has shape {input} ({input.SampleSize} features per sample), expected (N, {Inputs})");
        return new Shape(input.N, Outputs);
    }

    public override long MultiplyAccumulates(Shape input) => (long)input.N * Inputs * Outputs;

    public override LayerOutput Forward(Tensor x, bool training)
    {
        var y = x.Backend.Allocate(OutputShape(x.Shape));
        x.Backend.Gemm(AsMatrix(x), Weight.Value, Bias?.Value, y, transB: true);
        return new LayerOutput(y, null);
    }

    public override Tensor? Backward(Tensor x, LayerOutput forward, Tensor dy, BackwardOptions options)
    {
        var backend = x.Backend;
        var x2 = AsMatrix(x);
        if (options.ParameterGradients)
        {
            // dW (out, in) = dyᵀ (out, N) · x (N, in); dbias (out) = 1ᵀ (1, N) · dy (N, out).
            backend.Gemm(dy, x2, null, Weight.EnsureGradient(), transA: true);
            if (Bias is not null)
                backend.Gemm(Ones(backend, x.Shape.N), dy, null, Bias.EnsureGradient().Reshape(1, Outputs));
        }
        if (!options.InputGradient) return null;
        // dx (N, in) = dy (N, out) · W (out, in), returned in x's own shape.
        var dx = backend.Allocate(x.Shape);
        backend.Gemm(dy, Weight.Value, null, dx.Reshape(x2.Shape));
        return dx;
    }

    public override void Dispose()
    {
        ones?.Dispose();
        base.Dispose();
    }

    private static Tensor AsMatrix(Tensor x) => x.Shape.Rank == 2 ? x : x.Reshape(x.Shape.N, x.Shape.SampleSize);

    private Tensor Ones(Backends.Backend backend, int n)
    {
        if (ones is null || ones.Shape[1] != n || !ReferenceEquals(ones.Backend, backend))
        {
            ones?.Dispose();
            ones = backend.Allocate(1, n);
            backend.Fill(ones, 1f);
        }
        return ones;
    }
}
