using System.Text.Json;

namespace NeuralPrimitives.Tests.Recurrent;

// PyTorch fixtures (tests/reference/fixtures_recurrent.py → Fixtures/recurrent_*.json): nn.RNN (tanh,
// relu), nn.LSTM (with and without proj_size), nn.GRU; 2 layers, bidirectional, batch-first and
// sequence-first, with and without h0/c0, with unsorted lengths (pack_padded_sequence); and the *_wide
// cases, H = 37 or 19, whose rows run the step equations' vector body and scalar tail at every vector
// width (the CI reruns these tests without AVX-512, without AVX2 and without SIMD).
// Weights are loaded by PyTorch's state_dict names; the loss of the fixture is
//   L = Σ R_out ⊙ output + Σ R_h ⊙ h_n (+ Σ R_c ⊙ c_n)
// so Backward(R_out, R_h[, R_c]) must return PyTorch's grad.input, grad.h0 (grad.c0) and accumulate
// grad.<name> into every parameter. Expected values are PyTorch's, never ours.
public class RecurrentFixtureTests
{
    private static readonly string[] SmallNames =
    [
        "rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru", "gru_nobias_unidir",
        "rnn_tanh_lengths", "lstm_lengths", "lstm_proj_lengths", "gru_lengths",
    ];

    private static readonly string[] WideNames = ["rnn_tanh_wide", "rnn_relu_wide", "lstm_wide", "lstm_proj_wide", "gru_wide"];

    /// <summary>The H = 3 cases (these also carry PyTorch's gradient-clipping results).</summary>
    public static TheoryData<string> Cases => new(SmallNames);

    public static TheoryData<string> AllCases => new(SmallNames.Concat(WideNames));

    [Theory]
    [MemberData(nameof(AllCases))]
    public void DoubleMatchesPyTorch(string name) => Check<double>(name, atol: 1e-10, rtol: 1e-9, twice: true);

    [Theory]
    [MemberData(nameof(AllCases))]
    public void FloatMatchesPyTorch(string name) => Check<float>(name, atol: 1e-4, rtol: 1e-4, twice: false);

    // One forward/backward of whichever layer the fixture describes, with arrays in and out.
    private sealed record Result<T>(T[] Output, T[] HN, T[]? CN);

    private sealed class Runner<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public required Module<T> Module { get; init; }
        public required Func<Tensor<T>, Tensor<T>?, Tensor<T>?, int[]?, Result<T>> Forward { get; init; }
        public required Func<Tensor<T>, Tensor<T>?, Tensor<T>?, int[]?, Result<T>> Infer { get; init; }
        public required Func<Tensor<T>, Tensor<T>, Tensor<T>?, Result<T>> Backward { get; init; }
    }

    private static Runner<T> Build<T>(JsonElement meta) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        string mode = meta.GetProperty("mode").GetString()!;
        int inputSize = meta.GetProperty("input_size").GetInt32();
        int hiddenSize = meta.GetProperty("hidden_size").GetInt32();
        int numLayers = meta.GetProperty("num_layers").GetInt32();
        bool bidirectional = meta.GetProperty("bidirectional").GetBoolean();
        bool batchFirst = meta.GetProperty("batch_first").GetBoolean();
        bool bias = meta.GetProperty("bias").GetBoolean();
        var rng = new Rng(99); // overwritten by the fixture's weights
        static T[] A(Tensor<T> t) => t.ToArray();
        switch (mode)
        {
            case "RNN":
            {
                var nl = meta.GetProperty("nonlinearity").GetString() == "relu" ? RnnNonlinearity.Relu : RnnNonlinearity.Tanh;
                var m = new Rnn<T>(inputSize, hiddenSize, numLayers: numLayers, nonlinearity: nl, bias: bias,
                    batchFirst: batchFirst, bidirectional: bidirectional, rng: rng);
                return new Runner<T>
                {
                    Module = m,
                    Forward = (x, h0, _, len) => { var (o, h) = m.Forward(x, h0, len); return new(A(o), A(h), null); },
                    Infer = (x, h0, _, len) => { var (o, h) = m.Infer(x, h0, len); return new(A(o), A(h), null); },
                    Backward = (dy, dh, _) => { var (dx, dh0) = m.Backward(dy, dh); return new(A(dx), A(dh0), null); },
                };
            }
            case "LSTM":
            {
                int projSize = meta.GetProperty("proj_size").GetInt32();
                var m = new Lstm<T>(inputSize, hiddenSize, numLayers: numLayers, bias: bias, batchFirst: batchFirst,
                    bidirectional: bidirectional, projSize: projSize, rng: rng);
                return new Runner<T>
                {
                    Module = m,
                    Forward = (x, h0, c0, len) => { var (o, h, c) = m.Forward(x, h0, c0, len); return new(A(o), A(h), A(c)); },
                    Infer = (x, h0, c0, len) => { var (o, h, c) = m.Infer(x, h0, c0, len); return new(A(o), A(h), A(c)); },
                    Backward = (dy, dh, dc) => { var (dx, dh0, dc0) = m.Backward(dy, dh, dc); return new(A(dx), A(dh0), A(dc0)); },
                };
            }
            case "GRU":
            {
                var m = new Gru<T>(inputSize, hiddenSize, numLayers: numLayers, bias: bias, batchFirst: batchFirst,
                    bidirectional: bidirectional, rng: rng);
                return new Runner<T>
                {
                    Module = m,
                    Forward = (x, h0, _, len) => { var (o, h) = m.Forward(x, h0, len); return new(A(o), A(h), null); },
                    Infer = (x, h0, _, len) => { var (o, h) = m.Infer(x, h0, len); return new(A(o), A(h), null); },
                    Backward = (dy, dh, _) => { var (dx, dh0) = m.Backward(dy, dh); return new(A(dx), A(dh0), null); },
                };
            }
            default:
                throw new InvalidOperationException($"Unknown fixture mode {mode}.");
        }
    }

    /// <summary>A fixture's inputs (Forward(X, H0, C0, Lengths)) and loss weights (Backward(ROut, RH, RC)).</summary>
    private sealed record Inputs<T>(Tensor<T> X, Tensor<T>? H0, Tensor<T>? C0, int[]? Lengths, Tensor<T> ROut, Tensor<T> RH, Tensor<T>? RC)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public static Inputs<T> Load(Fixture f) => new(
            f.Tensor<T>("input"), Optional(f, "h0"), Optional(f, "c0"), f.Has("lengths") ? f.Ints("lengths") : null,
            f.Tensor<T>("R_out"), f.Tensor<T>("R_h"), Optional(f, "R_c"));

        private static Tensor<T>? Optional(Fixture f, string key) => f.Has(key) ? f.Tensor<T>(key) : null;
    }

    private static void Check<T>(string name, double atol, double rtol, bool twice) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var f = Fixture.Load("recurrent_" + name);
        var meta = f.Meta;
        var r = Build<T>(meta);
        bool lstm = meta.GetProperty("mode").GetString() == "LSTM";

        // Parameter names and order are exactly PyTorch's state_dict keys.
        var torchNames = meta.GetProperty("param_names").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(torchNames, r.Module.NamedParameters().Select(np => np.Name).ToArray());
        foreach (var pn in torchNames)
        {
            var p = r.Module.GetParameter(pn);
            Assert.Equal(f.Shape(pn), p.Shape.ToArray());
            p.Load(f.Tensor<T>(pn).AsReadOnlySpan());
        }

        var (x, h0, c0, lengths, rOut, rH, rC) = Inputs<T>.Load(f);
        Assert.Equal(lstm, rC is not null);

        void Compare(string key, ReadOnlySpan<T> actual, double scale = 1)
        {
            var expected = Array.ConvertAll(f.Data(key), v => T.CreateTruncating(v * scale));
            TestData.AssertClose<T>(expected, actual, atol * scale, rtol, $"{name} {typeof(T).Name} {key}");
        }

        var fwd = r.Forward(x, h0, c0, lengths);
        Compare("output", fwd.Output);
        Compare("h_n", fwd.HN);
        if (lstm) Compare("c_n", fwd.CN);

        var bwd = r.Backward(rOut, rH, rC);
        Compare("grad.input", bwd.Output);
        Compare("grad.h0", bwd.HN);
        if (lstm) Compare("grad.c0", bwd.CN);
        foreach (var pn in torchNames) Compare("grad." + pn, r.Module.GetParameter(pn).Grad);

        // The inference path gives the same outputs (dropout is 0, so train/eval agree).
        r.Module.Eval();
        var inf = r.Infer(x, h0, c0, lengths);
        Compare("output", inf.Output);
        Compare("h_n", inf.HN);
        if (lstm) Compare("c_n", inf.CN);
        r.Module.Train();

        if (twice)
        {
            // A second step without ZeroGrad accumulates (2× PyTorch's gradient); the returned
            // input/state gradients are not accumulated.
            r.Forward(x, h0, c0, lengths);
            var again = r.Backward(rOut, rH, rC);
            Compare("grad.input", again.Output);
            Compare("grad.h0", again.HN);
            foreach (var pn in torchNames) Compare("grad." + pn, r.Module.GetParameter(pn).Grad, scale: 2);
            r.Module.ZeroGrad();
            r.Forward(x, h0, c0, lengths);
            r.Backward(rOut, rH, rC);
            foreach (var pn in torchNames) Compare("grad." + pn, r.Module.GetParameter(pn).Grad);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientClippingOfLayerGradientsMatchesPyTorch(string name)
    {
        // clip_grad_norm_(module.parameters(), 0.05, p) on the fixture's gradients: PyTorch's returned norms
        // for p = 1, ∞ (measured with maxNorm = ∞, which never clips) and p = 2, then the clipped gradients.
        var f = Fixture.Load("recurrent_" + name);
        var r = Build<double>(f.Meta);
        var names = r.Module.NamedParameters().Select(np => np.Name).ToArray();
        foreach (var pn in names) r.Module.GetParameter(pn).Load(f.Data(pn));
        bool lstm = f.Has("R_c");
        r.Forward(f.Tensor<double>("input"), f.Has("h0") ? f.Tensor<double>("h0") : null, f.Has("c0") ? f.Tensor<double>("c0") : null,
            f.Has("lengths") ? f.Ints("lengths") : null);
        r.Backward(f.Tensor<double>("R_out"), f.Tensor<double>("R_h"), lstm ? f.Tensor<double>("R_c") : null);

        Assert.Equal(f.Data("clip.total_norm_1")[0], GradientClipping.ClipGradNorm(r.Module.Parameters(), double.PositiveInfinity, 1), 1e-10);
        Assert.Equal(f.Data("clip.total_norm_inf")[0], GradientClipping.ClipGradNorm(r.Module.Parameters(), double.PositiveInfinity, double.PositiveInfinity), 1e-10);
        foreach (var pn in names) TestData.AssertClose<double>(f.Data("grad." + pn), r.Module.GetParameter(pn).Grad, 1e-10, 1e-9, $"{name} unclipped grad.{pn}");
        Assert.Equal(f.Data("clip.total_norm_2")[0], GradientClipping.ClipGradNorm(r.Module.Parameters(), 0.05), 1e-10);
        foreach (var pn in names)
            TestData.AssertClose<double>(f.Data("clipped.grad." + pn), r.Module.GetParameter(pn).Grad, 1e-12, 1e-9, $"{name} clipped.grad.{pn}");
    }

    public static TheoryData<string> CellCases => new() { "cell_rnn_tanh", "cell_rnn_relu", "cell_lstm", "cell_lstm_nohx", "cell_gru" };

    [Theory]
    [MemberData(nameof(CellCases))]
    public void CellDoubleMatchesPyTorch(string name) => CheckCell<double>(name, atol: 1e-12, rtol: 1e-10);

    [Theory]
    [MemberData(nameof(CellCases))]
    public void CellFloatMatchesPyTorch(string name) => CheckCell<float>(name, atol: 1e-5, rtol: 1e-4);

    // One step of RnnCell / LstmCell / GruCell against nn.RNNCell / nn.LSTMCell / nn.GRUCell:
    // L = Σ R_h ⊙ h' (+ Σ R_c ⊙ c'), so Backward(R_h[, R_c]) must return grad.input, grad.hx (grad.cx).
    private static void CheckCell<T>(string name, double atol, double rtol) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var f = Fixture.Load("recurrent_" + name);
        var meta = f.Meta;
        string mode = meta.GetProperty("mode").GetString()!;
        int inputSize = meta.GetProperty("input_size").GetInt32(), hiddenSize = meta.GetProperty("hidden_size").GetInt32();
        bool bias = meta.GetProperty("bias").GetBoolean();
        var rng = new Rng(98);
        var x = f.Tensor<T>("input");
        var hx = f.Has("hx") ? f.Tensor<T>("hx") : null;
        var cx = f.Has("cx") ? f.Tensor<T>("cx") : null;
        void Compare(string key, ReadOnlySpan<T> actual) =>
            TestData.AssertClose<T>(Array.ConvertAll(f.Data(key), v => T.CreateTruncating(v)), actual, atol, rtol, $"{name} {typeof(T).Name} {key}");

        Module<T> module;
        Func<(T[] H, T[]? C)> forward, infer;
        Func<(T[] DInput, T[] DHx, T[]? DCx)> backward;
        switch (mode)
        {
            case "RNNCell":
            {
                var nl = meta.GetProperty("nonlinearity").GetString() == "relu" ? RnnNonlinearity.Relu : RnnNonlinearity.Tanh;
                var m = new RnnCell<T>(inputSize, hiddenSize, bias, nl, rng);
                module = m;
                forward = () => (m.Forward(x, hx).ToArray(), null);
                infer = () => (m.Infer(x, hx).ToArray(), null);
                backward = () => { var (dx, dh) = m.Backward(f.Tensor<T>("R_h")); return (dx.ToArray(), dh.ToArray(), null); };
                break;
            }
            case "LSTMCell":
            {
                var m = new LstmCell<T>(inputSize, hiddenSize, bias, rng);
                module = m;
                forward = () => { var (h, c) = m.Forward(x, hx, cx); return (h.ToArray(), c.ToArray()); };
                infer = () => { var (h, c) = m.Infer(x, hx, cx); return (h.ToArray(), c.ToArray()); };
                backward = () => { var (dx, dh, dc) = m.Backward(f.Tensor<T>("R_h"), f.Tensor<T>("R_c")); return (dx.ToArray(), dh.ToArray(), dc.ToArray()); };
                break;
            }
            default:
            {
                var m = new GruCell<T>(inputSize, hiddenSize, bias, rng);
                module = m;
                forward = () => (m.Forward(x, hx).ToArray(), null);
                infer = () => (m.Infer(x, hx).ToArray(), null);
                backward = () => { var (dx, dh) = m.Backward(f.Tensor<T>("R_h")); return (dx.ToArray(), dh.ToArray(), null); };
                break;
            }
        }

        var torchNames = meta.GetProperty("param_names").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(torchNames, module.NamedParameters().Select(np => np.Name).ToArray());
        foreach (var pn in torchNames) module.GetParameter(pn).Load(f.Tensor<T>(pn).AsReadOnlySpan());

        var (h1, c1) = forward();
        Compare("h", h1);
        if (c1 is not null) Compare("c", c1);
        var (dInput, dHx, dCx) = backward();
        Compare("grad.input", dInput);
        Compare("grad.hx", dHx);
        if (dCx is not null) Compare("grad.cx", dCx);
        foreach (var pn in torchNames) Compare("grad." + pn, module.GetParameter(pn).Grad);
        var (h2, c2) = infer();
        Compare("h", h2);
        if (c2 is not null) Compare("c", c2);
    }

    [Theory]
    [InlineData("rnn_tanh_lengths")]
    [InlineData("lstm_proj_lengths")]
    [InlineData("lstm")]
    [InlineData("gru")]
    public void TrainingStepAllocatesNothingAfterWarmUp(string name)
    {
        // Forward + Backward on the fixture's configuration (2 layers, bidirectional, lengths, h0/c0
        // where the fixture has them): identical steps after warm-up must allocate 0 bytes.
        // (ZeroGrad is left out: Module.ZeroGrad walks NamedParameters() through iterators, ~176 B per call.)
        var f = Fixture.Load("recurrent_" + name);
        var meta = f.Meta;
        var (x, h0, c0, lengths, rOut, rH, rC) = Inputs<float>.Load(f);
        int I = meta.GetProperty("input_size").GetInt32(), H = meta.GetProperty("hidden_size").GetInt32();
        bool bf = meta.GetProperty("batch_first").GetBoolean();
        Action step = meta.GetProperty("mode").GetString() switch
        {
            "RNN" => new Rnn<float>(I, H, numLayers: 2, batchFirst: bf, bidirectional: true, rng: new Rng(1)) is var m
                ? () => { m.Forward(x, h0, lengths); m.Backward(rOut, rH); } : null!,
            "LSTM" => new Lstm<float>(I, H, numLayers: 2, batchFirst: bf, bidirectional: true,
                    projSize: meta.GetProperty("proj_size").GetInt32(), rng: new Rng(1)) is var m2
                ? () => { m2.Forward(x, h0, c0, lengths); m2.Backward(rOut, rH, rC); } : null!,
            _ => new Gru<float>(I, H, numLayers: 2, batchFirst: bf, bidirectional: true, rng: new Rng(1)) is var m3
                ? () => { m3.Forward(x, h0, lengths); m3.Backward(rOut, rH); } : null!,
        };
        long allocated = Allocations.SteadyStateBytes(step, warmup: 10, steps: 5);
        Assert.True(allocated == 0, $"{name}: 5 Forward+Backward steps after warm-up allocated {allocated} bytes (expected 0).");
    }

    [Fact]
    public void PaddedOutputsPastEachLengthAreZeroInTheFixturesAndInOurs()
    {
        // Guards the fixture itself (pad_packed_sequence zero-fills) and our layer's contract.
        var f = Fixture.Load("recurrent_gru_lengths");
        var r = Build<double>(f.Meta);
        foreach (var pn in r.Module.NamedParameters().Select(np => np.Name)) r.Module.GetParameter(pn).Load(f.Data(pn));
        var lengths = f.Ints("lengths");
        var shape = f.Shape("output"); // batch-first [B, T, D·H]
        var ours = r.Forward(f.Tensor<double>("input"), null, null, lengths).Output;
        var theirs = f.Data("output");
        int steps = shape[1], width = shape[2];
        for (int b = 0; b < shape[0]; b++)
            for (int t = lengths[b]; t < steps; t++)
                for (int j = 0; j < width; j++)
                {
                    Assert.Equal(0.0, theirs[(b * steps + t) * width + j]);
                    Assert.Equal(0.0, ours[(b * steps + t) * width + j]);
                }
        Assert.Contains(lengths, n => n < steps); // the case really has padding
    }
}
