// The block products of the memory-efficient attention path (FlashAttention.cs):
//
//   C[m×n] (+)= op(A)·B      op(A) = A [m×k] (row stride lda), or Aᵀ with A stored [k×m];
//                            B [k×n] row-major (row stride ldb); C [m×n] (row stride ldc)
//
// Every product of the forward and backward passes has this form because the score blocks are kept
// transposed (Sᵀ = K·Qᵀ): the B operand is always a row-major block read in place (K, V, Q, dO rows,
// or the pre-transposed Qᵀ and dOᵀ). They run through the project's GEMM.
namespace NeuralPrimitives;

internal static class AttentionKernels
{
    /// <summary>C = op(A)·B, or C += op(A)·B with <paramref name="accumulate"/> (see the file header).</summary>
    public static void Product<T>(bool transposeA, int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        bool accumulate, Span<T> c, int ldc) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => Gemm.Multiply(transposeA, false, m, n, k, T.One, a, lda, b, ldb, accumulate ? T.One : T.Zero, c, ldc);
}
