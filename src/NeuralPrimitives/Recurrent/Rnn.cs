// Rnn: a multi-layer Elman RNN over whole sequences (PyTorch's nn.RNN), with backpropagation
// through time. The per-step equations are in RnnStep.cs (the one-step module is RnnCell.cs); the
// sequence machinery (lengths, directions, layers, dropout, the backward loop over time) is the
// RecurrentEngine, shared with Lstm and Gru; ReferenceBptt.cs shows the algorithm plainly.
//
// Shapes (D = 2 if bidirectional else 1, L = numLayers):
//   input   [T, B, I]  (or [B, T, I] when batchFirst; or one unbatched sequence [T, I], when
//           every state and output below drops its B axis)
//   h0, hN  [L·D, B, H]            (always batch in the middle, as in PyTorch)
//   output  [T, B, D·H] (or [B, T, D·H])
// Forward, layer l, direction d, time t:   h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)
// Backward: a loop backwards over time carrying dh (RecurrentTimeLoop.cs).
namespace NeuralPrimitives;

/// <summary>
/// A multi-layer Elman RNN with tanh or ReLU non-linearity (PyTorch's <c>nn.RNN</c>):
/// <c>h_t = act(W_ih·x_t + b_ih + W_hh·h_(t−1) + b_hh)</c>, with backpropagation through time.
/// Parameters are named as PyTorch's state_dict: <c>weight_ih_l0</c>, <c>weight_hh_l0</c>,
/// <c>bias_ih_l0</c>, <c>bias_hh_l0</c>, and <c>..._reverse</c> for the backward direction.
/// </summary>
/// <remarks>
/// Lengths, truncated BPTT and the rules of the training pair: see <see cref="HiddenStateRecurrentLayer{T}"/>.
/// Dropout between layers uses <see cref="RecurrentLayer{T}.DropoutRng"/>; set <see cref="RecurrentLayer{T}.ResampleDropout"/> to false
/// to reuse the same masks on every forward (for gradient checks).
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Rnn<T> : HiddenStateRecurrentLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the layer with PyTorch's initialisation: every weight and bias ~ U(±1/√hiddenSize).</summary>
    /// <param name="inputSize">Features per input timestep (≥ 1).</param>
    /// <param name="hiddenSize">Features of the hidden state (≥ 1).</param>
    /// <param name="numLayers">Number of stacked layers (≥ 1).</param>
    /// <param name="nonlinearity">tanh (default) or ReLU.</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="batchFirst">Input and output as [B, T, ·] instead of [T, B, ·].</param>
    /// <param name="dropout">Dropout probability on the outputs of every layer except the last, in training mode (0 ≤ p &lt; 1).</param>
    /// <param name="bidirectional">Also run each layer from the end of the sequence to its start.</param>
    /// <param name="rng">Random source for initialisation (and to seed <see cref="RecurrentLayer{T}.DropoutRng"/>); <see cref="Rng.Default"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, a weight would not fit one array, or dropout is outside [0, 1).</exception>
    public Rnn(int inputSize, int hiddenSize, int numLayers = 1, RnnNonlinearity nonlinearity = RnnNonlinearity.Tanh,
        bool bias = true, bool batchFirst = false, double dropout = 0, bool bidirectional = false, Rng? rng = null)
        : base(nonlinearity switch
        {
            RnnNonlinearity.Tanh => new RecurrentEngine<T, RnnStep<T, RnnTanh<T>>>("Rnn", inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, 0, rng),
            RnnNonlinearity.Relu => new RecurrentEngine<T, RnnStep<T, RnnRelu<T>>>("Rnn", inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, 0, rng),
            _ => throw new ArgumentOutOfRangeException(nameof(nonlinearity), nonlinearity, $"nonlinearity must be Tanh or Relu, got {nonlinearity}."),
        })
    {
        Nonlinearity = nonlinearity;
    }

    /// <summary>The non-linearity.</summary>
    public RnnNonlinearity Nonlinearity { get; }
}
