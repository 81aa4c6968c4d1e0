// Reduced-rank multiplicative score: e_bt = s_bᵀ W h_bt with W = UᵀV of rank r ≪ min(Ds, Dh), i.e.
// e_bt = (U s_b) · (V h_bt): both states are projected into a shared r-dimensional space and compared
// there. r(Ds + Dh) parameters instead of Ds·Dh, and a built-in regulariser.
//
// Query (BilinearAttention.cs): u = s·Uᵀ      [B, Ds]·[Ds, r] → [B, r]
//                               q = u·V       [B, r]·[r, Dh]  → [B, Dh]        (so q = Wᵀs = VᵀU s)
// Backward:                     du  = dq·Vᵀ   [B, Dh]·[Dh, r]
//                               dV += uᵀ·dq   [r, B]·[B, Dh]
//                               dU += duᵀ·s   [r, B]·[B, Ds]
//                               ds  = du·U    [B, r]·[r, Ds]
// Parameters: u [r, Ds] and v [r, Dh], the U and V of W = UᵀV, initialised like the weights of
// Linear(Ds → r) and of Linear(r → Dh) stored transposed: U(±1/√Ds) and U(±1/√r).
namespace NeuralPrimitives;

/// <summary>
/// Reduced-rank multiplicative attention: scores <c>e_t = sᵀ UᵀV h_t = (U s)·(V h_t)</c> with learned <c>u</c> [r, Ds]
/// and <c>v</c> [r, Dh], then the masked softmax and the context of <see cref="ClassicAttention{T}"/>.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class LowRankAttention<T> : BilinearAttention<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _u = new(), _du = new();

    /// <summary>Creates the module.</summary>
    /// <param name="stateSize">Ds (≥ 1).</param>
    /// <param name="encoderSize">Dh (≥ 1).</param>
    /// <param name="rank">r, the rank of W (≥ 1; a rank ≥ min(Ds, Dh) is allowed but no cheaper than <see cref="GeneralAttention{T}"/>).</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public LowRankAttention(int stateSize, int encoderSize, int rank, Rng? rng = null) : base(stateSize, encoderSize)
    {
        Guard.Positive(rank);
        Rank = rank;
        rng ??= Rng.Default;
        U = RegisterParameter("u", new Parameter<T>("u", rank, stateSize));
        V = RegisterParameter("v", new Parameter<T>("v", rank, encoderSize));
        Init.UniformFanIn(U, stateSize, rng);
        Init.UniformFanIn(V, rank, rng);
    }

    /// <summary>r, the rank of W = UᵀV.</summary>
    public int Rank { get; }

    /// <summary>U [r, Ds].</summary>
    public Parameter<T> U { get; }

    /// <summary>V [r, Dh].</summary>
    public Parameter<T> V { get; }

    /// <inheritdoc />
    protected override void Query(ReadOnlySpan<T> state, Span<T> query, int batch, bool training)
    {
        var u = training ? _u.GetSpan(batch * Rank) : new T[batch * Rank];
        Gemm.Multiply(false, true, batch, Rank, StateSize, T.One, state, U.Data, T.Zero, u);          // u = s·Uᵀ
        Gemm.Multiply(false, false, batch, EncoderSize, Rank, T.One, u, V.Data, T.Zero, query);       // q = u·V
    }

    /// <inheritdoc />
    protected override void QueryBackward(ReadOnlySpan<T> state, ReadOnlySpan<T> dQuery, Span<T> dState, int batch)
    {
        var u = _u.Array.AsSpan(0, batch * Rank);
        var du = _du.GetSpan(batch * Rank);
        Gemm.Multiply(false, true, batch, Rank, EncoderSize, T.One, dQuery, V.Data, T.Zero, du);      // du = dq·Vᵀ
        if (V.RequiresGrad) Gemm.Multiply(true, false, Rank, EncoderSize, batch, T.One, u, dQuery, T.One, V.Grad); // dV += uᵀ·dq
        if (U.RequiresGrad) Gemm.Multiply(true, false, Rank, StateSize, batch, T.One, du, state, T.One, U.Grad);   // dU += duᵀ·s
        Gemm.Multiply(false, false, batch, StateSize, Rank, T.One, du, U.Data, T.Zero, dState);       // ds = du·U
    }
}
