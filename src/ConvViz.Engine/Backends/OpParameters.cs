using ConvViz.Engine.Tensors;

namespace ConvViz.Engine.Backends;

/// <summary>How ReLU passes a signal backwards. Saliency, deconvnet and guided backprop are the
/// same backward pass with a different rule.</summary>
public enum ReluRule
{
    /// <summary>The true gradient: pass dy where the forward input was &gt; 0.</summary>
    Gradient,
    /// <summary>Zeiler &amp; Fergus deconvnet: pass the positive part of dy, whatever the forward input.</summary>
    Deconvnet,
    /// <summary>Springenberg et al. guided backprop: pass dy where both dy &gt; 0 and the forward input &gt; 0.</summary>
    Guided,
}

/// <summary>The checks every sliding window (convolution or pooling) shares.</summary>
internal static class SlidingWindow
{
    /// <summary>The largest kernel, stride, pad or dilation a window may have. Far beyond any real
    /// network, and small enough that window arithmetic on any tensor side stays exact in 64 bits.</summary>
    public const int MaxExtent = 65535;

    /// <summary>Windows that fit: floor((input + pads - reach) / stride) + 1, in 64-bit arithmetic; may be 0 or negative.</summary>
    public static long Count(int input, int padBegin, int padEnd, int kernel, int dilation, int stride) =>
        Math.Max(-1L, ((long)input + padBegin + padEnd - ((long)dilation * (kernel - 1) + 1)) / stride + 1);

    public static void Validate(string op, int kernelH, int kernelW, int strideH, int strideW,
        int padTop, int padLeft, int padBottom, int padRight, int dilationH, int dilationW)
    {
        if (kernelH < 1 || kernelW < 1) throw new ArgumentException($"{op}: kernel {kernelH}x{kernelW} must be at least 1x1");
        if (strideH < 1 || strideW < 1) throw new ArgumentException($"{op}: stride {strideH}x{strideW} must be at least 1x1");
        if (dilationH < 1 || dilationW < 1) throw new ArgumentException($"{op}: dilation {dilationH}x{dilationW} must be at least 1x1");
        if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0)
            throw new ArgumentException($"{op}: pads (top {padTop}, left {padLeft}, bottom {padBottom}, right {padRight}) must not be negative");
        if (Math.Max(Math.Max(kernelH, kernelW), Math.Max(Math.Max(strideH, strideW), Math.Max(dilationH, dilationW))) > MaxExtent
            || Math.Max(Math.Max(padTop, padLeft), Math.Max(padBottom, padRight)) > MaxExtent)
            throw new ArgumentException($"{op}: kernel {kernelH}x{kernelW}, stride {strideH}x{strideW}, dilation {dilationH}x{dilationW} and pads " +
                                        $"[{padTop}, {padLeft}, {padBottom}, {padRight}] must each be at most {MaxExtent}");
    }
}

/// <summary>Geometry of a 2-D convolution. Weights are (K, C/Groups, KernelH, KernelW).</summary>
public sealed record Conv2dGeometry(
    int KernelH, int KernelW,
    int StrideH = 1, int StrideW = 1,
    int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0,
    int DilationH = 1, int DilationW = 1,
    int Groups = 1)
{
    public static Conv2dGeometry Square(int kernel, int stride = 1, int pad = 0, int groups = 1, int dilation = 1) =>
        new(kernel, kernel, stride, stride, pad, pad, pad, pad, dilation, dilation, groups);

    /// <summary>Output rows; 0 or less when the window does not fit. Call <see cref="Validate"/> first.</summary>
    public int OutputHeight(int inputHeight) => ToSize(SlidingWindow.Count(inputHeight, PadTop, PadBottom, KernelH, DilationH, StrideH));

    public int OutputWidth(int inputWidth) => ToSize(SlidingWindow.Count(inputWidth, PadLeft, PadRight, KernelW, DilationW, StrideW));

    // With every extent at most 65535, a count above int.MaxValue cannot arise from a valid shape;
    // it saturates so the shape check that follows refuses it instead of wrapping around.
    private static int ToSize(long count) => (int)Math.Min(count, int.MaxValue);

    /// <summary>Throws when a size is out of range; the message names the offending field.</summary>
    public void Validate(string op)
    {
        SlidingWindow.Validate(op, KernelH, KernelW, StrideH, StrideW, PadTop, PadLeft, PadBottom, PadRight, DilationH, DilationW);
        if (Groups < 1) throw new ArgumentException($"{op}: groups {Groups} must be at least 1");
    }

    public override string ToString() =>
        $"kernel {KernelH}x{KernelW} stride {StrideH}x{StrideW} pads [{PadTop},{PadLeft},{PadBottom},{PadRight}] dilation {DilationH}x{DilationW} groups {Groups}";
}

/// <summary>Geometry of a 2-D max or average pooling window.</summary>
public sealed record PoolGeometry(
    int KernelH, int KernelW,
    int StrideH = 1, int StrideW = 1,
    int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0,
    int DilationH = 1, int DilationW = 1,
    bool CeilMode = false,
    bool CountIncludePad = false)
{
    public static PoolGeometry Square(int kernel, int stride, int pad = 0, bool ceilMode = false, bool countIncludePad = false) =>
        new(kernel, kernel, stride, stride, pad, pad, pad, pad, 1, 1, ceilMode, countIncludePad);

    public int OutputHeight(int inputHeight) => OutputSize(inputHeight, KernelH, StrideH, PadTop, PadBottom, DilationH);
    public int OutputWidth(int inputWidth) => OutputSize(inputWidth, KernelW, StrideW, PadLeft, PadRight, DilationW);

    // Floor or ceil of the window count; in ceil mode a last window that would start inside the
    // end padding is dropped (the Caffe / PyTorch rule), so every window sees at least one input.
    private int OutputSize(int input, int kernel, int stride, int padBegin, int padEnd, int dilation)
    {
        long span = (long)input + padBegin + padEnd - ((long)dilation * (kernel - 1) + 1);
        if (span < 0) return 0;
        long count = CeilMode ? (span + stride - 1) / stride + 1 : span / stride + 1;
        if (CeilMode && (count - 1) * stride >= (long)input + padBegin) count--;
        return (int)Math.Min(count, int.MaxValue);
    }

    /// <summary>
    /// The divisor of one average-pool window: the taps that land on real inputs, or with
    /// CountIncludePad the taps inside the padded extent [-padBegin, size + padEnd) (taps that only
    /// exist because of ceil mode never count).
    /// </summary>
    public int AverageDivisor(int H, int W, int oh, int ow)
    {
        int rows = 0, cols = 0;
        int lowH = CountIncludePad ? -PadTop : 0, highH = CountIncludePad ? H + PadBottom : H;
        int lowW = CountIncludePad ? -PadLeft : 0, highW = CountIncludePad ? W + PadRight : W;
        for (int r = 0; r < KernelH; r++)
        {
            int ih = oh * StrideH - PadTop + r * DilationH;
            if (ih >= lowH && ih < highH) rows++;
        }
        for (int s = 0; s < KernelW; s++)
        {
            int iw = ow * StrideW - PadLeft + s * DilationW;
            if (iw >= lowW && iw < highW) cols++;
        }
        return rows * cols;
    }

    public void Validate(string op)
    {
        SlidingWindow.Validate(op, KernelH, KernelW, StrideH, StrideW, PadTop, PadLeft, PadBottom, PadRight, DilationH, DilationW);
        // A pad up to the window's reach, (kernel - 1) * dilation, still leaves a real input in every edge window.
        int reachH = (KernelH - 1) * DilationH, reachW = (KernelW - 1) * DilationW;
        if (PadTop > reachH || PadBottom > reachH || PadLeft > reachW || PadRight > reachW)
            throw new ArgumentException($"{op}: pads (top {PadTop}, left {PadLeft}, bottom {PadBottom}, right {PadRight}) must not exceed the window's reach ({reachH} rows, {reachW} columns) of the {KernelH}x{KernelW} window");
    }

    public override string ToString() =>
        $"kernel {KernelH}x{KernelW} stride {StrideH}x{StrideW} pads [{PadTop},{PadLeft},{PadBottom},{PadRight}] dilation {DilationH}x{DilationW}{(CeilMode ? " ceil" : "")}{(CountIncludePad ? " count_include_pad" : "")}";
}

/// <summary>
/// Local response normalization across channels with ONNX/Caffe semantics:
/// y = x / (Bias + Alpha / Size * sum of x^2 over the Size channels around c)^Beta.
/// The window of channel c is [c - floor((Size-1)/2), c + ceil((Size-1)/2)], clipped to the channels.
/// </summary>
public sealed record LrnParameters(int Size, float Alpha = 1e-4f, float Beta = 0.75f, float Bias = 1f)
{
    public int WindowBefore => (Size - 1) / 2;
    public int WindowAfter => Size - 1 - WindowBefore;

    public void Validate(string op)
    {
        if (Size < 1) throw new ArgumentException($"{op}: size {Size} must be at least 1");
        if (!(Bias > 0) || !float.IsFinite(Bias))
            throw new ArgumentException($"{op}: bias {Bias} must be a positive finite number (the denominator is bias + alpha/size * sum of squares)");
        if (!(Alpha >= 0) || !float.IsFinite(Alpha)) throw new ArgumentException($"{op}: alpha {Alpha} must be a finite number of at least 0");
        if (!float.IsFinite(Beta)) throw new ArgumentException($"{op}: beta {Beta} must be a finite number");
    }
}

/// <summary>What a padded border holds (ONNX Pad's modes).</summary>
public enum PadMode
{
    /// <summary>The constant <see cref="PadGeometry.Value"/>.</summary>
    Constant,
    /// <summary>The mirror image without the edge row: ... c b | a b c ... (needs pad &lt; size).</summary>
    Reflect,
    /// <summary>The edge row repeated: a a | a b c.</summary>
    Edge,
}

/// <summary>
/// Padding of the two spatial axes of an (N, C, H, W) tensor: y is (N, C, H + Top + Bottom,
/// W + Left + Right), and output row oh reads input row oh - Top, mapped into [0, H) by the mode
/// (constant rows outside it hold Value). A negative pad crops that side.
/// </summary>
public sealed record PadGeometry(int Top, int Left, int Bottom, int Right, PadMode Mode = PadMode.Constant, float Value = 0f)
{
    /// <summary>The input row (or column) that output index o reads: o - begin mapped by the mode,
    /// or -1 for a constant border.</summary>
    public static int SourceIndex(int o, int begin, int size, PadMode mode)
    {
        int i = o - begin;
        if (i >= 0 && i < size) return i;
        return mode switch
        {
            PadMode.Constant => -1,
            PadMode.Edge => i < 0 ? 0 : size - 1,
            _ => i < 0 ? -i : 2 * (size - 1) - i,
        };
    }

    /// <summary>The output shape for input x, after checking the pads against it.</summary>
    public Shape OutputShape(Shape x, string op)
    {
        Validate(op);
        if (x.Rank != 4) throw new ArgumentException($"{op}: x has shape {x} (rank {x.Rank}), expected rank 4 (N, C, H, W)");
        long oh = (long)x.H + Top + Bottom, ow = (long)x.W + Left + Right;
        if (oh < 1 || ow < 1)
            throw new ArgumentException($"{op}: pads {this} leave no output of input {x} ({oh}x{ow})");
        if (Mode == PadMode.Reflect && (Top >= x.H || Bottom >= x.H || Left >= x.W || Right >= x.W))
            throw new ArgumentException($"{op}: reflect pads {this} must each be smaller than the side they extend (input {x}: {x.H} rows, {x.W} columns)");
        return Shape.Nchw(x.N, x.C, (int)oh, (int)ow);
    }

    public void Validate(string op)
    {
        if (!Enum.IsDefined(Mode)) throw new ArgumentException($"{op}: unknown pad mode {(int)Mode}");
        if (Math.Max(Math.Max(Math.Abs((long)Top), Math.Abs((long)Left)), Math.Max(Math.Abs((long)Bottom), Math.Abs((long)Right))) > SlidingWindow.MaxExtent)
            throw new ArgumentException($"{op}: pads {this} must each be at most {SlidingWindow.MaxExtent} in size");
        if (Mode == PadMode.Constant && !float.IsFinite(Value))
            throw new ArgumentException($"{op}: the constant value {Value} must be a finite number");
    }

    public override string ToString() =>
        $"[top {Top}, left {Left}, bottom {Bottom}, right {Right}] {Mode.ToString().ToLowerInvariant()}{(Mode == PadMode.Constant && Value != 0f ? $" {Value}" : "")}";
}

/// <summary>
/// The bounds of Clip, y = min(max(x, Min), Max) (ReLU6 is Clip(0, 6)); an absent bound is an
/// infinity. Backward passes dy by the rule (see <see cref="ReluRule"/>), with the bounds as gates:
/// gradient dy·[Min &lt; x &lt; Max] (PyTorch's hardtanh backward, strict at both bounds); deconvnet
/// max(dy, 0)·[x &lt; Max] (ReLU's deconvnet rule ignores the sign of x, so the lower bound is not a
/// gate, while the upper cut is kept); guided max(dy, 0)·[Min &lt; x &lt; Max].
/// </summary>
public sealed record ClipBounds(float Min, float Max)
{
    public static ClipBounds Relu6 { get; } = new(0f, 6f);

    public void Validate(string op)
    {
        if (float.IsNaN(Min) || float.IsNaN(Max) || Min > Max || float.IsPositiveInfinity(Min) || float.IsNegativeInfinity(Max))
            throw new ArgumentException($"{op}: bounds [{Min}, {Max}] must be numbers with min <= max (infinite only on their own side)");
    }

    /// <summary>Whether dy passes at forward input x under the rule (the definition every backend follows).</summary>
    public bool Passes(float x, float dy, ReluRule rule) => rule switch
    {
        ReluRule.Gradient => Min < x && x < Max,
        ReluRule.Deconvnet => dy > 0 && x < Max,
        _ => dy > 0 && Min < x && x < Max,
    };

    public override string ToString() => $"[{Min}, {Max}]";
}
