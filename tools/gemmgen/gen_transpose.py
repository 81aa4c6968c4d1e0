# Generates the unrolled register transposes (Gemm.Transpose.cs).
import os
KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "NeuralPrimitives", "Kernels")
o=[]
w=o.append
w('''// In-register transposes used when packing the strided operand cases (op(A) = A, op(B) = Bᵀ).
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
    private static unsafe void Transpose16x16(float* src, nint ld, int rows, float* dst, nint dstStride, float scale)
    {''')
for i in range(16):
    w(f'        Vector512<float> r{i} = {i} < rows ? Vector512.Load(src + {i} * ld) : default;')
w('        // Within 128-bit lanes: t(2i) = (a0 b0 a1 b1), t(2i+1) = (a2 b2 a3 b3) of rows a = 2i, b = 2i+1.')
for i in range(8):
    w(f'        var t{2*i} = Avx512F.UnpackLow(r{2*i}, r{2*i+1}); var t{2*i+1} = Avx512F.UnpackHigh(r{2*i}, r{2*i+1});')
w('        // u(4g+c), lane l = rows 4g..4g+3 of column 4l + c.')
for g in range(4):
    w(f'        var u{4*g} = Avx512F.Shuffle(t{4*g}, t{4*g+2}, 0x44); var u{4*g+1} = Avx512F.Shuffle(t{4*g}, t{4*g+2}, 0xEE);')
    w(f'        var u{4*g+2} = Avx512F.Shuffle(t{4*g+1}, t{4*g+3}, 0x44); var u{4*g+3} = Avx512F.Shuffle(t{4*g+1}, t{4*g+3}, 0xEE);')
w('        // Column j = 4l + c gathers lane l of u(c), u(4+c), u(8+c), u(12+c).')
for c in range(4):
    w(f'        var lo01_{c} = Avx512F.Shuffle4x128(u{c}, u{4+c}, 0x88); var hi01_{c} = Avx512F.Shuffle4x128(u{c}, u{4+c}, 0xDD);')
    w(f'        var lo23_{c} = Avx512F.Shuffle4x128(u{8+c}, u{12+c}, 0x88); var hi23_{c} = Avx512F.Shuffle4x128(u{8+c}, u{12+c}, 0xDD);')
outs={}
for c in range(4):
    outs[c]=f'Avx512F.Shuffle4x128(lo01_{c}, lo23_{c}, 0x88)'
    outs[4+c]=f'Avx512F.Shuffle4x128(hi01_{c}, hi23_{c}, 0x88)'
    outs[8+c]=f'Avx512F.Shuffle4x128(lo01_{c}, lo23_{c}, 0xDD)'
    outs[12+c]=f'Avx512F.Shuffle4x128(hi01_{c}, hi23_{c}, 0xDD)'
for j in range(16):
    w(f'        var o{j} = {outs[j]};')
w('        if (scale != 1f)')
w('        {')
w('            var s = Vector512.Create(scale);')
for j in range(16):
    w(f'            o{j} *= s;')
w('        }')
for j in range(16):
    w(f'        Vector512.Store(o{j}, dst + {j} * dstStride);')
w('    }')
w('')
w('    /// <summary>8×8 double transpose (see the file header).</summary>')
w('    private static unsafe void Transpose8x8(double* src, nint ld, int rows, double* dst, nint dstStride, double scale)')
w('    {')
for i in range(8):
    w(f'        Vector512<double> r{i} = {i} < rows ? Vector512.Load(src + {i} * ld) : default;')
w('        // t(2i + c), 128-bit lane l = rows 2i, 2i+1 of column 2l + c.')
for i in range(4):
    w(f'        var t{2*i} = Avx512F.UnpackLow(r{2*i}, r{2*i+1}); var t{2*i+1} = Avx512F.UnpackHigh(r{2*i}, r{2*i+1});')
w('        // Column j = 2l + c gathers lane l of t(c), t(2+c), t(4+c), t(6+c).')
outs={}
for c in range(2):
    w(f'        var lo01_{c} = Avx512F.Shuffle4x128(t{c}, t{2+c}, 0x88); var hi01_{c} = Avx512F.Shuffle4x128(t{c}, t{2+c}, 0xDD);')
    w(f'        var lo23_{c} = Avx512F.Shuffle4x128(t{4+c}, t{6+c}, 0x88); var hi23_{c} = Avx512F.Shuffle4x128(t{4+c}, t{6+c}, 0xDD);')
    outs[c]=f'Avx512F.Shuffle4x128(lo01_{c}, lo23_{c}, 0x88)'
    outs[2+c]=f'Avx512F.Shuffle4x128(hi01_{c}, hi23_{c}, 0x88)'
    outs[4+c]=f'Avx512F.Shuffle4x128(lo01_{c}, lo23_{c}, 0xDD)'
    outs[6+c]=f'Avx512F.Shuffle4x128(hi01_{c}, hi23_{c}, 0xDD)'
for j in range(8):
    w(f'        var o{j} = {outs[j]};')
w('        if (scale != 1.0)')
w('        {')
w('            var s = Vector512.Create(scale);')
for j in range(8):
    w(f'            o{j} *= s;')
w('        }')
for j in range(8):
    w(f'        Vector512.Store(o{j}, dst + {j} * dstStride);')
w('    }')
w('}')
open(os.path.join(KERNELS, 'Gemm.Transpose.cs'),'w').write('\n'.join(o)+'\n')

# ---- AVX (256-bit) 8x8 float transpose, appended into the same partial class file
src=open(os.path.join(KERNELS, 'Gemm.Transpose.cs')).read().rstrip()
assert src.endswith('}')
src=src[:-1].rstrip()+'\n'
o=[]
w=o.append
w('')
w('    /// <summary>8×8 float transpose on AVX (256-bit; for machines without AVX-512), same contract as the others.</summary>')
w('    private static unsafe void Transpose8x8Avx(float* src, nint ld, int rows, float* dst, nint dstStride, float scale)')
w('    {')
for i in range(8):
    w(f'        Vector256<float> r{i} = {i} < rows ? Vector256.Load(src + {i} * ld) : default;')
w('        // Within 128-bit lanes: t(2i) = (a0 b0 a1 b1), t(2i+1) = (a2 b2 a3 b3) of rows a = 2i, b = 2i+1.')
for i in range(4):
    w(f'        var t{2*i} = Avx.UnpackLow(r{2*i}, r{2*i+1}); var t{2*i+1} = Avx.UnpackHigh(r{2*i}, r{2*i+1});')
w('        // u(4g+c), lane l = rows 4g..4g+3 of column 4l + c.')
for g in range(2):
    w(f'        var u{4*g} = Avx.Shuffle(t{4*g}, t{4*g+2}, 0x44); var u{4*g+1} = Avx.Shuffle(t{4*g}, t{4*g+2}, 0xEE);')
    w(f'        var u{4*g+2} = Avx.Shuffle(t{4*g+1}, t{4*g+3}, 0x44); var u{4*g+3} = Avx.Shuffle(t{4*g+1}, t{4*g+3}, 0xEE);')
w('        // Column j = 4l + c joins lane l of u(c) (rows 0..3) and of u(4+c) (rows 4..7).')
outs={}
for c in range(4):
    outs[c]=f'Avx.Permute2x128(u{c}, u{4+c}, 0x20)'
    outs[4+c]=f'Avx.Permute2x128(u{c}, u{4+c}, 0x31)'
for j in range(8):
    w(f'        var o{j} = {outs[j]};')
w('        if (scale != 1f)')
w('        {')
w('            var s = Vector256.Create(scale);')
for j in range(8):
    w(f'            o{j} *= s;')
w('        }')
for j in range(8):
    w(f'        Vector256.Store(o{j}, dst + {j} * dstStride);')
w('    }')
w('}')
open(os.path.join(KERNELS, 'Gemm.Transpose.cs'),'w').write(src+'\n'.join(o)+'\n')
