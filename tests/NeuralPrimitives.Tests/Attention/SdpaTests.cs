namespace NeuralPrimitives.Tests.Attention;

// Scaled dot-product attention against the independent reference (AttentionReference.cs), central-difference
// gradient checks in double, and the memory-efficient path against the exact one.
public class SdpaTests
{
    internal static GradientCheckProblem Problem(AttentionCase c, AttentionInputs<double> inputs, AttentionAlgorithm algorithm, bool withWeights)
    {
        var module = new ScaledDotProductAttention<double>();
        double[] q = inputs.Q.ToArray(), k = inputs.K.ToArray(), v = inputs.V.ToArray();
        nint[] qs = inputs.Q.Lengths.ToArray(), ks = inputs.K.Lengths.ToArray(), vs = inputs.V.Lengths.ToArray();
        AttentionOutput<double> last = default;
        return new GradientCheckProblem
        {
            Inputs = [("query", q), ("key", k), ("value", v)],
            Parameters = [],
            Forward = () =>
            {
                // A fresh dropout source with the same seed: every forward drops the same weights.
                last = module.Forward(Tensor.Create(q, qs), Tensor.Create(k, ks), Tensor.Create(v, vs), inputs.Mask, c.Options(algorithm, withWeights));
                return withWeights ? [last.Output.ToArray(), last.Weights!.ToArray()] : [last.Output.ToArray()];
            },
            Backward = dOut =>
            {
                var g = module.Backward(Tensor.Create(dOut[0], last.Output.Lengths), withWeights ? Tensor.Create(dOut[1], last.Weights!.Lengths) : null);
                return [g.DQuery.ToArray(), g.DKey.ToArray(), g.DValue.ToArray()];
            },
        };
    }

    [AttentionProperty]
    public void BothAlgorithmsMatchTheReference(AttentionCase c, Seed seed)
    {
        var inputs = AttentionInputs<double>.Create(c, seed.Rng());
        var (expected, weights) = AttentionReference.Forward(c, inputs);
        var exact = ScaledDotProductAttention.Compute(inputs.Q, inputs.K, inputs.V, inputs.Mask, c.Options(AttentionAlgorithm.Exact, needWeights: true));
        TestData.AssertClose<double>(expected, exact.Output.AsReadOnlySpan(), 1e-12, 1e-10, "exact output");
        TestData.AssertClose<double>(weights, exact.Weights!.AsReadOnlySpan(), 1e-12, 1e-10, "exact weights");
        var flash = ScaledDotProductAttention.Compute(inputs.Q, inputs.K, inputs.V, inputs.Mask, c.Options(AttentionAlgorithm.MemoryEfficient));
        Assert.Null(flash.Weights);
        TestData.AssertClose<double>(expected, flash.Output.AsReadOnlySpan(), 1e-12, 1e-10, "memory-efficient output");
    }

    [AttentionProperty]
    public void ExactGradientCheck(AttentionCase c, bool withWeights, Seed seed)
    {
        var inputs = AttentionInputs<double>.Create(c, seed.Rng());
        var result = GradientCheck.Run(Problem(c, inputs, AttentionAlgorithm.Exact, withWeights));
        Assert.True(result.Passed, c + "\n" + result);
    }

    [AttentionProperty]
    public void MemoryEfficientGradientCheck(AttentionCase c, Seed seed)
    {
        var inputs = AttentionInputs<double>.Create(c, seed.Rng());
        var result = GradientCheck.Run(Problem(c, inputs, AttentionAlgorithm.MemoryEfficient, false));
        Assert.True(result.Passed, c + "\n" + result);
    }

    [AttentionProperty]
    public void GradientCheckWithDropout(AttentionCase c, bool memoryEfficient, Seed seed)
    {
        c = c with { DropoutP = 0.3 };
        var inputs = AttentionInputs<double>.Create(c, seed.Rng());
        var result = GradientCheck.Run(Problem(c, inputs, memoryEfficient ? AttentionAlgorithm.MemoryEfficient : AttentionAlgorithm.Exact, false));
        Assert.True(result.Passed, c + "\n" + result);
    }

    // Shapes that cross the 64-row/64-key blocks: partial blocks at both ends, skipped causal and window blocks.
    public static TheoryData<AttentionCase> BlockCases() =>
    [
        new(2, 4, 2, 150, 130, 16, 24, Causal: true, Alignment: CausalAlignment.BottomRight, Mask: MaskKind.Keep, MaskShape: MaskShape.PerKey),
        new(1, 2, 2, 200, 200, 32, 32, Causal: true),
        new(1, 3, 1, 129, 257, 8, 5, Window: new AttentionWindow(40, 7), Mask: MaskKind.Additive, MaskShape: MaskShape.QueryKey, MaskedFraction: 0.1),
        new(2, 2, 2, 65, 64, 64, 64, Mask: MaskKind.Ignore, MaskShape: MaskShape.Full, MaskedFraction: 0.95),
        new(1, 2, 1, 100, 190, 16, 16, Causal: true, Window: new AttentionWindow(70, 0), DropoutP: 0.25),
    ];

    [Theory]
    [MemberData(nameof(BlockCases))]
    public void MemoryEfficientEqualsExactInFloat(AttentionCase c)
    {
        var inputs = AttentionInputs<float>.Create(c, new Rng(11));
        var exact = new ScaledDotProductAttention<float>();
        var flash = new ScaledDotProductAttention<float>();
        var e = exact.Forward(inputs.Q, inputs.K, inputs.V, inputs.Mask, c.Options(AttentionAlgorithm.Exact)).Output;
        var f = flash.Forward(inputs.Q, inputs.K, inputs.V, inputs.Mask, c.Options(AttentionAlgorithm.MemoryEfficient)).Output;
        TestData.AssertClose<float>(e.AsReadOnlySpan(), f.AsReadOnlySpan(), 2e-6, 2e-5, "output");
        var dOut = TestData.Tensor<float>(new Rng(12), e.Shape());
        var ge = exact.Backward(dOut);
        var gf = flash.Backward(dOut);
        TestData.AssertClose<float>(ge.DQuery.AsReadOnlySpan(), gf.DQuery.AsReadOnlySpan(), 1e-5, 1e-4, "dQuery");
        TestData.AssertClose<float>(ge.DKey.AsReadOnlySpan(), gf.DKey.AsReadOnlySpan(), 1e-5, 1e-4, "dKey");
        TestData.AssertClose<float>(ge.DValue.AsReadOnlySpan(), gf.DValue.AsReadOnlySpan(), 1e-5, 1e-4, "dValue");
    }

    [Theory]
    [MemberData(nameof(BlockCases))]
    public void BlockCasesMatchTheReferenceInDouble(AttentionCase c)
    {
        if (c.DropoutP > 0) c = c with { DropoutP = 0 };
        var inputs = AttentionInputs<double>.Create(c, new Rng(13));
        var (expected, _) = AttentionReference.Forward(c, inputs);
        var flash = ScaledDotProductAttention.Compute(inputs.Q, inputs.K, inputs.V, inputs.Mask, c.Options(AttentionAlgorithm.MemoryEfficient));
        TestData.AssertClose<double>(expected, flash.Output.AsReadOnlySpan(), 1e-12, 1e-10, "memory-efficient output");
    }

    // The module's buffers are reused: a second step must give the same result as the first (nothing left over).
    [Theory]
    [InlineData(AttentionAlgorithm.Exact)]
    [InlineData(AttentionAlgorithm.MemoryEfficient)]
    public void RepeatedStepsGiveTheSameResults(AttentionAlgorithm algorithm)
    {
        var c = new AttentionCase(2, 4, 2, 70, 90, 8, 8, Causal: true, Alignment: CausalAlignment.BottomRight, Mask: MaskKind.Additive, MaskShape: MaskShape.PerKey);
        var inputs = AttentionInputs<double>.Create(c, new Rng(3));
        var module = new ScaledDotProductAttention<double>();
        var dOut = TestData.Tensor<double>(new Rng(4), c.Outer, c.Heads, c.Lq, c.Dv);
        double[][] Step()
        {
            var o = module.Forward(inputs.Q, inputs.K, inputs.V, inputs.Mask, c.Options(algorithm)).Output.ToArray();
            var g = module.Backward(dOut);
            return [o, g.DQuery.ToArray(), g.DKey.ToArray(), g.DValue.ToArray()];
        }
        var first = Step();
        // A different problem in between leaves other values in every buffer.
        var other = AttentionInputs<double>.Create(c, new Rng(5));
        module.Forward(other.Q, other.K, other.V, other.Mask, c.Options(algorithm));
        module.Backward(TestData.Tensor<double>(new Rng(6), c.Outer, c.Heads, c.Lq, c.Dv));
        var second = Step();
        for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], second[i]);
    }
}
