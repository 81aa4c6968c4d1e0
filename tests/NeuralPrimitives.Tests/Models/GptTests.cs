namespace NeuralPrimitives.Tests.Models;

// Gpt<T>: double gradient checks (central differences) of the whole model and of one block, the causal property,
// KV-cache decoding against the full pass (learned and rotary positions, grouped-query heads), the attention weights,
// state-dict names, and bad input.
public class GptTests
{
    private static GptConfig Small(GptPositions positions = GptPositions.Learned, int kvHeads = 0, double dropout = 0, bool bias = true) =>
        new(VocabSize: 11, BlockSize: 8, NLayer: 2, NHead: 4, NEmbd: 8)
        { Positions = positions, NKVHead = kvHeads, Dropout = dropout, Bias = bias };

    private static Tensor<int> RandomTokens(Rng rng, int b, int l, int v) =>
        Tensor.Create(Enumerable.Range(0, b * l).Select(_ => rng.NextInt(v)).ToArray(), [b, l]);

    /// <summary>Larger random weights than nanoGPT's 0.02 so that every path (attention, GELU curvature, LayerNorm) carries gradient.</summary>
    private static void Randomise<T>(Gpt<T> model, ulong seed) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var rng = new Rng(seed);
        foreach (var p in model.Parameters()) rng.FillNormal<T>(p.Data, 0, 0.5);
    }

    public static TheoryData<GptPositions, int, bool> ModelCases => new()
    {
        { GptPositions.Learned, 0, true }, { GptPositions.Rotary, 2, true }, { GptPositions.Learned, 1, false },
    };

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void GradientCheckOfTwoBlockModelPasses(GptPositions positions, int kvHeads, bool bias)
    {
        var model = new Gpt<double>(Small(positions, kvHeads, bias: bias), seed: 3);
        Randomise(model, 4);
        var tokens = RandomTokens(new Rng(5), 2, 5, 11);
        var problem = new GradientCheckProblem
        {
            Inputs = [],
            Parameters = [.. model.NamedParameters()],
            Forward = () => [model.Forward(tokens).ToArray()],
            Backward = dy =>
            {
                model.Backward(Tensor.Create(dy[0], [2, 5, 11]));
                return [];
            },
        };
        GradientCheck.Run(problem, new GradientCheckOptions { MaxElementsPerTensor = 40 }).EnsurePassed();
    }

    [Theory]
    [InlineData(GptPositions.Learned, 0)]
    [InlineData(GptPositions.Rotary, 1)]
    public void GradientCheckOfBlockPasses(GptPositions positions, int kvHeads)
    {
        var config = Small(positions, kvHeads);
        var rotary = positions == GptPositions.Rotary ? new RotaryEmbedding<double>(config.HeadDim) : null;
        var block = new GptBlock<double>(config, rotary, new Rng(8));
        var rng = new Rng(9);
        foreach (var p in block.Parameters()) rng.FillNormal<double>(p.Data, 0, 0.5);
        var x = Tensor.Create(new double[2 * 6 * 8], [2, 6, 8]);
        rng.FillNormal<double>(x.AsSpan());
        GradientCheck.Run(block, x).EnsurePassed();
    }

    [Theory]
    [InlineData(GptPositions.Learned, 0)]
    [InlineData(GptPositions.Rotary, 2)]
    public void OutputAtTDoesNotDependOnLaterTokens(GptPositions positions, int kvHeads)
    {
        var model = new Gpt<double>(Small(positions, kvHeads), seed: 1);
        Randomise(model, 2);
        var rng = new Rng(3);
        var a = RandomTokens(rng, 1, 8, 11);
        for (int t = 0; t < 7; t++)
        {
            var b = Tensor.Create(a.ToArray(), [1, 8]);
            for (int s = t + 1; s < 8; s++) b[0, s] = (b[0, s] + 1 + rng.NextInt(10)) % 11;   // change every token after t
            var za = model.Infer(a).ToArray();
            var zb = model.Infer(b).ToArray();
            TestData.AssertClose<double>(za.AsSpan(0, (t + 1) * 11), zb.AsSpan(0, (t + 1) * 11), 1e-13, 1e-12, $"logits up to {t}");
            Assert.NotEqual(za[(t + 1) * 11], zb[(t + 1) * 11]);   // and the change is visible right after t
        }
    }

    public static TheoryData<GptPositions, int> DecodingCases => new()
    {
        { GptPositions.Learned, 0 }, { GptPositions.Learned, 2 }, { GptPositions.Rotary, 0 }, { GptPositions.Rotary, 1 },
    };

    [Theory]
    [MemberData(nameof(DecodingCases))]
    public void KvCacheDecodingEqualsFullPass(GptPositions positions, int kvHeads)
    {
        var model = new Gpt<double>(Small(positions, kvHeads), seed: 6);
        Randomise(model, 7);
        const int b = 3, l = 8, v = 11;
        var tokens = RandomTokens(new Rng(8), b, l, v);
        var full = model.Infer(tokens).ToArray();           // [B, L, V]
        // token by token through NextLogits
        var state = model.InitialState(b);
        var logits = new double[b * v];
        for (int t = 0; t < l; t++)
        {
            int[] step = [.. Enumerable.Range(0, b).Select(i => tokens[i, t])];
            model.NextLogits(step, ref state, logits);
            for (int i = 0; i < b; i++)
                TestData.AssertClose<double>(full.AsSpan((i * l + t) * v, v), logits.AsSpan(i * v, v), 1e-12, 1e-10, $"sequence {i}, step {t}");
        }
        Assert.Equal(l, state.Length);
        // a prompt of 3 through Prefill (all positions), then 5 single steps after a SelectStates reordering
        var prefilled = model.InitialState(b);
        var timeMajor = new int[3 * b];
        for (int s = 0; s < 3; s++) for (int i = 0; i < b; i++) timeMajor[s * b + i] = tokens[i, s];
        var all = new double[3 * b * v];
        model.Prefill(timeMajor, ref prefilled, all);
        for (int s = 0; s < 3; s++)
            for (int i = 0; i < b; i++)
                TestData.AssertClose<double>(full.AsSpan((i * l + s) * v, v), all.AsSpan((s * b + i) * v, v), 1e-12, 1e-10, $"prefill {i}, {s}");
        int[] rows = [2, 0];
        var selected = model.SelectStates(prefilled, rows);
        Assert.Equal(3, selected.Length);
        var two = new double[2 * v];
        for (int t = 3; t < l; t++)
        {
            model.NextLogits([tokens[2, t], tokens[0, t]], ref selected, two);
            for (int i = 0; i < 2; i++)
                TestData.AssertClose<double>(full.AsSpan((rows[i] * l + t) * v, v), two.AsSpan(i * v, v), 1e-12, 1e-10, $"selected {i}, step {t}");
        }
        // the last-position-only form of Prefill
        var last = model.InitialState(b);
        var lastLogits = new double[b * v];
        model.Prefill(timeMajor, ref last, lastLogits);
        for (int i = 0; i < b; i++)
            TestData.AssertClose<double>(full.AsSpan((i * l + 2) * v, v), lastLogits.AsSpan(i * v, v), 1e-12, 1e-10, $"last {i}");
    }

    [Fact]
    public void TrainingForwardEqualsInferAndGreedyRunsThroughTheInterface()
    {
        var model = new Gpt<double>(Small(GptPositions.Rotary, 2), seed: 2);
        Randomise(model, 3);
        var tokens = RandomTokens(new Rng(4), 2, 7, 11);
        TestData.AssertClose<double>(model.Infer(tokens).ToArray(), model.Forward(tokens).AsReadOnlySpan(), 1e-12, 1e-10, "Forward vs Infer");
        var generated = Generation.Greedy(model, [1, 2, 3], 5);
        Assert.Equal(5, generated.Length);
        // greedy by the full pass, one token at a time
        var seq = new List<int> { 1, 2, 3 };
        for (int k = 0; k < 5; k++)
        {
            var z = model.Infer(Tensor.Create(seq.ToArray(), [1, seq.Count])).ToArray();
            var lastRow = z.AsSpan((seq.Count - 1) * 11, 11).ToArray();
            seq.Add(Array.IndexOf(lastRow, lastRow.Max()));
        }
        Assert.Equal(seq.Skip(3).ToArray(), generated);
    }

    [Fact]
    public void AttentionWeightsAreCausalDistributions()
    {
        var model = new Gpt<double>(Small(), seed: 2);
        Randomise(model, 5);
        var tokens = RandomTokens(new Rng(1), 1, 6, 11);
        var (logits, weights) = model.InferWithAttention(tokens);
        TestData.AssertClose<double>(model.Infer(tokens).ToArray(), logits.AsReadOnlySpan(), 1e-12, 1e-10, "logits");
        Assert.Equal(2, weights.Count);
        foreach (var w in weights)
        {
            Assert.Equal([1, 4, 6, 6], w.Lengths.ToArray().Select(x => (int)x));
            var data = w.ToArray();
            for (int h = 0; h < 4; h++)
                for (int t = 0; t < 6; t++)
                {
                    var row = data.AsSpan((h * 6 + t) * 6, 6);
                    Assert.Equal(1.0, row[..(t + 1)].ToArray().Sum(), 12);
                    Assert.All(row[(t + 1)..].ToArray(), x => Assert.Equal(0.0, x));
                }
        }
    }

    [Fact]
    public void StateDictNamesAreNanoGpts()
    {
        var model = new Gpt<float>(new GptConfig(10, 16, 2, 2, 8));
        string[] block(int i) =>
        [
            $"transformer.h.{i}.ln_1.weight", $"transformer.h.{i}.ln_1.bias", $"transformer.h.{i}.attn.c_attn.weight", $"transformer.h.{i}.attn.c_attn.bias",
            $"transformer.h.{i}.attn.c_proj.weight", $"transformer.h.{i}.attn.c_proj.bias", $"transformer.h.{i}.ln_2.weight", $"transformer.h.{i}.ln_2.bias",
            $"transformer.h.{i}.mlp.c_fc.weight", $"transformer.h.{i}.mlp.c_fc.bias", $"transformer.h.{i}.mlp.c_proj.weight", $"transformer.h.{i}.mlp.c_proj.bias",
        ];
        Assert.Equal(["transformer.wte.weight", "transformer.wpe.weight", .. block(0), .. block(1), "transformer.ln_f.weight", "transformer.ln_f.bias", "lm_head.weight"],
            model.StateDict().Keys);
        Assert.DoesNotContain("lm_head.weight", model.NamedParameters().Select(p => p.Name));
        Assert.Same(model.TokenEmbedding.Weight, model.LmHead.Weight);
        Assert.Equal([24, 8], model.GetParameter("transformer.h.0.attn.c_attn.weight").Shape.ToArray());
        Assert.Equal([32, 8], model.GetParameter("transformer.h.1.mlp.c_fc.weight").Shape.ToArray());
        var gqa = new Gpt<float>(new GptConfig(10, 16, 1, 4, 8) { NKVHead = 1, Positions = GptPositions.Rotary, Bias = false });
        Assert.Equal([(4 + 2) * 2, 8], gqa.GetParameter("transformer.h.0.attn.c_attn.weight").Shape.ToArray());
        Assert.DoesNotContain("transformer.wpe.weight", gqa.StateDict().Keys);
        Assert.DoesNotContain("transformer.h.0.ln_1.bias", gqa.StateDict().Keys);
    }

    [Fact]
    public void InitialisationIsNanoGpts()
    {
        var model = new Gpt<double>(new GptConfig(64, 32, 3, 4, 64), seed: 1);
        static double Std(double[] x) => Math.Sqrt(x.Select(v => v * v).Average());
        Assert.InRange(Std(model.TokenEmbedding.Weight.Data), 0.018, 0.022);
        Assert.InRange(Std(model.GetParameter("transformer.h.0.attn.c_attn.weight").Data), 0.018, 0.022);
        double proj = 0.02 / Math.Sqrt(6);
        Assert.InRange(Std(model.GetParameter("transformer.h.2.mlp.c_proj.weight").Data), proj * 0.9, proj * 1.1);
        Assert.InRange(Std(model.GetParameter("transformer.h.1.attn.c_proj.weight").Data), proj * 0.9, proj * 1.1);
        Assert.All(model.GetParameter("transformer.h.0.attn.c_attn.bias").Data, b => Assert.Equal(0, b));
        Assert.All(model.GetParameter("transformer.ln_f.weight").Data, w => Assert.Equal(1, w));
    }

    // ---- bad input ----

    [Fact]
    public void BadInputIsAnArgumentExceptionNamingIt()
    {
        var model = new Gpt<float>(Small());
        var outOfRange = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(Tensor.Create(new[] { 1, 11 }, [1, 2])));
        Assert.Equal("tokens", outOfRange.ParamName);
        Assert.Contains("11", outOfRange.Message);
        var tooLong = Assert.Throws<ArgumentException>(() => model.Infer(Tensor.Create(new int[9], [1, 9])));
        Assert.Equal("tokens", tooLong.ParamName);
        Assert.Contains("block size", tooLong.Message);
        Assert.Contains("8", tooLong.Message);
        Assert.Equal("tokens", Assert.Throws<ArgumentException>(() => model.Forward(Tensor.Create(new int[4], [4]))).ParamName);
        var state = model.InitialState(1);
        model.Prefill(new int[8], ref state, new float[11]);
        var full = Assert.Throws<ArgumentException>(() => model.NextLogits([1], ref state, new float[11]));
        Assert.Equal("tokens", full.ParamName);
        Assert.Contains("8 of 8", full.Message);
        Assert.Equal("logits", Assert.Throws<ArgumentException>(() => model.NextLogits([1], ref state, new float[10])).ParamName);
        Assert.Throws<InvalidOperationException>(() => new Gpt<float>(Small()).Backward(Tensor.Create(new float[11], [1, 1, 11])));
        model.Forward(Tensor.Create(new int[3], [1, 3]));
        Assert.Equal("dLogits", Assert.Throws<ArgumentException>(() => model.Backward(Tensor.Create(new float[22], [1, 2, 11]))).ParamName);
    }

    [Fact]
    public void BadConfigurationIsAnArgumentExceptionNamingTheSetting()
    {
        var heads = Assert.Throws<ArgumentException>(() => new Gpt<float>(new GptConfig(10, 8, 1, 3, 8)));
        Assert.Equal("config", heads.ParamName);
        Assert.Contains("NEmbd = 8, NHead = 3", heads.Message);
        Assert.Contains("NKVHead", Assert.Throws<ArgumentException>(() => new Gpt<float>(new GptConfig(10, 8, 1, 4, 8) { NKVHead = 3 })).Message);
        Assert.Contains("VocabSize", Assert.Throws<ArgumentOutOfRangeException>(() => new Gpt<float>(new GptConfig(0, 8, 1, 4, 8))).Message);
        Assert.Contains("Activation", Assert.Throws<ArgumentOutOfRangeException>(() => new Gpt<float>(new GptConfig(10, 8, 1, 4, 8) { Activation = FeedForwardActivation.SwiGlu })).Message);
        Assert.Contains("Dropout", Assert.Throws<ArgumentOutOfRangeException>(() => new Gpt<float>(new GptConfig(10, 8, 1, 4, 8) { Dropout = 1 })).Message);
    }
}
