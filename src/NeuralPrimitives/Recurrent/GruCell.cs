// GruCell: one step of a gated recurrent unit (PyTorch's nn.GRUCell).
//
// Shapes:  x [B, I]   h [B, H]   W_ih [3H, I]   W_hh [3H, H]   b_ih, b_hh [3H]
//          gate rows in PyTorch's order: r (reset), z (update), n (new)
// Forward (PyTorch's variant: b_hn sits inside the reset product):
//   gx = x·W_ihᵀ + b_ih = [gx_r gx_z gx_n]       gh = h·W_hhᵀ + b_hh = [gh_r gh_z gh_n]
//   r = σ(gx_r + gh_r)      z = σ(gx_z + gh_z)                                 (GruStep.cs)
//   n = tanh(gx_n + r ⊙ gh_n)
//   h' = (1 − z) ⊙ n + z ⊙ h
// Backward (given dh'):                                                         (GruStep.cs)
//   dn = dh' ⊙ (1 − z)        dz = dh' ⊙ (h − n)        dh (direct) = dh' ⊙ z
//   dan = dn ⊙ (1 − n²)       (gradient of n's pre-activation)
//   dr  = dan ⊙ gh_n          dgh_n = dan ⊙ r
//   dar = dr ⊙ r(1 − r)       daz = dz ⊙ z(1 − z)
//   dGx = [dar, daz, dan]     dGh = [dar, daz, dgh_n]                          [B, 3H]
//   dx = dGx·W_ih             dh = dh' ⊙ z + dGh·W_hh                           (RecurrentCell.cs)
//   dW_ih += dGxᵀ·x   dW_hh += dGhᵀ·h   db_ih += Σ_b dGx   db_hh += Σ_b dGh
// Init (PyTorch): every weight and bias ~ U(±1/√H).
namespace NeuralPrimitives;

/// <summary>
/// One step of a GRU (PyTorch's <c>nn.GRUCell</c>), gates r, z, n:
/// <c>n = tanh(W_in·x + b_in + r⊙(W_hn·h + b_hn))</c>, <c>h' = (1−z)⊙n + z⊙h</c>.
/// Parameters: <c>weight_ih</c> [3H, I], <c>weight_hh</c> [3H, H], <c>bias_ih</c> [3H], <c>bias_hh</c> [3H].
/// </summary>
/// <remarks>
/// Inputs are batched, <c>input</c> [B, I], <c>hx</c> [B, H], or one unbatched row (PyTorch's 1-D input: [I], [H]). <see cref="Forward"/>/<see cref="Backward"/> belong to one thread
/// at a time (exactly one Backward per Forward; misuse throws <see cref="InvalidOperationException"/>) and return module-owned tensors valid until the next call;
/// <see cref="Infer"/> is thread-safe and allocates.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class GruCell<T> : RecurrentCell<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the cell with PyTorch's initialisation (every weight and bias ~ U(±1/√hiddenSize)).</summary>
    /// <param name="inputSize">Features of the input (≥ 1).</param>
    /// <param name="hiddenSize">Features of the hidden state (≥ 1).</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or a weight would not fit one array.</exception>
    public GruCell(int inputSize, int hiddenSize, bool bias = true, Rng? rng = null)
        : base("GruCell", inputSize, hiddenSize, 3, bias, rng)
    {
    }

    /// <summary>Training forward of one step; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' [B, H], or [H] unbatched (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> input, Tensor<T>? hx = null) => TrainingForward<GruStep<T>>(input, hx, null).H;

    /// <summary>Inference forward of one step: caches nothing, allocates the result, thread-safe.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' [B, H], or [H] unbatched.</returns>
    public Tensor<T> Infer(Tensor<T> input, Tensor<T>? hx = null) => InferStep<GruStep<T>>(input, hx, null).H;

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates parameter gradients.</summary>
    /// <param name="dH">∂L/∂h', shaped as h'.</param>
    /// <returns>∂L/∂input [B, I] and ∂L/∂hx [B, H] (module-owned; [I] and [H] unbatched).</returns>
    public (Tensor<T> DInput, Tensor<T> DHx) Backward(Tensor<T> dH)
    {
        var (dx, dh, _) = TrainingBackward<GruStep<T>>(dH, null);
        return (dx, dh);
    }
}
