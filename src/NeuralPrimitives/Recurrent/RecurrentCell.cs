// The parameters every one-step recurrent cell (RnnCell, LstmCell, GruCell) shares, in PyTorch's
// names and layouts: weight_ih [G·H, I], weight_hh [G·H, H], bias_ih [G·H], bias_hh [G·H], with
// G = 1 (RNN), 4 (LSTM: gate rows i, f, g, o) or 3 (GRU: r, z, n), and PyTorch's initialisation:
// every weight and bias ~ U(−1/√H, 1/√H). The derived cells hold the equations.
namespace NeuralPrimitives;

/// <summary>Base of <see cref="RnnCell{T}"/>, <see cref="LstmCell{T}"/> and <see cref="GruCell{T}"/>: sizes and PyTorch-named parameters.</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class RecurrentCell<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private protected RecurrentCell(int inputSize, int hiddenSize, int gates, bool bias, Rng? rng)
    {
        Guard.Positive(inputSize);
        Guard.Positive(hiddenSize);
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        WeightIh = new Parameter<T>("weight_ih", gates * hiddenSize, inputSize);
        WeightHh = new Parameter<T>("weight_hh", gates * hiddenSize, hiddenSize);
        if (bias)
        {
            BiasIh = new Parameter<T>("bias_ih", gates * hiddenSize);
            BiasHh = new Parameter<T>("bias_hh", gates * hiddenSize);
        }
        rng ??= Rng.Default;
        foreach (var p in OwnParameters()) Init.UniformFanIn(p, hiddenSize, rng);
    }

    /// <summary>Features of the input.</summary>
    public int InputSize { get; }

    /// <summary>Features of the hidden state (and of the LSTM cell state).</summary>
    public int HiddenSize { get; }

    /// <summary><c>weight_ih</c> [G·H, I], gate rows in the order the derived cell documents.</summary>
    public Parameter<T> WeightIh { get; }

    /// <summary><c>weight_hh</c> [G·H, H], gate rows in the order the derived cell documents.</summary>
    public Parameter<T> WeightHh { get; }

    /// <summary><c>bias_ih</c> [G·H], or null without bias.</summary>
    public Parameter<T>? BiasIh { get; }

    /// <summary><c>bias_hh</c> [G·H], or null without bias.</summary>
    public Parameter<T>? BiasHh { get; }

    /// <inheritdoc />
    protected override IEnumerable<Parameter<T>> OwnParameters()
    {
        yield return WeightIh;
        yield return WeightHh;
        if (BiasIh is not null) yield return BiasIh;
        if (BiasHh is not null) yield return BiasHh;
    }
}
