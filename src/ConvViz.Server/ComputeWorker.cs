using ConvViz.Engine.Toolbox;

namespace ConvViz.Server;

/// <summary>Something with work for the compute worker: a viewer with a frame to compute, or one HTTP request.</summary>
internal interface IComputeSource
{
    /// <summary>Called under <see cref="ComputeWorker.Gate"/> when the source reaches the front of the queue: its pending work
    /// (run next, outside the lock, on the worker thread), or null when it has none left (a viewer that closed).</summary>
    Action<LiveToolbox, CancellationToken>? Take();
}

/// <summary>
/// The one thread that owns the live toolbox (a network is used by one caller at a time): every frame of every viewer and
/// every HTTP API request is computed here, one at a time. Sources with pending work wait in a round-robin queue: a viewer
/// that gets a new frame while its last one is computed goes to the back, behind the others, so several tabs share compute
/// fairly; a viewer is in the queue at most once however many frames it sends.
/// </summary>
internal sealed class ComputeWorker : IDisposable
{
    private readonly Queue<IComputeSource> ready = new();
    private readonly Thread thread;
    private readonly CancellationTokenSource stopping = new();
    private bool stopped;

    public ComputeWorker(LiveToolbox toolbox)
    {
        Toolbox = toolbox;
        thread = new Thread(Loop) { IsBackground = true, Name = "convviz live toolbox" };
        thread.Start();
    }

    /// <summary>The toolbox; only work run by this worker may call it, except for reading its model.</summary>
    public LiveToolbox Toolbox { get; }

    /// <summary>The lock that guards the queue and every viewer's pending frame and selection.</summary>
    public object Gate { get; } = new();

    /// <summary>Puts <paramref name="source"/> at the back of the queue; the caller holds <see cref="Gate"/>.</summary>
    public void Enqueue(IComputeSource source)
    {
        if (stopped) return;
        ready.Enqueue(source);
        Monitor.Pulse(Gate);
    }

    /// <summary>Runs <paramref name="work"/> on the worker, in turn with the viewers; its exception, if any, ends the task.</summary>
    public Task<T> RunAsync<T>(Func<LiveToolbox, CancellationToken, T> work)
    {
        var job = new Job<T>(work);
        lock (Gate)
        {
            if (stopped) job.Result.TrySetCanceled();
            else Enqueue(job);
        }
        return job.Result.Task;
    }

    private void Loop()
    {
        while (true)
        {
            Action<LiveToolbox, CancellationToken>? work;
            lock (Gate)
            {
                while (ready.Count == 0 && !stopped) Monitor.Wait(Gate);
                if (stopped) return;
                work = ready.Dequeue().Take();
            }
            work?.Invoke(Toolbox, stopping.Token);
        }
    }

    /// <summary>Stops after the work in progress; queued HTTP requests end cancelled.</summary>
    public void Dispose()
    {
        lock (Gate)
        {
            if (stopped) return;
            stopped = true;
            foreach (var source in ready) (source as IJob)?.Cancel();
            ready.Clear();
            Monitor.Pulse(Gate);
        }
        stopping.Cancel();
        thread.Join();
        stopping.Dispose();
    }

    private interface IJob { void Cancel(); }

    private sealed class Job<T>(Func<LiveToolbox, CancellationToken, T> work) : IComputeSource, IJob
    {
        public TaskCompletionSource<T> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Action<LiveToolbox, CancellationToken> Take() => (toolbox, cancellation) =>
        {
            try { Result.TrySetResult(work(toolbox, cancellation)); }
            catch (Exception e) { Result.TrySetException(e); }
        };

        public void Cancel() => Result.TrySetCanceled();
    }
}
