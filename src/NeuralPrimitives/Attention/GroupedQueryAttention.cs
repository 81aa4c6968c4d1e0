// Grouped-query self-attention (Ainslie et al. 2023), the attention of modern decoder blocks (LLaMA 2/3,
// Mistral): fewer key/value heads than query heads, rotary positions, a causal mask, and a KV cache
// for incremental decoding. Parameter names are Hugging Face's LlamaAttention: q_proj, k_proj,
// v_proj, o_proj (each a Linear), so numKVHeads = numHeads is ordinary multi-head attention and
// numKVHeads = 1 is multi-query attention.
//
// Shapes (E = embedDim, H = numHeads, G = numKVHeads, hd = E/H, group = H/G):
//   x [B, L, E] (or unbatched [L, E])  →  output [B, L, E]
// Forward:
//   Q = x·W_qᵀ + b_q  [B, L, H·hd]     K = x·W_kᵀ + b_k  [B, L, G·hd]     V = x·W_vᵀ + b_v  [B, L, G·hd]
//   RoPE (when given): Q_h, K_g rotated at positions offset + t  (Embeddings/RotaryEmbedding.cs)
//   O_h = softmax(Q_h·K_gᵀ/√hd + M)·V_g,   g = h / group           (ScaledDotProductAttention.cs)
//   output = [O_1 … O_H]·W_oᵀ + b_o
// Backward: the attention's dQ, dK, dV (dK, dV summed over each group's query heads), RoPE's backward
//   (the inverse rotation), then each projection's backward (AttentionProjection.cs); d(x) sums the three.
// Incremental decoding (Infer with a KvCache): the new positions' keys and values are appended to the
// cache (after RoPE at offset = cache.Length) and the new queries attend to every cached position
// with the bottom-right causal mask, which reproduces the rows of the full causal pass (KvCache.cs).
namespace NeuralPrimitives;

/// <summary>
/// Grouped-query self-attention for decoder blocks: <c>numKVHeads</c> key/value heads shared by groups of
/// <c>numHeads / numKVHeads</c> query heads, optional rotary positions, causal by default, with a caller-owned
/// <see cref="KvCache{T}"/> for incremental decoding. Children (Hugging Face LlamaAttention's names): <c>q_proj</c>
/// [H·hd, E], <c>k_proj</c>, <c>v_proj</c> [G·hd, E], <c>o_proj</c> [E, H·hd].
/// </summary>
/// <remarks>
/// <para><see cref="Infer(Tensor{T}, AttentionMask{T}?, bool)"/> and <see cref="Infer(Tensor{T}, KvCache{T})"/> keep no state in the module
/// (the cache is the caller's), so several threads may decode with one module, each with its own cache.</para>
/// <para>Forward/Backward belong to one thread at a time; results are module-owned and valid until the next call.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class GroupedQueryAttention<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private sealed class Workspace
    {
        public readonly AttentionEngine<T> Engine = new();
        public readonly TensorBuffer<T> Q = new(), K = new(), V = new(), QHeads = new(), KHeads = new(), QRotated = new(), KRotated = new(), Context = new(), Output = new();
        public readonly TensorBuffer<T> DContext = new(), DQ = new(), DK = new(), DV = new(), DQHeads = new(), DKHeads = new(), DQRotated = new(), DKRotated = new(), DInput = new();
    }

    private readonly Workspace _train = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<Workspace> _inferPool = new();
    private Tensor<T> _input = null!;
    private int _batch, _length;

    /// <summary>Creates the layer (each projection with nn.Linear's initialisation).</summary>
    /// <param name="embedDim">E (≥ 1, divisible by <paramref name="numHeads"/>).</param>
    /// <param name="numHeads">H, query heads (≥ 1).</param>
    /// <param name="numKVHeads">G, key/value heads (≥ 1, dividing H): H for multi-head attention, 1 for multi-query attention.</param>
    /// <param name="bias">Whether the four projections have biases (LLaMA: false).</param>
    /// <param name="dropout">Dropout probability on the attention weights in training mode (0 ≤ p &lt; 1).</param>
    /// <param name="rotary">Rotary position embedding applied to queries and keys (its HeadDim must be E/H); none when null.</param>
    /// <param name="rng">Random source for initialisation and to seed <see cref="DropoutRng"/>; <see cref="Rng.Default"/> when null.</param>
    public GroupedQueryAttention(int embedDim, int numHeads, int numKVHeads, bool bias = false, double dropout = 0, RotaryEmbedding<T>? rotary = null, Rng? rng = null)
    {
        int hd = GroupedHeads.HeadDim(embedDim, numHeads, numKVHeads, dropout, rotary, nameof(embedDim), nameof(numHeads), nameof(numKVHeads));
        rng ??= Rng.Default;
        (EmbedDim, NumHeads, NumKVHeads, HeadDim, Dropout, Rotary) = (embedDim, numHeads, numKVHeads, hd, dropout, rotary);
        QProj = RegisterModule("q_proj", new Linear<T>(embedDim, numHeads * hd, bias, rng));
        KProj = RegisterModule("k_proj", new Linear<T>(embedDim, numKVHeads * hd, bias, rng));
        VProj = RegisterModule("v_proj", new Linear<T>(embedDim, numKVHeads * hd, bias, rng));
        OProj = RegisterModule("o_proj", new Linear<T>(numHeads * hd, embedDim, bias, rng));
        DropoutRng = new Rng(rng.NextUInt64());
    }

    /// <summary>E.</summary>
    public int EmbedDim { get; }

    /// <summary>H, the query heads.</summary>
    public int NumHeads { get; }

    /// <summary>G, the key/value heads.</summary>
    public int NumKVHeads { get; }

    /// <summary>hd = E/H.</summary>
    public int HeadDim { get; }

    /// <summary>Dropout probability on the attention weights (training mode).</summary>
    public double Dropout { get; }

    /// <summary>The rotary position embedding, or null.</summary>
    public RotaryEmbedding<T>? Rotary { get; }

    /// <summary><c>q_proj</c>: E → H·hd.</summary>
    public Linear<T> QProj { get; }

    /// <summary><c>k_proj</c>: E → G·hd.</summary>
    public Linear<T> KProj { get; }

    /// <summary><c>v_proj</c>: E → G·hd.</summary>
    public Linear<T> VProj { get; }

    /// <summary><c>o_proj</c>: H·hd → E.</summary>
    public Linear<T> OProj { get; }

    /// <summary>The random source of the dropout masks.</summary>
    public Rng DropoutRng { get; set; }

    /// <summary>A cache for decoding <paramref name="batch"/> sequences of up to <paramref name="capacity"/> positions with this layer.</summary>
    /// <param name="batch">Sequences decoded together.</param>
    /// <param name="capacity">Most positions (prompt plus generated).</param>
    public KvCache<T> CreateCache(int batch, int capacity) => new(batch, NumKVHeads, HeadDim, capacity);

    /// <summary>Training forward over whole sequences.</summary>
    /// <param name="input">x [B, L, E] or unbatched [L, E].</param>
    /// <param name="attnMask">Optional mask broadcastable to [B, H, L, L] (a boolean one states its convention, see <see cref="AttentionMask{T}"/>).</param>
    /// <param name="isCausal">Apply the causal mask (default true: a decoder).</param>
    /// <returns>The output shaped like the input (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> input, AttentionMask<T>? attnMask = null, bool isCausal = true)
    {
        using var pass = BeginForward();
        var output = Run(_train, input, attnMask, isCausal, null, Training && Dropout > 0, null);
        (_input, _batch, _length) = (input, input.Rank == 3 ? (int)input.Lengths[0] : 1, (int)input.Lengths[^2]);
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Inference forward over whole sequences (no dropout, no cache): a new tensor, thread-safe.</summary>
    /// <param name="input">x [B, L, E] or [L, E].</param>
    /// <param name="attnMask">Optional mask broadcastable to [B, H, L, L].</param>
    /// <param name="isCausal">Apply the causal mask.</param>
    public Tensor<T> Infer(Tensor<T> input, AttentionMask<T>? attnMask = null, bool isCausal = true) => InferPooled(input, attnMask, isCausal, null);

    /// <summary>
    /// One incremental decoding step: appends the keys and values of <paramref name="input"/>'s positions to
    /// <paramref name="cache"/> (RoPE at offset <see cref="KvCache{T}.Length"/>) and attends causally over every cached position.
    /// Feeding a sequence in pieces (one position at a time, or any chunks) gives the rows of the full causal pass.
    /// Thread-safe with respect to the module; the cache is the caller's state.
    /// </summary>
    /// <param name="input">x [B, Lnew, E] or [Lnew, E] (B = 1): the next positions.</param>
    /// <param name="cache">The caller's cache (batch, heads and head width matching this layer); it must have room for Lnew positions.</param>
    /// <returns>The output for the new positions (a new tensor).</returns>
    public Tensor<T> Infer(Tensor<T> input, KvCache<T> cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        return InferPooled(input, null, true, cache);
    }

    private Tensor<T> InferPooled(Tensor<T> input, AttentionMask<T>? attnMask, bool isCausal, KvCache<T>? cache)
    {
        var ws = _inferPool.TryTake(out var pooled) ? pooled : new Workspace();
        try
        {
            CheckInput(input);
            return Run(ws, input, attnMask, isCausal, cache, false, Tensor.Create(new T[input.FlattenedLength], input.Lengths));
        }
        finally
        {
            _inferPool.Add(ws);
        }
    }

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates every projection's gradients and returns ∂L/∂x (module-owned).</summary>
    /// <param name="dOutput">∂L/∂output, shaped like the output.</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.SameShape(_input, dOutput, nameof(dOutput));
        var ws = _train;
        var engine = ws.Engine;
        int rows = _batch * _length, e = EmbedDim, qw = NumHeads * HeadDim, kw = NumKVHeads * HeadDim;
        Span<nint> shape = stackalloc nint[2];
        // output = O·W_oᵀ + b_o
        var dContext = ws.DContext.Get(Rows(shape, rows, qw));
        AttentionProjection.Backward(dOutput.AsReadOnlySpan(), e, rows, engine.O.AsReadOnlySpan(), qw, qw, OProj.Weight, -1, e, OProj.Bias, 0, dContext.AsSpan(), qw, false);
        // attention: gradients in the layouts the forward read Q, K, V in
        var dQ = ws.DQ.Get(Rows(shape, rows, qw));
        var dK = ws.DK.Get(Rows(shape, rows, kw));
        var dV = ws.DV.Get(Rows(shape, rows, kw));
        if (Rotary is null)
            engine.Backward(dContext, dQ, dK, dV, null);
        else
        {
            // RoPE's backward is the inverse rotation; then back from [B, H, L, hd] to rows [B·L, H·hd].
            var dQRotated = ws.DQRotated.Get(engine.Q.Lengths);
            var dKRotated = ws.DKRotated.Get(engine.K.Lengths);
            engine.Backward(dContext, dQRotated, dKRotated, dV, null);
            var dQHeads = ws.DQHeads.Get(engine.Q.Lengths);
            var dKHeads = ws.DKHeads.Get(engine.K.Lengths);
            Rotary.Apply(dQRotated, dQHeads, 0, inverse: true);
            Rotary.Apply(dKRotated, dKHeads, 0, inverse: true);
            MergeHeads(dQHeads.AsReadOnlySpan(), dQ.AsSpan(), _batch, _length, NumHeads);
            MergeHeads(dKHeads.AsReadOnlySpan(), dK.AsSpan(), _batch, _length, NumKVHeads);
        }
        // the projections: d(x) = dQ·W_q + dK·W_k + dV·W_v
        var dInput = ws.DInput.Get(_input.Lengths);
        var x = _input.AsReadOnlySpan();
        AttentionProjection.Backward(dQ.AsReadOnlySpan(), qw, rows, x, e, e, QProj.Weight, -1, qw, QProj.Bias, 0, dInput.AsSpan(), e, false);
        AttentionProjection.Backward(dK.AsReadOnlySpan(), kw, rows, x, e, e, KProj.Weight, -1, kw, KProj.Bias, 0, dInput.AsSpan(), e, true);
        AttentionProjection.Backward(dV.AsReadOnlySpan(), kw, rows, x, e, e, VProj.Weight, -1, kw, VProj.Bias, 0, dInput.AsSpan(), e, true);
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    // ---- forward ---------------------------------------------------------------------------------

    private void CheckInput(Tensor<T> input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank is not (2 or 3))
            throw new ArgumentException($"input must be [B, L, E] or unbatched [L, E], got shape {Shapes.Format(input.Lengths)}.", nameof(input));
        Guard.LastDim(input, EmbedDim, nameof(input));
        if (!input.IsDense || input.FlattenedLength == 0)
            throw new ArgumentException($"input must be dense with every dimension ≥ 1, got shape {Shapes.Format(input.Lengths)}.", nameof(input));
    }

    /// <summary>Projections, RoPE, cache update, attention and output projection into <paramref name="output"/> (or the workspace's).</summary>
    private Tensor<T> Run(Workspace ws, Tensor<T> input, AttentionMask<T>? attnMask, bool isCausal, KvCache<T>? cache, bool dropout, Tensor<T>? output)
    {
        CheckInput(input);
        int b = input.Rank == 3 ? (int)input.Lengths[0] : 1, l = (int)input.Lengths[^2], rows = b * l;
        int e = EmbedDim, hd = HeadDim, h = NumHeads, g = NumKVHeads, qw = h * hd, kw = g * hd;
        if (cache is not null) GroupedHeads.CheckCache(cache, b, g, hd, l);
        int offset = cache?.Length ?? 0, keys = offset + l;
        var engine = ws.Engine;
        Span<nint> shape = stackalloc nint[4];
        var x = input.AsReadOnlySpan();

        var q = ws.Q.Get(Rows(shape, rows, qw));
        var k = ws.K.Get(Rows(shape, rows, kw));
        var v = ws.V.Get(Rows(shape, rows, kw));
        AttentionProjection.Forward<T>(x, e, rows, QProj.Weight.Data, e, qw, QProj.Bias?.Data, q.AsSpan(), qw);
        AttentionProjection.Forward<T>(x, e, rows, KProj.Weight.Data, e, kw, KProj.Bias?.Data, k.AsSpan(), kw);
        AttentionProjection.Forward<T>(x, e, rows, VProj.Weight.Data, e, kw, VProj.Bias?.Data, v.AsSpan(), kw);

        // Queries and keys: rotated at positions offset + t ([B, heads, L, hd] for RoPE), or read in place from the rows.
        if (Rotary is null)
        {
            (engine.Q, engine.QLayout) = (q, HeadLayout.Sequence(true, b, l, qw, hd));
            (engine.K, engine.KLayout) = (k, HeadLayout.Sequence(true, b, l, kw, hd));
        }
        else
        {
            engine.Q = Rotate(q, ws.QHeads, ws.QRotated, b, l, h, offset, shape);
            engine.K = Rotate(k, ws.KHeads, ws.KRotated, b, l, g, offset, shape);
            engine.QLayout = HeadLayout.Dense(h, l, hd);
            engine.KLayout = HeadLayout.Dense(g, l, hd);
        }
        (engine.V, engine.VLayout) = (v, HeadLayout.Sequence(true, b, l, kw, hd));

        MaskView<T> mask = default;
        if (attnMask is { } m)
        {
            Span<int> lead = stackalloc int[input.Rank - 1];
            if (input.Rank == 3) (lead[0], lead[1]) = (b, h);
            else lead[0] = h;
            mask = MaskView<T>.Broadcast(m, lead, l, keys, nameof(attnMask));
        }
        // Append this step's keys and values to the cache (then attend over everything cached); sizes, mask, dropout.
        GroupedHeads.Prepare(engine, cache, b, h, g, l, hd, isCausal, mask, dropout ? Dropout : 0, DropoutRng);
        engine.O = ws.Context.Get(Rows(shape, rows, qw));
        engine.OLayout = HeadLayout.Sequence(true, b, l, qw, hd);
        engine.Forward(false, default);

        output ??= ws.Output.Get(input.Lengths);
        AttentionProjection.Forward<T>(engine.O.AsReadOnlySpan(), qw, rows, OProj.Weight.Data, qw, e, OProj.Bias?.Data, output.AsSpan(), e);
        cache?.Advance(l);
        return output;
    }

    /// <summary>Rows [B·L, heads·hd] → heads [B, heads, L, hd], rotated at positions offset + t.</summary>
    private Tensor<T> Rotate(Tensor<T> rows, TensorBuffer<T> headsBuffer, TensorBuffer<T> rotatedBuffer, int b, int l, int heads, int offset, Span<nint> shape)
    {
        (shape[0], shape[1], shape[2], shape[3]) = (b, heads, l, HeadDim);
        var split = headsBuffer.Get(shape);
        var rotated = rotatedBuffer.Get(shape);
        CopyHeads(rows.AsReadOnlySpan(), HeadLayout.Sequence(true, b, l, heads * HeadDim, HeadDim), split.AsSpan(), HeadLayout.Dense(heads, l, HeadDim), b, heads, l, 0);
        Rotary!.Apply(split, rotated, offset);
        return rotated;
    }

    /// <summary>Heads [B, heads, L, hd] → rows [B·L, heads·hd].</summary>
    private void MergeHeads(ReadOnlySpan<T> heads, Span<T> rows, int b, int l, int count) =>
        CopyHeads(heads, HeadLayout.Dense(count, l, HeadDim), rows, HeadLayout.Sequence(true, b, l, count * HeadDim, HeadDim), b, count, l, 0);

    /// <summary>Copies positions 0..l−1 of every head from one layout to positions offset.. of another.</summary>
    private void CopyHeads(ReadOnlySpan<T> src, HeadLayout from, Span<T> dst, HeadLayout to, int b, int heads, int l, int offset) =>
        HeadLayout.Copy(src, from, dst, to, b, heads, l, HeadDim, offset);

    private static ReadOnlySpan<nint> Rows(Span<nint> shape, int rows, int cols)
    {
        (shape[0], shape[1]) = (rows, cols);
        return shape[..2];
    }
}
