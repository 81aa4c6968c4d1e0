// Shared by the two grouped-query self-attentions (GroupedQueryAttention.cs with Hugging Face's names and separate
// q/k/v projections, Transformer/GptAttention.cs with nanoGPT's names and one fused c_attn): the head checks of the
// constructor, the check of a caller's KV cache, and the attention step after the projections, once the queries,
// keys and values (and their layouts) are on the engine:
//   with a cache:  cache[:, :, offset … offset+L) ← K, V     then attend over every cached position (keys = offset + L)
//   O_h = softmax(Q_h·K_gᵀ/√hd + M)·V_g,  g = h / (H/G),  M = the bottom-right causal mask when causal (KvCache.cs)
// Each module keeps its own projections, its own head layouts and its own public names (embedDim/numHeads/numKVHeads
// and nEmbd/nHead/nKVHead), passed here by name so the messages speak the caller's parameters.
namespace NeuralPrimitives;

internal static class GroupedHeads
{
    /// <summary>
    /// The constructor checks: dim, heads, kvHeads ≥ 1; dim divisible by heads; heads a multiple of kvHeads; dropout in [0, 1);
    /// a rotary embedding of the head width. Returns the head width hd = dim / heads.
    /// </summary>
    public static int HeadDim<T>(int dim, int heads, int kvHeads, double dropout, RotaryEmbedding<T>? rotary, string dimName, string headsName, string kvHeadsName)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.Positive(dim, dimName);
        Guard.Positive(heads, headsName);
        Guard.Positive(kvHeads, kvHeadsName);
        if (dim % heads != 0)
            throw new ArgumentException($"{dimName} must be divisible by {headsName} (each head has width {dimName}/{headsName}): got {dimName} = {dim}, {headsName} = {heads}.", dimName);
        if (heads % kvHeads != 0)
            throw new ArgumentException($"{headsName} must be a multiple of {kvHeadsName} (each key/value head serves a group of query heads): got {headsName} = {heads}, {kvHeadsName} = {kvHeads}.", kvHeadsName);
        if (!(dropout >= 0 && dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, $"dropout must be in [0, 1), got {dropout}.");
        int hd = dim / heads;
        if (rotary is not null && rotary.HeadDim != hd)
            throw new ArgumentException($"rotary must rotate vectors of the head width {hd} ({dimName} / {headsName}), got HeadDim = {rotary.HeadDim}.", nameof(rotary));
        return hd;
    }

    /// <summary>A caller's cache must be for this batch, kvHeads heads of width headDim, and have room for <paramref name="length"/> more positions.</summary>
    public static void CheckCache<T>(KvCache<T> cache, int batch, int kvHeads, int headDim, int length) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (cache.Batch != batch || cache.NumKVHeads != kvHeads || cache.HeadDim != headDim)
            throw new ArgumentException($"cache must be for batch {batch}, {kvHeads} key/value heads of width {headDim} (CreateCache), got batch {cache.Batch}, {cache.NumKVHeads} heads of width {cache.HeadDim}.", nameof(cache));
        cache.CheckRoom(length, nameof(cache));
    }

    /// <summary>
    /// With Q, K, V and their layouts on <paramref name="engine"/> (this call's L positions): appends K and V to the cache when
    /// given and points the engine at every cached position, then sets the sizes, the scale 1/√hd, the structure (bottom-right
    /// causal, or none), <paramref name="mask"/> and the dropout of the weights (a seed drawn only when <paramref name="dropout"/> &gt; 0).
    /// The caller runs <see cref="AttentionEngine{T}.Forward"/> and, after it, advances the cache.
    /// </summary>
    public static void Prepare<T>(AttentionEngine<T> engine, KvCache<T>? cache, int b, int h, int g, int l, int hd, bool isCausal,
        in MaskView<T> mask, double dropout, Rng dropoutRng) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int offset = cache?.Length ?? 0, keys = offset + l;
        if (cache is not null)
        {
            HeadLayout.Copy(engine.K.AsReadOnlySpan(), engine.KLayout, cache.Keys.AsSpan(), cache.Layout, b, g, l, hd, offset);
            HeadLayout.Copy(engine.V.AsReadOnlySpan(), engine.VLayout, cache.Values.AsSpan(), cache.Layout, b, g, l, hd, offset);
            (engine.K, engine.V, engine.KLayout, engine.VLayout) = (cache.Keys, cache.Values, cache.Layout, cache.Layout);
        }
        (engine.Batch, engine.Heads, engine.KvHeads) = (b, h, g);
        (engine.Lq, engine.Lk, engine.Dk, engine.Dv) = (l, keys, hd, hd);
        engine.Scale = T.One / T.Sqrt(T.CreateTruncating(hd));
        engine.Structure = isCausal ? StructuralMask.Create(l, keys, true, CausalAlignment.BottomRight, null, keys) : StructuralMask.None(keys);
        (engine.Mask1, engine.Mask2) = (mask, default);
        engine.DropoutP = dropout;
        engine.DropoutSeed = dropout > 0 ? dropoutRng.NextUInt64() : 0;
    }
}
