namespace NeuralPrimitives.Tests.Kernels;

// Element-wise kernels over long ranges split them between the threads (ParallelRanges): the result must be the same
// bit for bit for any thread count, and equal the double-precision formula, so a part that starts or ends at the
// wrong element cannot hide. The length gives several parts and a scalar tail.
[Collection(GlobalStateCollection.Name)]
public class ParallelRangeTests
{
    private const int Large = ParallelRanges.MinPartLength * 5 + 13;

    private static float[] Inputs(ulong seed)
    {
        var x = new float[Large];
        new Rng(seed).FillNormal<float>(x);
        for (int i = 0; i < Large; i++) x[i] *= 3;
        return x;
    }

    /// <summary>GELU(x) and dy·GELU'(x) in float, into new arrays.</summary>
    private static (float[] Y, float[] Dx) Gelu(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, GeluApproximation approximate)
    {
        var y = new float[x.Length];
        var dx = new float[x.Length];
        Activations.Gelu<float>(x, y, approximate);
        Activations.GeluBackward<float>(x, dy, dx, approximate);
        return (y, dx);
    }

    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void FloatGeluOverLongRangesDoesNotDependOnTheThreadCount(GeluApproximation approximate)
    {
        var x = Inputs(1);
        var dy = Inputs(2);
        (float[] Y, float[] Dx) Run(int threads) => GlobalStateCollection.WithThreads(threads, () => Gelu(x, dy, approximate));

        var two = GlobalStateCollection.RetryUntilParallel(() => Run(2), parallelRuns: 2);
        var one = Run(1);
        Assert.Equal(one.Y, two.Y);
        Assert.Equal(one.Dx, two.Dx);
        Assert.Equal(Run(3).Y, two.Y);

        var xd = Array.ConvertAll(x, v => (double)v);
        var yd = new double[Large];
        var dxd = new double[Large];
        Activations.Gelu<double>(xd, yd, approximate);
        Activations.GeluBackward<double>(xd, Array.ConvertAll(dy, v => (double)v), dxd, approximate);
        TestData.AssertClose<float>(Array.ConvertAll(yd, v => (float)v), two.Y, 1e-5, 1e-5, $"GELU {approximate}");
        TestData.AssertClose<float>(Array.ConvertAll(dxd, v => (float)v), two.Dx, 1e-5, 1e-5, $"GELU' {approximate}");
    }

    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void FloatGeluGivesTheSameBitsOnEveryVectorWidth(GeluApproximation approximate)
    {
        // Vector512 (where accelerated) against Vector<float>: the same formulas per lane, so the same bits, for
        // ordinary values, the specials, and lengths that leave every possible tail.
        float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 1e-30f, -1e-30f, 1e-42f, 100f, -100f, 9.5f, -9.5f];
        var x = Inputs(6).AsSpan(0, 4099).ToArray();
        specials.CopyTo(x, 0);
        var dy = Inputs(7).AsSpan(0, x.Length).ToArray();
        (float[] Y, float[] Dx) Run(bool force256, int n)
        {
            GeluFloat.Force256 = force256;
            try { return Gelu(x.AsSpan(0, n), dy.AsSpan(0, n), approximate); }
            finally { GeluFloat.Force256 = false; }
        }
        foreach (int n in new[] { 1, 7, 15, 17, 31, 33, x.Length })
        {
            var wide = Run(false, n);
            var narrow = Run(true, n);
            Assert.True(wide.Y.AsSpan().SequenceEqual(narrow.Y), $"GELU {approximate}, n = {n}");
            Assert.True(wide.Dx.AsSpan().SequenceEqual(narrow.Dx), $"GELU' {approximate}, n = {n}");
        }
    }

    [Fact]
    public void ColumnSumsAndLinearRunForAnElementTypeWithoutVectors()
    {
        // Half has no Vector<Half>: the column sums take their scalar loop, in row order like the vector one.
        const int n = 300, rows = 11;
        var x = new Half[rows * n];
        for (int i = 0; i < x.Length; i++) x[i] = (Half)((i % 7) * 0.25f - 0.5f);
        var sums = new Half[n];
        sums[3] = (Half)1;
        var expected = (Half[])sums.Clone();
        for (int j = 0; j < n; j++)
            for (int r = 0; r < rows; r++) expected[j] += x[r * n + j];
        ParallelRanges.AccumulateRowSum<Half>(x, n, rows, sums);
        Assert.Equal(expected, sums);

        // and so Linear<Half> trains: its bias gradient for dy = 1 is the number of rows, exactly
        var linear = new Linear<Half>(3, 70);
        linear.Forward(Tensor.Create(new Half[4 * 3], [4, 3]));
        linear.Backward(Tensor.Create(Enumerable.Repeat((Half)1, 4 * 70).ToArray(), [4, 70]));
        Assert.All(linear.Bias!.Grad, g => Assert.Equal((Half)4, g));
    }

    [Fact]
    public void ResidualAddsAndBiasSumsDoNotDependOnTheThreadCountAndMatchTheLoops()
    {
        // rows × n with n not a multiple of 64 (the column split gives parts of 256, 256 and 88 columns, the last with a
        // scalar tail) and rows not a multiple of 8 (the column sums' row blocks).
        const int n = 600, rows = 803;
        static float[] Normal(ulong seed, int length)
        {
            var v = new float[length];
            new Rng(seed).FillNormal<float>(v);
            return v;
        }
        var x = Normal(3, rows * n);
        var y = Normal(4, rows * n);
        var bias = Normal(5, n);
        (float[] Sum, float[] ColumnSums) Run(int threads) => GlobalStateCollection.WithThreads(threads, () =>
        {
            var sum = new float[rows * n];
            ParallelRanges.Add<float>(x, y, sum);
            var columnSums = (float[])bias.Clone();
            ParallelRanges.AccumulateRowSum<float>(x, n, rows, columnSums);
            return (sum, columnSums);
        });

        var two = GlobalStateCollection.RetryUntilParallel(() => Run(2), parallelRuns: 2);
        var one = Run(1);
        Assert.Equal(one.Sum, two.Sum);
        Assert.Equal(one.ColumnSums, two.ColumnSums);
        Assert.Equal(Run(3).ColumnSums, two.ColumnSums);
        for (int i = 0; i < rows * n; i++) Assert.Equal(x[i] + y[i], two.Sum[i]);
        for (int j = 0; j < n; j++)
        {
            float s = bias[j];
            for (int r = 0; r < rows; r++) s += x[r * n + j];   // row order, as the split keeps it
            Assert.Equal(s, two.ColumnSums[j]);
        }
    }
}
