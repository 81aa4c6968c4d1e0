namespace NeuralPrimitives.Tests.Support;

/// <summary>Measures steady-state managed allocation of a step on the calling thread.</summary>
public static class Allocations
{
    /// <summary>
    /// Warms <paramref name="step"/> up, then measures windows of <paramref name="steps"/> calls and returns the
    /// smallest byte count seen. An allocation made on every call shows in every window, so a result of 0 proves the
    /// steady state allocates nothing. One-off runtime work (tier-up JIT, on-stack replacement, type loading), which
    /// tests running in parallel can move into a window, does not recur in the next window.
    /// </summary>
    public static long SteadyStateBytes(Action step, int warmup = 30, int steps = 5, int attempts = 5)
    {
        for (int i = 0; i < warmup; i++) step();
        long best = long.MaxValue;
        for (int a = 0; a < attempts && best > 0; a++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < steps; i++) step();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }
}
