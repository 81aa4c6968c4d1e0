// Row gather for Embedding.Forward: y[i, :] = W[idx[i], :] for i < n (and the prefetch EmbeddingBag uses).
//
// The rows are scattered over a table far larger than the caches, so the copy is bound by memory
// latency, not bandwidth (a contiguous copy of the same 4 MB takes ~0.10 ms here, the gather ~0.18 ms).
// Each row copy prefetches the row PrefetchDistance ahead, so a few misses overlap (measured ~2–10%
// faster for Embedding, within this machine's noise; EmbeddingBag sum forward went from 0.23–0.28 to
// 0.18–0.19 ms). Indices are validated before the gather, so every prefetched
// address lies inside the table.
// Large gathers (≥ ParallelMinBytes) are split into parts taken from a shared counter by the caller
// and the library's dedicated kernel workers (Kernels/Parallelism.cs), so two cores keep twice as
// many misses in flight; the caller starts on its own parts at once, so a worker that wakes late
// costs nothing. (A thread-pool worker woke too late to help: see benchmarks/notes/embeddings.md.)
using System.Runtime.Intrinsics.X86;

namespace NeuralPrimitives;

internal static class RowGather
{
    /// <summary>How many lookups ahead rows are prefetched.</summary>
    public const int PrefetchDistance = 4;

    /// <summary>Asks the cache for row <paramref name="row"/> of <paramref name="w"/> ([*, d]); no-op without SSE. The row must exist.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch<T>(ReadOnlySpan<T> w, int row, int d) where T : unmanaged
    {
        if (!Sse.IsSupported) return;
        fixed (T* pw = w)
        {
            byte* p = (byte*)(pw + (nint)row * d);
            int rowBytes = d * sizeof(T);
            for (int off = 0; off < rowBytes; off += 64) Sse.Prefetch0(p + off);
        }
    }

    /// <summary>Gathers of at least this many bytes are split across <see cref="Parallelism.NumThreads"/> threads.</summary>
    public const long ParallelMinBytes = 1 << 20;

    /// <summary>Copies rows idx[i] of <paramref name="w"/> ([*, d]) into row i of <paramref name="y"/> ([n, d]). Indices must be valid.</summary>
    public static unsafe void Run<T>(ReadOnlySpan<T> w, ReadOnlySpan<int> idx, int d, Span<T> y) where T : unmanaged
    {
        int threads = Math.Min(Parallelism.NumThreads, idx.Length);
        if (threads > 1 && (long)idx.Length * d * sizeof(T) >= ParallelMinBytes && Parallelism.TryEnterParallel())
        {
            var job = GatherJob<T>.Instance;
            try
            {
                fixed (T* pw = w, py = y)
                fixed (int* pi = idx)
                {
                    job.Set(pw, w.Length, pi, idx.Length, d, py, parts: 8 * threads);
                    Parallelism.RunParallel(job, threads, 8 * threads);
                }
            }
            finally
            {
                job.Set(null, 0, null, 0, 0, null, 0); // drop the pointers into the caller's buffers
                Parallelism.ExitParallel();
            }
            return;
        }
        Sequential(w, idx, d, y);
    }

    private static void Sequential<T>(ReadOnlySpan<T> w, ReadOnlySpan<int> idx, int d, Span<T> y) where T : unmanaged
    {
        int n = idx.Length;
        for (int i = 0; i < n; i++)
        {
            if (i + PrefetchDistance < n) Prefetch(w, idx[i + PrefetchDistance], d);
            w.Slice(idx[i] * d, d).CopyTo(y.Slice(i * d, d));
        }
    }

    /// <summary>One part = a contiguous range of lookups; only used between TryEnterParallel and ExitParallel.</summary>
    private sealed unsafe class GatherJob<T> : ParallelJob where T : unmanaged
    {
        public static readonly GatherJob<T> Instance = new();
        private T* _w, _y;
        private int* _idx;
        private int _wLength, _n, _d, _parts;

        public void Set(T* w, int wLength, int* idx, int n, int d, T* y, int parts)
        {
            _w = w; _wLength = wLength; _idx = idx; _n = n; _d = d; _y = y; _parts = parts;
        }

        public override void Execute(int part)
        {
            int lo = (int)((long)_n * part / _parts), hi = (int)((long)_n * (part + 1) / _parts);
            Sequential(new ReadOnlySpan<T>(_w, _wLength), new ReadOnlySpan<int>(_idx + lo, hi - lo), _d,
                new Span<T>(_y + (nint)lo * _d, (hi - lo) * _d));
        }
    }
}
