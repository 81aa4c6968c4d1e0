# Generates src/NeuralPrimitives/Kernels/Gemm.Kernels.cs (register-blocked micro-kernels).
import os
KERNELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "NeuralPrimitives", "Kernels")
kernels = [
    # name, T, vec, lanes, MR, NR-vectors
    ("KernelF512", "float", "Vector512", 16, 12, 2),
    ("KernelD512", "double", "Vector512", 8, 12, 2),
    # 8-row tiles for products with few rows (a recurrent step, m = batch): m = 16 or 32 fills
    # them exactly, where 12-row tiles would compute 24 or 36 rows.
    ("KernelF512M8", "float", "Vector512", 16, 8, 2),
    ("KernelD512M8", "double", "Vector512", 8, 8, 2),
    ("KernelF256", "float", "Vector256", 8, 6, 2),
    ("KernelD256", "double", "Vector256", 4, 6, 2),
    ("KernelF128", "float", "Vector128", 4, 6, 2),
    ("KernelD128", "double", "Vector128", 2, 6, 2),
]
out = []
w = out.append
w("""// GEMM micro-kernels: one register-blocked MR×NR tile of C per call.
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
""")
for (name, T, V, lanes, MR, NV) in kernels:
    NR = lanes * NV
    w(f"""
/// <summary>{MR}×{NR} {T} tile on {V} ({NV} vectors of {lanes} lanes per row, {MR * NV} accumulators).</summary>
internal readonly struct {name} : IGemmKernel<{T}>
{{
    public static int MR => {MR};
    public static int NR => {NR};

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Run(nint kc, ref {T} a, ref {T} b, nint bStride, ref {T} c, nint ldc, bool accumulate)
    {{""")
    accs = [f"c{r}_{v}" for r in range(MR) for v in range(NV)]
    for r in range(MR):
        w(f"        {V}<{T}> " + ", ".join(f"c{r}_{v} = default" for v in range(NV)) + ";")
    if V == "Vector512":
        w(f"        if (Sse.IsSupported)")
        w(f"        {{")
        w(f"            // Start fetching the C tile now; its rows are read (or written) only after the k loop.")
        for r in range(MR):
            row = "c" if r == 0 else f"Unsafe.Add(ref c, {r} * ldc)"
            w(f"            Sse.Prefetch0(Unsafe.AsPointer(ref {row})); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref {row}, {NR - 1})));")
        w(f"        }}")
    w(f"        for (nint p = 0; p < kc; p++)")
    w(f"        {{")
    for v in range(NV):
        off = "" if v == 0 else f", {v * lanes}"
        w(f"            {V}<{T}> b{v} = {V}.LoadUnsafe(ref b{off});")
    w(f"            {V}<{T}> ar;")
    for r in range(MR):
        src = "a" if r == 0 else f"Unsafe.Add(ref a, {r})"
        line = f"            ar = {V}.Create({src});"
        for v in range(NV):
            line += f" c{r}_{v} = {V}.FusedMultiplyAdd(ar, b{v}, c{r}_{v});"
        w(line)
    w(f"            a = ref Unsafe.Add(ref a, {MR});")
    w(f"            b = ref Unsafe.Add(ref b, bStride);")
    w(f"        }}")
    w(f"        if (accumulate)")
    w(f"        {{")
    for r in range(MR):
        row = "c" if r == 0 else f"Unsafe.Add(ref c, {r} * ldc)"
        w(f"            ref {T} r{r} = ref {row};")
        for v in range(NV):
            off = "" if v == 0 else f", {v * lanes}"
            w(f"            ({V}.LoadUnsafe(ref r{r}{off}) + c{r}_{v}).StoreUnsafe(ref r{r}{off});")
    w(f"        }}")
    w(f"        else")
    w(f"        {{")
    for r in range(MR):
        row = "c" if r == 0 else f"Unsafe.Add(ref c, {r} * ldc)"
        w(f"            ref {T} r{r} = ref {row};")
        for v in range(NV):
            off = "" if v == 0 else f", {v * lanes}"
            w(f"            c{r}_{v}.StoreUnsafe(ref r{r}{off});")
    w(f"        }}")
    w(f"    }}")
    w(f"}}")

# scalar generic kernel 4x4
MR, NR = 4, 4
w(f"""
/// <summary>{MR}×{NR} scalar tile for any element type: the path when no SIMD is hardware-accelerated.</summary>
internal readonly struct KernelScalar<T> : IGemmKernel<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{{
    public static int MR => {MR};
    public static int NR => {NR};

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Run(nint kc, ref T a, ref T b, nint bStride, ref T c, nint ldc, bool accumulate)
    {{""")
for r in range(MR):
    w(f"        T " + ", ".join(f"c{r}_{j} = T.Zero" for j in range(NR)) + ";")
w(f"        for (nint p = 0; p < kc; p++)")
w(f"        {{")
w(f"            T " + ", ".join(f"b{j} = Unsafe.Add(ref b, {j})" for j in range(NR)) + ";")
for r in range(MR):
    src = "a" if r == 0 else f"Unsafe.Add(ref a, {r})"
    w(f"            T a{r} = {src};" + "".join(f" c{r}_{j} += a{r} * b{j};" for j in range(NR)))
w(f"            a = ref Unsafe.Add(ref a, {MR});")
w(f"            b = ref Unsafe.Add(ref b, bStride);")
w(f"        }}")
for r in range(MR):
    row = "c" if r == 0 else f"Unsafe.Add(ref c, {r} * ldc)"
    w(f"        ref T r{r} = ref {row};")
    for j in range(NR):
        dst = f"r{r}" if j == 0 else f"Unsafe.Add(ref r{r}, {j})"
        w(f"        {dst} = accumulate ? {dst} + c{r}_{j} : c{r}_{j};")
w(f"    }}")
w(f"}}")
open(os.path.join(KERNELS, "Gemm.Kernels.cs"), "w").write("\n".join(out) + "\n")
