// AttentionEngine: one scaled dot-product attention computation as the kernels see it, shared by
// ScaledDotProductAttention, MultiheadAttention and GroupedQueryAttention.
//
// Heads are flattened: bh = b·Heads + h over the batch b (every leading dimension but the head
// axis) and the query head h. Query head h reads key/value head g = h / Group, Group = Heads /
// KvHeads (grouped-query attention; Group = 1 is ordinary multi-head attention).
//
// Where a head lives (HeadLayout): row r (a position), column c of head (b, h) of a buffer is at
//     Start + b·BatchStride + h·HeadStride + r·RowStride + c
// so the kernels read heads in place, whatever the caller's layout:
//   dense [B, H, L, d]               BatchStride = H·L·d,  HeadStride = L·d, RowStride = d
//   packed q|k|v rows [B, L, 3E]      BatchStride = L·3E,   HeadStride = hd,  RowStride = 3E, Start = 0, E, 2E
//                                     (MultiheadAttention's self-attention: one projection GEMM, heads read in place)
//   a KV cache [B, Hkv, capacity, d]  BatchStride = Hkv·capacity·d, HeadStride = capacity·d, RowStride = d
//
// Masks (AttentionMask.cs): a StructuralMask (causal, window, keys exempt from masking) and up to
// two explicit MaskViews (an attention mask and a key padding mask). ApplyMasks adds them to a
// block of scores, in either orientation (a query per line for the exact path, a key per line for
// the memory-efficient path).
//
// Dropout (AttentionDropout): keep(bh, q, k) is a hash of (seed, index) compared with p, so any
// block of the mask can be regenerated: the backward pass stores nothing, and the two paths drop
// the same weights.
//
// Threads: the work is cut into parts (heads, or heads × blocks) that each write their own part
// of the outputs; parts run on Parallelism's workers in a fixed decomposition, so results do not
// depend on the number of threads.
namespace NeuralPrimitives;

/// <summary>Where head (b, h) of a buffer lives: element (row, col) at <c>Start + b·BatchStride + h·HeadStride + row·RowStride + col</c>.</summary>
internal readonly record struct HeadLayout(int BatchStride, int HeadStride, int RowStride, int Start = 0)
{
    public int Offset(int batch, int head) => Start + batch * BatchStride + head * HeadStride;

    /// <summary>A dense [batch, heads, rows, cols] buffer.</summary>
    public static HeadLayout Dense(int heads, int rows, int cols) => new(heads * rows * cols, rows * cols, cols);

    /// <summary>
    /// Heads of width <paramref name="headDim"/> side by side in rows of <paramref name="width"/> elements, the rows of a
    /// sequence of <paramref name="length"/> positions for <paramref name="batch"/> sequences, stored [batch, length, width]
    /// (<paramref name="batchFirst"/>) or [length, batch, width]; head h starts at column <paramref name="start"/> + h·headDim.
    /// </summary>
    public static HeadLayout Sequence(bool batchFirst, int batch, int length, int width, int headDim, int start = 0) =>
        batchFirst ? new(length * width, headDim, width, start) : new(width, headDim, batch * width, start);

    /// <summary>Copies rows 0…rows−1 (each <paramref name="width"/> wide) of every head from layout <paramref name="from"/> to rows <paramref name="dstRowOffset"/>… of layout <paramref name="to"/>.</summary>
    public static void Copy<T>(ReadOnlySpan<T> src, HeadLayout from, Span<T> dst, HeadLayout to, int batch, int heads, int rows, int width, int dstRowOffset)
    {
        for (int i = 0; i < batch; i++)
            for (int j = 0; j < heads; j++)
                for (int t = 0; t < rows; t++)
                    src.Slice(from.Offset(i, j) + t * from.RowStride, width).CopyTo(dst.Slice(to.Offset(i, j) + (dstRowOffset + t) * to.RowStride, width));
    }
}

/// <summary>Counter-based dropout mask: keep(seed, index) is reproducible for any index, in any order.</summary>
internal static class AttentionDropout
{
    /// <summary>Whether the weight with flat index <c>(bh·Lq + q)·Lk + k</c> is kept: a SplitMix64 hash mapped to [0, 1) and compared with p.</summary>
    public static bool Keep(ulong seed, long index, double p)
    {
        ulong z = seed + (ulong)(index + 1) * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53)) >= p;
    }
}

/// <summary>One attention computation: its sizes, operands and masks (set by the caller), its buffers, and both algorithms.</summary>
internal sealed partial class AttentionEngine<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    // ---- the problem, set by the caller before Forward ----
    public int Batch, Heads, KvHeads, Lq, Lk, Dk, Dv;
    public T Scale;
    public StructuralMask Structure;
    public MaskView<T> Mask1, Mask2;
    public double DropoutP;
    public ulong DropoutSeed;
    public Tensor<T> Q = null!, K = null!, V = null!, O = null!;
    public HeadLayout QLayout, KLayout, VLayout, OLayout;

    // ---- what the last forward kept for the backward ----
    private bool _exact;
    private readonly TensorBuffer<T> _weights = new();     // exact: P per head [BH, Lq, Lk]
    private readonly TensorBuffer<T> _dropped = new();     // exact with dropout: P ⊙ keep/(1−p), the returned weights
    private readonly TensorBuffer<T> _dScores = new();     // exact backward: dP, then dS, per head
    private readonly TensorBuffer<T> _logSumExp = new();   // memory-efficient: log Σ_k e^(S_qk) per query row [BH, LqPad]

    // ---- the backward's operands ----
    private Tensor<T> _dO = null!, _dQ = null!, _dK = null!, _dV = null!;
    private Tensor<T>? _dWeights;

    private readonly PartJob _exactForward, _exactBackward, _flashForward, _flashPrologue, _flashKeyValue, _flashQuery, _flashFused;

    public AttentionEngine()
    {
        _exactForward = new(ExactForwardPart);
        _exactBackward = new(ExactBackwardPart);
        _flashForward = new(FlashForwardPart);
        _flashPrologue = new(FlashProloguePart);
        _flashKeyValue = new(FlashKeyValuePart);
        _flashQuery = new(FlashQueryPart);
        _flashFused = new(FlashFusedPart);
    }

    public int BatchHeads => Batch * Heads;
    public int Group => Heads / KvHeads;
    public bool DropoutActive => DropoutP > 0;

    /// <summary>1/(1 − p), the scale of a kept weight (0 when p = 1: nothing is kept).</summary>
    private T KeptScale => DropoutP >= 1 ? T.Zero : T.CreateTruncating(1 / (1 - DropoutP));

    /// <summary>The weights the last exact forward returned (P after dropout, per head), or null after a memory-efficient one.</summary>
    public Tensor<T>? Weights { get; private set; }

    /// <summary>
    /// Runs the forward pass into <see cref="O"/>. <paramref name="exact"/> materialises the weights, shaped
    /// <paramref name="weightsShape"/> (BH·Lq·Lk elements); otherwise the memory-efficient path runs.
    /// </summary>
    public void Forward(bool exact, ReadOnlySpan<nint> weightsShape)
    {
        _exact = exact;
        if (exact)
        {
            var p = _weights.Get(weightsShape);
            Weights = DropoutActive ? _dropped.Get(weightsShape) : p;
            RunParts(_exactForward, Batch * KvHeads);
        }
        else
        {
            Weights = null;
            _logSumExp.GetSpan(BatchHeads * PaddedLq);
            RunParts(_flashForward, BatchHeads * QueryBlocks);
        }
    }

    /// <summary>
    /// Backward of the last <see cref="Forward"/>: writes ∂L/∂q, ∂L/∂k, ∂L/∂v into <paramref name="dQ"/>, <paramref name="dK"/>,
    /// <paramref name="dV"/> (laid out as Q, K, V) from ∂L/∂O in <paramref name="dO"/> (laid out as O) and, after an exact
    /// forward, optionally ∂L/∂weights [BH, Lq, Lk].
    /// </summary>
    public void Backward(Tensor<T> dO, Tensor<T> dQ, Tensor<T> dK, Tensor<T> dV, Tensor<T>? dWeights)
    {
        (_dO, _dQ, _dK, _dV, _dWeights) = (dO, dQ, dK, dV, dWeights);
        if (_exact)
        {
            _dScores.GetSpan(BatchHeads * Lq * Lk);
            RunParts(_exactBackward, Batch * KvHeads);
        }
        else
            FlashBackward();
        _dO = _dQ = _dK = _dV = null!;
        _dWeights = null;
    }

    // ---- masks ---------------------------------------------------------------------------------

    /// <summary>
    /// Adds the masks to a block of head <paramref name="bh"/>'s scores covering queries q0..q0+nq and keys k0..k0+nk.
    /// <paramref name="keyMajor"/>: line i of the block is key k0+i and holds the queries (the memory-efficient path's Sᵀ);
    /// otherwise line i is query q0+i and holds the keys (the exact path's S). Lines are <paramref name="ld"/> apart.
    /// <paramref name="structural"/> is false when the caller knows the block is structurally fully visible.
    /// </summary>
    private void ApplyMasks(Span<T> block, int ld, bool keyMajor, int bh, int q0, int nq, int k0, int nk, bool structural)
    {
        structural &= !Structure.IsNone;
        bool any1 = Mask1.IsActive, any2 = Mask2.IsActive;
        if (!structural && !any1 && !any2) return;
        int off1 = any1 ? Mask1.Offset(bh) : 0, off2 = any2 ? Mask2.Offset(bh) : 0;
        int lines = keyMajor ? nk : nq;
        for (int i = 0; i < lines; i++)
        {
            Span<T> line;
            int q, k, step1, step2;
            if (keyMajor)
            {
                k = k0 + i;
                q = q0;
                if (k >= Structure.MaskedKeys) continue;          // appended bias_k / zero-attention keys: never masked
                line = block.Slice(i * ld, nq);
                if (structural)
                {
                    var (lo, hi) = Structure.QueryRange(k, Lq);
                    FillOutside(line, lo - q0, hi - q0);
                }
                (step1, step2) = (Mask1.QStride, Mask2.QStride);
            }
            else
            {
                q = q0 + i;
                k = k0;
                line = block.Slice(i * ld, Math.Clamp(Structure.MaskedKeys - k0, 0, nk));
                if (structural)
                {
                    var (lo, hi) = Structure.KeyRange(q, Lk);
                    FillOutside(line, lo - k0, hi - k0);
                }
                (step1, step2) = (Mask1.KStride, Mask2.KStride);
            }
            if (any1) AddMaskLine(in Mask1, line, off1 + q * Mask1.QStride + k * Mask1.KStride, step1);
            if (any2) AddMaskLine(in Mask2, line, off2 + q * Mask2.QStride + k * Mask2.KStride, step2);
        }
    }

    /// <summary>Sets line[j] = −∞ for j outside [lo, hi).</summary>
    private static void FillOutside(Span<T> line, int lo, int hi)
    {
        lo = Math.Clamp(lo, 0, line.Length);
        hi = Math.Clamp(hi, lo, line.Length);
        line[..lo].Fill(T.NegativeInfinity);
        line[hi..].Fill(T.NegativeInfinity);
    }

    /// <summary>line[j] += bias at <c>start + j·step</c> of the mask (step 0: one value for the whole line).</summary>
    private static void AddMaskLine(in MaskView<T> mask, Span<T> line, int start, int step)
    {
        var booleans = mask.Boolean is null ? default : mask.Boolean.AsReadOnlySpan();
        var additive = mask.Additive is null ? default : mask.Additive.AsReadOnlySpan();
        if (step == 0)
        {
            T bias = mask.Bias(booleans, additive, start);
            if (T.IsNegativeInfinity(bias)) line.Fill(bias);
            else if (bias != T.Zero) TensorPrimitives.Add(line, bias, line);
            return;
        }
        for (int j = 0; j < line.Length; j++) line[j] += mask.Bias(booleans, additive, start + j * step);
    }

    /// <summary>The dropout factor of weight (bh, q, k): 1/(1 − p) if kept, else 0.</summary>
    private T DropoutFactor(int bh, int q, int k, T kept) =>
        AttentionDropout.Keep(DropoutSeed, ((long)bh * Lq + q) * Lk + k, DropoutP) ? kept : T.Zero;

    // ---- threads -------------------------------------------------------------------------------

    /// <summary>Runs parts 0..parts−1 of a job on up to <see cref="Parallelism.NumThreads"/> threads (or in order on this one).</summary>
    private static void RunParts(PartJob job, int parts)
    {
        int threads = Math.Min(Parallelism.NumThreads, parts);
        if (threads > 1 && Parallelism.TryEnterParallel())
        {
            try { Parallelism.RunParallel(job, threads, parts); }
            finally { Parallelism.ExitParallel(); }
        }
        else
            for (int part = 0; part < parts; part++) job.Execute(part);
    }

    /// <summary>A job whose parts call one method of the engine (created once, so running it allocates nothing).</summary>
    private sealed class PartJob(Action<int> run) : ParallelJob
    {
        public override void Execute(int part) => run(part);
    }
}
