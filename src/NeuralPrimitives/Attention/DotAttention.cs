// Dot-product score (Luong et al. 2015, "dot"): e_bt = s_b · h_bt. No parameters; the decoder state and
// the encoder states must have the same size. The query is the state itself (q = s, W = I in
// BilinearAttention.cs), so ds = dq. Unscaled: Transformer attention later divides by √d because its
// scores grow with d (see ScaledDotProductAttention).
namespace NeuralPrimitives;

/// <summary>
/// Luong's dot attention: scores <c>e_t = sᵀ h_t</c>, then the masked softmax and the context of
/// <see cref="ClassicAttention{T}"/>. No parameters; Ds = Dh.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class DotAttention<T> : BilinearAttention<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the module.</summary>
    /// <param name="size">The size of the decoder state and of each encoder state (≥ 1).</param>
    public DotAttention(int size) : base(size, size) { }

    /// <inheritdoc />
    protected override void Query(ReadOnlySpan<T> state, Span<T> query, int batch, bool training) => state.CopyTo(query);  // q = s

    /// <inheritdoc />
    protected override void QueryBackward(ReadOnlySpan<T> state, ReadOnlySpan<T> dQuery, Span<T> dState, int batch) => dQuery.CopyTo(dState); // ds = dq
}
