// The linear projections around attention (the in/out projections of MultiheadAttention and the
// q/k/v/o projections of GroupedQueryAttention), on rows that may be strided:
//
//   Forward:   Y = X·Wᵀ + b          X [rows, in] (row stride ldx), W [out, in], b [out], Y [rows, out] (row stride ldy)
//   Backward:  dX (+)= dY·W          dW += dYᵀ·X          db += Σ_rows dY
//
// This is Linear's math (Layers/Linear.cs) on raw spans, so that a projection can read one head
// group's columns of a packed buffer, write into a slice of another, and run on a third of a packed
// weight (in_proj_weight = [W_q; W_k; W_v]) without copies.
namespace NeuralPrimitives;

internal static class AttentionProjection
{
    /// <summary>Y = X·Wᵀ + b (no bias when <paramref name="bias"/> is empty).</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, int ldx, int rows, ReadOnlySpan<T> weight, int inFeatures, int outFeatures,
        ReadOnlySpan<T> bias, Span<T> y, int ldy) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (bias.IsEmpty) Gemm.Multiply(false, true, rows, outFeatures, inFeatures, T.One, x, ldx, weight, inFeatures, T.Zero, y, ldy);
        else Gemm.MultiplyAddBias(false, true, rows, outFeatures, inFeatures, x, ldx, weight, inFeatures, bias[..outFeatures], y, ldy);
    }

    /// <summary>Y = X·Wᵀ + b with an optional bias array.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, int ldx, int rows, ReadOnlySpan<T> weight, int inFeatures, int outFeatures,
        T[]? bias, Span<T> y, int ldy) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => Forward(x, ldx, rows, weight, inFeatures, outFeatures, bias is null ? default : (ReadOnlySpan<T>)bias, y, ldy);

    /// <summary>
    /// dX (+)= dY·W, dW += dYᵀ·X, db += Σ_rows dY. W is rows [part·out, (part+1)·out) of <paramref name="weight"/> (part −1: all of it)
    /// and b the same part of <paramref name="bias"/>; frozen parameters (RequiresGrad false) get no gradient.
    /// </summary>
    public static void Backward<T>(ReadOnlySpan<T> dy, int lddy, int rows, ReadOnlySpan<T> x, int ldx, int inFeatures,
        Parameter<T> weight, int part, int outFeatures, Parameter<T>? bias, int biasPart, Span<T> dx, int lddx, bool accumulate)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int w0 = Math.Max(part, 0) * outFeatures * inFeatures;
        Gemm.Multiply(false, false, rows, inFeatures, outFeatures, T.One, dy, lddy, weight.Data.AsSpan(w0), inFeatures, accumulate ? T.One : T.Zero, dx, lddx);
        if (weight.RequiresGrad)
            Gemm.Multiply(true, false, outFeatures, inFeatures, rows, T.One, dy, lddy, x, ldx, T.One, weight.Grad.AsSpan(w0), inFeatures);
        if (bias is { RequiresGrad: true })
            ParallelRanges.AccumulateRowSum(dy, lddy, rows, bias.Grad.AsSpan(biasPart * outFeatures, outFeatures));
    }
}
