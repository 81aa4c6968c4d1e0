// The parameters every one-step recurrent cell (RnnCell, LstmCell, GruCell) shares, in PyTorch's
// names and layouts: weight_ih [G·H, I], weight_hh [G·H, H], bias_ih [G·H], bias_hh [G·H], with
// G = 1 (RNN), 4 (LSTM: gate rows i, f, g, o) or 3 (GRU: r, z, n), and PyTorch's initialisation:
// every weight and bias ~ U(−1/√H, 1/√H). The derived cells hold the equations.
namespace NeuralPrimitives;

/// <summary>Base of <see cref="RnnCell{T}"/>, <see cref="LstmCell{T}"/> and <see cref="GruCell{T}"/>: sizes and PyTorch-named parameters.</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class RecurrentCell<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private int _forwardBatch = -1;
    private bool _forwardUnbatched;

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

    /// <summary>
    /// Checks input is [B, <see cref="InputSize"/>] with B ≥ 1, or one unbatched row [<see cref="InputSize"/>]
    /// (PyTorch's unbatched input, computed as B = 1); returns B.
    /// </summary>
    private protected int CheckInput(Tensor<T> input, string name, out bool unbatched)
    {
        ArgumentNullException.ThrowIfNull(input, name);
        unbatched = input.Rank == 1;
        if (unbatched ? input.Lengths[0] != InputSize : input.Rank != 2 || input.Lengths[1] != InputSize || input.Lengths[0] < 1)
            throw new ArgumentException($"{name} must have shape [batch ≥ 1, {InputSize}] or, unbatched, [{InputSize}]; got {Shapes.Format(input.Lengths)}.", name);
        return unbatched ? 1 : (int)input.Lengths[0];
    }

    /// <summary>Checks an optional state (or state gradient) is [batch, <see cref="HiddenSize"/>], or [<see cref="HiddenSize"/>] unbatched.</summary>
    private protected void CheckState(Tensor<T>? state, int batch, bool unbatched, string name)
    {
        if (state is not null) Guard.Shape(state, Rows(unbatched, batch, HiddenSize, stackalloc nint[2]), name);
    }

    /// <summary>Records the batch (and whether it was one unbatched row) of a training Forward, for <see cref="CheckBackward"/>.</summary>
    private protected void RememberForward(int batch, bool unbatched) => (_forwardBatch, _forwardUnbatched) = (batch, unbatched);

    /// <summary>
    /// Starts a Backward: checks that a Forward came first and that <paramref name="dH"/> is shaped as the h' it
    /// returned; gives that Forward's batch and whether it was unbatched.
    /// </summary>
    private protected int CheckBackward(Tensor<T> dH, out bool unbatched)
    {
        if (_forwardBatch < 0) throw new InvalidOperationException("Backward called before Forward.");
        unbatched = _forwardUnbatched;
        Guard.Shape(dH, Rows(unbatched, _forwardBatch, HiddenSize, stackalloc nint[2]), nameof(dH));
        return _forwardBatch;
    }

    /// <summary>The shape of <paramref name="batch"/> rows of <paramref name="features"/>: [B, F], or [F] unbatched.</summary>
    private protected static ReadOnlySpan<nint> Rows(bool unbatched, int batch, int features, Span<nint> dst)
    {
        if (unbatched) { dst[0] = features; return dst[..1]; }
        (dst[0], dst[1]) = (batch, features);
        return dst;
    }

    /// <summary>
    /// dW_ih += dGxᵀ·x, dW_hh += dGhᵀ·h, db_ih += Σ_b dGx, db_hh += Σ_b dGh, where dGx and dGh are
    /// [batch, G·H], x is [batch, I] and h is [batch, H]; frozen parameters are skipped.
    /// </summary>
    private protected void AccumulateWeightGrads(ReadOnlySpan<T> dGx, ReadOnlySpan<T> dGh, ReadOnlySpan<T> x, ReadOnlySpan<T> h, int batch)
    {
        int gatesH = WeightIh.Shape[0];
        if (WeightIh.RequiresGrad) Gemm.Multiply(true, false, gatesH, InputSize, batch, T.One, dGx, x, T.One, WeightIh.Grad.AsSpan());
        if (WeightHh.RequiresGrad) Gemm.Multiply(true, false, gatesH, HiddenSize, batch, T.One, dGh, h, T.One, WeightHh.Grad.AsSpan());
        for (int b = 0; b < batch; b++)
        {
            if (BiasIh is { RequiresGrad: true }) TensorPrimitives.Add(BiasIh.Grad, dGx.Slice(b * gatesH, gatesH), BiasIh.Grad);
            if (BiasHh is { RequiresGrad: true }) TensorPrimitives.Add(BiasHh.Grad, dGh.Slice(b * gatesH, gatesH), BiasHh.Grad);
        }
    }

    /// <inheritdoc />
    protected override IEnumerable<Parameter<T>> OwnParameters()
    {
        yield return WeightIh;
        yield return WeightHh;
        if (BiasIh is not null) yield return BiasIh;
        if (BiasHh is not null) yield return BiasHh;
    }
}
