using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Cpu;
using ConvViz.Tests.Conformance;
using ConvViz.Tests.Gradients;
using ConvViz.Tests.Networks;
using ConvViz.Tests.Parity;
using ConvViz.Tests.Validation;
using ConvViz.Tests.Visualization;
using Xunit.Abstractions;

namespace ConvViz.Tests;

// The backend-agnostic test bodies bound to the Cpu backend, one line each.

public sealed class CpuOnnxConformanceTests(ITestOutputHelper output) : OnnxConformanceTests(output) { protected override Backend CreateBackend() => new CpuBackend(); }

public sealed class CpuGradientChecks : GradientChecks { protected override Backend CreateBackend() => new CpuBackend(); }

public sealed class CpuGraphOpGradientChecks : GraphOpGradientChecks { protected override Backend CreateBackend() => new CpuBackend(); }

public sealed class CpuBadInputTests : BadInputTests { protected override Backend CreateBackend() => new CpuBackend(); }

public sealed class CpuNetworkTests : NetworkTests { protected override Backend CreateBackend() => new CpuBackend(); }

public sealed class CpuParityTests : BackendParityTests { protected override Backend CreateBackend() => new CpuBackend(); }

public sealed class CpuNetworkParityTests : NetworkParityTests { protected override Backend CreateBackend() => new CpuBackend(); }

/// <summary>One worker thread: the single-threaded code paths (no work split) against Reference too.</summary>
public sealed class CpuSingleThreadParityTests : BackendParityTests { protected override Backend CreateBackend() => new CpuBackend(threads: 1); }

public sealed class CpuLiveToolboxTests : LiveToolboxTests { protected override Backend CreateBackend() => new CpuBackend(); }

public sealed class CpuBackwardTraceTests : BackwardTraceTests { protected override Backend CreateBackend() => new CpuBackend(); }
