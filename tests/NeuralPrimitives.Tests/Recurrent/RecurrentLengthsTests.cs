using static NeuralPrimitives.Tests.Recurrent.RecurrentTestUtil;

namespace NeuralPrimitives.Tests.Recurrent;

public class RecurrentLengthsTests
{
    public static TheoryData<RefKind, bool, int> Cases()
    {
        var d = new TheoryData<RefKind, bool, int>();
        foreach (var k in Enum.GetValues<RefKind>()) { d.Add(k, true, 0); d.Add(k, false, 0); }
        d.Add(RefKind.Lstm, true, 2);
        return d;
    }

    /// <summary>One kind of each cell: RNN (tanh), LSTM, GRU.</summary>
    public static TheoryData<RefKind> CellKinds => new() { RefKind.RnnTanh, RefKind.Lstm, RefKind.Gru };

    /// <summary>A cell of <paramref name="kind"/> holding the layer's weights of one layer and direction (<paramref name="sfx"/>: "_l0", "_l1_reverse", …).</summary>
    private static RecurrentCell<double> CellOf(RefKind kind, int inSize, int hid, AnyLayer<double> layer, string sfx)
    {
        RecurrentCell<double> cell = kind switch
        {
            RefKind.Lstm => new LstmCell<double>(inSize, hid),
            RefKind.Gru => new GruCell<double>(inSize, hid),
            _ => new RnnCell<double>(inSize, hid),
        };
        foreach (var (name, p) in cell.NamedParameters()) p.Load(layer.Weight(name + sfx));
        return cell;
    }

    // A padded batch with unsorted lengths gives, for every sequence, exactly what that sequence gives
    // when run alone (output, final states, ∂L/∂input, ∂L/∂h0, ∂L/∂c0), the weight gradients are the
    // sums of the per-sequence ones, and padded positions get zero output and zero input gradient.
    [Theory]
    [MemberData(nameof(Cases))]
    public void PaddedBatchEqualsEachSequenceAlone(RefKind kind, bool bidir, int proj)
    {
        int steps = 5, inF = 3, hid = 4, L = 2;
        int[] lengths = [3, 5, 1, 4];
        int batch = lengths.Length;
        var rng = new Rng(31);
        var batched = AnyLayer<double>.Create(kind, inF, hid, L, bidir, proj: proj, rng: new Rng(30));
        var alone = AnyLayer<double>.Create(kind, inF, hid, L, bidir, proj: proj, rng: new Rng(30));
        int D = batched.D, P = batched.P, S = L * D;
        var x = TestData.Normal(rng, steps * batch * inF);
        var h0 = TestData.Normal(rng, S * batch * P);
        var c0 = TestData.Normal(rng, S * batch * hid);
        var dy = TestData.Normal(rng, steps * batch * D * P);
        var dhN = TestData.Normal(rng, S * batch * P);
        var dcN = TestData.Normal(rng, S * batch * hid);
        bool lstm = batched.IsLstm;

        var (y, hN, cN) = batched.Forward(Ten(x, [steps, batch, inF]), Ten(h0, [S, batch, P]), lstm ? Ten(c0, [S, batch, hid]) : null, lengths);
        var yArr = y.ToArray(); var hNArr = hN.ToArray(); var cNArr = cN?.ToArray();
        var (dx, dh0, dc0) = batched.Backward(Ten(dy, [steps, batch, D * P]), Ten(dhN, [S, batch, P]), lstm ? Ten(dcN, [S, batch, hid]) : null);
        var dxArr = dx.ToArray(); var dh0Arr = dh0.ToArray(); var dc0Arr = dc0?.ToArray();

        for (int b = 0; b < batch; b++)
        {
            int n = lengths[b];
            double[] Seq(double[] a, int f) { var r = new double[n * f]; for (int t = 0; t < n; t++) Array.Copy(a, (t * batch + b) * f, r, t * f, f); return r; }
            double[] State(double[] a, int f) { var r = new double[S * f]; for (int s = 0; s < S; s++) Array.Copy(a, (s * batch + b) * f, r, s * f, f); return r; }
            var (ya, hNa, cNa) = alone.Forward(Ten(Seq(x, inF), [n, 1, inF]), Ten(State(h0, P), [S, 1, P]), lstm ? Ten(State(c0, hid), [S, 1, hid]) : null);
            TestData.AssertClose<double>(ya.ToArray(), Seq(yArr, D * P), 1e-13, 1e-11, $"output of sequence {b}");
            TestData.AssertClose<double>(hNa.ToArray(), State(hNArr, P), 1e-13, 1e-11, $"hN of sequence {b}");
            if (lstm) TestData.AssertClose<double>(cNa!.ToArray(), State(cNArr!, hid), 1e-13, 1e-11, $"cN of sequence {b}");
            var (dxa, dh0a, dc0a) = alone.Backward(Ten(Seq(dy, D * P), [n, 1, D * P]), Ten(State(dhN, P), [S, 1, P]), lstm ? Ten(State(dcN, hid), [S, 1, hid]) : null);
            TestData.AssertClose<double>(dxa.ToArray(), Seq(dxArr, inF), 1e-13, 1e-11, $"dInput of sequence {b}");
            TestData.AssertClose<double>(dh0a.ToArray(), State(dh0Arr, P), 1e-13, 1e-11, $"dh0 of sequence {b}");
            if (lstm) TestData.AssertClose<double>(dc0a!.ToArray(), State(dc0Arr!, hid), 1e-13, 1e-11, $"dc0 of sequence {b}");
            for (int t = n; t < steps; t++)
            {
                Assert.All(yArr.AsSpan((t * batch + b) * D * P, D * P).ToArray(), v => Assert.Equal(0.0, v));
                Assert.All(dxArr.AsSpan((t * batch + b) * inF, inF).ToArray(), v => Assert.Equal(0.0, v));
            }
        }
        // alone accumulated the gradients of all sequences.
        foreach (var ((name, pb), (_, pa)) in batched.Module.NamedParameters().Zip(alone.Module.NamedParameters()))
            TestData.AssertClose<double>(pa.Grad, pb.Grad, 1e-12, 1e-10, name);
    }

    // The layer equals an independent composition of cells unrolled step by step, for a 2-layer
    // bidirectional stack (outputs, final states) and, on one layer, the gradients (one cell per step,
    // same weights, gradients summed over the steps).
    [Theory]
    [MemberData(nameof(CellKinds))]
    public void CellsUnrolledEqualTheLayer(RefKind kind)
    {
        int steps = 4, batch = 2, inF = 3, hid = 5;
        var rng = new Rng(40);
        var layer = AnyLayer<double>.Create(kind, inF, hid, 2, true, rng: rng);
        var x = TestData.Normal(rng, steps * batch * inF);
        var (y, hN, cN) = layer.Forward(Ten(x, [steps, batch, inF]));
        var input = x; int inSize = inF;
        var hNExp = new List<double>(); var cNExp = new List<double>();
        for (int l = 0; l < 2; l++)
        {
            var outL = new double[steps * batch * 2 * hid];
            for (int d = 0; d < 2; d++)
            {
                string sfx = $"_l{l}" + (d == 1 ? "_reverse" : "");
                var step = MakeCell(kind, inSize, hid, layer, sfx);
                Tensor<double> h = Ten(new double[batch * hid], [batch, hid]), c = Ten(new double[batch * hid], [batch, hid]);
                for (int k = 0; k < steps; k++)
                {
                    int t = d == 0 ? k : steps - 1 - k;
                    var xt = Ten(input.AsSpan(t * batch * inSize, batch * inSize).ToArray(), [batch, inSize]);
                    (h, c) = step(xt, h, c);
                    for (int b = 0; b < batch; b++) Array.Copy(h.ToArray(), b * hid, outL, (t * batch + b) * 2 * hid + d * hid, hid);
                }
                hNExp.AddRange(h.ToArray()); cNExp.AddRange(c.ToArray());
            }
            input = outL; inSize = 2 * hid;
        }
        TestData.AssertClose<double>(input, y.AsReadOnlySpan(), 1e-13, 1e-11, "output");
        TestData.AssertClose<double>(hNExp.ToArray(), hN.AsReadOnlySpan(), 1e-13, 1e-11, "hN");
        if (cN is not null) TestData.AssertClose<double>(cNExp.ToArray(), cN.AsReadOnlySpan(), 1e-13, 1e-11, "cN");
    }

    private static Func<Tensor<double>, Tensor<double>, Tensor<double>, (Tensor<double>, Tensor<double>)> MakeCell(
        RefKind kind, int inSize, int hid, AnyLayer<double> layer, string sfx) => CellOf(kind, inSize, hid, layer, sfx) switch
        {
            LstmCell<double> lc => (x, h, c) => { var r = lc.Infer(x, h, c); return (r.H, r.C); },
            GruCell<double> gc => (x, h, c) => (gc.Infer(x, h), c),
            RnnCell<double> rc => (x, h, c) => (rc.Infer(x, h), c),
            _ => throw new InvalidOperationException(),
        };

    [Theory]
    [MemberData(nameof(CellKinds))]
    public void CellsUnrolledEqualTheLayerGradients(RefKind kind)
    {
        int steps = 4, batch = 2, inF = 3, hid = 3;
        var rng = new Rng(50);
        var layer = AnyLayer<double>.Create(kind, inF, hid, rng: rng);
        var x = TestData.Normal(rng, steps * batch * inF);
        var dy = TestData.Normal(rng, steps * batch * hid);
        layer.Forward(Ten(x, [steps, batch, inF]));
        var (dx, dh0, dc0) = layer.Backward(Ten(dy, [steps, batch, hid]));

        // One cell per step with the layer's weights: forward through all, then backward from the last.
        var cells = Enumerable.Range(0, steps).Select(_ => CellOf(kind, inF, hid, layer, "_l0")).ToArray();
        foreach (var cell in cells)
            foreach (var p in cell.Parameters()) p.ZeroGrad();
        Tensor<double> h = Ten(new double[batch * hid], [batch, hid]), c = Ten(new double[batch * hid], [batch, hid]);
        for (int t = 0; t < steps; t++)
        {
            var xt = Ten(x.AsSpan(t * batch * inF, batch * inF).ToArray(), [batch, inF]);
            switch (cells[t])
            {
                case LstmCell<double> lc: { var r = lc.Forward(xt, h, c); h = Ten(r.H.ToArray(), [batch, hid]); c = Ten(r.C.ToArray(), [batch, hid]); break; }
                case GruCell<double> gc: h = Ten(gc.Forward(xt, h).ToArray(), [batch, hid]); break;
                case RnnCell<double> rc: h = Ten(rc.Forward(xt, h).ToArray(), [batch, hid]); break;
            }
        }
        var dxExp = new double[x.Length];
        var dh = new double[batch * hid]; var dc = new double[batch * hid];
        for (int t = steps - 1; t >= 0; t--)
        {
            var dht = dh.Zip(dy.AsSpan(t * batch * hid, batch * hid).ToArray(), (a, b) => a + b).ToArray();
            Tensor<double> dxt;
            switch (cells[t])
            {
                case LstmCell<double> lc: { var r = lc.Backward(Ten(dht, [batch, hid]), Ten(dc, [batch, hid])); dxt = r.DInput; dh = r.DHx.ToArray(); dc = r.DCx.ToArray(); break; }
                case GruCell<double> gc: { var r = gc.Backward(Ten(dht, [batch, hid])); dxt = r.DInput; dh = r.DHx.ToArray(); break; }
                default: { var r = ((RnnCell<double>)cells[t]).Backward(Ten(dht, [batch, hid])); dxt = r.DInput; dh = r.DHx.ToArray(); break; }
            }
            dxt.ToArray().CopyTo(dxExp, t * batch * inF);
        }
        TestData.AssertClose<double>(dxExp, dx.AsReadOnlySpan(), 1e-13, 1e-11, "dInput");
        TestData.AssertClose<double>(dh, dh0.AsReadOnlySpan(), 1e-13, 1e-11, "dh0");
        if (dc0 is not null) TestData.AssertClose<double>(dc, dc0.AsReadOnlySpan(), 1e-13, 1e-11, "dc0");
        foreach (var (name, p) in cells[0].NamedParameters())
        {
            var sum = new double[p.Length];
            foreach (var cell in cells) { var g = cell.GetParameter(name).Grad; for (int i = 0; i < sum.Length; i++) sum[i] += g[i]; }
            TestData.AssertClose<double>(sum, layer.Module.GetParameter(name + "_l0").Grad, 1e-12, 1e-10, name);
        }
    }
}
