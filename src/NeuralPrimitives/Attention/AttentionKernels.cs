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
// GEMM, whose packing dominates at this size); on AVX2 (W = 8, 16 registers) it is 4 × 16 (8 Vector256
// accumulators). Narrower tiles (fewer vectors, 1 row) finish the edges. The kernel is one generic
// method over the vector width and the tile shape, specialised by the JIT for each combination of
// structs, so unused accumulators vanish. Everything else (double, n not a multiple of W, no AVX2)
// runs through the project's GEMM.
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
        bool narrow = !wide && Vector256.IsHardwareAccelerated && Fma.IsSupported;
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
                if (wide) Tiles<Vector512<float>, Lanes512, Cols4, Rows4>((float*)pa, sRow, sDepth, (float*)pb, ldb, (float*)pc, ldc, m, n, k, accumulate);
                else Tiles<Vector256<float>, Lanes256, Cols2, Rows6>((float*)pa, sRow, sDepth, (float*)pb, ldb, (float*)pc, ldc, m, n, k, accumulate);
            }
        }
    }

    /// <summary>Covers C with tiles of <typeparamref name="TTall"/> rows (then 4-row tiles, then single rows) × <typeparamref name="TWide"/> vectors (then narrower).</summary>
    private static unsafe void Tiles<TV, TL, TWide, TTall>(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int m, int n, int k, bool accumulate)
        where TV : struct where TL : struct, IFloatLanes<TV> where TWide : struct, ICols where TTall : struct, IRows
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
            RowTiles<TV, TL, TWide, TTall>(a + i * sRow, sRow, sDepth, b, ldb, c + i * ldc, ldc, n, k, accumulate);
        }
        for (; tall > 4 && i + 4 <= m; i += 4)
            RowTiles<TV, TL, TWide, Rows4>(a + i * sRow, sRow, sDepth, b, ldb, c + i * ldc, ldc, n, k, accumulate);
        for (; i < m; i++) RowTiles<TV, TL, TWide, Rows1>(a + i * sRow, sRow, sDepth, b, ldb, c + i * ldc, ldc, n, k, accumulate);
    }

    private static unsafe void RowTiles<TV, TL, TWide, TRows>(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int n, int k, bool accumulate)
        where TV : struct where TL : struct, IFloatLanes<TV> where TWide : struct, ICols where TRows : struct, IRows
    {
        int w = TL.Count, j = 0;
        if (TWide.Vectors == 4)
        {
            for (; j + 4 * w <= n; j += 4 * w) Tile<TV, TL, TRows, Cols4>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate);
            if (j + 2 * w <= n) { Tile<TV, TL, TRows, Cols2>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate); j += 2 * w; }
        }
        else
            for (; j + 2 * w <= n; j += 2 * w) Tile<TV, TL, TRows, Cols2>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate);
        if (j < n) Tile<TV, TL, TRows, Cols1>(a, sRow, sDepth, b + j, ldb, c + j, ldc, k, accumulate);
    }

    private interface IRows { static abstract int Count { get; } }
    private interface ICols { static abstract int Vectors { get; } }
    private struct Rows6 : IRows { public static int Count => 6; }
    private struct Rows4 : IRows { public static int Count => 4; }
    private struct Rows1 : IRows { public static int Count => 1; }
    private struct Cols4 : ICols { public static int Vectors => 4; }
    private struct Cols2 : ICols { public static int Vectors => 2; }
    private struct Cols1 : ICols { public static int Vectors => 1; }

    /// <summary>The vector operations the tile kernel needs, for one vector type <typeparamref name="TV"/> of float lanes.</summary>
    private unsafe interface IFloatLanes<TV> where TV : struct
    {
        static abstract int Count { get; }
        static abstract TV Load(float* p);
        static abstract void Store(TV v, float* p);
        static abstract TV Broadcast(float x);
        /// <summary>a·b + c, fused.</summary>
        static abstract TV Fma(TV a, TV b, TV c);
    }

    private unsafe struct Lanes512 : IFloatLanes<Vector512<float>>
    {
        public static int Count => 16;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* p) => Vector512.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, float* p) => v.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float x) => Vector512.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    }

    private unsafe struct Lanes256 : IFloatLanes<Vector256<float>>
    {
        public static int Count => 8;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* p) => Vector256.Load(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, float* p) => v.Store(p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float x) => Vector256.Create(x);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    }

    /// <summary>C[rows × W·vectors] (+)= Σ_p a(i, p)·B[p, ·] with the tile of C held in registers (no calls inside).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Tile<TV, TL, TRows, TCols>(float* a, nint sRow, nint sDepth, float* b, nint ldb, float* c, nint ldc, int k, bool accumulate)
        where TV : struct where TL : struct, IFloatLanes<TV> where TRows : struct, IRows where TCols : struct, ICols
    {
        // Row i and vector v of the tile take part when i < TRows.Count and v < TCols.Vectors (JIT-time constants).
        int w = TL.Count, rows = TRows.Count, vectors = TCols.Vectors;
        TV c00 = default, c01 = default, c02 = default, c03 = default;
        TV c10 = default, c11 = default, c12 = default, c13 = default;
        TV c20 = default, c21 = default, c22 = default, c23 = default;
        TV c30 = default, c31 = default, c32 = default, c33 = default;
        TV c40 = default, c41 = default, c42 = default, c43 = default;
        TV c50 = default, c51 = default, c52 = default, c53 = default;
        float* r1 = c + 1 * ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc;
        if (accumulate)
        {
            { c00 = TL.Load(c); if (vectors > 1) c01 = TL.Load(c + w); if (vectors > 2) c02 = TL.Load(c + 2 * w); if (vectors > 3) c03 = TL.Load(c + 3 * w); }
            if (rows > 1) { c10 = TL.Load(r1); if (vectors > 1) c11 = TL.Load(r1 + w); if (vectors > 2) c12 = TL.Load(r1 + 2 * w); if (vectors > 3) c13 = TL.Load(r1 + 3 * w); }
            if (rows > 2) { c20 = TL.Load(r2); if (vectors > 1) c21 = TL.Load(r2 + w); if (vectors > 2) c22 = TL.Load(r2 + 2 * w); if (vectors > 3) c23 = TL.Load(r2 + 3 * w); }
            if (rows > 3) { c30 = TL.Load(r3); if (vectors > 1) c31 = TL.Load(r3 + w); if (vectors > 2) c32 = TL.Load(r3 + 2 * w); if (vectors > 3) c33 = TL.Load(r3 + 3 * w); }
            if (rows > 4) { c40 = TL.Load(r4); if (vectors > 1) c41 = TL.Load(r4 + w); if (vectors > 2) c42 = TL.Load(r4 + 2 * w); if (vectors > 3) c43 = TL.Load(r4 + 3 * w); }
            if (rows > 5) { c50 = TL.Load(r5); if (vectors > 1) c51 = TL.Load(r5 + w); if (vectors > 2) c52 = TL.Load(r5 + 2 * w); if (vectors > 3) c53 = TL.Load(r5 + 3 * w); }
        }
        for (int p = 0; p < k; p++, a += sDepth, b += ldb)
        {
            var b0 = TL.Load(b);
            var b1 = vectors > 1 ? TL.Load(b + w) : default;
            var b2 = vectors > 2 ? TL.Load(b + 2 * w) : default;
            var b3 = vectors > 3 ? TL.Load(b + 3 * w) : default;
            { var a0 = TL.Broadcast(a[0]); c00 = TL.Fma(a0, b0, c00); if (vectors > 1) c01 = TL.Fma(a0, b1, c01); if (vectors > 2) c02 = TL.Fma(a0, b2, c02); if (vectors > 3) c03 = TL.Fma(a0, b3, c03); }
            if (rows > 1) { var a1 = TL.Broadcast(a[sRow]); c10 = TL.Fma(a1, b0, c10); if (vectors > 1) c11 = TL.Fma(a1, b1, c11); if (vectors > 2) c12 = TL.Fma(a1, b2, c12); if (vectors > 3) c13 = TL.Fma(a1, b3, c13); }
            if (rows > 2) { var a2 = TL.Broadcast(a[2 * sRow]); c20 = TL.Fma(a2, b0, c20); if (vectors > 1) c21 = TL.Fma(a2, b1, c21); if (vectors > 2) c22 = TL.Fma(a2, b2, c22); if (vectors > 3) c23 = TL.Fma(a2, b3, c23); }
            if (rows > 3) { var a3 = TL.Broadcast(a[3 * sRow]); c30 = TL.Fma(a3, b0, c30); if (vectors > 1) c31 = TL.Fma(a3, b1, c31); if (vectors > 2) c32 = TL.Fma(a3, b2, c32); if (vectors > 3) c33 = TL.Fma(a3, b3, c33); }
            if (rows > 4) { var a4 = TL.Broadcast(a[4 * sRow]); c40 = TL.Fma(a4, b0, c40); if (vectors > 1) c41 = TL.Fma(a4, b1, c41); if (vectors > 2) c42 = TL.Fma(a4, b2, c42); if (vectors > 3) c43 = TL.Fma(a4, b3, c43); }
            if (rows > 5) { var a5 = TL.Broadcast(a[5 * sRow]); c50 = TL.Fma(a5, b0, c50); if (vectors > 1) c51 = TL.Fma(a5, b1, c51); if (vectors > 2) c52 = TL.Fma(a5, b2, c52); if (vectors > 3) c53 = TL.Fma(a5, b3, c53); }
        }
        { TL.Store(c00, c); if (vectors > 1) TL.Store(c01, c + w); if (vectors > 2) TL.Store(c02, c + 2 * w); if (vectors > 3) TL.Store(c03, c + 3 * w); }
        if (rows > 1) { TL.Store(c10, r1); if (vectors > 1) TL.Store(c11, r1 + w); if (vectors > 2) TL.Store(c12, r1 + 2 * w); if (vectors > 3) TL.Store(c13, r1 + 3 * w); }
        if (rows > 2) { TL.Store(c20, r2); if (vectors > 1) TL.Store(c21, r2 + w); if (vectors > 2) TL.Store(c22, r2 + 2 * w); if (vectors > 3) TL.Store(c23, r2 + 3 * w); }
        if (rows > 3) { TL.Store(c30, r3); if (vectors > 1) TL.Store(c31, r3 + w); if (vectors > 2) TL.Store(c32, r3 + 2 * w); if (vectors > 3) TL.Store(c33, r3 + 3 * w); }
        if (rows > 4) { TL.Store(c40, r4); if (vectors > 1) TL.Store(c41, r4 + w); if (vectors > 2) TL.Store(c42, r4 + 2 * w); if (vectors > 3) TL.Store(c43, r4 + 3 * w); }
        if (rows > 5) { TL.Store(c50, r5); if (vectors > 1) TL.Store(c51, r5 + w); if (vectors > 2) TL.Store(c52, r5 + 2 * w); if (vectors > 3) TL.Store(c53, r5 + 3 * w); }
    }
}
