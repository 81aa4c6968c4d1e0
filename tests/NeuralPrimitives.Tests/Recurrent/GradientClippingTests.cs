namespace NeuralPrimitives.Tests.Recurrent;

// Expected values come from the definitions (PyTorch's clip_grad_norm_ / clip_grad_value_):
//   total = (Σ|g|^p)^(1/p) (max|g| for p = ∞), g ← g · min(maxNorm / (total + 1e-6), 1), g ← clamp(g, −v, v),
// computed here directly in the test, or from hand-picked numbers (3-4-12-13 Pythagorean quadruple).
public class GradientClippingTests
{
    private static Parameter<T> Dense<T>(string name, params double[] grad) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var p = new Parameter<T>(name, grad.Length);
        for (int i = 0; i < grad.Length; i++) p.Grad[i] = T.CreateTruncating(grad[i]);
        return p;
    }

    private static double[] Grad(Parameter<double> p)
    {
        var g = new double[p.Length];
        p.CopyGradTo(g);
        return g;
    }

    [Fact]
    public void L2NormOfAllGradientsIsReturnedAndGradientsAreScaled()
    {
        // ‖(3, 4, 12)‖ = 13.
        var a = Dense<double>("a", 3, 4);
        var b = Dense<double>("b", 12);
        double total = GradientClipping.ClipGradNorm([a, b], maxNorm: 6.5);
        Assert.Equal(13.0, total, 12);
        double coef = 6.5 / (13 + 1e-6);
        TestData.AssertClose<double>([3 * coef, 4 * coef], a.Grad, 1e-15, 1e-15);
        TestData.AssertClose<double>([12 * coef], b.Grad, 1e-15, 1e-15);
        // The clipped gradient has norm maxNorm (up to the epsilon).
        double after = Math.Sqrt(a.Grad.Concat(b.Grad).Sum(v => v * v));
        Assert.Equal(6.5, after, 6);
    }

    [Fact]
    public void NothingChangesBelowTheThreshold()
    {
        var a = Dense<double>("a", 3, -4);
        var b = Dense<double>("b", 12);
        Assert.Equal(13.0, GradientClipping.ClipGradNorm([a, b], maxNorm: 13.5), 12);
        Assert.Equal([3.0, -4.0], a.Grad);
        Assert.Equal([12.0], b.Grad);
        // Exactly at the threshold PyTorch still multiplies by maxNorm/(total + 1e-6) < 1.
        GradientClipping.ClipGradNorm([a, b], maxNorm: 13);
        Assert.Equal(12 * 13 / (13 + 1e-6), b.Grad[0], 14);
    }

    [Fact]
    public void InfinityNormIsTheLargestMagnitude()
    {
        var a = Dense<double>("a", -7, 2);
        var b = Dense<double>("b", 5, 0.5);
        double total = GradientClipping.ClipGradNorm([a, b], maxNorm: 3.5, normType: double.PositiveInfinity);
        Assert.Equal(7.0, total);
        double coef = 3.5 / (7 + 1e-6);
        TestData.AssertClose<double>([-7 * coef, 2 * coef], a.Grad, 1e-15, 1e-15);
        TestData.AssertClose<double>([5 * coef, 0.5 * coef], b.Grad, 1e-15, 1e-15);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(3.0)]
    [InlineData(0.5)]
    public void GeneralPNormMatchesTheDefinition(double p)
    {
        var rng = new Rng(7);
        var grads = new[] { TestData.Normal(rng, 5), TestData.Normal(rng, 3) };
        double expected = Math.Pow(grads.SelectMany(g => g).Sum(v => Math.Pow(Math.Abs(v), p)), 1 / p);
        var ps = grads.Select((g, i) => Dense<double>("p" + i, g)).ToArray();
        double total = GradientClipping.ClipGradNorm(ps, maxNorm: expected / 4, normType: p);
        Assert.Equal(expected, total, 10);
        double coef = expected / 4 / (expected + 1e-6);
        for (int k = 0; k < ps.Length; k++)
            TestData.AssertClose<double>(grads[k].Select(v => v * coef).ToArray(), ps[k].Grad, 1e-14, 1e-13);
    }

    [Fact]
    public void FloatGradientsAreClippedLikeDouble()
    {
        var rng = new Rng(8);
        var g = TestData.Normal(rng, 1000, std: 3);
        var pf = Dense<float>("w", g);
        double expected = Math.Sqrt(g.Select(v => (double)(float)v).Sum(v => v * v));
        double total = GradientClipping.ClipGradNorm([pf], maxNorm: 1);
        Assert.Equal(expected, total, 8);
        double after = Math.Sqrt(pf.Grad.Sum(v => (double)v * v));
        Assert.Equal(1.0, after, 5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(17)]
    [InlineData(1001)]
    public void FloatNormIsExactInDoubleForEveryLengthIncludingVectorTails(int length)
    {
        // Σ g² of the float values computed in double, element by element, in the test.
        var rng = new Rng((ulong)length);
        var a = TestData.NormalF(rng, length, std: 2);
        var b = TestData.NormalF(rng, 3);
        double expected = Math.Sqrt(a.Concat(b).Sum(v => (double)v * v));
        var pa = new Parameter<float>("a", length); a.CopyTo(pa.Grad, 0);
        var pb = new Parameter<float>("b", 3); b.CopyTo(pb.Grad, 0);
        Assert.Equal(expected, GradientClipping.ClipGradNorm([pa, pb], double.PositiveInfinity), expected * 1e-14);
        Assert.Equal(a, pa.Grad); // maxNorm = ∞ never clips
    }

    [Fact]
    public void NoGradientsGiveZeroNormAndFrozenParametersAreSkipped()
    {
        Assert.Equal(0.0, GradientClipping.ClipGradNorm(Array.Empty<Parameter<double>>(), 1));
        var frozen = Dense<double>("frozen", 100, 100);
        frozen.RequiresGrad = false;
        var live = Dense<double>("live", 3, 4);
        Assert.Equal(5.0, GradientClipping.ClipGradNorm([frozen, live], maxNorm: 1), 12);
        Assert.Equal([100.0, 100.0], frozen.Grad);
        TestData.AssertClose<double>([3 / (5 + 1e-6), 4 / (5 + 1e-6)], live.Grad, 1e-15, 1e-15);
        GradientClipping.ClipGradValue([frozen, live], 0.1);
        Assert.Equal([100.0, 100.0], frozen.Grad);
        Assert.Equal([0.1, 0.1], live.Grad);
    }

    [Fact]
    public void NonFiniteNormPropagatesAsInPyTorch()
    {
        // total = NaN → coef = NaN → every gradient becomes NaN (PyTorch with error_if_nonfinite=False).
        var a = Dense<double>("a", double.NaN, 1);
        var b = Dense<double>("b", 2);
        Assert.True(double.IsNaN(GradientClipping.ClipGradNorm([a, b], 1)));
        Assert.True(double.IsNaN(b.Grad[0]));
        // total = ∞ → coef = 0 → finite gradients become 0.
        var c = Dense<double>("c", double.PositiveInfinity);
        var d = Dense<double>("d", 2, -3);
        Assert.Equal(double.PositiveInfinity, GradientClipping.ClipGradNorm([c, d], 1));
        Assert.Equal([0.0, 0.0], d.Grad.Select(Math.Abs).ToArray());
    }

    [Fact]
    public void ClipByValueClampsEveryElement()
    {
        var a = Dense<double>("a", -3, -0.25, 0, 0.5, 7, double.NaN);
        GradientClipping.ClipGradValue([a], 0.5);
        Assert.Equal(-0.5, a.Grad[0]);
        Assert.Equal(-0.25, a.Grad[1]);
        Assert.Equal(0.0, a.Grad[2]);
        Assert.Equal(0.5, a.Grad[3]);
        Assert.Equal(0.5, a.Grad[4]);
        Assert.True(double.IsNaN(a.Grad[5]));
        var f = Dense<float>("f", -2, 2, 0.1);
        GradientClipping.ClipGradValue([f], 1);
        Assert.Equal([-1f, 1f, 0.1f], f.Grad);
    }

    // A [rows, cols] parameter with a row-sparse gradient on the given rows, and its dense twin.
    private static (Parameter<double> Sparse, Parameter<double> Dense) SparseAndDense(Rng rng, int rows, int cols, int[] touched)
    {
        var sp = new Parameter<double>("table", rows, cols);
        var de = new Parameter<double>("table", rows, cols);
        sp.UseSparseGrad();
        Array.Clear(de.Grad);
        foreach (var r in touched)
        {
            var row = sp.SparseGrad!.Row(r);
            for (int j = 0; j < cols; j++)
            {
                double v = rng.Normal();
                row[j] += v;
                de.Grad[r * cols + j] += v;
            }
        }
        return (sp, de);
    }

    [NpProperty]
    public void SparseGradientsClipExactlyLikeTheirDenseEquivalent(SmallDim rows, SmallDim cols, bool byValue, Seed seed)
    {
        var rng = seed.Rng();
        // Random touched rows, with repeats (accumulate into the same slot).
        var touched = Enumerable.Range(0, rows + 1).Select(_ => rng.NextInt(rows)).ToArray();
        var (sp, de) = SparseAndDense(rng, rows, cols, touched);
        var other = Dense<double>("other", TestData.Normal(rng, 3));
        var otherTwin = Dense<double>("other", other.Grad.ToArray());
        if (byValue)
        {
            GradientClipping.ClipGradValue([sp, other], 0.3);
            GradientClipping.ClipGradValue([de, otherTwin], 0.3);
        }
        else
        {
            foreach (var normType in new[] { 2.0, 1.0, double.PositiveInfinity })
            {
                double ts = GradientClipping.ClipGradNorm([sp, other], 0.3, normType);
                double td = GradientClipping.ClipGradNorm([de, otherTwin], 0.3, normType);
                Assert.Equal(td, ts, 12);
            }
        }
        TestData.AssertClose<double>(Grad(de), Grad(sp), 1e-13, 1e-12, "sparse vs dense");
        TestData.AssertClose<double>(otherTwin.Grad, other.Grad, 1e-15, 1e-13, "other");
    }

    [Fact]
    public void OnlyTouchedRowsOfASparseGradientCountAndAreScaled()
    {
        var table = new Parameter<double>("weight", 1000, 2);
        table.UseSparseGrad();
        table.SparseGrad!.Row(10)[0] = 3;
        table.SparseGrad.Row(900)[1] = 4;
        double total = GradientClipping.ClipGradNorm([table], maxNorm: 1);
        Assert.Equal(5.0, total, 12);
        Assert.False(table.HasDenseGrad); // the 1000-row dense buffer was never materialised
        Assert.Equal(2, table.SparseGrad.Count);
        Assert.Equal(3 / (5 + 1e-6), table.SparseGrad.Row(10)[0], 15);
        Assert.Equal(4 / (5 + 1e-6), table.SparseGrad.Row(900)[1], 15);
        GradientClipping.ClipGradValue([table], 0.5);
        Assert.False(table.HasDenseGrad);
        Assert.Equal(0.5, table.SparseGrad.Row(900)[1]);
    }

    [Fact]
    public void ExplodingRnnGradientIsBoundedByClipGradNorm()
    {
        // A ReLU RNN with W_hh = a·I (a = 1.3), b = 0, W_ih > 0 and inputs > 0 stays in the linear
        // regime (every pre-activation > 0), so h_t = a·h_{t−1} + W_ih x_t and, for a loss on the last
        // step only (dOutput zero except R at t = T−1), ∂L/∂h_t = a^(T−1−t)·R exactly: the gradient
        // grows geometrically with the distance from the loss (exploding gradients).
        const int steps = 25, batch = 2, inF = 2, hid = 3;
        const double a = 1.3;
        var rng = new Rng(21);
        var rnn = new Rnn<double>(inF, hid, nonlinearity: RnnNonlinearity.Relu, rng: rng);
        var whh = new double[hid * hid];
        for (int i = 0; i < hid; i++) whh[i * hid + i] = a;
        rnn.GetParameter("weight_hh_l0").Load(whh);
        rnn.GetParameter("weight_ih_l0").Load(Enumerable.Range(0, hid * inF).Select(_ => rng.Uniform(0.1, 0.6)).ToArray());
        rnn.GetParameter("bias_ih_l0").Load(new double[hid]);
        rnn.GetParameter("bias_hh_l0").Load(new double[hid]);
        var x = Tensor.Create(Enumerable.Range(0, steps * batch * inF).Select(_ => rng.Uniform(0.1, 1)).ToArray(), [steps, batch, inF]);
        var r = TestData.Normal(rng, batch * hid);
        var dOut = new double[steps * batch * hid];
        r.CopyTo(dOut, (steps - 1) * batch * hid);

        rnn.Forward(x);
        rnn.Backward(Tensor.Create(dOut, [steps, batch, hid]));
        double rNorm = Math.Sqrt(r.Sum(v => v * v));
        var norms = rnn.HiddenGradientNorms.ToArray();
        Assert.Equal(steps, norms.Length);
        for (int t = 0; t < steps; t++)
            Assert.Equal(Math.Pow(a, steps - 1 - t) * rNorm, norms[t], Math.Pow(a, steps - 1 - t) * rNorm * 1e-12);
        Assert.True(norms[0] / norms[^1] > 500); // 1.3^24 ≈ 542

        // Clipping: the returned norm is the global 2-norm over every parameter's gradient (computed
        // here independently), and afterwards every gradient is the same multiple of what it was.
        var before = rnn.Parameters().Select(p => p.Grad.ToArray()).ToArray();
        double expectedTotal = Math.Sqrt(before.SelectMany(g => g).Sum(v => v * v));
        Assert.True(expectedTotal > 100, $"the test needs an exploding gradient, got total norm {expectedTotal}");
        double total = GradientClipping.ClipGradNorm(rnn.Parameters(), maxNorm: 1.0);
        Assert.Equal(expectedTotal, total, expectedTotal * 1e-14);
        double coef = 1.0 / (expectedTotal + 1e-6);
        var after = rnn.Parameters().Select(p => p.Grad).ToArray();
        for (int k = 0; k < after.Length; k++)
            TestData.AssertClose<double>(before[k].Select(v => v * coef).ToArray(), after[k], 1e-15, 1e-13);
        double clippedNorm = Math.Sqrt(after.SelectMany(g => g).Sum(v => v * v));
        Assert.Equal(1.0, clippedNorm, 1e-6);
    }

    [Fact]
    public void BadArgumentsAreRejectedWithNameExpectedAndActual()
    {
        var a = Dense<double>("a", 1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGradNorm([a], double.NaN));
        Assert.Equal("maxNorm", e.ParamName);
        Assert.Contains("≥ 0", e.Message); Assert.Contains("NaN", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGradNorm([a], -1));
        Assert.Equal("maxNorm", e.ParamName);
        Assert.Contains("≥ 0", e.Message); Assert.Contains("-1", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGradNorm([a], 1, normType: 0));
        Assert.Equal("normType", e.ParamName);
        Assert.Contains("> 0", e.Message); Assert.Contains("got 0", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGradNorm([a], 1, normType: double.NaN));
        Assert.Equal("normType", e.ParamName);
        Assert.Contains("NaN", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGradValue([a], -0.5));
        Assert.Equal("clipValue", e.ParamName);
        Assert.Contains("≥ 0", e.Message); Assert.Contains("-0.5", e.Message);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGradValue([a], double.NaN));
        Assert.Equal("clipValue", e.ParamName);
        Assert.Throws<ArgumentNullException>(() => GradientClipping.ClipGradNorm<double>(null!, 1));
        Assert.Throws<ArgumentNullException>(() => GradientClipping.ClipGradValue<double>(null!, 1));
        var n = Assert.Throws<ArgumentNullException>(() => GradientClipping.ClipGradNorm([a, null!], 1));
        Assert.Equal("parameters", n.ParamName);
        Assert.Equal([1.0], a.Grad); // rejected before anything was modified? (a was first; norm pass only reads)
    }
}
