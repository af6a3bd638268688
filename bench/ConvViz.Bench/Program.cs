using BenchmarkDotNet.Running;
using ConvViz.Bench;

// `e2e [--backend cpu|reference|opencl] [--device N] [--repeats N]` runs the end-to-end AlexNet
// timings; `opencl-kernels [--device N] [--batch N] [--repeats N]` times every OpenCL kernel with
// device events; `train-step [--backend B] [--batch N]` times one SGD step of the default
// Fashion-MNIST model layer by layer; `optimize [--backend B] [--iterations N] [--units N]` times
// preset 3 on AlexNet conv5, single and batched; `topk [--images N]` times the top-9 pass and
// projections for conv5 + fc7 of the default model; `tsne [--n 5000] [--method M] [--threads N]`
// times t-SNE of the default model's fc7 codes of Fashion-MNIST test images; `resnet [--nets
// resnet18,resnet50] [--batches 1,8] [--threads N] [--repeats N] [--no-layers]` runs ResNet forward
// interleaved with ONNX Runtime and shows where ConvViz's time goes per layer type; `serve [--model M] [--layer L]
// [--seconds S]` streams frames through `convviz serve`'s WebSocket with the back pane on and off; anything else goes to
// BenchmarkDotNet (e.g. `--filter *Conv*`).
if (args.Length > 0 && args[0] == "e2e")
    return EndToEnd.Run(args[1..]);
if (args.Length > 0 && args[0] == "train-step")
    return TrainingStep.Run(args[1..]);
if (args.Length > 0 && args[0] == "optimize")
    return OptimizeBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "topk")
    return TopKBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "tsne")
    return TsneBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "resnet")
    return ResNetBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "serve")
    return ServeBench.Run(args[1..]);
if (args.Length > 0 && args[0] == "opencl-kernels")
    return OpenCLKernels.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
