// In-register transposes used when packing the strided operand cases (op(A) = A, op(B) = Bᵀ).
//
//   dst[j·dstStride + r] = scale · src[r·ld + j]      r, j < 16 (float) or < 8 (double)
//   rows r ≥ `rows` are taken as zero and never read.
//
// Each output row is one full-width store, in increasing j: with dstStride below the width a store
// runs past its row into the next, which the next store (or the caller's later writes) overwrites,
// and the last store writes width − dstStride elements past the block (the packing buffers keep
// that slack). Classic unpack / shuffle / 128-bit-lane-shuffle network; every value stays in a
// register (generated, unrolled code). Callers check Avx512F.IsSupported / Avx.IsSupported.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NeuralPrimitives;

public static partial class Gemm
{
    /// <summary>16×16 float transpose (see the file header).</summary>
    internal static unsafe void Transpose16x16(float* src, nint ld, int rows, float* dst, nint dstStride, float scale)
    {
        Vector512<float> r0 = 0 < rows ? Vector512.Load(src + 0 * ld) : default;
        Vector512<float> r1 = 1 < rows ? Vector512.Load(src + 1 * ld) : default;
        Vector512<float> r2 = 2 < rows ? Vector512.Load(src + 2 * ld) : default;
        Vector512<float> r3 = 3 < rows ? Vector512.Load(src + 3 * ld) : default;
        Vector512<float> r4 = 4 < rows ? Vector512.Load(src + 4 * ld) : default;
        Vector512<float> r5 = 5 < rows ? Vector512.Load(src + 5 * ld) : default;
        Vector512<float> r6 = 6 < rows ? Vector512.Load(src + 6 * ld) : default;
        Vector512<float> r7 = 7 < rows ? Vector512.Load(src + 7 * ld) : default;
        Vector512<float> r8 = 8 < rows ? Vector512.Load(src + 8 * ld) : default;
        Vector512<float> r9 = 9 < rows ? Vector512.Load(src + 9 * ld) : default;
        Vector512<float> r10 = 10 < rows ? Vector512.Load(src + 10 * ld) : default;
        Vector512<float> r11 = 11 < rows ? Vector512.Load(src + 11 * ld) : default;
        Vector512<float> r12 = 12 < rows ? Vector512.Load(src + 12 * ld) : default;
        Vector512<float> r13 = 13 < rows ? Vector512.Load(src + 13 * ld) : default;
        Vector512<float> r14 = 14 < rows ? Vector512.Load(src + 14 * ld) : default;
        Vector512<float> r15 = 15 < rows ? Vector512.Load(src + 15 * ld) : default;
        // Within 128-bit lanes: t(2i) = (a0 b0 a1 b1), t(2i+1) = (a2 b2 a3 b3) of rows a = 2i, b = 2i+1.
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
        // u(4g+c), lane l = rows 4g..4g+3 of column 4l + c.
        var u0 = Avx512F.Shuffle(t0, t2, 0x44); var u1 = Avx512F.Shuffle(t0, t2, 0xEE);
        var u2 = Avx512F.Shuffle(t1, t3, 0x44); var u3 = Avx512F.Shuffle(t1, t3, 0xEE);
        var u4 = Avx512F.Shuffle(t4, t6, 0x44); var u5 = Avx512F.Shuffle(t4, t6, 0xEE);
        var u6 = Avx512F.Shuffle(t5, t7, 0x44); var u7 = Avx512F.Shuffle(t5, t7, 0xEE);
        var u8 = Avx512F.Shuffle(t8, t10, 0x44); var u9 = Avx512F.Shuffle(t8, t10, 0xEE);
        var u10 = Avx512F.Shuffle(t9, t11, 0x44); var u11 = Avx512F.Shuffle(t9, t11, 0xEE);
        var u12 = Avx512F.Shuffle(t12, t14, 0x44); var u13 = Avx512F.Shuffle(t12, t14, 0xEE);
        var u14 = Avx512F.Shuffle(t13, t15, 0x44); var u15 = Avx512F.Shuffle(t13, t15, 0xEE);
        // Column j = 4l + c gathers lane l of u(c), u(4+c), u(8+c), u(12+c).
        var lo01_0 = Avx512F.Shuffle4x128(u0, u4, 0x88); var hi01_0 = Avx512F.Shuffle4x128(u0, u4, 0xDD);
        var lo23_0 = Avx512F.Shuffle4x128(u8, u12, 0x88); var hi23_0 = Avx512F.Shuffle4x128(u8, u12, 0xDD);
        var lo01_1 = Avx512F.Shuffle4x128(u1, u5, 0x88); var hi01_1 = Avx512F.Shuffle4x128(u1, u5, 0xDD);
        var lo23_1 = Avx512F.Shuffle4x128(u9, u13, 0x88); var hi23_1 = Avx512F.Shuffle4x128(u9, u13, 0xDD);
        var lo01_2 = Avx512F.Shuffle4x128(u2, u6, 0x88); var hi01_2 = Avx512F.Shuffle4x128(u2, u6, 0xDD);
        var lo23_2 = Avx512F.Shuffle4x128(u10, u14, 0x88); var hi23_2 = Avx512F.Shuffle4x128(u10, u14, 0xDD);
        var lo01_3 = Avx512F.Shuffle4x128(u3, u7, 0x88); var hi01_3 = Avx512F.Shuffle4x128(u3, u7, 0xDD);
        var lo23_3 = Avx512F.Shuffle4x128(u11, u15, 0x88); var hi23_3 = Avx512F.Shuffle4x128(u11, u15, 0xDD);
        var o0 = Avx512F.Shuffle4x128(lo01_0, lo23_0, 0x88);
        var o1 = Avx512F.Shuffle4x128(lo01_1, lo23_1, 0x88);
        var o2 = Avx512F.Shuffle4x128(lo01_2, lo23_2, 0x88);
        var o3 = Avx512F.Shuffle4x128(lo01_3, lo23_3, 0x88);
        var o4 = Avx512F.Shuffle4x128(hi01_0, hi23_0, 0x88);
        var o5 = Avx512F.Shuffle4x128(hi01_1, hi23_1, 0x88);
        var o6 = Avx512F.Shuffle4x128(hi01_2, hi23_2, 0x88);
        var o7 = Avx512F.Shuffle4x128(hi01_3, hi23_3, 0x88);
        var o8 = Avx512F.Shuffle4x128(lo01_0, lo23_0, 0xDD);
        var o9 = Avx512F.Shuffle4x128(lo01_1, lo23_1, 0xDD);
        var o10 = Avx512F.Shuffle4x128(lo01_2, lo23_2, 0xDD);
        var o11 = Avx512F.Shuffle4x128(lo01_3, lo23_3, 0xDD);
        var o12 = Avx512F.Shuffle4x128(hi01_0, hi23_0, 0xDD);
        var o13 = Avx512F.Shuffle4x128(hi01_1, hi23_1, 0xDD);
        var o14 = Avx512F.Shuffle4x128(hi01_2, hi23_2, 0xDD);
        var o15 = Avx512F.Shuffle4x128(hi01_3, hi23_3, 0xDD);
        if (scale != 1f)
        {
            var s = Vector512.Create(scale);
            o0 *= s;
            o1 *= s;
            o2 *= s;
            o3 *= s;
            o4 *= s;
            o5 *= s;
            o6 *= s;
            o7 *= s;
            o8 *= s;
            o9 *= s;
            o10 *= s;
            o11 *= s;
            o12 *= s;
            o13 *= s;
            o14 *= s;
            o15 *= s;
        }
        Vector512.Store(o0, dst + 0 * dstStride);
        Vector512.Store(o1, dst + 1 * dstStride);
        Vector512.Store(o2, dst + 2 * dstStride);
        Vector512.Store(o3, dst + 3 * dstStride);
        Vector512.Store(o4, dst + 4 * dstStride);
        Vector512.Store(o5, dst + 5 * dstStride);
        Vector512.Store(o6, dst + 6 * dstStride);
        Vector512.Store(o7, dst + 7 * dstStride);
        Vector512.Store(o8, dst + 8 * dstStride);
        Vector512.Store(o9, dst + 9 * dstStride);
        Vector512.Store(o10, dst + 10 * dstStride);
        Vector512.Store(o11, dst + 11 * dstStride);
        Vector512.Store(o12, dst + 12 * dstStride);
        Vector512.Store(o13, dst + 13 * dstStride);
        Vector512.Store(o14, dst + 14 * dstStride);
        Vector512.Store(o15, dst + 15 * dstStride);
    }

    /// <summary>8×8 double transpose (see the file header).</summary>
    private static unsafe void Transpose8x8(double* src, nint ld, int rows, double* dst, nint dstStride, double scale)
    {
        Vector512<double> r0 = 0 < rows ? Vector512.Load(src + 0 * ld) : default;
        Vector512<double> r1 = 1 < rows ? Vector512.Load(src + 1 * ld) : default;
        Vector512<double> r2 = 2 < rows ? Vector512.Load(src + 2 * ld) : default;
        Vector512<double> r3 = 3 < rows ? Vector512.Load(src + 3 * ld) : default;
        Vector512<double> r4 = 4 < rows ? Vector512.Load(src + 4 * ld) : default;
        Vector512<double> r5 = 5 < rows ? Vector512.Load(src + 5 * ld) : default;
        Vector512<double> r6 = 6 < rows ? Vector512.Load(src + 6 * ld) : default;
        Vector512<double> r7 = 7 < rows ? Vector512.Load(src + 7 * ld) : default;
        // t(2i + c), 128-bit lane l = rows 2i, 2i+1 of column 2l + c.
        var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
        // Column j = 2l + c gathers lane l of t(c), t(2+c), t(4+c), t(6+c).
        var lo01_0 = Avx512F.Shuffle4x128(t0, t2, 0x88); var hi01_0 = Avx512F.Shuffle4x128(t0, t2, 0xDD);
        var lo23_0 = Avx512F.Shuffle4x128(t4, t6, 0x88); var hi23_0 = Avx512F.Shuffle4x128(t4, t6, 0xDD);
        var lo01_1 = Avx512F.Shuffle4x128(t1, t3, 0x88); var hi01_1 = Avx512F.Shuffle4x128(t1, t3, 0xDD);
        var lo23_1 = Avx512F.Shuffle4x128(t5, t7, 0x88); var hi23_1 = Avx512F.Shuffle4x128(t5, t7, 0xDD);
        var o0 = Avx512F.Shuffle4x128(lo01_0, lo23_0, 0x88);
        var o1 = Avx512F.Shuffle4x128(lo01_1, lo23_1, 0x88);
        var o2 = Avx512F.Shuffle4x128(hi01_0, hi23_0, 0x88);
        var o3 = Avx512F.Shuffle4x128(hi01_1, hi23_1, 0x88);
        var o4 = Avx512F.Shuffle4x128(lo01_0, lo23_0, 0xDD);
        var o5 = Avx512F.Shuffle4x128(lo01_1, lo23_1, 0xDD);
        var o6 = Avx512F.Shuffle4x128(hi01_0, hi23_0, 0xDD);
        var o7 = Avx512F.Shuffle4x128(hi01_1, hi23_1, 0xDD);
        if (scale != 1.0)
        {
            var s = Vector512.Create(scale);
            o0 *= s;
            o1 *= s;
            o2 *= s;
            o3 *= s;
            o4 *= s;
            o5 *= s;
            o6 *= s;
            o7 *= s;
        }
        Vector512.Store(o0, dst + 0 * dstStride);
        Vector512.Store(o1, dst + 1 * dstStride);
        Vector512.Store(o2, dst + 2 * dstStride);
        Vector512.Store(o3, dst + 3 * dstStride);
        Vector512.Store(o4, dst + 4 * dstStride);
        Vector512.Store(o5, dst + 5 * dstStride);
        Vector512.Store(o6, dst + 6 * dstStride);
        Vector512.Store(o7, dst + 7 * dstStride);
    }

    /// <summary>8×8 float transpose on AVX (256-bit; for machines without AVX-512), same contract as the others.</summary>
    internal static unsafe void Transpose8x8Avx(float* src, nint ld, int rows, float* dst, nint dstStride, float scale)
    {
        Vector256<float> r0 = 0 < rows ? Vector256.Load(src + 0 * ld) : default;
        Vector256<float> r1 = 1 < rows ? Vector256.Load(src + 1 * ld) : default;
        Vector256<float> r2 = 2 < rows ? Vector256.Load(src + 2 * ld) : default;
        Vector256<float> r3 = 3 < rows ? Vector256.Load(src + 3 * ld) : default;
        Vector256<float> r4 = 4 < rows ? Vector256.Load(src + 4 * ld) : default;
        Vector256<float> r5 = 5 < rows ? Vector256.Load(src + 5 * ld) : default;
        Vector256<float> r6 = 6 < rows ? Vector256.Load(src + 6 * ld) : default;
        Vector256<float> r7 = 7 < rows ? Vector256.Load(src + 7 * ld) : default;
        // Within 128-bit lanes: t(2i) = (a0 b0 a1 b1), t(2i+1) = (a2 b2 a3 b3) of rows a = 2i, b = 2i+1.
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        // u(4g+c), lane l = rows 4g..4g+3 of column 4l + c.
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Column j = 4l + c joins lane l of u(c) (rows 0..3) and of u(4+c) (rows 4..7).
        var o0 = Avx.Permute2x128(u0, u4, 0x20);
        var o1 = Avx.Permute2x128(u1, u5, 0x20);
        var o2 = Avx.Permute2x128(u2, u6, 0x20);
        var o3 = Avx.Permute2x128(u3, u7, 0x20);
        var o4 = Avx.Permute2x128(u0, u4, 0x31);
        var o5 = Avx.Permute2x128(u1, u5, 0x31);
        var o6 = Avx.Permute2x128(u2, u6, 0x31);
        var o7 = Avx.Permute2x128(u3, u7, 0x31);
        if (scale != 1f)
        {
            var s = Vector256.Create(scale);
            o0 *= s;
            o1 *= s;
            o2 *= s;
            o3 *= s;
            o4 *= s;
            o5 *= s;
            o6 *= s;
            o7 *= s;
        }
        Vector256.Store(o0, dst + 0 * dstStride);
        Vector256.Store(o1, dst + 1 * dstStride);
        Vector256.Store(o2, dst + 2 * dstStride);
        Vector256.Store(o3, dst + 3 * dstStride);
        Vector256.Store(o4, dst + 4 * dstStride);
        Vector256.Store(o5, dst + 5 * dstStride);
        Vector256.Store(o6, dst + 6 * dstStride);
        Vector256.Store(o7, dst + 7 * dstStride);
    }
}
