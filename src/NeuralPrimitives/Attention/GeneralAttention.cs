// Multiplicative ("general") score (Luong et al. 2015): e_bt = s_bᵀ W h_bt, W [Ds, Dh] learned, so the
// decoder and encoder states may differ in size and are compared in a learned basis.
//
// Query (BilinearAttention.cs): q = s·W                 [B, Ds]·[Ds, Dh] → [B, Dh]   (one GEMM)
// Backward:                     dW += sᵀ·dq              [Ds, B]·[B, Dh]              (GEMM, transposeA)
//                               ds  = dq·Wᵀ              [B, Dh]·[Dh, Ds]             (GEMM, transposeB)
// Parameter: weight [Ds, Dh] (Luong's W_a; nn.Bilinear(Ds, Dh, 1, bias=False).weight[0]), initialised
// as nn.Bilinear does: U(±1/√Ds).
namespace NeuralPrimitives;

/// <summary>
/// Luong's general (multiplicative) attention: scores <c>e_t = sᵀ W h_t</c> with a learned <c>weight</c> W [Ds, Dh],
/// then the masked softmax and the context of <see cref="ClassicAttention{T}"/>.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class GeneralAttention<T> : BilinearAttention<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the module; W ~ U(±1/√Ds) (nn.Bilinear's initialisation).</summary>
    /// <param name="stateSize">Ds (≥ 1).</param>
    /// <param name="encoderSize">Dh (≥ 1).</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public GeneralAttention(int stateSize, int encoderSize, Rng? rng = null) : base(stateSize, encoderSize)
    {
        Weight = RegisterParameter("weight", new Parameter<T>("weight", stateSize, encoderSize));
        Init.UniformFanIn(Weight, stateSize, rng ?? Rng.Default);
    }

    /// <summary>W [Ds, Dh] (Luong's W_a).</summary>
    public Parameter<T> Weight { get; }

    /// <inheritdoc />
    protected override void Query(ReadOnlySpan<T> state, Span<T> query, int batch, bool training) =>
        Gemm.Multiply(false, false, batch, EncoderSize, StateSize, T.One, state, Weight.Data, T.Zero, query);          // q = s·W

    /// <inheritdoc />
    protected override void QueryBackward(ReadOnlySpan<T> state, ReadOnlySpan<T> dQuery, Span<T> dState, int batch)
    {
        if (Weight.RequiresGrad)
            Gemm.Multiply(true, false, StateSize, EncoderSize, batch, T.One, state, dQuery, T.One, Weight.Grad);       // dW += sᵀ·dq
        Gemm.Multiply(false, true, batch, StateSize, EncoderSize, T.One, dQuery, Weight.Data, T.Zero, dState);         // ds = dq·Wᵀ
    }
}
