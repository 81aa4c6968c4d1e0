// The library-wide degree of parallelism (PyTorch's torch.set_num_threads / get_num_threads).
// Kernels split large problems into at most this many parts; small problems stay on the
// calling thread because handing work to another core costs more than it saves.
//
// Parallel parts run on dedicated background worker threads (not the thread pool): after a
// job a worker spins briefly (100 µs, yielding now and then) for the next one before it blocks,
// so back-to-back products (an RNN's per-step GEMMs) are handed over quickly. Parallel.For gives
// no guarantee that both halves run at once, which made small products slower and less steady.
// Threads take parts in order from a shared counter, so the caller also takes parts whose
// worker has not started yet (on a busy machine a worker may not get a core in time).
// One caller at a time owns the workers; a concurrent caller (e.g. Infer from several threads)
// simply runs its product on its own thread.
//
// Measured on a loaded 2-core VM (load 8–12): a worker spinning 5 ms between jobs made small
// two-thread products 40× slower (it held the core the caller needed); 200 µs gave a bimodal
// 0.11 / 0.42 ms for the RNN step (one thread: 0.17 ms); 0–100 µs with yields gave 0.24–0.39 ms.
using System.Diagnostics;

namespace NeuralPrimitives;

/// <summary>How many threads the kernels may use (like <c>torch.set_num_threads</c>).</summary>
public static class Parallelism
{
    private static int _numThreads = Environment.ProcessorCount;
    private static int _busy;
    private static Worker[] _workers = [];
    private static long _parallelRuns;

    /// <summary>How many jobs have run split across threads (lets tests prove the threaded path ran).</summary>
    internal static long ParallelRuns => Interlocked.Read(ref _parallelRuns);

    /// <summary>Maximum number of threads a kernel may use; defaults to the processor count. Must be ≥ 1.</summary>
    public static int NumThreads
    {
        get => _numThreads;
        set
        {
            Guard.Positive(value, nameof(NumThreads));
            _numThreads = value;
        }
    }

    /// <summary>
    /// Takes exclusive use of the workers; returns false when another caller holds them (the
    /// caller should then do the work itself). Pair with <see cref="ExitParallel"/>; fill the job
    /// only after entering, since jobs are reused objects.
    /// </summary>
    internal static bool TryEnterParallel() => Interlocked.CompareExchange(ref _busy, 1, 0) == 0;

    /// <summary>Releases the workers taken by <see cref="TryEnterParallel"/>.</summary>
    internal static void ExitParallel() => Volatile.Write(ref _busy, 0);

    /// <summary>
    /// Runs <c>job.Execute(0 .. parts-1)</c> on <paramref name="threads"/> threads after <see cref="TryEnterParallel"/>:
    /// the calling thread and threads − 1 dedicated workers take parts in order until none are left
    /// (so a descheduled worker on a busy machine delays at most the one part it holds); returns when all have finished.
    /// </summary>
    internal static void RunParallel(ParallelJob job, int threads, int parts)
    {
        if (Volatile.Read(ref _busy) != 1) throw new InvalidOperationException("RunParallel needs TryEnterParallel first.");
        threads = Math.Min(threads, parts);
        var workers = _workers;
        if (workers.Length < threads - 1)
        {
            var grown = new Worker[threads - 1];
            Array.Copy(workers, grown, workers.Length);
            for (int i = workers.Length; i < grown.Length; i++) grown[i] = new Worker(i + 1);
            _workers = workers = grown;
        }
        job.ResetParts(parts);
        for (int i = 1; i < threads; i++) workers[i - 1].Post(job);
        Exception? error = null;
        try { job.RunParts(); }
        catch (Exception e) { error = e; }
        for (int i = 1; i < threads; i++) error ??= workers[i - 1].WaitDone();
        if (error is not null) throw new AggregateException("A parallel kernel part failed.", error);
        Interlocked.Increment(ref _parallelRuns);
    }

    /// <summary>A dedicated background thread that runs one part of a job at a time.</summary>
    private sealed class Worker
    {
        private const long SpinMicrosecondsAfterJob = 100; // microseconds spent spinning for the next job before blocking
        private const long SpinMicrosecondsBeforeYield = 50; // caller: busy-wait this long for the last parts before yielding
        private readonly ManualResetEventSlim _wake = new(false, 0);
        private ParallelJob? _job;
        private int _posted, _done, _sleeping;
        private Exception? _error;

        public Worker(int index)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"NeuralPrimitives worker {index}" };
            thread.Start();
        }

        public void Post(ParallelJob job)
        {
            _job = job;
            _error = null;
            Interlocked.Increment(ref _posted);          // full fence: publishes the job, then reads _sleeping
            if (Volatile.Read(ref _sleeping) == 1) _wake.Set();
        }

        public Exception? WaitDone()
        {
            // Busy-wait without yielding first: a yield on a loaded machine can cost a whole time slice,
            // far longer than the part still running. Yield only if the part takes unusually long.
            int target = Volatile.Read(ref _posted);
            long start = Stopwatch.GetTimestamp(), patience = Stopwatch.Frequency * SpinMicrosecondsBeforeYield / 1_000_000;
            while (Volatile.Read(ref _done) != target && Stopwatch.GetTimestamp() - start < patience) Thread.SpinWait(10);
            var spin = new SpinWait();
            while (Volatile.Read(ref _done) != target) spin.SpinOnce(sleep1Threshold: -1);
            return _error;
        }

        private void Loop()
        {
            int seen = 0;
            long spinLimit = Stopwatch.Frequency * SpinMicrosecondsAfterJob / 1_000_000;
            while (true)
            {
                long start = Stopwatch.GetTimestamp();
                // Spin briefly for the next job (back-to-back products, e.g. an RNN's steps), yielding now and
                // then: a worker that only spins can hold the core the calling thread needs on a busy machine.
                for (int i = 1; Volatile.Read(ref _posted) == seen && Stopwatch.GetTimestamp() - start < spinLimit; i++)
                {
                    if (i % 8 == 0) Thread.Yield();
                    else Thread.SpinWait(20);
                }
                while (Volatile.Read(ref _posted) == seen)
                {
                    _wake.Reset();
                    Interlocked.Exchange(ref _sleeping, 1);  // full fence: announce sleep, then re-check
                    if (Volatile.Read(ref _posted) == seen) _wake.Wait();
                    Volatile.Write(ref _sleeping, 0);
                }
                seen = Volatile.Read(ref _posted);
                try { _job!.RunParts(); }
                catch (Exception e) { _error = e; }
                _job = null;
                Volatile.Write(ref _done, seen);
            }
        }
    }
}

/// <summary>Work split into parts that may run on different threads (see <see cref="Parallelism.RunParallel"/>).</summary>
internal abstract class ParallelJob
{
    private int _nextPart, _parts;

    /// <summary>Makes parts 0 .. parts-1 available (before the job is posted).</summary>
    internal void ResetParts(int parts)
    {
        _parts = parts;
        Volatile.Write(ref _nextPart, 0);
    }

    /// <summary>Takes and runs parts until none are left.</summary>
    internal void RunParts()
    {
        int part;
        while ((part = Interlocked.Increment(ref _nextPart) - 1) < _parts) Execute(part);
    }

    /// <summary>Runs part <paramref name="part"/> of the job.</summary>
    public abstract void Execute(int part);
}

/// <summary>An element-wise operation on elements [start, end) of the arrays it refers to (a struct, so no call per element).</summary>
internal interface IRangeOperation
{
    /// <summary>Computes elements <paramref name="start"/> … <paramref name="end"/> − 1.</summary>
    void Run(int start, int end);
}

/// <summary>
/// Splits an element-wise operation over a long range between the threads (the GELU of a feed-forward net's hidden
/// layer, millions of elements; an optimiser's update of a large parameter); ranges shorter than two parts run on the
/// calling thread. Parts start at
/// multiples of 64 elements, so a vector loop sees the same vector boundaries whatever the split.
/// </summary>
internal static class ParallelRanges
{
    /// <summary>The shortest part (elements): shorter ones cost more to hand over than they save.</summary>
    internal const int MinPartLength = 1 << 15;

    /// <summary>
    /// Runs <paramref name="operation"/> over [0, <paramref name="length"/>), where each index stands for
    /// <paramref name="cost"/> elements of work (a row of a matrix, a column summed over all rows), in parts of
    /// at least <paramref name="minPart"/> indices (a multiple of 64).
    /// </summary>
    public static void Run<TOp>(TOp operation, int length, int cost = 1, int minPart = 64) where TOp : struct, IRangeOperation
    {
        Debug.Assert(minPart > 0 && minPart % 64 == 0);
        // At most one part per MinPartLength elements of work, and every part at least minPart indices long.
        int maxParts = (int)Math.Min((long)length * cost / MinPartLength, (length + minPart - 1) / minPart);
        int threads = Math.Min(Parallelism.NumThreads, maxParts);
        if (threads <= 1 || !Parallelism.TryEnterParallel())
        {
            operation.Run(0, length);
            return;
        }
        var job = RangeJob<TOp>.Instance;
        try
        {
            int parts = Math.Min(4 * threads, maxParts);
            job.Operation = operation;
            job.Length = length;
            job.PartLength = (length / parts + 63) & ~63;
            Parallelism.RunParallel(job, threads, (length + job.PartLength - 1) / job.PartLength);
        }
        finally
        {
            job.Operation = default; // drop the pointers into the caller's buffers
            Parallelism.ExitParallel();
        }
    }

    private sealed class RangeJob<TOp> : ParallelJob where TOp : struct, IRangeOperation
    {
        /// <summary>One instance per operation type; only used between Parallelism.TryEnterParallel and ExitParallel.</summary>
        public static readonly RangeJob<TOp> Instance = new();
        public TOp Operation;
        public int Length, PartLength;

        public override void Execute(int part)
        {
            int start = part * PartLength;
            Operation.Run(start, Math.Min(Length, start + PartLength));
        }
    }

    /// <summary>dst = x + y element-wise (a residual connection), split between the threads when long.</summary>
    public static unsafe void Add<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> dst) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Debug.Assert(x.Length == y.Length && x.Length == dst.Length);
        fixed (T* px = x, py = y, pd = dst) Run(new AddRange<T>(px, py, pd), x.Length);
    }

    /// <summary>sum[j] += Σ_r x[r, j] over rows r &lt; <paramref name="rows"/> of x (row stride <paramref name="ld"/>): a bias
    /// gradient, split by columns so that each column is summed in row order whatever the split.</summary>
    /// <remarks>
    /// Parts are at least <see cref="RowSumMinPart"/> columns wide: a narrow part walks down its few columns through rows
    /// a whole row stride apart, which caches and prefetchers serve badly. Measured on a Zen 4 host, one thread,
    /// x [2048, 1024]: 128-column parts of one span add per row took 0.5–2.2 ms; the blocked kernel below in
    /// 512-column parts 0.17–0.23 ms, the same as one span add per row over the whole width (0.18).
    /// </remarks>
    public static unsafe void AccumulateRowSum<T>(ReadOnlySpan<T> x, int ld, int rows, Span<T> sum) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (rows == 0) return;
        x = x[..((rows - 1) * ld + sum.Length)]; // the rows must fit (pointers below)
        fixed (T* px = x, ps = sum) Run(new RowSumRange<T>(px, ld, rows, ps), sum.Length, rows, RowSumMinPart);
    }

    /// <summary>The narrowest column part of <see cref="AccumulateRowSum{T}"/>.</summary>
    internal const int RowSumMinPart = 256;

    private readonly unsafe struct AddRange<T>(T* x, T* y, T* dst) : IRangeOperation where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public void Run(int start, int end) =>
            TensorPrimitives.Add(new ReadOnlySpan<T>(x + start, end - start), new ReadOnlySpan<T>(y + start, end - start), new Span<T>(dst + start, end - start));
    }

    /// <summary>
    /// sum[j] += Σ_r x[r, j] for columns [start, end): rows in blocks of 8; in a block, each group of 4 vectors of
    /// columns is summed over the block's rows in registers and added to sum once. Every column is still summed in
    /// row order (sum[j] + x[0, j] + x[1, j] + …), so the bits do not depend on the split or the vector width. Element
    /// types without SIMD vectors (Half), and machines without SIMD, take the scalar loop for every column.
    /// </summary>
    private readonly unsafe struct RowSumRange<T>(T* x, int ld, int rows, T* sum) : IRangeOperation where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private const int RowBlock = 8;

        public void Run(int start, int end)
        {
            bool vectors = Vector.IsHardwareAccelerated && Vector<T>.IsSupported;
            int w = vectors ? Vector<T>.Count : 0;
            for (int r0 = 0; r0 < rows; r0 += RowBlock)
            {
                int r1 = Math.Min(rows, r0 + RowBlock);
                T* block = x + (nint)r0 * ld;
                int j = start;
                for (; vectors && j + 4 * w <= end; j += 4 * w)
                {
                    Vector<T> a0 = Vector.Load(sum + j), a1 = Vector.Load(sum + j + w), a2 = Vector.Load(sum + j + 2 * w), a3 = Vector.Load(sum + j + 3 * w);
                    T* p = block + j;
                    for (int r = r0; r < r1; r++, p += ld)
                    {
                        a0 += Vector.Load(p); a1 += Vector.Load(p + w); a2 += Vector.Load(p + 2 * w); a3 += Vector.Load(p + 3 * w);
                    }
                    Vector.Store(a0, sum + j); Vector.Store(a1, sum + j + w); Vector.Store(a2, sum + j + 2 * w); Vector.Store(a3, sum + j + 3 * w);
                }
                for (; j < end; j++)
                {
                    T a = sum[j];
                    T* p = block + j;
                    for (int r = r0; r < r1; r++, p += ld) a += *p;
                    sum[j] = a;
                }
            }
        }
    }
}
