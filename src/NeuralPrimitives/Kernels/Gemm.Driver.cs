// GEMM driver: packing, cache blocking and threading around the micro-kernels (Gemm.Kernels.cs).
//
//   C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C          (see Gemm.cs for storage)
//
// Blocked as in GotoBLAS / BLIS. For each thread's region of C (rows m0..m1, columns n0..n1):
//
//   for jc over columns in steps of NC          (NC ≥ the region's width, so A is packed once)
//     for pc over k in steps of KC
//       pack op(B)[pc:pc+KC, jc:jc+NC] into micro-panels of NR columns   (k-major, zero-padded)
//       for ic over rows in steps of MC
//         pack alpha·op(A)[ic:ic+MC, pc:pc+KC] into micro-panels of MR rows (k-major, zero-padded)
//         for jr over the NC columns in steps of NR        (one B micro-panel stays in L1)
//           for ir over the MC rows in steps of MR          (A micro-panels stream from L2)
//             C[ic+ir.., jc+jr..] (+)= Apanel · Bpanel     (micro-kernel; the first k block
//                                                            overwrites C when beta = 0)
//             after the last k block: C tile += bias         (MultiplyAddBias only; the tile is still in L1)
//
// Transposes are absorbed by packing: the kernels only see packed panels. A partial edge tile
// (fewer than MR rows or NR columns) is computed into a small temporary tile and then copied,
// so the kernels always run full tiles. beta ∉ {0, 1} is applied once to C before the product.
// Small problems with a row-major B (e.g. the RNN recurrence, m = batch) skip packing B: the
// kernel reads NR consecutive columns of each row of B directly (bStride = ldb). With m ≤ MC each
// B micro-panel is packed just before use (it stays in L1). m = 1 (and m = 2 with A not transposed) skips packing altogether
// (row-vector × matrix: TensorPrimitives axpy / dot products, MultiplyRow).
//
// Threads: C is split into column (or row) ranges aligned to NR (MR), one per thread, each with
// its own thread-static packing buffers; the calling thread runs part 0 and dedicated workers
// (Parallelism.cs) run the others. Each element of C sees the same sequence of operations
// whatever the split, so the result does not depend on the number of threads.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace NeuralPrimitives;

/// <summary>Which micro-kernel family runs (tests force each one; <see cref="Auto"/> picks the widest accelerated).</summary>
internal enum GemmPath
{
    /// <summary>The widest hardware-accelerated vector width.</summary>
    Auto,
    /// <summary>Vector512 kernels.</summary>
    Vector512,
    /// <summary>Vector256 kernels.</summary>
    Vector256,
    /// <summary>Vector128 kernels.</summary>
    Vector128,
    /// <summary>Scalar kernels.</summary>
    Scalar,
}

public static partial class Gemm
{
    /// <summary>Cache block sizes (elements): rows of A per packed block, depth per block, columns of B per block.</summary>
    private const int MC = 192, KC = 256, NCMax = 4096;

    /// <summary>Problems with at most this many rows and a row-major B read B directly instead of packing it.</summary>
    private const int DirectBMaxRows = 64;

    /// <summary>
    /// Narrowest part (columns or rows of C) when a product is split into more parts than threads: each part
    /// packs the whole other operand again, so parts stay wide unless that operand is tiny (few rows of A).
    /// </summary>
    private const int MinPartWidth = 512, MinPartWidthSmall = 128;

    /// <summary>Products with fewer multiply-adds than this stay on the calling thread.</summary>
    private const long ParallelMinMacs = 1L << 20;

    /// <summary>Test hook: forces a kernel family on the calling thread (vector ops are correct, if slow, when not accelerated).</summary>
    [ThreadStatic] internal static GemmPath ForcedPath;

    /// <summary>The kernel family <see cref="Multiply{T}(bool, bool, int, int, int, T, ReadOnlySpan{T}, int, ReadOnlySpan{T}, int, T, Span{T}, int)"/> uses on this thread.</summary>
    internal static GemmPath SelectedPath
    {
        get
        {
            if (ForcedPath != GemmPath.Auto) return ForcedPath;
            if (Vector512.IsHardwareAccelerated) return GemmPath.Vector512;
            if (Vector256.IsHardwareAccelerated && Fma.IsSupported) return GemmPath.Vector256;
            if (Vector128.IsHardwareAccelerated && (Fma.IsSupported || AdvSimd.IsSupported)) return GemmPath.Vector128;
            return GemmPath.Scalar;
        }
    }

    /// <summary>
    /// Few rows (m ≤ <see cref="DirectBMaxRows"/>, e.g. a recurrent step with m = batch) use 8-row tiles when
    /// they pad m to fewer rows than 12-row tiles do: m = 16 computes 16 rows instead of 24, m = 32 computes
    /// 32 instead of 36 (edge tiles cost as much as full ones).
    /// </summary>
    private static bool UseEightRowTiles(int m) => !NoEightRowTiles && m <= DirectBMaxRows && (m + 7) / 8 * 8 < (m + 11) / 12 * 12;

    /// <summary>Benchmark hook: true keeps few-row products on 12-row tiles on the calling thread (to measure what 8-row tiles gain).</summary>
    [ThreadStatic] internal static bool NoEightRowTiles;

    /// <summary>Runs the product on the micro-kernel of the selected path (the kernel types of one element type).</summary>
    private static void Multiply<T, T512M8, T512, T256, T128>(bool ta, bool tb, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc, ReadOnlySpan<T> bias)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where T512M8 : struct, IGemmKernel<T>
        where T512 : struct, IGemmKernel<T>
        where T256 : struct, IGemmKernel<T>
        where T128 : struct, IGemmKernel<T>
    {
        switch (SelectedPath)
        {
            case GemmPath.Vector512 when UseEightRowTiles(m): Run<T, T512M8>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias); break;
            case GemmPath.Vector512: Run<T, T512>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias); break;
            case GemmPath.Vector256: Run<T, T256>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias); break;
            case GemmPath.Vector128: Run<T, T128>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias); break;
            default: Run<T, KernelScalar<T>>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias); break;
        }
    }

    /// <summary>Everything a thread needs to compute its region of C (pointers into the caller's pinned spans).</summary>
    internal unsafe struct GemmArgs<T> where T : unmanaged
    {
        public T* A, B, C;
        public nint Lda, Ldb, Ldc;
        public int M, N, K;
        public bool TransA, TransB, OverwriteFirst;
        public T Alpha;
        public T* Bias;   // null, or n values added to every row of C after the product (MultiplyAddBias)
    }

    private static unsafe void Run<T, TKernel>(bool ta, bool tb, int m, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> b, int ldb, T beta, Span<T> c, int ldc, ReadOnlySpan<T> bias)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where TKernel : struct, IGemmKernel<T>
    {
        // C = beta·C first when there is no product to add, or when beta is neither 0 nor 1.
        if (k == 0 || alpha == T.Zero || (beta != T.Zero && beta != T.One))
        {
            for (int i = 0; i < m; i++)
            {
                var row = c.Slice(i * ldc, n);
                if (beta == T.Zero) row.Clear();
                else if (beta != T.One) TensorPrimitives.Multiply(row, beta, row);
            }
            if (k == 0 || alpha == T.Zero)
            {
                if (!bias.IsEmpty) AddBiasRows(c, ldc, m, bias);
                return;
            }
            beta = T.One;
        }

        if (m == 1 || (m == 2 && !ta))
        {
            // Measured (float, n = 1024, k = 256): one row pass ≈ 16–20 µs; m = 2 packed took 56 (NN) / 92 (NT) µs.
            for (int i = 0; i < m; i++)
                MultiplyRow(ta, tb, n, k, alpha, a.Slice(ta ? i : i * lda), lda, b, ldb, beta == T.Zero, c.Slice(i * ldc));
            if (!bias.IsEmpty) AddBiasRows(c, ldc, m, bias);
            return;
        }

        fixed (T* pa = a, pb = b, pc = c, pbias = bias)
        {
            var args = new GemmArgs<T>
            {
                A = pa, B = pb, C = pc, Lda = lda, Ldb = ldb, Ldc = ldc, M = m, N = n, K = k,
                TransA = ta, TransB = tb, OverwriteFirst = beta == T.Zero, Alpha = alpha, Bias = bias.IsEmpty ? null : pbias,
            };

            int threads = Parallelism.NumThreads;
            long macs = (long)m * n * k;
            bool byColumns = n >= m;
            int tile = byColumns ? TKernel.NR : TKernel.MR;
            int blocks = ((byColumns ? n : m) + tile - 1) / tile;
            threads = Math.Min(threads, blocks);
            if (threads > 1 && macs >= ParallelMinMacs && Parallelism.TryEnterParallel())
            {
                var job = GemmJob<T, TKernel>.Instance;
                try
                {
                    job.Args = args;
                    job.ByColumns = byColumns;
                    job.Tile = tile;
                    job.Blocks = blocks;
                    // More parts than threads only where re-packing the other operand per part is cheap (see MinPartWidth).
                    int minBlocks = Math.Max(1, (m <= DirectBMaxRows && byColumns ? MinPartWidthSmall : MinPartWidth) / tile);
                    job.Parts = Math.Clamp(blocks / minBlocks, threads, 4 * threads);
                    Parallelism.RunParallel(job, threads, job.Parts);
                }
                finally
                {
                    job.Args = default; // drop the pointers into the caller's buffers
                    Parallelism.ExitParallel();
                }
                return;
            }
            RunRegion<T, TKernel>(in args, 0, m, 0, n);
        }
    }

    /// <summary>
    /// m = 1 (a row vector times a matrix, e.g. batch-1 inference): no packing, since every element of B
    /// is used once. op(B) = B: c += (alpha·a_p)·B[p, :] row by row; op(B) = Bᵀ: c_j += alpha·(a · B[j, :]).
    /// </summary>
    private static void MultiplyRow<T>(bool ta, bool tb, int n, int k, T alpha, ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> b, int ldb, bool overwrite, Span<T> c)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var row = c.Slice(0, n);
        if (!tb)
        {
            if (overwrite) row.Clear();
            for (int p = 0; p < k; p++)
                TensorPrimitives.MultiplyAdd(b.Slice(p * ldb, n), alpha * a[ta ? p * lda : p], row, row);
        }
        else if (!ta || lda == 1 || k == 1)
        {
            var x = a.Slice(0, k);
            for (int j = 0; j < n; j++)
            {
                T dot = alpha * TensorPrimitives.Dot(x, b.Slice(j * ldb, k));
                row[j] = overwrite ? dot : row[j] + dot;
            }
        }
        else
        {
            // a is a strided column (A stored k×1 with lda > 1): one scalar pass per output.
            for (int j = 0; j < n; j++)
            {
                var bj = b.Slice(j * ldb, k);
                T dot = T.Zero;
                for (int p = 0; p < k; p++) dot += a[p * lda] * bj[p];
                row[j] = overwrite ? alpha * dot : row[j] + alpha * dot;
            }
        }
    }

    /// <summary>The per-thread work of one multithreaded product: part p computes its range of blocks of C.</summary>
    private sealed class GemmJob<T, TKernel> : ParallelJob
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where TKernel : struct, IGemmKernel<T>
    {
        /// <summary>One instance per instantiation; only used between Parallelism.TryEnterParallel and ExitParallel.</summary>
        public static readonly GemmJob<T, TKernel> Instance = new();
        public GemmArgs<T> Args;
        public bool ByColumns;
        public int Tile, Blocks, Parts;

        public override void Execute(int part)
        {
            int lo = (int)((long)Blocks * part / Parts) * Tile;
            int hi = (int)((long)Blocks * (part + 1) / Parts) * Tile;
            if (ByColumns) RunRegion<T, TKernel>(in Args, 0, Args.M, lo, Math.Min(hi, Args.N));
            else RunRegion<T, TKernel>(in Args, lo, Math.Min(hi, Args.M), 0, Args.N);
        }
    }

    /// <summary>Computes rows [m0, m1) × columns [n0, n1) of C on the calling thread (see the file header).</summary>
    private static unsafe void RunRegion<T, TKernel>(in GemmArgs<T> g, int m0, int m1, int n0, int n1)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where TKernel : struct, IGemmKernel<T>
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        if (m1 <= m0 || n1 <= n0) return;
        int width = n1 - n0;
        int ncBlock = Math.Min((width + nr - 1) / nr * nr, NCMax);
        int kcBlock = Math.Min(g.K, KC);
        bool directB = !g.TransB && m1 - m0 <= DirectBMaxRows;
        bool panelWise = m1 - m0 <= MC;

        var buffers = GemmBuffers<T>.ForThisThread(MC * kcBlock, ncBlock * kcBlock, mr * nr);
        T* aPack = buffers.A, bPack = buffers.B, tmp = buffers.Tile;

        for (int jc = n0; jc < n1; jc += ncBlock)
        {
            int nc = Math.Min(ncBlock, n1 - jc);
            for (int pc = 0; pc < g.K; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, g.K - pc);
                bool overwrite = g.OverwriteFirst && pc == 0;
                T* bias = pc + kc == g.K ? g.Bias : null;   // after the last k block: C += bias, tile by tile
                // Direct B: only the last, partial micro-panel is packed (a full-width read would leave the row).
                int packFrom = directB ? nc / nr * nr : 0;
                // One block of rows (m ≤ MC): each B micro-panel is used right after it is packed, so pack it
                // then, into the same L1-sized slot, instead of streaming the whole packed block through L2/L3.
                if (!panelWise && packFrom < nc) PackB<T>(in g, pc, kc, jc + packFrom, nc - packFrom, nr, bPack + (nint)packFrom * kc);
                for (int ic = m0; ic < m1; ic += MC)
                {
                    int mc = Math.Min(MC, m1 - ic);
                    PackA<T>(in g, ic, mc, pc, kc, mr, aPack);
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int nrHere = Math.Min(nr, nc - jr);
                        T* bp;
                        nint bStride;
                        if (jr < packFrom) { bp = g.B + pc * g.Ldb + jc + jr; bStride = g.Ldb; }
                        else if (panelWise) { PackB<T>(in g, pc, kc, jc + jr, nrHere, nr, bPack); bp = bPack; bStride = nr; }
                        else { bp = bPack + (nint)jr * kc; bStride = nr; }
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int mrHere = Math.Min(mr, mc - ir);
                            T* ap = aPack + (nint)ir * kc;
                            T* cp = g.C + (ic + ir) * g.Ldc + jc + jr;
                            if (mrHere == mr && nrHere == nr)
                            {
                                TKernel.Run(kc, ref *ap, ref *bp, bStride, ref *cp, g.Ldc, !overwrite);
                                if (bias != null) AddBiasTile(cp, g.Ldc, mr, nr, bias + jc + jr);
                            }
                            else
                            {
                                TKernel.Run(kc, ref *ap, ref *bp, bStride, ref *tmp, nr, false);
                                for (int r = 0; r < mrHere; r++)
                                {
                                    T* crow = cp + r * g.Ldc;
                                    T* trow = tmp + r * nr;
                                    if (overwrite) for (int j = 0; j < nrHere; j++) crow[j] = trow[j];
                                    else for (int j = 0; j < nrHere; j++) crow[j] += trow[j];
                                }
                                if (bias != null) AddBiasTile(cp, g.Ldc, mrHere, nrHere, bias + jc + jr);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>c[r·ldc + j] += bias[j] for r &lt; rows, j &lt; cols: one tile of C, just written by the kernel (still in L1).</summary>
    private static unsafe void AddBiasTile<T>(T* c, nint ldc, int rows, int cols, T* bias) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count;
        for (int r = 0; r < rows; r++, c += ldc)
        {
            int j = 0;
            for (; j + w <= cols; j += w) Vector.Store(Vector.Load(c + j) + Vector.Load(bias + j), c + j);
            for (; j < cols; j++) c[j] += bias[j];
        }
    }

    /// <summary>
    /// Packs alpha·op(A)[ic:ic+mc, pc:pc+kc] as micro-panels of <paramref name="mr"/> rows:
    /// panel q holds dst[q·mr·kc + p·mr + r] = alpha·op(A)[ic + q·mr + r, pc + p], rows past mc zero.
    /// </summary>
    private static unsafe void PackA<T>(in GemmArgs<T> g, int ic, int mc, int pc, int kc, int mr, T* dst)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        T alpha = g.Alpha;
        bool scale = alpha != T.One;
        if (g.TransA)
        {
            // op(A)[i, p] = A[p·lda + i]: each k step is a contiguous run of a stored row. Blocks of 8 k steps, and
            // in each the panels in turn: the 8 source rows stay in L1 while every panel takes its mr-long pieces of
            // them, and each panel is written contiguously. (One panel over all kc rows strides by lda through rows
            // that, for lda a multiple of 1 KiB, share a few L1 sets; one row into all panels at once writes to
            // mc/mr streams kc·mr elements apart, which alias in the same way.)
            const int kStep = 8;
            for (int p0 = 0; p0 < kc; p0 += kStep)
            {
                int pe = Math.Min(kc, p0 + kStep);
                for (int ir = 0; ir < mc; ir += mr)
                {
                    int rows = Math.Min(mr, mc - ir);
                    for (int p = p0; p < pe; p++)
                    {
                        T* dp = dst + (nint)ir * kc + (nint)p * mr;
                        CopyRun(g.A + (pc + p) * g.Lda + ic + ir, dp, rows, alpha, scale);
                        for (int r = rows; r < mr; r++) dp[r] = T.Zero;
                    }
                }
            }
            return;
        }
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            T* d = dst + (nint)ir * kc;
            // op(A)[i, p] = A[i·lda + p]. With AVX-512, 16 k steps of the panel's rows at a time go
            // through an in-register 16×16 transpose (full-width stores overlap forward; see Transpose16x16).
            int p0 = 0;
            if (typeof(T) == typeof(float) && Avx512F.IsSupported && mr <= 16)
            {
                for (; p0 + 16 <= kc; p0 += 16)
                    Transpose16x16((float*)(g.A + (ic + ir) * g.Lda + pc + p0), g.Lda, rows, (float*)(d + (nint)p0 * mr), mr,
                        float.CreateTruncating(alpha));
                if (p0 == kc) continue;
            }
            else if (typeof(T) == typeof(double) && Avx512F.IsSupported && mr <= 16)
            {
                // 8 k steps at a time; rows 8.. first, since their overhanging stores land where rows 0..7 go next.
                double alphaD = double.CreateTruncating(alpha);
                for (; p0 + 8 <= kc; p0 += 8)
                {
                    double* src = (double*)(g.A + (ic + ir) * g.Lda + pc + p0);
                    double* dd = (double*)(d + (nint)p0 * mr);
                    if (mr > 8) Transpose8x8(src + 8 * g.Lda, g.Lda, Math.Max(0, rows - 8), dd + 8, mr, alphaD);
                    Transpose8x8(src, g.Lda, Math.Min(rows, 8), dd, mr, alphaD);
                }
                if (p0 == kc) continue;
            }
            else if (typeof(T) == typeof(float) && Avx.IsSupported && mr <= 8)
            {
                for (; p0 + 8 <= kc; p0 += 8)
                    Transpose8x8Avx((float*)(g.A + (ic + ir) * g.Lda + pc + p0), g.Lda, rows, (float*)(d + (nint)p0 * mr), mr,
                        float.CreateTruncating(alpha));
                if (p0 == kc) continue;
            }
            for (int r = 0; r < rows; r++)
            {
                T* s = g.A + (ic + ir + r) * g.Lda + pc;
                T* dr = d + r;
                if (scale) for (int p = p0; p < kc; p++) dr[(nint)p * mr] = alpha * s[p];
                else for (int p = p0; p < kc; p++) dr[(nint)p * mr] = s[p];
            }
            for (int r = rows; r < mr; r++)
                for (int p = p0; p < kc; p++) d[(nint)p * mr + r] = T.Zero;
        }
    }

    /// <summary>
    /// Packs op(B)[pc:pc+kc, jc:jc+nc] as micro-panels of <paramref name="nr"/> columns:
    /// panel q holds dst[q·nr·kc + p·nr + j] = op(B)[pc + p, jc + q·nr + j], columns past nc zero.
    /// </summary>
    private static unsafe void PackB<T>(in GemmArgs<T> g, int pc, int kc, int jc, int nc, int nr, T* dst)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (!g.TransB)
        {
            // op(B)[p, j] = B[p·ldb + j]: sweep whole rows of B, scattering nr-wide runs to the panels.
            for (int p = 0; p < kc; p++)
            {
                T* s = g.B + (pc + p) * g.Ldb + jc;
                for (int jr = 0; jr < nc; jr += nr)
                {
                    int cols = Math.Min(nr, nc - jr);
                    T* d = dst + (nint)jr * kc + (nint)p * nr;
                    CopyRun(s + jr, d, cols, T.One, false);
                    for (int j = cols; j < nr; j++) d[j] = T.Zero;
                }
            }
        }
        else
        {
            // op(B)[p, j] = B[j·ldb + p]: walk each stored row (a column of op(B)), write with stride nr.
            // With AVX-512 (float: nr a multiple of 16, double: of 8) or AVX (float, nr a multiple of 8) whole blocks
            // go through an in-register transpose.
            int blk = typeof(T) == typeof(float) && Avx512F.IsSupported && nr % 16 == 0 ? 16
                : typeof(T) == typeof(double) && Avx512F.IsSupported && nr % 8 == 0 ? 8
                : typeof(T) == typeof(float) && Avx.IsSupported && nr % 8 == 0 ? 8
                : 0;
            for (int jr = 0; jr < nc; jr += nr)
            {
                int cols = Math.Min(nr, nc - jr);
                T* d = dst + (nint)jr * kc;
                int p0 = 0;
                if (blk > 0)
                {
                    // blk stored rows × blk k steps at a time through an in-register transpose (exact-width stores).
                    for (; p0 + blk <= kc; p0 += blk)
                        for (int j0 = 0; j0 < nr; j0 += blk)
                            TransposeBlock(blk, g.B + (jc + jr + j0) * g.Ldb + pc + p0, g.Ldb, Math.Max(0, Math.Min(blk, cols - j0)),
                                d + (nint)p0 * nr + j0, nr);
                    if (p0 == kc) continue;
                }
                for (int j = 0; j < cols; j++)
                {
                    T* s = g.B + (jc + jr + j) * g.Ldb + pc;
                    T* dj = d + j;
                    for (int p = p0; p < kc; p++) dj[(nint)p * nr] = s[p];
                }
                for (int j = cols; j < nr; j++)
                    for (int p = p0; p < kc; p++) d[(nint)p * nr + j] = T.Zero;
            }
        }
    }

    /// <summary>
    /// d[0..n) = alpha·s[0..n) (or a plain copy when <paramref name="scale"/> is false): one packing run, a few
    /// vectors long, copied inline (a span copy is a call per run, which costs more than the run at these lengths).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyRun<T>(T* s, T* d, int n, T alpha, bool scale) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + Vector256<T>.Count <= n; i += Vector256<T>.Count)
            {
                var v = Vector256.Load(s + i);
                Vector256.Store(scale ? v * alpha : v, d + i);
            }
        if (Vector128.IsHardwareAccelerated)
            for (; i + Vector128<T>.Count <= n; i += Vector128<T>.Count)
            {
                var v = Vector128.Load(s + i);
                Vector128.Store(scale ? v * alpha : v, d + i);
            }
        for (; i < n; i++) d[i] = scale ? alpha * s[i] : s[i];
    }

    /// <summary>
    /// dst[c·rows + r] = src[r·cols + c]: writes the [cols × rows] transpose of the row-major [rows × cols] src.
    /// With AVX-512, whole 16×16 (float) or 8×8 (double) blocks go through the in-register transposes of
    /// Gemm.Transpose.cs (a recurrent layer transposes its weights this way once per forward); the edges, and
    /// everything on other hardware, are copied in 16×16 blocks one element at a time.
    /// </summary>
    internal static unsafe void Transpose<T>(ReadOnlySpan<T> src, int rows, int cols, Span<T> dst) where T : unmanaged
    {
        src = src[..(rows * cols)];
        dst = dst[..(rows * cols)];
        int blk = !Avx512F.IsSupported ? 0 : typeof(T) == typeof(float) ? 16 : typeof(T) == typeof(double) ? 8 : 0;
        int rFull = blk == 0 ? 0 : rows / blk * blk, cFull = blk == 0 ? 0 : cols / blk * blk;
        fixed (T* s = src, d = dst)
        {
            for (int r0 = 0; r0 < rFull; r0 += blk)
                for (int c0 = 0; c0 < cFull; c0 += blk)
                    TransposeBlock(blk, s + (nint)r0 * cols + c0, cols, blk, d + (nint)c0 * rows + r0, rows);
        }
        TransposeScalar(src, rows, cols, dst, 0, rFull, cFull, cols);   // right edge of the blocked rows
        TransposeScalar(src, rows, cols, dst, rFull, rows, 0, cols);    // the remaining rows
    }

    /// <summary>
    /// One in-register transpose of a blk × blk block, dst[c·dstStride + r] = src[r·ld + c] for r &lt; rows: 16×16 float or
    /// 8×8 double (AVX-512), 8×8 float (AVX). The caller picks blk for what the hardware has.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void TransposeBlock<T>(int blk, T* src, nint ld, int rows, T* dst, nint dstStride) where T : unmanaged
    {
        if (typeof(T) == typeof(double)) Transpose8x8((double*)src, ld, rows, (double*)dst, dstStride, 1.0);
        else if (blk == 16) Transpose16x16((float*)src, ld, rows, (float*)dst, dstStride, 1f);
        else Transpose8x8Avx((float*)src, ld, rows, (float*)dst, dstStride, 1f);
    }

    /// <summary>The transpose of rows [r0, r1) × columns [c0, c1), in 16×16 blocks so both sides stay in cache.</summary>
    private static void TransposeScalar<T>(ReadOnlySpan<T> src, int rows, int cols, Span<T> dst, int r0, int r1, int c0, int c1)
    {
        const int Blk = 16;
        for (int rb = r0; rb < r1; rb += Blk)
            for (int cb = c0; cb < c1; cb += Blk)
            {
                int re = Math.Min(r1, rb + Blk), ce = Math.Min(c1, cb + Blk);
                for (int r = rb; r < re; r++)
                    for (int c = cb; c < ce; c++) dst[c * rows + r] = src[r * cols + c];
            }
    }

    /// <summary>Per-thread packing buffers, 64-byte aligned, grown on demand and then reused (no allocation per call).</summary>
    private sealed unsafe class GemmBuffers<T> where T : unmanaged
    {
        [ThreadStatic] private static GemmBuffers<T>? _current;
        private T[] _a = [], _b = [], _tile = [];
        public T* A, B, Tile;

        public static GemmBuffers<T> ForThisThread(int aLength, int bLength, int tileLength)
        {
            var buf = _current ??= new GemmBuffers<T>();
            if (buf._a.Length < aLength + Pad) buf.A = Allocate(ref buf._a, aLength);
            if (buf._b.Length < bLength + Pad) buf.B = Allocate(ref buf._b, bLength);
            if (buf._tile.Length < tileLength + Pad) buf.Tile = Allocate(ref buf._tile, tileLength);
            return buf;
        }

        private static int Pad => 128 / sizeof(T); // 64-byte alignment + slack for the transposes' overhanging stores (Gemm.Transpose.cs)

        private static T* Allocate(ref T[] array, int length)
        {
            // Pinned (pinned object heap): the pointer stays valid for the array's lifetime.
            array = GC.AllocateUninitializedArray<T>(length + Pad, pinned: true);
            nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
            return (T*)((p + 63) & ~(nint)63);
        }
    }
}
