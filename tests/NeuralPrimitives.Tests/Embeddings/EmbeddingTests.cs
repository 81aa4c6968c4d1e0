namespace NeuralPrimitives.Tests.Embeddings;

public class EmbeddingTests
{
    // Random indices in [0, v) (small v, so duplicates are common), optionally forcing the padding index in.
    internal static int[] RandomIndices(Rng rng, int n, int v, int? forceIn = null)
    {
        var idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = rng.NextInt(v);
        if (forceIn is int p) idx[rng.NextInt(n)] = p;
        return idx;
    }

    internal static Tensor<int> Ints(int[] data, params int[] shape) => Tensor.Create(data, Array.ConvertAll(shape, d => (nint)d));

    // The padding row is a constant by definition (PyTorch gives it no gradient), yet the output does read it.
    // The checked loss therefore masks the output rows at padding positions: the numeric gradient of the
    // padding row is then 0, and a backward that wrongly scattered into it would fail the check.
    internal static GradientCheckProblem Problem(Embedding<double> emb, Tensor<int> idx) => new()
    {
        Inputs = [],
        Parameters = [("weight", emb.Weight)],
        Forward = () =>
        {
            var y = emb.Forward(idx).ToArray();
            var ids = idx.AsReadOnlySpan();
            int d = emb.EmbeddingDim;
            for (int i = 0; i < ids.Length; i++)
                if (ids[i] == emb.PaddingIdx) Array.Clear(y, i * d, d);
            return [y];
        },
        Backward = dOut =>
        {
            var y = emb.Forward(idx);
            emb.Backward(Tensor.Create(dOut[0], y.Lengths));
            return [];
        },
    };

    [NpProperty]
    public void LookupEqualsOneHotTimesWeight(SmallDim v, SmallDim d, SmallDim b, SmallDim t, Seed seed)
    {
        var rng = seed.Rng();
        var emb = new Embedding<double>(v, d, rng: rng);
        var idx = RandomIndices(rng, b * t, v);
        var y = emb.Forward(Ints(idx, b, t));
        Assert.Equal(new nint[] { b, t, d }, y.Lengths.ToArray());

        // Independent: E [N, V] one-hot, Y = E·W by a triple loop.
        int n = idx.Length;
        var oneHot = new double[n * v];
        for (int i = 0; i < n; i++) oneHot[i * v + idx[i]] = 1;
        var expected = new double[n * d];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++)
            {
                double s = 0;
                for (int r = 0; r < v; r++) s += oneHot[i * v + r] * emb.Weight.Data[r * d + j];
                expected[i * d + j] = s;
            }
        TestData.AssertClose<double>(expected, y.AsReadOnlySpan(), 0);
        TestData.AssertClose<double>(expected, emb.Infer(Ints(idx, b, t)).AsReadOnlySpan(), 0);
    }

    // (scaleGradByFreq is deliberately not the true gradient, so it is checked against PyTorch and a reference instead.)
    [NpProperty]
    public void GradientCheckPasses(SmallDim v, SmallDim d, SmallDim n, bool usePadding, bool sparse, Seed seed)
    {
        var rng = seed.Rng();
        int? pad = usePadding ? rng.NextInt(v) : null;
        var emb = new Embedding<double>(v, d, paddingIdx: pad, sparse: sparse, rng: rng);
        var idx = Ints(RandomIndices(rng, 2 * n, v, pad), 2, n);
        var result = GradientCheck.Run(Problem(emb, idx));
        Assert.True(result.Passed, result.ToString());
    }

    // Independent reference of the weight gradient: dW[r] = Σ_{i: idx_i = r, r ≠ pad} dY_i · (1/count_r if scaled).
    private static double[] ReferenceGrad(int[] idx, double[] dy, int v, int d, int? pad, bool freq)
    {
        var g = new double[v * d];
        for (int i = 0; i < idx.Length; i++)
        {
            if (idx[i] == pad) continue;
            double scale = freq ? 1.0 / idx.Count(x => x == idx[i]) : 1.0;
            for (int j = 0; j < d; j++) g[idx[i] * d + j] += scale * dy[i * d + j];
        }
        return g;
    }

    [NpProperty]
    public void SparseRowGradientEqualsDenseGradient(SmallDim v, Dim d, SmallDim n, bool usePadding, bool scaleGradByFreq, Seed seed)
    {
        var rng = seed.Rng();
        int? pad = usePadding ? rng.NextInt(v) : null;
        var dense = new Embedding<double>(v, d, paddingIdx: pad, scaleGradByFreq: scaleGradByFreq, rng: new Rng(seed.Value));
        var sparse = new Embedding<double>(v, d, paddingIdx: pad, scaleGradByFreq: scaleGradByFreq, sparse: true, rng: new Rng(seed.Value));
        var idx = RandomIndices(rng, 3 * n, v, pad);
        var dy = TestData.Normal(rng, idx.Length * d);
        dense.Forward(Ints(idx, 3, n)); dense.Backward(Tensor.Create(dy, [3, n, d]));
        sparse.Forward(Ints(idx, 3, n)); sparse.Backward(Tensor.Create(dy, [3, n, d]));

        Assert.Null(dense.Weight.SparseGrad);
        var sg = sparse.Weight.SparseGrad!;
        var touched = idx.Where(i => i != pad).Distinct().OrderBy(i => i).ToArray();
        Assert.Equal(touched, sg.TouchedRows.ToArray().OrderBy(i => i).ToArray());
        var fromSparse = new double[v * d];
        sparse.Weight.CopyGradTo(fromSparse);
        var reference = ReferenceGrad(idx, dy, v, d, pad, scaleGradByFreq);
        TestData.AssertClose<double>(reference, dense.Weight.Grad, 1e-12, 1e-12, "dense");
        TestData.AssertClose<double>(reference, fromSparse, 1e-12, 1e-12, "sparse");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ScaleGradByFreqCountsEachBackwardOnItsOwn(bool sparse)
    {
        // Two steps with different indices accumulate two per-batch scaled gradients: the second step's counts
        // must start from zero (a count left over from step one would shrink step two's rows).
        const int v = 6, d = 3;
        int[] idx1 = [2, 2, 5, 2], idx2 = [2, 5, 5, 1, 0];
        var rng = new Rng(11);
        double[] dy1 = TestData.Normal(rng, idx1.Length * d), dy2 = TestData.Normal(rng, idx2.Length * d);
        var emb = new Embedding<double>(v, d, scaleGradByFreq: true, sparse: sparse, rng: new Rng(1));
        emb.Forward(Ints(idx1, 4)); emb.Backward(Tensor.Create(dy1, [4, d]));
        emb.Forward(Ints(idx2, 5)); emb.Backward(Tensor.Create(dy2, [5, d]));
        var expected = ReferenceGrad(idx1, dy1, v, d, null, freq: true).Zip(ReferenceGrad(idx2, dy2, v, d, null, freq: true), (a, b) => a + b).ToArray();
        var g = new double[v * d];
        emb.Weight.CopyGradTo(g);
        TestData.AssertClose<double>(expected, g, 1e-14, 1e-14, "two steps");

        var fresh = new Embedding<double>(v, d, scaleGradByFreq: true, sparse: sparse, rng: new Rng(1)); // the second step alone
        fresh.Forward(Ints(idx2, 5)); fresh.Backward(Tensor.Create(dy2, [5, d]));
        var g2 = new double[v * d];
        fresh.Weight.CopyGradTo(g2);
        TestData.AssertClose<double>(ReferenceGrad(idx2, dy2, v, d, null, freq: true), g2, 1e-14, 1e-14, "fresh");
    }

    [Fact]
    public void MatchesPyTorchWithPaddingAndMaxNorm()
    {
        var f = Fixture.Load("embeddings_embedding");
        int v = f.Meta.GetProperty("V").GetInt32(), d = f.Meta.GetProperty("D").GetInt32();
        var emb = new Embedding<double>(v, d, paddingIdx: f.Meta.GetProperty("padding_idx").GetInt32(), maxNorm: f.Meta.GetProperty("max_norm").GetDouble());
        emb.Weight.Load(f.Data("weight_before"));
        var idx = Ints(f.Ints("indices"), f.Shape("indices"));
        var y = emb.Forward(idx);
        TestData.AssertClose<double>(f.Data("weight_after"), emb.Weight.Data, 1e-13, 1e-13, "renormalised weight");
        TestData.AssertClose<double>(f.Data("output"), y.AsReadOnlySpan(), 1e-13, 1e-13, "output");
        emb.Backward(f.Tensor<double>("dout"));
        TestData.AssertClose<double>(f.Data("grad"), emb.Weight.Grad, 1e-13, 1e-13, "grad");
        // A looked-up row whose norm was above the bound is now just below it; the padding row stayed zero.
        Assert.InRange(EmbeddingOps.Norm<double>(emb.Weight.Data.AsSpan(3 * d, d), 2), 1.5 - 1e-6, 1.5);
        Assert.All(emb.Weight.Data.AsSpan(2 * d, d).ToArray(), x => Assert.Equal(0, x));
        Assert.Contains(f.Data("weight_before").Where((_, i) => i / d == 3).ToArray(), x => x != 0);
    }

    [Fact]
    public void MatchesPyTorchMaxNormWithL1Norm()
    {
        var f = Fixture.Load("embeddings_embedding");
        int v = f.Meta.GetProperty("V").GetInt32(), d = f.Meta.GetProperty("D").GetInt32();
        var emb = new Embedding<double>(v, d, maxNorm: f.Meta.GetProperty("l1_max_norm").GetDouble(), normType: 1);
        emb.Weight.Load(f.Data("l1_weight_before"));
        var y = emb.Forward(Ints(f.Ints("l1_indices"), f.Shape("l1_indices")));
        TestData.AssertClose<double>(f.Data("l1_weight_after"), emb.Weight.Data, 1e-13, 1e-13, "renormalised weight");
        TestData.AssertClose<double>(f.Data("l1_output"), y.AsReadOnlySpan(), 1e-13, 1e-13, "output");
        Assert.NotEqual(f.Data("l1_weight_before"), f.Data("l1_weight_after"));
    }

    [Fact]
    public void MatchesPyTorchScaleGradByFreqWithNegativePaddingIndex()
    {
        var f = Fixture.Load("embeddings_embedding");
        int v = f.Meta.GetProperty("V").GetInt32(), d = f.Meta.GetProperty("D").GetInt32();
        var emb = new Embedding<double>(v, d, paddingIdx: f.Meta.GetProperty("freq_padding_idx").GetInt32(), scaleGradByFreq: true);
        Assert.Equal(v - 1, emb.PaddingIdx);
        emb.Weight.Load(f.Data("freq_weight"));
        var y = emb.Forward(Ints(f.Ints("freq_indices"), f.Shape("freq_indices")));
        TestData.AssertClose<double>(f.Data("freq_output"), y.AsReadOnlySpan(), 0);
        emb.Backward(f.Tensor<double>("freq_dout"));
        TestData.AssertClose<double>(f.Data("freq_grad"), emb.Weight.Grad, 1e-13, 1e-13, "grad");
    }

    [Fact]
    public void InferWithMaxNormReturnsRenormalisedRowsWithoutWritingTheWeight()
    {
        var emb = new Embedding<double>(6, 5, maxNorm: 0.5, rng: new Rng(8));
        var before = (double[])emb.Weight.Data.Clone();
        var idx = Ints([0, 3, 3, 5], 4);
        var inferred = emb.Infer(idx).ToArray();
        Assert.Equal(before, emb.Weight.Data);
        var trained = emb.Forward(idx).ToArray();
        Assert.NotEqual(before, emb.Weight.Data);
        TestData.AssertClose<double>(trained, inferred, 1e-15, 1e-15);
        for (int i = 0; i < 4; i++) Assert.InRange(EmbeddingOps.Norm<double>(inferred.AsSpan(i * 5, 5), 2), 0, 0.5);
    }

    [Fact]
    public void InitialisationIsStandardNormalWithZeroPaddingRow()
    {
        var emb = new Embedding<double>(400, 50, paddingIdx: 7, rng: new Rng(1));
        Assert.All(emb.Weight.Data.AsSpan(7 * 50, 50).ToArray(), x => Assert.Equal(0, x));
        var others = emb.Weight.Data.Where((_, i) => i / 50 != 7).ToArray();
        double mean = others.Average(), std = Math.Sqrt(others.Select(x => (x - mean) * (x - mean)).Average());
        Assert.InRange(mean, -0.02, 0.02);
        Assert.InRange(std, 0.98, 1.02);
        Assert.Equal("weight", emb.NamedParameters().Single().Name);
    }

    [Fact]
    public void BackwardAccumulatesUntilZeroGradAndPaddingRowGetsNothing()
    {
        foreach (bool sparse in new[] { false, true })
        {
            var emb = new Embedding<double>(5, 3, paddingIdx: 1, sparse: sparse, rng: new Rng(2));
            var idx = Ints([1, 4, 4, 0], 4);
            var dy = Tensor.Create(Enumerable.Range(1, 12).Select(i => (double)i).ToArray(), [4, 3]);
            emb.Forward(idx); emb.Backward(dy);
            emb.Forward(idx); emb.Backward(dy);
            var g = new double[15];
            emb.Weight.CopyGradTo(g);
            // Row 4 occurs twice per step (rows 2 and 3 of dy: 4+7, 5+8, 6+9), two steps: ×2.
            Assert.Equal(new double[] { 2 * 10, 2 * 11, 2 * 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 * 11, 2 * 13, 2 * 15 }, g);
            emb.ZeroGrad();
            emb.Weight.CopyGradTo(g);
            Assert.All(g, x => Assert.Equal(0, x));
        }
    }

    [Fact]
    public void FromPretrainedCopiesFreezesAndKeepsThePaddingRow()
    {
        var w = Tensor.Create(Enumerable.Range(0, 12).Select(i => (float)i).ToArray(), [4, 3]);
        var emb = Embedding<float>.FromPretrained(w, paddingIdx: 0);
        Assert.False(emb.Weight.RequiresGrad);
        Assert.Equal(w.ToArray(), emb.Weight.Data);
        var y = emb.Forward(Ints([2, 0], 2));
        Assert.Equal(new float[] { 6, 7, 8, 0, 1, 2 }, y.ToArray());
        emb.Backward(Tensor.Create(new float[6] { 1, 1, 1, 1, 1, 1 }, [2, 3]));
        Assert.All(emb.Weight.Grad, x => Assert.Equal(0, x));

        var trainable = Embedding<float>.FromPretrained(w, freeze: false, sparse: true);
        Assert.True(trainable.Weight.RequiresGrad);
        trainable.Forward(Ints([2], 1));
        trainable.Backward(Tensor.Create(new float[] { 1, 2, 3 }, [1, 3]));
        Assert.Equal(new[] { 2 }, trainable.Weight.SparseGrad!.TouchedRows.ToArray());
        w[0, 0] = 100;
        Assert.Equal(0, trainable.Weight.Data[0]);
    }

    [Fact]
    public void OutOfRangeIndexIsRejectedWithValueAndPosition()
    {
        var emb = new Embedding<float>(10, 4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => emb.Forward(Ints([1, 2, 3, 10], 2, 2)));
        Assert.Equal("indices", e.ParamName);
        Assert.Equal(10, e.ActualValue);
        Assert.Contains("flat position 3", e.Message);
        Assert.Contains("[0, 10)", e.Message);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => emb.Infer(Ints([-1, 2], 2)));
        Assert.Equal(-1, e2.ActualValue);
        Assert.Contains("flat position 0", e2.Message);
    }

    [Fact]
    public void BadConstructionAndBackwardAreRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding<float>(5, 3, paddingIdx: 5));
        Assert.Equal("paddingIdx", e.ParamName);
        Assert.Contains("[-5, 5)", e.Message); Assert.Contains("got 5", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding<float>(5, 3, paddingIdx: -6));
        var m = Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding<float>(5, 3, maxNorm: 0));
        Assert.Equal("maxNorm", m.ParamName); Assert.Contains("got 0", m.Message);
        var p = Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding<float>(5, 3, maxNorm: 1, normType: -1));
        Assert.Equal("normType", p.ParamName); Assert.Contains("got -1", p.Message);
        Assert.Equal("numEmbeddings", Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding<float>(0, 3)).ParamName);
        Assert.Equal("embeddingDim", Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding<float>(3, 0)).ParamName);
        var emb = new Embedding<float>(5, 3);
        Assert.Throws<InvalidOperationException>(() => emb.Backward(Tensor.Create(new float[3], [1, 3])));
        emb.Forward(Ints([1, 2], 2));
        var s = Assert.Throws<ArgumentException>(() => emb.Backward(Tensor.Create(new float[3], [1, 3])));
        Assert.Equal("dOutput", s.ParamName); Assert.Contains("[2, 3]", s.Message); Assert.Contains("[1, 3]", s.Message);
        var r = Assert.Throws<ArgumentException>(() => Embedding<float>.FromPretrained(Tensor.Create(new float[6], [6])));
        Assert.Equal("embeddings", r.ParamName); Assert.Contains("[6]", r.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WarmTrainingStepAllocatesNothing(bool sparse)
    {
        var emb = new Embedding<float>(1000, 32, paddingIdx: 0, sparse: sparse, rng: new Rng(3));
        AssertWarmStepsAllocateNothing(emb, new Rng(4), 8, 8, warmup: 10, steps: 20);
    }

    /// <summary>Forward, Backward and ZeroGrad on random [rows, cols] indices allocate nothing after <paramref name="warmup"/> steps.</summary>
    private static void AssertWarmStepsAllocateNothing(Embedding<float> emb, Rng rng, int rows, int cols, int warmup, int steps)
    {
        var idx = Ints(RandomIndices(rng, rows * cols, emb.NumEmbeddings), rows, cols);
        var dy = TestData.Tensor<float>(rng, rows, cols, emb.EmbeddingDim);
        // Parameter.ZeroGrad (O(touched rows) when sparse). Module.ZeroGrad enumerates Parameters() through
        // iterators and allocates ~200 bytes per call (Core/Module.cs, outside this area; reported).
        void Step() { emb.Forward(idx); emb.Backward(dy); emb.Weight.ZeroGrad(); }
        Assert.Equal(0, Allocations.SteadyStateBytes(Step, warmup, steps));
    }

    [Fact]
    public void LargeLookupsCopyEveryRow()
    {
        // A large gather (with prefetching) over several calls.
        var rng = new Rng(12);
        var emb = new Embedding<float>(5000, 64, rng: rng);
        for (int rep = 0; rep < 30; rep++)
        {
            var idx = RandomIndices(rng, 4096, 5000);
            var y = emb.Forward(Ints(idx, 64, 64)).ToArray();
            for (int i = 0; i < idx.Length; i++)
                Assert.True(emb.Weight.Data.AsSpan(idx[i] * 64, 64).SequenceEqual(y.AsSpan(i * 64, 64)), $"row {i} (rep {rep})");
        }
    }

    [Fact]
    public void LargeWarmForwardAllocatesNothing()
    {
        var rng = new Rng(13);
        var emb = new Embedding<float>(5000, 64, sparse: true, rng: rng);
        AssertWarmStepsAllocateNothing(emb, rng, 64, 64, warmup: 20, steps: 50);
    }

    [Fact]
    public void InferIsThreadSafeOnSharedWeights()
    {
        var rng = new Rng(14);
        var emb = new Embedding<float>(300, 24, maxNorm: 3, rng: rng);
        var inputs = Enumerable.Range(0, 8).Select(_ => Ints(RandomIndices(rng, 40, 300), 5, 8)).ToArray();
        var before = (float[])emb.Weight.Data.Clone();
        var sequential = inputs.Select(x => emb.Infer(x).ToArray()).ToArray();
        Parallel.For(0, inputs.Length * 8, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            i => Assert.Equal(sequential[i % inputs.Length], emb.Infer(inputs[i % inputs.Length]).ToArray()));
        Assert.Equal(before, emb.Weight.Data);
    }

    [Fact]
    public void FloatLookupCopiesTheRows()
    {
        var rng = new Rng(9);
        var ef = new Embedding<float>(50, 17, rng: new Rng(1));
        var idx = Ints(RandomIndices(rng, 30, 50), 5, 6);
        var y = ef.Forward(idx);
        for (int i = 0; i < 30; i++)
            Assert.Equal(ef.Weight.Data.AsSpan(idx.AsSpan()[i] * 17, 17).ToArray(), y.AsSpan().Slice(i * 17, 17).ToArray());
    }
}

[Collection(GlobalStateCollection.Name)]
public class EmbeddingLargeGatherTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void LargeLookupMatchesRowByRowCopyForAnyThreadCount(int threads)
    {
        // 5,000 lookups × 64 floats = 1.25 MB ≥ RowGather.ParallelMinBytes: the split gather runs when NumThreads > 1.
        var rng = new Rng(21);
        var emb = new Embedding<float>(3000, 64, rng: rng);
        var idx = new int[5000];
        for (int i = 0; i < idx.Length; i++) idx[i] = rng.NextInt(3000);
        var y = GlobalStateCollection.WithThreads(threads, () => emb.Forward(Tensor.Create(idx, [50, 100])).ToArray());
        for (int i = 0; i < idx.Length; i++)
            for (int j = 0; j < 64; j++)
                if (y[i * 64 + j] != emb.Weight.Data[idx[i] * 64 + j])
                    Assert.Fail($"lookup {i} (row {idx[i]}), column {j}: expected {emb.Weight.Data[idx[i] * 64 + j]}, got {y[i * 64 + j]}");
    }
}
