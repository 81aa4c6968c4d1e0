// GEMM against an independent triple loop written here (accumulating in double), for every
// kernel family (forced, so the Vector512/256/128 and scalar kernels are all checked on any
// machine), all four transpose cases, odd shapes, padded leading dimensions and alpha/beta.
// Tolerance: the standard floating-point bound for a dot product of length k,
//   |error| ≤ 2·(k + 2)·u·(|alpha|·Σ_p |a_ip|·|b_pj| + |beta·c_ij|),   u = unit roundoff,
// so a wrong index or a lost block (errors of the size of the entries) cannot pass.

namespace NeuralPrimitives.Tests.Kernels;

public class GemmTests
{
    internal static readonly GemmPath[] AllPaths = [GemmPath.Auto, GemmPath.Vector512, GemmPath.Vector256, GemmPath.Vector128, GemmPath.Scalar];

    /// <summary>The four transpose cases (ta, tb).</summary>
    public static TheoryData<bool, bool> Transposes => new() { { false, false }, { false, true }, { true, false }, { true, true } };

    /// <summary>A GEMM problem with random contents and (possibly padded) leading dimensions.</summary>
    internal sealed class Problem
    {
        public bool Ta, Tb;
        public int M, N, K, Lda, Ldb, Ldc;
        public double Alpha, Beta;
        public double[] A = [], B = [], C = [];

        public static Problem Create(Rng rng, bool ta, bool tb, int m, int n, int k, int padA = 0, int padB = 0, int padC = 0,
            double alpha = 1, double beta = 0)
        {
            var p = new Problem { Ta = ta, Tb = tb, M = m, N = n, K = k, Alpha = alpha, Beta = beta };
            int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
            p.Lda = Math.Max(1, aCols) + padA;
            p.Ldb = Math.Max(1, bCols) + padB;
            p.Ldc = Math.Max(1, n) + padC;
            p.A = TestData.Normal(rng, aRows * p.Lda);
            p.B = TestData.Normal(rng, bRows * p.Ldb);
            p.C = TestData.Normal(rng, m * p.Ldc);
            return p;
        }

        double AOp(int i, int q) => Ta ? A[q * Lda + i] : A[i * Lda + q];
        double BOp(int q, int j) => Tb ? B[j * Ldb + q] : B[q * Ldb + j];

        /// <summary>The expected C (padding untouched) and the per-element error bound for unit roundoff u.</summary>
        public (double[] Expected, double[] Bound) Reference(double u)
        {
            var expected = (double[])C.Clone();
            var bound = new double[C.Length];
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                {
                    double sum = 0, abs = 0;
                    for (int q = 0; q < K; q++)
                    {
                        double prod = AOp(i, q) * BOp(q, j);
                        sum += prod;
                        abs += Math.Abs(prod);
                    }
                    double old = C[i * Ldc + j];
                    double betaTerm = Beta == 0 ? 0 : Beta * old;     // beta = 0 ignores C (NaN included)
                    expected[i * Ldc + j] = Alpha * sum + betaTerm;
                    bound[i * Ldc + j] = 2 * (K + 2) * u * (Math.Abs(Alpha) * abs + Math.Abs(betaTerm)) + 1e-300;
                }
            return (expected, bound);
        }

        public double[] RunDouble()
        {
            var c = (double[])C.Clone();
            Gemm.Multiply(Ta, Tb, M, N, K, Alpha, A, Lda, B, Ldb, Beta, c, Ldc);
            return c;
        }

        public float[] RunFloat()
        {
            var c = Array.ConvertAll(C, v => (float)v);
            Gemm.Multiply(Ta, Tb, M, N, K, (float)Alpha, Array.ConvertAll(A, v => (float)v), Lda,
                Array.ConvertAll(B, v => (float)v), Ldb, (float)Beta, c, Ldc);
            return c;
        }

        /// <summary>Rounds the inputs to float so the float run and the reference see the same numbers.</summary>
        public Problem RoundedToFloat()
        {
            var p = (Problem)MemberwiseClone();
            p.A = Array.ConvertAll(A, v => (double)(float)v);
            p.B = Array.ConvertAll(B, v => (double)(float)v);
            p.C = Array.ConvertAll(C, v => (double)(float)v);
            p.Alpha = (float)Alpha;
            p.Beta = (float)Beta;
            return p;
        }

        public override string ToString() =>
            $"{(Ta ? "T" : "N")}{(Tb ? "T" : "N")} m={M} n={N} k={K} lda={Lda} ldb={Ldb} ldc={Ldc} alpha={Alpha} beta={Beta}";
    }

    internal static void AssertMatches(Problem p, GemmPath path)
    {
        var previous = Gemm.ForcedPath;
        Gemm.ForcedPath = path;
        try
        {
            var (expD, boundD) = p.Reference(Math.Pow(2, -53));
            Check(expD, boundD, p.RunDouble(), $"double {path} {p}");
            var pf = p.RoundedToFloat();
            var (expF, boundF) = pf.Reference(Math.Pow(2, -24));
            Check(expF, boundF, Array.ConvertAll(pf.RunFloat(), v => (double)v), $"float {path} {p}");
        }
        finally
        {
            Gemm.ForcedPath = previous;
        }
    }

    private static void Check(double[] expected, double[] bound, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            bool ok = bound[i] == 0 ? e.Equals(a) : Math.Abs(e - a) <= bound[i];   // bound 0: padding, must be untouched
            if (!ok) Assert.Fail($"{what}: mismatch at flat index {i}: expected {e:G17}, got {a:G17}, allowed error {bound[i]:E2}.");
        }
    }

    private static readonly double[] Scales = [1, 0, -0.5, 2.5];

    [NpProperty(MaxTest = 30)]
    public void MatchesTripleLoopForEveryKernelFamily(Dim m, Dim n, Dim k, bool ta, bool tb, byte pads, byte scales, Seed seed)
    {
        var rng = seed.Rng();
        var p = Problem.Create(rng, ta, tb, m, n, k, pads & 3, (pads >> 2) & 3, (pads >> 4) & 3,
            alpha: Scales[scales & 3] == 0 ? 1.5 : Scales[scales & 3], beta: Scales[(scales >> 2) & 3]);
        foreach (var path in AllPaths) AssertMatches(p, path);
    }

    [NpProperty(MaxTest = 8)]
    public void MatchesTripleLoopOnShapesUpTo300(Seed seed, bool ta, bool tb)
    {
        // Shapes across the cache-block edges (MC = 192, KC = 256), auto path only (it is the one users get).
        var rng = seed.Rng();
        int Pick() => rng.Uniform(0, 1) < 0.3 ? 180 + rng.NextInt(121) : 1 + rng.NextInt(300);
        int m = Pick(), n = Pick(), k = Pick();
        var p = Problem.Create(rng, ta, tb, m, n, k, 1, 3, 2, alpha: 0.75, beta: -1.25);
        AssertMatches(p, GemmPath.Auto);
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void OneByOneByOne(bool ta, bool tb)
    {
        foreach (var path in AllPaths)
        {
            var previous = Gemm.ForcedPath;
            Gemm.ForcedPath = path;
            try
            {
                float[] c = [10f];
                Gemm.Multiply(ta, tb, 1, 1, 1, 2f, [3f], 1, [5f], 1, 0.5f, c, 1);
                Assert.Equal(2f * 3f * 5f + 0.5f * 10f, c[0]);
                double[] cd = [10];
                Gemm.Multiply(ta, tb, 1, 1, 1, 2.0, [3.0], [5.0], 0.0, cd);
                Assert.Equal(30.0, cd[0]);
            }
            finally { Gemm.ForcedPath = previous; }
        }
    }

    [Fact]
    public void KZeroGivesBetaTimesC()
    {
        foreach (var beta in new[] { 0.0, 1.0, -2.0 })
        {
            double[] c = [1, 2, 3, 4, 5, 6, 99];                      // 2×3 with ldc = 3, one element past the end
            Gemm.Multiply(false, false, 2, 3, 0, 1.0, [], 1, [], 3, beta, c, 3);
            Assert.Equal(new[] { 1 * beta, 2 * beta, 3 * beta, 4 * beta, 5 * beta, 6 * beta, 99 }, c);
        }
    }

    [Fact]
    public void BetaZeroOverwritesNaNAndInfinity()
    {
        foreach (var path in AllPaths)
        {
            var rng = new Rng(7);
            foreach (var (m, n, k) in new[] { (1, 1, 1), (13, 37, 5), (40, 70, 300), (200, 33, 9) })
            {
                var p = Problem.Create(rng, false, false, m, n, k, padC: 1);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) p.C[i * p.Ldc + j] = (i + j) % 2 == 0 ? double.NaN : double.PositiveInfinity;
                AssertMatches(p, path);
            }
        }
    }

    [Fact]
    public void AlphaZeroScalesCOnly()
    {
        double[] c = [1, 2, 3, 4];
        Gemm.Multiply(false, false, 2, 2, 2, 0.0, [1, 2, 3, 4], [5, 6, 7, 8], 3.0, c);
        Assert.Equal(new double[] { 3, 6, 9, 12 }, c);
    }

    [Theory]
    [InlineData(false, false, 3, 4100, 5)]     // wider than one column block (NC = 4096)
    [InlineData(true, true, 70, 45, 600)]      // three depth blocks (KC = 256)
    [InlineData(false, true, 64, 97, 33)]      // largest direct-B size... with Bᵀ, so packed
    [InlineData(false, false, 64, 97, 33)]     // direct B with a partial last panel
    [InlineData(false, false, 65, 96, 31)]     // just past the direct-B limit
    public void BlockEdges(bool ta, bool tb, int m, int n, int k)
    {
        var p = Problem.Create(new Rng(11), ta, tb, m, n, k, 2, 1, 3, alpha: -1.5, beta: 0.5);
        AssertMatches(p, GemmPath.Auto);
    }

    [Theory]
    [InlineData(false, false, 16, 1024, 256)]  // 8-row tiles: a recurrent step (m = batch) with direct B
    [InlineData(false, false, 32, 100, 300)]   // 8-row tiles, a partial last panel, two depth blocks
    [InlineData(true, false, 8, 50, 20)]       // one 8-row tile, A transposed
    [InlineData(false, true, 56, 40, 30)]      // 8-row tiles with Bᵀ (packed)
    [InlineData(true, true, 15, 33, 17)]       // 8-row tiles with a partial last tile
    [InlineData(false, false, 24, 70, 40)]     // 12-row tiles pad 24 no worse: 12-row kernel
    public void FewRowProducts(bool ta, bool tb, int m, int n, int k)
    {
        // m ≤ 64 with 8-row tiles padding m less than 12-row tiles (Gemm.UseEightRowTiles); checked on every path.
        var p = Problem.Create(new Rng(13), ta, tb, m, n, k, 1, 2, 3, alpha: 0.75, beta: 1);
        foreach (var path in AllPaths) AssertMatches(p, path);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(16, 16)]
    [InlineData(17, 33)]
    [InlineData(5, 40)]
    [InlineData(40, 5)]
    [InlineData(1024, 256)]
    [InlineData(96, 384)]
    public void TransposeMatchesDefinition(int rows, int cols)
    {
        // Whole 16×16 (float) / 8×8 (double) blocks go through the in-register transposes, edges element by element.
        var rng = new Rng(17);
        var src = TestData.Normal(rng, rows * cols);
        var d = new double[rows * cols + 1];
        d[^1] = 42;                                          // one past the end: must stay untouched
        Gemm.Transpose<double>(src, rows, cols, d);
        var f = new float[rows * cols + 1];
        f[^1] = 42;
        Gemm.Transpose<float>(Array.ConvertAll(src, v => (float)v), rows, cols, f);
        var n = new long[rows * cols];
        Gemm.Transpose<long>(Array.ConvertAll(src, v => (long)(v * 1000)), rows, cols, n);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                Assert.Equal(src[r * cols + c], d[c * rows + r]);
                Assert.Equal((float)src[r * cols + c], f[c * rows + r]);
                Assert.Equal((long)(src[r * cols + c] * 1000), n[c * rows + r]);
            }
        Assert.Equal(42, d[^1]);
        Assert.Equal(42, f[^1]);
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void RowVectorTimesMatrix(bool ta, bool tb)
    {
        // m = 1 (and m = 2 without ta) take the unpacked row path; with ta, A's row is a strided column (lda = 3).
        foreach (var (beta, k, m) in new[] { (0.0, 70, 1), (2.0, 70, 1), (-0.5, 1, 1), (1.0, 300, 1), (0.0, 70, 2), (-1.5, 33, 2) })
        {
            var p = Problem.Create(new Rng(3), ta, tb, m, 37, k, 2, 1, 3, alpha: 0.5, beta: beta);
            if (beta == 0) Array.Fill(p.C, double.NaN);
            AssertMatches(p, GemmPath.Auto);
        }
    }

    [Fact]
    public void DenseOverloadUsesRowLengthsAsLeadingDimensions()
    {
        // [1 2; 3 4]ᵀ · [5 6 7; 8 9 10] with A stored transposed: op(A) = [1 3; 2 4].
        float[] c = new float[6];
        Gemm.Multiply(true, false, 2, 3, 2, 1f, [1f, 2f, 3f, 4f], [5f, 6f, 7f, 8f, 9f, 10f], 0f, c);
        Assert.Equal(new[] { 1f * 5 + 3 * 8, 1f * 6 + 3 * 9, 1f * 7 + 3 * 10, 2f * 5 + 4 * 8, 2f * 6 + 4 * 9, 2f * 7 + 4 * 10 }, c);
    }

    [Fact]
    public void NoAllocationAfterWarmUpOnOneThread()
    {
        // m = 100, n = 90, k = 80 with B stored transposed (90×80).
        var a = new float[100 * 80]; var b = new float[90 * 80]; var c = new float[100 * 90];
        Assert.Equal(0, Allocations.SteadyStateBytes(() => Gemm.Multiply(false, true, 100, 90, 80, 1f, a, b, 0f, c)));
    }
}
