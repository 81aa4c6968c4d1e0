// The causal self-attention of a GPT block (nanoGPT's CausalSelfAttention, GPT-2's GPT2Attention):
// one fused projection c_attn computes the queries, keys and values of every position, each query
// attends to its own and the earlier positions only, and c_proj mixes the heads back.
//
// Shapes (B batch, L positions, C = n_embd, H query heads, G key/value heads, hd = C/H, W = (H + 2G)·hd):
//   x [B, L, C]   c_attn.weight [W, C] (nanoGPT's [3C, C] when G = H)   c_proj.weight [C, C]   y [B, L, C]
// Forward:
//   [Q | K | V] = x·W_attnᵀ + b_attn                 [B, L, W]: columns 0…H·hd are Q, then G·hd of K, then V
//   RoPE (rotary positions only): Q_h, K_g rotated at positions offset + t   (Embeddings/RotaryEmbedding.cs)
//   O_h = softmax(Q_h·K_gᵀ/√hd + M_causal)·V_g,  g = h / (H/G)               (Attention/ScaledDotProductAttention.cs)
//         M_causal[t, s] = 0 for s ≤ t + offset, −∞ otherwise (the bottom-right causal mask); dropout on the weights
//   y = dropout([O_1 … O_H]·W_projᵀ + b_proj)        resid_dropout
// Backward (given dy):
//   dO = c_proj.Backward(resid_dropout.Backward(dy))
//   dQ, dK, dV = the attention's backward (dK, dV summed over each group's query heads), RoPE's inverse rotation on dQ, dK
//   dx = c_attn.Backward([dQ | dK | dV])              (one GEMM for the three, as the forward)
// The heads are read in place from the packed [B, L, W] rows (no split, no transpose) unless RoPE needs them
// rotated; the flash (memory-efficient) path runs unless the weights are asked for.
// Incremental decoding: Infer(x, cache) appends the new positions' K and V to a KvCache (after RoPE at offset
// = cache.Length), and the new queries attend over every cached position: the rows of the full causal pass.
namespace NeuralPrimitives;

/// <summary>
/// Causal self-attention with a fused query/key/value projection (nanoGPT's <c>CausalSelfAttention</c>): children
/// <c>c_attn</c> [(H + 2G)·hd, C], <c>c_proj</c> [C, C] and <c>resid_dropout</c>; optional grouped-query heads and rotary positions.
/// </summary>
/// <remarks>
/// <see cref="Forward"/>/<see cref="Backward"/> belong to one thread at a time (module-owned results, valid until the next call).
/// <see cref="Infer(Tensor{T})"/> and <see cref="Infer(Tensor{T}, KvCache{T}?, Tensor{T}?)"/> keep nothing in the module
/// and may run on several threads at once; a <see cref="KvCache{T}"/> is the caller's state.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class GptAttention<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private sealed class Workspace
    {
        public readonly AttentionEngine<T> Engine = new();
        public readonly TensorBuffer<T> Context = new(), QHeads = new(), KHeads = new(), DPacked = new(), DQHeads = new(), DKHeads = new();
    }

    private readonly Workspace _train = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<Workspace> _inferPool = new();
    private Tensor<T> _qkv = null!;
    private int _batch, _length;

    /// <summary>Creates the layer with nanoGPT's initialisation: weights N(0, 0.02), c_proj N(0, 0.02/√(2·<paramref name="nLayer"/>)), biases 0.</summary>
    /// <param name="nEmbd">C (≥ 1, divisible by <paramref name="nHead"/>).</param>
    /// <param name="nHead">H, query heads.</param>
    /// <param name="nKVHead">G, key/value heads dividing H (H: ordinary multi-head attention).</param>
    /// <param name="nLayer">Blocks in the model (scales the c_proj initialisation).</param>
    /// <param name="bias">Whether c_attn and c_proj have biases.</param>
    /// <param name="dropout">Dropout probability on the attention weights and the output, in [0, 1) (training mode only).</param>
    /// <param name="rotary">Rotary embedding of width C/H applied to queries and keys, or null (learned positions elsewhere).</param>
    /// <param name="rng">Random source for initialisation and dropout; <see cref="Rng.Default"/> when null.</param>
    public GptAttention(int nEmbd, int nHead, int nKVHead, int nLayer, bool bias = true, double dropout = 0, RotaryEmbedding<T>? rotary = null, Rng? rng = null)
    {
        Guard.Positive(nLayer);
        int hd = GroupedHeads.HeadDim(nEmbd, nHead, nKVHead, dropout, rotary, nameof(nEmbd), nameof(nHead), nameof(nKVHead));
        rng ??= Rng.Default;
        (NEmbd, NHead, NKVHead, HeadDim, Dropout, Rotary) = (nEmbd, nHead, nKVHead, hd, dropout, rotary);
        CAttn = RegisterModule("c_attn", new Linear<T>(nEmbd, (nHead + 2 * nKVHead) * hd, bias, rng));
        CProj = RegisterModule("c_proj", new Linear<T>(nEmbd, nEmbd, bias, rng));
        ResidDropout = RegisterModule("resid_dropout", new Dropout<T>(dropout, rng));
        GptInit.Linear(CAttn, rng, 0.02);
        GptInit.Linear(CProj, rng, 0.02 / Math.Sqrt(2.0 * nLayer));
        DropoutRng = new Rng(rng.NextUInt64());
    }

    /// <summary>C.</summary>
    public int NEmbd { get; }

    /// <summary>H, the query heads.</summary>
    public int NHead { get; }

    /// <summary>G, the key/value heads.</summary>
    public int NKVHead { get; }

    /// <summary>hd = C / H.</summary>
    public int HeadDim { get; }

    /// <summary>Dropout probability on the attention weights and the output (training mode).</summary>
    public double Dropout { get; }

    /// <summary>The rotary embedding, or null.</summary>
    public RotaryEmbedding<T>? Rotary { get; }

    /// <summary><c>c_attn</c>: C → (H + 2G)·hd, the fused [Q | K | V] projection.</summary>
    public Linear<T> CAttn { get; }

    /// <summary><c>c_proj</c>: C → C, the output projection.</summary>
    public Linear<T> CProj { get; }

    /// <summary><c>resid_dropout</c>, after c_proj.</summary>
    public Dropout<T> ResidDropout { get; }

    /// <summary>The random source of the attention-weight dropout masks.</summary>
    public Rng DropoutRng { get; set; }

    /// <summary>A cache for decoding <paramref name="batch"/> sequences of up to <paramref name="capacity"/> positions with this layer.</summary>
    /// <param name="batch">Sequences decoded together.</param>
    /// <param name="capacity">Most positions (prompt plus generated).</param>
    public KvCache<T> CreateCache(int batch, int capacity) => new(batch, NKVHead, HeadDim, capacity);

    /// <summary>Training forward over whole sequences (causal).</summary>
    /// <param name="input">x [B, L, C].</param>
    /// <returns>y [B, L, C] (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        var (b, l) = CheckInput(input, nameof(input));
        var qkv = CAttn.Forward(input);
        var context = Attend(_train, qkv, b, l, null, Training && Dropout > 0, false);
        var output = ResidDropout.Forward(CProj.Forward(context));
        (_qkv, _batch, _length) = (qkv, b, l);
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates c_attn's and c_proj's gradients and returns ∂L/∂x (module-owned).</summary>
    /// <param name="dOutput">∂L/∂y [B, L, C].</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var ws = _train;
        var engine = ws.Engine;
        var dContext = CProj.Backward(ResidDropout.Backward(dOutput));   // checks dOutput's shape
        int b = _batch, l = _length, qw = NHead * HeadDim;
        var dPacked = ws.DPacked.Get(_qkv.Lengths);
        if (Rotary is null)
            engine.Backward(dContext, dPacked, dPacked, dPacked, null);   // dQ, dK, dV written into their columns
        else
        {
            var dQHeads = ws.DQHeads.Get(engine.Q.Lengths);
            var dKHeads = ws.DKHeads.Get(engine.K.Lengths);
            engine.Backward(dContext, dQHeads, dKHeads, dPacked, null);
            // RoPE's backward is the inverse rotation; then back from heads [B, heads, L, hd] into the packed columns.
            Rotary.Apply(dQHeads, dQHeads, 0, inverse: true);
            Rotary.Apply(dKHeads, dKHeads, 0, inverse: true);
            CopyHeads(dQHeads.AsReadOnlySpan(), HeadLayout.Dense(NHead, l, HeadDim), dPacked.AsSpan(), Packed(b, l, 0), b, NHead, l, 0);
            CopyHeads(dKHeads.AsReadOnlySpan(), HeadLayout.Dense(NKVHead, l, HeadDim), dPacked.AsSpan(), Packed(b, l, qw), b, NKVHead, l, 0);
        }
        var dInput = CAttn.Backward(dPacked);
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <summary>Inference over whole sequences (causal, no dropout, no cache): a new tensor, thread-safe.</summary>
    /// <param name="input">x [B, L, C].</param>
    public Tensor<T> Infer(Tensor<T> input) => Infer(input, null, null);

    /// <summary>
    /// Inference with an optional KV cache and the attention weights: appends the new positions' keys and values to
    /// <paramref name="cache"/> (RoPE at offset <see cref="KvCache{T}.Length"/>) and attends causally over every cached position.
    /// Thread-safe with respect to the module.
    /// </summary>
    /// <param name="input">x [B, Lnew, C]: the next positions.</param>
    /// <param name="cache">The caller's cache (batch B, G heads of width hd), or null for a whole sequence from position 0.</param>
    /// <param name="weights">Null, or a destination [B, H, Lnew, Lk] for the attention weights (Lk = cached + new positions); then the exact path runs.</param>
    /// <returns>y [B, Lnew, C] (a new tensor).</returns>
    public Tensor<T> Infer(Tensor<T> input, KvCache<T>? cache, Tensor<T>? weights = null)
    {
        var (b, l) = CheckInput(input, nameof(input));
        if (cache is not null) GroupedHeads.CheckCache(cache, b, NKVHead, HeadDim, l);
        if (weights is not null)
        {
            ReadOnlySpan<nint> expected = [b, NHead, l, (cache?.Length ?? 0) + l];
            Guard.Shape(weights, expected, nameof(weights));
        }
        var qkv = CAttn.Infer(input);
        var ws = _inferPool.TryTake(out var pooled) ? pooled : new Workspace();
        try
        {
            var context = Attend(ws, qkv, b, l, cache, false, weights is not null);
            if (weights is not null) ws.Engine.Weights!.AsReadOnlySpan().CopyTo(weights.AsSpan());
            return CProj.Infer(context);
        }
        finally
        {
            _inferPool.Add(ws);
        }
    }

    private (int B, int L) CheckInput(Tensor<T> input, string name)
    {
        ArgumentNullException.ThrowIfNull(input, name);
        if (input.Rank != 3 || input.Lengths[0] < 1 || input.Lengths[1] < 1 || input.Lengths[2] != NEmbd)
            throw new ArgumentException($"{name} must be [B, L, C] with C = {NEmbd} and B, L ≥ 1, got shape {Shapes.Format(input.Lengths)}.", name);
        return ((int)input.Lengths[0], (int)input.Lengths[1]);
    }

    /// <summary>Head columns starting at <paramref name="start"/> of the packed [B, L, W] rows.</summary>
    private HeadLayout Packed(int b, int l, int start) => HeadLayout.Sequence(true, b, l, (NHead + 2 * NKVHead) * HeadDim, HeadDim, start);

    /// <summary>RoPE, the cache update and the attention, from the packed rows into the workspace's context [B, L, C].</summary>
    private Tensor<T> Attend(Workspace ws, Tensor<T> qkv, int b, int l, KvCache<T>? cache, bool dropout, bool needWeights)
    {
        int h = NHead, g = NKVHead, hd = HeadDim, qw = h * hd, kw = g * hd;
        int offset = cache?.Length ?? 0, keys = offset + l;
        var engine = ws.Engine;
        Span<nint> shape = stackalloc nint[4];
        if (Rotary is null)
        {
            (engine.Q, engine.QLayout) = (qkv, Packed(b, l, 0));
            (engine.K, engine.KLayout) = (qkv, Packed(b, l, qw));
        }
        else
        {
            engine.Q = RotatedHeads(qkv, ws.QHeads, b, l, h, 0, offset, shape);
            engine.K = RotatedHeads(qkv, ws.KHeads, b, l, g, qw, offset, shape);
            engine.QLayout = HeadLayout.Dense(h, l, hd);
            engine.KLayout = HeadLayout.Dense(g, l, hd);
        }
        (engine.V, engine.VLayout) = (qkv, Packed(b, l, qw + kw));
        GroupedHeads.Prepare(engine, cache, b, h, g, l, hd, isCausal: true, default, dropout ? Dropout : 0, DropoutRng);   // the cache append, sizes, causal structure
        (shape[0], shape[1], shape[2]) = (b, l, qw);
        engine.O = ws.Context.Get(shape[..3]);
        engine.OLayout = HeadLayout.Sequence(true, b, l, qw, hd);
        (shape[0], shape[1], shape[2], shape[3]) = (b, h, l, keys);
        engine.Forward(needWeights, shape);
        cache?.Advance(l);
        return engine.O;
    }

    /// <summary>The heads starting at column <paramref name="start"/> of the packed rows, as [B, heads, L, hd], rotated at positions offset + t.</summary>
    private Tensor<T> RotatedHeads(Tensor<T> qkv, TensorBuffer<T> buffer, int b, int l, int heads, int start, int offset, Span<nint> shape)
    {
        (shape[0], shape[1], shape[2], shape[3]) = (b, heads, l, HeadDim);
        var dense = buffer.Get(shape);
        CopyHeads(qkv.AsReadOnlySpan(), Packed(b, l, start), dense.AsSpan(), HeadLayout.Dense(heads, l, HeadDim), b, heads, l, 0);
        Rotary!.Apply(dense, dense, offset);
        return dense;
    }

    /// <summary>Copies rows 0…l−1 of every head (width hd) from one layout to rows offset… of another.</summary>
    private void CopyHeads(ReadOnlySpan<T> src, HeadLayout from, Span<T> dst, HeadLayout to, int b, int heads, int l, int offset) =>
        HeadLayout.Copy(src, from, dst, to, b, heads, l, HeadDim, offset);
}
