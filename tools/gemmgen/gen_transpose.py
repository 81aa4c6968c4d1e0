# Generates the unrolled register transposes (Gemm.Transpose.cs).
#
# Every transpose has the same frame (load the rows, run a shuffle network, scale, store the columns);
# only the network differs with the width and the instruction set. Each network below is built from
# the same three stages and returns the expressions of the n output columns, in order.
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
{''')

WITHIN_LANES = '        // Within 128-bit lanes: t(2i) = (a0 b0 a1 b1), t(2i+1) = (a2 b2 a3 b3) of rows a = 2i, b = 2i+1.'

def unpack(isa, n, comment):
    """t(2i), t(2i+1): the interleaved low and high halves (per 128-bit lane) of rows 2i and 2i+1."""
    w(comment)
    for i in range(n // 2):
        w(f'        var t{2*i} = {isa}.UnpackLow(r{2*i}, r{2*i+1}); var t{2*i+1} = {isa}.UnpackHigh(r{2*i}, r{2*i+1});')

def shuffle(isa, groups):
    """u(4g+c): within each 128-bit lane, rows 4g..4g+3 of one column, from t(4g)..t(4g+3)."""
    w('        // u(4g+c), lane l = rows 4g..4g+3 of column 4l + c.')
    for g in range(groups):
        w(f'        var u{4*g} = {isa}.Shuffle(t{4*g}, t{4*g+2}, 0x44); var u{4*g+1} = {isa}.Shuffle(t{4*g}, t{4*g+2}, 0xEE);')
        w(f'        var u{4*g+2} = {isa}.Shuffle(t{4*g+1}, t{4*g+3}, 0x44); var u{4*g+3} = {isa}.Shuffle(t{4*g+1}, t{4*g+3}, 0xEE);')

def gather_lanes(v, s):
    """On 512 bits: column j = s·l + c gathers 128-bit lane l of v(c), v(s+c), v(2s+c), v(3s+c)."""
    w(f'        // Column j = {s}l + c gathers lane l of {v}(c), {v}({s}+c), {v}({2*s}+c), {v}({3*s}+c).')
    for c in range(s):
        w(f'        var lo01_{c} = Avx512F.Shuffle4x128({v}{c}, {v}{s+c}, 0x88); var hi01_{c} = Avx512F.Shuffle4x128({v}{c}, {v}{s+c}, 0xDD);')
        w(f'        var lo23_{c} = Avx512F.Shuffle4x128({v}{2*s+c}, {v}{3*s+c}, 0x88); var hi23_{c} = Avx512F.Shuffle4x128({v}{2*s+c}, {v}{3*s+c}, 0xDD);')
    return [f'Avx512F.Shuffle4x128({half}01_{c}, {half}23_{c}, {imm})' for imm in ('0x88', '0xDD') for half in ('lo', 'hi') for c in range(s)]

def network16x16():
    unpack('Avx512F', 16, WITHIN_LANES)
    shuffle('Avx512F', 4)
    return gather_lanes('u', 4)

def network8x8():
    unpack('Avx512F', 8, '        // t(2i + c), 128-bit lane l = rows 2i, 2i+1 of column 2l + c.')
    return gather_lanes('t', 2)

def network8x8avx():
    unpack('Avx', 8, WITHIN_LANES)
    shuffle('Avx', 2)
    w('        // Column j = 4l + c joins lane l of u(c) (rows 0..3) and of u(4+c) (rows 4..7).')
    return [f'Avx.Permute2x128(u{c}, u{4+c}, {imm})' for imm in ('0x20', '0x31') for c in range(4)]

transposes = [
    # summary, visibility, name, T, vector, n, scalar one, network
    ('16×16 float transpose (see the file header).', 'internal', 'Transpose16x16', 'float', 'Vector512', 16, '1f', network16x16),
    ('8×8 double transpose (see the file header).', 'private', 'Transpose8x8', 'double', 'Vector512', 8, '1.0', network8x8),
    ('8×8 float transpose on AVX (256-bit; for machines without AVX-512), same contract as the others.',
     'internal', 'Transpose8x8Avx', 'float', 'Vector256', 8, '1f', network8x8avx),
]
for k, (summary, visibility, name, T, V, n, one, network) in enumerate(transposes):
    if k:
        w('')
    w(f'    /// <summary>{summary}</summary>')
    w(f'    {visibility} static unsafe void {name}({T}* src, nint ld, int rows, {T}* dst, nint dstStride, {T} scale)')
    w('    {')
    for i in range(n):
        w(f'        {V}<{T}> r{i} = {i} < rows ? {V}.Load(src + {i} * ld) : default;')
    outs = network()
    assert len(outs) == n
    for j in range(n):
        w(f'        var o{j} = {outs[j]};')
    w(f'        if (scale != {one})')
    w('        {')
    w(f'            var s = {V}.Create(scale);')
    for j in range(n):
        w(f'            o{j} *= s;')
    w('        }')
    for j in range(n):
        w(f'        {V}.Store(o{j}, dst + {j} * dstStride);')
    w('    }')
w('}')
open(os.path.join(KERNELS, 'Gemm.Transpose.cs'),'w').write('\n'.join(o)+'\n')
