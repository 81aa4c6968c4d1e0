// The NaN policy (docs/module-contract.md): NaN in gives NaN out, contained to its row or sequence. A NaN in
// one row of the input (one sequence of a recurrent batch, one looked-up table row) leaves every other row of
// the output and of dInput finite; parameter gradients sum over rows, so they are not contained.

namespace NeuralPrimitives.Tests.Core;

public class NaNPolicyTests
{
    private const int Rows = 5, Bad = 2;

    private static float[] WithNaN(Rng rng, int rows, int width, int badRow, int badColumn = 1)
    {
        var x = TestData.NormalF(rng, rows * width);
        x[badRow * width + badColumn] = float.NaN;
        return x;
    }

    /// <summary>Rows other than <paramref name="badRows"/> are all finite; each bad row holds a NaN (or all of it, if <paramref name="wholeRow"/>).</summary>
    private static void AssertContained(ReadOnlySpan<float> y, int width, int[] badRows, bool wholeRow, string what)
    {
        Assert.Equal(0, y.Length % width);
        for (int r = 0; r < y.Length / width; r++)
        {
            var row = y.Slice(r * width, width).ToArray();
            if (!badRows.Contains(r))
                Assert.True(row.All(float.IsFinite), $"{what}: row {r} should be finite, got [{string.Join(", ", row)}]");
            else if (wholeRow)
                Assert.True(row.All(float.IsNaN), $"{what}: row {r} should be all NaN, got [{string.Join(", ", row)}]");
            else
                Assert.True(row.Any(float.IsNaN), $"{what}: row {r} should hold the NaN, got [{string.Join(", ", row)}]");
        }
    }

    // The activations by their PyTorch names (relu, tanh, sigmoid, silu, gelu, gelu_tanh).
    public static TheoryData<string> Layers() => new(["Linear", .. ActivationLayers.Names, "Softmax", "LogSoftmax", "Sequential", "Sinusoidal", "Learned", "Rotary"]);

    private static (ILayer<float> Layer, int OutWidth, bool Mixes) Make(string name)
    {
        var rng = new Rng(4);
        ILayer<float> layer = name switch
        {
            "Linear" => new Linear<float>(6, 4, rng: rng),
            "Softmax" => new Softmax<float>(),
            "LogSoftmax" => new LogSoftmax<float>(),
            "Sequential" => new Sequential<float>(new Linear<float>(6, 7, rng: rng), new Tanh<float>(), new Linear<float>(7, 3, rng: rng)),
            "Sinusoidal" => new SinusoidalPositionalEncoding<float>(6, 10),
            "Learned" => new LearnedPositionalEmbedding<float>(10, 6, rng: rng),
            "Rotary" => new RopeLayer(new RotaryEmbedding<float>(6)),
            _ => ActivationLayers.Create<float>(name),
        };
        int outWidth = name switch { "Linear" => 4, "Sequential" => 3, _ => 6 };
        // Does a row's NaN reach every element of its row (matrix products, softmax, rotations), or only its own element?
        bool mixes = name is "Linear" or "Softmax" or "LogSoftmax" or "Sequential";
        return (layer, outWidth, mixes);
    }

    /// <summary>RoPE as a one-tensor layer over [T, d] (offset 0).</summary>
    private sealed class RopeLayer(RotaryEmbedding<float> rope) : ILayer<float>
    {
        public RotaryEmbedding<float> Rope { get; } = rope;
        public Tensor<float> Forward(Tensor<float> input) => Rope.Forward(input);
        public Tensor<float> Backward(Tensor<float> dOutput) => Rope.Backward(dOutput);
        public Tensor<float> Infer(Tensor<float> input) => Rope.Infer(input);
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void NaNInOneRowStaysInThatRowForwardAndBackward(string name)
    {
        var (layer, outWidth, mixes) = Make(name);
        var rng = new Rng(9);
        // [T = Rows, D = 6]: a row is a position (positional encodings) or a sample (everything else).
        var y = layer.Forward(Tensor.Create(WithNaN(rng, Rows, 6, Bad), [Rows, 6])).ToArray();
        AssertContained(y, outWidth, [Bad], wholeRow: mixes, $"{name} output");

        // Positive inputs, so that ReLU passes its gradient everywhere.
        layer.Forward(Tensor.Create(Array.ConvertAll(TestData.NormalF(rng, Rows * 6), v => MathF.Abs(v) + 0.1f), [Rows, 6]));
        var dx = layer.Backward(Tensor.Create(WithNaN(rng, Rows, outWidth, Bad, badColumn: 0), [Rows, outWidth])).ToArray();
        AssertContained(dx, 6, [Bad], wholeRow: mixes, $"{name} dInput");
    }

    [Fact]
    public void ReluBackwardPassesTheGradientAtANaNInputAsPyTorch()
    {
        // torch.relu: y = NaN at a NaN input, and its backward (0 where the input is ≤ 0, else dy) passes dy there.
        var relu = new Relu<float>();
        var y = relu.Forward(Tensor.Create([float.NaN, -1f, 0f, 2f], [4]));
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal([10f, 0f, 0f, 40f], relu.Backward(Tensor.Create([10f, 20f, 30f, 40f], [4])).ToArray());
        var x = Enumerable.Range(0, 37).Select(i => i % 3 == 0 ? float.NaN : i - 18f).ToArray(); // vector body and tail
        var dx = new float[37];
        Activations.ReluBackward<float>(x, Enumerable.Repeat(1f, 37).ToArray(), dx);
        for (int i = 0; i < 37; i++) Assert.Equal(float.IsNaN(x[i]) || x[i] > 0 ? 1f : 0f, dx[i]);
    }

    [Fact]
    public void LearnedTableRowWithNaNReachesOnlyItsPosition()
    {
        var learned = new LearnedPositionalEmbedding<float>(10, 6, batchFirst: true, rng: new Rng(1));
        learned.Weight.Data[3 * 6 + 2] = float.NaN;
        // [B = 2, T = 5, D = 6]: position 3 of both sequences reads the NaN row.
        var y = learned.Infer(Tensor.Create(TestData.NormalF(new Rng(2), 2 * 5 * 6), [2, 5, 6])).ToArray();
        AssertContained(y, 6, [3, 8], wholeRow: false, "LearnedPositionalEmbedding");
    }

    [Fact]
    public void EmbeddingRowWithNaNReachesOnlyTheLookupsOfThatRow()
    {
        var emb = new Embedding<float>(8, 5, rng: new Rng(1));
        emb.Weight.Data[4 * 5 + 1] = float.NaN;
        int[] idx = [0, 4, 7, 4, 2, 1];
        var y = emb.Forward(Tensor.Create(idx, [2, 3])).ToArray();
        AssertContained(y, 5, [1, 3], wholeRow: false, "Embedding");
        AssertContained(emb.Infer(Tensor.Create(idx, [6])).ToArray(), 5, [1, 3], wholeRow: false, "Embedding.Infer");
        // Backward: a NaN gradient of lookup 2 (row 7) reaches only row 7 of the table's gradient.
        var dy = TestData.NormalF(new Rng(3), 30);
        dy[2 * 5] = float.NaN;
        emb.Backward(Tensor.Create(dy, [2, 3, 5]));
        AssertContained(emb.Weight.Grad, 5, [7], wholeRow: false, "Embedding weight.grad");
    }

    [Theory]
    [InlineData(EmbeddingBagMode.Sum)]
    [InlineData(EmbeddingBagMode.Mean)]
    [InlineData(EmbeddingBagMode.Max)]
    public void EmbeddingBagRowWithNaNReachesOnlyTheBagsHoldingIt(EmbeddingBagMode mode)
    {
        var bag = new EmbeddingBag<float>(8, 5, mode, rng: new Rng(1));
        bag.Weight.Data[4 * 5 + 1] = float.NaN;
        var input = Tensor.Create(new[] { 0, 4, 7, 1, 2, 3, 4, 6, 5 }, [9]);
        var offsets = Tensor.Create(new[] { 0, 3, 6 }, [3]); // bags {0,4,7}, {1,2,3}, {4,6,5}
        AssertContained(bag.Forward(input, offsets).ToArray(), 5, [0, 2], wholeRow: false, $"EmbeddingBag {mode}");
        AssertContained(bag.Infer(input, offsets).ToArray(), 5, [0, 2], wholeRow: false, $"EmbeddingBag {mode} Infer");
    }

    [Theory]
    [InlineData(new[] { 0, 1, 2 })]
    [InlineData(new[] { 2, 1, 0 })]
    [InlineData(new[] { 1, 2, 0 })]
    public void EmbeddingBagMaxPropagatesNaNWhateverTheOrderAndRoutesTheGradientToIt(int[] order)
    {
        // torch.max semantics: a NaN wins over every number (PyTorch 1.13's embedding_bag max keeps whichever came first).
        var bag = new EmbeddingBag<double>(3, 2, EmbeddingBagMode.Max);
        bag.Weight.Load([1, 2, double.NaN, 0, 3, double.NaN]);
        var y = bag.Forward(Tensor.Create(order, [1, 3])).ToArray();
        Assert.True(double.IsNaN(y[0]) && double.IsNaN(y[1]), $"order {string.Join(",", order)}: got [{y[0]}, {y[1]}]");
        bag.Backward(Tensor.Create([10.0, 20.0], [1, 2]));
        Assert.Equal([0, 0, 10, 0, 0, 20], bag.Weight.Grad); // column 0's NaN is row 1's, column 1's is row 2's
    }

    [Theory]
    [InlineData("Rnn")]
    [InlineData("Lstm")]
    [InlineData("Gru")]
    public void RecurrentNaNStaysInItsSequence(string kind)
    {
        const int steps = 4, batch = 3, input = 5, hidden = 6;
        var x = TestData.NormalF(new Rng(2), steps * batch * input);
        x[(1 * batch + 1) * input + 2] = float.NaN; // step 1 of sequence 1
        var t = Tensor.Create(x, [steps, batch, input]);
        var output = kind switch
        {
            "Rnn" => new Rnn<float>(input, hidden, numLayers: 2, rng: new Rng(1)).Infer(t).Output,
            "Lstm" => new Lstm<float>(input, hidden, numLayers: 2, rng: new Rng(1)).Infer(t).Output,
            _ => new Gru<float>(input, hidden, numLayers: 2, rng: new Rng(1)).Infer(t).Output,
        };
        var y = output.ToArray(); // [steps, batch, hidden]: row (s, b) = s·batch + b
        AssertContained(y.AsSpan(0, batch * hidden), hidden, [], wholeRow: false, $"{kind} step 0");
        AssertContained(y.AsSpan(batch * hidden), hidden, [1, 4, 7], wholeRow: true, $"{kind} steps 1..3");
    }

    public static TheoryData<string> GemmPaths() => [.. Enum.GetNames<GemmPath>()];

    [Theory]
    [MemberData(nameof(GemmPaths))]
    public void GemmNaNInARowOfAOrAColumnOfBStaysThere(string path)
    {
        Gemm.ForcedPath = Enum.Parse<GemmPath>(path);
        try
        {
            const int m = 29, n = 37, k = 23; // edge tiles in every direction
            var rng = new Rng(5);
            var a = TestData.NormalF(rng, m * k);
            var b = TestData.NormalF(rng, k * n);
            a[11 * k + 7] = float.NaN;  // row 11 of A
            b[5 * n + 30] = float.NaN;  // column 30 of B
            var c = new float[m * n];
            Gemm.Multiply(transposeA: false, transposeB: false, m, n, k, 1f, a, b, 0f, c);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    Assert.True(float.IsNaN(c[i * n + j]) == (i == 11 || j == 30), $"{path}: C[{i}, {j}] = {c[i * n + j]}");
        }
        finally
        {
            Gemm.ForcedPath = GemmPath.Auto;
        }
    }
}
