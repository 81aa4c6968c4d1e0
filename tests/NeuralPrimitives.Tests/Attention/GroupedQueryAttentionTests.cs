namespace NeuralPrimitives.Tests.Attention;

public class GroupedQueryAttentionTests
{
    private static GroupedQueryAttention<double> Create(int e, int h, int g, bool bias, bool rope, Rng rng, double dropout = 0)
    {
        var m = new GroupedQueryAttention<double>(e, h, g, bias, dropout, rope ? new RotaryEmbedding<double>(e / h, initialPositions: 4) : null, rng);
        foreach (var p in m.Parameters()) rng.FillNormal<double>(p.Data, 0, 0.5);
        return m;
    }

    // Independent reference: projections and the output projection as loops, RoPE from RotaryEmbedding (tested on its own),
    // the key/value heads repeated (PyTorch's repeat_interleave), then the reference attention with one kv head per query head.
    private static double[] Reference(GroupedQueryAttention<double> m, double[] x, int b, int l, bool causal)
    {
        int e = m.EmbedDim, h = m.NumHeads, g = m.NumKVHeads, hd = m.HeadDim;
        double[] Linear(Linear<double> lin, double[] input, int rows)
        {
            var y = new double[rows * lin.OutFeatures];
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < lin.OutFeatures; o++)
                {
                    double s = lin.Bias?.Data[o] ?? 0;
                    for (int i = 0; i < lin.InFeatures; i++) s += input[r * lin.InFeatures + i] * lin.Weight.Data[o * lin.InFeatures + i];
                    y[r * lin.OutFeatures + o] = s;
                }
            return y;
        }
        // [B·L, heads·hd] → [B, H, L, hd], kv heads repeated group times
        double[] Heads(double[] rows, int heads, int repeat)
        {
            var t = new double[b * heads * repeat * l * hd];
            for (int i = 0; i < b; i++)
                for (int j = 0; j < heads * repeat; j++)
                    for (int s = 0; s < l; s++)
                        for (int c = 0; c < hd; c++)
                            t[((i * heads * repeat + j) * l + s) * hd + c] = rows[(i * l + s) * heads * hd + j / repeat * hd + c];
            return t;
        }
        var q = Heads(Linear(m.QProj, x, b * l), h, 1);
        var k = Heads(Linear(m.KProj, x, b * l), g, h / g);
        var v = Heads(Linear(m.VProj, x, b * l), g, h / g);
        if (m.Rotary is { } rope)
        {
            q = rope.Infer(Tensor.Create(q, [b, h, l, hd])).ToArray();
            k = rope.Infer(Tensor.Create(k, [b, h, l, hd])).ToArray();
        }
        var c = new AttentionCase(b, h, h, l, l, hd, hd, Causal: causal);
        var inputs = new AttentionInputs<double> { Q = Tensor.Create(q, [b, h, l, hd]), K = Tensor.Create(k, [b, h, l, hd]), V = Tensor.Create(v, [b, h, l, hd]) };
        var (o, _) = AttentionReference.Forward(c, inputs);
        var merged = new double[b * l * h * hd];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < h; j++)
                for (int s = 0; s < l; s++)
                    Array.Copy(o, ((i * h + j) * l + s) * hd, merged, (i * l + s) * h * hd + j * hd, hd);
        return Linear(m.OProj, merged, b * l);
    }

    [NpProperty]
    public void MatchesTheReference(SmallDim length, bool rope, bool causal, bool bias, Seed seed)
    {
        var rng = seed.Rng();
        foreach (var (h, g) in new[] { (4, 2), (3, 1), (2, 2) })
        {
            var m = Create(h * 4, h, g, bias, rope, rng);
            var x = TestData.Normal(rng, 2 * length * h * 4);
            var expected = Reference(m, x, 2, length, causal);
            var input = Tensor.Create(x, [2, length, h * 4]);
            TestData.AssertClose<double>(expected, m.Infer(input, isCausal: causal).AsReadOnlySpan(), 1e-12, 1e-10, "infer");
            TestData.AssertClose<double>(expected, m.Forward(input, isCausal: causal).AsReadOnlySpan(), 1e-12, 1e-10, "forward");
        }
    }

    [NpProperty]
    public void GradientCheck(SmallDim length, bool rope, bool causal, bool bias, bool mask, bool unbatched, bool dropout, Seed seed)
    {
        var rng = seed.Rng();
        var ratios = new[] { (2, 1), (4, 2), (3, 3), (1, 1) };
        var (h, g) = ratios[seed.Value % (ulong)ratios.Length];
        int hd = 2, e = h * hd, b = unbatched ? 1 : 2, l = Math.Min((int)length, 5);
        var m = Create(e, h, g, bias, rope, rng, dropout ? 0.3 : 0);
        nint[] shape = unbatched ? [l, e] : [b, l, e];
        var x = TestData.Normal(rng, b * l * e);
        AttentionMask<double>? attnMask = mask ? AttentionMask<double>.Additive(TestData.Tensor<double>(rng, l, l)) : (AttentionMask<double>?)null;
        var problem = new GradientCheckProblem
        {
            Inputs = [("input", x)],
            Parameters = m.NamedParameters().ToList(),
            Forward = () =>
            {
                m.DropoutRng = new Rng(8);
                return [m.Forward(Tensor.Create(x, shape), attnMask, causal).ToArray()];
            },
            Backward = dOut => [m.Backward(Tensor.Create(dOut[0], shape)).ToArray()],
        };
        var result = NeuralPrimitives.GradientCheck.Run(problem);
        Assert.True(result.Passed, $"H={h} G={g} L={l} rope={rope} causal={causal}\n{result}");
    }

    [Fact]
    public void OneKeyValueHeadPerQueryHeadIsMultiheadAttention()
    {
        var rng = new Rng(3);
        int e = 12, h = 3, l = 7, b = 2;
        var gqa = Create(e, h, h, bias: true, rope: false, rng);
        var mha = new MultiheadAttention<double>(e, h, batchFirst: true, rng: rng);
        gqa.QProj.Weight.Data.Concat(gqa.KProj.Weight.Data).Concat(gqa.VProj.Weight.Data).ToArray().CopyTo(mha.InProjWeight!.Data, 0);
        gqa.QProj.Bias!.Data.Concat(gqa.KProj.Bias!.Data).Concat(gqa.VProj.Bias!.Data).ToArray().CopyTo(mha.InProjBias!.Data, 0);
        gqa.OProj.Weight.Data.CopyTo(mha.OutProj.Weight.Data, 0);
        gqa.OProj.Bias!.Data.CopyTo(mha.OutProj.Bias!.Data, 0);
        var x = TestData.Tensor<double>(rng, b, l, e);
        var dOut = TestData.Tensor<double>(rng, b, l, e);
        var yg = gqa.Forward(x).ToArray();
        var ym = mha.Forward(x, x, x, needWeights: false, isCausal: true).Output.ToArray();
        TestData.AssertClose<double>(ym, yg, 1e-12, 1e-10, "output");
        var dg = gqa.Backward(dOut).ToArray();
        var dm = mha.Backward(dOut).DQuery.ToArray();
        TestData.AssertClose<double>(dm, dg, 1e-12, 1e-10, "dInput");
        var inProjGrad = gqa.QProj.Weight.Grad.Concat(gqa.KProj.Weight.Grad).Concat(gqa.VProj.Weight.Grad).ToArray();
        TestData.AssertClose<double>(mha.InProjWeight!.Grad, inProjGrad, 1e-12, 1e-10, "in_proj_weight");
        TestData.AssertClose<double>(mha.OutProj.Weight.Grad, gqa.OProj.Weight.Grad, 1e-12, 1e-10, "out_proj.weight");
    }

    [Fact]
    public void ParametersAreNamedAsHuggingFaceLlamaAttention()
    {
        var m = new GroupedQueryAttention<float>(16, 4, 2);
        Assert.Equal("q_proj.weight[16, 16] k_proj.weight[8, 16] v_proj.weight[8, 16] o_proj.weight[16, 16]",
            string.Join(" ", m.NamedParameters().Select(p => $"{p.Name}{Shapes.Format(p.Parameter.Shape)}")));
        Assert.Equal(8, new GroupedQueryAttention<float>(16, 4, 2, bias: true).NamedParameters().Count());
    }

    [NpProperty]
    public void DecodingThroughTheCacheEqualsTheFullCausalPass(SmallDim prompt, SmallDim steps, bool rope, Seed seed)
    {
        var rng = seed.Rng();
        int e = 16, h = 4, g = 2, b = 2, total = prompt + steps + 60; // past one 64-key block
        var m = Create(e, h, g, bias: true, rope, rng);
        var x = TestData.Normal(rng, b * total * e);
        var full = m.Infer(Tensor.Create(x, [b, total, e])).ToArray();

        // The prompt in one piece, then chunks of 1, 2, 3, … positions.
        var cache = m.CreateCache(b, total);
        var decoded = new double[full.Length];
        for (int t = 0, step = 0; t < total; step++)
        {
            int chunk = Math.Min(step == 0 ? prompt : step % 3 + 1, total - t);
            var piece = new double[b * chunk * e];
            for (int i = 0; i < b; i++) Array.Copy(x, (i * total + t) * e, piece, i * chunk * e, chunk * e);
            var y = m.Infer(Tensor.Create(piece, [b, chunk, e]), cache).ToArray();
            for (int i = 0; i < b; i++) Array.Copy(y, i * chunk * e, decoded, (i * total + t) * e, chunk * e);
            t += chunk;
            Assert.Equal(t, cache.Length);
        }
        TestData.AssertClose<double>(full, decoded, 1e-12, 1e-9);
        // A full cache refuses one more position, and stays as it was.
        var e1 = Assert.Throws<ArgumentException>(() => m.Infer(Tensor.Create(new double[b * e], [b, 1, e]), cache));
        Assert.Equal("cache", e1.ParamName);
        Assert.Contains($"holds {total} of {total}", e1.Message);
        Assert.Equal(total, cache.Length);
        cache.Reset();
        Assert.Equal(0, cache.Length);
    }

    [Fact]
    public void OnePositionAtATimeEqualsTheFullPass()
    {
        var rng = new Rng(4);
        int e = 8, l = 9;
        var m = Create(e, 2, 1, bias: false, rope: true, rng);
        var x = TestData.Normal(rng, l * e);
        var full = m.Infer(Tensor.Create(x, [l, e])).ToArray();
        var cache = m.CreateCache(1, l);
        for (int t = 0; t < l; t++)
        {
            var y = m.Infer(Tensor.Create(x[(t * e)..((t + 1) * e)], [1, e]), cache).ToArray();
            TestData.AssertClose<double>(full.AsSpan(t * e, e), y, 1e-12, 1e-10, $"position {t}");
        }
    }

    [Fact]
    public void SeveralThreadsDecodeWithTheirOwnCaches()
    {
        var rng = new Rng(5);
        int e = 16, l = 40;
        var m = new GroupedQueryAttention<float>(e, 4, 2, rotary: new RotaryEmbedding<float>(4), rng: rng);
        var prompts = Enumerable.Range(0, 6).Select(_ => TestData.NormalF(rng, l * e)).ToArray();
        float[] Decode(float[] x)
        {
            var cache = m.CreateCache(1, l);
            var y = new float[x.Length];
            for (int t = 0; t < l; t++) m.Infer(Tensor.Create(x[(t * e)..((t + 1) * e)], [1, 1, e]), cache).ToArray().CopyTo(y, t * e);
            return y;
        }
        var expected = prompts.Select(Decode).ToArray();
        var actual = new float[prompts.Length][];
        Parallel.For(0, prompts.Length, i => actual[i] = Decode(prompts[i]));
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], actual[i]);
    }

    [Fact]
    public void BadArguments()
    {
        Assert.Equal("numKVHeads", Assert.Throws<ArgumentException>(() => new GroupedQueryAttention<float>(12, 6, 4)).ParamName);
        Assert.Contains("numHeads = 6, numKVHeads = 4", Assert.Throws<ArgumentException>(() => new GroupedQueryAttention<float>(12, 6, 4)).Message);
        Assert.Equal("embedDim", Assert.Throws<ArgumentException>(() => new GroupedQueryAttention<float>(10, 4, 2)).ParamName);
        Assert.Equal("rotary", Assert.Throws<ArgumentException>(() => new GroupedQueryAttention<float>(16, 4, 2, rotary: new RotaryEmbedding<float>(8))).ParamName);
        var m = new GroupedQueryAttention<float>(16, 4, 2);
        var wrong = new KvCache<float>(1, 4, 4, 10);
        var ex = Assert.Throws<ArgumentException>(() => m.Infer(TestData.Tensor<float>(new Rng(1), 1, 2, 16), wrong));
        Assert.Equal("cache", ex.ParamName);
        Assert.Contains("2 key/value heads", ex.Message);
        var small = m.CreateCache(1, 3);
        m.Infer(TestData.Tensor<float>(new Rng(1), 1, 2, 16), small);
        ex = Assert.Throws<ArgumentException>(() => m.Infer(TestData.Tensor<float>(new Rng(1), 1, 2, 16), small));
        Assert.Equal("cache", ex.ParamName);
        Assert.Contains("at most 1 new positions, got 2", ex.Message);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => m.Forward(TestData.Tensor<float>(new Rng(1), 1, 2, 15))).ParamName);
    }

    [Fact]
    public void TrainingStepAllocatesNothingAfterWarmUp()
    {
        var rng = new Rng(6);
        var m = new GroupedQueryAttention<float>(32, 8, 2, rotary: new RotaryEmbedding<float>(4, initialPositions: 128), rng: rng);
        var x = TestData.Tensor<float>(rng, 2, 70, 32);
        var dOut = TestData.Tensor<float>(rng, 2, 70, 32);
        AttentionMask<float> mask = TestData.Tensor<float>(rng, 70, 70);
        Assert.Equal(0, Allocations.SteadyStateBytes(() =>
        {
            m.ZeroGrad();
            m.Forward(x, mask);
            m.Backward(dOut);
        }, warmup: 10, steps: 5));
    }
}
