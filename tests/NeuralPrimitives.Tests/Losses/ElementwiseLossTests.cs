using static NeuralPrimitives.Tests.Losses.LossHarness;

namespace NeuralPrimitives.Tests.Losses;

public class ElementwiseLossTests
{
    public static TheoryData<string, Reduction> Losses()
    {
        var data = new TheoryData<string, Reduction>();
        foreach (var name in new[] { "mse", "l1", "huber1", "huber0.4", "smoothl1_1", "smoothl1_0.4", "smoothl1_0",
                                     "bce", "bce_weight", "bce_pos", "bce_both_full", "kl", "kl_log" })
            foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
                data.Add(name, reduction);
        data.Add("kl", Reduction.BatchMean);
        data.Add("kl_log", Reduction.BatchMean);
        return data;
    }

    private static ElementwiseLoss<double> Create(string name, Reduction reduction) => name switch
    {
        "mse" => new MseLoss<double>(reduction),
        "l1" => new L1Loss<double>(reduction),
        "huber1" => new HuberLoss<double>(reduction, 1.0),
        "huber0.4" => new HuberLoss<double>(reduction, 0.4),
        "smoothl1_1" => new SmoothL1Loss<double>(reduction, 1.0),
        "smoothl1_0.4" => new SmoothL1Loss<double>(reduction, 0.4),
        "smoothl1_0" => new SmoothL1Loss<double>(reduction, 0),
        "bce" => new BceWithLogitsLoss<double>(reduction: reduction),
        "bce_weight" => new BceWithLogitsLoss<double>(Tensor.Create(new[] { 0.5, 2, 1.5, 0.25 }, [4]), reduction),
        "bce_pos" => new BceWithLogitsLoss<double>(reduction: reduction, posWeight: Tensor.Create(new[] { 3.0, 0.5, 1, 2 }, [4])),
        "bce_both_full" => new BceWithLogitsLoss<double>(Tensor.Create(Enumerable.Range(1, 12).Select(i => i / 6.0).ToArray(), [3, 4]), reduction, Tensor.Create(new[] { 3.0, 0.5, 1, 2 }, [4])),
        "kl" => new KlDivLoss<double>(reduction),
        "kl_log" => new KlDivLoss<double>(reduction, logTarget: true),
        _ => throw new ArgumentException(name),
    };

    /// <summary>Inputs and targets for [2, 3, 4]: differences at least 0.05 away from 0 and from every threshold (0.4, 1) and its kink.</summary>
    private static (double[] X, double[] T) Data(string name, Rng rng)
    {
        double[] mags = [0.05, 0.15, 0.3, 0.35, 0.5, 0.7, 0.9, 0.95, 1.1, 1.6, 2.2, 3.1];
        var x = new double[24]; var t = new double[24];
        for (int i = 0; i < 24; i++)
        {
            if (name.StartsWith("bce", StringComparison.Ordinal)) { x[i] = rng.Normal(0, 3); t[i] = rng.NextDouble(); }
            else if (name.StartsWith("kl", StringComparison.Ordinal))
            {
                x[i] = Math.Log(rng.Uniform(0.05, 1));
                double p = rng.Uniform(0.05, 1);
                t[i] = name == "kl_log" ? Math.Log(p) : (i == 5 ? 0 : p);
            }
            else { t[i] = rng.Normal(); x[i] = t[i] + (i % 2 == 0 ? 1 : -1) * mags[i % mags.Length]; }
        }
        return (x, t);
    }

    [Theory]
    [MemberData(nameof(Losses))]
    public void GradientCheckPasses(string name, Reduction reduction)
    {
        var loss = Create(name, reduction);
        var (x, t) = Data(name, new Rng(5));
        var target = Tensor.Create(t, [2, 3, 4]);
        AssertGradientCheck(loss, x, [2, 3, 4], input => loss.Forward(input, target), name);
    }

    [Theory]
    [MemberData(nameof(Losses))]
    public void ReductionsFollowTheirDefinition(string name, Reduction reduction)
    {
        var (x, t) = Data(name, new Rng(6));
        var input = Tensor.Create(x, [2, 3, 4]);
        var target = Tensor.Create(t, [2, 3, 4]);
        var none = Create(name, Reduction.None);
        double sum = none.Forward(input, target);
        var l = none.Unreduced.ToArray();
        Assert.Equal(l.Sum(), sum, 1e-12);
        var loss = Create(name, reduction);
        double expected = reduction switch { Reduction.Mean => sum / 24, Reduction.BatchMean => sum / 2, _ => sum };
        Assert.Equal(expected, loss.Forward(input, target), 1e-12);
        TestData.AssertClose<double>(l, loss.Unreduced.AsReadOnlySpan(), 1e-15);
    }

    [Fact]
    public void HuberAndSmoothL1AreTheSameFunctionScaled()
    {
        var rng = new Rng(9);
        var x = TestData.Tensor<double>(rng, 50);
        var t = TestData.Tensor<double>(rng, 50);
        foreach (double beta in new[] { 0.3, 1.0, 2.5 })
        {
            var huber = new HuberLoss<double>(Reduction.None, beta);
            var smooth = new SmoothL1Loss<double>(Reduction.None, beta);
            huber.Forward(x, t); smooth.Forward(x, t);
            TestData.AssertClose<double>(huber.Unreduced.ToArray().Select(v => v / beta).ToArray(), smooth.Unreduced.AsReadOnlySpan(), 1e-15, 1e-14);
            TestData.AssertClose<double>(huber.Backward().ToArray().Select(v => v / beta).ToArray(), smooth.Backward().AsReadOnlySpan(), 1e-15, 1e-14);
        }
        // ½d² inside, δ(|d| − δ/2) outside: values from the definition.
        var h = new HuberLoss<double>(Reduction.None, 2);
        h.Forward(Tensor.Create(new[] { 1.0, -3, 5 }, [3]), Tensor.Create(new[] { 0.0, 0, 0 }, [3]));
        Assert.Equal([0.5, 2 * (3 - 1), 2 * (5 - 1.0)], h.Unreduced.ToArray());
        Assert.Equal([1.0, -2, 2], h.Backward().ToArray());
    }

    [Fact]
    public void SmoothL1WithBetaZeroIsL1()
    {
        var rng = new Rng(10);
        var x = TestData.Tensor<double>(rng, 3, 7);
        var t = TestData.Tensor<double>(rng, 3, 7);
        var smooth = new SmoothL1Loss<double>(beta: 0);
        var l1 = new L1Loss<double>();
        Assert.Equal(l1.Forward(x, t), smooth.Forward(x, t), 1e-15);
        Assert.Equal(l1.Backward().ToArray(), smooth.Backward().ToArray());
        // The subgradient at d = 0 is 0, as PyTorch's sign.
        var zero = new L1Loss<double>(Reduction.Sum);
        zero.Forward(Tensor.Create(new[] { 1.0, 2 }, [2]), Tensor.Create(new[] { 1.0, 0 }, [2]));
        Assert.Equal([0.0, 1], zero.Backward().ToArray());
    }

    [Fact]
    public void BceWithLogitsIsStableAndMatchesTheDefinition()
    {
        // l = −[p·t·log σ(x) + (1 − t)·log(1 − σ(x))], evaluated directly where that is safe.
        var rng = new Rng(13);
        var x = Enumerable.Range(0, 20).Select(_ => rng.Normal(0, 4)).ToArray();
        var t = Enumerable.Range(0, 20).Select(_ => rng.NextDouble()).ToArray();
        var pos = new[] { 2.5, 0.3 };
        var loss = new BceWithLogitsLoss<double>(reduction: Reduction.None, posWeight: Tensor.Create(pos, [2]));
        loss.Forward(Tensor.Create(x, [10, 2]), Tensor.Create(t, [10, 2]));
        var l = loss.Unreduced.ToArray();
        for (int i = 0; i < 20; i++)
        {
            double s = 1 / (1 + Math.Exp(-x[i]));
            Assert.Equal(-(pos[i % 2] * t[i] * Math.Log(s) + (1 - t[i]) * Math.Log(1 - s)), l[i], 1e-12);
        }
        // Huge logits: finite, and the tails exact (log1p keeps e^−40 instead of rounding it away).
        var big = new BceWithLogitsLoss<float>(reduction: Reduction.None);
        big.Forward(Tensor.Create(new[] { 1e4f, -1e4f, 40f, -40f }, [4]), Tensor.Create(new[] { 0f, 1f, 1f, 0f }, [4]));
        Assert.Equal([1e4f, 1e4f], big.Unreduced.ToArray()[..2]);
        Assert.Equal(Math.Exp(-40), big.Unreduced[2], 1e-3 * Math.Exp(-40));
        Assert.Equal(Math.Exp(-40), big.Unreduced[3], 1e-3 * Math.Exp(-40));
        Assert.All(big.Backward().ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void KlDivergenceOfADistributionWithItselfIsZero()
    {
        var p = new[] { 0.2, 0.5, 0.3, 0.0 };
        var logq = p.Select(v => v == 0 ? -30 : Math.Log(v)).ToArray();
        var kl = new KlDivLoss<double>(Reduction.BatchMean);
        Assert.Equal(0, kl.Forward(Tensor.Create(logq, [1, 4]), Tensor.Create(p, [1, 4])), 1e-15);
        var klLog = new KlDivLoss<double>(Reduction.Sum, logTarget: true);
        var logp = new[] { Math.Log(0.2), Math.Log(0.8) };
        Assert.Equal(0, klLog.Forward(Tensor.Create(logp, [2]), Tensor.Create(logp, [2])), 1e-15);
        Assert.True(klLog.LogTarget);
    }

    [Fact]
    public void NllGradientCheckForEveryOption()
    {
        foreach (var reduction in new[] { Reduction.Mean, Reduction.Sum, Reduction.None })
            foreach (bool weighted in new[] { false, true })
            {
                var x = TestData.Normal(new Rng(3), 2 * 3 * 4);
                var y = Tensor.Create(new[] { 3, -100, 0, 1, 1, 2 }, [2, 3]);
                var loss = new NllLoss<double>(weighted ? Tensor.Create(new[] { 0.5, 1, 2, 3 }, [4]) : null, reduction: reduction);
                AssertGradientCheck(loss, x, [2, 3, 4], input => loss.Forward(input, y), $"{reduction} {weighted}");
            }
    }

    [Fact]
    public void NoAllocationAfterWarmUp()
    {
        var rng = new Rng(4);
        var x = TestData.Tensor<float>(rng, 16, 8);
        var t = TestData.Tensor<float>(rng, 16, 8);
        foreach (var loss in new ElementwiseLoss<float>[] { new MseLoss<float>(), new HuberLoss<float>(), new BceWithLogitsLoss<float>(posWeight: Tensor.Create(new float[8], [8])), new KlDivLoss<float>(Reduction.BatchMean) })
            Assert.Equal(0, Allocations.SteadyStateBytes(() => { loss.Forward(x, t); loss.Backward(); }));
        var nll = new NllLoss<float>();
        var y = Tensor.Create(new int[16], [16]);
        Assert.Equal(0, Allocations.SteadyStateBytes(() => { nll.Forward(x, y); nll.Backward(); }));
    }

    [Fact]
    public void BadInputIsRejected()
    {
        var mse = new MseLoss<float>();
        var e = Assert.Throws<ArgumentException>(() => mse.Forward(Tensor.Create(new float[6], [2, 3]), Tensor.Create(new float[6], [3, 2])));
        Assert.Equal("target", e.ParamName);
        Assert.Contains("expected [2, 3]", e.Message); Assert.Contains("got [3, 2]", e.Message);
        Assert.Equal("reduction", Assert.Throws<ArgumentOutOfRangeException>(() => new MseLoss<float>(Reduction.BatchMean)).ParamName);
        Assert.Equal("reduction", Assert.Throws<ArgumentOutOfRangeException>(() => new NllLoss<float>(reduction: Reduction.BatchMean)).ParamName);
        foreach (double d in new[] { 0.0, -1, double.NaN, double.PositiveInfinity })
            Assert.Equal("delta", Assert.Throws<ArgumentOutOfRangeException>(() => new HuberLoss<float>(delta: d)).ParamName);
        foreach (double b in new[] { -0.5, double.NaN })
            Assert.Equal("beta", Assert.Throws<ArgumentOutOfRangeException>(() => new SmoothL1Loss<float>(beta: b)).ParamName);

        var bce = new BceWithLogitsLoss<float>(posWeight: Tensor.Create(new float[3], [3]));
        var be = Assert.Throws<ArgumentException>(() => bce.Forward(Tensor.Create(new float[8], [2, 4]), Tensor.Create(new float[8], [2, 4])));
        Assert.Equal("input", be.ParamName);
        Assert.Contains("[2, 4]", be.Message); Assert.Contains("posWeight of shape [3]", be.Message);
        var bw = new BceWithLogitsLoss<float>(Tensor.Create(new float[8], [4, 2]));
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => bw.Forward(Tensor.Create(new float[8], [2, 4]), Tensor.Create(new float[8], [2, 4]))).ParamName);

        var nll = new NllLoss<float>();
        var ne = Assert.Throws<ArgumentOutOfRangeException>(() => nll.Forward(Tensor.Create(new float[6], [2, 3]), Tensor.Create(new[] { 1, 3 }, [2])));
        Assert.Equal("target", ne.ParamName); Assert.Contains("target[1]", ne.Message); Assert.Contains("is 3", ne.Message);
        Assert.Equal("weight", Assert.Throws<ArgumentException>(() => new NllLoss<float>(Tensor.Create(new float[4], [2, 2]))).ParamName);

        Assert.Throws<InvalidOperationException>(() => mse.Backward());
        mse.Forward(Tensor.Create(new float[2], [2]), Tensor.Create(new float[2], [2]));
        mse.Backward();
        Assert.Throws<InvalidOperationException>(() => mse.Backward(1f));
    }
}
