using static NeuralPrimitives.Tests.Recurrent.RecurrentTestUtil;

namespace NeuralPrimitives.Tests.Recurrent;

public class RecurrentLayerTests
{
    public static TheoryData<RefKind> Kinds => new() { RefKind.RnnTanh, RefKind.RnnRelu, RefKind.Lstm, RefKind.Gru };

    // Forward (training path and Infer) against the independent per-sequence reference, with
    // multi-layer, bidirectional, projection, h0/c0 and unsorted lengths all drawn at random.
    [NpProperty(MaxTest = 30)]
    public void ForwardMatchesReference(SmallDim steps, SmallDim batch, SmallDim inF, SmallDim hid, bool bidir, bool twoLayers, bool useLengths, bool useH0, Seed seed)
    {
        var rng = seed.Rng();
        foreach (RefKind kind in Enum.GetValues<RefKind>())
        {
            int proj = kind == RefKind.Lstm && hid > 1 && rng.NextDouble() < 0.5 ? 1 + rng.NextInt(hid - 1) : 0;
            var layer = AnyLayer<double>.Create(kind, inF, hid, twoLayers ? 2 : 1, bidir, proj: proj, rng: rng);
            var x = TestData.Normal(rng, steps * batch * inF);
            var h0 = useH0 ? TestData.Normal(rng, layer.Layers * layer.D * batch * layer.P) : null;
            var c0 = useH0 && layer.IsLstm ? TestData.Normal(rng, layer.Layers * layer.D * batch * hid) : null;
            int[]? lengths = useLengths ? Enumerable.Range(0, batch).Select(_ => 1 + rng.NextInt(steps)).ToArray() : null;
            var (ey, eh, ec) = RecurrentReference.Layer(kind, layer.Weight, inF, hid, proj, layer.Layers, bidir, steps, batch, x, h0, c0, lengths);

            var xt = Ten(x, [steps, batch, inF]);
            var h0t = h0 is null ? null : Ten(h0, layer.HShape(batch));
            var c0t = c0 is null ? null : Ten(c0, layer.CShape(batch));
            foreach (var (y, hN, cN) in new[] { layer.Forward(xt, h0t, c0t, lengths), layer.Infer(xt, h0t, c0t, lengths) })
            {
                Assert.Equal(layer.OutputShape(steps, batch).Select(v => (nint)v), y.Lengths.ToArray());
                TestData.AssertClose<double>(ey, y.AsReadOnlySpan(), 1e-12, 1e-10, $"{kind} output");
                TestData.AssertClose<double>(eh, hN.AsReadOnlySpan(), 1e-12, 1e-10, $"{kind} hN");
                if (ec is not null) TestData.AssertClose<double>(ec, cN!.AsReadOnlySpan(), 1e-12, 1e-10, $"{kind} cN");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void BatchFirstIsTheTransposeOfTimeMajor(RefKind kind)
    {
        int steps = 4, batch = 3, inF = 5, hid = 4;
        var tm = AnyLayer<double>.Create(kind, inF, hid, 2, true, rng: new Rng(8));
        var bf = AnyLayer<double>.Create(kind, inF, hid, 2, true, batchFirst: true, rng: new Rng(8));
        var rng = new Rng(9);
        var x = TestData.Normal(rng, steps * batch * inF);
        var xb = Transpose(x, steps, batch, inF);
        int[] lengths = [2, 4, 3];
        var (y, hN, _) = tm.Forward(Ten(x, [steps, batch, inF]), lengths: lengths);
        var (yb, hNb, _) = bf.Forward(Ten(xb, [batch, steps, inF]), lengths: lengths);
        Assert.Equal([batch, steps, 2 * hid], yb.Shape());
        TestData.AssertClose<double>(Transpose(y.ToArray(), steps, batch, 2 * hid), yb.AsReadOnlySpan(), 1e-14);
        TestData.AssertClose<double>(hN.ToArray(), hNb.AsReadOnlySpan(), 1e-14);
        var dy = TestData.Normal(rng, steps * batch * 2 * hid);
        var (dx, dh0, _) = tm.Backward(Ten(dy, [steps, batch, 2 * hid]));
        var (dxb, dh0b, _) = bf.Backward(Ten(Transpose(dy, steps, batch, 2 * hid), [batch, steps, 2 * hid]));
        TestData.AssertClose<double>(Transpose(dx.ToArray(), steps, batch, inF), dxb.AsReadOnlySpan(), 1e-14);
        TestData.AssertClose<double>(dh0.ToArray(), dh0b.AsReadOnlySpan(), 1e-14);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void UnbatchedSequenceIsABatchOfOne(RefKind kind)
    {
        // PyTorch's unbatched shapes: input [T, I] → output [T, D·P]; h0, hN [L·D, P]; c0, cN [L·D, H];
        // batchFirst does not apply. Forward against the independent reference (B = 1); backward against
        // the batched layer with B = 1 (checked against PyTorch by the fixtures).
        int steps = 5, inF = 3, hid = 4, proj = kind == RefKind.Lstm ? 2 : 0;
        var rng = new Rng(31);
        foreach (bool batchFirst in new[] { false, true })
        {
            var one = AnyLayer<double>.Create(kind, inF, hid, 2, true, batchFirst: batchFirst, proj: proj, rng: new Rng(30));
            var batched = AnyLayer<double>.Create(kind, inF, hid, 2, true, proj: proj, rng: new Rng(30));
            int LD = 4, P = one.P;
            var x = TestData.Normal(rng, steps * inF);
            var h0 = TestData.Normal(rng, LD * P);
            var c0 = TestData.Normal(rng, LD * hid);
            int[] lengths = [3];
            var (ey, eh, ec) = RecurrentReference.Layer(kind, one.Weight, inF, hid, proj, 2, true, steps, 1, x, h0, one.IsLstm ? c0 : null, lengths);

            var c0u = one.IsLstm ? Ten(c0, [LD, hid]) : null;
            foreach (var (y, hN, cN) in new[] { one.Forward(Ten(x, [steps, inF]), Ten(h0, [LD, P]), c0u, lengths), one.Infer(Ten(x, [steps, inF]), Ten(h0, [LD, P]), c0u, lengths) })
            {
                Assert.Equal([steps, 2 * P], y.Shape());
                Assert.Equal([LD, P], hN.Shape());
                if (one.IsLstm) Assert.Equal([LD, hid], cN!.Shape());
                TestData.AssertClose<double>(ey, y.AsReadOnlySpan(), 1e-12, 1e-10, $"{kind} output");
                TestData.AssertClose<double>(eh, hN.AsReadOnlySpan(), 1e-12, 1e-10, $"{kind} hN");
                if (ec is not null) TestData.AssertClose<double>(ec, cN!.AsReadOnlySpan(), 1e-12, 1e-10, $"{kind} cN");
            }

            one.Forward(Ten(x, [steps, inF]), Ten(h0, [LD, P]), c0u, lengths);
            batched.Forward(Ten(x, [steps, 1, inF]), Ten(h0, [LD, 1, P]), one.IsLstm ? Ten(c0, [LD, 1, hid]) : null, lengths);
            var dy = TestData.Normal(rng, steps * 2 * P);
            var dhN = TestData.Normal(rng, LD * P);
            var dcN = TestData.Normal(rng, LD * hid);
            var (dx, dh0, dc0) = one.Backward(Ten(dy, [steps, 2 * P]), Ten(dhN, [LD, P]), one.IsLstm ? Ten(dcN, [LD, hid]) : null);
            var (bdx, bdh0, bdc0) = batched.Backward(Ten(dy, [steps, 1, 2 * P]), Ten(dhN, [LD, 1, P]), one.IsLstm ? Ten(dcN, [LD, 1, hid]) : null);
            Assert.Equal([steps, inF], dx.Shape());
            Assert.Equal([LD, P], dh0.Shape());
            Assert.Equal(bdx.ToArray(), dx.ToArray());
            Assert.Equal(bdh0.ToArray(), dh0.ToArray());
            if (one.IsLstm) Assert.Equal(bdc0!.ToArray(), dc0!.ToArray());
            var grads = one.Module.NamedParameters().Zip(batched.Module.NamedParameters()).ToList();
            Assert.NotEmpty(grads);
            foreach (var (u, b) in grads) Assert.Equal(b.Parameter.Grad.ToArray(), u.Parameter.Grad.ToArray());
        }
    }

    private static double[] Transpose(double[] a, int outer, int inner, int f)
    {
        var r = new double[a.Length];
        for (int i = 0; i < outer; i++)
            for (int j = 0; j < inner; j++)
                for (int k = 0; k < f; k++) r[(j * outer + i) * f + k] = a[(i * inner + j) * f + k];
        return r;
    }

    [Fact]
    public void ParameterNamesShapesAndOrderFollowPyTorch()
    {
        var lstm = new Lstm<float>(5, 6, numLayers: 2, bidirectional: true, projSize: 3, rng: new Rng(1));
        string[] expected =
        [
            "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0",
            "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_hr_l0_reverse",
            "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_hr_l1",
            "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse", "weight_hr_l1_reverse",
        ];
        Assert.Equal(expected, lstm.NamedParameters().Select(p => p.Name));
        Assert.Equal([24, 5], lstm.GetParameter("weight_ih_l0").Shape.ToArray());
        Assert.Equal([24, 3], lstm.GetParameter("weight_hh_l0").Shape.ToArray());
        Assert.Equal([3, 6], lstm.GetParameter("weight_hr_l0").Shape.ToArray());
        Assert.Equal([24, 6], lstm.GetParameter("weight_ih_l1").Shape.ToArray()); // D·P = 2·3
        var gru = new Gru<float>(5, 6, numLayers: 2, bias: false, rng: new Rng(1));
        Assert.Equal(["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"], gru.NamedParameters().Select(p => p.Name));
        Assert.Equal([18, 6], gru.GetParameter("weight_ih_l1").Shape.ToArray());
        var rnn = new Rnn<float>(5, 6, rng: new Rng(1));
        Assert.Equal([6, 5], rnn.GetParameter("weight_ih_l0").Shape.ToArray());
        float bound = 1 / MathF.Sqrt(6);
        foreach (var p in lstm.Parameters().Concat(gru.Parameters()).Concat(rnn.Parameters()))
            Assert.All(p.Data, v => Assert.InRange(v, -bound, bound));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void InferIsThreadSafeAndEqualsForward(RefKind kind)
    {
        var layer = AnyLayer<float>.Create(kind, 6, 8, 2, true, rng: new Rng(21));
        var rng = new Rng(22);
        var inputs = Enumerable.Range(0, 8).Select(_ => TestData.Tensor<float>(rng, 5, 3, 6)).ToArray();
        var lengths = new[] { 5, 2, 4 };
        var expected = inputs.Select(x => layer.Forward(x, lengths: lengths).Y.ToArray()).ToArray();
        var results = new float[inputs.Length][];
        Parallel.For(0, inputs.Length * 6, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var y = layer.Infer(inputs[i % inputs.Length], lengths: lengths).Y.ToArray();
            if (i >= inputs.Length * 5) results[i % inputs.Length] = y;
            else Assert.Equal(expected[i % inputs.Length], y);
        });
        for (int i = 0; i < inputs.Length; i++) Assert.Equal(expected[i], results[i]);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void BackwardAccumulatesUntilZeroGrad(RefKind kind)
    {
        var layer = AnyLayer<double>.Create(kind, 3, 4, rng: new Rng(3));
        var rng = new Rng(4);
        var x = TestData.Tensor<double>(rng, 3, 2, 3);
        var dy = TestData.Tensor<double>(rng, 3, 2, 4);
        layer.Forward(x); layer.Backward(dy);
        var w = layer.Module.GetParameter("weight_hh_l0");
        var once = (double[])w.Grad.Clone();
        Assert.Contains(once, v => v != 0);
        layer.Forward(x); layer.Backward(dy);
        TestData.AssertClose<double>(once.Select(v => 2 * v).ToArray(), w.Grad, 1e-12, 1e-12);
        layer.Module.ZeroGrad();
        Assert.All(w.Grad, v => Assert.Equal(0, v));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void DropoutIsSeededAndOffInEval(RefKind kind)
    {
        var layer = AnyLayer<double>.Create(kind, 3, 5, 2, dropout: 0.5, rng: new Rng(5));
        var x = TestData.Tensor<double>(new Rng(6), 4, 2, 3);
        var a = layer.Forward(x).Y.ToArray();
        var b = layer.Forward(x).Y.ToArray();
        Assert.NotEqual(a, b); // fresh masks each training forward
        layer.ResampleDropout = false;
        var c = layer.Forward(x).Y.ToArray();
        Assert.Equal(c, layer.Forward(x).Y.ToArray()); // masks reused
        var eval = layer.Infer(x).Y.ToArray();
        layer.Module.Eval();
        Assert.Equal(eval, layer.Forward(x).Y.ToArray());
        Assert.NotEqual(eval, c);
        // Same seed, same masks.
        var l2 = AnyLayer<double>.Create(kind, 3, 5, 2, dropout: 0.5, rng: new Rng(5));
        Assert.Equal(a, l2.Forward(x).Y.ToArray());
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void FrozenParametersGetNoGradientAndTheOthersAreUnchanged(RefKind kind)
    {
        var a = AnyLayer<double>.Create(kind, 3, 4, rng: new Rng(12));
        var b = AnyLayer<double>.Create(kind, 3, 4, rng: new Rng(12));
        b.Module.GetParameter("weight_hh_l0").RequiresGrad = false;
        var rng = new Rng(13);
        var x = TestData.Tensor<double>(rng, 5, 2, 3);
        var dy = TestData.Tensor<double>(rng, 5, 2, 4);
        a.Forward(x); var dxa = a.Backward(dy).DX.ToArray();
        b.Forward(x); var dxb = b.Backward(dy).DX.ToArray();
        Assert.Equal(dxa, dxb);
        Assert.All(b.Module.GetParameter("weight_hh_l0").Grad, v => Assert.Equal(0.0, v));
        foreach (var name in new[] { "weight_ih_l0", "bias_ih_l0", "bias_hh_l0" })
            TestData.AssertClose<double>(a.Module.GetParameter(name).Grad, b.Module.GetParameter(name).Grad, 1e-13, 1e-11, name);
    }

    // The float path (Vector<float> gate derivatives, float GEMM kernels) agrees with the double
    // path on the same weights: hidden 37 runs the SIMD body and the scalar tail.
    [Theory]
    [MemberData(nameof(Kinds))]
    public void FloatAgreesWithDouble(RefKind kind)
    {
        var ld = AnyLayer<double>.Create(kind, 5, 37, 2, true, rng: new Rng(14));
        var lf = AnyLayer<float>.Create(kind, 5, 37, 2, true, rng: new Rng(15));
        foreach (var ((_, pd), (_, pf)) in ld.Module.NamedParameters().Zip(lf.Module.NamedParameters()))
            for (int i = 0; i < pd.Length; i++) pf.Data[i] = (float)pd.Data[i];
        var rng = new Rng(16);
        var x = TestData.Normal(rng, 6 * 3 * 5);
        var dy = TestData.Normal(rng, 6 * 3 * 74);
        int[] lengths = [6, 2, 5];
        var yd = ld.Forward(Ten(x, [6, 3, 5]), lengths: lengths).Y.ToArray();
        var yf = lf.Forward(Tensor.Create(x.Select(v => (float)v).ToArray(), [6, 3, 5]), lengths: lengths).Y.ToArray();
        TestData.AssertClose<double>(yd, yf.Select(v => (double)v).ToArray(), 2e-5, 1e-4, "output");
        var dxd = ld.Backward(Ten(dy, [6, 3, 74])).DX.ToArray();
        var dxf = lf.Backward(Tensor.Create(dy.Select(v => (float)v).ToArray(), [6, 3, 74])).DX.ToArray();
        TestData.AssertClose<double>(dxd, dxf.Select(v => (double)v).ToArray(), 1e-4, 1e-3, "dInput");
        foreach (var ((name, pd), (_, pf)) in ld.Module.NamedParameters().Zip(lf.Module.NamedParameters()))
            TestData.AssertClose<double>(pd.Grad, pf.Grad.Select(v => (double)v).ToArray(), 1e-4, 1e-3, name);
    }

    // Dropout between layers zeroes a unit with probability p and scales the kept ones by 1/(1−p), so that
    // E[X_1] = Y_0 and evaluation needs no rescaling. Layer 1 here passes its input through unchanged — a
    // ReLU RNN with W_ih = I, W_hh = 0, no bias, reading layer 0's non-negative ReLU output — so the
    // training output is X_1 = Y_0 ⊙ mask itself, and Infer's (no dropout) is Y_0.
    [Fact]
    public void DropoutScalesTheKeptUnitsByOneOverOneMinusP()
    {
        const double p = 0.4;
        const int hid = 6;
        var rnn = new Rnn<double>(3, hid, numLayers: 2, nonlinearity: RnnNonlinearity.Relu, bias: false, dropout: p, rng: new Rng(80));
        var wIh1 = rnn.GetParameter("weight_ih_l1").Data;
        Array.Clear(wIh1);
        for (int j = 0; j < hid; j++) wIh1[j * hid + j] = 1;
        Array.Clear(rnn.GetParameter("weight_hh_l1").Data);
        var x = TestData.Tensor<double>(new Rng(81), 20, 4, 3);
        var y0 = rnn.Infer(x).Output.ToArray();
        var y = rnn.Forward(x).Output.ToArray();
        int kept = 0, dropped = 0;
        for (int i = 0; i < y.Length; i++)
        {
            if (y0[i] == 0) continue;                   // a unit ReLU zeroed says nothing about the mask
            if (y[i] == 0) { dropped++; continue; }
            Assert.Equal(y0[i] / (1 - p), y[i], 1e-13);
            kept++;
        }
        double rate = (double)dropped / (kept + dropped);
        Assert.True(kept + dropped > 150, $"{kept + dropped} informative units");
        Assert.InRange(rate, p - 0.1, p + 0.1);
    }
}
