namespace NeuralPrimitives.Tests.Recurrent;

public class RecurrentCellTests
{
    private static Tensor<double> T2(double[] a, int r, int c) => Tensor.Create(a, [r, c]);

    private static double[] Row(double[] a, int row, int n) => a.AsSpan(row * n, n).ToArray();

    private delegate (Tensor<double> H, Tensor<double>? C) CellStep(Tensor<double> x, Tensor<double> h, Tensor<double>? c);

    /// <summary>
    /// On random x, h (and c for the LSTM) drawn from <paramref name="rng"/>, every row of <paramref name="forward"/>'s
    /// and of <paramref name="infer"/>'s h' (and c') equals the reference step with the cell's weights.
    /// </summary>
    private static void AssertStepMatchesReference(RefKind kind, RecurrentCell<double> cell, Rng rng, int batch, CellStep forward, CellStep infer)
    {
        int inF = cell.InputSize, hid = cell.HiddenSize;
        var x = TestData.Normal(rng, batch * inF);
        var h = TestData.Normal(rng, batch * hid);
        var c = kind == RefKind.Lstm ? TestData.Normal(rng, batch * hid) : null;
        var (fh, fc) = forward(T2(x, batch, inF), T2(h, batch, hid), c is null ? null : T2(c, batch, hid));
        var (ih, ic) = infer(T2(x, batch, inF), T2(h, batch, hid), c is null ? null : T2(c, batch, hid));
        double[] yh = fh.ToArray(), yih = ih.ToArray();
        for (int b = 0; b < batch; b++)
        {
            var (eh, ec) = RecurrentReference.Step(kind, Row(x, b, inF), Row(h, b, hid), c is null ? null : Row(c, b, hid),
                cell.WeightIh.Data, cell.WeightHh.Data, cell.BiasIh?.Data, cell.BiasHh?.Data, null, hid);
            TestData.AssertClose<double>(eh, Row(yh, b, hid), 1e-12, 1e-12, "h'");
            TestData.AssertClose<double>(eh, Row(yih, b, hid), 1e-12, 1e-12, "infer h'");
            if (ec is null) continue;
            TestData.AssertClose<double>(ec, Row(fc!.ToArray(), b, hid), 1e-12, 1e-12, "c'");
            TestData.AssertClose<double>(ec, Row(ic!.ToArray(), b, hid), 1e-12, 1e-12, "infer c'");
        }
    }

    [NpProperty(MaxTest = 15)]
    public void RnnCellForwardMatchesReference(SmallDim batch, SmallDim inF, SmallDim hid, bool relu, bool bias, Seed seed)
    {
        var rng = seed.Rng();
        var cell = new RnnCell<double>(inF, hid, bias, relu ? RnnNonlinearity.Relu : RnnNonlinearity.Tanh, rng);
        AssertStepMatchesReference(relu ? RefKind.RnnRelu : RefKind.RnnTanh, cell, rng, batch,
            (x, h, _) => (cell.Forward(x, h), null), (x, h, _) => (cell.Infer(x, h), null));
    }

    [NpProperty(MaxTest = 15)]
    public void LstmCellForwardMatchesReference(SmallDim batch, SmallDim inF, SmallDim hid, bool bias, Seed seed)
    {
        var rng = seed.Rng();
        var cell = new LstmCell<double>(inF, hid, bias, rng);
        AssertStepMatchesReference(RefKind.Lstm, cell, rng, batch, (x, h, c) => cell.Forward(x, h, c), (x, h, c) => cell.Infer(x, h, c));
    }

    [NpProperty(MaxTest = 15)]
    public void GruCellForwardMatchesReference(SmallDim batch, SmallDim inF, SmallDim hid, bool bias, Seed seed)
    {
        var rng = seed.Rng();
        var cell = new GruCell<double>(inF, hid, bias, rng);
        AssertStepMatchesReference(RefKind.Gru, cell, rng, batch, (x, h, _) => (cell.Forward(x, h), null), (x, h, _) => (cell.Infer(x, h), null));
    }

    [Fact]
    public void UnbatchedRowIsABatchOfOne()
    {
        // PyTorch's 1-D cell input: x [I], h [H] (and c [H]) give h' [H]; the numbers are those of B = 1.
        const int I = 3, H = 4;
        var rng = new Rng(41);
        double[] x = TestData.Normal(rng, I), h = TestData.Normal(rng, H), c = TestData.Normal(rng, H), dh = TestData.Normal(rng, H), dc = TestData.Normal(rng, H);
        Tensor<double> V(double[] a) => Tensor.Create(a, [a.Length]);
        Tensor<double> M(double[] a) => Tensor.Create(a, [1, a.Length]);
        void Same(Tensor<double> unbatched, Tensor<double> batched)
        {
            Assert.Equal(1, unbatched.Rank);
            Assert.Equal(batched.ToArray(), unbatched.ToArray());
        }

        var rnn = new RnnCell<double>(I, H, rng: new Rng(1));
        var rnnB = new RnnCell<double>(I, H, rng: new Rng(1));
        Same(rnn.Infer(V(x), V(h)), rnnB.Infer(M(x), M(h)));
        Same(rnn.Forward(V(x), V(h)), rnnB.Forward(M(x), M(h)));
        var (rdx, rdh) = rnn.Backward(V(dh));
        var (rbdx, rbdh) = rnnB.Backward(M(dh));
        Same(rdx, rbdx); Same(rdh, rbdh);
        Assert.Equal(rnnB.WeightHh.Grad.ToArray(), rnn.WeightHh.Grad.ToArray());

        var lstm = new LstmCell<double>(I, H, rng: new Rng(2));
        var lstmB = new LstmCell<double>(I, H, rng: new Rng(2));
        var (ih, ic) = lstm.Infer(V(x), V(h), V(c));
        var (ibh, ibc) = lstmB.Infer(M(x), M(h), M(c));
        Same(ih, ibh); Same(ic, ibc);
        var (fh, fc) = lstm.Forward(V(x), V(h), V(c));
        var (fbh, fbc) = lstmB.Forward(M(x), M(h), M(c));
        Same(fh, fbh); Same(fc, fbc);
        var (ldx, ldh, ldc) = lstm.Backward(V(dh), V(dc));
        var (lbdx, lbdh, lbdc) = lstmB.Backward(M(dh), M(dc));
        Same(ldx, lbdx); Same(ldh, lbdh); Same(ldc, lbdc);
        Assert.Equal(lstmB.WeightIh.Grad.ToArray(), lstm.WeightIh.Grad.ToArray());

        var gru = new GruCell<double>(I, H, rng: new Rng(3));
        var gruB = new GruCell<double>(I, H, rng: new Rng(3));
        Same(gru.Infer(V(x)), gruB.Infer(M(x)));
        Same(gru.Forward(V(x), V(h)), gruB.Forward(M(x), M(h)));
        var (gdx, gdh) = gru.Backward(V(dh));
        var (gbdx, gbdh) = gruB.Backward(M(dh));
        Same(gdx, gbdx); Same(gdh, gbdh);
        Assert.Equal(gruB.BiasHh!.Grad.ToArray(), gru.BiasHh!.Grad.ToArray());

        // An unbatched input takes an unbatched state, and backward the gradient of the unbatched output.
        var ex = Assert.ThrowsAny<ArgumentException>(() => gru.Forward(V(x), M(h)));
        Assert.Equal("hx", ex.ParamName);
        Assert.Contains("expected [4]", ex.Message);
        gru.Forward(V(x));
        ex = Assert.ThrowsAny<ArgumentException>(() => gru.Backward(M(dh)));
        Assert.Equal("dH", ex.ParamName);
        Assert.Contains("expected [4], got [1, 4]", ex.Message);
        ex = Assert.ThrowsAny<ArgumentException>(() => gru.Forward(V([1.0, 2.0])));
        Assert.Equal("input", ex.ParamName);
        Assert.Contains("[3]; got [2]", ex.Message);
    }

    [Fact]
    public void NullStateMeansZeros()
    {
        var rng = new Rng(4);
        var lstm = new LstmCell<double>(3, 4, rng: rng);
        var x = TestData.Tensor<double>(rng, 2, 3);
        var zeros = Tensor.Create(new double[8], [2, 4]);
        var a = lstm.Infer(x);
        var b = lstm.Infer(x, zeros, zeros);
        Assert.Equal(b.H.ToArray(), a.H.ToArray());
        Assert.Equal(b.C.ToArray(), a.C.ToArray());
        var gru = new GruCell<double>(3, 4, rng: rng);
        Assert.Equal(gru.Infer(x, zeros).ToArray(), gru.Infer(x).ToArray());
    }

    private static GradientCheckProblem CellProblem(Module<double> cell, int batch, int inF, int hid, bool lstm, Rng rng,
        Func<Tensor<double>, Tensor<double>, Tensor<double>, double[][]> forward,
        Func<double[][], double[][]> backward, out double[] x, out double[] h, out double[] c)
    {
        var xx = x = TestData.Normal(rng, batch * inF);
        var hh = h = TestData.Normal(rng, batch * hid);
        var cc = c = TestData.Normal(rng, batch * hid);
        var inputs = new List<(string, double[])> { ("input", xx), ("hx", hh) };
        if (lstm) inputs.Add(("cx", cc));
        return new GradientCheckProblem
        {
            Inputs = inputs,
            Parameters = cell.NamedParameters().ToList(),
            Forward = () => forward(T2(xx, batch, inF), T2(hh, batch, hid), T2(cc, batch, hid)),
            Backward = d =>
            {
                forward(T2(xx, batch, inF), T2(hh, batch, hid), T2(cc, batch, hid));
                return backward(d);
            },
        };
    }

    [NpProperty(MaxTest = 10)]
    public void RnnCellGradientCheck(SmallDim batch, SmallDim inF, SmallDim hid, bool relu, bool bias, Seed seed)
    {
        var rng = seed.Rng();
        var cell = new RnnCell<double>(inF, hid, bias, relu ? RnnNonlinearity.Relu : RnnNonlinearity.Tanh, rng);
        var p = CellProblem(cell, batch, inF, hid, false, rng,
            (x, h, _) => [cell.Forward(x, h).ToArray()],
            d => { var (dx, dh) = cell.Backward(T2(d[0], batch, hid)); return [dx.ToArray(), dh.ToArray()]; }, out _, out _, out _);
        var r = GradientCheck.Run(p);
        Assert.True(r.Passed, r.ToString());
        Assert.Equal(bias ? 6 : 4, r.Tensors.Count);
    }

    [NpProperty(MaxTest = 10)]
    public void LstmCellGradientCheck(SmallDim batch, SmallDim inF, SmallDim hid, bool bias, bool withDc, Seed seed)
    {
        var rng = seed.Rng();
        var cell = new LstmCell<double>(inF, hid, bias, rng);
        var p = CellProblem(cell, batch, inF, hid, true, rng,
            (x, h, c) => { var (yh, yc) = cell.Forward(x, h, c); return withDc ? [yh.ToArray(), yc.ToArray()] : [yh.ToArray()]; },
            d =>
            {
                var (dx, dh, dc) = cell.Backward(T2(d[0], batch, hid), withDc ? T2(d[1], batch, hid) : null);
                return [dx.ToArray(), dh.ToArray(), dc.ToArray()];
            }, out _, out _, out _);
        var r = GradientCheck.Run(p);
        Assert.True(r.Passed, r.ToString());
    }

    [NpProperty(MaxTest = 10)]
    public void GruCellGradientCheck(SmallDim batch, SmallDim inF, SmallDim hid, bool bias, Seed seed)
    {
        var rng = seed.Rng();
        var cell = new GruCell<double>(inF, hid, bias, rng);
        var p = CellProblem(cell, batch, inF, hid, false, rng,
            (x, h, _) => [cell.Forward(x, h).ToArray()],
            d => { var (dx, dh) = cell.Backward(T2(d[0], batch, hid)); return [dx.ToArray(), dh.ToArray()]; }, out _, out _, out _);
        var r = GradientCheck.Run(p);
        Assert.True(r.Passed, r.ToString());
    }

    [Fact]
    public void CellParametersHavePyTorchNamesShapesAndInit()
    {
        var lstm = new LstmCell<float>(5, 7, rng: new Rng(1));
        Assert.Equal(["weight_ih", "weight_hh", "bias_ih", "bias_hh"], lstm.NamedParameters().Select(p => p.Name));
        Assert.Equal([28, 5], lstm.WeightIh.Shape.ToArray());
        Assert.Equal([28, 7], lstm.WeightHh.Shape.ToArray());
        var gru = new GruCell<float>(5, 7, bias: false, rng: new Rng(1));
        Assert.Equal(["weight_ih", "weight_hh"], gru.NamedParameters().Select(p => p.Name));
        Assert.Equal([21, 5], gru.WeightIh.Shape.ToArray());
        var rnn = new RnnCell<float>(5, 7, rng: new Rng(1));
        Assert.Equal([7, 5], rnn.WeightIh.Shape.ToArray());
        float bound = 1 / MathF.Sqrt(7);
        foreach (var p in lstm.Parameters().Concat(gru.Parameters()).Concat(rnn.Parameters()))
        {
            Assert.All(p.Data, v => Assert.InRange(v, -bound, bound));
            if (p.Length >= 28) Assert.True(p.Data.Max() > bound * 0.5f && p.Data.Min() < -bound * 0.5f, $"{p} uses the full range U(±1/√H)");
        }
    }

    [Fact]
    public void CellBadInputNamesArgumentExpectedAndActual()
    {
        var cell = new LstmCell<double>(3, 4, rng: new Rng(1));
        var ex = Assert.Throws<ArgumentException>(() => cell.Forward(Tensor.Create(new double[10], [2, 5])));
        Assert.Equal("input", ex.ParamName);
        Assert.Contains("3]", ex.Message); Assert.Contains("[2, 5]", ex.Message);
        var x = Tensor.Create(new double[6], [2, 3]);
        ex = Assert.Throws<ArgumentException>(() => cell.Forward(x, Tensor.Create(new double[12], [3, 4])));
        Assert.Equal("hx", ex.ParamName);
        Assert.Contains("[2, 4]", ex.Message); Assert.Contains("[3, 4]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => cell.Forward(x, null, Tensor.Create(new double[10], [2, 5])));
        Assert.Equal("cx", ex.ParamName);
        var rnn = new RnnCell<double>(3, 4, rng: new Rng(1));
        Assert.Throws<InvalidOperationException>(() => rnn.Backward(Tensor.Create(new double[8], [2, 4])));
        rnn.Forward(x);
        ex = Assert.Throws<ArgumentException>(() => rnn.Backward(Tensor.Create(new double[4], [1, 4])));
        Assert.Equal("dH", ex.ParamName);
        var gru = new GruCell<double>(3, 4, rng: new Rng(1));
        ex = Assert.Throws<ArgumentException>(() => gru.Forward(Tensor.Create(new double[3], [1, 1, 3])));   // rank 3
        Assert.Equal("input", ex.ParamName);
        Assert.Contains("[1, 1, 3]", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new GruCell<double>(0, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RnnCell<double>(3, 4, nonlinearity: (RnnNonlinearity)7));
    }

    [Fact]
    public void ReturnedStateCanBePassedBackIn()
    {
        // h = cell.Forward(x, h) with the module-owned result passed straight back (inputs are copied first).
        var rng = new Rng(9);
        var lstm = new LstmCell<double>(3, 4, rng: rng);
        var gru = new GruCell<double>(3, 4, rng: rng);
        var rnn = new RnnCell<double>(3, 4, rng: rng);
        var xs = Enumerable.Range(0, 4).Select(_ => TestData.Tensor<double>(rng, 2, 3)).ToArray();
        Tensor<double>? h = null, c = null, hg = null, hr = null;
        Tensor<double>? eh = null, ec = null, ehg = null, ehr = null;
        foreach (var x in xs)
        {
            (h, c) = lstm.Forward(x, h, c);
            (eh, ec) = lstm.Infer(x, eh, ec);
            hg = gru.Forward(x, hg); ehg = gru.Infer(x, ehg);
            hr = rnn.Forward(x, hr); ehr = rnn.Infer(x, ehr);
        }
        Assert.Equal(eh!.ToArray(), h!.ToArray());
        Assert.Equal(ec!.ToArray(), c!.ToArray());
        Assert.Equal(ehg!.ToArray(), hg!.ToArray());
        Assert.Equal(ehr!.ToArray(), hr!.ToArray());
    }
}
