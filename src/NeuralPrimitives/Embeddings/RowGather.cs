// Row gather for Embedding.Forward: y[i, :] = W[idx[i], :] for i < n.
//
// The rows are scattered over a table far larger than the caches, so the copy is bound by memory
// latency, not bandwidth (a contiguous copy of the same 4 MB takes ~0.10 ms here, the gather ~0.18 ms).
// Each row copy prefetches the row PrefetchDistance ahead, so a few misses overlap (measured ~2–10%
// faster, within this machine's noise). Indices are validated before the gather, so every prefetched
// address lies inside the table.
// Tried and dropped: splitting the rows with a thread-pool worker (allocation-free work claiming). On
// the shared 2-core machine the worker woke too late to take more than ~1% of the chunks, so it
// gained nothing measurable; see benchmarks/notes/embeddings.md.
using System.Runtime.Intrinsics.X86;

namespace NeuralPrimitives;

internal static class RowGather
{
    private const int PrefetchDistance = 4;

    /// <summary>Copies rows idx[i] of <paramref name="w"/> ([*, d]) into row i of <paramref name="y"/> ([n, d]). Indices must be valid.</summary>
    public static unsafe void Run<T>(ReadOnlySpan<T> w, ReadOnlySpan<int> idx, int d, Span<T> y) where T : unmanaged
    {
        if (!Sse.IsSupported)
        {
            for (int i = 0; i < idx.Length; i++) w.Slice(idx[i] * d, d).CopyTo(y.Slice(i * d, d));
            return;
        }
        int rowBytes = d * sizeof(T), n = idx.Length;
        fixed (T* pw = w)
        {
            for (int i = 0; i < n; i++)
            {
                if (i + PrefetchDistance < n)
                {
                    byte* next = (byte*)(pw + (nint)idx[i + PrefetchDistance] * d);
                    for (int off = 0; off < rowBytes; off += 64) Sse.Prefetch0(next + off);
                }
                w.Slice(idx[i] * d, d).CopyTo(y.Slice(i * d, d));
            }
        }
    }
}
