// Gru: a multi-layer GRU over whole sequences (PyTorch's nn.GRU), with backpropagation
// through time. The per-step equations and their derivatives are in GruCell.cs; the sequence
// machinery (lengths, directions, layers, dropout, the backward loop over time) is in
// RecurrentEngine.cs, shared with Rnn and Lstm.
//
// Shapes (D = 2 if bidirectional else 1, L = numLayers):
//   input [T, B, I] (or [B, T, I] when batchFirst)   h0, hN [L·D, B, H]   output [T, B, D·H]
//   (one unbatched sequence: input [T, I], h0, hN [L·D, H], output [T, D·H])
// Per step (gates r, z, n in PyTorch's order, rows of W_ih [3H, in], W_hh [3H, H]):
//   r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//   h' = (1 − z) ⊙ n + z ⊙ h
namespace NeuralPrimitives;

/// <summary>
/// A multi-layer gated recurrent unit network (PyTorch's <c>nn.GRU</c>) with backpropagation through time.
/// Parameters are named as PyTorch's state_dict: <c>weight_ih_l0</c> [3H, I], <c>weight_hh_l0</c> [3H, H],
/// <c>bias_ih_l0</c>, <c>bias_hh_l0</c> [3H], and <c>..._reverse</c> for the backward direction; gates r, z, n.
/// </summary>
/// <remarks>
/// <para>Variable-length batches: pass <c>lengths</c> (one per sequence, 1..T, any order). A sequence's
/// state stops changing after its length, its outputs past the length are zero, the returned final
/// state is the one at its length, and the reverse direction starts at each sequence's own end.</para>
/// <para>Truncated BPTT: pass the <c>HN</c> returned by one chunk's <see cref="Forward"/> as <c>h0</c> of the
/// next (it is copied on entry); the gradient then stops at the chunk boundary.</para>
/// <para>Dropout between layers uses <see cref="RecurrentLayer{T}.DropoutRng"/>; set <see cref="RecurrentLayer{T}.ResampleDropout"/> to false
/// to reuse the same masks on every forward (for gradient checks).</para>
/// <para>Outputs returned by <see cref="Forward"/>/<see cref="Backward"/> are module-owned and valid until the next call.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Gru<T> : RecurrentLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the layer with PyTorch's initialisation: every weight and bias ~ U(±1/√hiddenSize).</summary>
    /// <param name="inputSize">Features per input timestep (≥ 1).</param>
    /// <param name="hiddenSize">Features of the hidden state (≥ 1).</param>
    /// <param name="numLayers">Number of stacked layers (≥ 1).</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="batchFirst">Input and output as [B, T, ·] instead of [T, B, ·].</param>
    /// <param name="dropout">Dropout probability on the outputs of every layer except the last, in training mode (0 ≤ p &lt; 1).</param>
    /// <param name="bidirectional">Also run each layer from the end of the sequence to its start.</param>
    /// <param name="rng">Random source for initialisation (and to seed <see cref="RecurrentLayer{T}.DropoutRng"/>); <see cref="Rng.Default"/> when null.</param>
    public Gru(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false,
        double dropout = 0, bool bidirectional = false, Rng? rng = null)
        : base(new RecurrentEngine<T>(RecurrentCellKind.Gru, inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, 0, rng))
    {
    }

    /// <summary>Training forward over a whole sequence; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[T, B, I], or [B, T, I] when <see cref="RecurrentLayer{T}.BatchFirst"/>, or one unbatched sequence [T, I] (then every state and result drops its batch axis, as in PyTorch); T ≥ 1.</param>
    /// <param name="h0">Initial hidden state [L·D, B, H] ([L·D, H] unbatched); zeros when null. Copied on entry.</param>
    /// <param name="lengths">Optional per-sequence lengths [B], each in 1..T, any order.</param>
    /// <returns>The output sequence [T, B, D·H] (or batch-first) and the final state [L·D, B, H] (module-owned).</returns>
    public (Tensor<T> Output, Tensor<T> HN) Forward(Tensor<T> input, Tensor<T>? h0 = null, int[]? lengths = null)
    {
        var (y, hN, _) = Engine.Forward(input, h0, null, lengths, Training);
        return (y, hN);
    }

    /// <summary>Backpropagation through time for the last <see cref="Forward"/>: accumulates every weight gradient.</summary>
    /// <param name="dOutput">∂L/∂output, same shape as the output.</param>
    /// <param name="dHN">∂L/∂hN, shaped as hN; zeros when null.</param>
    /// <returns>∂L/∂input and ∂L/∂h0 (module-owned).</returns>
    public (Tensor<T> DInput, Tensor<T> DH0) Backward(Tensor<T> dOutput, Tensor<T>? dHN = null)
    {
        var (dx, dh0, _) = Engine.Backward(dOutput, dHN, null);
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
