// Row gather for Embedding.Forward: y[i, :] = W[idx[i], :] for i < n (and the prefetch EmbeddingBag uses).
//
// The rows are scattered over a table far larger than the caches, so the copy is bound by memory
// latency, not bandwidth (a contiguous copy of the same 4 MB takes ~0.10 ms here, the gather ~0.18 ms).
// Each row copy prefetches the row PrefetchDistance ahead, so a few misses overlap (measured ~2–10%
// faster for Embedding, within this machine's noise; EmbeddingBag sum forward went from 0.23–0.28 to
// 0.18–0.19 ms). Indices are validated before the gather, so every prefetched
// address lies inside the table.
// Tried and dropped: splitting the rows with a thread-pool worker (allocation-free work claiming). On
// the shared 2-core machine the worker woke too late to take more than ~1% of the chunks, so it
// gained nothing measurable; see benchmarks/notes/embeddings.md.
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

    /// <summary>Copies rows idx[i] of <paramref name="w"/> ([*, d]) into row i of <paramref name="y"/> ([n, d]). Indices must be valid.</summary>
    public static void Run<T>(ReadOnlySpan<T> w, ReadOnlySpan<int> idx, int d, Span<T> y) where T : unmanaged
    {
        int n = idx.Length;
        for (int i = 0; i < n; i++)
        {
            if (i + PrefetchDistance < n) Prefetch(w, idx[i + PrefetchDistance], d);
            w.Slice(idx[i] * d, d).CopyTo(y.Slice(i * d, d));
        }
    }
}
