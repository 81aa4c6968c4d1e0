// GEMM: general matrix multiply, the heart of every layer.
//
//   C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
//   op(X) = X or Xᵀ. Row-major storage with leading dimensions (row strides):
//     A is [m×k] with lda ≥ k, or (transposeA) stored as [k×m] with lda ≥ m
//     B is [k×n] with ldb ≥ n, or (transposeB) stored as [n×k] with ldb ≥ k
//     C is [m×n] with ldc ≥ n
//   beta = 0 overwrites C (whatever it held, NaN included), as BLAS does.
//   k = 0 gives C = beta·C; m = 0 or n = 0 does nothing.
//   C must not share memory with A or B (the product reads them while it writes C): an overlap
//   of the elements each matrix spans is an ArgumentException.
//
// Forward of Y = X·Wᵀ + b (Linear): MultiplyAddBias (internal), C = op(A)·op(B) + 1·bᵀ with the bias added to
// each tile of C right after its last k block, while the tile is in L1 (not in a second pass over C).
// Backward of Y = X·Wᵀ (Linear):  dX = dY·W  (NN),  dW += dYᵀ·X  (TN).
//
// Implementation (float and double; other element types use the reference triple loop):
//   Gemm.cs          this file: the public API, argument checks, the reference definition
//   Gemm.Driver.cs   packing (transposes absorbed there), cache blocking, edge tiles, threading
//   Gemm.Kernels.cs  register-blocked micro-kernels: Vector512 (12×32 float, 12×16 double),
//                    Vector256 (6×16 / 6×8), Vector128 (6×8 / 6×4) and scalar (4×4)
//   Parallelism.cs   the thread count and the dedicated worker threads
// Results do not depend on Parallelism.NumThreads (each element of C sees the same operations).
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>General matrix multiply <c>C = alpha·op(A)·op(B) + beta·C</c> on row-major spans, for float and double.</summary>
public static partial class Gemm
{
    /// <summary>
    /// Computes <c>C = alpha·op(A)·op(B) + beta·C</c> with row-major storage and leading dimensions.
    /// </summary>
    /// <param name="transposeA">Use Aᵀ (A is stored as k×m).</param>
    /// <param name="transposeB">Use Bᵀ (B is stored as n×k).</param>
    /// <param name="m">Rows of op(A) and C.</param>
    /// <param name="n">Columns of op(B) and C.</param>
    /// <param name="k">Columns of op(A) = rows of op(B).</param>
    /// <param name="alpha">Scale of the product.</param>
    /// <param name="a">Matrix A.</param>
    /// <param name="lda">Row stride of A as stored.</param>
    /// <param name="b">Matrix B.</param>
    /// <param name="ldb">Row stride of B as stored.</param>
    /// <param name="beta">Scale of the existing C (0 overwrites).</param>
    /// <param name="c">Matrix C, updated in place.</param>
    /// <param name="ldc">Row stride of C.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is negative or a leading dimension is smaller than its row.</exception>
    /// <exception cref="ArgumentException">A span is too short for its matrix, or <paramref name="c"/> overlaps <paramref name="a"/> or <paramref name="b"/>.</exception>
    public static void Multiply<T>(bool transposeA, bool transposeB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (aSpan, bSpan, cSpan) = Validate(transposeA, transposeB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        CheckNoOverlap(a[..aSpan], c[..cSpan], "a");
        CheckNoOverlap(b[..bSpan], c[..cSpan], "b");
        Dispatch(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, default);
    }

    /// <summary>
    /// C = op(A)·op(B) + 1·biasᵀ: the product, then <paramref name="bias"/> added to every row of C (a layer's
    /// y = x·Wᵀ + b). The bias is added to each tile of C right after its last product step, while the tile is in
    /// cache, instead of in a second pass over C; each element is the product rounded, plus the bias, rounded (the same
    /// bits as <see cref="Multiply{T}(bool, bool, int, int, int, T, ReadOnlySpan{T}, int, ReadOnlySpan{T}, int, T, Span{T}, int)"/>
    /// with beta = 0 followed by the addition).
    /// </summary>
    internal static void MultiplyAddBias<T>(bool transposeA, bool transposeB, int m, int n, int k,
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, ReadOnlySpan<T> bias, Span<T> c, int ldc)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (aSpan, bSpan, cSpan) = Validate(transposeA, transposeB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc);
        CheckNoOverlap(a[..aSpan], c[..cSpan], "a");
        CheckNoOverlap(b[..bSpan], c[..cSpan], "b");
        Guard.MinLength(bias.Length, n, nameof(bias));
        Dispatch(transposeA, transposeB, m, n, k, T.One, a, lda, b, ldb, T.Zero, c, ldc, bias[..n]);
    }

    // The element type's implementation: the blocked driver for float and double, the reference loop otherwise.
    private static void Dispatch<T>(bool transposeA, bool transposeB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc, ReadOnlySpan<T> bias)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0) return;
        if (typeof(T) == typeof(float))
            Multiply<float, KernelF512M8, KernelF512, KernelF256, KernelF128>(transposeA, transposeB, m, n, k, float.CreateTruncating(alpha),
                MemoryMarshal.Cast<T, float>(a), lda, MemoryMarshal.Cast<T, float>(b), ldb, float.CreateTruncating(beta),
                MemoryMarshal.Cast<T, float>(c), ldc, MemoryMarshal.Cast<T, float>(bias));
        else if (typeof(T) == typeof(double))
            Multiply<double, KernelD512M8, KernelD512, KernelD256, KernelD128>(transposeA, transposeB, m, n, k, double.CreateTruncating(alpha),
                MemoryMarshal.Cast<T, double>(a), lda, MemoryMarshal.Cast<T, double>(b), ldb, double.CreateTruncating(beta),
                MemoryMarshal.Cast<T, double>(c), ldc, MemoryMarshal.Cast<T, double>(bias));
        else
        {
            Reference(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            if (!bias.IsEmpty) AddBiasRows(c, ldc, m, bias);
        }
    }

    /// <summary>C[r, :] += bias for rows r &lt; <paramref name="m"/> (the paths that do not run the blocked driver).</summary>
    private static void AddBiasRows<T>(Span<T> c, int ldc, int m, ReadOnlySpan<T> bias) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
        {
            var row = c.Slice(i * ldc, bias.Length);
            TensorPrimitives.Add(row, bias, row);
        }
    }

    /// <summary>
    /// Dense form: each matrix is stored with no gaps (leading dimensions equal the stored row lengths). Empty products
    /// (m, n or k = 0) are accepted: k = 0 gives C = beta·C.
    /// </summary>
    public static void Multiply<T>(bool transposeA, bool transposeB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => Multiply(transposeA, transposeB, m, n, k, alpha, a, DenseStride(transposeA ? m : k), b, DenseStride(transposeB ? k : n), beta, c, DenseStride(n));

    // The row stride of a dense matrix: its row length, or 1 for an empty row (a stride is at least 1, as in BLAS).
    private static int DenseStride(int rowLength) => Math.Max(1, rowLength);

    /// <summary>Checks the sizes and strides; returns how many elements of each span the product touches.</summary>
    internal static (int A, int B, int C) Validate(bool transposeA, bool transposeB, int m, int n, int k,
        int aLength, int lda, int bLength, int ldb, int cLength, int ldc)
    {
        Guard.NonNegative(m);
        Guard.NonNegative(n);
        Guard.NonNegative(k);
        int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
        int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
        return (CheckMatrix("a", "lda", aRows, aCols, aLength, lda),
                CheckMatrix("b", "ldb", bRows, bCols, bLength, ldb),
                CheckMatrix("c", "ldc", m, n, cLength, ldc));
    }

    private static int CheckMatrix(string name, string ldName, int rows, int cols, int length, int ld)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(ldName, ld, $"{ldName} must be ≥ max(1, {cols}) for a {rows}×{cols} {name}, got {ld}.");
        long needed = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < needed)
            throw new ArgumentException($"{name} is too short for a {rows}×{cols} matrix with {ldName} = {ld}: expected at least {needed} elements, got {length}.", name);
        return (int)needed;
    }

    // The kernels read A and B while they write C: shared memory would mix inputs with partial results.
    private static void CheckNoOverlap<T>(ReadOnlySpan<T> input, ReadOnlySpan<T> c, string inputName)
    {
        if (input.Overlaps(c))
            throw new ArgumentException(
                $"c overlaps {inputName}: the {c.Length} elements of C share memory with the {input.Length} elements of {inputName.ToUpperInvariant()} it spans, " +
                $"and the product reads {inputName.ToUpperInvariant()} while it writes C. Write C into a separate buffer (or copy {inputName} first).", "c");
    }

    /// <summary>The textbook triple loop, kept as the executable definition and for other element types.</summary>
    internal static void Reference<T>(bool transposeA, bool transposeB, int m, int n, int k,
        T alpha, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++)
                {
                    T av = transposeA ? a[p * lda + i] : a[i * lda + p];
                    T bv = transposeB ? b[j * ldb + p] : b[p * ldb + j];
                    sum += av * bv;
                }
                ref T cij = ref c[i * ldc + j];
                cij = beta == T.Zero ? alpha * sum : alpha * sum + beta * cij;
            }
    }
}
