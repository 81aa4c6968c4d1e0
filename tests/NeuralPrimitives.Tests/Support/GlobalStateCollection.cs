using Xunit;

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
}
