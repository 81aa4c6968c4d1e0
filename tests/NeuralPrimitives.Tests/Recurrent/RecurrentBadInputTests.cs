using static NeuralPrimitives.Tests.Support.BadArgument;

namespace NeuralPrimitives.Tests.Recurrent;

// Every malformed argument gives an ArgumentException naming the argument, with the expected and the
// actual value in the message.
public class RecurrentBadInputTests
{
    private static Tensor<float> Z(params int[] shape) => Tensor.Create(new float[shape.Aggregate(1, (a, b) => a * b)], Array.ConvertAll(shape, d => (nint)d));

    [Fact]
    public void WrongFeatureSize()
    {
        var lstm = new Lstm<float>(4, 3, rng: new Rng(1));
        Throws(() => lstm.Forward(Z(5, 2, 6)), "input", "expected input_size 4", "got 6");
        Throws(() => lstm.Infer(Z(5, 2, 6)), "input", "expected input_size 4", "got 6");
        Throws(() => new Gru<float>(4, 3, rng: new Rng(1)).Forward(Z(5, 2)), "input", "expected input_size 4", "got 2");   // unbatched [T, I]
        Throws(() => new Gru<float>(4, 3, rng: new Rng(1)).Forward(Z(5)), "input", "rank 3", "rank 2 [T, 4]", "[5]");
        Throws(() => new Gru<float>(4, 3, rng: new Rng(1)).Forward(Z(5, 2, 4, 1)), "input", "rank 3", "[5, 2, 4, 1]");
    }

    [Fact]
    public void EmptySequence()
    {
        Throws(() => new Rnn<float>(4, 3, rng: new Rng(1)).Forward(Z(0, 2, 4)), "input", "T ≥ 1", "got 0");
        Throws(() => new Rnn<float>(4, 3, batchFirst: true, rng: new Rng(1)).Forward(Z(2, 0, 4)), "input", "T ≥ 1", "got 0");
        Throws(() => new Rnn<float>(4, 3, rng: new Rng(1)).Forward(Z(3, 0, 4)), "input", "B ≥ 1", "got 0");
    }

    [Fact]
    public void WrongStateShapes()
    {
        var lstm = new Lstm<float>(4, 3, numLayers: 2, bidirectional: true, projSize: 2, rng: new Rng(1));
        var x = Z(5, 2, 4);
        Throws(() => lstm.Forward(x, Z(2, 2, 2)), "h0", "[4, 2, 2]", "[2, 2, 2]");     // layers × directions
        Throws(() => lstm.Forward(x, Z(4, 3, 2)), "h0", "[4, 2, 2]", "[4, 3, 2]");     // batch
        Throws(() => lstm.Forward(x, Z(4, 2, 3)), "h0", "[4, 2, 2]", "[4, 2, 3]");     // projected hidden
        Throws(() => lstm.Forward(x, null, Z(4, 2, 2)), "c0", "[4, 2, 3]", "[4, 2, 2]"); // cell state is H, not P
        var gru = new Gru<float>(4, 3, rng: new Rng(1));
        Throws(() => gru.Forward(x, Z(1, 2, 4)), "h0", "[1, 2, 3]", "[1, 2, 4]");
        // One unbatched sequence [T, I] takes unbatched states [L·D, H] (PyTorch's shapes).
        Throws(() => gru.Forward(Z(5, 4), Z(1, 1, 3)), "h0", "[1, 3]", "[1, 1, 3]");
        Throws(() => lstm.Forward(Z(5, 4), Z(4, 2), Z(4, 2)), "c0", "[4, 3]", "[4, 2]");
        gru.Forward(Z(5, 4), Z(1, 3));
        Throws(() => gru.Backward(Z(5, 1, 3)), "dOutput", "[5, 3]", "[5, 1, 3]");
        Throws(() => gru.Backward(Z(5, 3), Z(1, 1, 3)), "dHN", "[1, 3]", "[1, 1, 3]");
    }

    [Fact]
    public void BadLengths()
    {
        var rnn = new Rnn<float>(4, 3, rng: new Rng(1));
        var x = Z(5, 2, 4);
        Throws(() => rnn.Forward(x, lengths: [3]), "lengths", "expected 2", "got 1");
        Throws(() => rnn.Forward(x, lengths: [3, 0]), "lengths", "[1, 5]", "got 0");
        Throws(() => rnn.Forward(x, lengths: [-1, 2]), "lengths", "[1, 5]", "got -1");
        Throws(() => rnn.Forward(x, lengths: [6, 2]), "lengths", "[1, 5]", "got 6");
        Assert.IsType<ArgumentOutOfRangeException>(Record.Exception(() => rnn.Forward(x, lengths: [6, 2])));
    }

    [Fact]
    public void BadBackwardArguments()
    {
        var lstm = new Lstm<float>(4, 3, rng: new Rng(1));
        Assert.Throws<InvalidOperationException>(() => lstm.Backward(Z(5, 2, 3)));
        lstm.Forward(Z(5, 2, 4));
        Throws(() => lstm.Backward(Z(5, 2, 4)), "dOutput", "[5, 2, 3]", "[5, 2, 4]");
        Throws(() => lstm.Backward(Z(5, 2, 3), Z(1, 1, 3)), "dHN", "[1, 2, 3]", "[1, 1, 3]");
        Throws(() => lstm.Backward(Z(5, 2, 3), null, Z(2, 2, 3)), "dCN", "[1, 2, 3]", "[2, 2, 3]");
    }

    [Fact]
    public void BadConstructorArguments()
    {
        Throws(() => new Lstm<float>(0, 3), "inputSize", "got 0");
        Throws(() => new Gru<float>(2, 0), "hiddenSize", "got 0");
        Throws(() => new Rnn<float>(2, 3, numLayers: 0), "numLayers", "got 0");
        Throws(() => new Rnn<float>(2, 3, dropout: 1.0), "dropout", "[0, 1)", "got 1");
        Throws(() => new Lstm<float>(2, 3, projSize: 3), "projSize", "< 3", "got 3");
        Throws(() => new Lstm<float>(2, 3, projSize: -1), "projSize", "got -1");
    }

    // Sizes whose product does not fit one array (int overflow before) give an ArgumentOutOfRangeException
    // naming the argument, the sizes and the limit, before anything is allocated.
    public static TheoryData<string, string, string[]> OverflowingConstructors => new()
    {
        { "new Lstm(100000, 10000)", "inputSize", ["Lstm's weight_ih_l0", "[40000, 100000]", "inputSize = 100000, hiddenSize = 10000"] },
        { "new Lstm(1, 40000)", "hiddenSize", ["Lstm's weight_hh_l0", "[160000, 40000]"] },
        { "new Lstm(10, 20000, numLayers: 2, bidirectional: true)", "hiddenSize", ["weight_ih_l1", "[80000, 40000]"] },
        { "new Rnn(50000, 50000)", "inputSize", ["Rnn's weight_ih_l0", "[50000, 50000]"] },
        { "new Gru(1, 1 << 30)", "hiddenSize", ["Gru's weight_ih_l0", "[3221225472, 1]"] },
        { "new LstmCell(100000, 10000)", "inputSize", ["LstmCell's weight_ih", "[40000, 100000]"] },
        { "new GruCell(1, 30000)", "hiddenSize", ["GruCell's weight_hh", "[90000, 30000]"] },
        { "new RnnCell(1, int.MaxValue)", "hiddenSize", ["RnnCell's weight_ih", "[2147483647, 1]"] },
    };

    [Theory]
    [MemberData(nameof(OverflowingConstructors))]
    public void ConstructorSizesWhoseProductOverflowNameTheSizesAndTheLimit(string call, string param, string[] fragments)
    {
        Action create = call switch
        {
            "new Lstm(100000, 10000)" => () => _ = new Lstm<float>(100000, 10000),
            "new Lstm(1, 40000)" => () => _ = new Lstm<float>(1, 40000),
            "new Lstm(10, 20000, numLayers: 2, bidirectional: true)" => () => _ = new Lstm<float>(10, 20000, numLayers: 2, bidirectional: true),
            "new Rnn(50000, 50000)" => () => _ = new Rnn<float>(50000, 50000),
            "new Gru(1, 1 << 30)" => () => _ = new Gru<float>(1, 1 << 30),
            "new LstmCell(100000, 10000)" => () => _ = new LstmCell<float>(100000, 10000),
            "new GruCell(1, 30000)" => () => _ = new GruCell<float>(1, 30000),
            _ => () => _ = new RnnCell<float>(1, int.MaxValue),
        };
        var ex = Assert.Throws<ArgumentOutOfRangeException>(create);
        Assert.Equal(param, ex.ParamName);
        foreach (var f in fragments) Assert.Contains(f, ex.Message);
        Assert.Contains($"limit {Array.MaxLength:N0}", ex.Message);
    }

    [Fact]
    public void InputsWhoseBuffersWouldOverflowNameTheSizesAndTheLimit()
    {
        // T·B = 600 000 rows of 4H = 4000 gate pre-activations: 2.4e9 elements, over the limit (the input itself is 2.4 MB).
        var lstm = new Lstm<float>(1, 1000, rng: new Rng(1));
        var x = Z(1000, 600, 1);
        foreach (Action call in new Action[] { () => lstm.Forward(x), () => lstm.Infer(x) })
        {
            var ex = Assert.Throws<ArgumentOutOfRangeException>(call);
            Assert.Equal("input", ex.ParamName);
            Assert.Contains("[1000, 600, 1]", ex.Message);
            Assert.Contains("1000·600 rows of 4000", ex.Message);
            Assert.Contains($"limit {Array.MaxLength:N0}", ex.Message);
        }
        Assert.Throws<InvalidOperationException>(() => lstm.Backward(Z(1, 1, 1000)));   // the failed Forward left nothing to differentiate

        var cell = new LstmCell<float>(1, 1000, rng: new Rng(1));
        var xc = Z(600_000, 1);
        foreach (Action call in new Action[] { () => cell.Forward(xc), () => cell.Infer(xc) })
        {
            var ex = Assert.Throws<ArgumentOutOfRangeException>(call);
            Assert.Equal("input", ex.ParamName);
            Assert.Contains("600000 rows of G·H = 4000", ex.Message);
            Assert.Contains($"limit {Array.MaxLength:N0}", ex.Message);
        }
    }
}
