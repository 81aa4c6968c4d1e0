// The part every whole-sequence recurrent layer (Rnn, Lstm, Gru) shares: its configuration, its
// PyTorch-named parameters, the gradient-flow diagnostics and the misuse guard of its training pair,
// around the internal RecurrentEngine that runs the sequence (RecurrentEngine.cs and the files it
// lists). HiddenStateRecurrentLayer adds the Forward/Backward/Infer of the layers whose only state is
// h (Rnn, Gru); Lstm has its own, with the cell state c beside h.
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

    /// <summary>The training forward under the misuse guard: refuses a second thread, and a Forward that throws leaves no cache for Backward.</summary>
    private protected (Tensor<T> Output, Tensor<T> HN, Tensor<T>? CN) GuardedForward(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths)
    {
        using var pass = BeginForward();
        var result = Engine.Forward(input, h0, c0, lengths, Training);
        pass.Complete(result.Output.AsReadOnlySpan(), "output");
        return result;
    }

    /// <summary>BPTT under the misuse guard: exactly one Backward per successful Forward, one thread at a time.</summary>
    private protected (Tensor<T> DInput, Tensor<T> DH0, Tensor<T>? DC0) GuardedBackward(Tensor<T> dOutput, Tensor<T>? dHN, Tensor<T>? dCN)
    {
        using var pass = BeginBackward();
        var result = Engine.Backward(dOutput, dHN, dCN);
        pass.Complete(result.DInput.AsReadOnlySpan(), "dInput");
        return result;
    }
}

/// <summary>Base of <see cref="Rnn{T}"/> and <see cref="Gru{T}"/>, the recurrent layers whose only state is the hidden state h.</summary>
/// <remarks>
/// <para>Variable-length batches: pass <c>lengths</c> (one per sequence, 1..T, any order). A sequence's
/// state stops changing after its length, its outputs past the length are zero, the returned final
/// state is the one at its length, and the reverse direction starts at each sequence's own end
/// (PyTorch's <c>pack_padded_sequence(enforce_sorted=False)</c>).</para>
/// <para>Truncated BPTT: pass the <c>HN</c> returned by one chunk's <see cref="Forward"/> as <c>h0</c> of the
/// next (it is copied on entry, so the module-owned buffer may be passed directly); the gradient then
/// stops at the chunk boundary (<c>DH0</c> is returned but need not be used).</para>
/// <para>Exactly one <see cref="Backward"/> per <see cref="Forward"/>, on one thread at a time: a second Backward, one before
/// any Forward or after a Forward that threw, and a call entered while another thread is inside either, throw
/// <see cref="InvalidOperationException"/>. <see cref="Infer"/> may run on many threads at once.</para>
/// <para>Outputs returned by <see cref="Forward"/>/<see cref="Backward"/> are module-owned and valid until the next call.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class HiddenStateRecurrentLayer<T> : RecurrentLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private protected HiddenStateRecurrentLayer(RecurrentEngine<T> engine) : base(engine)
    {
    }

    /// <summary>Training forward over a whole sequence; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[T, B, I], or [B, T, I] when <see cref="RecurrentLayer{T}.BatchFirst"/>, or one unbatched sequence [T, I] (then every state and result drops its batch axis, as in PyTorch); T ≥ 1.</param>
    /// <param name="h0">Initial hidden state [L·D, B, H] ([L·D, H] unbatched); zeros when null. Copied on entry.</param>
    /// <param name="lengths">Optional per-sequence lengths [B], each in 1..T, any order.</param>
    /// <returns>The output sequence [T, B, D·H] (or batch-first) and the final state [L·D, B, H] (module-owned).</returns>
    public (Tensor<T> Output, Tensor<T> HN) Forward(Tensor<T> input, Tensor<T>? h0 = null, int[]? lengths = null)
    {
        var (y, hN, _) = GuardedForward(input, h0, null, lengths);
        return (y, hN);
    }

    /// <summary>Backpropagation through time for the last <see cref="Forward"/>: accumulates every weight gradient.</summary>
    /// <param name="dOutput">∂L/∂output, same shape as the output.</param>
    /// <param name="dHN">∂L/∂hN, shaped as hN; zeros when null.</param>
    /// <returns>∂L/∂input (shape of the input) and ∂L/∂h0 (shape of h0) (module-owned).</returns>
    public (Tensor<T> DInput, Tensor<T> DH0) Backward(Tensor<T> dOutput, Tensor<T>? dHN = null)
    {
        var (dx, dh0, _) = GuardedBackward(dOutput, dHN, null);
        return (dx, dh0);
    }

    /// <summary>Inference forward (no dropout): keeps nothing for a backward pass, returns new tensors, safe to call from several threads at once. Its scratch memory comes from a per-module pool (one workspace per concurrent caller), so repeated calls do not re-allocate it.</summary>
    /// <param name="input">As for <see cref="Forward"/>.</param>
    /// <param name="h0">As for <see cref="Forward"/>.</param>
    /// <param name="lengths">As for <see cref="Forward"/>.</param>
    /// <returns>The output sequence and the final state (new tensors).</returns>
    public (Tensor<T> Output, Tensor<T> HN) Infer(Tensor<T> input, Tensor<T>? h0 = null, int[]? lengths = null)
    {
        var (y, hN, _) = Engine.Infer(input, h0, null, lengths);
        return (y, hN);
    }
}
