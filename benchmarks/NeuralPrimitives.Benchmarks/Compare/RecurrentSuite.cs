namespace NeuralPrimitives.Benchmarks.Compare;

/// <summary>
/// Recurrent layers (issue 5): T = 64, B = 32, I = 128, H = 256, one layer, one direction, float,
/// input [T, B, I], zero initial state. Peer: benchmarks/peers/cases_recurrent.py (same names).
/// <list type="bullet">
/// <item><c>*_fwd</c>: inference path — <c>Eval()</c> then <c>Infer(x)</c> (PyTorch: eval() + no_grad()).</item>
/// <item><c>*_fwdbwd</c>: one training step without the optimiser — <c>ZeroGrad()</c>, <c>Forward(x)</c>,
/// <c>Backward(ones)</c> (the gradient of <c>output.sum()</c>), which also returns dInput (PyTorch: x.requires_grad).</item>
/// </list>
/// </summary>
public sealed class RecurrentSuite : ICompareSuite
{
    /// <summary>Sequence length, batch, input size and hidden size of every case.</summary>
    public const int SeqLen = 64, Batch = 32, InputSize = 128, HiddenSize = 256;

    /// <inheritdoc />
    public IEnumerable<CompareCase> Cases()
    {
        yield return new("rnn_fwd", () => { var m = NewRnn(); m.Eval(); var x = Input(); return () => m.Infer(x); });
        yield return new("rnn_fwdbwd", () =>
        {
            var m = NewRnn(); var x = Input(); var ones = Ones();
            return () => { m.ZeroGrad(); m.Forward(x); m.Backward(ones); };
        });
        yield return new("lstm_fwd", () => { var m = NewLstm(); m.Eval(); var x = Input(); return () => m.Infer(x); });
        yield return new("lstm_fwdbwd", () =>
        {
            var m = NewLstm(); var x = Input(); var ones = Ones();
            return () => { m.ZeroGrad(); m.Forward(x); m.Backward(ones); };
        });
        yield return new("gru_fwd", () => { var m = NewGru(); m.Eval(); var x = Input(); return () => m.Infer(x); });
        yield return new("gru_fwdbwd", () =>
        {
            var m = NewGru(); var x = Input(); var ones = Ones();
            return () => { m.ZeroGrad(); m.Forward(x); m.Backward(ones); };
        });
    }

    /// <summary>A tanh RNN with PyTorch's initialisation (seed 0).</summary>
    public static Rnn<float> NewRnn() => new(InputSize, HiddenSize, rng: new Rng(0));

    /// <summary>An LSTM with PyTorch's initialisation (seed 0).</summary>
    public static Lstm<float> NewLstm() => new(InputSize, HiddenSize, rng: new Rng(0));

    /// <summary>A GRU with PyTorch's initialisation (seed 0).</summary>
    public static Gru<float> NewGru() => new(InputSize, HiddenSize, rng: new Rng(0));

    /// <summary>A seeded N(0, 1) input [T, B, I].</summary>
    public static Tensor<float> Input() => CompareData.Normal(1, SeqLen, Batch, InputSize);

    /// <summary>dOutput of <c>output.sum()</c>: ones [T, B, H].</summary>
    public static Tensor<float> Ones() => CompareData.Ones(SeqLen, Batch, HiddenSize);
}
