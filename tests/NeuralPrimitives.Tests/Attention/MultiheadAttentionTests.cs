using FsCheck;
using FsCheck.Fluent;
using TestData = NeuralPrimitives.Tests.Support.TestData;

namespace NeuralPrimitives.Tests.Attention;

/// <summary>A random nn.MultiheadAttention configuration and call.</summary>
public sealed record MhaCase(int EmbedDim, int Heads, int Batch, int TargetLength, int SourceLength, bool Self, bool BatchFirst, int? KDim, int? VDim,
    bool Bias, bool AddBiasKV, bool AddZeroAttn, bool KeyPadding, MaskKind Mask, bool ThreeDMask, bool Causal, bool NeedWeights, bool Average, bool Unbatched, double Dropout)
{
    public int N => Unbatched ? 1 : Batch;
    public int S => Self ? TargetLength : SourceLength;

    public MultiheadAttention<double> Create(Rng rng) =>
        new(EmbedDim, Heads, Dropout, Bias, AddBiasKV, AddZeroAttn, Self ? null : KDim, Self ? null : VDim, BatchFirst, rng);

    public nint[] SequenceShape(int length, int features) =>
        Unbatched ? [length, features] : BatchFirst ? [Batch, length, features] : [length, Batch, features];

    public (Tensor<bool>? KeyPadding, AttentionMask<double>? Mask) Masks(Rng rng)
    {
        Tensor<bool>? kpm = null;
        if (KeyPadding)
        {
            var pad = new bool[N * S];
            for (int i = 0; i < pad.Length; i++) pad[i] = rng.NextDouble() < 0.3;
            kpm = Tensor.Create(pad, Unbatched ? [S] : [N, S]);
        }
        AttentionMask<double>? mask = null;
        if (Mask != MaskKind.None)
        {
            nint[] shape = ThreeDMask ? [N * Heads, TargetLength, S] : [TargetLength, S];
            int n = Shapes.Product(shape);
            var blocked = new bool[n];
            for (int i = 0; i < n; i++) blocked[i] = rng.NextDouble() < 0.3;
            mask = Mask switch
            {
                MaskKind.Ignore => AttentionMask<double>.Ignore(Tensor.Create(blocked, shape)),
                MaskKind.Keep => AttentionMask<double>.Keep(Tensor.Create(Array.ConvertAll(blocked, b => !b), shape)),
                _ => AttentionMask<double>.Additive(Tensor.Create(blocked.Select(b => b ? double.NegativeInfinity : rng.Normal()).ToArray(), shape)),
            };
        }
        return (kpm, mask);
    }

    public static Arbitrary<MhaCase> Arbitrary() =>
        (from heads in Gen.Elements(1, 2, 3)
         from headDim in Gen.Elements(1, 2)
         from batch in Gen.Choose(1, 2)
         from l in Gen.Choose(1, 4)
         from s in Gen.Choose(1, 4)
         from self in Gen.Elements(true, false)
         from batchFirst in Gen.Elements(true, false)
         from kdim in Gen.Elements<int?>(null, 3)
         from vdim in Gen.Elements<int?>(null, 2)
         from bias in Gen.Elements(true, false)
         from biasKV in Gen.Elements(true, false)
         from zeroAttn in Gen.Elements(true, false)
         from kpm in Gen.Elements(true, false)
         from mask in Gen.Elements(Enum.GetValues<MaskKind>())
         from threeD in Gen.Elements(true, false)
         from causal in Gen.Elements(true, false)
         from needWeights in Gen.Elements(true, false)
         from average in Gen.Elements(true, false)
         from unbatched in Gen.Elements(false, false, true)
         from dropout in Gen.Elements(0.0, 0.0, 0.4)
         select new MhaCase(heads * headDim, heads, batch, l, s, self, batchFirst, kdim, vdim, bias, biasKV, zeroAttn, kpm, mask, threeD, causal,
             needWeights, average, unbatched, dropout)).ToArbitrary();
}

public sealed class MhaPropertyAttribute : FsCheck.Xunit.PropertyAttribute
{
    public MhaPropertyAttribute()
    {
        Arbitrary = [typeof(MhaArbitraries), typeof(Arbitraries)];
        MaxTest = 40;
    }
}

public static class MhaArbitraries
{
    public static Arbitrary<MhaCase> Case() => MhaCase.Arbitrary();
}

public class MultiheadAttentionTests
{
    /// <summary>A gradient-check problem over the inputs and every parameter; dropout uses the same seed on every forward.</summary>
    internal static GradientCheckProblem Problem(MhaCase c, Seed seed)
    {
        var rng = seed.Rng();
        var m = c.Create(rng);
        // Non-zero biases, so that their gradients are not checked at a special point.
        foreach (var p in m.Parameters()) rng.FillNormal<double>(p.Data, 0, 0.5);
        var (kpm, mask) = c.Masks(rng);
        var qShape = c.SequenceShape(c.TargetLength, c.EmbedDim);
        var kShape = c.SequenceShape(c.S, c.Self ? c.EmbedDim : m.KDim);
        var vShape = c.SequenceShape(c.S, c.Self ? c.EmbedDim : m.VDim);
        var q = TestData.Normal(rng, Shapes.Product(qShape));
        var k = c.Self ? q : TestData.Normal(rng, Shapes.Product(kShape));
        var v = c.Self ? q : TestData.Normal(rng, Shapes.Product(vShape));
        AttentionOutput<double> last = default;
        return new GradientCheckProblem
        {
            Inputs = c.Self ? [("x", q)] : [("query", q), ("key", k), ("value", v)],
            Parameters = m.NamedParameters().ToList(),
            Forward = () =>
            {
                m.DropoutRng = new Rng(99);
                var qt = Tensor.Create(q, qShape);
                last = c.Self ? m.Forward(qt, qt, qt, kpm, c.NeedWeights, mask, c.Average, c.Causal)
                              : m.Forward(qt, Tensor.Create(k, kShape), Tensor.Create(v, vShape), kpm, c.NeedWeights, mask, c.Average, c.Causal);
                return c.NeedWeights ? [last.Output.ToArray(), last.Weights!.ToArray()] : [last.Output.ToArray()];
            },
            Backward = dOut =>
            {
                var g = m.Backward(Tensor.Create(dOut[0], last.Output.Lengths), c.NeedWeights ? Tensor.Create(dOut[1], last.Weights!.Lengths) : null);
                if (c.Self)
                {
                    Assert.Null(g.DKey);
                    Assert.Null(g.DValue);
                    return [g.DQuery.ToArray()];
                }
                return [g.DQuery.ToArray(), g.DKey!.ToArray(), g.DValue!.ToArray()];
            },
        };
    }

    [MhaProperty]
    public void GradientCheck(MhaCase c, Seed seed)
    {
        var result = NeuralPrimitives.GradientCheck.Run(Problem(c, seed));
        Assert.True(result.Passed, c + "\n" + result);
    }

    [Fact]
    public void ParameterNamesShapesAndOrderArePyTorchs()
    {
        static string Names(MultiheadAttention<float> m) => string.Join(" ", m.NamedParameters().Select(p => $"{p.Name}{Shapes.Format(p.Parameter.Shape)}"));
        Assert.Equal("in_proj_weight[24, 8] in_proj_bias[24] out_proj.weight[8, 8] out_proj.bias[8]", Names(new MultiheadAttention<float>(8, 2)));
        Assert.Equal("q_proj_weight[8, 8] k_proj_weight[8, 5] v_proj_weight[8, 7] in_proj_bias[24] bias_k[1, 1, 8] bias_v[1, 1, 8] out_proj.weight[8, 8] out_proj.bias[8]",
            Names(new MultiheadAttention<float>(8, 2, addBiasKV: true, kdim: 5, vdim: 7)));
        Assert.Equal("in_proj_weight[24, 8] out_proj.weight[8, 8]", Names(new MultiheadAttention<float>(8, 2, bias: false)));
        Assert.Equal(["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"], new MultiheadAttention<float>(8, 2).StateDict().Keys);
    }

    [Fact]
    public void InitialisationFollowsPyTorch()
    {
        const int e = 256;
        var m = new MultiheadAttention<double>(e, 4, addBiasKV: true, rng: new Rng(1));
        double bound = Math.Sqrt(6.0 / (e + 3 * e)); // xavier_uniform_ on [3E, E]
        var w = m.InProjWeight!.Data;
        Assert.All(w, x => Assert.InRange(x, -bound, bound));
        Assert.InRange(w.Max(), 0.98 * bound, bound);
        Assert.InRange(w.Select(x => x * x).Average(), 0.95 * bound * bound / 3, 1.05 * bound * bound / 3); // variance of U(±b) is b²/3
        Assert.All(m.InProjBias!.Data, x => Assert.Equal(0, x));
        Assert.All(m.OutProj.Bias!.Data, x => Assert.Equal(0, x));
        Assert.InRange(m.OutProj.Weight.Data.Max(), 0.9 / Math.Sqrt(e), 1 / Math.Sqrt(e)); // nn.Linear's kaiming_uniform(√5): U(±1/√E)
        // xavier_normal_ on [1, 1, E]: fan_in = fan_out = E, std = √(2/(2E)).
        var bk = m.BiasK!.Data.Concat(m.BiasV!.Data).ToArray();
        double std = Math.Sqrt(bk.Select(x => x * x).Average());
        Assert.InRange(std, 0.85 / Math.Sqrt(e), 1.15 / Math.Sqrt(e));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void WithoutWeightsTheMemoryEfficientPathGivesTheSameResults(bool self)
    {
        var c = new MhaCase(16, 4, 3, 70, 40, self, true, null, null, true, false, false, true, MaskKind.Additive, true, self, false, true, false, 0);
        var rng = new Rng(2);
        var exact = c.Create(rng);
        var flash = c.Create(new Rng(0));
        flash.LoadStateDict(exact.StateDict());
        var (kpm, mask) = c.Masks(rng);
        var q = TestData.Tensor<double>(rng, c.SequenceShape(c.TargetLength, 16).Select(d => (int)d).ToArray());
        var k = self ? q : TestData.Tensor<double>(rng, c.SequenceShape(c.S, 16).Select(d => (int)d).ToArray());
        var dOut = TestData.Tensor<double>(rng, q.Shape());
        var oe = exact.Forward(q, k, k, kpm, needWeights: true, mask, isCausal: c.Causal).Output.ToArray();
        var ge = exact.Backward(dOut);
        var of = flash.Forward(q, k, k, kpm, needWeights: false, mask, isCausal: c.Causal).Output.ToArray();
        var gf = flash.Backward(dOut);
        TestData.AssertClose<double>(oe, of, 1e-12, 1e-10, "output");
        TestData.AssertClose<double>(ge.DQuery.ToArray(), gf.DQuery.ToArray(), 1e-12, 1e-10, "dQuery");
        foreach (var ((name, pe), (_, pf)) in exact.NamedParameters().Zip(flash.NamedParameters()))
            TestData.AssertClose<double>(pe.Grad, pf.Grad, 1e-12, 1e-10, name);
    }

    [NpProperty]
    public void SelfAttentionIsEquivariantToPermutingTheSequence(SmallDim length, bool batchFirst, Seed seed)
    {
        var rng = seed.Rng();
        var m = new MultiheadAttention<double>(6, 2, batchFirst: batchFirst, rng: rng);
        int l = length + 1, n = 2, e = 6;
        var x = TestData.Normal(rng, l * n * e);
        var perm = Enumerable.Range(0, l).OrderBy(_ => rng.NextDouble()).ToArray();
        int Row(int t, int b) => batchFirst ? b * l + t : t * n + b;
        var xp = new double[x.Length];
        for (int t = 0; t < l; t++)
            for (int b = 0; b < n; b++)
                Array.Copy(x, Row(perm[t], b) * e, xp, Row(t, b) * e, e);
        nint[] shape = batchFirst ? [n, l, e] : [l, n, e];
        var tx = Tensor.Create(x, shape);
        var txp = Tensor.Create(xp, shape);
        var y = m.Infer(tx, tx, tx, needWeights: false).Output.ToArray();
        var yp = m.Infer(txp, txp, txp, needWeights: false).Output.ToArray();
        for (int t = 0; t < l; t++)
            for (int b = 0; b < n; b++)
                TestData.AssertClose<double>(y.AsSpan(Row(perm[t], b) * e, e), yp.AsSpan(Row(t, b) * e, e), 1e-12, 1e-10);
    }

    [NpProperty]
    public void CausalOutputsDoNotDependOnLaterPositions(SmallDim length, SmallDim cut, bool needWeights, Seed seed)
    {
        var rng = seed.Rng();
        int l = length + 1, t = cut % l, e = 4;
        var m = new MultiheadAttention<double>(e, 2, batchFirst: true, rng: rng);
        var x = TestData.Normal(rng, l * e);
        var changed = (double[])x.Clone();
        for (int i = (t + 1) * e; i < changed.Length; i++) changed[i] += rng.Normal();
        var a = Tensor.Create(x, [1, l, e]);
        var b = Tensor.Create(changed, [1, l, e]);
        var ya = m.Infer(a, a, a, needWeights: needWeights, isCausal: true).Output.ToArray();
        var yb = m.Infer(b, b, b, needWeights: needWeights, isCausal: true).Output.ToArray();
        TestData.AssertClose<double>(ya.AsSpan(0, (t + 1) * e), yb.AsSpan(0, (t + 1) * e), 1e-12, 1e-10);
    }

    [Fact]
    public void InferFromSeveralThreadsMatchesOneThread()
    {
        var rng = new Rng(5);
        var m = new MultiheadAttention<float>(32, 4, batchFirst: true, rng: rng);
        var inputs = Enumerable.Range(0, 8).Select(_ => TestData.Tensor<float>(rng, 2, 70, 32)).ToArray();
        // Even cases run the exact path (weights requested), odd ones the memory-efficient path.
        float[] Run(int i) => m.Infer(inputs[i / 2], inputs[i / 2], inputs[i / 2], needWeights: i % 2 == 0).Output.ToArray();
        var expected = Enumerable.Range(0, 2 * inputs.Length).Select(Run).ToArray();
        var actual = new float[expected.Length][];
        Parallel.For(0, 4 * expected.Length, i => actual[i % expected.Length] = Run(i % expected.Length));
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    [Fact]
    public void DropoutOnlyInTrainingAndReproducibleFromTheSeed()
    {
        var rng = new Rng(6);
        var m = new MultiheadAttention<double>(8, 2, dropout: 0.5, batchFirst: true, rng: rng);
        var x = TestData.Tensor<double>(rng, 2, 9, 8);
        m.DropoutRng = new Rng(1);
        var a = m.Forward(x, x, x).Weights!.ToArray();
        m.DropoutRng = new Rng(1);
        var b = m.Forward(x, x, x, averageAttnWeights: false).Weights!.ToArray();
        var c = m.Forward(x, x, x, averageAttnWeights: false).Weights!.ToArray();
        Assert.NotEqual(b, c);                              // a new mask per forward
        int zeros = b.Count(w => w == 0);
        Assert.InRange(zeros, b.Length * 0.4, b.Length * 0.6); // about half the weights dropped
        Assert.Contains(b, w => w > 1.0 / 9);                // kept weights scaled by 1/(1 − p)
        Assert.Equal(2 * 9 * 9, a.Length);
        m.Eval();
        var inference = m.Forward(x, x, x).Weights!.ToArray();
        Assert.All(inference.Chunk(9), row => Assert.Equal(1, row.Sum(), 12));
    }

    [Fact]
    public void TrainingStepAllocatesNothingAfterWarmUp()
    {
        var rng = new Rng(7);
        var self = new MultiheadAttention<float>(32, 4, batchFirst: true, rng: rng);
        var x = TestData.Tensor<float>(rng, 2, 70, 32);
        var dOut = TestData.Tensor<float>(rng, 2, 70, 32);
        Assert.Equal(0, Allocations.SteadyStateBytes(() =>
        {
            self.ZeroGrad();
            self.Forward(x, x, x, needWeights: false);
            self.Backward(dOut);
        }, warmup: 10, steps: 5));

        var cross = new MultiheadAttention<float>(32, 4, addBiasKV: true, addZeroAttn: true, kdim: 16, vdim: 8, rng: rng);
        var q = TestData.Tensor<float>(rng, 20, 3, 32);
        var k = TestData.Tensor<float>(rng, 30, 3, 16);
        var v = TestData.Tensor<float>(rng, 30, 3, 8);
        var kpm = Tensor.Create(Enumerable.Range(0, 90).Select(i => i % 7 == 0).ToArray(), [3, 30]);
        AttentionMask<float> mask = TestData.Tensor<float>(rng, 20, 30);
        var dq = TestData.Tensor<float>(rng, 20, 3, 32);
        var dw = TestData.Tensor<float>(rng, 3, 20, 32);
        Assert.Equal(0, Allocations.SteadyStateBytes(() =>
        {
            cross.ZeroGrad();
            cross.Forward(q, k, v, kpm, needWeights: true, mask, isCausal: true);
            cross.Backward(dq, dw);
        }, warmup: 10, steps: 5));
    }
}
