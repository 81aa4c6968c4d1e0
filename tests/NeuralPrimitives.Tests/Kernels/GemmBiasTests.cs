// Gemm.MultiplyAddBias (a layer's y = x·Wᵀ + b, the bias added tile by tile inside the GEMM): every element must be
// the product rounded, plus the bias, rounded — bit for bit what Gemm.Multiply with beta = 0 followed by the row-wise
// addition gives — on every kernel family, across edge tiles, k blocks (KC = 256) and row blocks (MC = 192), on the
// paths that never reach the blocked driver (m = 1, m = 2, k = 0), and on one or two threads (both ways of splitting C).
// The padding columns of C (ldc > n) must stay untouched.
using static NeuralPrimitives.Tests.Support.GlobalStateCollection;

namespace NeuralPrimitives.Tests.Kernels;

[Collection(GlobalStateCollection.Name)]
public class GemmBiasTests
{
    /// <summary>C from Multiply (beta = 0), then C[r, j] + bias[j] element by element; and C from MultiplyAddBias.</summary>
    private static (T[] Expected, T[] Actual) Run<T>(GemmTests.Problem p, T[] bias) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        T[] a = Array.ConvertAll(p.A, T.CreateTruncating), b = Array.ConvertAll(p.B, T.CreateTruncating);
        T[] expected = Array.ConvertAll(p.C, T.CreateTruncating), actual = (T[])expected.Clone();
        Gemm.Multiply(p.Ta, p.Tb, p.M, p.N, p.K, T.One, a, p.Lda, b, p.Ldb, T.Zero, expected, p.Ldc);
        for (int i = 0; i < p.M; i++)
            for (int j = 0; j < p.N; j++) expected[i * p.Ldc + j] += bias[j];
        Gemm.MultiplyAddBias<T>(p.Ta, p.Tb, p.M, p.N, p.K, a, p.Lda, b, p.Ldb, bias, actual, p.Ldc);
        return (expected, actual);
    }

    private static void AssertSameBits(GemmTests.Problem p, GemmPath path, ulong seed)
    {
        var biasD = TestData.Normal(new Rng(seed), p.N);
        var previous = Gemm.ForcedPath;
        Gemm.ForcedPath = path;
        try
        {
            var (ed, ad) = Run(p, biasD);
            Assert.True(ed.AsSpan().SequenceEqual(ad), $"double {path} {p}");
            var (ef, af) = Run(p, Array.ConvertAll(biasD, v => (float)v));
            Assert.True(ef.AsSpan().SequenceEqual(af), $"float {path} {p}");
        }
        finally
        {
            Gemm.ForcedPath = previous;
        }
    }

    [NpProperty(MaxTest = 30)]
    public void EqualsTheProductFollowedByTheBiasAddOnEveryKernelFamily(Dim m, Dim n, Dim k, bool ta, bool tb, byte pads, Seed seed)
    {
        var p = GemmTests.Problem.Create(seed.Rng(), ta, tb, m, n, k, pads & 3, (pads >> 2) & 3, 1 + ((pads >> 4) & 3));
        foreach (var path in GemmTests.AllPaths) AssertSameBits(p, path, seed.Value);
    }

    [Theory]
    [InlineData(false, true, 1, 70, 33)]      // one row: no packing (MultiplyRow)
    [InlineData(false, false, 2, 70, 33)]     // two rows, A not transposed: no packing either
    [InlineData(false, true, 5, 9, 0)]        // k = 0: C = bias
    [InlineData(false, true, 200, 45, 300)]   // edge tiles in both directions, two k blocks, two row blocks
    [InlineData(true, false, 37, 200, 260)]   // Aᵀ, columns past one B block width
    public void EqualsTheProductFollowedByTheBiasAddOnEdgeShapes(bool ta, bool tb, int m, int n, int k)
    {
        var p = GemmTests.Problem.Create(new Rng(7), ta, tb, m, n, k, 1, 2, 3);
        foreach (var path in GemmTests.AllPaths) AssertSameBits(p, path, 8);
    }

    [Theory]
    [InlineData(false, true, 520, 130, 300)]  // split by rows (n < m), two k blocks
    [InlineData(false, true, 257, 300, 129)]  // split by columns (n ≥ m): the bias index is the global column
    public void TwoThreadsGiveTheSameBitsAsOne(bool ta, bool tb, int m, int n, int k)
    {
        var p = GemmTests.Problem.Create(new Rng(9), ta, tb, m, n, k, 0, 1, 2);
        var bias = Array.ConvertAll(TestData.Normal(new Rng(10), n), v => (float)v);
        var two = RetryUntilParallel(() => WithThreads(2, () => Run(p, bias)));
        var one = WithThreads(1, () => Run(p, bias));
        Assert.True(two.Expected.AsSpan().SequenceEqual(two.Actual), "two threads");
        Assert.True(one.Actual.AsSpan().SequenceEqual(two.Actual), "one thread against two");
    }

    [Fact]
    public void ABiasShorterThanNIsRejected()
    {
        var ex = Assert.Throws<ArgumentException>(() =>
            Gemm.MultiplyAddBias<float>(false, true, 2, 3, 4, new float[8], 4, new float[12], 4, new float[2], new float[6], 3));
        Assert.Equal("bias", ex.ParamName);
    }
}
