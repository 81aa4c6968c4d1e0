// The seq2seq attention scores (dot, general, low-rank, additive): gradient checks in double on random
// shapes with padding (including T = 1 and fully masked rows), PyTorch fixtures written out in torch
// (tests/reference/fixtures_classic_attention.py), the scores' algebra (dot = general with W = I, low-rank =
// general with W = UᵀV), masking semantics, bad input, zero allocation.

namespace NeuralPrimitives.Tests.Attention;

public enum ScoreKind { Dot, General, LowRank, Additive }

public class ClassicAttentionTests
{
    internal static ClassicAttention<T> Make<T>(ScoreKind kind, int ds, int dh, Rng rng) where T : unmanaged, IBinaryFloatingPointIeee754<T> => kind switch
    {
        ScoreKind.Dot => new DotAttention<T>(dh),
        ScoreKind.General => new GeneralAttention<T>(ds, dh, rng),
        ScoreKind.LowRank => new LowRankAttention<T>(ds, dh, rank: 2, rng),
        _ => new AdditiveAttention<T>(ds, dh, attentionSize: 3, rng: rng),
    };

    public static TheoryData<ScoreKind> Kinds() => new(Enum.GetValues<ScoreKind>());

    private static Tensor<T> Ten<T>(T[] data, params int[] shape) => Tensor.Create(data, Array.ConvertAll(shape, d => (nint)d));

    private static GradientCheckResult Check(ClassicAttention<double> m, double[] s, double[] h, int batch, int steps, int[]? lengths, bool[]? mask)
    {
        var maskTensor = mask is null ? null : Ten(mask, batch, steps);
        return GradientCheck.Run(new GradientCheckProblem
        {
            Inputs = [("state", s), ("encoder", h)],
            Parameters = m.NamedParameters().ToList(),
            Forward = () =>
            {
                var o = m.Forward(Ten(s, batch, m.StateSize), Ten(h, batch, steps, m.EncoderSize), maskTensor, lengths);
                return [o.Context.ToArray(), o.Weights.ToArray()];
            },
            Backward = d =>
            {
                var g = m.Backward(Ten(d[0], batch, m.EncoderSize), Ten(d[1], batch, steps));
                return [g.DState.ToArray(), g.DEncoder.ToArray()];
            },
        });
    }

    [NpProperty]
    public void GradientCheckPasses(int kindIndex, SmallDim batch, SmallDim steps, SmallDim ds, SmallDim dh, bool useMask, Seed seed)
    {
        var kind = (ScoreKind)(Math.Abs(kindIndex) % 4);
        var rng = seed.Rng();
        var m = Make<double>(kind, ds, dh, rng);
        var s = TestData.Normal(rng, batch * m.StateSize);
        var h = TestData.Normal(rng, batch * steps * dh);
        // Padding drawn per row: a length in [0, T] (0 = fully masked) or a random boolean mask.
        int[]? lengths = useMask ? null : Enumerable.Range(0, batch).Select(_ => rng.NextInt(steps + 1)).ToArray();
        bool[]? mask = useMask ? Enumerable.Range(0, batch * steps).Select(_ => rng.Bernoulli(0.3)).ToArray() : null;
        var result = Check(m, s, h, batch, steps, lengths, mask);
        Assert.True(result.Passed, $"{kind}: {result}");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void OnePositionAndFullyMaskedRows(ScoreKind kind)
    {
        var rng = new Rng(4);
        // T = 1: the weight is 1 and the context is h_1, unless the row is masked.
        var m = Make<double>(kind, 3, 3, rng);
        var s = TestData.Normal(rng, 2 * 3);
        var h = TestData.Normal(rng, 2 * 1 * 3);
        var o = m.Forward(Ten(s, 2, 3), Ten(h, 2, 1, 3), lengths: [1, 0]);
        Assert.Equal([1.0, 0.0], o.Weights.ToArray());
        Assert.Equal(h[..3].Concat(new double[3]).ToArray(), o.Context.ToArray());
        Assert.True(Check(m, s, h, 2, 1, [1, 0], null).Passed);

        // Every row fully masked: zeros, not NaN, and zero gradients everywhere.
        var all = Make<double>(kind, 3, 3, rng);
        var big = TestData.Normal(rng, 2 * 5 * 3, 1e3);
        var r = all.Forward(Ten(s, 2, 3), Ten(big, 2, 5, 3), keyPaddingMask: Ten(Enumerable.Repeat(true, 10).ToArray(), 2, 5));
        Assert.All(r.Context.ToArray().Concat(r.Weights.ToArray()), v => Assert.Equal(0.0, v));
        var g = all.Backward(TestData.Tensor<double>(rng, 2, 3), TestData.Tensor<double>(rng, 2, 5));
        Assert.All(g.DState.ToArray().Concat(g.DEncoder.ToArray()), v => Assert.Equal(0.0, v));
        Assert.All(all.Parameters().SelectMany(p => p.Grad), v => Assert.Equal(0.0, v));
    }

    [Theory]
    [InlineData("classic_dot", ScoreKind.Dot)]
    [InlineData("classic_general", ScoreKind.General)]
    [InlineData("classic_lowrank", ScoreKind.LowRank)]
    [InlineData("classic_additive", ScoreKind.Additive)]
    public void MatchesPyTorch(string name, ScoreKind kind)
    {
        CheckFixture<double>(name, kind, 1e-11, 1e-11);
        CheckFixture<float>(name, kind, 3e-5, 3e-4);
    }

    private static void CheckFixture<T>(string name, ScoreKind kind, double atol, double rtol) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var f = Fixture.Load(name);
        int ds = f.Meta.GetProperty("state_size").GetInt32(), dh = f.Meta.GetProperty("encoder_size").GetInt32();
        var m = kind == ScoreKind.Additive ? new AdditiveAttention<T>(ds, dh, 7) : Make<T>(kind, ds, dh, new Rng(1));
        foreach (var (pn, p) in m.NamedParameters()) p.Load(Array.ConvertAll(f.Data(pn), T.CreateTruncating));
        var lengths = f.Ints("lengths");
        void Close(string key, ReadOnlySpan<T> actual) =>
            TestData.AssertClose<double>(f.Data(key), Array.ConvertAll(actual.ToArray(), double.CreateTruncating),
                atol * Math.Max(1, f.Data(key).Max(Math.Abs)), rtol, $"{typeof(T).Name} {name} {key}");

        var o = m.Forward(f.Tensor<T>("s"), f.Tensor<T>("h"), lengths: lengths);
        Close("context", o.Context.AsReadOnlySpan());
        Close("weights", o.Weights.AsReadOnlySpan());
        var g = m.Backward(f.Tensor<T>("dcontext"), f.Tensor<T>("dweights"));
        Close("ds", g.DState.AsReadOnlySpan());
        Close("dh", g.DEncoder.AsReadOnlySpan());
        foreach (var (pn, p) in m.NamedParameters()) Close("d" + pn, p.Grad);
        var inferred = m.Infer(f.Tensor<T>("s"), f.Tensor<T>("h"), lengths: lengths);
        Close("context", inferred.Context.AsReadOnlySpan());
        Close("weights", inferred.Weights.AsReadOnlySpan());
    }

    // Dot is general with W = I; low-rank is general with W = UᵀV: same weights, context and input gradients.
    [NpProperty]
    public void BilinearScoresAgreeWithGeneral(SmallDim batch, SmallDim steps, SmallDim ds, SmallDim dh, Seed seed)
    {
        var rng = seed.Rng();
        var lowRank = new LowRankAttention<double>(ds, dh, rank: 2, rng);
        var general = new GeneralAttention<double>(ds, dh, rng);
        for (int i = 0; i < ds; i++)
            for (int j = 0; j < dh; j++)
                general.Weight.Data[i * dh + j] = Enumerable.Range(0, 2).Sum(k => lowRank.U.Data[k * ds + i] * lowRank.V.Data[k * dh + j]);
        AssertSame(lowRank, general, batch, steps, ds, dh, rng);

        var dot = new DotAttention<double>(dh);
        var identity = new GeneralAttention<double>(dh, dh, rng);
        Array.Clear(identity.Weight.Data);
        for (int i = 0; i < dh; i++) identity.Weight.Data[i * dh + i] = 1;
        AssertSame(dot, identity, batch, steps, dh, dh, rng);
    }

    private static void AssertSame(ClassicAttention<double> a, ClassicAttention<double> b, int batch, int steps, int ds, int dh, Rng rng)
    {
        var s = TestData.Tensor<double>(rng, batch, ds);
        var h = TestData.Tensor<double>(rng, batch, steps, dh);
        var lengths = Enumerable.Range(0, batch).Select(_ => rng.NextInt(steps + 1)).ToArray();
        var dc = TestData.Tensor<double>(rng, batch, dh);
        var oa = a.Forward(s, h, lengths: lengths);
        var ob = b.Forward(s, h, lengths: lengths);
        TestData.AssertClose<double>(ob.Context.AsReadOnlySpan(), oa.Context.AsReadOnlySpan(), 1e-10, 1e-10, "context");
        TestData.AssertClose<double>(ob.Weights.AsReadOnlySpan(), oa.Weights.AsReadOnlySpan(), 1e-10, 1e-10, "weights");
        var ga = a.Backward(dc);
        var gb = b.Backward(dc);
        TestData.AssertClose<double>(gb.DState.AsReadOnlySpan(), ga.DState.AsReadOnlySpan(), 1e-10, 1e-10, "dState");
        TestData.AssertClose<double>(gb.DEncoder.AsReadOnlySpan(), ga.DEncoder.AsReadOnlySpan(), 1e-10, 1e-10, "dEncoder");
    }

    // Weights sum to 1 over the valid positions and are 0 at padding; padded encoder states change nothing;
    // lengths and the equivalent keyPaddingMask give the same result.
    [NpProperty]
    public void PaddingIsIgnored(int kindIndex, SmallDim batch, SmallDim steps, Seed seed)
    {
        var kind = (ScoreKind)(Math.Abs(kindIndex) % 4);
        var rng = seed.Rng();
        var m = Make<double>(kind, 4, 4, rng);
        var s = TestData.Tensor<double>(rng, batch, 4);
        var hData = TestData.Normal(rng, batch * steps * 4);
        var lengths = Enumerable.Range(0, batch).Select(_ => rng.NextInt(steps + 1)).ToArray();
        var o = m.Infer(s, Ten(hData, batch, steps, 4), lengths: lengths);
        var w = o.Weights.ToArray();
        for (int b = 0; b < batch; b++)
        {
            double valid = Enumerable.Range(0, lengths[b]).Sum(t => w[b * steps + t]);
            Assert.Equal(lengths[b] > 0 ? 1.0 : 0.0, valid, 12);
            for (int t = lengths[b]; t < steps; t++) Assert.Equal(0.0, w[b * steps + t]);
        }
        var changed = (double[])hData.Clone();
        for (int b = 0; b < batch; b++)
            for (int t = lengths[b]; t < steps; t++)
                for (int i = 0; i < 4; i++) changed[(b * steps + t) * 4 + i] = 1e6 * rng.Normal();
        Assert.Equal(o.Context.ToArray(), m.Infer(s, Ten(changed, batch, steps, 4), lengths: lengths).Context.ToArray());
        var mask = Ten(Enumerable.Range(0, batch * steps).Select(i => i % steps >= lengths[i / steps]).ToArray(), batch, steps);
        var viaMask = m.Infer(s, Ten(hData, batch, steps, 4), keyPaddingMask: mask);
        Assert.Equal(o.Context.ToArray(), viaMask.Context.ToArray());
        Assert.Equal(w, viaMask.Weights.ToArray());
    }

    [Theory]
    [InlineData(ScoreKind.General)]
    [InlineData(ScoreKind.LowRank)]
    [InlineData(ScoreKind.Additive)]
    public void BackwardAccumulatesParameterGradients(ScoreKind kind)
    {
        var rng = new Rng(6);
        var m = Make<double>(kind, 3, 4, rng);
        var s = TestData.Tensor<double>(rng, 2, 3);
        var h = TestData.Tensor<double>(rng, 2, 5, 4);
        var dc = TestData.Tensor<double>(rng, 2, 4);
        m.Forward(s, h, lengths: [5, 3]); m.Backward(dc);
        var once = m.Parameters().Select(p => p.Grad.ToArray()).ToList();
        m.Forward(s, h, lengths: [5, 3]); m.Backward(dc);
        foreach (var (p, g) in m.Parameters().Zip(once)) TestData.AssertClose<double>(g.Select(v => 2 * v).ToArray(), p.Grad, 1e-12, 1e-12, p.Name);
        Assert.Contains(once, g => g.Any(v => v != 0));
    }

    [Fact]
    public void ParameterNames()
    {
        Assert.Empty(new DotAttention<float>(4).StateDict());
        Assert.Equal(["weight"], new GeneralAttention<float>(3, 4).StateDict().Keys);
        Assert.Equal([3, 4], new GeneralAttention<float>(3, 4).Weight.Shape.ToArray());
        var lr = new LowRankAttention<float>(3, 4, 2);
        Assert.Equal(["u", "v"], lr.StateDict().Keys);
        Assert.Equal([2, 3], lr.U.Shape.ToArray());
        Assert.Equal([2, 4], lr.V.Shape.ToArray());
        Assert.Equal(["Wa.weight", "Wa.bias", "Ua.weight", "Ua.bias", "Va.weight", "Va.bias"], new AdditiveAttention<float>(3, 4, 5).StateDict().Keys);
        Assert.Equal(["Wa.weight", "Ua.weight", "Va.weight"], new AdditiveAttention<float>(3, 4, 5, bias: false).StateDict().Keys);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void BadInputIsRejected(ScoreKind kind)
    {
        var m = Make<float>(kind, 4, 4, new Rng(1));
        var s = Tensor.Create(new float[8], [2, 4]);
        var h = Tensor.Create(new float[24], [2, 3, 4]);
        void Throws<TException>(string param, Action call, params string[] mentions) where TException : ArgumentException
        {
            var e = Assert.Throws<TException>(call);
            Assert.Equal(param, e.ParamName);
            foreach (var text in mentions) Assert.Contains(text, e.Message);
        }
        Throws<ArgumentException>("state", () => m.Forward(Tensor.Create(new float[10], [2, 5]), h), "[2, 5]", "4");
        Throws<ArgumentException>("state", () => m.Infer(Tensor.Create(new float[4], [4]), h), "[4]");
        Throws<ArgumentException>("encoder", () => m.Forward(s, Tensor.Create(new float[30], [2, 3, 5])), "[2, 3, 5]", "[2, T, 4]");
        Throws<ArgumentException>("encoder", () => m.Forward(s, Tensor.Create(new float[36], [3, 3, 4])), "[3, 3, 4]");
        Throws<ArgumentException>("encoder", () => m.Forward(s, Tensor.Create(new float[8], [2, 4])), "[2, 4]");
        Throws<ArgumentException>("keyPaddingMask", () => m.Forward(s, h, Tensor.Create(new bool[8], [2, 4])), "[2, 3]", "[2, 4]");
        Throws<ArgumentException>("lengths", () => m.Forward(s, h, lengths: [1, 2, 3]), "2", "3");
        Throws<ArgumentOutOfRangeException>("lengths", () => m.Forward(s, h, lengths: [1, 4]), "lengths[1]", "[0, 3]", "4");
        Throws<ArgumentOutOfRangeException>("lengths", () => m.Infer(s, h, lengths: [-1, 2]), "lengths[0]", "-1");
        Throws<ArgumentException>("lengths", () => m.Forward(s, h, Tensor.Create(new bool[6], [2, 3]), [1, 2]), "not both");
        Assert.Throws<InvalidOperationException>(() => Make<float>(kind, 4, 4, new Rng(1)).Backward(Tensor.Create(new float[8], [2, 4])));
        m.Forward(s, h);
        Throws<ArgumentException>("dContext", () => m.Backward(Tensor.Create(new float[12], [3, 4])), "[2, 4]", "[3, 4]");
        Throws<ArgumentException>("dWeights", () => m.Backward(Tensor.Create(new float[8], [2, 4]), Tensor.Create(new float[8], [2, 4])), "[2, 3]");
        m.Backward(Tensor.Create(new float[8], [2, 4])); // the failed Backward calls left the forward usable
        Assert.Throws<ArgumentOutOfRangeException>(() => new DotAttention<float>(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LowRankAttention<float>(3, 4, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdditiveAttention<float>(3, 4, 0));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void TrainingStepAllocatesNothing(ScoreKind kind)
    {
        var rng = new Rng(2);
        var m = Make<float>(kind, 8, 8, rng);
        var s = TestData.Tensor<float>(rng, 4, 8);
        var h = TestData.Tensor<float>(rng, 4, 9, 8);
        var mask = Tensor.Create(Enumerable.Range(0, 36).Select(i => i % 5 == 0).ToArray(), [4, 9]);
        int[] lengths = [9, 3, 0, 5];
        var dc = TestData.Tensor<float>(rng, 4, 8);
        var dw = TestData.Tensor<float>(rng, 4, 9);
        Assert.Equal(0, Allocations.SteadyStateBytes(() =>
        {
            m.Forward(s, h, lengths: lengths);
            m.Backward(dc, dw);
            m.Forward(s, h, keyPaddingMask: mask);
            m.Backward(dc);
            m.ZeroGrad();
        }));
    }
}
