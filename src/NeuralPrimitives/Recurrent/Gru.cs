// Gru: a multi-layer GRU over whole sequences (PyTorch's nn.GRU), with backpropagation through
// time. The per-step equations and their derivatives are in GruStep.cs (the one-step module is
// GruCell.cs); the sequence machinery (lengths, directions, layers, dropout, the backward loop over
// time) is the RecurrentEngine, shared with Rnn and Lstm.
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
/// Lengths, truncated BPTT and the rules of the training pair: see <see cref="HiddenStateRecurrentLayer{T}"/>.
/// Dropout between layers uses <see cref="RecurrentLayer{T}.DropoutRng"/>; set <see cref="RecurrentLayer{T}.ResampleDropout"/> to false
/// to reuse the same masks on every forward (for gradient checks).
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Gru<T> : HiddenStateRecurrentLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
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
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, a weight would not fit one array, or dropout is outside [0, 1).</exception>
    public Gru(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false,
        double dropout = 0, bool bidirectional = false, Rng? rng = null)
        : base(new RecurrentEngine<T, GruStep<T>>("Gru", inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, 0, rng))
    {
    }
}
