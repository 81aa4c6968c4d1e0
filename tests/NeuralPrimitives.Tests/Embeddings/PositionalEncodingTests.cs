namespace NeuralPrimitives.Tests.Embeddings;

public class PositionalEncodingTests
{
    [Fact]
    public void SinusoidalTableMatchesTheFormulaFromPyTorch()
    {
        var f = Fixture.Load("embeddings_sinusoidal");
        int maxLen = f.Meta.GetProperty("max_len").GetInt32(), d = f.Meta.GetProperty("d_model").GetInt32();
        var pe = new SinusoidalPositionalEncoding<double>(d, maxLen);
        TestData.AssertClose<double>(f.Data("table"), pe.Table.AsReadOnlySpan(), 1e-13, 0, "table");
        var pf = new SinusoidalPositionalEncoding<float>(d, maxLen);
        TestData.AssertClose<float>(f.DataF("table"), pf.Table.AsReadOnlySpan(), 1e-6, 0, "float table");
    }

    [Fact]
    public void SinusoidalShiftIsARotationOfEachPair()
    {
        // PE[p + k] pair i = R(k·ω_i) · PE[p] pair i: the property that lets attention read relative positions.
        const int d = 12, k = 7;
        var table = new SinusoidalPositionalEncoding<double>(d, 60).Table;
        for (int p = 0; p < 50; p += 9)
            for (int i = 0; i < d / 2; i++)
            {
                double w = Math.Pow(10000, -2.0 * i / d), s = table[p, 2 * i], c = table[p, 2 * i + 1];
                Assert.Equal(s * Math.Cos(k * w) + c * Math.Sin(k * w), table[p + k, 2 * i], 1e-12);
                Assert.Equal(c * Math.Cos(k * w) - s * Math.Sin(k * w), table[p + k, 2 * i + 1], 1e-12);
            }
    }

    [NpProperty]
    public void SinusoidalAddsTheTableByPositionInBothLayouts(SmallDim b, SmallDim t, SmallDim halfD, SmallDim start, Seed seed)
    {
        int d = 2 * halfD;
        var rng = seed.Rng();
        var table = new SinusoidalPositionalEncoding<double>(d, 20).Table;
        var xFirst = TestData.Tensor<double>(rng, b, t, d);
        var yFirst = new SinusoidalPositionalEncoding<double>(d, 20, batchFirst: true).Forward(xFirst, start);
        var pe = new SinusoidalPositionalEncoding<double>(d, 20);
        var xSeq = Tensor.Create(new double[b * t * d], [t, b, d]); // the same data in [T, B, D]
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) for (int k = 0; k < d; k++) xSeq[j, i, k] = xFirst[i, j, k];
        var ySeq = pe.Forward(xSeq, start);
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++)
                for (int k = 0; k < d; k++)
                {
                    double expected = xFirst[i, j, k] + table[start + j, k];
                    Assert.Equal(expected, yFirst[i, j, k], 1e-15);
                    Assert.Equal(expected, ySeq[j, i, k], 1e-15);
                }
        TestData.AssertClose<double>(ySeq.ToArray(), pe.Infer(xSeq, start).AsReadOnlySpan(), 0);
    }

    [NpProperty]
    public void SinusoidalAndLearnedGradientChecksPass(SmallDim b, SmallDim t, SmallDim halfD, bool batchFirst, Seed seed)
    {
        var rng = seed.Rng();
        int d = 2 * halfD;
        var x = TestData.Tensor<double>(rng, b, t, d);
        var sin = GradientCheck.Run(new SinusoidalPositionalEncoding<double>(d, 10, batchFirst), x);
        Assert.True(sin.Passed, sin.ToString());
        var learned = new LearnedPositionalEmbedding<double>(10, d, batchFirst, rng: rng);
        var r = GradientCheck.Run(learned, x);
        Assert.True(r.Passed, r.ToString());
        Assert.Equal(2, r.Tensors.Count);
        var r2 = GradientCheck.Run(learned, TestData.Tensor<double>(rng, t, d));
        Assert.True(r2.Passed, r2.ToString());
    }

    [NpProperty]
    public void LearnedWithStartPositionMatchesReferenceAndGradientCheck(SmallDim b, SmallDim t, SmallDim d, SmallDim start, Seed seed)
    {
        var rng = seed.Rng();
        var learned = new LearnedPositionalEmbedding<double>(t + start, d, batchFirst: true, rng: rng);
        var x = TestData.Tensor<double>(rng, b, t, d);
        var y = learned.Forward(x, start);
        var p = learned.Weight.Data;
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) for (int k = 0; k < d; k++)
            Assert.Equal(x[i, j, k] + p[(start + j) * d + k], y[i, j, k], 1e-15);

        var dy = TestData.Tensor<double>(rng, b, t, d);
        learned.ZeroGrad();
        var dx = learned.Backward(dy);
        Assert.Equal(dy.ToArray(), dx.ToArray());
        // Independent: dP[start + j] = Σ_i dy[i, j]; earlier rows get nothing.
        var expected = new double[(t + start) * d];
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) for (int k = 0; k < d; k++) expected[(start + j) * d + k] += dy[i, j, k];
        TestData.AssertClose<double>(expected, learned.Weight.Grad, 1e-13);
    }

    [Fact]
    public void TooLongSequencesAndOddWidthsAreRejected()
    {
        var learned = new LearnedPositionalEmbedding<float>(8, 4, batchFirst: true);
        var e = Assert.Throws<ArgumentException>(() => learned.Forward(Tensor.Create(new float[2 * 9 * 4], [2, 9, 4])));
        Assert.Equal("input", e.ParamName); Assert.Contains("9", e.Message); Assert.Contains("maxLen 8", e.Message);
        var e2 = Assert.Throws<ArgumentException>(() => learned.Forward(Tensor.Create(new float[5 * 4], [5, 4]), 4));
        Assert.Contains("start position 4", e2.Message); Assert.Contains("sequence length 5", e2.Message); Assert.Contains("maxLen 8", e2.Message);
        var w = Assert.Throws<ArgumentException>(() => learned.Forward(Tensor.Create(new float[5 * 3], [5, 3])));
        Assert.Contains("[5, 3]", w.Message);
        Assert.Throws<ArgumentException>(() => learned.Forward(Tensor.Create(new float[4], [4])));
        Assert.Throws<ArgumentOutOfRangeException>(() => learned.Forward(Tensor.Create(new float[4], [1, 4]), -1));

        var odd = Assert.Throws<ArgumentOutOfRangeException>(() => new SinusoidalPositionalEncoding<float>(7));
        Assert.Equal("dModel", odd.ParamName); Assert.Contains("even", odd.Message); Assert.Contains("7", odd.Message);
        var pe = new SinusoidalPositionalEncoding<float>(4, 6);
        var tooLong = Assert.Throws<ArgumentException>(() => pe.Forward(Tensor.Create(new float[7 * 4], [7, 4])));
        Assert.Contains("sequence length 7", tooLong.Message); Assert.Contains("maxLen 6", tooLong.Message);
        Assert.Throws<InvalidOperationException>(() => new SinusoidalPositionalEncoding<float>(4).Backward(Tensor.Create(new float[4], [1, 4])));
        Assert.Throws<InvalidOperationException>(() => new LearnedPositionalEmbedding<float>(4, 4).Backward(Tensor.Create(new float[4], [1, 4])));
    }

    [Fact]
    public void WarmTrainingStepsAllocateNothing()
    {
        var rng = new Rng(6);
        var x = TestData.Tensor<float>(rng, 4, 16, 32);
        var pe = new SinusoidalPositionalEncoding<float>(32, 64, batchFirst: true);
        var learned = new LearnedPositionalEmbedding<float>(64, 32, batchFirst: true, rng: rng);
        void Step() { pe.Backward(pe.Forward(x)); learned.Backward(learned.Forward(x, 3)); learned.Weight.ZeroGrad(); }
        Assert.Equal(0, Allocations.SteadyStateBytes(Step, warmup: 10, steps: 20));
    }
}
