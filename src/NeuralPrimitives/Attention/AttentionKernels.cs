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
// operands. For float with n a multiple of 16 on AVX-512 a register-blocked kernel reads both operands
// in place instead: a tile of 4 rows × 64 columns of C stays in 16 Vector512 accumulators while, for
// each p < k, one row of B (4 vector loads) is multiplied by the 4 broadcast elements a(i, p):
//     C[i, j..j+16] += a(i, p) · B[p, j..j+16]
// with a(i, p) = A[i·lda + p] (A) or A[p·lda + i] (Aᵀ): both cases are the same kernel with strides
// swapped (measured in place on this machine: 211–232 GFLOP/s on one core for 64×64×64, against
// 110–169 for the general GEMM, whose packing dominates at this size). Narrower tiles (32 or 16 columns, 1 row) finish the edges; the kernel variants are one
// generic method specialised by the JIT for each (rows, vectors) struct, so unused accumulators vanish.
// Everything else (double, other widths, no AVX-512) runs through the project's GEMM.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NeuralPrimitives;

internal static class AttentionKernels
{
    /// <summary>Test hook: route every product through the general GEMM (the fallback of non-AVX-512 machines).</summary>
    internal static volatile bool ForceGemm;

    /// <summary>C = op(A)·B, or C += op(A)·B with <paramref name="accumulate"/> (see the file header).</summary>
    public static void Product<T>(bool transposeA, int m, int n, int k, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb,
        bool accumulate, Span<T> c, int ldc) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float) || n % 16 != 0 || k == 0 || !Vector512.IsHardwareAccelerated || ForceGemm)
        {
            Gemm.Multiply(transposeA, false, m, n, k, T.One, a, lda, b, ldb, accumulate ? T.One : T.Zero, c, ldc);
            return;
        }
        Gemm.Validate(transposeA, false, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        nint sRow = transposeA ? 1 : lda, sDepth = transposeA ? lda : 1;
        unsafe
        {
            fixed (T* pa = a, pb = b, pc = c)
                Tiles((float*)pa, sRow, sDepth, (float*)pb, ldb, (float*)pc, ldc, m, n, k, accumulate);
        }
    }

    private static unsafe void Tiles(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, bool accumulate)
    {
        int i = 0;
        for (; i + 4 <= m; i += 4)
        {
            // A read along its rows (not transposed): fetch the next tile's four rows while this one computes. Without it a
            // block streamed from L2 (the next K block) ran the kernel at 141 instead of 211 GFLOP/s.
            if (sDepth == 1 && i + 8 <= m)
                for (int r = 4; r < 8; r++)
                    for (int p = 0; p < k; p += 16) Sse.Prefetch0(a + (i + r) * sRow + p);
            RowTiles<Rows4>(a + i * sRow, sRow, sDepth, b, ldb, c + i * ldc, ldc, n, k, accumulate);
        }
        for (; i < m; i++) RowTiles<Rows1>(a + i * sRow, sRow, sDepth, b, ldb, c + i * ldc, ldc, n, k, accumulate);
    }

    private static unsafe void RowTiles<TRows>(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int n, int k, bool accumulate)
        where TRows : struct, IRows
    {
        int j = 0;
        for (; j + 64 <= n; j += 64) Tile<TRows, Cols4>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate);
        if (j + 32 <= n) { Tile<TRows, Cols2>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate); j += 32; }
        if (j < n) Tile<TRows, Cols1>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate);
    }

    private interface IRows { static abstract int Count { get; } }
    private interface ICols { static abstract int Vectors { get; } }
    private struct Rows4 : IRows { public static int Count => 4; }
    private struct Rows1 : IRows { public static int Count => 1; }
    private struct Cols4 : ICols { public static int Vectors => 4; }
    private struct Cols2 : ICols { public static int Vectors => 2; }
    private struct Cols1 : ICols { public static int Vectors => 1; }

    /// <summary>C[rows × 16·vectors] (+)= Σ_p a(i, p)·B[p, ·] with the tile of C held in registers (no calls inside).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static unsafe void Tile<TRows, TCols>(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int k, bool accumulate)
        where TRows : struct, IRows where TCols : struct, ICols
    {
        bool r2 = TRows.Count > 1, v2 = TCols.Vectors > 1, v4 = TCols.Vectors > 2;
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        float* c1 = c + ldc, c2 = c + 2 * ldc, c3 = c + 3 * ldc;
        if (accumulate)
        {
            c00 = Vector512.Load(c);
            if (v2) c01 = Vector512.Load(c + 16);
            if (v4) { c02 = Vector512.Load(c + 32); c03 = Vector512.Load(c + 48); }
            if (r2)
            {
                c10 = Vector512.Load(c1); c20 = Vector512.Load(c2); c30 = Vector512.Load(c3);
                if (v2) { c11 = Vector512.Load(c1 + 16); c21 = Vector512.Load(c2 + 16); c31 = Vector512.Load(c3 + 16); }
                if (v4)
                {
                    c12 = Vector512.Load(c1 + 32); c22 = Vector512.Load(c2 + 32); c32 = Vector512.Load(c3 + 32);
                    c13 = Vector512.Load(c1 + 48); c23 = Vector512.Load(c2 + 48); c33 = Vector512.Load(c3 + 48);
                }
            }
        }
        for (int p = 0; p < k; p++, a += sDepth, b += ldb)
        {
            var b0 = Vector512.Load(b);
            var b1 = v2 ? Vector512.Load(b + 16) : default;
            var b2 = v4 ? Vector512.Load(b + 32) : default;
            var b3 = v4 ? Vector512.Load(b + 48) : default;
            var a0 = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(a0, b0, c00);
            if (v2) c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            if (v4) { c02 = Vector512.FusedMultiplyAdd(a0, b2, c02); c03 = Vector512.FusedMultiplyAdd(a0, b3, c03); }
            if (!r2) continue;
            var a1 = Vector512.Create(a[sRow]);
            var a2 = Vector512.Create(a[2 * sRow]);
            var a3 = Vector512.Create(a[3 * sRow]);
            c10 = Vector512.FusedMultiplyAdd(a1, b0, c10);
            c20 = Vector512.FusedMultiplyAdd(a2, b0, c20);
            c30 = Vector512.FusedMultiplyAdd(a3, b0, c30);
            if (v2)
            {
                c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
                c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
                c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            }
            if (v4)
            {
                c12 = Vector512.FusedMultiplyAdd(a1, b2, c12);
                c22 = Vector512.FusedMultiplyAdd(a2, b2, c22);
                c32 = Vector512.FusedMultiplyAdd(a3, b2, c32);
                c13 = Vector512.FusedMultiplyAdd(a1, b3, c13);
                c23 = Vector512.FusedMultiplyAdd(a2, b3, c23);
                c33 = Vector512.FusedMultiplyAdd(a3, b3, c33);
            }
        }
        c00.Store(c);
        if (v2) c01.Store(c + 16);
        if (v4) { c02.Store(c + 32); c03.Store(c + 48); }
        if (!r2) return;
        c10.Store(c1); c20.Store(c2); c30.Store(c3);
        if (v2) { c11.Store(c1 + 16); c21.Store(c2 + 16); c31.Store(c3 + 16); }
        if (v4)
        {
            c12.Store(c1 + 32); c22.Store(c2 + 32); c32.Store(c3 + 32);
            c13.Store(c1 + 48); c23.Store(c2 + 48); c33.Store(c3 + 48);
        }
    }
}
