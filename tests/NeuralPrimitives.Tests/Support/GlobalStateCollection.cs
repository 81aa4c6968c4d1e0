namespace NeuralPrimitives.Tests.Support;

/// <summary>
/// Tests that change process-wide settings (<see cref="Parallelism.NumThreads"/>) run in this collection,
/// which xunit runs on its own, after the parallel ones, so they never change a setting under another test.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalStateCollection
{
    public const string Name = "Global state";

    /// <summary>Runs <paramref name="run"/> with <see cref="Parallelism.NumThreads"/> = <paramref name="threads"/>, then restores it.</summary>
    public static T WithThreads<T>(int threads, Func<T> run)
    {
        int previous = Parallelism.NumThreads;
        Parallelism.NumThreads = threads;
        try { return run(); }
        finally { Parallelism.NumThreads = previous; }
    }

    /// <summary>
    /// Runs <paramref name="run"/> (a multithreaded call) until it has taken the parallel path at least
    /// <paramref name="parallelRuns"/> times in one go, at most five times: another test class could hold the workers
    /// at that instant, and then the call runs on one thread. Fails if the parallel path never ran; returns the last result.
    /// </summary>
    public static T RetryUntilParallel<T>(Func<T> run, int parallelRuns = 1)
    {
        for (int attempt = 1; ; attempt++)
        {
            long before = Parallelism.ParallelRuns;
            var result = run();
            bool ran = Parallelism.ParallelRuns >= before + parallelRuns;
            if (ran || attempt == 5)
            {
                Assert.True(ran, "the two-thread path never ran");
                return result;
            }
        }
    }
}
