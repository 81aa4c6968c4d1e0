// ReferenceBptt (the teaching BPTT: a loop of LstmCell steps) backs the fast engine the way
// Gemm.Reference backs the fast GEMM: on random configurations the Lstm layer must give the same
// outputs, states and gradients. The reference shares the step equations with the engine (LstmStep),
// so this checks the engine's machinery: the time loop, the carries, the weight-gradient products.
// The step equations themselves are checked by central differences and the PyTorch fixtures.
//
// Truncated BPTT (a long sequence in chunks, each starting from the state the previous one returned,
// the gradient stopped at each chunk's start) is checked exactly twice: against the reference run
// chunk by chunk, and against central differences of Σ_k L_k(θ; s_k) with every carried state s_k
// held fixed — the definition of the truncated gradient, independent of any backward code.
using static NeuralPrimitives.Tests.Recurrent.RecurrentTestUtil;
using static NeuralPrimitives.Tests.Support.BadArgument;

namespace NeuralPrimitives.Tests.Recurrent;

public class ReferenceBpttTests
{
    /// <summary>A one-step cell with the layer's first-layer weights (weight_ih_l0 → weight_ih, …).</summary>
    private static LstmCell<double> CellOf(Lstm<double> lstm)
    {
        var cell = new LstmCell<double>(lstm.InputSize, lstm.HiddenSize, lstm.HasBias, new Rng(0));
        foreach (var (name, p) in cell.NamedParameters()) p.Load(lstm.GetParameter(name + "_l0").Data);
        return cell;
    }

    private static void Same(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what) =>
        TestData.AssertClose(expected, actual, 1e-12, 1e-10, what);

    private static void SameGradients(LstmCell<double> cell, Lstm<double> lstm)
    {
        foreach (var (name, p) in cell.NamedParameters())
            Same(p.Grad, lstm.GetParameter(name + "_l0").Grad, "grad." + name);
    }

    [NpProperty(MaxTest = 25)]
    public void LstmLayerEqualsReferenceBptt(SmallDim steps, SmallDim batch, SmallDim inF, Dim hidden, bool bias, bool withState, bool withFinalGradients, Seed seed)
    {
        var rng = seed.Rng();
        int T = steps, B = batch, I = inF, H = hidden;
        var lstm = new Lstm<double>(I, H, bias: bias, rng: rng);
        var cell = CellOf(lstm);
        var x = TestData.Normal(rng, T * B * I);
        var dy = TestData.Normal(rng, T * B * H);
        double[]? h0 = withState ? TestData.Normal(rng, B * H) : null, c0 = withState ? TestData.Normal(rng, B * H) : null;
        double[]? dhN = withFinalGradients ? TestData.Normal(rng, B * H) : null, dcN = withFinalGradients ? TestData.Normal(rng, B * H) : null;
        Tensor<double>? State(double[]? a, bool layer) => a is null ? null : layer ? Ten(a, [1, B, H]) : Ten(a, [B, H]);

        var (y, hN, cN) = lstm.Forward(Ten(x, [T, B, I]), State(h0, true), State(c0, true));
        var (dx, dh0, dc0) = lstm.Backward(Ten(dy, [T, B, H]), State(dhN, true), State(dcN, true));
        var r = ReferenceBptt.Lstm(cell, Ten(x, [T, B, I]), Ten(dy, [T, B, H]), State(h0, false), State(c0, false), State(dhN, false), State(dcN, false));

        Same(r.Output.AsReadOnlySpan(), y.AsReadOnlySpan(), "output");
        Same(r.HN.AsReadOnlySpan(), hN.AsReadOnlySpan(), "hN");
        Same(r.CN.AsReadOnlySpan(), cN.AsReadOnlySpan(), "cN");
        Same(r.DInput.AsReadOnlySpan(), dx.AsReadOnlySpan(), "dInput");
        Same(r.DH0.AsReadOnlySpan(), dh0.AsReadOnlySpan(), "dh0");
        Same(r.DC0.AsReadOnlySpan(), dc0.AsReadOnlySpan(), "dc0");
        SameGradients(cell, lstm);
    }

    private const int Chunks = 3, ChunkLength = 4, Batch = 3, In = 2, Hid = 5;

    [Fact]
    public void ChunkedBpttWithCarriedStateEqualsTheReferenceTruncatedGradient()
    {
        var rng = new Rng(70);
        var lstm = new Lstm<double>(In, Hid, rng: rng);
        var cell = CellOf(lstm);
        Tensor<double>? h = null, c = null;          // the layer's carried state: its own module-owned HN, CN
        Tensor<double>? rh = null, rc = null;        // the reference's, computed by the reference alone
        for (int k = 0; k < Chunks; k++)
        {
            var x = Ten(TestData.Normal(rng, ChunkLength * Batch * In), [ChunkLength, Batch, In]);
            var dy = Ten(TestData.Normal(rng, ChunkLength * Batch * Hid), [ChunkLength, Batch, Hid]);
            var (y, hN, cN) = lstm.Forward(x, h, c);
            var yk = y.ToArray();
            var dx = lstm.Backward(dy).DInput.ToArray();          // no dHN: the next chunk's loss does not reach back
            var r = ReferenceBptt.Lstm(cell, x, dy, rh, rc);
            Same(r.Output.AsReadOnlySpan(), yk, $"output of chunk {k}");
            Same(r.DInput.AsReadOnlySpan(), dx, $"dInput of chunk {k}");
            (h, c) = (hN, cN);
            (rh, rc) = (r.HN, r.CN);
        }
        SameGradients(cell, lstm);   // both accumulated Σ_k ∂L_k/∂θ over the chunks
    }

    [Fact]
    public void TruncatedGradientMatchesCentralDifferencesOfTheChunkLossesWithDetachedStates()
    {
        var rng = new Rng(71);
        var lstm = new Lstm<double>(In, Hid, rng: rng);
        var x = TestData.Normal(rng, Chunks * ChunkLength * Batch * In);
        int chunkInputs = ChunkLength * Batch * In;
        Tensor<double> Chunk(int k) => Ten(x.AsSpan(k * chunkInputs, chunkInputs).ToArray(), [ChunkLength, Batch, In]);

        // The carried states s_k at the unperturbed weights, then held fixed: the truncation (PyTorch's detach()).
        var states = new (Tensor<double>? H, Tensor<double>? C)[Chunks];
        for (int k = 1; k < Chunks; k++)
        {
            var (_, hN, cN) = lstm.Infer(Chunk(k - 1), states[k - 1].H, states[k - 1].C);
            states[k] = (hN, cN);
        }
        var problem = new GradientCheckProblem
        {
            Inputs = [("input", x)],
            Parameters = lstm.NamedParameters().ToList(),
            Forward = () => Enumerable.Range(0, Chunks).Select(k => lstm.Forward(Chunk(k), states[k].H, states[k].C).Output.ToArray()).ToArray(),
            Backward = d =>
            {
                var dx = new double[x.Length];
                for (int k = 0; k < Chunks; k++)
                {
                    lstm.Forward(Chunk(k), states[k].H, states[k].C);
                    lstm.Backward(Ten(d[k], [ChunkLength, Batch, Hid])).DInput.ToArray().CopyTo(dx, k * chunkInputs);
                }
                return [dx];
            },
        };
        var result = GradientCheck.Run(problem);
        Assert.True(result.Passed, result.ToString());
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        var cell = new LstmCell<double>(2, 3, rng: new Rng(1));
        static Tensor<double> Z(params int[] shape) => Tensor.Create(new double[shape.Aggregate(1, (a, b) => a * b)], Array.ConvertAll(shape, d => (nint)d));
        Throws(() => ReferenceBptt.Lstm(cell, Z(4, 2, 3), Z(4, 2, 3)), "input", "[T ≥ 1, B ≥ 1, 2]", "[4, 2, 3]");
        Throws(() => ReferenceBptt.Lstm(cell, Z(4, 2), Z(4, 2, 3)), "input", "[4, 2]");
        Throws(() => ReferenceBptt.Lstm(cell, Z(4, 2, 2), Z(4, 2, 2)), "dOutput", "[4, 2, 3]", "[4, 2, 2]");
        Throws(() => ReferenceBptt.Lstm(cell, Z(4, 2, 2), Z(4, 2, 3), h0: Z(1, 2, 3)), "h0", "[2, 3]", "[1, 2, 3]");
        Throws(() => ReferenceBptt.Lstm(cell, Z(4, 2, 2), Z(4, 2, 3), c0: Z(3, 3)), "c0", "[2, 3]");
        Throws(() => ReferenceBptt.Lstm(cell, Z(4, 2, 2), Z(4, 2, 3), dHN: Z(2, 4)), "dHN", "[2, 3]");
        Throws(() => ReferenceBptt.Lstm(cell, Z(4, 2, 2), Z(4, 2, 3), dCN: Z(2)), "dCN", "[2, 3]");
        Assert.Throws<ArgumentNullException>(() => ReferenceBptt.Lstm(null!, Z(4, 2, 2), Z(4, 2, 3)));
    }
}
