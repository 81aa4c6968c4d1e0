// The part every whole-sequence recurrent layer (Rnn, Lstm, Gru) shares: its configuration, its
// PyTorch-named parameters and the gradient-flow diagnostics, all held by the internal
// RecurrentEngine<T> that runs the sequence (see RecurrentEngine.cs for the forward and the
// backpropagation-through-time loop). The derived classes add Forward/Backward/Infer with the
// state they carry: h for Rnn and Gru, (h, c) for Lstm.
namespace NeuralPrimitives;

/// <summary>Base of <see cref="Rnn{T}"/>, <see cref="Lstm{T}"/> and <see cref="Gru{T}"/>: configuration, parameters and diagnostics.</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class RecurrentLayer<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private protected RecurrentLayer(RecurrentEngine<T> engine) => Engine = engine;

    private protected RecurrentEngine<T> Engine { get; }

    /// <summary>Features per input timestep.</summary>
    public int InputSize => Engine.InputSize;

    /// <summary>Features of the hidden state.</summary>
    public int HiddenSize => Engine.HiddenSize;

    /// <summary>Number of stacked layers.</summary>
    public int NumLayers => Engine.NumLayers;

    /// <summary>Whether biases are learned.</summary>
    public bool HasBias => Engine.HasBias;

    /// <summary>Whether input and output are batch-first ([B, T, ·]).</summary>
    public bool BatchFirst => Engine.BatchFirst;

    /// <summary>Dropout probability between layers (training mode only).</summary>
    public double Dropout => Engine.DropoutProbability;

    /// <summary>Whether each layer also runs backwards in time.</summary>
    public bool Bidirectional => Engine.Bidirectional;

    /// <summary>The generator of the dropout masks. Assign a freshly seeded <see cref="Rng"/> to reproduce masks.</summary>
    public Rng DropoutRng { get => Engine.DropoutRng; set => Engine.DropoutRng = value; }

    /// <summary>
    /// True (default): every training forward draws new dropout masks. False: the masks drawn by the
    /// first forward (for a given shape) are reused, so repeated forwards are deterministic (gradient checks).
    /// </summary>
    public bool ResampleDropout { get => Engine.ResampleDropout; set => Engine.ResampleDropout = value; }

    /// <summary>
    /// After a backward pass: ‖∂L/∂h_t‖ (Frobenius norm over the batch) for t = 0..T−1, of the last layer's
    /// forward-direction hidden state, counting the total gradient (from the output at t and from step t+1).
    /// Read it to see gradients vanish (geometric decay with distance from the loss) or explode.
    /// </summary>
    public ReadOnlySpan<double> HiddenGradientNorms => Engine.HiddenGradientNorms;

    /// <inheritdoc />
    protected override IEnumerable<Parameter<T>> OwnParameters() => Engine.Parameters;
}
