// The multithreaded GEMM path: correct against the triple loop, and bit-identical to the
// single-threaded result (each element of C sees the same operations whatever the split).
// Tests that change Parallelism.NumThreads run in the non-parallel GlobalStateCollection so they never race.
using static NeuralPrimitives.Tests.Support.GlobalStateCollection;

namespace NeuralPrimitives.Tests.Kernels;

[Collection(GlobalStateCollection.Name)]
public class GemmThreadingTests
{
    [Theory]
    [InlineData(false, false, 257, 300, 129)]   // split by columns (n ≥ m)
    [InlineData(true, true, 520, 130, 70)]      // split by rows, ≥ 512
    [InlineData(false, true, 32, 1024, 64)]     // RNN-like: few rows, direct B not possible (Bᵀ)
    [InlineData(false, false, 32, 1030, 64)]    // RNN-like with direct B and a partial last panel
    public void TwoThreadsMatchTripleLoopAndOneThreadExactly(bool ta, bool tb, int m, int n, int k)
    {
        var p = GemmTests.Problem.Create(new Rng(5), ta, tb, m, n, k, 1, 2, 3, alpha: 1.25, beta: 0.5);
        GemmTests.AssertMatches(p, GemmPath.Auto);   // with the default NumThreads (processor count)

        var (two, twoDouble) = RetryUntilParallel(() => (WithThreads(2, p.RunFloat), WithThreads(2, p.RunDouble)), parallelRuns: 2);
        var one = WithThreads(1, p.RunFloat);
        var oneDouble = WithThreads(1, p.RunDouble);
        Assert.Equal(one, two);
        Assert.Equal(oneDouble, twoDouble);
    }

    [Fact]
    public void ThreeThreadsOnTwoCoresStillCorrect()
    {
        var p = GemmTests.Problem.Create(new Rng(9), false, false, 150, 301, 90, alpha: 1, beta: 0);
        var expected = WithThreads(1, p.RunDouble);
        Assert.Equal(expected, WithThreads(3, p.RunDouble));
    }

    [Fact]
    public void NoAllocationAfterWarmUpWhenThreaded()
    {
        var a = new float[300 * 300]; var b = new float[300 * 300]; var c = new float[300 * 300];
        WithThreads(2, () =>
        {
            Assert.Equal(0, Allocations.SteadyStateBytes(() => Gemm.Multiply(false, false, 300, 300, 300, 1f, a, b, 0f, c)));
            return 0;
        });
    }

    [Fact]
    public void ConcurrentCallersEachGetTheirOwnResult()
    {
        // Several threads multiply at once: one gets the workers, the others run alone; none may see another's data.
        var problems = Enumerable.Range(0, 4).Select(i => GemmTests.Problem.Create(new Rng((ulong)(100 + i)), i % 2 == 1, false, 130 + i, 170, 60)).ToArray();
        var expected = problems.Select(p => WithThreads(1, p.RunDouble)).ToArray();
        WithThreads(2, () =>
        {
            var results = new double[problems.Length][][];
            Parallel.For(0, problems.Length, new ParallelOptions { MaxDegreeOfParallelism = problems.Length },
                i => results[i] = Enumerable.Range(0, 5).Select(_ => problems[i].RunDouble()).ToArray());
            for (int i = 0; i < problems.Length; i++)
                foreach (var r in results[i]) Assert.Equal(expected[i], r);
            return 0;
        });
    }

    [Fact]
    public void NumThreadsMustBePositive()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.NumThreads = 0);
        Assert.Equal("NumThreads", e.ParamName);
        Assert.Contains("got 0", e.Message);
    }
}
