// Memory-efficient attention: the blocked online softmax of FlashAttention (Dao et al. 2022) with
// FlashAttention-2's work partition (Dao 2023). It computes exactly the function of
// ScaledDotProductAttention.cs (same masks, same dropout hash) without ever holding the Lq×Lk
// scores: memory is O((Lq + Lk)·d) plus one number per query row.
//
// Blocks: queries in blocks of Br = 64 rows (i), keys in blocks of Bc = 64 (j). A block of scores is
// computed TRANSPOSED, Sᵀ_ij = K_j·(scale·Q_i)ᵀ [Bc, Br], so that each line holds one key for 64
// queries: the per-query running statistics m and ℓ are then vectors along a line, and no key or
// value block ever needs transposing (only the small query block, once). The output accumulator is
// kept transposed too, Aᵀ [dv, Br], so that its per-query rescaling is a vector product per line and
// every product has 64 columns (AttentionKernels.cs).
//
// Forward, for one query block i (one work unit: FlashForwardPart; units of one thread run in order):
//     m = −∞, ℓ = 0, A = 0                                 running max, running sum, unnormalised output
//     for each key block j not wholly masked (causal/window: skipped without computing it):
//         S   = scale·Q_i·K_jᵀ + M_ij                      (as Sᵀ, masks added in ApplyMasks)
//         m'  = max(m, rowmax S)
//         α   = e^(m − m')                                 rescales what was summed with the old max
//         P   = e^(S − m')                                 (m' = −∞: a row with nothing visible yet, P = 0)
//         ℓ   = α·ℓ + rowsum P
//         A   = diag(α)·A + (P ⊙ Z/(1−p))·V_j              dropout on the weights, not on ℓ
//         m   = m'
//     O_i = A / ℓ (0 where ℓ = 0: every key masked),   L_i = m + log ℓ (+∞ where ℓ = 0)
// Only L (the log-sum-exp) is stored: P_ij = e^(S_ij − L_i) recomputes any block of the softmax.
//
// Backward (recomputing each block; D_q = Σ_c dO_qc·O_qc = Σ_k P_qk·dP_qk):
//     for a block (i, j):  P = e^(S − L_i),  dP̃ = dO_i·V_jᵀ,  dP = dP̃ ⊙ Z/(1−p),  dS = P ⊙ (dP − D_i)
//     dV_j += (P ⊙ Z/(1−p))ᵀ·dO_i     dK_j += scale·dSᵀ·Q_i     dQ_i += scale·dS·K_j
// A prologue stores scale·Qᵀ, dOᵀ and D per head. Work partition, deterministic and free of write races:
//   ≥ 4 kv heads (batch × heads): one unit per kv head walks its key blocks j and, for each, its query heads
//     and the query blocks that see j; each block's P and dS are computed once and feed all three sums
//     (FlashFusedPart; dQ_i accumulates in place, always in the same order).
//   fewer: two passes so that one head can still use every thread: units owning a key block j sum dK_j and
//     dV_j (FlashKeyValuePart), then units owning a query block i recompute the blocks they see and sum dQ_i
//     (FlashQueryPart): the Triton tutorial's split, at two more products per block. FlashAttention-2 instead
//     adds dQ atomically, which is not deterministic.
// Units that see more blocks (late query blocks, early key blocks under a causal mask) are handed out
// first, so the threads finish together.
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NeuralPrimitives;

internal sealed partial class AttentionEngine<T>
{
    /// <summary>Query rows (Br) and keys (Bc) per block.</summary>
    internal const int QueryBlock = 64, KeyBlock = 64;

    private readonly TensorBuffer<T> _queryT = new();    // scale·Qᵀ per head [BH, dk, LqPad] (backward)
    private readonly TensorBuffer<T> _dOutputT = new();  // dOᵀ per head [BH, dv, LqPad] (backward)
    private readonly TensorBuffer<T> _delta = new();     // D = rowsum(dO ⊙ O) [BH, LqPad] (backward)

    private int QueryBlocks => (Lq + QueryBlock - 1) / QueryBlock;
    private int KeyBlocks => (Lk + KeyBlock - 1) / KeyBlock;
    private int PaddedLq => QueryBlocks * QueryBlock;

    /// <summary>Per-thread block buffers (a few tens of KB, allocated once per thread).</summary>
    private sealed class BlockScratch
    {
        public T[] Scores = [], Probs = [], DropProbs = [], DScores = [], QueryT = [], Acc = [], Acc2 = [];
        public T[] RowMax = new T[QueryBlock], Alpha = new T[QueryBlock], RowSum = new T[QueryBlock];

        public static Span<T> Get(ref T[] buffer, int length)
        {
            if (buffer.Length < length) buffer = new T[length];
            return buffer.AsSpan(0, length);
        }
    }

    [ThreadStatic] private static BlockScratch? t_scratch;

    private static BlockScratch Scratch => t_scratch ??= new BlockScratch();

    /// <summary>
    /// Sᵀ = K_j·(scale·Q_i)ᵀ + Mᵀ for queries q0..q0+nq and keys k0..k0+nk of head bh, into <paramref name="scoresT"/>
    /// [nk, Br] (columns past nq hold scores of zero queries; callers ignore them).
    /// </summary>
    private void ScoresBlock(int bh, int q0, int nq, int k0, int nk, ReadOnlySpan<T> queryT, int ldQueryT, Span<T> scoresT)
    {
        int b = bh / Heads, g = bh % Heads / Group;
        var k = K.AsReadOnlySpan()[(KLayout.Offset(b, g) + k0 * KLayout.RowStride)..];
        AttentionKernels.Product(false, nk, QueryBlock, Dk, k, KLayout.RowStride, queryT, ldQueryT, false, scoresT, QueryBlock);
        ApplyMasks(scoresT, QueryBlock, keyMajor: true, bh, q0, nq, k0, nk,
            structural: !Structure.BlockIsVisible(q0, q0 + nq, k0, k0 + nk));
    }

    /// <summary>
    /// dst[c·ldDst + r] = scale·src[r·ld + c] for r &lt; rows, c &lt; cols; columns rows..width of dst are zeroed.
    /// Float with sizes that are multiples of the tile runs the GEMM's in-register transposes (16×16 on AVX-512, 8×8 on AVX;
    /// rows past <paramref name="rows"/> come out as zeros): at head width 32 the element loop cost about as much as a block's
    /// two products (AVX-512), and on an AVX2 host it took a third of a 64×64 block's time.
    /// </summary>
    private static unsafe void TransposeInto(ReadOnlySpan<T> src, int ld, int rows, int cols, Span<T> dst, int ldDst, int width, T scale)
    {
        int tile = TransposeTile;
        if (tile > 0 && cols % tile == 0 && width % tile == 0 && ldDst >= width)
        {
            Guard.MinLength(src.Length, (rows - 1) * ld + cols, nameof(src));
            Guard.MinLength(dst.Length, (cols - 1) * ldDst + width, nameof(dst));
            fixed (T* ps = src, pd = dst)
                for (int c0 = 0; c0 < cols; c0 += tile)
                    for (int r0 = 0; r0 < width; r0 += tile)
                        Transpose((float*)ps + r0 * ld + c0, ld, Math.Clamp(rows - r0, 0, tile), (float*)pd + c0 * ldDst + r0, ldDst, float.CreateTruncating(scale));
            return;
        }
        for (int c = 0; c < cols; c++)
        {
            var line = dst.Slice(c * ldDst, width);
            for (int r = 0; r < rows; r++) line[r] = scale * src[r * ld + c];
            line[rows..].Clear();
        }
    }

    /// <summary>
    /// dst[r·ldDst + c] = srcT[c·Br + r] for r &lt; rows, c &lt; cols: a transposed accumulator [cols, Br] back into rows
    /// (register transposes for whole groups of 16 or 8 rows, the rest element by element).
    /// </summary>
    private static unsafe void TransposeOut(ReadOnlySpan<T> srcT, int rows, int cols, Span<T> dst, int ldDst)
    {
        int r = 0, tile = TransposeTile;
        if (tile > 0 && cols % tile == 0 && rows >= tile)
        {
            Guard.MinLength(srcT.Length, cols * QueryBlock, nameof(srcT));
            Guard.MinLength(dst.Length, (rows - 1) * ldDst + cols, nameof(dst));
            fixed (T* ps = srcT, pd = dst)
                for (; r + tile <= rows; r += tile)
                    for (int c0 = 0; c0 < cols; c0 += tile)
                        Transpose((float*)ps + c0 * QueryBlock + r, QueryBlock, tile, (float*)pd + r * ldDst + c0, ldDst, 1f);
        }
        for (; r < rows; r++)
        {
            var row = dst.Slice(r * ldDst, cols);
            for (int c = 0; c < cols; c++) row[c] = srcT[c * QueryBlock + r];
        }
    }

    /// <summary>The side of the in-register float transpose this machine has (16 on AVX-512, 8 on AVX), 0 for none or for double.</summary>
    private static int TransposeTile =>
        typeof(T) != typeof(float) ? 0 : Avx512F.IsSupported ? 16 : Avx.IsSupported ? 8 : 0;

    /// <summary>One register transpose of side <see cref="TransposeTile"/> (see Gemm.Transpose.cs for the contract).</summary>
    private static unsafe void Transpose(float* src, nint ld, int rows, float* dst, nint dstStride, float scale)
    {
        if (Avx512F.IsSupported) Gemm.Transpose16x16(src, ld, rows, dst, dstStride, scale);
        else Gemm.Transpose8x8Avx(src, ld, rows, dst, dstStride, scale);
    }

    // ---- forward -------------------------------------------------------------------------------

    /// <summary>One query block of one head (largest causal blocks first).</summary>
    private void FlashForwardPart(int part)
    {
        int qb = QueryBlocks - 1 - part / BatchHeads, bh = part % BatchHeads;
        int b = bh / Heads, h = bh % Heads, g = h / Group;
        int q0 = qb * QueryBlock, nq = Math.Min(QueryBlock, Lq - q0);
        var s = Scratch;
        var queryT = BlockScratch.Get(ref s.QueryT, Dk * QueryBlock);
        var scoresT = BlockScratch.Get(ref s.Scores, KeyBlock * QueryBlock);
        var accT = BlockScratch.Get(ref s.Acc, Dv * QueryBlock);   // Aᵀ [dv, Br]: a line per output column
        Span<T> m = s.RowMax, alpha = s.Alpha, l = s.RowSum;
        var qRows = Q.AsReadOnlySpan()[(QLayout.Offset(b, h) + q0 * QLayout.RowStride)..];
        var v = V.AsReadOnlySpan()[VLayout.Offset(b, g)..];
        TransposeInto(qRows, QLayout.RowStride, nq, Dk, queryT, QueryBlock, QueryBlock, Scale);
        m.Fill(T.NegativeInfinity);
        l.Clear();
        accT.Clear();
        T kept = KeptScale;

        for (int kb = 0; kb < KeyBlocks; kb++)
        {
            int k0 = kb * KeyBlock, nk = Math.Min(KeyBlock, Lk - k0);
            if (Structure.BlockIsMasked(q0, q0 + nq, k0, k0 + nk)) continue;
            var block = scoresT[..(nk * QueryBlock)];
            ScoresBlock(bh, q0, nq, k0, nk, queryT, QueryBlock, block);
            // block = P = e^(S − m'), m = m', ℓ = α·ℓ + rowsum P
            OnlineSoftmax(block, nk, m, l, alpha);
            if (DropoutActive)
                for (int c = 0; c < nk; c++)
                    for (int r = 0; r < nq; r++)
                        block[c * QueryBlock + r] *= DropoutFactor(bh, q0 + r, k0 + c, kept);
            // Aᵀ = Aᵀ·diag(α) + V_jᵀ·(P ⊙ Z/(1−p))ᵀ
            for (int c = 0; c < Dv; c++) MultiplyLine(accT.Slice(c * QueryBlock, QueryBlock), alpha);
            AttentionKernels.Product(true, Dv, QueryBlock, nk, v[(k0 * VLayout.RowStride)..], VLayout.RowStride, block, QueryBlock, true, accT, QueryBlock);
        }

        // O_i = A/ℓ (0 where ℓ = 0),  L_i = m + log ℓ (+∞ where ℓ = 0; also for the padding rows)
        var o = O.AsSpan()[(OLayout.Offset(b, h) + q0 * OLayout.RowStride)..];
        var lse = _logSumExp.Array.AsSpan(bh * PaddedLq + q0, QueryBlock);
        lse.Fill(T.PositiveInfinity);
        for (int r = 0; r < QueryBlock; r++)
        {
            alpha[r] = l[r] == T.Zero ? T.Zero : T.One / l[r];
            if (r < nq && l[r] != T.Zero) lse[r] = m[r] + T.Log(l[r]);
        }
        for (int c = 0; c < Dv; c++) MultiplyLine(accT.Slice(c * QueryBlock, QueryBlock), alpha);
        TransposeOut(accT, nq, Dv, o, OLayout.RowStride);
    }

    /// <summary>
    /// One step of the online softmax on a block of scores Sᵀ [nk, Br] (a line per key, Br queries along it), vectorised along
    /// the queries: m' = max(m, max_k S), shift = m' (0 where m' = −∞), α = e^(m − shift), block = e^(S − shift),
    /// ℓ = α·ℓ + Σ_k block, m = m'. The row maximum is taken with <c>MaxNative</c>, NaN scores still reach the output (see
    /// <see cref="OnlineSoftmax512"/>).
    /// </summary>
    private static void OnlineSoftmax(Span<T> block, int nk, Span<T> m, Span<T> l, Span<T> alpha)
    {
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated)
        {
            OnlineSoftmax512(AsFloat(block), nk, AsFloat(m), AsFloat(l), AsFloat(alpha));
            return;
        }
        int w = Vector<T>.Count;
        var negativeInfinity = new Vector<T>(T.NegativeInfinity);
        for (int r = 0; r < QueryBlock; r += w)
        {
            var mOld = new Vector<T>(m[r..]);
            var mNew = mOld;
            for (int c = 0; c < nk; c++) mNew = Vector.MaxNative(mNew, new Vector<T>(block[(c * QueryBlock + r)..]));
            var shift = Vector.ConditionalSelect(Vector.Equals(mNew, negativeInfinity), Vector<T>.Zero, mNew);
            var sum = Vector<T>.Zero;
            for (int c = 0; c < nk; c++)
            {
                var line = block[(c * QueryBlock + r)..];
                var p = VectorMath.Exp(new Vector<T>(line) - shift);
                p.CopyTo(line);
                sum += p;
            }
            var a = VectorMath.Exp(mOld - shift);
            mNew.CopyTo(m[r..]);
            a.CopyTo(alpha[r..]);
            (a * new Vector<T>(l[r..]) + sum).CopyTo(l[r..]);
        }
    }

    /// <summary>
    /// <see cref="OnlineSoftmax"/> for float on AVX-512, 16 queries at a time (the generic version's <see cref="Vector{T}"/> is
    /// 256 bits wide there). Both make two passes per group of queries with the exponential inlined: measured 4 µs per 64×64
    /// block with separate subtract, exp and sum passes, about a third of that fused. The row maximum uses <c>MaxNative</c>
    /// (one <c>vmaxps</c>; <see cref="Vector512.Max{T}"/>'s IEEE semantics take three instructions): it may drop a NaN score
    /// from m, but that score still reaches the exponential, which passes NaN through, so the row's ℓ, output and
    /// log-sum-exp are NaN as before (SdpaPropertyTests.ANaNKeyMakesExactlyTheRowsThatSeeItNaN). Measured on host F
    /// (Intel, one thread, 64 heads of L = 128, d = 32): the softmax's share of the forward's samples 22.6–22.8 % → 19.5–20.1 %.
    /// </summary>
    private static void OnlineSoftmax512(Span<float> block, int nk, Span<float> m, Span<float> l, Span<float> alpha)
    {
        var negativeInfinity = Vector512.Create(float.NegativeInfinity);
        for (int r = 0; r < QueryBlock; r += 16)
        {
            var mOld = Vector512.Create<float>(m[r..]);
            var mNew = mOld;
            for (int c = 0; c < nk; c++) mNew = Vector512.MaxNative(mNew, Vector512.Create<float>(block[(c * QueryBlock + r)..]));
            var shift = Vector512.ConditionalSelect(Vector512.Equals(mNew, negativeInfinity), Vector512<float>.Zero, mNew);
            var sum = Vector512<float>.Zero;
            for (int c = 0; c < nk; c++)
            {
                var line = block[(c * QueryBlock + r)..];
                var p = VectorMath.ExpF(Vector512.Create<float>(line) - shift);
                p.CopyTo(line);
                sum += p;
            }
            var a = VectorMath.ExpF(mOld - shift);
            mNew.CopyTo(m[r..]);
            a.CopyTo(alpha[r..]);
            (a * Vector512.Create<float>(l[r..]) + sum).CopyTo(l[r..]);
        }
    }

    private static Span<float> AsFloat(Span<T> s) => MemoryMarshal.Cast<T, float>(s);

    /// <summary>line ⊙= factors (both Br long).</summary>
    private static void MultiplyLine(Span<T> line, ReadOnlySpan<T> factors)
    {
        for (int r = 0; r < QueryBlock; r += Vector<T>.Count)
            (new Vector<T>(line[r..]) * new Vector<T>(factors[r..])).CopyTo(line[r..]);
    }

    // ---- backward ------------------------------------------------------------------------------

    private void FlashBackward()
    {
        int bhCount = BatchHeads;
        _queryT.GetSpan(bhCount * Dk * PaddedLq);
        _dOutputT.GetSpan(bhCount * Dv * PaddedLq);
        _delta.GetSpan(bhCount * PaddedLq);
        RunParts(_flashPrologue, bhCount);
        if (Batch * KvHeads >= FusedBackwardMinHeads)
            RunParts(_flashFused, Batch * KvHeads);
        else
        {
            RunParts(_flashKeyValue, Batch * KvHeads * KeyBlocks);
            RunParts(_flashQuery, bhCount * QueryBlocks);
        }
    }

    /// <summary>
    /// With at least this many key/value heads (batch × heads) every thread has whole heads to work on, and the backward runs
    /// as one pass per kv head (five products per block instead of seven). A constant, not the thread count, so that the
    /// results do not depend on the number of threads.
    /// </summary>
    private const int FusedBackwardMinHeads = 4;

    /// <summary>
    /// The whole backward of kv head <paramref name="part"/> = b·KvHeads + g and its query heads in one pass: each block's
    /// P and dS are computed once and feed dV_j, dK_j and dQ_i (all owned by this part, summed in a fixed order).
    /// </summary>
    private void FlashFusedPart(int part)
    {
        int b = part / KvHeads, g = part % KvHeads;
        var dQ = _dQ.AsSpan();
        for (int h = g * Group; h < (g + 1) * Group; h++)
            for (int r = 0; r < Lq; r++) dQ.Slice(QLayout.Offset(b, h) + r * QLayout.RowStride, Dk).Clear();
        for (int kb = 0; kb < KeyBlocks; kb++) KeyBlockGradients(b, g, kb, withQuery: true);
    }

    /// <summary>
    /// dK_j and dV_j of key block <paramref name="kb"/> of kv head (b, g), summed over its query heads and the query blocks
    /// that see it; <paramref name="withQuery"/> also adds each block's scale·dS·K_j into dQ_i.
    /// </summary>
    private void KeyBlockGradients(int b, int g, int kb, bool withQuery)
    {
        int k0 = kb * KeyBlock, nk = Math.Min(KeyBlock, Lk - k0);
        var s = Scratch;
        var dKAcc = BlockScratch.Get(ref s.Acc, nk * Dk);
        var dVAcc = BlockScratch.Get(ref s.Acc2, nk * Dv);
        dKAcc.Clear();
        dVAcc.Clear();
        var q = Q.AsReadOnlySpan();
        var kj = K.AsReadOnlySpan()[(KLayout.Offset(b, g) + k0 * KLayout.RowStride)..];
        var dO = _dO.AsReadOnlySpan();
        var dQ = _dQ.AsSpan();
        for (int h = g * Group; h < (g + 1) * Group; h++)
        {
            int bh = b * Heads + h;
            for (int qb = 0; qb < QueryBlocks; qb++)
            {
                int q0 = qb * QueryBlock, nq = Math.Min(QueryBlock, Lq - q0);
                if (Structure.BlockIsMasked(q0, q0 + nq, k0, k0 + nk)) continue;
                var dropped = BlockGradients(s, bh, q0, nq, k0, nk);
                int qi = QLayout.Offset(b, h) + q0 * QLayout.RowStride;
                // dV_j += P̃ᵀ·dO_i,  dK_j += scale·dSᵀ·Q_i  (and dQ_i += scale·dS·K_j)
                AttentionKernels.Product(false, nk, Dv, nq, dropped, QueryBlock, dO[(OLayout.Offset(b, h) + q0 * OLayout.RowStride)..], OLayout.RowStride, true, dVAcc, Dv);
                AttentionKernels.Product(false, nk, Dk, nq, s.DScores, QueryBlock, q[qi..], QLayout.RowStride, true, dKAcc, Dk);
                if (withQuery)
                    AttentionKernels.Product(true, nq, Dk, nk, s.DScores, QueryBlock, kj, KLayout.RowStride, true, dQ[qi..], QLayout.RowStride);
            }
        }
        StoreKeyValueGradients(b, g, k0, nk, dKAcc, dVAcc);
    }

    /// <summary>Writes the summed dK_j, dV_j [nk, d] of key block j into the outputs.</summary>
    private void StoreKeyValueGradients(int b, int g, int k0, int nk, ReadOnlySpan<T> dKAcc, ReadOnlySpan<T> dVAcc)
    {
        var dK = _dK.AsSpan()[(KLayout.Offset(b, g) + k0 * KLayout.RowStride)..];
        var dV = _dV.AsSpan()[(VLayout.Offset(b, g) + k0 * VLayout.RowStride)..];
        for (int c = 0; c < nk; c++)
        {
            dKAcc.Slice(c * Dk, Dk).CopyTo(dK.Slice(c * KLayout.RowStride, Dk));
            dVAcc.Slice(c * Dv, Dv).CopyTo(dV.Slice(c * VLayout.RowStride, Dv));
        }
    }

    /// <summary>Per head: scale·Qᵀ, dOᵀ (zero-padded to LqPad columns) and D_q = Σ_c dO_qc·O_qc.</summary>
    private void FlashProloguePart(int bh)
    {
        int b = bh / Heads, h = bh % Heads, pad = PaddedLq;
        var q = Q.AsReadOnlySpan()[QLayout.Offset(b, h)..];
        var o = O.AsReadOnlySpan()[OLayout.Offset(b, h)..];
        var dO = _dO.AsReadOnlySpan()[OLayout.Offset(b, h)..];
        TransposeInto(q, QLayout.RowStride, Lq, Dk, _queryT.Array.AsSpan(bh * Dk * pad), pad, pad, Scale);
        TransposeInto(dO, OLayout.RowStride, Lq, Dv, _dOutputT.Array.AsSpan(bh * Dv * pad), pad, pad, T.One);
        var delta = _delta.Array.AsSpan(bh * pad, pad);
        for (int r = 0; r < Lq; r++)
            delta[r] = TensorPrimitives.Dot(dO.Slice(r * OLayout.RowStride, Dv), o.Slice(r * OLayout.RowStride, Dv));
        delta[Lq..].Clear();
    }

    /// <summary>
    /// Recomputes block (i, j) of head bh: Pᵀ into Probs, (P ⊙ Z/(1−p))ᵀ into DropProbs (the same buffer without dropout)
    /// and scale·dSᵀ = scale·Pᵀ ⊙ (dPᵀ − D) into DScores, each [nk, Br]. Returns the buffer holding (P ⊙ Z/(1−p))ᵀ.
    /// </summary>
    private T[] BlockGradients(BlockScratch s, int bh, int q0, int nq, int k0, int nk)
    {
        int b = bh / Heads, g = bh % Heads / Group, pad = PaddedLq, size = nk * QueryBlock;
        var probsT = BlockScratch.Get(ref s.Probs, size);
        var dScoresT = BlockScratch.Get(ref s.DScores, size);
        ScoresBlock(bh, q0, nq, k0, nk, _queryT.Array.AsSpan(bh * Dk * pad + q0), pad, probsT);
        ReadOnlySpan<T> lse = _logSumExp.Array.AsSpan(bh * pad + q0, QueryBlock), delta = _delta.Array.AsSpan(bh * pad + q0, QueryBlock);
        // dP̃ᵀ = V_j·dOᵀ_i
        var v = V.AsReadOnlySpan()[(VLayout.Offset(b, g) + k0 * VLayout.RowStride)..];
        AttentionKernels.Product(false, nk, QueryBlock, Dv, v, VLayout.RowStride, _dOutputT.Array.AsSpan(bh * Dv * pad + q0), pad, false, dScoresT, QueryBlock);
        if (typeof(T) == typeof(float) && Vector512.IsHardwareAccelerated && !DropoutActive)
        {
            SoftmaxBackward512(AsFloat(probsT), AsFloat(dScoresT), nk, MemoryMarshal.Cast<T, float>(lse), MemoryMarshal.Cast<T, float>(delta), float.CreateTruncating(Scale));
            return s.Probs;
        }
        int w = Vector<T>.Count;
        if (!DropoutActive)
        {
            // Pᵀ = e^(Sᵀ − L) and scale·dSᵀ = scale·Pᵀ ⊙ (dPᵀ − D) in one pass
            var scaleV = new Vector<T>(Scale);
            for (int r = 0; r < QueryBlock; r += w)
            {
                var shift = new Vector<T>(lse[r..]);
                var d = new Vector<T>(delta[r..]);
                for (int c = 0; c < nk; c++)
                {
                    var pLine = probsT[(c * QueryBlock + r)..];
                    var dLine = dScoresT[(c * QueryBlock + r)..];
                    var p = VectorMath.Exp(new Vector<T>(pLine) - shift);
                    p.CopyTo(pLine);
                    ((new Vector<T>(dLine) - d) * p * scaleV).CopyTo(dLine);
                }
            }
            return s.Probs;
        }
        // Pᵀ = e^(Sᵀ − L)
        for (int r = 0; r < QueryBlock; r += w)
        {
            var shift = new Vector<T>(lse[r..]);
            for (int c = 0; c < nk; c++)
            {
                var line = probsT[(c * QueryBlock + r)..];
                (new Vector<T>(line) - shift).CopyTo(line);
            }
        }
        VectorMath.Exp<T>(probsT, probsT);
        // dropout: dP = dP̃ ⊙ Z/(1−p), P̃ = P ⊙ Z/(1−p)
        var dropped = BlockScratch.Get(ref s.DropProbs, size);
        T kept = KeptScale;
        for (int c = 0; c < nk; c++)
            for (int r = 0; r < QueryBlock; r++)
            {
                T z = r < nq ? DropoutFactor(bh, q0 + r, k0 + c, kept) : T.Zero;
                dScoresT[c * QueryBlock + r] *= z;
                dropped[c * QueryBlock + r] = probsT[c * QueryBlock + r] * z;
            }
        // scale·dSᵀ = scale·Pᵀ ⊙ (dPᵀ − D)
        var scale = new Vector<T>(Scale);
        for (int r = 0; r < QueryBlock; r += w)
        {
            var d = new Vector<T>(delta[r..]);
            for (int c = 0; c < nk; c++)
            {
                var line = dScoresT[(c * QueryBlock + r)..];
                ((new Vector<T>(line) - d) * new Vector<T>(probsT[(c * QueryBlock + r)..]) * scale).CopyTo(line);
            }
        }
        return s.DropProbs;
    }

    /// <summary>Pᵀ = e^(Sᵀ − L) and scale·dSᵀ = scale·Pᵀ ⊙ (dPᵀ − D) in one pass (float, AVX-512, no dropout): the fused loop above, 16 queries at a time.</summary>
    private static void SoftmaxBackward512(Span<float> probsT, Span<float> dScoresT, int nk, ReadOnlySpan<float> lse, ReadOnlySpan<float> delta, float scale)
    {
        for (int r = 0; r < QueryBlock; r += 16)
        {
            var shift = Vector512.Create<float>(lse[r..]);
            var d = Vector512.Create<float>(delta[r..]);
            for (int c = 0; c < nk; c++)
            {
                var pLine = probsT[(c * QueryBlock + r)..];
                var dLine = dScoresT[(c * QueryBlock + r)..];
                var p = VectorMath.ExpF(Vector512.Create<float>(pLine) - shift);
                p.CopyTo(pLine);
                ((Vector512.Create<float>(dLine) - d) * p * scale).CopyTo(dLine);
            }
        }
    }

    /// <summary>Two-pass backward, first pass: dK_j and dV_j of one key block of one kv head (largest causal blocks first).</summary>
    private void FlashKeyValuePart(int part)
    {
        int groups = Batch * KvHeads, bg = part % groups;
        KeyBlockGradients(bg / KvHeads, bg % KvHeads, part / groups, withQuery: false);
    }

    /// <summary>dQ_i of query block i of one head, summed over the key blocks it sees.</summary>
    private void FlashQueryPart(int part)
    {
        int bhCount = BatchHeads, qb = QueryBlocks - 1 - part / bhCount, bh = part % bhCount;
        int b = bh / Heads, h = bh % Heads, g = h / Group;
        int q0 = qb * QueryBlock, nq = Math.Min(QueryBlock, Lq - q0);
        var s = Scratch;
        var dQAccT = BlockScratch.Get(ref s.Acc, Dk * QueryBlock);   // dQᵀ [dk, Br]
        dQAccT.Clear();
        var k = K.AsReadOnlySpan()[KLayout.Offset(b, g)..];
        for (int kb = 0; kb < KeyBlocks; kb++)
        {
            int k0 = kb * KeyBlock, nk = Math.Min(KeyBlock, Lk - k0);
            if (Structure.BlockIsMasked(q0, q0 + nq, k0, k0 + nk)) continue;
            BlockGradients(s, bh, q0, nq, k0, nk);
            // dQ_iᵀ += K_jᵀ·(scale·dSᵀ)
            AttentionKernels.Product(true, Dk, QueryBlock, nk, k[(k0 * KLayout.RowStride)..], KLayout.RowStride, s.DScores, QueryBlock, true, dQAccT, QueryBlock);
        }
        TransposeOut(dQAccT, nq, Dk, _dQ.AsSpan()[(QLayout.Offset(b, h) + q0 * QLayout.RowStride)..], QLayout.RowStride);
    }
}
