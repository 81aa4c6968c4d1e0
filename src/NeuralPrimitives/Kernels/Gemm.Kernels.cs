// GEMM micro-kernels: one register-blocked MR×NR tile of C per call.
//
//   acc[r, j] = Σ_{p < kc} Apanel[p·MR + r] · Bpanel[p·bStride + j]     r < MR, j < NR
//   C[r, j]   = acc[r, j]                (accumulate = false: C is overwritten, NaN included)
//   C[r, j]  += acc[r, j]                (accumulate = true)
//
// Apanel is a packed, zero-padded micro-panel of op(A) (MR values per k step, alpha already
// applied). Bpanel is either a packed micro-panel of op(B) (bStride = NR) or, for the
// small-problem direct path, NR consecutive columns of a row-major B (bStride = ldb).
// Every accumulator is a separate local so the JIT keeps them all in registers; each kernel
// is NoInlining and calls nothing inside its loop (a call would spill the accumulators).
// Generated code (one body per element type and vector width): keep the bodies uniform.
// AggressiveOptimization: each kernel is compiled fully optimised at once. Under tiered compilation a kernel
// otherwise ran as tier-0/OSR code for seconds (it is called from a few hot loops, not often enough to be
// promoted promptly): on an AVX2-only guest a 512³ sgemm took 16–25 ms instead of 7.7 ms on one thread.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NeuralPrimitives;

/// <summary>A register-blocked GEMM micro-kernel computing one MR×NR tile (see Gemm.Kernels.cs).</summary>
internal interface IGemmKernel<T> where T : unmanaged
{
    /// <summary>Rows of the tile (rows of a packed A micro-panel).</summary>
    static abstract int MR { get; }
    /// <summary>Columns of the tile (columns of a packed B micro-panel).</summary>
    static abstract int NR { get; }
    /// <summary>Computes the tile; see the file header for the exact contract.</summary>
    static abstract void Run(nint kc, ref T a, ref T b, nint bStride, ref T c, nint ldc, bool accumulate);
}


/// <summary>12×32 float tile on Vector512 (2 vectors of 16 lanes per row, 24 accumulators).</summary>
internal readonly struct KernelF512 : IGemmKernel<float>
{
    public static int MR => 12;
    public static int NR => 32;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref float a, ref float b, nint bStride, ref float c, nint ldc, bool accumulate)
    {
        Vector512<float> c0_0 = default, c0_1 = default;
        Vector512<float> c1_0 = default, c1_1 = default;
        Vector512<float> c2_0 = default, c2_1 = default;
        Vector512<float> c3_0 = default, c3_1 = default;
        Vector512<float> c4_0 = default, c4_1 = default;
        Vector512<float> c5_0 = default, c5_1 = default;
        Vector512<float> c6_0 = default, c6_1 = default;
        Vector512<float> c7_0 = default, c7_1 = default;
        Vector512<float> c8_0 = default, c8_1 = default;
        Vector512<float> c9_0 = default, c9_1 = default;
        Vector512<float> c10_0 = default, c10_1 = default;
        Vector512<float> c11_0 = default, c11_1 = default;
        if (Sse.IsSupported)
        {
            // Start fetching the C tile now; its rows are read (or written) only after the k loop.
            Sse.Prefetch0(Unsafe.AsPointer(ref c)); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 1 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 1 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 2 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 2 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 3 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 3 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 4 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 4 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 5 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 5 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 6 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 6 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 7 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 7 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 8 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 8 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 9 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 9 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 10 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 10 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 11 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 11 * ldc), 31)));
        }
        for (nint p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.LoadUnsafe(ref b);
            Vector512<float> b1 = Vector512.LoadUnsafe(ref b, 16);
            Vector512<float> ar;
            ar = Vector512.Create(a); c0_0 = Vector512.FusedMultiplyAdd(ar, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(ar, b1, c0_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 1)); c1_0 = Vector512.FusedMultiplyAdd(ar, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(ar, b1, c1_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 2)); c2_0 = Vector512.FusedMultiplyAdd(ar, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(ar, b1, c2_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 3)); c3_0 = Vector512.FusedMultiplyAdd(ar, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(ar, b1, c3_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 4)); c4_0 = Vector512.FusedMultiplyAdd(ar, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(ar, b1, c4_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 5)); c5_0 = Vector512.FusedMultiplyAdd(ar, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(ar, b1, c5_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 6)); c6_0 = Vector512.FusedMultiplyAdd(ar, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(ar, b1, c6_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 7)); c7_0 = Vector512.FusedMultiplyAdd(ar, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(ar, b1, c7_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 8)); c8_0 = Vector512.FusedMultiplyAdd(ar, b0, c8_0); c8_1 = Vector512.FusedMultiplyAdd(ar, b1, c8_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 9)); c9_0 = Vector512.FusedMultiplyAdd(ar, b0, c9_0); c9_1 = Vector512.FusedMultiplyAdd(ar, b1, c9_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 10)); c10_0 = Vector512.FusedMultiplyAdd(ar, b0, c10_0); c10_1 = Vector512.FusedMultiplyAdd(ar, b1, c10_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 11)); c11_0 = Vector512.FusedMultiplyAdd(ar, b0, c11_0); c11_1 = Vector512.FusedMultiplyAdd(ar, b1, c11_1);
            a = ref Unsafe.Add(ref a, 12);
            b = ref Unsafe.Add(ref b, bStride);
        }
        if (accumulate)
        {
            ref float r0 = ref c;
            (Vector512.LoadUnsafe(ref r0) + c0_0).StoreUnsafe(ref r0);
            (Vector512.LoadUnsafe(ref r0, 16) + c0_1).StoreUnsafe(ref r0, 16);
            ref float r1 = ref Unsafe.Add(ref c, 1 * ldc);
            (Vector512.LoadUnsafe(ref r1) + c1_0).StoreUnsafe(ref r1);
            (Vector512.LoadUnsafe(ref r1, 16) + c1_1).StoreUnsafe(ref r1, 16);
            ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
            (Vector512.LoadUnsafe(ref r2) + c2_0).StoreUnsafe(ref r2);
            (Vector512.LoadUnsafe(ref r2, 16) + c2_1).StoreUnsafe(ref r2, 16);
            ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
            (Vector512.LoadUnsafe(ref r3) + c3_0).StoreUnsafe(ref r3);
            (Vector512.LoadUnsafe(ref r3, 16) + c3_1).StoreUnsafe(ref r3, 16);
            ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
            (Vector512.LoadUnsafe(ref r4) + c4_0).StoreUnsafe(ref r4);
            (Vector512.LoadUnsafe(ref r4, 16) + c4_1).StoreUnsafe(ref r4, 16);
            ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
            (Vector512.LoadUnsafe(ref r5) + c5_0).StoreUnsafe(ref r5);
            (Vector512.LoadUnsafe(ref r5, 16) + c5_1).StoreUnsafe(ref r5, 16);
            ref float r6 = ref Unsafe.Add(ref c, 6 * ldc);
            (Vector512.LoadUnsafe(ref r6) + c6_0).StoreUnsafe(ref r6);
            (Vector512.LoadUnsafe(ref r6, 16) + c6_1).StoreUnsafe(ref r6, 16);
            ref float r7 = ref Unsafe.Add(ref c, 7 * ldc);
            (Vector512.LoadUnsafe(ref r7) + c7_0).StoreUnsafe(ref r7);
            (Vector512.LoadUnsafe(ref r7, 16) + c7_1).StoreUnsafe(ref r7, 16);
            ref float r8 = ref Unsafe.Add(ref c, 8 * ldc);
            (Vector512.LoadUnsafe(ref r8) + c8_0).StoreUnsafe(ref r8);
            (Vector512.LoadUnsafe(ref r8, 16) + c8_1).StoreUnsafe(ref r8, 16);
            ref float r9 = ref Unsafe.Add(ref c, 9 * ldc);
            (Vector512.LoadUnsafe(ref r9) + c9_0).StoreUnsafe(ref r9);
            (Vector512.LoadUnsafe(ref r9, 16) + c9_1).StoreUnsafe(ref r9, 16);
            ref float r10 = ref Unsafe.Add(ref c, 10 * ldc);
            (Vector512.LoadUnsafe(ref r10) + c10_0).StoreUnsafe(ref r10);
            (Vector512.LoadUnsafe(ref r10, 16) + c10_1).StoreUnsafe(ref r10, 16);
            ref float r11 = ref Unsafe.Add(ref c, 11 * ldc);
            (Vector512.LoadUnsafe(ref r11) + c11_0).StoreUnsafe(ref r11);
            (Vector512.LoadUnsafe(ref r11, 16) + c11_1).StoreUnsafe(ref r11, 16);
        }
        else
        {
            ref float r0 = ref c;
            c0_0.StoreUnsafe(ref r0);
            c0_1.StoreUnsafe(ref r0, 16);
            ref float r1 = ref Unsafe.Add(ref c, 1 * ldc);
            c1_0.StoreUnsafe(ref r1);
            c1_1.StoreUnsafe(ref r1, 16);
            ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
            c2_0.StoreUnsafe(ref r2);
            c2_1.StoreUnsafe(ref r2, 16);
            ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
            c3_0.StoreUnsafe(ref r3);
            c3_1.StoreUnsafe(ref r3, 16);
            ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
            c4_0.StoreUnsafe(ref r4);
            c4_1.StoreUnsafe(ref r4, 16);
            ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
            c5_0.StoreUnsafe(ref r5);
            c5_1.StoreUnsafe(ref r5, 16);
            ref float r6 = ref Unsafe.Add(ref c, 6 * ldc);
            c6_0.StoreUnsafe(ref r6);
            c6_1.StoreUnsafe(ref r6, 16);
            ref float r7 = ref Unsafe.Add(ref c, 7 * ldc);
            c7_0.StoreUnsafe(ref r7);
            c7_1.StoreUnsafe(ref r7, 16);
            ref float r8 = ref Unsafe.Add(ref c, 8 * ldc);
            c8_0.StoreUnsafe(ref r8);
            c8_1.StoreUnsafe(ref r8, 16);
            ref float r9 = ref Unsafe.Add(ref c, 9 * ldc);
            c9_0.StoreUnsafe(ref r9);
            c9_1.StoreUnsafe(ref r9, 16);
            ref float r10 = ref Unsafe.Add(ref c, 10 * ldc);
            c10_0.StoreUnsafe(ref r10);
            c10_1.StoreUnsafe(ref r10, 16);
            ref float r11 = ref Unsafe.Add(ref c, 11 * ldc);
            c11_0.StoreUnsafe(ref r11);
            c11_1.StoreUnsafe(ref r11, 16);
        }
    }
}

/// <summary>12×16 double tile on Vector512 (2 vectors of 8 lanes per row, 24 accumulators).</summary>
internal readonly struct KernelD512 : IGemmKernel<double>
{
    public static int MR => 12;
    public static int NR => 16;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref double a, ref double b, nint bStride, ref double c, nint ldc, bool accumulate)
    {
        Vector512<double> c0_0 = default, c0_1 = default;
        Vector512<double> c1_0 = default, c1_1 = default;
        Vector512<double> c2_0 = default, c2_1 = default;
        Vector512<double> c3_0 = default, c3_1 = default;
        Vector512<double> c4_0 = default, c4_1 = default;
        Vector512<double> c5_0 = default, c5_1 = default;
        Vector512<double> c6_0 = default, c6_1 = default;
        Vector512<double> c7_0 = default, c7_1 = default;
        Vector512<double> c8_0 = default, c8_1 = default;
        Vector512<double> c9_0 = default, c9_1 = default;
        Vector512<double> c10_0 = default, c10_1 = default;
        Vector512<double> c11_0 = default, c11_1 = default;
        if (Sse.IsSupported)
        {
            // Start fetching the C tile now; its rows are read (or written) only after the k loop.
            Sse.Prefetch0(Unsafe.AsPointer(ref c)); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 1 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 1 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 2 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 2 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 3 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 3 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 4 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 4 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 5 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 5 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 6 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 6 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 7 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 7 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 8 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 8 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 9 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 9 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 10 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 10 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 11 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 11 * ldc), 15)));
        }
        for (nint p = 0; p < kc; p++)
        {
            Vector512<double> b0 = Vector512.LoadUnsafe(ref b);
            Vector512<double> b1 = Vector512.LoadUnsafe(ref b, 8);
            Vector512<double> ar;
            ar = Vector512.Create(a); c0_0 = Vector512.FusedMultiplyAdd(ar, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(ar, b1, c0_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 1)); c1_0 = Vector512.FusedMultiplyAdd(ar, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(ar, b1, c1_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 2)); c2_0 = Vector512.FusedMultiplyAdd(ar, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(ar, b1, c2_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 3)); c3_0 = Vector512.FusedMultiplyAdd(ar, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(ar, b1, c3_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 4)); c4_0 = Vector512.FusedMultiplyAdd(ar, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(ar, b1, c4_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 5)); c5_0 = Vector512.FusedMultiplyAdd(ar, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(ar, b1, c5_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 6)); c6_0 = Vector512.FusedMultiplyAdd(ar, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(ar, b1, c6_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 7)); c7_0 = Vector512.FusedMultiplyAdd(ar, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(ar, b1, c7_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 8)); c8_0 = Vector512.FusedMultiplyAdd(ar, b0, c8_0); c8_1 = Vector512.FusedMultiplyAdd(ar, b1, c8_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 9)); c9_0 = Vector512.FusedMultiplyAdd(ar, b0, c9_0); c9_1 = Vector512.FusedMultiplyAdd(ar, b1, c9_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 10)); c10_0 = Vector512.FusedMultiplyAdd(ar, b0, c10_0); c10_1 = Vector512.FusedMultiplyAdd(ar, b1, c10_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 11)); c11_0 = Vector512.FusedMultiplyAdd(ar, b0, c11_0); c11_1 = Vector512.FusedMultiplyAdd(ar, b1, c11_1);
            a = ref Unsafe.Add(ref a, 12);
            b = ref Unsafe.Add(ref b, bStride);
        }
        if (accumulate)
        {
            ref double r0 = ref c;
            (Vector512.LoadUnsafe(ref r0) + c0_0).StoreUnsafe(ref r0);
            (Vector512.LoadUnsafe(ref r0, 8) + c0_1).StoreUnsafe(ref r0, 8);
            ref double r1 = ref Unsafe.Add(ref c, 1 * ldc);
            (Vector512.LoadUnsafe(ref r1) + c1_0).StoreUnsafe(ref r1);
            (Vector512.LoadUnsafe(ref r1, 8) + c1_1).StoreUnsafe(ref r1, 8);
            ref double r2 = ref Unsafe.Add(ref c, 2 * ldc);
            (Vector512.LoadUnsafe(ref r2) + c2_0).StoreUnsafe(ref r2);
            (Vector512.LoadUnsafe(ref r2, 8) + c2_1).StoreUnsafe(ref r2, 8);
            ref double r3 = ref Unsafe.Add(ref c, 3 * ldc);
            (Vector512.LoadUnsafe(ref r3) + c3_0).StoreUnsafe(ref r3);
            (Vector512.LoadUnsafe(ref r3, 8) + c3_1).StoreUnsafe(ref r3, 8);
            ref double r4 = ref Unsafe.Add(ref c, 4 * ldc);
            (Vector512.LoadUnsafe(ref r4) + c4_0).StoreUnsafe(ref r4);
            (Vector512.LoadUnsafe(ref r4, 8) + c4_1).StoreUnsafe(ref r4, 8);
            ref double r5 = ref Unsafe.Add(ref c, 5 * ldc);
            (Vector512.LoadUnsafe(ref r5) + c5_0).StoreUnsafe(ref r5);
            (Vector512.LoadUnsafe(ref r5, 8) + c5_1).StoreUnsafe(ref r5, 8);
            ref double r6 = ref Unsafe.Add(ref c, 6 * ldc);
            (Vector512.LoadUnsafe(ref r6) + c6_0).StoreUnsafe(ref r6);
            (Vector512.LoadUnsafe(ref r6, 8) + c6_1).StoreUnsafe(ref r6, 8);
            ref double r7 = ref Unsafe.Add(ref c, 7 * ldc);
            (Vector512.LoadUnsafe(ref r7) + c7_0).StoreUnsafe(ref r7);
            (Vector512.LoadUnsafe(ref r7, 8) + c7_1).StoreUnsafe(ref r7, 8);
            ref double r8 = ref Unsafe.Add(ref c, 8 * ldc);
            (Vector512.LoadUnsafe(ref r8) + c8_0).StoreUnsafe(ref r8);
            (Vector512.LoadUnsafe(ref r8, 8) + c8_1).StoreUnsafe(ref r8, 8);
            ref double r9 = ref Unsafe.Add(ref c, 9 * ldc);
            (Vector512.LoadUnsafe(ref r9) + c9_0).StoreUnsafe(ref r9);
            (Vector512.LoadUnsafe(ref r9, 8) + c9_1).StoreUnsafe(ref r9, 8);
            ref double r10 = ref Unsafe.Add(ref c, 10 * ldc);
            (Vector512.LoadUnsafe(ref r10) + c10_0).StoreUnsafe(ref r10);
            (Vector512.LoadUnsafe(ref r10, 8) + c10_1).StoreUnsafe(ref r10, 8);
            ref double r11 = ref Unsafe.Add(ref c, 11 * ldc);
            (Vector512.LoadUnsafe(ref r11) + c11_0).StoreUnsafe(ref r11);
            (Vector512.LoadUnsafe(ref r11, 8) + c11_1).StoreUnsafe(ref r11, 8);
        }
        else
        {
            ref double r0 = ref c;
            c0_0.StoreUnsafe(ref r0);
            c0_1.StoreUnsafe(ref r0, 8);
            ref double r1 = ref Unsafe.Add(ref c, 1 * ldc);
            c1_0.StoreUnsafe(ref r1);
            c1_1.StoreUnsafe(ref r1, 8);
            ref double r2 = ref Unsafe.Add(ref c, 2 * ldc);
            c2_0.StoreUnsafe(ref r2);
            c2_1.StoreUnsafe(ref r2, 8);
            ref double r3 = ref Unsafe.Add(ref c, 3 * ldc);
            c3_0.StoreUnsafe(ref r3);
            c3_1.StoreUnsafe(ref r3, 8);
            ref double r4 = ref Unsafe.Add(ref c, 4 * ldc);
            c4_0.StoreUnsafe(ref r4);
            c4_1.StoreUnsafe(ref r4, 8);
            ref double r5 = ref Unsafe.Add(ref c, 5 * ldc);
            c5_0.StoreUnsafe(ref r5);
            c5_1.StoreUnsafe(ref r5, 8);
            ref double r6 = ref Unsafe.Add(ref c, 6 * ldc);
            c6_0.StoreUnsafe(ref r6);
            c6_1.StoreUnsafe(ref r6, 8);
            ref double r7 = ref Unsafe.Add(ref c, 7 * ldc);
            c7_0.StoreUnsafe(ref r7);
            c7_1.StoreUnsafe(ref r7, 8);
            ref double r8 = ref Unsafe.Add(ref c, 8 * ldc);
            c8_0.StoreUnsafe(ref r8);
            c8_1.StoreUnsafe(ref r8, 8);
            ref double r9 = ref Unsafe.Add(ref c, 9 * ldc);
            c9_0.StoreUnsafe(ref r9);
            c9_1.StoreUnsafe(ref r9, 8);
            ref double r10 = ref Unsafe.Add(ref c, 10 * ldc);
            c10_0.StoreUnsafe(ref r10);
            c10_1.StoreUnsafe(ref r10, 8);
            ref double r11 = ref Unsafe.Add(ref c, 11 * ldc);
            c11_0.StoreUnsafe(ref r11);
            c11_1.StoreUnsafe(ref r11, 8);
        }
    }
}

/// <summary>8×32 float tile on Vector512 (2 vectors of 16 lanes per row, 16 accumulators).</summary>
internal readonly struct KernelF512M8 : IGemmKernel<float>
{
    public static int MR => 8;
    public static int NR => 32;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref float a, ref float b, nint bStride, ref float c, nint ldc, bool accumulate)
    {
        Vector512<float> c0_0 = default, c0_1 = default;
        Vector512<float> c1_0 = default, c1_1 = default;
        Vector512<float> c2_0 = default, c2_1 = default;
        Vector512<float> c3_0 = default, c3_1 = default;
        Vector512<float> c4_0 = default, c4_1 = default;
        Vector512<float> c5_0 = default, c5_1 = default;
        Vector512<float> c6_0 = default, c6_1 = default;
        Vector512<float> c7_0 = default, c7_1 = default;
        if (Sse.IsSupported)
        {
            // Start fetching the C tile now; its rows are read (or written) only after the k loop.
            Sse.Prefetch0(Unsafe.AsPointer(ref c)); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 1 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 1 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 2 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 2 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 3 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 3 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 4 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 4 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 5 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 5 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 6 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 6 * ldc), 31)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 7 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 7 * ldc), 31)));
        }
        for (nint p = 0; p < kc; p++)
        {
            Vector512<float> b0 = Vector512.LoadUnsafe(ref b);
            Vector512<float> b1 = Vector512.LoadUnsafe(ref b, 16);
            Vector512<float> ar;
            ar = Vector512.Create(a); c0_0 = Vector512.FusedMultiplyAdd(ar, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(ar, b1, c0_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 1)); c1_0 = Vector512.FusedMultiplyAdd(ar, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(ar, b1, c1_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 2)); c2_0 = Vector512.FusedMultiplyAdd(ar, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(ar, b1, c2_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 3)); c3_0 = Vector512.FusedMultiplyAdd(ar, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(ar, b1, c3_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 4)); c4_0 = Vector512.FusedMultiplyAdd(ar, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(ar, b1, c4_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 5)); c5_0 = Vector512.FusedMultiplyAdd(ar, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(ar, b1, c5_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 6)); c6_0 = Vector512.FusedMultiplyAdd(ar, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(ar, b1, c6_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 7)); c7_0 = Vector512.FusedMultiplyAdd(ar, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(ar, b1, c7_1);
            a = ref Unsafe.Add(ref a, 8);
            b = ref Unsafe.Add(ref b, bStride);
        }
        if (accumulate)
        {
            ref float r0 = ref c;
            (Vector512.LoadUnsafe(ref r0) + c0_0).StoreUnsafe(ref r0);
            (Vector512.LoadUnsafe(ref r0, 16) + c0_1).StoreUnsafe(ref r0, 16);
            ref float r1 = ref Unsafe.Add(ref c, 1 * ldc);
            (Vector512.LoadUnsafe(ref r1) + c1_0).StoreUnsafe(ref r1);
            (Vector512.LoadUnsafe(ref r1, 16) + c1_1).StoreUnsafe(ref r1, 16);
            ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
            (Vector512.LoadUnsafe(ref r2) + c2_0).StoreUnsafe(ref r2);
            (Vector512.LoadUnsafe(ref r2, 16) + c2_1).StoreUnsafe(ref r2, 16);
            ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
            (Vector512.LoadUnsafe(ref r3) + c3_0).StoreUnsafe(ref r3);
            (Vector512.LoadUnsafe(ref r3, 16) + c3_1).StoreUnsafe(ref r3, 16);
            ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
            (Vector512.LoadUnsafe(ref r4) + c4_0).StoreUnsafe(ref r4);
            (Vector512.LoadUnsafe(ref r4, 16) + c4_1).StoreUnsafe(ref r4, 16);
            ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
            (Vector512.LoadUnsafe(ref r5) + c5_0).StoreUnsafe(ref r5);
            (Vector512.LoadUnsafe(ref r5, 16) + c5_1).StoreUnsafe(ref r5, 16);
            ref float r6 = ref Unsafe.Add(ref c, 6 * ldc);
            (Vector512.LoadUnsafe(ref r6) + c6_0).StoreUnsafe(ref r6);
            (Vector512.LoadUnsafe(ref r6, 16) + c6_1).StoreUnsafe(ref r6, 16);
            ref float r7 = ref Unsafe.Add(ref c, 7 * ldc);
            (Vector512.LoadUnsafe(ref r7) + c7_0).StoreUnsafe(ref r7);
            (Vector512.LoadUnsafe(ref r7, 16) + c7_1).StoreUnsafe(ref r7, 16);
        }
        else
        {
            ref float r0 = ref c;
            c0_0.StoreUnsafe(ref r0);
            c0_1.StoreUnsafe(ref r0, 16);
            ref float r1 = ref Unsafe.Add(ref c, 1 * ldc);
            c1_0.StoreUnsafe(ref r1);
            c1_1.StoreUnsafe(ref r1, 16);
            ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
            c2_0.StoreUnsafe(ref r2);
            c2_1.StoreUnsafe(ref r2, 16);
            ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
            c3_0.StoreUnsafe(ref r3);
            c3_1.StoreUnsafe(ref r3, 16);
            ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
            c4_0.StoreUnsafe(ref r4);
            c4_1.StoreUnsafe(ref r4, 16);
            ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
            c5_0.StoreUnsafe(ref r5);
            c5_1.StoreUnsafe(ref r5, 16);
            ref float r6 = ref Unsafe.Add(ref c, 6 * ldc);
            c6_0.StoreUnsafe(ref r6);
            c6_1.StoreUnsafe(ref r6, 16);
            ref float r7 = ref Unsafe.Add(ref c, 7 * ldc);
            c7_0.StoreUnsafe(ref r7);
            c7_1.StoreUnsafe(ref r7, 16);
        }
    }
}

/// <summary>8×16 double tile on Vector512 (2 vectors of 8 lanes per row, 16 accumulators).</summary>
internal readonly struct KernelD512M8 : IGemmKernel<double>
{
    public static int MR => 8;
    public static int NR => 16;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref double a, ref double b, nint bStride, ref double c, nint ldc, bool accumulate)
    {
        Vector512<double> c0_0 = default, c0_1 = default;
        Vector512<double> c1_0 = default, c1_1 = default;
        Vector512<double> c2_0 = default, c2_1 = default;
        Vector512<double> c3_0 = default, c3_1 = default;
        Vector512<double> c4_0 = default, c4_1 = default;
        Vector512<double> c5_0 = default, c5_1 = default;
        Vector512<double> c6_0 = default, c6_1 = default;
        Vector512<double> c7_0 = default, c7_1 = default;
        if (Sse.IsSupported)
        {
            // Start fetching the C tile now; its rows are read (or written) only after the k loop.
            Sse.Prefetch0(Unsafe.AsPointer(ref c)); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 1 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 1 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 2 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 2 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 3 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 3 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 4 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 4 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 5 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 5 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 6 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 6 * ldc), 15)));
            Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref c, 7 * ldc))); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref Unsafe.Add(ref c, 7 * ldc), 15)));
        }
        for (nint p = 0; p < kc; p++)
        {
            Vector512<double> b0 = Vector512.LoadUnsafe(ref b);
            Vector512<double> b1 = Vector512.LoadUnsafe(ref b, 8);
            Vector512<double> ar;
            ar = Vector512.Create(a); c0_0 = Vector512.FusedMultiplyAdd(ar, b0, c0_0); c0_1 = Vector512.FusedMultiplyAdd(ar, b1, c0_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 1)); c1_0 = Vector512.FusedMultiplyAdd(ar, b0, c1_0); c1_1 = Vector512.FusedMultiplyAdd(ar, b1, c1_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 2)); c2_0 = Vector512.FusedMultiplyAdd(ar, b0, c2_0); c2_1 = Vector512.FusedMultiplyAdd(ar, b1, c2_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 3)); c3_0 = Vector512.FusedMultiplyAdd(ar, b0, c3_0); c3_1 = Vector512.FusedMultiplyAdd(ar, b1, c3_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 4)); c4_0 = Vector512.FusedMultiplyAdd(ar, b0, c4_0); c4_1 = Vector512.FusedMultiplyAdd(ar, b1, c4_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 5)); c5_0 = Vector512.FusedMultiplyAdd(ar, b0, c5_0); c5_1 = Vector512.FusedMultiplyAdd(ar, b1, c5_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 6)); c6_0 = Vector512.FusedMultiplyAdd(ar, b0, c6_0); c6_1 = Vector512.FusedMultiplyAdd(ar, b1, c6_1);
            ar = Vector512.Create(Unsafe.Add(ref a, 7)); c7_0 = Vector512.FusedMultiplyAdd(ar, b0, c7_0); c7_1 = Vector512.FusedMultiplyAdd(ar, b1, c7_1);
            a = ref Unsafe.Add(ref a, 8);
            b = ref Unsafe.Add(ref b, bStride);
        }
        if (accumulate)
        {
            ref double r0 = ref c;
            (Vector512.LoadUnsafe(ref r0) + c0_0).StoreUnsafe(ref r0);
            (Vector512.LoadUnsafe(ref r0, 8) + c0_1).StoreUnsafe(ref r0, 8);
            ref double r1 = ref Unsafe.Add(ref c, 1 * ldc);
            (Vector512.LoadUnsafe(ref r1) + c1_0).StoreUnsafe(ref r1);
            (Vector512.LoadUnsafe(ref r1, 8) + c1_1).StoreUnsafe(ref r1, 8);
            ref double r2 = ref Unsafe.Add(ref c, 2 * ldc);
            (Vector512.LoadUnsafe(ref r2) + c2_0).StoreUnsafe(ref r2);
            (Vector512.LoadUnsafe(ref r2, 8) + c2_1).StoreUnsafe(ref r2, 8);
            ref double r3 = ref Unsafe.Add(ref c, 3 * ldc);
            (Vector512.LoadUnsafe(ref r3) + c3_0).StoreUnsafe(ref r3);
            (Vector512.LoadUnsafe(ref r3, 8) + c3_1).StoreUnsafe(ref r3, 8);
            ref double r4 = ref Unsafe.Add(ref c, 4 * ldc);
            (Vector512.LoadUnsafe(ref r4) + c4_0).StoreUnsafe(ref r4);
            (Vector512.LoadUnsafe(ref r4, 8) + c4_1).StoreUnsafe(ref r4, 8);
            ref double r5 = ref Unsafe.Add(ref c, 5 * ldc);
            (Vector512.LoadUnsafe(ref r5) + c5_0).StoreUnsafe(ref r5);
            (Vector512.LoadUnsafe(ref r5, 8) + c5_1).StoreUnsafe(ref r5, 8);
            ref double r6 = ref Unsafe.Add(ref c, 6 * ldc);
            (Vector512.LoadUnsafe(ref r6) + c6_0).StoreUnsafe(ref r6);
            (Vector512.LoadUnsafe(ref r6, 8) + c6_1).StoreUnsafe(ref r6, 8);
            ref double r7 = ref Unsafe.Add(ref c, 7 * ldc);
            (Vector512.LoadUnsafe(ref r7) + c7_0).StoreUnsafe(ref r7);
            (Vector512.LoadUnsafe(ref r7, 8) + c7_1).StoreUnsafe(ref r7, 8);
        }
        else
        {
            ref double r0 = ref c;
            c0_0.StoreUnsafe(ref r0);
            c0_1.StoreUnsafe(ref r0, 8);
            ref double r1 = ref Unsafe.Add(ref c, 1 * ldc);
            c1_0.StoreUnsafe(ref r1);
            c1_1.StoreUnsafe(ref r1, 8);
            ref double r2 = ref Unsafe.Add(ref c, 2 * ldc);
            c2_0.StoreUnsafe(ref r2);
            c2_1.StoreUnsafe(ref r2, 8);
            ref double r3 = ref Unsafe.Add(ref c, 3 * ldc);
            c3_0.StoreUnsafe(ref r3);
            c3_1.StoreUnsafe(ref r3, 8);
            ref double r4 = ref Unsafe.Add(ref c, 4 * ldc);
            c4_0.StoreUnsafe(ref r4);
            c4_1.StoreUnsafe(ref r4, 8);
            ref double r5 = ref Unsafe.Add(ref c, 5 * ldc);
            c5_0.StoreUnsafe(ref r5);
            c5_1.StoreUnsafe(ref r5, 8);
            ref double r6 = ref Unsafe.Add(ref c, 6 * ldc);
            c6_0.StoreUnsafe(ref r6);
            c6_1.StoreUnsafe(ref r6, 8);
            ref double r7 = ref Unsafe.Add(ref c, 7 * ldc);
            c7_0.StoreUnsafe(ref r7);
            c7_1.StoreUnsafe(ref r7, 8);
        }
    }
}

/// <summary>6×16 float tile on Vector256 (2 vectors of 8 lanes per row, 12 accumulators).</summary>
internal readonly struct KernelF256 : IGemmKernel<float>
{
    public static int MR => 6;
    public static int NR => 16;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref float a, ref float b, nint bStride, ref float c, nint ldc, bool accumulate)
    {
        Vector256<float> c0_0 = default, c0_1 = default;
        Vector256<float> c1_0 = default, c1_1 = default;
        Vector256<float> c2_0 = default, c2_1 = default;
        Vector256<float> c3_0 = default, c3_1 = default;
        Vector256<float> c4_0 = default, c4_1 = default;
        Vector256<float> c5_0 = default, c5_1 = default;
        for (nint p = 0; p < kc; p++)
        {
            Vector256<float> b0 = Vector256.LoadUnsafe(ref b);
            Vector256<float> b1 = Vector256.LoadUnsafe(ref b, 8);
            Vector256<float> ar;
            ar = Vector256.Create(a); c0_0 = Vector256.FusedMultiplyAdd(ar, b0, c0_0); c0_1 = Vector256.FusedMultiplyAdd(ar, b1, c0_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 1)); c1_0 = Vector256.FusedMultiplyAdd(ar, b0, c1_0); c1_1 = Vector256.FusedMultiplyAdd(ar, b1, c1_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 2)); c2_0 = Vector256.FusedMultiplyAdd(ar, b0, c2_0); c2_1 = Vector256.FusedMultiplyAdd(ar, b1, c2_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 3)); c3_0 = Vector256.FusedMultiplyAdd(ar, b0, c3_0); c3_1 = Vector256.FusedMultiplyAdd(ar, b1, c3_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 4)); c4_0 = Vector256.FusedMultiplyAdd(ar, b0, c4_0); c4_1 = Vector256.FusedMultiplyAdd(ar, b1, c4_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 5)); c5_0 = Vector256.FusedMultiplyAdd(ar, b0, c5_0); c5_1 = Vector256.FusedMultiplyAdd(ar, b1, c5_1);
            a = ref Unsafe.Add(ref a, 6);
            b = ref Unsafe.Add(ref b, bStride);
        }
        if (accumulate)
        {
            ref float r0 = ref c;
            (Vector256.LoadUnsafe(ref r0) + c0_0).StoreUnsafe(ref r0);
            (Vector256.LoadUnsafe(ref r0, 8) + c0_1).StoreUnsafe(ref r0, 8);
            ref float r1 = ref Unsafe.Add(ref c, 1 * ldc);
            (Vector256.LoadUnsafe(ref r1) + c1_0).StoreUnsafe(ref r1);
            (Vector256.LoadUnsafe(ref r1, 8) + c1_1).StoreUnsafe(ref r1, 8);
            ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
            (Vector256.LoadUnsafe(ref r2) + c2_0).StoreUnsafe(ref r2);
            (Vector256.LoadUnsafe(ref r2, 8) + c2_1).StoreUnsafe(ref r2, 8);
            ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
            (Vector256.LoadUnsafe(ref r3) + c3_0).StoreUnsafe(ref r3);
            (Vector256.LoadUnsafe(ref r3, 8) + c3_1).StoreUnsafe(ref r3, 8);
            ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
            (Vector256.LoadUnsafe(ref r4) + c4_0).StoreUnsafe(ref r4);
            (Vector256.LoadUnsafe(ref r4, 8) + c4_1).StoreUnsafe(ref r4, 8);
            ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
            (Vector256.LoadUnsafe(ref r5) + c5_0).StoreUnsafe(ref r5);
            (Vector256.LoadUnsafe(ref r5, 8) + c5_1).StoreUnsafe(ref r5, 8);
        }
        else
        {
            ref float r0 = ref c;
            c0_0.StoreUnsafe(ref r0);
            c0_1.StoreUnsafe(ref r0, 8);
            ref float r1 = ref Unsafe.Add(ref c, 1 * ldc);
            c1_0.StoreUnsafe(ref r1);
            c1_1.StoreUnsafe(ref r1, 8);
            ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
            c2_0.StoreUnsafe(ref r2);
            c2_1.StoreUnsafe(ref r2, 8);
            ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
            c3_0.StoreUnsafe(ref r3);
            c3_1.StoreUnsafe(ref r3, 8);
            ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
            c4_0.StoreUnsafe(ref r4);
            c4_1.StoreUnsafe(ref r4, 8);
            ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
            c5_0.StoreUnsafe(ref r5);
            c5_1.StoreUnsafe(ref r5, 8);
        }
    }
}

/// <summary>6×8 double tile on Vector256 (2 vectors of 4 lanes per row, 12 accumulators).</summary>
internal readonly struct KernelD256 : IGemmKernel<double>
{
    public static int MR => 6;
    public static int NR => 8;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref double a, ref double b, nint bStride, ref double c, nint ldc, bool accumulate)
    {
        Vector256<double> c0_0 = default, c0_1 = default;
        Vector256<double> c1_0 = default, c1_1 = default;
        Vector256<double> c2_0 = default, c2_1 = default;
        Vector256<double> c3_0 = default, c3_1 = default;
        Vector256<double> c4_0 = default, c4_1 = default;
        Vector256<double> c5_0 = default, c5_1 = default;
        for (nint p = 0; p < kc; p++)
        {
            Vector256<double> b0 = Vector256.LoadUnsafe(ref b);
            Vector256<double> b1 = Vector256.LoadUnsafe(ref b, 4);
            Vector256<double> ar;
            ar = Vector256.Create(a); c0_0 = Vector256.FusedMultiplyAdd(ar, b0, c0_0); c0_1 = Vector256.FusedMultiplyAdd(ar, b1, c0_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 1)); c1_0 = Vector256.FusedMultiplyAdd(ar, b0, c1_0); c1_1 = Vector256.FusedMultiplyAdd(ar, b1, c1_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 2)); c2_0 = Vector256.FusedMultiplyAdd(ar, b0, c2_0); c2_1 = Vector256.FusedMultiplyAdd(ar, b1, c2_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 3)); c3_0 = Vector256.FusedMultiplyAdd(ar, b0, c3_0); c3_1 = Vector256.FusedMultiplyAdd(ar, b1, c3_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 4)); c4_0 = Vector256.FusedMultiplyAdd(ar, b0, c4_0); c4_1 = Vector256.FusedMultiplyAdd(ar, b1, c4_1);
            ar = Vector256.Create(Unsafe.Add(ref a, 5)); c5_0 = Vector256.FusedMultiplyAdd(ar, b0, c5_0); c5_1 = Vector256.FusedMultiplyAdd(ar, b1, c5_1);
            a = ref Unsafe.Add(ref a, 6);
            b = ref Unsafe.Add(ref b, bStride);
        }
        if (accumulate)
        {
            ref double r0 = ref c;
            (Vector256.LoadUnsafe(ref r0) + c0_0).StoreUnsafe(ref r0);
            (Vector256.LoadUnsafe(ref r0, 4) + c0_1).StoreUnsafe(ref r0, 4);
            ref double r1 = ref Unsafe.Add(ref c, 1 * ldc);
            (Vector256.LoadUnsafe(ref r1) + c1_0).StoreUnsafe(ref r1);
            (Vector256.LoadUnsafe(ref r1, 4) + c1_1).StoreUnsafe(ref r1, 4);
            ref double r2 = ref Unsafe.Add(ref c, 2 * ldc);
            (Vector256.LoadUnsafe(ref r2) + c2_0).StoreUnsafe(ref r2);
            (Vector256.LoadUnsafe(ref r2, 4) + c2_1).StoreUnsafe(ref r2, 4);
            ref double r3 = ref Unsafe.Add(ref c, 3 * ldc);
            (Vector256.LoadUnsafe(ref r3) + c3_0).StoreUnsafe(ref r3);
            (Vector256.LoadUnsafe(ref r3, 4) + c3_1).StoreUnsafe(ref r3, 4);
            ref double r4 = ref Unsafe.Add(ref c, 4 * ldc);
            (Vector256.LoadUnsafe(ref r4) + c4_0).StoreUnsafe(ref r4);
            (Vector256.LoadUnsafe(ref r4, 4) + c4_1).StoreUnsafe(ref r4, 4);
            ref double r5 = ref Unsafe.Add(ref c, 5 * ldc);
            (Vector256.LoadUnsafe(ref r5) + c5_0).StoreUnsafe(ref r5);
            (Vector256.LoadUnsafe(ref r5, 4) + c5_1).StoreUnsafe(ref r5, 4);
        }
        else
        {
            ref double r0 = ref c;
            c0_0.StoreUnsafe(ref r0);
            c0_1.StoreUnsafe(ref r0, 4);
            ref double r1 = ref Unsafe.Add(ref c, 1 * ldc);
            c1_0.StoreUnsafe(ref r1);
            c1_1.StoreUnsafe(ref r1, 4);
            ref double r2 = ref Unsafe.Add(ref c, 2 * ldc);
            c2_0.StoreUnsafe(ref r2);
            c2_1.StoreUnsafe(ref r2, 4);
            ref double r3 = ref Unsafe.Add(ref c, 3 * ldc);
            c3_0.StoreUnsafe(ref r3);
            c3_1.StoreUnsafe(ref r3, 4);
            ref double r4 = ref Unsafe.Add(ref c, 4 * ldc);
            c4_0.StoreUnsafe(ref r4);
            c4_1.StoreUnsafe(ref r4, 4);
            ref double r5 = ref Unsafe.Add(ref c, 5 * ldc);
            c5_0.StoreUnsafe(ref r5);
            c5_1.StoreUnsafe(ref r5, 4);
        }
    }
}

/// <summary>6×8 float tile on Vector128 (2 vectors of 4 lanes per row, 12 accumulators).</summary>
internal readonly struct KernelF128 : IGemmKernel<float>
{
    public static int MR => 6;
    public static int NR => 8;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref float a, ref float b, nint bStride, ref float c, nint ldc, bool accumulate)
    {
        Vector128<float> c0_0 = default, c0_1 = default;
        Vector128<float> c1_0 = default, c1_1 = default;
        Vector128<float> c2_0 = default, c2_1 = default;
        Vector128<float> c3_0 = default, c3_1 = default;
        Vector128<float> c4_0 = default, c4_1 = default;
        Vector128<float> c5_0 = default, c5_1 = default;
        for (nint p = 0; p < kc; p++)
        {
            Vector128<float> b0 = Vector128.LoadUnsafe(ref b);
            Vector128<float> b1 = Vector128.LoadUnsafe(ref b, 4);
            Vector128<float> ar;
            ar = Vector128.Create(a); c0_0 = Vector128.FusedMultiplyAdd(ar, b0, c0_0); c0_1 = Vector128.FusedMultiplyAdd(ar, b1, c0_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 1)); c1_0 = Vector128.FusedMultiplyAdd(ar, b0, c1_0); c1_1 = Vector128.FusedMultiplyAdd(ar, b1, c1_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 2)); c2_0 = Vector128.FusedMultiplyAdd(ar, b0, c2_0); c2_1 = Vector128.FusedMultiplyAdd(ar, b1, c2_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 3)); c3_0 = Vector128.FusedMultiplyAdd(ar, b0, c3_0); c3_1 = Vector128.FusedMultiplyAdd(ar, b1, c3_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 4)); c4_0 = Vector128.FusedMultiplyAdd(ar, b0, c4_0); c4_1 = Vector128.FusedMultiplyAdd(ar, b1, c4_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 5)); c5_0 = Vector128.FusedMultiplyAdd(ar, b0, c5_0); c5_1 = Vector128.FusedMultiplyAdd(ar, b1, c5_1);
            a = ref Unsafe.Add(ref a, 6);
            b = ref Unsafe.Add(ref b, bStride);
        }
        if (accumulate)
        {
            ref float r0 = ref c;
            (Vector128.LoadUnsafe(ref r0) + c0_0).StoreUnsafe(ref r0);
            (Vector128.LoadUnsafe(ref r0, 4) + c0_1).StoreUnsafe(ref r0, 4);
            ref float r1 = ref Unsafe.Add(ref c, 1 * ldc);
            (Vector128.LoadUnsafe(ref r1) + c1_0).StoreUnsafe(ref r1);
            (Vector128.LoadUnsafe(ref r1, 4) + c1_1).StoreUnsafe(ref r1, 4);
            ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
            (Vector128.LoadUnsafe(ref r2) + c2_0).StoreUnsafe(ref r2);
            (Vector128.LoadUnsafe(ref r2, 4) + c2_1).StoreUnsafe(ref r2, 4);
            ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
            (Vector128.LoadUnsafe(ref r3) + c3_0).StoreUnsafe(ref r3);
            (Vector128.LoadUnsafe(ref r3, 4) + c3_1).StoreUnsafe(ref r3, 4);
            ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
            (Vector128.LoadUnsafe(ref r4) + c4_0).StoreUnsafe(ref r4);
            (Vector128.LoadUnsafe(ref r4, 4) + c4_1).StoreUnsafe(ref r4, 4);
            ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
            (Vector128.LoadUnsafe(ref r5) + c5_0).StoreUnsafe(ref r5);
            (Vector128.LoadUnsafe(ref r5, 4) + c5_1).StoreUnsafe(ref r5, 4);
        }
        else
        {
            ref float r0 = ref c;
            c0_0.StoreUnsafe(ref r0);
            c0_1.StoreUnsafe(ref r0, 4);
            ref float r1 = ref Unsafe.Add(ref c, 1 * ldc);
            c1_0.StoreUnsafe(ref r1);
            c1_1.StoreUnsafe(ref r1, 4);
            ref float r2 = ref Unsafe.Add(ref c, 2 * ldc);
            c2_0.StoreUnsafe(ref r2);
            c2_1.StoreUnsafe(ref r2, 4);
            ref float r3 = ref Unsafe.Add(ref c, 3 * ldc);
            c3_0.StoreUnsafe(ref r3);
            c3_1.StoreUnsafe(ref r3, 4);
            ref float r4 = ref Unsafe.Add(ref c, 4 * ldc);
            c4_0.StoreUnsafe(ref r4);
            c4_1.StoreUnsafe(ref r4, 4);
            ref float r5 = ref Unsafe.Add(ref c, 5 * ldc);
            c5_0.StoreUnsafe(ref r5);
            c5_1.StoreUnsafe(ref r5, 4);
        }
    }
}

/// <summary>6×4 double tile on Vector128 (2 vectors of 2 lanes per row, 12 accumulators).</summary>
internal readonly struct KernelD128 : IGemmKernel<double>
{
    public static int MR => 6;
    public static int NR => 4;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref double a, ref double b, nint bStride, ref double c, nint ldc, bool accumulate)
    {
        Vector128<double> c0_0 = default, c0_1 = default;
        Vector128<double> c1_0 = default, c1_1 = default;
        Vector128<double> c2_0 = default, c2_1 = default;
        Vector128<double> c3_0 = default, c3_1 = default;
        Vector128<double> c4_0 = default, c4_1 = default;
        Vector128<double> c5_0 = default, c5_1 = default;
        for (nint p = 0; p < kc; p++)
        {
            Vector128<double> b0 = Vector128.LoadUnsafe(ref b);
            Vector128<double> b1 = Vector128.LoadUnsafe(ref b, 2);
            Vector128<double> ar;
            ar = Vector128.Create(a); c0_0 = Vector128.FusedMultiplyAdd(ar, b0, c0_0); c0_1 = Vector128.FusedMultiplyAdd(ar, b1, c0_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 1)); c1_0 = Vector128.FusedMultiplyAdd(ar, b0, c1_0); c1_1 = Vector128.FusedMultiplyAdd(ar, b1, c1_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 2)); c2_0 = Vector128.FusedMultiplyAdd(ar, b0, c2_0); c2_1 = Vector128.FusedMultiplyAdd(ar, b1, c2_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 3)); c3_0 = Vector128.FusedMultiplyAdd(ar, b0, c3_0); c3_1 = Vector128.FusedMultiplyAdd(ar, b1, c3_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 4)); c4_0 = Vector128.FusedMultiplyAdd(ar, b0, c4_0); c4_1 = Vector128.FusedMultiplyAdd(ar, b1, c4_1);
            ar = Vector128.Create(Unsafe.Add(ref a, 5)); c5_0 = Vector128.FusedMultiplyAdd(ar, b0, c5_0); c5_1 = Vector128.FusedMultiplyAdd(ar, b1, c5_1);
            a = ref Unsafe.Add(ref a, 6);
            b = ref Unsafe.Add(ref b, bStride);
        }
        if (accumulate)
        {
            ref double r0 = ref c;
            (Vector128.LoadUnsafe(ref r0) + c0_0).StoreUnsafe(ref r0);
            (Vector128.LoadUnsafe(ref r0, 2) + c0_1).StoreUnsafe(ref r0, 2);
            ref double r1 = ref Unsafe.Add(ref c, 1 * ldc);
            (Vector128.LoadUnsafe(ref r1) + c1_0).StoreUnsafe(ref r1);
            (Vector128.LoadUnsafe(ref r1, 2) + c1_1).StoreUnsafe(ref r1, 2);
            ref double r2 = ref Unsafe.Add(ref c, 2 * ldc);
            (Vector128.LoadUnsafe(ref r2) + c2_0).StoreUnsafe(ref r2);
            (Vector128.LoadUnsafe(ref r2, 2) + c2_1).StoreUnsafe(ref r2, 2);
            ref double r3 = ref Unsafe.Add(ref c, 3 * ldc);
            (Vector128.LoadUnsafe(ref r3) + c3_0).StoreUnsafe(ref r3);
            (Vector128.LoadUnsafe(ref r3, 2) + c3_1).StoreUnsafe(ref r3, 2);
            ref double r4 = ref Unsafe.Add(ref c, 4 * ldc);
            (Vector128.LoadUnsafe(ref r4) + c4_0).StoreUnsafe(ref r4);
            (Vector128.LoadUnsafe(ref r4, 2) + c4_1).StoreUnsafe(ref r4, 2);
            ref double r5 = ref Unsafe.Add(ref c, 5 * ldc);
            (Vector128.LoadUnsafe(ref r5) + c5_0).StoreUnsafe(ref r5);
            (Vector128.LoadUnsafe(ref r5, 2) + c5_1).StoreUnsafe(ref r5, 2);
        }
        else
        {
            ref double r0 = ref c;
            c0_0.StoreUnsafe(ref r0);
            c0_1.StoreUnsafe(ref r0, 2);
            ref double r1 = ref Unsafe.Add(ref c, 1 * ldc);
            c1_0.StoreUnsafe(ref r1);
            c1_1.StoreUnsafe(ref r1, 2);
            ref double r2 = ref Unsafe.Add(ref c, 2 * ldc);
            c2_0.StoreUnsafe(ref r2);
            c2_1.StoreUnsafe(ref r2, 2);
            ref double r3 = ref Unsafe.Add(ref c, 3 * ldc);
            c3_0.StoreUnsafe(ref r3);
            c3_1.StoreUnsafe(ref r3, 2);
            ref double r4 = ref Unsafe.Add(ref c, 4 * ldc);
            c4_0.StoreUnsafe(ref r4);
            c4_1.StoreUnsafe(ref r4, 2);
            ref double r5 = ref Unsafe.Add(ref c, 5 * ldc);
            c5_0.StoreUnsafe(ref r5);
            c5_1.StoreUnsafe(ref r5, 2);
        }
    }
}

/// <summary>4×4 scalar tile for any element type: the path when no SIMD is hardware-accelerated.</summary>
internal readonly struct KernelScalar<T> : IGemmKernel<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public static int MR => 4;
    public static int NR => 4;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Run(nint kc, ref T a, ref T b, nint bStride, ref T c, nint ldc, bool accumulate)
    {
        T c0_0 = T.Zero, c0_1 = T.Zero, c0_2 = T.Zero, c0_3 = T.Zero;
        T c1_0 = T.Zero, c1_1 = T.Zero, c1_2 = T.Zero, c1_3 = T.Zero;
        T c2_0 = T.Zero, c2_1 = T.Zero, c2_2 = T.Zero, c2_3 = T.Zero;
        T c3_0 = T.Zero, c3_1 = T.Zero, c3_2 = T.Zero, c3_3 = T.Zero;
        for (nint p = 0; p < kc; p++)
        {
            T b0 = Unsafe.Add(ref b, 0), b1 = Unsafe.Add(ref b, 1), b2 = Unsafe.Add(ref b, 2), b3 = Unsafe.Add(ref b, 3);
            T a0 = a; c0_0 += a0 * b0; c0_1 += a0 * b1; c0_2 += a0 * b2; c0_3 += a0 * b3;
            T a1 = Unsafe.Add(ref a, 1); c1_0 += a1 * b0; c1_1 += a1 * b1; c1_2 += a1 * b2; c1_3 += a1 * b3;
            T a2 = Unsafe.Add(ref a, 2); c2_0 += a2 * b0; c2_1 += a2 * b1; c2_2 += a2 * b2; c2_3 += a2 * b3;
            T a3 = Unsafe.Add(ref a, 3); c3_0 += a3 * b0; c3_1 += a3 * b1; c3_2 += a3 * b2; c3_3 += a3 * b3;
            a = ref Unsafe.Add(ref a, 4);
            b = ref Unsafe.Add(ref b, bStride);
        }
        ref T r0 = ref c;
        r0 = accumulate ? r0 + c0_0 : c0_0;
        Unsafe.Add(ref r0, 1) = accumulate ? Unsafe.Add(ref r0, 1) + c0_1 : c0_1;
        Unsafe.Add(ref r0, 2) = accumulate ? Unsafe.Add(ref r0, 2) + c0_2 : c0_2;
        Unsafe.Add(ref r0, 3) = accumulate ? Unsafe.Add(ref r0, 3) + c0_3 : c0_3;
        ref T r1 = ref Unsafe.Add(ref c, 1 * ldc);
        r1 = accumulate ? r1 + c1_0 : c1_0;
        Unsafe.Add(ref r1, 1) = accumulate ? Unsafe.Add(ref r1, 1) + c1_1 : c1_1;
        Unsafe.Add(ref r1, 2) = accumulate ? Unsafe.Add(ref r1, 2) + c1_2 : c1_2;
        Unsafe.Add(ref r1, 3) = accumulate ? Unsafe.Add(ref r1, 3) + c1_3 : c1_3;
        ref T r2 = ref Unsafe.Add(ref c, 2 * ldc);
        r2 = accumulate ? r2 + c2_0 : c2_0;
        Unsafe.Add(ref r2, 1) = accumulate ? Unsafe.Add(ref r2, 1) + c2_1 : c2_1;
        Unsafe.Add(ref r2, 2) = accumulate ? Unsafe.Add(ref r2, 2) + c2_2 : c2_2;
        Unsafe.Add(ref r2, 3) = accumulate ? Unsafe.Add(ref r2, 3) + c2_3 : c2_3;
        ref T r3 = ref Unsafe.Add(ref c, 3 * ldc);
        r3 = accumulate ? r3 + c3_0 : c3_0;
        Unsafe.Add(ref r3, 1) = accumulate ? Unsafe.Add(ref r3, 1) + c3_1 : c3_1;
        Unsafe.Add(ref r3, 2) = accumulate ? Unsafe.Add(ref r3, 2) + c3_2 : c3_2;
        Unsafe.Add(ref r3, 3) = accumulate ? Unsafe.Add(ref r3, 3) + c3_3 : c3_3;
    }
}
