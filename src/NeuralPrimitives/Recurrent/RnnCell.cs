// RnnCell: one step of an Elman RNN (PyTorch's nn.RNNCell).
//
// Shapes:  x [B, I]   h [B, H]   W_ih [H, I]   W_hh [H, H]   b_ih, b_hh [H]   h' [B, H]
// Forward:
//   a  = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh            pre-activation            [B, H]
//   h' = act(a),  act = tanh or relu                 (RnnStep.cs)
// Backward (given dh' = ∂L/∂h'):
//   da     = dh' ⊙ act'(a),  tanh'(a) = 1 − h'²,  relu'(a) = [h' > 0]   (RnnStep.cs)
//   dx     = da·W_ih                                                           [B, I]
//   dh     = da·W_hh                                                           [B, H]
//   dW_ih += daᵀ·x      dW_hh += daᵀ·h      db_ih += Σ_b da      db_hh += Σ_b da
// The matrix products are RecurrentCell.cs's, shared by the three cells.
// Why gradients vanish or explode over time: unrolled, ∂h_t/∂h_{t−1} = diag(act'(a_t))·W_hh, so
// the gradient reaching step t−k is a product of k such Jacobians. With ‖W_hh‖ < 1 and
// |tanh'| ≤ 1 it shrinks geometrically in k; with ‖W_hh‖ > 1 (and unsaturated units) it can grow.
// Init (PyTorch): every weight and bias ~ U(±1/√H).
namespace NeuralPrimitives;

/// <summary>The non-linearity of an Elman RNN (PyTorch's <c>nonlinearity='tanh' | 'relu'</c>).</summary>
public enum RnnNonlinearity
{
    /// <summary>h' = tanh(a) (PyTorch's default).</summary>
    Tanh,

    /// <summary>h' = max(0, a).</summary>
    Relu,
}

/// <summary>
/// One step of an Elman RNN (PyTorch's <c>nn.RNNCell</c>): <c>h' = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh)</c>.
/// Parameters: <c>weight_ih</c> [H, I], <c>weight_hh</c> [H, H], <c>bias_ih</c> [H], <c>bias_hh</c> [H].
/// </summary>
/// <remarks>
/// Inputs are batched, <c>input</c> [B, I], <c>hx</c> [B, H], or one unbatched row (PyTorch's 1-D input: [I], [H]). <see cref="Forward"/>/<see cref="Backward"/> belong to one thread
/// at a time (exactly one Backward per Forward; misuse throws <see cref="InvalidOperationException"/>) and return module-owned tensors valid until the next call;
/// <see cref="Infer"/> is thread-safe and allocates.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class RnnCell<T> : RecurrentCell<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the cell with PyTorch's initialisation (every weight and bias ~ U(±1/√hiddenSize)).</summary>
    /// <param name="inputSize">Features of the input (≥ 1).</param>
    /// <param name="hiddenSize">Features of the hidden state (≥ 1).</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="nonlinearity">tanh (default) or ReLU.</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, a weight would not fit one array, or the non-linearity is unknown.</exception>
    public RnnCell(int inputSize, int hiddenSize, bool bias = true, RnnNonlinearity nonlinearity = RnnNonlinearity.Tanh, Rng? rng = null)
        : base("RnnCell", inputSize, hiddenSize, 1, bias, rng)
    {
        if (nonlinearity is not (RnnNonlinearity.Tanh or RnnNonlinearity.Relu))
            throw new ArgumentOutOfRangeException(nameof(nonlinearity), nonlinearity, $"nonlinearity must be Tanh or Relu, got {nonlinearity}.");
        Nonlinearity = nonlinearity;
    }

    /// <summary>The non-linearity.</summary>
    public RnnNonlinearity Nonlinearity { get; }

    /// <summary>Training forward of one step; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' [B, H], or [H] unbatched (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> input, Tensor<T>? hx = null) => Nonlinearity == RnnNonlinearity.Tanh
        ? TrainingForward<RnnStep<T, RnnTanh<T>>>(input, hx, null).H
        : TrainingForward<RnnStep<T, RnnRelu<T>>>(input, hx, null).H;

    /// <summary>Inference forward of one step: caches nothing, allocates the result, thread-safe.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' [B, H], or [H] unbatched.</returns>
    public Tensor<T> Infer(Tensor<T> input, Tensor<T>? hx = null) => Nonlinearity == RnnNonlinearity.Tanh
        ? InferStep<RnnStep<T, RnnTanh<T>>>(input, hx, null).H
        : InferStep<RnnStep<T, RnnRelu<T>>>(input, hx, null).H;

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates parameter gradients.</summary>
    /// <param name="dH">∂L/∂h', shaped as h'.</param>
    /// <returns>∂L/∂input [B, I] and ∂L/∂hx [B, H] (module-owned; [I] and [H] unbatched).</returns>
    public (Tensor<T> DInput, Tensor<T> DHx) Backward(Tensor<T> dH)
    {
        var (dx, dh, _) = Nonlinearity == RnnNonlinearity.Tanh ? TrainingBackward<RnnStep<T, RnnTanh<T>>>(dH, null) : TrainingBackward<RnnStep<T, RnnRelu<T>>>(dH, null);
        return (dx, dh);
    }
}
