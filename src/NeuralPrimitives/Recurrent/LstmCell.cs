// LstmCell: one step of a long short-term memory cell (PyTorch's nn.LSTMCell).
//
// Shapes:  x [B, I]   h, c [B, H]   W_ih [4H, I]   W_hh [4H, H]   b_ih, b_hh [4H]
//          gate rows in PyTorch's order: i (input), f (forget), g (candidate), o (output)
// Forward:
//   a = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh = [a_i a_f a_g a_o]                    [B, 4H]
//   i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)                       (LstmStep.cs)
//   c' = f ⊙ c + i ⊙ g
//   h' = o ⊙ tanh(c')
// Backward (given dh' and dc' from above; σ' = σ(1 − σ), tanh' = 1 − tanh²):   (LstmStep.cs)
//   dc'  ← dc' + dh' ⊙ o ⊙ (1 − tanh²(c'))          (total gradient reaching c')
//   di   = dc' ⊙ g        df = dc' ⊙ c        dg = dc' ⊙ i        do = dh' ⊙ tanh(c')
//   dc   = dc' ⊙ f                                 (the "constant error carousel")
//   da   = [di·i(1−i), df·f(1−f), dg·(1−g²), do·o(1−o)]                       [B, 4H]
//   dx   = da·W_ih        dh = da·W_hh                                          (RecurrentCell.cs)
//   dW_ih += daᵀ·x   dW_hh += daᵀ·h   db_ih += Σ_b da   db_hh += Σ_b da
// Unrolled over a sequence, these steps are backpropagation through time: ReferenceBptt.cs.
// Init (PyTorch): every weight and bias ~ U(±1/√H).
namespace NeuralPrimitives;

/// <summary>
/// One step of an LSTM (PyTorch's <c>nn.LSTMCell</c>), gates i, f, g, o:
/// <c>c' = f⊙c + i⊙g</c>, <c>h' = o⊙tanh(c')</c>. Parameters: <c>weight_ih</c> [4H, I], <c>weight_hh</c> [4H, H],
/// <c>bias_ih</c> [4H], <c>bias_hh</c> [4H].
/// </summary>
/// <remarks>
/// Inputs are batched, <c>input</c> [B, I], <c>hx</c>, <c>cx</c> [B, H], or one unbatched row (PyTorch's 1-D input: [I], [H]). <see cref="Forward"/>/<see cref="Backward"/> belong to one
/// thread at a time (exactly one Backward per Forward; misuse throws <see cref="InvalidOperationException"/>) and return module-owned tensors valid until the next call;
/// <see cref="Infer"/> is thread-safe and allocates.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class LstmCell<T> : RecurrentCell<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the cell with PyTorch's initialisation (every weight and bias ~ U(±1/√hiddenSize)).</summary>
    /// <param name="inputSize">Features of the input (≥ 1).</param>
    /// <param name="hiddenSize">Features of the hidden and cell state (≥ 1).</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or a weight would not fit one array.</exception>
    public LstmCell(int inputSize, int hiddenSize, bool bias = true, Rng? rng = null)
        : base("LstmCell", inputSize, hiddenSize, 4, bias, rng)
    {
    }

    /// <summary>Training forward of one step; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <param name="cx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' and c', each [B, H] or, unbatched, [H] (module-owned).</returns>
    public (Tensor<T> H, Tensor<T> C) Forward(Tensor<T> input, Tensor<T>? hx = null, Tensor<T>? cx = null)
    {
        var (h, c) = TrainingForward<LstmStep<T>>(input, hx, cx);
        return (h, c!);
    }

    /// <summary>Inference forward of one step: caches nothing, allocates its results, thread-safe.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <param name="cx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' and c', each [B, H] or, unbatched, [H].</returns>
    public (Tensor<T> H, Tensor<T> C) Infer(Tensor<T> input, Tensor<T>? hx = null, Tensor<T>? cx = null)
    {
        var (h, c) = InferStep<LstmStep<T>>(input, hx, cx);
        return (h, c!);
    }

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates parameter gradients.</summary>
    /// <param name="dH">∂L/∂h', shaped as h'.</param>
    /// <param name="dC">∂L/∂c', shaped as c'; zeros when null.</param>
    /// <returns>∂L/∂input [B, I], ∂L/∂hx [B, H] and ∂L/∂cx [B, H] (module-owned; [I] and [H] unbatched).</returns>
    public (Tensor<T> DInput, Tensor<T> DHx, Tensor<T> DCx) Backward(Tensor<T> dH, Tensor<T>? dC = null)
    {
        var (dx, dh, dc) = TrainingBackward<LstmStep<T>>(dH, dC);
        return (dx, dh, dc!);
    }
}
