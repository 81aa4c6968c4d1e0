namespace NeuralPrimitives.Tests.Attention;

// Properties of scaled dot-product attention on both algorithms: causality, permutation equivariance, large logits,
// fully masked rows, dropout, determinism across thread counts, no allocation in steady state.
public class SdpaPropertyTests
{
    public static TheoryData<AttentionAlgorithm> Algorithms() => [AttentionAlgorithm.Exact, AttentionAlgorithm.MemoryEfficient];

    [NpProperty]
    public void CausalOutputsDoNotDependOnLaterPositions(Dim length, SmallDim cut, bool memoryEfficient, Seed seed)
    {
        var rng = seed.Rng();
        int l = length + 60, t = cut * 9 % l, d = 4; // lengths past one 64-block
        var options = new AttentionOptions { IsCausal = true, Algorithm = memoryEfficient ? AttentionAlgorithm.MemoryEfficient : AttentionAlgorithm.Exact };
        var (q, k, v) = (TestData.Normal(rng, 2 * l * d), TestData.Normal(rng, 2 * l * d), TestData.Normal(rng, 2 * l * d));
        double[] Run(double[] qq, double[] kk, double[] vv) => ScaledDotProductAttention.Compute(
            Tensor.Create(qq, [2, l, d]), Tensor.Create(kk, [2, l, d]), Tensor.Create(vv, [2, l, d]), options: options).Output.ToArray();
        var before = Run(q, k, v);
        foreach (var x in new[] { q, k, v })
            for (int b = 0; b < 2; b++)
                for (int i = (t + 1) * d; i < l * d; i++) x[b * l * d + i] += rng.Normal();
        var after = Run(q, k, v);
        for (int b = 0; b < 2; b++)
            TestData.AssertClose<double>(before.AsSpan(b * l * d, (t + 1) * d), after.AsSpan(b * l * d, (t + 1) * d), 1e-12, 1e-10);
    }

    [NpProperty]
    public void WithoutMasksAttentionIsEquivariantToPermutingPositions(SmallDim lq, Dim lk, bool memoryEfficient, Seed seed)
    {
        // Permuting the queries permutes the output rows; permuting keys and values together changes nothing.
        var rng = seed.Rng();
        int d = 3;
        var options = new AttentionOptions { Algorithm = memoryEfficient ? AttentionAlgorithm.MemoryEfficient : AttentionAlgorithm.Exact };
        var (q, k, v) = (TestData.Normal(rng, lq * d), TestData.Normal(rng, lk * d), TestData.Normal(rng, lk * d));
        var pq = Enumerable.Range(0, lq).OrderBy(_ => rng.NextDouble()).ToArray();
        var pk = Enumerable.Range(0, lk).OrderBy(_ => rng.NextDouble()).ToArray();
        static double[] Permute(double[] x, int[] p, int d)
        {
            var y = new double[x.Length];
            for (int i = 0; i < p.Length; i++) Array.Copy(x, p[i] * d, y, i * d, d);
            return y;
        }
        var y0 = ScaledDotProductAttention.Compute(Tensor.Create(q, [lq, d]), Tensor.Create(k, [lk, d]), Tensor.Create(v, [lk, d]), options: options).Output.ToArray();
        var y1 = ScaledDotProductAttention.Compute(Tensor.Create(Permute(q, pq, d), [lq, d]), Tensor.Create(Permute(k, pk, d), [lk, d]),
            Tensor.Create(Permute(v, pk, d), [lk, d]), options: options).Output.ToArray();
        TestData.AssertClose<double>(Permute(y0, pq, d), y1, 1e-12, 1e-10);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void LogitsOfTenThousandGiveNoNaN(AttentionAlgorithm algorithm)
    {
        // Scores of ±1e4: e^(±1e4) overflows unless the row maximum is subtracted first.
        var rng = new Rng(3);
        int l = 70, d = 2;
        var q = new float[l * d];
        var k = new float[l * d];
        for (int i = 0; i < q.Length; i++) { q[i] = rng.NextDouble() < 0.5 ? 100 : -100; k[i] = rng.NextDouble() < 0.5 ? 100 : -100; }
        var v = TestData.NormalF(rng, l * d);
        var sdpa = new ScaledDotProductAttention<float>();
        var options = new AttentionOptions { Scale = 0.5, Algorithm = algorithm, IsCausal = true };
        var o = sdpa.Forward(Tensor.Create(q, [l, d]), Tensor.Create(k, [l, d]), Tensor.Create(v, [l, d]), options: options).Output.ToArray();
        Assert.All(o, x => Assert.True(float.IsFinite(x)));
        var g = sdpa.Backward(Tensor.Create(TestData.NormalF(rng, l * d), [l, d]));
        foreach (var t in new[] { g.DQuery, g.DKey, g.DValue }) Assert.All(t.ToArray(), x => Assert.True(float.IsFinite(x)));
        // Row 0 sees only key 0: its output is v[0].
        Assert.Equal(v[0], o[0], 5);
        Assert.Equal(v[1], o[1], 5);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void ANaNKeyMakesExactlyTheRowsThatSeeItNaN(AttentionAlgorithm algorithm)
    {
        // As in PyTorch, a NaN score makes its whole softmax row NaN. Under the causal mask key 40 is seen by rows 40..69 only
        // (the second query block, past the first key block, and the block tail); rows 0..39 must stay finite.
        var rng = new Rng(4);
        int l = 70, d = 4, nanKey = 40;
        var q = TestData.NormalF(rng, l * d);
        var k = TestData.NormalF(rng, l * d);
        var v = TestData.NormalF(rng, l * d);
        k[nanKey * d + 1] = float.NaN;
        var options = new AttentionOptions { Algorithm = algorithm, IsCausal = true };
        var o = ScaledDotProductAttention.Compute(Tensor.Create(q, [l, d]), Tensor.Create(k, [l, d]), Tensor.Create(v, [l, d]), options: options).Output.ToArray();
        for (int r = 0; r < l; r++)
            for (int c = 0; c < d; c++)
                Assert.True(r < nanKey ? float.IsFinite(o[r * d + c]) : float.IsNaN(o[r * d + c]), $"row {r}, column {c}: {o[r * d + c]}");
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void FullyMaskedRowsGiveZerosAndZeroGradients(AttentionAlgorithm algorithm)
    {
        // Rows 0, 3 and 69 of head 1 see no key at all (PyTorch would return NaN there).
        var rng = new Rng(4);
        int h = 2, lq = 70, lk = 80, d = 8;
        var keep = new bool[h * lq * lk];
        for (int i = 0; i < keep.Length; i++) keep[i] = rng.NextDouble() < 0.5;
        int[] dead = [0, 3, 69];
        foreach (int r in dead) keep.AsSpan((lq + r) * lk, lk).Clear();
        var mask = AttentionMask<double>.Keep(Tensor.Create(keep, [h, lq, lk]));
        var q = TestData.Tensor<double>(rng, h, lq, d);
        var k = TestData.Tensor<double>(rng, h, lk, d);
        var v = TestData.Tensor<double>(rng, h, lk, d);
        var sdpa = new ScaledDotProductAttention<double>();
        var result = sdpa.Forward(q, k, v, mask, new AttentionOptions { Algorithm = algorithm, NeedWeights = algorithm == AttentionAlgorithm.Exact });
        var o = result.Output.ToArray();
        var g = sdpa.Backward(Tensor.Create(Enumerable.Repeat(1.0, o.Length).ToArray(), result.Output.Lengths));
        var dq = g.DQuery.ToArray();
        foreach (int r in dead)
        {
            Assert.All(o.AsSpan((lq + r) * d, d).ToArray(), x => Assert.Equal(0, x));
            Assert.All(dq.AsSpan((lq + r) * d, d).ToArray(), x => Assert.Equal(0, x));
            if (result.Weights is { } w) Assert.All(w.ToArray().AsSpan((lq + r) * lk, lk).ToArray(), x => Assert.Equal(0, x));
        }
        Assert.All(o, x => Assert.True(double.IsFinite(x)));
        Assert.All(g.DKey.ToArray().Concat(g.DValue.ToArray()), x => Assert.True(double.IsFinite(x)));
        // Everywhere else the reference (whose fully masked rows are zeros by construction) agrees.
        var c = new AttentionCase(1, h, h, lq, lk, d, d, Mask: MaskKind.Keep);
        var (expected, _) = AttentionReference.Forward(c, new AttentionInputs<double> { Q = q, K = k, V = v, MaskBools = Array.ConvertAll(keep, x => !x) });
        TestData.AssertClose<double>(expected, o, 1e-12, 1e-10);
    }

    [Fact]
    public void DropoutIsSeededAndDropsTheSameWeightsOnBothPaths()
    {
        var rng = new Rng(5);
        var (q, k, v) = (TestData.Tensor<float>(rng, 2, 3, 90, 16), TestData.Tensor<float>(rng, 2, 3, 100, 16), TestData.Tensor<float>(rng, 2, 3, 100, 16));
        AttentionOptions Options(AttentionAlgorithm a, bool weights = false) =>
            new() { DropoutP = 0.3, DropoutRng = new Rng(42), Algorithm = a, NeedWeights = weights, IsCausal = true, CausalAlignment = CausalAlignment.BottomRight };
        var exact = ScaledDotProductAttention.Compute(q, k, v, options: Options(AttentionAlgorithm.Exact, true));
        var again = ScaledDotProductAttention.Compute(q, k, v, options: Options(AttentionAlgorithm.Exact, true));
        Assert.Equal(exact.Output.ToArray(), again.Output.ToArray());
        var flash = ScaledDotProductAttention.Compute(q, k, v, options: Options(AttentionAlgorithm.MemoryEfficient));
        TestData.AssertClose<float>(exact.Output.AsReadOnlySpan(), flash.Output.AsReadOnlySpan(), 2e-6, 2e-5);
        // About 30 % of the visible weights are dropped; kept ones are scaled by 1/(1 − p).
        var plain = ScaledDotProductAttention.Compute(q, k, v, options: Options(AttentionAlgorithm.Exact, true) with { DropoutP = 0 }).Weights!.ToArray();
        var dropped = exact.Weights!.ToArray();
        int visible = 0, zeros = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            if (plain[i] == 0) continue;
            visible++;
            if (dropped[i] == 0) zeros++;
            else Assert.Equal(plain[i] / 0.7f, dropped[i], plain[i] * 1e-5f);
        }
        Assert.InRange(zeros / (double)visible, 0.28, 0.32);
        // The module drops only in training mode.
        var module = new ScaledDotProductAttention<float>();
        module.Eval();
        Assert.Equal(plain, module.Forward(q, k, v, options: Options(AttentionAlgorithm.Exact, true)).Weights!.ToArray());
        Assert.Equal(plain, module.Infer(q, k, v, options: Options(AttentionAlgorithm.Exact, true)).Weights!.ToArray());
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void StepAllocatesNothingAfterWarmUp(AttentionAlgorithm algorithm)
    {
        var rng = new Rng(6);
        var sdpa = new ScaledDotProductAttention<float>();
        var (q, k, v) = (TestData.Tensor<float>(rng, 2, 4, 130, 32), TestData.Tensor<float>(rng, 2, 2, 150, 32), TestData.Tensor<float>(rng, 2, 2, 150, 32));
        AttentionMask<float> mask = TestData.Tensor<float>(rng, 2, 1, 1, 150);
        var options = new AttentionOptions { Algorithm = algorithm, EnableGqa = true, IsCausal = true, CausalAlignment = CausalAlignment.BottomRight, DropoutP = 0.1, NeedWeights = algorithm == AttentionAlgorithm.Exact };
        var dOut = TestData.Tensor<float>(rng, 2, 4, 130, 32);
        Assert.Equal(0, Allocations.SteadyStateBytes(() =>
        {
            sdpa.Forward(q, k, v, mask, options);
            sdpa.Backward(dOut);
        }, warmup: 10, steps: 5));
    }
}

[Collection(GlobalStateCollection.Name)]
public class SdpaThreadingTests
{
    // Batch 3 × 2 kv heads runs the one-pass backward, batch 1 × 2 the two-pass one (dK/dV per key block, dQ per query block).
    [Theory]
    [InlineData(AttentionAlgorithm.Exact, 3)]
    [InlineData(AttentionAlgorithm.MemoryEfficient, 3)]
    [InlineData(AttentionAlgorithm.MemoryEfficient, 1)]
    public void ResultsDoNotDependOnTheNumberOfThreads(AttentionAlgorithm algorithm, int batch)
    {
        var rng = new Rng(7);
        var (q, k, v) = (TestData.Tensor<float>(rng, batch, 4, 200, 16), TestData.Tensor<float>(rng, batch, 2, 170, 16), TestData.Tensor<float>(rng, batch, 2, 170, 8));
        var dOut = TestData.Tensor<float>(rng, batch, 4, 200, 8);
        var options = new AttentionOptions { Algorithm = algorithm, EnableGqa = true, Window = new AttentionWindow(50, 20) };
        float[][] Run(int threads) => GlobalStateCollection.WithThreads(threads, () =>
        {
            var sdpa = new ScaledDotProductAttention<float>();
            var o = sdpa.Forward(q, k, v, options: options).Output.ToArray();
            var g = sdpa.Backward(dOut);
            return new[] { o, g.DQuery.ToArray(), g.DKey.ToArray(), g.DValue.ToArray() };
        });
        long parallelBefore = Parallelism.ParallelRuns;
        var two = Run(2);
        Assert.True(Parallelism.ParallelRuns > parallelBefore, "the two-thread run should have split the work");
        var one = Run(1);
        for (int i = 0; i < one.Length; i++) Assert.Equal(one[i], two[i]);
    }
}
