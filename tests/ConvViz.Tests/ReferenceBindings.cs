using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Reference;
using ConvViz.Tests.Conformance;
using ConvViz.Tests.Gradients;
using ConvViz.Tests.Networks;
using ConvViz.Tests.Validation;
using ConvViz.Tests.Visualization;
using Xunit.Abstractions;

namespace ConvViz.Tests;

// The backend-agnostic test bodies bound to the Reference backend, one line each.
// (The parity bodies compare a backend with Reference, so Reference itself does not run them.)

public sealed class ReferenceOnnxConformanceTests(ITestOutputHelper output) : OnnxConformanceTests(output) { protected override Backend CreateBackend() => new ReferenceBackend(); }

public sealed class ReferenceGradientChecks : GradientChecks { protected override Backend CreateBackend() => new ReferenceBackend(); }

public sealed class ReferenceGraphOpGradientChecks : GraphOpGradientChecks { protected override Backend CreateBackend() => new ReferenceBackend(); }

public sealed class ReferenceBadInputTests : BadInputTests { protected override Backend CreateBackend() => new ReferenceBackend(); }

public sealed class ReferenceNetworkTests : NetworkTests { protected override Backend CreateBackend() => new ReferenceBackend(); }

public sealed class ReferenceLiveToolboxTests : LiveToolboxTests { protected override Backend CreateBackend() => new ReferenceBackend(); }

public sealed class ReferenceBackwardTraceTests : BackwardTraceTests { protected override Backend CreateBackend() => new ReferenceBackend(); }
