using static NeuralPrimitives.Tests.Embeddings.EmbeddingTests;

namespace NeuralPrimitives.Tests.Embeddings;

public class EmbeddingBagTests
{
    private static EmbeddingBag<double> Bag(Fixture f, EmbeddingBagMode mode, int? pad = null, bool includeLastOffset = false)
    {
        var bag = new EmbeddingBag<double>(f.Meta.GetProperty("V").GetInt32(), f.Meta.GetProperty("D").GetInt32(), mode, pad, includeLastOffset: includeLastOffset);
        bag.Weight.Load(f.Data("weight"));
        return bag;
    }

    public static TheoryData<EmbeddingBagMode, string> Modes => new()
    {
        { EmbeddingBagMode.Sum, "sum" }, { EmbeddingBagMode.Mean, "mean" }, { EmbeddingBagMode.Max, "max" },
    };

    /// <summary>The fixture's integer tensor <paramref name="key"/> (indices or offsets).</summary>
    private static Tensor<int> Input(Fixture f, string key) => Ints(f.Ints(key), f.Shape(key));

    /// <summary>
    /// <paramref name="y"/> is PyTorch's <c>{key}_output</c>, and Backward(<c>{key}_dout</c>) leaves PyTorch's
    /// <c>{key}_grad</c> in the weight; returns what Backward returned (d per_sample_weights).
    /// </summary>
    private static Tensor<double>? AssertMatches(Fixture f, string key, EmbeddingBag<double> bag, Tensor<double> y)
    {
        TestData.AssertClose<double>(f.Data($"{key}_output"), y.AsReadOnlySpan(), 1e-13, 1e-13, "output");
        var dPsw = bag.Backward(f.Tensor<double>($"{key}_dout"));
        TestData.AssertClose<double>(f.Data($"{key}_grad"), bag.Weight.Grad, 1e-13, 1e-13, "grad");
        return dPsw;
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void MatchesPyTorchWithOffsetsAndAnEmptyBag(EmbeddingBagMode mode, string name)
    {
        var f = Fixture.Load("embeddings_embedding_bag");
        var bag = Bag(f, mode);
        var y = bag.Forward(Input(f, "indices"), Input(f, "offsets"));
        Assert.Null(AssertMatches(f, name, bag, y));
        Assert.All(y.AsSpan().Slice(3, 3).ToArray(), v => Assert.Equal(0, v)); // bag 1 is empty
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void MatchesPyTorchWithTwoDimensionalInput(EmbeddingBagMode mode, string name)
    {
        var f = Fixture.Load("embeddings_embedding_bag");
        var bag = Bag(f, mode);
        AssertMatches(f, $"2d_{name}", bag, bag.Forward(Input(f, "indices2d")));
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void MatchesPyTorchWithPaddingIndex(EmbeddingBagMode mode, string name)
    {
        var f = Fixture.Load("embeddings_embedding_bag");
        var bag = Bag(f, mode, f.Meta.GetProperty("padding_idx").GetInt32());
        AssertMatches(f, $"pad_{name}", bag, bag.Forward(Input(f, "indices"), Input(f, "offsets")));
    }

    [Fact]
    public void MatchesPyTorchWithPerSampleWeights()
    {
        var f = Fixture.Load("embeddings_embedding_bag");
        var bag = Bag(f, EmbeddingBagMode.Sum);
        var dPsw = AssertMatches(f, "psw", bag, bag.Forward(Input(f, "indices"), Input(f, "offsets"), f.Tensor<double>("psw")));
        Assert.NotNull(dPsw);
        TestData.AssertClose<double>(f.Data("psw_dpsw"), dPsw.AsReadOnlySpan(), 1e-13, 1e-13, "d per_sample_weights");
    }

    [Fact]
    public void MatchesPyTorchWithIncludeLastOffset()
    {
        var f = Fixture.Load("embeddings_embedding_bag");
        var bag = Bag(f, EmbeddingBagMode.Sum, includeLastOffset: true);
        var y = bag.Forward(Input(f, "indices"), Input(f, "last_offsets"));
        Assert.Equal(new nint[] { 3, 3 }, y.Lengths.ToArray());
        TestData.AssertClose<double>(f.Data("last_output"), y.AsReadOnlySpan(), 1e-13, 1e-13, "output");
    }

    // Random bags over a small vocabulary: sizes 0..3 (empty and single-element bags are common), duplicates, padding.
    private static (int[] Indices, int[] Offsets) RandomBags(Rng rng, int bags, int v, int? pad)
    {
        var idx = new List<int>();
        var off = new int[bags];
        for (int b = 0; b < bags; b++)
        {
            off[b] = idx.Count;
            int size = rng.NextInt(4);
            for (int i = 0; i < size; i++) idx.Add(pad is int p && rng.NextDouble() < 0.25 ? p : rng.NextInt(v));
        }
        return (idx.ToArray(), off);
    }

    // Independent reference forward: per bag, from explicit lists of rows.
    private static double[] Reference(double[] w, int d, int[] idx, int[] off, EmbeddingBagMode mode, int? pad, double[]? psw)
    {
        var y = new double[off.Length * d];
        for (int b = 0; b < off.Length; b++)
        {
            int end = b + 1 < off.Length ? off[b + 1] : idx.Length;
            var members = Enumerable.Range(off[b], end - off[b]).Where(i => idx[i] != pad).ToList();
            for (int j = 0; j < d; j++)
            {
                if (members.Count == 0) continue;
                var vals = members.Select(i => w[idx[i] * d + j] * (psw?[i] ?? 1)).ToList();
                y[b * d + j] = mode switch
                {
                    EmbeddingBagMode.Sum => vals.Sum(),
                    EmbeddingBagMode.Mean => vals.Sum() / vals.Count,
                    _ => vals.Max(),
                };
            }
        }
        return y;
    }

    [NpProperty]
    public void ForwardMatchesReferenceAndGradientCheckPasses(SmallDim v, SmallDim d, SmallDim bags, int modeSeed, bool usePadding, bool weighted, bool sparse, Seed seed)
    {
        var rng = seed.Rng();
        var mode = (EmbeddingBagMode)Math.Abs(modeSeed % 3);
        int? pad = usePadding ? rng.NextInt(v) : null;
        bool withWeights = weighted && mode == EmbeddingBagMode.Sum;
        var bag = new EmbeddingBag<double>(v, d, mode, pad, sparse: sparse, rng: rng);
        var (idx, off) = RandomBags(rng, bags, v, pad);
        var psw = withWeights ? TestData.Normal(rng, idx.Length) : null;
        var input = Ints(idx, idx.Length);
        var offsets = Ints(off, off.Length);

        var y = bag.Forward(input, offsets, psw is null ? null : Tensor.Create(psw, [idx.Length]));
        TestData.AssertClose<double>(Reference(bag.Weight.Data, d, idx, off, mode, pad, psw), y.AsReadOnlySpan(), 1e-12, 1e-12, "forward");
        TestData.AssertClose<double>(y.ToArray(), bag.Infer(input, offsets, psw is null ? null : Tensor.Create(psw, [idx.Length])).AsReadOnlySpan(), 0, 0, "infer");

        var problem = new GradientCheckProblem
        {
            Inputs = psw is null ? [] : [("perSampleWeights", psw)],
            Parameters = [("weight", bag.Weight)],
            Forward = () => [bag.Forward(input, offsets, psw is null ? null : Tensor.Create(psw, [idx.Length])).ToArray()],
            Backward = dOut =>
            {
                var o = bag.Forward(input, offsets, psw is null ? null : Tensor.Create(psw, [idx.Length]));
                var dPsw = bag.Backward(Tensor.Create(dOut[0], o.Lengths));
                return psw is null ? [] : [dPsw!.ToArray()];
            },
        };
        var result = GradientCheck.Run(problem);
        Assert.True(result.Passed, $"mode {mode}, bags [{string.Join(",", off)}] of [{string.Join(",", idx)}], pad {pad}\n{result}");
    }

    [NpProperty]
    public void SparseRowGradientEqualsDenseGradient(SmallDim v, Dim d, SmallDim bags, int modeSeed, Seed seed)
    {
        var mode = (EmbeddingBagMode)Math.Abs(modeSeed % 3);
        var rng = seed.Rng();
        var dense = new EmbeddingBag<double>(v, d, mode, rng: new Rng(seed.Value));
        var sparse = new EmbeddingBag<double>(v, d, mode, sparse: true, rng: new Rng(seed.Value));
        var (idx, off) = RandomBags(rng, bags, v, null);
        var dy = Tensor.Create(TestData.Normal(rng, bags * d), [bags, (nint)(int)d]);
        dense.Forward(Ints(idx, idx.Length), Ints(off, off.Length)); dense.Backward(dy);
        sparse.Forward(Ints(idx, idx.Length), Ints(off, off.Length)); sparse.Backward(dy);
        var g = new double[v * d];
        sparse.Weight.CopyGradTo(g);
        TestData.AssertClose<double>(dense.Weight.Grad, g, 1e-12, 1e-12);
        Assert.True(sparse.Weight.SparseGrad!.Count <= idx.Distinct().Count());
    }

    [Fact]
    public void MaxRoutesTheGradientToTheArgMaxRow()
    {
        var bag = new EmbeddingBag<double>(3, 2, EmbeddingBagMode.Max);
        bag.Weight.Load([1, 5, 3, 2, -1, 9]);
        var y = bag.Forward(Ints([0, 1, 2], 1, 3));
        Assert.Equal(new double[] { 3, 9 }, y.ToArray());
        bag.Backward(Tensor.Create(new double[] { 10, 20 }, [1, 2]));
        Assert.Equal(new double[] { 0, 0, 10, 0, 0, 20 }, bag.Weight.Grad);
    }

    [Fact]
    public void MaxNormRenormalisesLookedUpRowsInPlace()
    {
        var bag = new EmbeddingBag<double>(3, 2, EmbeddingBagMode.Sum, maxNorm: 1);
        bag.Weight.Load([3, 4, 0.3, 0.4, 6, 8]);
        var inferred = bag.Infer(Ints([0, 1], 1, 2)).ToArray();
        Assert.Equal(3, bag.Weight.Data[0]); // Infer does not write
        var y = bag.Forward(Ints([0, 1], 1, 2)).ToArray();
        double s = 1 / (5 + 1e-7);
        TestData.AssertClose<double>([3 * s, 4 * s, 0.3, 0.4, 6, 8], bag.Weight.Data, 1e-15);
        TestData.AssertClose<double>([3 * s + 0.3, 4 * s + 0.4], y, 1e-15);
        TestData.AssertClose<double>(y, inferred, 1e-15);
    }

    [Fact]
    public void BadOffsetsAreRejectedWithTheNumbers()
    {
        var bag = new EmbeddingBag<float>(10, 3);
        var input = Ints([1, 2, 3, 4], 4);
        var e = Assert.Throws<ArgumentException>(() => bag.Forward(input, Ints([0, 3, 2], 3)));
        Assert.Equal("offsets", e.ParamName);
        Assert.Contains("offsets[2] = 2 < offsets[1] = 3", e.Message);
        var past = Assert.Throws<ArgumentException>(() => bag.Forward(input, Ints([0, 5], 2)));
        Assert.Contains("offsets[1] = 5", past.Message); Assert.Contains("≤ 4", past.Message);
        var start = Assert.Throws<ArgumentException>(() => bag.Forward(input, Ints([1, 2], 2)));
        Assert.Contains("offsets[0] must be 0, got 1", start.Message);
        Assert.Equal("offsets", Assert.Throws<ArgumentException>(() => bag.Forward(input)).ParamName);
        Assert.Equal("offsets", Assert.Throws<ArgumentException>(() => bag.Forward(Ints([1, 2], 1, 2), Ints([0], 1))).ParamName);
        Assert.Equal("offsets", Assert.Throws<ArgumentException>(() => bag.Forward(input, Ints([0, 1], 1, 2))).ParamName);
        Assert.Equal("offsets", Assert.Throws<ArgumentException>(() => new EmbeddingBag<float>(10, 3, includeLastOffset: true).Forward(input, Ints([0], 1))).ParamName);
        var rank = Assert.Throws<ArgumentException>(() => bag.Forward(Ints(new int[8], 2, 2, 2)));
        Assert.Equal("input", rank.ParamName); Assert.Contains("[2, 2, 2]", rank.Message);
    }

    [Fact]
    public void IncludeLastOffsetMustEndAtTheInputLength()
    {
        var bag = new EmbeddingBag<double>(10, 2, EmbeddingBagMode.Sum, includeLastOffset: true, rng: new Rng(1));
        var input = Ints([1, 2, 3, 4], 4);
        var e = Assert.Throws<ArgumentException>(() => bag.Forward(input, Ints([0, 1, 3], 3)));
        Assert.Equal("offsets", e.ParamName); Assert.Contains("offsets[2] = 3 must equal the input length 4", e.Message);
        Assert.Throws<ArgumentException>(() => bag.Infer(input, Ints([0, 2], 2)));
        var y = bag.Forward(input, Ints([0, 1, 4], 3)).ToArray(); // bags {1}, {2, 3, 4}
        var w = bag.Weight.Data;
        Assert.Equal([w[2], w[3], w[4] + w[6] + w[8], w[5] + w[7] + w[9]], y);
    }

    [Fact]
    public void ManyBagsTimesTheWidthMustFitInOneArray()
    {
        var bag = new EmbeddingBag<float>(3, 100000);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => bag.Infer(Ints([], 0), Ints(new int[30000], 30000)));
        Assert.Equal("offsets", e.ParamName); Assert.Contains("30,000 × 100,000", e.Message);
        var e2 = Assert.Throws<ArgumentOutOfRangeException>(() => bag.Forward(Ints([], 30000, 0)));
        Assert.Equal("input", e2.ParamName);
    }

    [Fact]
    public void BadIndicesAndWeightsAreRejected()
    {
        var bag = new EmbeddingBag<float>(10, 3);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => bag.Forward(Ints([1, 2, 30, 4], 2, 2)));
        Assert.Equal("input", e.ParamName); Assert.Equal(30, e.ActualValue); Assert.Contains("flat position 2", e.Message);
        var w = Assert.Throws<ArgumentException>(() => bag.Forward(Ints([1, 2], 1, 2), null, Tensor.Create(new float[2], [1, 2])));
        Assert.Equal("perSampleWeights", w.ParamName); Assert.Contains("Sum", w.Message); Assert.Contains("Mean", w.Message);
        var sum = new EmbeddingBag<float>(10, 3, EmbeddingBagMode.Sum);
        var s = Assert.Throws<ArgumentException>(() => sum.Forward(Ints([1, 2], 1, 2), null, Tensor.Create(new float[3], [3])));
        Assert.Equal("perSampleWeights", s.ParamName); Assert.Contains("[1, 2]", s.Message); Assert.Contains("[3]", s.Message);
        Assert.Throws<InvalidOperationException>(() => sum.Backward(Tensor.Create(new float[3], [1, 3])));
        sum.Forward(Ints([1, 2], 1, 2));
        var d = Assert.Throws<ArgumentException>(() => sum.Backward(Tensor.Create(new float[6], [2, 3])));
        Assert.Equal("dOutput", d.ParamName); Assert.Contains("[1, 3]", d.Message); Assert.Contains("[2, 3]", d.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmbeddingBag<float>(10, 3, (EmbeddingBagMode)7));
        Assert.Throws<ArgumentOutOfRangeException>(() => new EmbeddingBag<float>(10, 3, paddingIdx: 10));
    }

    [Theory]
    [InlineData(EmbeddingBagMode.Sum, true)]
    [InlineData(EmbeddingBagMode.Mean, false)]
    [InlineData(EmbeddingBagMode.Max, true)]
    public void WarmTrainingStepAllocatesNothing(EmbeddingBagMode mode, bool sparse)
    {
        var bag = new EmbeddingBag<float>(500, 16, mode, paddingIdx: 0, sparse: sparse, rng: new Rng(3));
        var rng = new Rng(5);
        var input = Ints(RandomIndices(rng, 40, 500), 40);
        var offsets = Ints([0, 5, 5, 17, 30], 5);
        var psw = mode == EmbeddingBagMode.Sum ? TestData.Tensor<float>(rng, 40) : null;
        var dy = TestData.Tensor<float>(rng, 5, 16);
        void Step() { bag.Forward(input, offsets, psw); bag.Backward(dy); bag.Weight.ZeroGrad(); }
        Assert.Equal(0, Allocations.SteadyStateBytes(Step, warmup: 10, steps: 20));
    }
}
