// The block products of the memory-efficient attention path (FlashAttention.cs):
//
//   C[m×n] (+)= op(A)·B      op(A) = A [m×k] (row stride lda), or Aᵀ with A stored [k×m];
//                            B [k×n] row-major (row stride ldb); C [m×n] (row stride ldc)
//
// Every product of the forward and backward passes has this form because the score blocks are kept
// transposed (Sᵀ = K·Qᵀ): the B operand is always a row-major block read in place (K, V, Q, dO rows,
// the pre-transposed Qᵀ and dOᵀ, or a score block).
//
// The blocks are small (64×64×64): the general GEMM spends much of such a product packing its
// operands. For float a register-blocked kernel reads both operands in place instead: a tile of
// 4 rows × V vectors of C stays in 4·V accumulators while, for each p < k, one row of B (V vector
// loads) is multiplied by the 4 broadcast elements a(i, p):
//     C[i, j..j+W] += a(i, p) · B[p, j..j+W]          (W lanes per vector)
// with a(i, p) = A[i·lda + p] (A) or A[p·lda + i] (Aᵀ): both cases are the same kernel with strides
// swapped. On AVX-512 (W = 16) the widest tile is 4 × 64 (16 Vector512 accumulators; measured in
// place on a Zen 4 host: 211–232 GFLOP/s on one core for 64×64×64, against 110–169 for the general
// GEMM, whose packing dominates at this size); on AVX2 (W = 8, 16 registers) it is 6 × 16 (12 Vector<float>
// accumulators). Narrower tiles (fewer vectors, 4 rows, 1 row) finish the edges. The kernel is one generic
// method over the vector type (Kernels/FloatVectors.cs: Float512, FloatVector) and the tile shape, specialised
// by the JIT for each combination of structs, so unused accumulators vanish. Everything else (double, n not a
// multiple of W, no AVX2) runs through the project's GEMM.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NeuralPrimitives;

internal static class AttentionKernels
{
    /// <summary>Test hook: route every product through the general GEMM (the fallback of machines without AVX2).</summary>
    internal static volatile bool ForceGemm;

    /// <summary>Test hook: use the Vector256 kernel even where Vector512 is accelerated.</summary>
    internal static volatile bool Force256;

    /// <summary>C = op(A)·B, or C += op(A)·B with <paramref name="accumulate"/> (see the file header).</summary>
    public static void Product<T>(bool transposeA, int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        bool accumulate, Span<T> c, int ldc) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        bool wide = Vector512.IsHardwareAccelerated && !Force256;
        bool narrow = !wide && Vector256.IsHardwareAccelerated && Fma.IsSupported && Vector<float>.Count == 8;
        if (typeof(T) != typeof(float) || k == 0 || ForceGemm || !(wide && n % 16 == 0 || narrow && n % 8 == 0))
        {
            Gemm.Multiply(transposeA, false, m, n, k, T.One, a, lda, b, ldb, accumulate ? T.One : T.Zero, c, ldc);
            return;
        }
        Gemm.Validate(transposeA, false, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        nint sRow = transposeA ? 1 : lda, sDepth = transposeA ? lda : 1;
        unsafe
        {
            fixed (T* pa = a, pb = b, pc = c)
            {
                if (wide) Tiles<Float512, Cols4, Rows4>((float*)pa, sRow, sDepth, (float*)pb, ldb, (float*)pc, ldc, m, n, k, accumulate);
                else Tiles<FloatVector, Cols2, Rows6>((float*)pa, sRow, sDepth, (float*)pb, ldb, (float*)pc, ldc, m, n, k, accumulate);
            }
        }
    }

    /// <summary>Covers C with tiles of <typeparamref name="TTall"/> rows (then 4-row tiles, then single rows) × <typeparamref name="TWide"/> vectors (then narrower).</summary>
    private static unsafe void Tiles<V, TWide, TTall>(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, bool accumulate)
        where V : struct, IFloatVector<V> where TWide : struct, ICols where TTall : struct, IRows
    {
        int i = 0, tall = TTall.Count;
        // Tall tiles while they fit, but leave 8 rows as two 4-row tiles (m = 32: 6·4 + 4 + 4, not 6·5 + 1 + 1).
        for (; i + tall <= m && (tall <= 4 || m - i != 8); i += tall)
        {
            // A read along its rows (not transposed): fetch the next tile's rows while this one computes. Without it a
            // block streamed from L2 (the next K block) ran the AVX-512 kernel at 141 instead of 211 GFLOP/s.
            if (sDepth == 1 && i + 2 * tall <= m && Sse.IsSupported)
                for (int r = tall; r < 2 * tall; r++)
                    for (int p = 0; p < k; p += 16) Sse.Prefetch0(a + (i + r) * sRow + p);
            RowTiles<V, TWide, TTall>(a + i * sRow, sRow, sDepth, b, ldb, c + i * ldc, ldc, n, k, accumulate);
        }
        for (; tall > 4 && i + 4 <= m; i += 4)
            RowTiles<V, TWide, Rows4>(a + i * sRow, sRow, sDepth, b, ldb, c + i * ldc, ldc, n, k, accumulate);
        for (; i < m; i++) RowTiles<V, TWide, Rows1>(a + i * sRow, sRow, sDepth, b, ldb, c + i * ldc, ldc, n, k, accumulate);
    }

    private static unsafe void RowTiles<V, TWide, TRows>(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int n, int k, bool accumulate)
        where V : struct, IFloatVector<V> where TWide : struct, ICols where TRows : struct, IRows
    {
        int w = V.Count, j = 0;
        if (TWide.Vectors == 4)
        {
            for (; j + 4 * w <= n; j += 4 * w) Tile<V, TRows, Cols4>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate);
            if (j + 2 * w <= n) { Tile<V, TRows, Cols2>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate); j += 2 * w; }
        }
        else
            for (; j + 2 * w <= n; j += 2 * w) Tile<V, TRows, Cols2>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate);
        if (j < n) Tile<V, TRows, Cols1>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate);
    }

    private interface IRows { static abstract int Count { get; } }
    private interface ICols { static abstract int Vectors { get; } }
    private struct Rows6 : IRows { public static int Count => 6; }
    private struct Rows4 : IRows { public static int Count => 4; }
    private struct Rows1 : IRows { public static int Count => 1; }
    private struct Cols4 : ICols { public static int Vectors => 4; }
    private struct Cols2 : ICols { public static int Vectors => 2; }
    private struct Cols1 : ICols { public static int Vectors => 1; }

    /// <summary>C[rows × W·vectors] (+)= Σ_p a(i, p)·B[p, ·] with the tile of C held in registers (no calls inside).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Tile<V, TRows, TCols>(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int k, bool accumulate)
        where V : struct, IFloatVector<V> where TRows : struct, IRows where TCols : struct, ICols
    {
        // Row i and vector v of the tile take part when i < TRows.Count and v < TCols.Vectors (JIT-time constants).
        int w = V.Count, rows = TRows.Count, vectors = TCols.Vectors;
        V c00 = default, c01 = default, c02 = default, c03 = default;
        V c10 = default, c11 = default, c12 = default, c13 = default;
        V c20 = default, c21 = default, c22 = default, c23 = default;
        V c30 = default, c31 = default, c32 = default, c33 = default;
        V c40 = default, c41 = default, c42 = default, c43 = default;
        V c50 = default, c51 = default, c52 = default, c53 = default;
        float* r1 = c + 1 * ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc;
        if (accumulate)
        {
            { c00 = V.Load(c); if (vectors > 1) c01 = V.Load(c + w); if (vectors > 2) c02 = V.Load(c + 2 * w); if (vectors > 3) c03 = V.Load(c + 3 * w); }
            if (rows > 1) { c10 = V.Load(r1); if (vectors > 1) c11 = V.Load(r1 + w); if (vectors > 2) c12 = V.Load(r1 + 2 * w); if (vectors > 3) c13 = V.Load(r1 + 3 * w); }
            if (rows > 2) { c20 = V.Load(r2); if (vectors > 1) c21 = V.Load(r2 + w); if (vectors > 2) c22 = V.Load(r2 + 2 * w); if (vectors > 3) c23 = V.Load(r2 + 3 * w); }
            if (rows > 3) { c30 = V.Load(r3); if (vectors > 1) c31 = V.Load(r3 + w); if (vectors > 2) c32 = V.Load(r3 + 2 * w); if (vectors > 3) c33 = V.Load(r3 + 3 * w); }
            if (rows > 4) { c40 = V.Load(r4); if (vectors > 1) c41 = V.Load(r4 + w); if (vectors > 2) c42 = V.Load(r4 + 2 * w); if (vectors > 3) c43 = V.Load(r4 + 3 * w); }
            if (rows > 5) { c50 = V.Load(r5); if (vectors > 1) c51 = V.Load(r5 + w); if (vectors > 2) c52 = V.Load(r5 + 2 * w); if (vectors > 3) c53 = V.Load(r5 + 3 * w); }
        }
        for (int p = 0; p < k; p++, a += sDepth, b += ldb)
        {
            var b0 = V.Load(b);
            var b1 = vectors > 1 ? V.Load(b + w) : default;
            var b2 = vectors > 2 ? V.Load(b + 2 * w) : default;
            var b3 = vectors > 3 ? V.Load(b + 3 * w) : default;
            { var a0 = V.Create(a[0]); c00 = V.FusedMultiplyAdd(a0, b0, c00); if (vectors > 1) c01 = V.FusedMultiplyAdd(a0, b1, c01); if (vectors > 2) c02 = V.FusedMultiplyAdd(a0, b2, c02); if (vectors > 3) c03 = V.FusedMultiplyAdd(a0, b3, c03); }
            if (rows > 1) { var a1 = V.Create(a[sRow]); c10 = V.FusedMultiplyAdd(a1, b0, c10); if (vectors > 1) c11 = V.FusedMultiplyAdd(a1, b1, c11); if (vectors > 2) c12 = V.FusedMultiplyAdd(a1, b2, c12); if (vectors > 3) c13 = V.FusedMultiplyAdd(a1, b3, c13); }
            if (rows > 2) { var a2 = V.Create(a[2 * sRow]); c20 = V.FusedMultiplyAdd(a2, b0, c20); if (vectors > 1) c21 = V.FusedMultiplyAdd(a2, b1, c21); if (vectors > 2) c22 = V.FusedMultiplyAdd(a2, b2, c22); if (vectors > 3) c23 = V.FusedMultiplyAdd(a2, b3, c23); }
            if (rows > 3) { var a3 = V.Create(a[3 * sRow]); c30 = V.FusedMultiplyAdd(a3, b0, c30); if (vectors > 1) c31 = V.FusedMultiplyAdd(a3, b1, c31); if (vectors > 2) c32 = V.FusedMultiplyAdd(a3, b2, c32); if (vectors > 3) c33 = V.FusedMultiplyAdd(a3, b3, c33); }
            if (rows > 4) { var a4 = V.Create(a[4 * sRow]); c40 = V.FusedMultiplyAdd(a4, b0, c40); if (vectors > 1) c41 = V.FusedMultiplyAdd(a4, b1, c41); if (vectors > 2) c42 = V.FusedMultiplyAdd(a4, b2, c42); if (vectors > 3) c43 = V.FusedMultiplyAdd(a4, b3, c43); }
            if (rows > 5) { var a5 = V.Create(a[5 * sRow]); c50 = V.FusedMultiplyAdd(a5, b0, c50); if (vectors > 1) c51 = V.FusedMultiplyAdd(a5, b1, c51); if (vectors > 2) c52 = V.FusedMultiplyAdd(a5, b2, c52); if (vectors > 3) c53 = V.FusedMultiplyAdd(a5, b3, c53); }
        }
        { V.Store(c00, c); if (vectors > 1) V.Store(c01, c + w); if (vectors > 2) V.Store(c02, c + 2 * w); if (vectors > 3) V.Store(c03, c + 3 * w); }
        if (rows > 1) { V.Store(c10, r1); if (vectors > 1) V.Store(c11, r1 + w); if (vectors > 2) V.Store(c12, r1 + 2 * w); if (vectors > 3) V.Store(c13, r1 + 3 * w); }
        if (rows > 2) { V.Store(c20, r2); if (vectors > 1) V.Store(c21, r2 + w); if (vectors > 2) V.Store(c22, r2 + 2 * w); if (vectors > 3) V.Store(c23, r2 + 3 * w); }
        if (rows > 3) { V.Store(c30, r3); if (vectors > 1) V.Store(c31, r3 + w); if (vectors > 2) V.Store(c32, r3 + 2 * w); if (vectors > 3) V.Store(c33, r3 + 3 * w); }
        if (rows > 4) { V.Store(c40, r4); if (vectors > 1) V.Store(c41, r4 + w); if (vectors > 2) V.Store(c42, r4 + 2 * w); if (vectors > 3) V.Store(c43, r4 + 3 * w); }
        if (rows > 5) { V.Store(c50, r5); if (vectors > 1) V.Store(c51, r5 + w); if (vectors > 2) V.Store(c52, r5 + 2 * w); if (vectors > 3) V.Store(c53, r5 + 3 * w); }
    }
}
