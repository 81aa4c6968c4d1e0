namespace NeuralPrimitives.Tests.Support;

/// <summary>Measures steady-state managed allocation of a step on the calling thread.</summary>
public static class Allocations
{
    /// <summary>
    /// Warms <paramref name="step"/> up, then measures windows of <paramref name="steps"/> calls and returns the
    /// smallest byte count seen. An allocation made on every call shows in every window, so a result of 0 proves the
    /// steady state allocates nothing. One-off runtime work (tier-up JIT, on-stack replacement, type loading), which
    /// tests running in parallel can move into a window, does not recur in the next window.
    /// A window in which a garbage collection ran (other tests allocate meanwhile) is measured again: the per-thread
    /// counter is not exact across a collection (dotnet/coreclr#10207). A CI run once saw 240 bytes in every window
    /// of the GPT training step, which measured alone (also with the workers kept busy) allocates nothing; collections
    /// in the windows are the one known cause we found, not a proven one. Up to <paramref name="attempts"/> windows without a collection count; if every one
    /// of 10·<paramref name="attempts"/> windows saw a collection, the smallest of all is returned.
    /// </summary>
    public static long SteadyStateBytes(Action step, int warmup = 30, int steps = 5, int attempts = 5)
    {
        for (int i = 0; i < warmup; i++) step();
        long best = long.MaxValue, bestWithCollections = long.MaxValue;
        for (int a = 0, clean = 0; a < 10 * attempts && clean < attempts && best > 0; a++)
        {
            int collections = GC.CollectionCount(0);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < steps; i++) step();
            long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
            if (GC.CollectionCount(0) != collections)
            {
                bestWithCollections = Math.Min(bestWithCollections, bytes);
                continue;
            }
            clean++;
            best = Math.Min(best, bytes);
        }
        return best == long.MaxValue ? bestWithCollections : best;
    }
}
