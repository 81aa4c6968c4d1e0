// The bilinear scores of Luong et al. (2015): e_bt = s_bᵀ W h_bt for some matrix W [Ds, Dh].
// Computed as a dot product with a projected query, q_b = Wᵀ s_b, so the projection costs B·Ds·Dh once
// per batch row instead of once per source position:
//
//   e_bt = q_b · h_bt                       q = query(s) [B, Dh], by the subclass:
//     DotAttention       W = I              q = s                 (needs Ds = Dh; no parameters)
//     GeneralAttention   W                  q = s·W
//     LowRankAttention   W = UᵀV, rank r    q = (s·Uᵀ)·V          (r(Ds + Dh) parameters instead of Ds·Dh)
// Backward, from de [B, T]:
//   dq_b   = Σ_t de_bt h_bt
//   dh_bt += de_bt q_b
//   ds, dW from dq                          (the subclass: the backward of its query projection)
namespace NeuralPrimitives;

/// <summary>
/// Base of the bilinear scores <c>e = sᵀ W h</c> (<see cref="DotAttention{T}"/>, <see cref="GeneralAttention{T}"/>,
/// <see cref="LowRankAttention{T}"/>): each supplies its query projection q = Wᵀ s, and the score is q · h_t.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class BilinearAttention<T> : ClassicAttention<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _query = new(), _dQuery = new();

    /// <summary>Sets the sizes (see <see cref="ClassicAttention{T}"/>).</summary>
    /// <param name="stateSize">Ds (≥ 1).</param>
    /// <param name="encoderSize">Dh (≥ 1).</param>
    protected BilinearAttention(int stateSize, int encoderSize) : base(stateSize, encoderSize) { }

    /// <summary>
    /// Writes the query q = Wᵀ s [B, Dh] for the state s [B, Ds]. With <paramref name="training"/> it may keep
    /// intermediates for <see cref="QueryBackward"/>; otherwise it must cache nothing (thread-safe inference).
    /// </summary>
    /// <param name="state">s [B, Ds].</param>
    /// <param name="query">q [B, Dh], to be written.</param>
    /// <param name="batch">B.</param>
    /// <param name="training">Whether this is the training forward.</param>
    protected abstract void Query(ReadOnlySpan<T> state, Span<T> query, int batch, bool training);

    /// <summary>Backward of the last training <see cref="Query"/>: writes ds [B, Ds] from dq [B, Dh] and accumulates dW.</summary>
    /// <param name="state">s [B, Ds] of the last training forward.</param>
    /// <param name="dQuery">dq [B, Dh].</param>
    /// <param name="dState">ds [B, Ds], to be written.</param>
    /// <param name="batch">B.</param>
    protected abstract void QueryBackward(ReadOnlySpan<T> state, ReadOnlySpan<T> dQuery, Span<T> dState, int batch);

    /// <inheritdoc />
    protected sealed override void Score(Tensor<T> state, Tensor<T> encoder, Span<T> scores, bool training)
    {
        int batch = (int)encoder.Lengths[0], steps = (int)encoder.Lengths[1], d = EncoderSize;
        var query = training ? _query.GetSpan(batch * d) : new T[batch * d];
        Query(state.AsReadOnlySpan(), query, batch, training);
        var h = encoder.AsReadOnlySpan();
        for (int b = 0; b < batch; b++)
            RowDots(h.Slice(b * steps * d, steps * d), query.Slice(b * d, d), scores.Slice(b * steps, steps)); // e_bt = q_b · h_bt
    }

    /// <inheritdoc />
    protected sealed override void ScoreBackward(ReadOnlySpan<T> dScores, Span<T> dState, Span<T> dEncoder)
    {
        var encoder = LastEncoder;
        int batch = (int)encoder.Lengths[0], steps = (int)encoder.Lengths[1], d = EncoderSize;
        var h = encoder.AsReadOnlySpan();
        var query = _query.Array.AsSpan(0, batch * d);
        var dQuery = _dQuery.GetSpan(batch * d, clear: true);
        for (int b = 0; b < batch; b++)
        {
            var de = dScores.Slice(b * steps, steps);
            WeightedSum(de, h.Slice(b * steps * d, steps * d), dQuery.Slice(b * d, d));    // dq_b = Σ_t de_bt h_bt
            AddOuter(de, query.Slice(b * d, d), dEncoder.Slice(b * steps * d, steps * d)); // dh_bt += de_bt q_b
        }
        QueryBackward(LastState.AsReadOnlySpan(), dQuery, dState, batch);
    }
}
