using System.Numerics;

namespace NeuralPrimitives.Tests.Embeddings;

public class RotaryEmbeddingTests
{
    // Independent reference: each pair is a complex number multiplied by e^{i·m·θ_k}, θ_k = 10000^(−2k/d).
    private static double[] Reference(double[] x, int seqLen, int d, int offset, RotaryStyle style)
    {
        var y = new double[x.Length];
        int h = d / 2;
        for (int r = 0; r < x.Length / d; r++)
        {
            int m = offset + r % seqLen;
            for (int k = 0; k < h; k++)
            {
                int ia = style == RotaryStyle.RotateHalf ? k : 2 * k, ib = style == RotaryStyle.RotateHalf ? k + h : 2 * k + 1;
                var z = new Complex(x[r * d + ia], x[r * d + ib]) * Complex.FromPolarCoordinates(1, m * Math.Pow(10000, -2.0 * k / d));
                y[r * d + ia] = z.Real;
                y[r * d + ib] = z.Imaginary;
            }
        }
        return y;
    }

    private static RotaryStyle Style(bool interleaved) => interleaved ? RotaryStyle.Interleaved : RotaryStyle.RotateHalf;

    [NpProperty]
    public void MatchesComplexRotationReference(SmallDim heads, SmallDim t, SmallDim halfD, SmallDim offset, bool interleaved, Seed seed)
    {
        int d = 2 * halfD;
        var rng = seed.Rng();
        var rope = new RotaryEmbedding<double>(d, style: Style(interleaved), initialPositions: 2);
        var x = TestData.Tensor<double>(rng, 2, heads, t, d);
        var expected = Reference(x.ToArray(), t, d, offset, Style(interleaved));
        TestData.AssertClose<double>(expected, rope.Forward(x, offset).AsReadOnlySpan(), 1e-12, 1e-12, "forward");
        TestData.AssertClose<double>(expected, rope.Infer(x, offset).AsReadOnlySpan(), 1e-12, 1e-12, "infer");
        var dest = Tensor.Create(new double[x.FlattenedLength], x.Lengths);
        rope.Apply(x, dest, offset);
        TestData.AssertClose<double>(expected, dest.AsReadOnlySpan(), 1e-12, 1e-12, "apply");
        var back = Tensor.Create(new double[x.FlattenedLength], x.Lengths);
        rope.Apply(dest, back, offset, inverse: true);
        TestData.AssertClose<double>(x.ToArray(), back.AsReadOnlySpan(), 1e-12, 1e-12, "inverse");
    }

    [NpProperty]
    public void GradientCheckPasses(SmallDim t, SmallDim halfD, SmallDim offset, bool interleaved, Seed seed)
    {
        int d = 2 * halfD;
        var rng = seed.Rng();
        var rope = new RotaryEmbedding<double>(d, style: Style(interleaved));
        var shape = new nint[] { 2, t, d };
        var x = TestData.Normal(rng, 2 * t * d);
        var problem = new GradientCheckProblem
        {
            Inputs = [("input", x)],
            Parameters = [],
            Forward = () => [rope.Forward(Tensor.Create(x, shape), offset).ToArray()],
            Backward = dOut =>
            {
                rope.Forward(Tensor.Create(x, shape), offset);
                return [rope.Backward(Tensor.Create(dOut[0], shape)).ToArray()];
            },
        };
        var result = GradientCheck.Run(problem);
        Assert.True(result.Passed, result.ToString());
    }

    [NpProperty]
    public void WithOffsetEqualsTheSliceOfALongerSequence(SmallDim prefix, SmallDim suffix, SmallDim halfD, bool interleaved, Seed seed)
    {
        int d = 2 * halfD, total = prefix + suffix;
        var rng = seed.Rng();
        var rope = new RotaryEmbedding<double>(d, style: Style(interleaved));
        var full = TestData.Tensor<double>(rng, total, d);
        var whole = rope.Infer(full).ToArray();
        var tail = Tensor.Create(full.ToArray()[(prefix * d)..], [suffix, d]);
        var incremental = rope.Infer(tail, positionOffset: prefix).ToArray();
        TestData.AssertClose<double>(whole[(prefix * d)..], incremental, 1e-12, 1e-12);
    }

    [NpProperty]
    public void DotProductDependsOnlyOnRelativePositionAndNormsArePreserved(SmallDim halfD, SmallDim m, SmallDim n, SmallDim shift, bool interleaved, Seed seed)
    {
        int d = 2 * halfD;
        var rng = seed.Rng();
        var rope = new RotaryEmbedding<double>(d, style: Style(interleaved));
        var q = TestData.Normal(rng, d);
        var k = TestData.Normal(rng, d);
        double Score(int pm, int pn) =>
            TensorPrimitives.Dot<double>(rope.Infer(Tensor.Create(q, [1, d]), pm).AsReadOnlySpan(), rope.Infer(Tensor.Create(k, [1, d]), pn).AsReadOnlySpan());
        Assert.Equal(Score(m, n), Score(m + shift, n + shift), 1e-10);
        var rotated = rope.Infer(Tensor.Create(q, [1, d]), m + 40 * shift).ToArray();
        Assert.Equal(TensorPrimitives.Norm<double>(q), TensorPrimitives.Norm<double>(rotated), 1e-12);
        // And the score at equal positions is the plain dot product (position 0 rotates nothing).
        Assert.Equal(TensorPrimitives.Dot<double>(q, k), Score(0, 0), 1e-12);
    }

    [Fact]
    public void RotateHalfIsInterleavedUnderAPermutation()
    {
        // Rotate-half pair (i, i + d/2) ↔ interleaved pair (2i, 2i+1): permuting coordinates maps one convention to the other.
        const int d = 8, t = 5;
        var rng = new Rng(7);
        var x = TestData.Normal(rng, t * d);
        var perm = new int[d];
        for (int i = 0; i < d / 2; i++) { perm[2 * i] = i; perm[2 * i + 1] = i + d / 2; }
        var xi = new double[x.Length];
        for (int r = 0; r < t; r++) for (int j = 0; j < d; j++) xi[r * d + j] = x[r * d + perm[j]];
        var half = new RotaryEmbedding<double>(d).Infer(Tensor.Create(x, [t, d]), 3).ToArray();
        var inter = new RotaryEmbedding<double>(d, style: RotaryStyle.Interleaved).Infer(Tensor.Create(xi, [t, d]), 3).ToArray();
        for (int r = 0; r < t; r++) for (int j = 0; j < d; j++) Assert.Equal(half[r * d + perm[j]], inter[r * d + j], 1e-14);
    }

    [Fact]
    public void FloatAgreesWithDoubleAtLongPositions()
    {
        var rng = new Rng(2);
        var x = TestData.Tensor<double>(rng, 3, 64);
        var yd = new RotaryEmbedding<double>(64).Infer(x, 5000).ToArray();
        var xf = Tensor.Create(Array.ConvertAll(x.ToArray(), v => (float)v), x.Lengths);
        var yf = new RotaryEmbedding<float>(64, initialPositions: 16).Infer(xf, 5000).ToArray();
        TestData.AssertClose<double>(yd, Array.ConvertAll(yf, v => (double)v), 1e-5, 1e-5);
    }

    [Fact]
    public void InferIsThreadSafeWhileTheCacheGrows()
    {
        // Many threads ask for ever larger positions at once: the cos/sin cache is rebuilt under them.
        var rng = new Rng(21);
        var x = TestData.Tensor<double>(rng, 2, 3, 16);
        var shared = new RotaryEmbedding<double>(16, initialPositions: 1);
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            int offset = 37 * i;
            var expected = Reference(x.ToArray(), 3, 16, offset, RotaryStyle.RotateHalf);
            TestData.AssertClose<double>(expected, shared.Infer(x, offset).AsReadOnlySpan(), 1e-10, 1e-10, $"offset {offset}");
        });
    }

    [Fact]
    public void FarPositionsAreComputedWithoutGrowingTheCache()
    {
        // Offset 2.1 M used to grow the cache to 2.1 M positions (3 GB, 14 s); past maxCachedPositions a row's angles are computed on the fly.
        var rng = new Rng(4);
        var x = TestData.Tensor<double>(rng, 2, 3, 64);
        var rope = new RotaryEmbedding<double>(64, initialPositions: 8, maxCachedPositions: 64);
        rope.Infer(x, 2_100_000); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        var y = rope.Infer(x, 2_100_000);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 16 * 1024);
        TestData.AssertClose<double>(Reference(x.ToArray(), 3, 64, 2_100_000, RotaryStyle.RotateHalf), y.AsReadOnlySpan(), 1e-9, 1e-9);
        // Training at far positions: Backward is the inverse rotation, and a warm step allocates nothing.
        var dx = rope.Backward(rope.Forward(x, int.MaxValue - 3));
        TestData.AssertClose<double>(x.ToArray(), dx.AsReadOnlySpan(), 1e-12);
        Assert.Equal(0, Allocations.SteadyStateBytes(() => rope.Backward(rope.Forward(x, 1_000_000)), warmup: 5, steps: 5));
    }

    [Theory]
    [InlineData(RotaryStyle.RotateHalf)]
    [InlineData(RotaryStyle.Interleaved)]
    public void CachedAndComputedPositionsAgreeExactly(RotaryStyle style)
    {
        // Positions 5..10 with a cache of 8: 5..7 from the cache, 8..10 computed; a large cache stores them all.
        var x = TestData.Tensor<float>(new Rng(6), 4, 6, 16);
        var small = new RotaryEmbedding<float>(16, style: style, initialPositions: 8, maxCachedPositions: 8);
        var large = new RotaryEmbedding<float>(16, style: style, initialPositions: 64);
        Assert.Equal(large.Infer(x, 5).ToArray(), small.Infer(x, 5).ToArray());
        var dy = TestData.Tensor<float>(new Rng(7), 4, 6, 16);
        small.Forward(x, 5); large.Forward(x, 5);
        Assert.Equal(large.Backward(dy).ToArray(), small.Backward(dy).ToArray());
    }

    [Fact]
    public void PositionsPastIntAndBadCacheSizesAreRejected()
    {
        var rope = new RotaryEmbedding<float>(4);
        var x = Tensor.Create(new float[8], [2, 4]);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => rope.Forward(x, int.MaxValue));
        Assert.Equal("positionOffset", e.ParamName); Assert.Contains("2147483647 + 2", e.Message); Assert.Contains("2,147,483,647", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => rope.Infer(x, int.MaxValue - 1));
        Assert.Equal(2, rope.Infer(x, int.MaxValue - 2).Lengths[0]); // the last positions are int.MaxValue − 2 and − 1
        Assert.Equal("initialPositions", Assert.Throws<ArgumentOutOfRangeException>(() => new RotaryEmbedding<float>(4, initialPositions: 100, maxCachedPositions: 99)).ParamName);
        var big = Assert.Throws<ArgumentOutOfRangeException>(() => new RotaryEmbedding<float>(65536, maxCachedPositions: 100000));
        Assert.Equal("maxCachedPositions", big.ParamName); Assert.Contains("100,000 × 32,768", big.Message);
        Assert.Equal("style", Assert.Throws<ArgumentOutOfRangeException>(() => new RotaryEmbedding<float>(4, style: (RotaryStyle)7)).ParamName);
    }

    [Fact]
    public void ApplyInPlaceEqualsApplyIntoAnotherTensorAndPartialOverlapIsRejected()
    {
        var rope = new RotaryEmbedding<double>(8);
        var data = TestData.Normal(new Rng(3), 3 * 8);
        var x = Tensor.Create((double[])data.Clone(), [3, 8]);
        var y = Tensor.Create(new double[24], [3, 8]);
        rope.Apply(x, y, 4);
        rope.Apply(x, x, 4); // in place
        Assert.Equal(y.ToArray(), x.ToArray());
        var buf = new double[32];
        var e = Assert.Throws<ArgumentException>(() => rope.Apply(Tensor.Create(buf, 0, [3, 8], default), Tensor.Create(buf, 8, [3, 8], default)));
        Assert.Equal("destination", e.ParamName); Assert.Contains("offset of 8", e.Message);
    }

    [Fact]
    public void BadInputIsRejected()
    {
        var odd = Assert.Throws<ArgumentOutOfRangeException>(() => new RotaryEmbedding<float>(7));
        Assert.Equal("headDim", odd.ParamName); Assert.Contains("even", odd.Message); Assert.Contains("7", odd.Message);
        Assert.Equal("base", Assert.Throws<ArgumentOutOfRangeException>(() => new RotaryEmbedding<float>(8, 1.0)).ParamName);
        var rope = new RotaryEmbedding<float>(8);
        var w = Assert.Throws<ArgumentException>(() => rope.Forward(Tensor.Create(new float[12], [2, 6])));
        Assert.Equal("input", w.ParamName); Assert.Contains("8", w.Message); Assert.Contains("[2, 6]", w.Message);
        Assert.Throws<ArgumentException>(() => rope.Forward(Tensor.Create(new float[8], [8])));
        Assert.Throws<ArgumentOutOfRangeException>(() => rope.Forward(Tensor.Create(new float[8], [1, 8]), -2));
        Assert.Throws<InvalidOperationException>(() => rope.Backward(Tensor.Create(new float[8], [1, 8])));
        rope.Forward(Tensor.Create(new float[16], [2, 8]));
        var s = Assert.Throws<ArgumentException>(() => rope.Backward(Tensor.Create(new float[8], [1, 8])));
        Assert.Equal("dOutput", s.ParamName);
        var dst = Assert.Throws<ArgumentException>(() => rope.Apply(Tensor.Create(new float[16], [2, 8]), Tensor.Create(new float[8], [1, 8])));
        Assert.Equal("destination", dst.ParamName);
    }

    [Fact]
    public void WarmTrainingStepAllocatesNothing()
    {
        var rng = new Rng(3);
        var rope = new RotaryEmbedding<float>(64, initialPositions: 8);
        var x = TestData.Tensor<float>(rng, 2, 4, 32, 64);
        var dest = Tensor.Create(new float[x.FlattenedLength], x.Lengths);
        void Step() { rope.Backward(rope.Forward(x, 7)); rope.Apply(x, dest, 7); }
        Assert.Equal(0, Allocations.SteadyStateBytes(Step, warmup: 10, steps: 20));
    }
}
