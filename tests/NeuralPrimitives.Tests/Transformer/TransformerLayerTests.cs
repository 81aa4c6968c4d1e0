// The transformer layers and stacks: gradient checks in double (central differences) with masks, post- and
// pre-norm; the layer equals its written-out formula composed by hand from LayerNorm, MultiheadAttention and
// FeedForward; causality; parameter names; train/eval; seeded dropout; thread-safe Infer; bad input; zero allocation.
using static NeuralPrimitives.Tests.Support.BadArgument;

namespace NeuralPrimitives.Tests.Transformer;

public class TransformerLayerTests
{
    private const int E = 4, H = 2, FF = 6, S = 3, T = 3, N = 2;

    private static void Randomise<T>(Module<T> m, Rng rng) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        // Non-zero biases and norm parameters, so that no gradient is checked at a special point.
        foreach (var p in m.Parameters()) rng.FillNormal<T>(p.Data, 0, 0.5);
    }

    private static nint[] SeqShape(int length, bool batchFirst) => batchFirst ? [N, length, E] : [length, N, E];

    private static Tensor<bool> Padding(params bool[] values) => Tensor.Create(values, [N, values.Length / N]);

    private static Tensor<double> FloatMask(Rng rng, int l, int s)
    {
        var m = TestData.Normal(rng, l * s);
        m[1] = double.NegativeInfinity;   // query 0 never sees key 1
        return Tensor.Create(m, [l, s]);
    }

    public static TheoryData<bool, bool, FeedForwardActivation> Variants() => new()
    {
        { false, false, FeedForwardActivation.Gelu },
        { true, true, FeedForwardActivation.Gelu },
        { false, true, FeedForwardActivation.Relu },
        { true, false, FeedForwardActivation.GeluTanh },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void EncoderLayerGradientCheck(bool normFirst, bool batchFirst, FeedForwardActivation activation)
    {
        for (int seed = 0; seed < 2; seed++)
        {
            var rng = new Rng((ulong)(10 + seed));
            var layer = new TransformerEncoderLayer<double>(E, H, FF, 0, activation, batchFirst: batchFirst, normFirst: normFirst, rng: rng);
            Randomise(layer, rng);
            var shape = SeqShape(S, batchFirst);
            var x = TestData.Normal(rng, N * S * E);
            AttentionMask<double> mask = FloatMask(rng, S, S);
            var kpm = Padding(false, true, false, false, false, true);
            bool causal = seed == 1;
            var result = GradientCheck.Run(new GradientCheckProblem
            {
                Inputs = [("src", x)],
                Parameters = layer.NamedParameters().ToList(),
                Forward = () => [layer.Forward(Tensor.Create(x, shape), mask, kpm, causal).ToArray()],
                Backward = d => [layer.Backward(Tensor.Create(d[0], shape)).ToArray()],
            });
            Assert.True(result.Passed, result.ToString());
            Assert.Equal(1 + 12, result.Tensors.Count);
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void DecoderLayerGradientCheck(bool normFirst, bool batchFirst, FeedForwardActivation activation)
    {
        var rng = new Rng(20);
        var layer = new TransformerDecoderLayer<double>(E, H, FF, 0, activation, batchFirst: batchFirst, normFirst: normFirst, rng: rng);
        Randomise(layer, rng);
        var (tShape, sShape) = (SeqShape(T, batchFirst), SeqShape(S + 1, batchFirst));
        var tgt = TestData.Normal(rng, N * T * E);
        var memory = TestData.Normal(rng, N * (S + 1) * E);
        var memoryMask = AttentionMask<double>.Ignore(Tensor.Create(new[] { false, true, false, false, false, false, true, false, false, false, false, true }, [T, S + 1]));
        var tgtKpm = Padding(false, false, true, false, true, false);
        var memoryKpm = Padding(false, false, false, true, false, false, true, false);
        var result = GradientCheck.Run(new GradientCheckProblem
        {
            Inputs = [("tgt", tgt), ("memory", memory)],
            Parameters = layer.NamedParameters().ToList(),
            Forward = () => [layer.Forward(Tensor.Create(tgt, tShape), Tensor.Create(memory, sShape), null, memoryMask, tgtKpm, memoryKpm, tgtIsCausal: true).ToArray()],
            Backward = d =>
            {
                var g = layer.Backward(Tensor.Create(d[0], tShape));
                return [g.DTgt.ToArray(), g.DMemory.ToArray()];
            },
        });
        Assert.True(result.Passed, result.ToString());
        Assert.Equal(2 + 18, result.Tensors.Count);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TransformerGradientCheck(bool normFirst)
    {
        var rng = new Rng(30);
        var model = new Transformer<double>(E, H, 2, 1, FF, 0, FeedForwardActivation.Gelu, normFirst: normFirst, rng: rng);
        Randomise(model, rng);
        var src = TestData.Normal(rng, S * N * E);
        var tgt = TestData.Normal(rng, T * N * E);
        var kpm = Padding(false, false, true, false, false, false);
        var result = GradientCheck.Run(new GradientCheckProblem
        {
            Inputs = [("src", src), ("tgt", tgt)],
            Parameters = model.NamedParameters().ToList(),
            Forward = () => [model.Forward(Tensor.Create(src, [S, N, E]), Tensor.Create(tgt, [T, N, E]), srcKeyPaddingMask: kpm, memoryKeyPaddingMask: kpm, tgtIsCausal: true).ToArray()],
            Backward = d =>
            {
                var g = model.Backward(Tensor.Create(d[0], [T, N, E]));
                return [g.DSrc.ToArray(), g.DTgt.ToArray()];
            },
        });
        Assert.True(result.Passed, result.ToString());
    }

    // ---- the written-out formulas ---------------------------------------------------------------

    /// <summary>A copy of the layer's child <paramref name="prefix"/>, as a separate module loaded from the layer's state_dict.</summary>
    private static TModule Part<TModule>(Module<double> layer, string prefix, TModule part) where TModule : Module<double>
    {
        var state = layer.StateDict().Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        // The feed-forward network's keys are the layer's own (linear1.*, linear2.*): load those, ignore the rest.
        var result = part.LoadStateDict(state, strict: prefix.Length > 0);
        Assert.Empty(result.MissingKeys);
        return part;
    }

    private static Tensor<double> Add(Tensor<double> a, Tensor<double> b)
    {
        var y = new double[a.FlattenedLength];
        TensorPrimitives.Add(a.AsReadOnlySpan(), b.AsReadOnlySpan(), y);
        return Tensor.Create(y, a.Lengths);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EncoderLayerEqualsItsFormula(bool normFirst)
    {
        var rng = new Rng(40);
        var layer = new TransformerEncoderLayer<double>(E, H, FF, 0.1, FeedForwardActivation.Gelu, normFirst: normFirst, rng: rng);
        Randomise(layer, rng);
        var sa = Part(layer, "self_attn.", new MultiheadAttention<double>(E, H));
        var ln1 = Part(layer, "norm1.", new LayerNorm<double>(E));
        var ln2 = Part(layer, "norm2.", new LayerNorm<double>(E));
        var ff = Part(layer, "", new FeedForward<double>(E, FF, FeedForwardActivation.Gelu));
        var x = TestData.Tensor<double>(rng, S, N, E);
        var kpm = Padding(false, true, false, false, false, false);
        Tensor<double> SA(Tensor<double> v) => sa.Infer(v, v, v, kpm, needWeights: false).Output;
        Tensor<double> expected;
        if (normFirst)
        {
            var x1 = Add(x, SA(ln1.Infer(x)));                 // x₁ = x + SA(LN₁(x))
            expected = Add(x1, ff.Infer(ln2.Infer(x1)));       // y = x₁ + FF(LN₂(x₁))
        }
        else
        {
            var x1 = ln1.Infer(Add(x, SA(x)));                 // x₁ = LN₁(x + SA(x))
            expected = ln2.Infer(Add(x1, ff.Infer(x1)));       // y = LN₂(x₁ + FF(x₁))
        }
        layer.Eval();   // dropout off: the formula has none
        TestData.AssertClose<double>(expected.AsReadOnlySpan(), layer.Forward(x, srcKeyPaddingMask: kpm).AsReadOnlySpan(), 1e-12, 1e-12, "Forward");
        TestData.AssertClose<double>(expected.AsReadOnlySpan(), layer.Infer(x, srcKeyPaddingMask: kpm).AsReadOnlySpan(), 1e-12, 1e-12, "Infer");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DecoderLayerEqualsItsFormula(bool normFirst)
    {
        var rng = new Rng(41);
        var layer = new TransformerDecoderLayer<double>(E, H, FF, 0, normFirst: normFirst, rng: rng);
        Randomise(layer, rng);
        var sa = Part(layer, "self_attn.", new MultiheadAttention<double>(E, H));
        var ca = Part(layer, "multihead_attn.", new MultiheadAttention<double>(E, H));
        var (ln1, ln2, ln3) = (Part(layer, "norm1.", new LayerNorm<double>(E)), Part(layer, "norm2.", new LayerNorm<double>(E)), Part(layer, "norm3.", new LayerNorm<double>(E)));
        var ff = Part(layer, "", new FeedForward<double>(E, FF));
        var x = TestData.Tensor<double>(rng, T, N, E);
        var m = TestData.Tensor<double>(rng, S, N, E);
        Tensor<double> SA(Tensor<double> v) => sa.Infer(v, v, v, needWeights: false, isCausal: true).Output;
        Tensor<double> CA(Tensor<double> v) => ca.Infer(v, m, m, needWeights: false).Output;
        Tensor<double> expected;
        if (normFirst)
        {
            var x1 = Add(x, SA(ln1.Infer(x)));                 // x₁ = x + SA(LN₁(x))
            var x2 = Add(x1, CA(ln2.Infer(x1)));               // x₂ = x₁ + CA(LN₂(x₁), m)
            expected = Add(x2, ff.Infer(ln3.Infer(x2)));       // y = x₂ + FF(LN₃(x₂))
        }
        else
        {
            var x1 = ln1.Infer(Add(x, SA(x)));                 // x₁ = LN₁(x + SA(x))
            var x2 = ln2.Infer(Add(x1, CA(x1)));               // x₂ = LN₂(x₁ + CA(x₁, m))
            expected = ln3.Infer(Add(x2, ff.Infer(x2)));       // y = LN₃(x₂ + FF(x₂))
        }
        TestData.AssertClose<double>(expected.AsReadOnlySpan(), layer.Forward(x, m, tgtIsCausal: true).AsReadOnlySpan(), 1e-12, 1e-12, "Forward");
        TestData.AssertClose<double>(expected.AsReadOnlySpan(), layer.Infer(x, m, tgtIsCausal: true).AsReadOnlySpan(), 1e-12, 1e-12, "Infer");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CausalDecoderOutputAtTDoesNotDependOnLaterTargets(bool normFirst)
    {
        var rng = new Rng(50);
        const int len = 6;
        var model = new Transformer<double>(E, H, 1, 2, FF, 0, normFirst: normFirst, batchFirst: true, rng: rng);
        var src = TestData.Tensor<double>(rng, N, S, E);
        var tgt = TestData.Normal(rng, N * len * E);
        var y = model.Infer(src, Tensor.Create(tgt, [N, len, E]), tgtIsCausal: true).ToArray();
        for (int t = 0; t < len - 1; t++)
        {
            var changed = (double[])tgt.Clone();
            for (int b = 0; b < N; b++)
                for (int u = t + 1; u < len; u++)
                    for (int e = 0; e < E; e++) changed[(b * len + u) * E + e] += 3 * rng.Normal();
            var y2 = model.Infer(src, Tensor.Create(changed, [N, len, E]), tgtIsCausal: true).ToArray();
            for (int b = 0; b < N; b++)
                for (int u = 0; u < len; u++)
                    for (int e = 0; e < E; e++)
                    {
                        int i = (b * len + u) * E + e;
                        if (u <= t) Assert.Equal(y[i], y2[i], 12);
                        else Assert.NotEqual(y[i], y2[i]);
                    }
        }
    }

    // ---- names, modes, dropout, threads ---------------------------------------------------------

    [Fact]
    public void ParameterNamesArePyTorchs()
    {
        string[] mha = ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"];
        string[] ff = ["linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"];
        string[] Norms(int n) => Enumerable.Range(1, n).SelectMany(i => new[] { $"norm{i}.weight", $"norm{i}.bias" }).ToArray();
        string[] encoder = [.. mha.Select(k => "self_attn." + k), .. ff, .. Norms(2)];
        string[] decoder = [.. mha.Select(k => "self_attn." + k), .. mha.Select(k => "multihead_attn." + k), .. ff, .. Norms(3)];
        Assert.Equal(encoder, new TransformerEncoderLayer<float>(8, 2, 16).StateDict().Keys);
        Assert.Equal(decoder, new TransformerDecoderLayer<float>(8, 2, 16).StateDict().Keys);
        Assert.Equal(["self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight", "linear2.weight", "norm1.weight", "norm2.weight"],
            new TransformerEncoderLayer<float>(8, 2, 16, bias: false).StateDict().Keys);
        var model = new Transformer<float>(8, 2, 2, 1, 16);
        string[] full = [.. Enumerable.Range(0, 2).SelectMany(i => encoder.Select(k => $"encoder.layers.{i}.{k}")), "encoder.norm.weight", "encoder.norm.bias",
                         .. decoder.Select(k => "decoder.layers.0." + k), "decoder.norm.weight", "decoder.norm.bias"];
        Assert.Equal(full, model.StateDict().Keys);
        Assert.Equal(["layers.0.self_attn.in_proj_weight", "norm.weight"],
            new TransformerEncoder<float>(_ => new TransformerEncoderLayer<float>(8, 2, 16, bias: false), 1, new RmsNorm<float>(8)).StateDict().Keys.Where(k => k.EndsWith("in_proj_weight") || k.StartsWith("norm")));
        Assert.Equal(2048, new TransformerEncoderLayer<float>(8, 2).FeedForward.DimFeedforward);
        Assert.Equal(0.1, new TransformerEncoderLayer<float>(8, 2).Dropout1.P);
    }

    [Fact]
    public void TrainAndEvalReachEverySubmoduleAndDropoutIsSeeded()
    {
        var model = new Transformer<double>(E, H, 2, 2, FF, dropout: 0.3, rng: new Rng(60));
        model.Eval();
        Assert.All(model.NamedModules(), m => Assert.False(m.Module.Training, m.Name));
        model.Train();
        Assert.All(model.NamedModules(), m => Assert.True(m.Module.Training, m.Name));
        Assert.Contains(model.NamedModules(), m => m.Name == "decoder.layers.1.dropout3");

        var rng = new Rng(61);
        var src = TestData.Tensor<double>(rng, S, N, E);
        var tgt = TestData.Tensor<double>(rng, T, N, E);
        var infer = model.Infer(src, tgt).ToArray();
        var train = model.Forward(src, tgt).ToArray();
        Assert.NotEqual(infer, train);                                          // training mode drops
        var again = new Transformer<double>(E, H, 2, 2, FF, dropout: 0.3, rng: new Rng(60)).Forward(src, tgt).ToArray();
        Assert.Equal(train, again);                                             // the same seed, the same masks
        model.Eval();
        Assert.Equal(infer, model.Forward(src, tgt).ToArray());                 // evaluation: Forward = Infer
    }

    [Fact]
    public void InferIsThreadSafe()
    {
        var rng = new Rng(70);
        var model = new Transformer<float>(16, 4, 2, 2, 32, 0.1, batchFirst: true, rng: rng);
        var src = TestData.Tensor<float>(rng, 2, 7, 16);
        var tgt = TestData.Tensor<float>(rng, 2, 5, 16);
        var expected = model.Infer(src, tgt, tgtIsCausal: true).ToArray();
        Parallel.For(0, 16, _ => Assert.Equal(expected, model.Infer(src, tgt, tgtIsCausal: true).ToArray()));
    }

    [Fact]
    public void UnbatchedInputEqualsABatchOfOne()
    {
        var rng = new Rng(75);
        var enc = new TransformerEncoderLayer<double>(E, H, FF, 0, rng: rng);
        var dec = new TransformerDecoderLayer<double>(E, H, FF, 0, normFirst: true, rng: rng);
        var x = TestData.Normal(rng, S * E);
        var m = TestData.Normal(rng, (S + 1) * E);
        var kpm = new[] { false, true, false };
        var batched = enc.Infer(Tensor.Create(x, [S, 1, E]), srcKeyPaddingMask: Tensor.Create(kpm, [1, S])).ToArray();
        Assert.Equal(batched, enc.Infer(Tensor.Create(x, [S, E]), srcKeyPaddingMask: Tensor.Create(kpm, [S])).ToArray());
        Assert.Equal(batched, enc.Forward(Tensor.Create(x, [S, E]), srcKeyPaddingMask: Tensor.Create(kpm, [S])).ToArray());
        var y = dec.Infer(Tensor.Create(x, [S, 1, E]), Tensor.Create(m, [S + 1, 1, E]), tgtIsCausal: true).ToArray();
        Assert.Equal(y, dec.Infer(Tensor.Create(x, [S, E]), Tensor.Create(m, [S + 1, E]), tgtIsCausal: true).ToArray());
        Throws(() => dec.Infer(Tensor.Create(x, [S, E]), Tensor.Create(m, [S + 1, 1, E])), "memory", "unbatched");
    }

    // ---- bad input ------------------------------------------------------------------------------

    [Fact]
    public void BadInputIsRejected()
    {
        Throws(() => new TransformerEncoderLayer<float>(10, 3), "dModel", "3", "10");
        Throws(() => new TransformerDecoderLayer<float>(10, 4), "dModel", "4", "10");
        Throws(() => new Transformer<float>(10, 4), "dModel", "4", "10");
        Throws(() => new TransformerEncoderLayer<float>(8, 0), "nhead");
        Throws(() => new TransformerEncoderLayer<float>(8, 2, dropout: 1.5), "dropout");

        var enc = new TransformerEncoderLayer<float>(8, 2, 16);
        var x = Tensor.Create(new float[5 * 3 * 8], [5, 3, 8]);
        Throws(() => enc.Forward(Tensor.Create(new float[30], [5, 6])), "src", "[5, 6]", "8");
        Throws(() => enc.Infer(Tensor.Create(new float[8], [8])), "src", "[8]");
        Throws(() => enc.Forward(x, Tensor.Create(new float[20], [5, 4])), "srcMask", "[5, 5]", "[6, 5, 5]", "[5, 4]");
        Throws(() => enc.Forward(x, AttentionMask<float>.Ignore(Tensor.Create(new bool[75], [3, 5, 5]))), "srcMask", "[6, 5, 5]", "[3, 5, 5]");
        Throws(() => enc.Forward(x, srcKeyPaddingMask: Tensor.Create(new bool[15], [5, 3])), "srcKeyPaddingMask", "[3, 5]", "[5, 3]");
        enc.Forward(x);
        Throws(() => enc.Backward(Tensor.Create(new float[8], [1, 1, 8])), "dOutput", "[5, 3, 8]", "[1, 1, 8]");
        enc.Backward(x);
        Assert.Throws<InvalidOperationException>(() => enc.Backward(x));

        var dec = new TransformerDecoderLayer<float>(8, 2, 16);
        var tgt = Tensor.Create(new float[4 * 3 * 8], [4, 3, 8]);
        Throws(() => dec.Forward(tgt, Tensor.Create(new float[5 * 2 * 8], [5, 2, 8])), "memory", "N = 3", "[5, 2, 8]");
        Throws(() => dec.Forward(tgt, Tensor.Create(new float[5 * 3 * 7], [5, 3, 7])), "memory", "8", "[5, 3, 7]");
        Throws(() => dec.Forward(tgt, x, tgtMask: Tensor.Create(new float[20], [4, 5])), "tgtMask", "[4, 4]", "[4, 5]");
        Throws(() => dec.Forward(tgt, x, memoryMask: Tensor.Create(new float[16], [4, 4])), "memoryMask", "[4, 5]", "[4, 4]");
        Throws(() => dec.Forward(tgt, x, tgtKeyPaddingMask: Tensor.Create(new bool[15], [3, 5])), "tgtKeyPaddingMask", "[3, 4]", "[3, 5]");
        Throws(() => dec.Infer(tgt, x, memoryKeyPaddingMask: Tensor.Create(new bool[12], [3, 4])), "memoryKeyPaddingMask", "[3, 5]", "[3, 4]");

        var model = new Transformer<float>(8, 2, 1, 1, 16, batchFirst: true);
        Throws(() => model.Forward(Tensor.Create(new float[3 * 5 * 8], [3, 5, 8]), Tensor.Create(new float[2 * 4 * 8], [2, 4, 8])), "tgt", "N = 3", "[2, 4, 8]");
        Throws(() => model.Forward(Tensor.Create(new float[3 * 5 * 4], [3, 5, 4]), tgt), "src", "8", "[3, 5, 4]");
        Throws(() => new TransformerEncoder<float>([new TransformerEncoderLayer<float>(8, 2, 16), new TransformerEncoderLayer<float>(4, 2, 16)]), "layers", "dModel 8", "dModel 4");
        var stack = new TransformerEncoder<float>(_ => new TransformerEncoderLayer<float>(8, 2, 16), 2);
        Throws(() => stack.Forward(x, Tensor.Create(new float[20], [5, 4])), "mask", "[5, 5]", "[5, 4]");
        Throws(() => stack.Infer(Tensor.Create(new float[30], [5, 6])), "src", "[5, 6]");
        Throws(() => new TransformerDecoder<float>(_ => new TransformerDecoderLayer<float>(8, 2, 16), 0), "numLayers");
    }

    // ---- allocation ------------------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrainingStepAllocatesNothing(bool normFirst)
    {
        var rng = new Rng(80);
        var model = new Transformer<float>(16, 4, 2, 2, 32, dropout: 0.1, normFirst: normFirst, batchFirst: true, rng: rng);
        var src = TestData.Tensor<float>(rng, 2, 7, 16);
        var tgt = TestData.Tensor<float>(rng, 2, 5, 16);
        var dy = TestData.Tensor<float>(rng, 2, 5, 16);
        var kpm = Tensor.Create(new[] { false, false, false, false, false, true, true, false, false, false, false, false, false, false }, [2, 7]);
        AttentionMask<float> srcMask = TestData.Tensor<float>(rng, 7, 7);
        Assert.Equal(0, Allocations.SteadyStateBytes(() =>
        {
            model.Forward(src, tgt, srcMask, srcKeyPaddingMask: kpm, memoryKeyPaddingMask: kpm, tgtIsCausal: true);
            model.Backward(dy);
            model.ZeroGrad();
        }));
    }
}
