// Lstm: a multi-layer LSTM over whole sequences (PyTorch's nn.LSTM), with backpropagation
// through time and optional projection (projSize, PyTorch's LSTMP). The per-step equations
// and their derivatives are in LstmStep.cs (the one-step module is LstmCell.cs); the sequence
// machinery (lengths, directions, layers, dropout, the backward loop over time carrying dh and dc)
// is the RecurrentEngine (RecurrentEngine.cs). ReferenceBptt.cs computes the same gradients plainly.
//
// Shapes (D = 2 if bidirectional else 1, L = numLayers, P = projSize > 0 ? projSize : H):
//   input   [T, B, I]  (or [B, T, I] when batchFirst; or one unbatched sequence [T, I], when
//           every state and output below drops its B axis)
//   h0, hN  [L·D, B, P]      c0, cN  [L·D, B, H]
//   output  [T, B, D·P] (or [B, T, D·P])
// Per step (gates i, f, g, o in PyTorch's order, rows of W_ih [4H, in], W_hh [4H, P]):
//   [i f g o] = [σ σ tanh σ](W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)
//   c_t = f ⊙ c_{t−1} + i ⊙ g
//   h_t = o ⊙ tanh(c_t)                      (projSize = 0)
//   h_t = W_hr (o ⊙ tanh(c_t))               (projSize > 0, W_hr [P, H])
// Backward of the projection (the rest is LstmStep.cs's backward, applied at every step of the
// BPTT loop in RecurrentTimeLoop.cs), with m_t = o ⊙ tanh(c_t):
//   dm_t   = dh_t · W_hr                      [B, H]   (then dh' = dm_t in the cell equations)
//   dW_hr += Σ_t dh_tᵀ · m_t                  [P, H]   (one GEMM over all T·B rows)
namespace NeuralPrimitives;

/// <summary>
/// A multi-layer long short-term memory network (PyTorch's <c>nn.LSTM</c>), with optional projection
/// (<c>projSize</c>) and backpropagation through time. Parameters are named as PyTorch's state_dict:
/// <c>weight_ih_l0</c> [4H, I], <c>weight_hh_l0</c> [4H, P], <c>bias_ih_l0</c>, <c>bias_hh_l0</c> [4H],
/// <c>weight_hr_l0</c> [P, H] (projSize &gt; 0), and <c>..._reverse</c> for the backward direction; gates i, f, g, o.
/// </summary>
/// <remarks>
/// <para>Variable-length batches: pass <c>lengths</c> (one per sequence, 1..T, any order). A sequence's
/// states stop changing after its length, its outputs past the length are zero, the returned final
/// states are those at its length, and the reverse direction starts at each sequence's own end.</para>
/// <para>Truncated BPTT: pass the <c>HN</c>, <c>CN</c> returned by one chunk's <see cref="Forward"/> as <c>h0</c>, <c>c0</c>
/// of the next (they are copied on entry); the gradient then stops at the chunk boundary.</para>
/// <para>Exactly one <see cref="Backward"/> per <see cref="Forward"/>, on one thread at a time: a second Backward, one before
/// any Forward or after a Forward that threw, and a call entered while another thread is inside either, throw
/// <see cref="InvalidOperationException"/>. <see cref="Infer"/> may run on many threads at once.</para>
/// <para>Dropout between layers uses <see cref="RecurrentLayer{T}.DropoutRng"/>; set <see cref="RecurrentLayer{T}.ResampleDropout"/> to false
/// to reuse the same masks on every forward (for gradient checks).</para>
/// <para>Outputs returned by <see cref="Forward"/>/<see cref="Backward"/> are module-owned and valid until the next call.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Lstm<T> : RecurrentLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the layer with PyTorch's initialisation: every weight and bias ~ U(±1/√hiddenSize).</summary>
    /// <param name="inputSize">Features per input timestep (≥ 1).</param>
    /// <param name="hiddenSize">Features of the cell state (≥ 1).</param>
    /// <param name="numLayers">Number of stacked layers (≥ 1).</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="batchFirst">Input and output as [B, T, ·] instead of [T, B, ·].</param>
    /// <param name="dropout">Dropout probability on the outputs of every layer except the last, in training mode (0 ≤ p &lt; 1).</param>
    /// <param name="bidirectional">Also run each layer from the end of the sequence to its start.</param>
    /// <param name="projSize">If &gt; 0, the hidden state is projected to this size by <c>weight_hr</c> (must be &lt; hiddenSize).</param>
    /// <param name="rng">Random source for initialisation (and to seed <see cref="RecurrentLayer{T}.DropoutRng"/>); <see cref="Rng.Default"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, projSize ≥ hiddenSize, a weight would not fit one array, or dropout is outside [0, 1).</exception>
    public Lstm(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false,
        double dropout = 0, bool bidirectional = false, int projSize = 0, Rng? rng = null)
        : base(new RecurrentEngine<T, LstmStep<T>>("Lstm", inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, projSize, rng))
    {
    }

    /// <summary>Projection size (0 = no projection).</summary>
    public int ProjSize => Engine.ProjSize;

    /// <summary>Training forward over a whole sequence; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[T, B, I], or [B, T, I] when <see cref="RecurrentLayer{T}.BatchFirst"/>, or one unbatched sequence [T, I] (then every state and result drops its batch axis, as in PyTorch); T ≥ 1.</param>
    /// <param name="h0">Initial hidden state [L·D, B, P] ([L·D, P] unbatched); zeros when null. Copied on entry.</param>
    /// <param name="c0">Initial cell state [L·D, B, H] ([L·D, H] unbatched); zeros when null. Copied on entry.</param>
    /// <param name="lengths">Optional per-sequence lengths [B], each in 1..T, any order.</param>
    /// <returns>The output sequence [T, B, D·P] (or batch-first), the final hidden state [L·D, B, P] and final cell state [L·D, B, H] (module-owned).</returns>
    public (Tensor<T> Output, Tensor<T> HN, Tensor<T> CN) Forward(Tensor<T> input, Tensor<T>? h0 = null, Tensor<T>? c0 = null, int[]? lengths = null)
    {
        var (y, hN, cN) = GuardedForward(input, h0, c0, lengths);
        return (y, hN, cN!);
    }

    /// <summary>Backpropagation through time for the last <see cref="Forward"/>: accumulates every weight gradient.</summary>
    /// <param name="dOutput">∂L/∂output, same shape as the output.</param>
    /// <param name="dHN">∂L/∂hN, shaped as hN; zeros when null.</param>
    /// <param name="dCN">∂L/∂cN, shaped as cN; zeros when null.</param>
    /// <returns>∂L/∂input, ∂L/∂h0 and ∂L/∂c0 (module-owned).</returns>
    public (Tensor<T> DInput, Tensor<T> DH0, Tensor<T> DC0) Backward(Tensor<T> dOutput, Tensor<T>? dHN = null, Tensor<T>? dCN = null)
    {
        var (dx, dh0, dc0) = GuardedBackward(dOutput, dHN, dCN);
        return (dx, dh0, dc0!);
    }

    /// <summary>Inference forward (no dropout): keeps nothing for a backward pass, returns new tensors, safe to call from several threads at once. Its scratch memory comes from a per-module pool (one workspace per concurrent caller), so repeated calls do not re-allocate it.</summary>
    /// <param name="input">As for <see cref="Forward"/>.</param>
    /// <param name="h0">As for <see cref="Forward"/>.</param>
    /// <param name="c0">As for <see cref="Forward"/>.</param>
    /// <param name="lengths">As for <see cref="Forward"/>.</param>
    /// <returns>The output sequence and the final states (new tensors).</returns>
    public (Tensor<T> Output, Tensor<T> HN, Tensor<T> CN) Infer(Tensor<T> input, Tensor<T>? h0 = null, Tensor<T>? c0 = null, int[]? lengths = null)
    {
        var (y, hN, cN) = Engine.Infer(input, h0, c0, lengths);
        return (y, hN, cN!);
    }
}
