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

def c_row(r):
    """Row r of the C tile."""
    return "c" if r == 0 else f"Unsafe.Add(ref c, {r} * ldc)"

def a_value(r):
    """Row r of the current k step of the A micro-panel."""
    return "a" if r == 0 else f"Unsafe.Add(ref a, {r})"

def kernel_head(summary, decl, T, MR, NR, unsafe):
    """The struct, its MR and NR, and Run's signature up to the opening brace of its body."""
    w(f"""
/// <summary>{summary}</summary>
{decl}
{{
    public static int MR => {MR};
    public static int NR => {NR};

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static {unsafe}void Run(nint kc, ref {T} a, ref {T} b, nint bStride, ref {T} c, nint ldc, bool accumulate)
    {{""")

def k_loop(body, MR):
    """The loop over k: body (the lines of one rank-1 update), then both panels advance one k step."""
    w(f"        for (nint p = 0; p < kc; p++)")
    w(f"        {{")
    for line in body:
        w(line)
    w(f"            a = ref Unsafe.Add(ref a, {MR});")
    w(f"            b = ref Unsafe.Add(ref b, bStride);")
    w(f"        }}")

for (name, T, V, lanes, MR, NV) in kernels:
    NR = lanes * NV
    kernel_head(f"{MR}×{NR} {T} tile on {V} ({NV} vectors of {lanes} lanes per row, {MR * NV} accumulators).",
                f"internal readonly struct {name} : IGemmKernel<{T}>", T, MR, NR, "unsafe ")
    off = ["" if v == 0 else f", {v * lanes}" for v in range(NV)]
    for r in range(MR):
        w(f"        {V}<{T}> " + ", ".join(f"c{r}_{v} = default" for v in range(NV)) + ";")
    if V == "Vector512":
        w(f"        if (Sse.IsSupported)")
        w(f"        {{")
        w(f"            // Start fetching the C tile now; its rows are read (or written) only after the k loop.")
        for r in range(MR):
            w(f"            Sse.Prefetch0(Unsafe.AsPointer(ref {c_row(r)})); Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref {c_row(r)}, {NR - 1})));")
        w(f"        }}")
    k_loop([f"            {V}<{T}> b{v} = {V}.LoadUnsafe(ref b{off[v]});" for v in range(NV)]
           + [f"            {V}<{T}> ar;"]
           + [f"            ar = {V}.Create({a_value(r)});" + "".join(f" c{r}_{v} = {V}.FusedMultiplyAdd(ar, b{v}, c{r}_{v});" for v in range(NV))
              for r in range(MR)], MR)
    # The tile goes out row by row: added to C (accumulate) or over it.
    for branch, store in (("if (accumulate)", lambda r, v: f"({V}.LoadUnsafe(ref r{r}{off[v]}) + c{r}_{v}).StoreUnsafe(ref r{r}{off[v]});"),
                          ("else", lambda r, v: f"c{r}_{v}.StoreUnsafe(ref r{r}{off[v]});")):
        w(f"        {branch}")
        w(f"        {{")
        for r in range(MR):
            w(f"            ref {T} r{r} = ref {c_row(r)};")
            for v in range(NV):
                w(f"            {store(r, v)}")
        w(f"        }}")
    w(f"    }}")
    w(f"}}")

# scalar generic kernel 4x4
MR, NR = 4, 4
kernel_head(f"{MR}×{NR} scalar tile for any element type: the path when no SIMD is hardware-accelerated.",
            "internal readonly struct KernelScalar<T> : IGemmKernel<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>", "T", MR, NR, "")
for r in range(MR):
    w(f"        T " + ", ".join(f"c{r}_{j} = T.Zero" for j in range(NR)) + ";")
k_loop([f"            T " + ", ".join(f"b{j} = Unsafe.Add(ref b, {j})" for j in range(NR)) + ";"]
       + [f"            T a{r} = {a_value(r)};" + "".join(f" c{r}_{j} += a{r} * b{j};" for j in range(NR)) for r in range(MR)], MR)
for r in range(MR):
    w(f"        ref T r{r} = ref {c_row(r)};")
    for j in range(NR):
        dst = f"r{r}" if j == 0 else f"Unsafe.Add(ref r{r}, {j})"
        w(f"        {dst} = accumulate ? {dst} + c{r}_{j} : c{r}_{j};")
w(f"    }}")
w(f"}}")
open(os.path.join(KERNELS, "Gemm.Kernels.cs"), "w").write("\n".join(out) + "\n")
