using ConvViz.Engine.Backends;
using ConvViz.Engine.Backends.Reference;

namespace ConvViz.Tests.Support;

/// <summary>
/// Every backend-agnostic test class derives from this and is bound to a backend by a one-line
/// subclass per backend (see PerBackend.cs). Tolerances live here, per backend, not in test bodies.
/// </summary>
public abstract class BackendTest : IDisposable
{
    private Backend? backend;

    /// <summary>The backend under test; created on first use and disposed with the test.</summary>
    protected Backend Backend => backend ??= CreateBackend();

    protected abstract Backend CreateBackend();

    /// <summary>Absolute and relative tolerance against the Reference backend (or against
    /// independent data such as the ONNX vectors) for float results of ordinary magnitude.</summary>
    protected virtual (double Atol, double Rtol) Tolerance => (1e-5, 1e-4);

    /// <summary>The Reference backend, the law that fast paths are compared with.</summary>
    protected static Backend CreateReference() => new ReferenceBackend();

    /// <summary>Releases what a test class holds besides the backend under test.</summary>
    protected virtual void Cleanup() { }

    public void Dispose()
    {
        Cleanup();
        backend?.Dispose();
        GC.SuppressFinalize(this);
    }
}
