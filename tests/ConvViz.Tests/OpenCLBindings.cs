using ConvViz.Engine.Backends;
using ConvViz.OpenCL;
using ConvViz.Tests.Conformance;
using ConvViz.Tests.Gradients;
using ConvViz.Tests.Networks;
using ConvViz.Tests.Parity;
using ConvViz.Tests.Validation;
using Xunit.Abstractions;

namespace ConvViz.Tests;

// The backend-agnostic test bodies bound to the OpenCL backend on device 0 (PoCL's CPU device in
// CI), one line each. Without an OpenCL device these fail with the packages to install; they never skip.

public sealed class OpenCLOnnxConformanceTests(ITestOutputHelper output) : OnnxConformanceTests(output) { protected override Backend CreateBackend() => new OpenCLBackend(); }

public sealed class OpenCLGradientChecks : GradientChecks { protected override Backend CreateBackend() => new OpenCLBackend(); }

public sealed class OpenCLGraphOpGradientChecks : GraphOpGradientChecks { protected override Backend CreateBackend() => new OpenCLBackend(); }

public sealed class OpenCLBadInputTests : BadInputTests { protected override Backend CreateBackend() => new OpenCLBackend(); }

public sealed class OpenCLNetworkTests : NetworkTests { protected override Backend CreateBackend() => new OpenCLBackend(); }

public sealed class OpenCLParityTests : BackendParityTests { protected override Backend CreateBackend() => new OpenCLBackend(); }

public sealed class OpenCLNetworkParityTests : NetworkParityTests { protected override Backend CreateBackend() => new OpenCLBackend(); }

// On a CPU device the backend picks the vectorized convolution, GEMM and LRN kernels; these bind
// the bodies that exercise those ops to the tiled (GPU) kernels too, so both families are proven here.

public sealed class OpenCLTiledOnnxConformanceTests(ITestOutputHelper output) : OnnxConformanceTests(output) { protected override Backend CreateBackend() => new OpenCLBackend(0, OpenCLKernelVariant.Tiled); }

public sealed class OpenCLTiledGradientChecks : GradientChecks { protected override Backend CreateBackend() => new OpenCLBackend(0, OpenCLKernelVariant.Tiled); }

public sealed class OpenCLTiledParityTests : BackendParityTests { protected override Backend CreateBackend() => new OpenCLBackend(0, OpenCLKernelVariant.Tiled); }

public sealed class OpenCLTiledNetworkParityTests : NetworkParityTests { protected override Backend CreateBackend() => new OpenCLBackend(0, OpenCLKernelVariant.Tiled); }
