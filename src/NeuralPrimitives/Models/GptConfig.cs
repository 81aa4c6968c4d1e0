// The configuration of a GPT-style decoder (nanoGPT's GPTConfig, with the names kept):
//
//   VocabSize V     tokens; rows of the token embedding wte [V, C] and of the tied LM head
//   BlockSize Lmax  the context length: positions 0 … Lmax − 1 (rows of wpe [Lmax, C]; the KV cache capacity)
//   NLayer N        transformer blocks
//   NHead H         query heads of width hd = C / H
//   NEmbd C         the residual stream's width
//   NKVHead G       key/value heads (grouped-query attention, G | H); 0 means G = H (nanoGPT)
//   Positions       learned absolute positions (wpe, nanoGPT/GPT-2) or rotary (RoPE on q and k, no wpe)
//   Activation      the MLP's non-linearity: exact GELU (nanoGPT's nn.GELU()), tanh GELU (GPT-2's gelu_new), or ReLU
//   Dropout p       on the embeddings, the attention weights and both residual branches (training only)
//   Bias            whether Linear and LayerNorm layers have biases (nanoGPT's bias flag)
//   LayerNormEps ε  of every LayerNorm (1e-5, PyTorch's and GPT-2's layer_norm_epsilon)
namespace NeuralPrimitives;

/// <summary>How a <see cref="Gpt{T}"/> encodes positions.</summary>
public enum GptPositions
{
    /// <summary>A learned absolute position embedding <c>transformer.wpe</c> [BlockSize, C] added to the token embedding (nanoGPT, GPT-2).</summary>
    Learned,

    /// <summary>Rotary position embedding (RoPE, rotate-half convention, base 10000) on every layer's queries and keys; no <c>wpe</c>.</summary>
    Rotary,
}

/// <summary>
/// The size and options of a <see cref="Gpt{T}"/>, with nanoGPT's <c>GPTConfig</c> names
/// (<c>vocab_size</c>, <c>block_size</c>, <c>n_layer</c>, <c>n_head</c>, <c>n_embd</c>, <c>dropout</c>, <c>bias</c>).
/// </summary>
/// <param name="VocabSize">V ≥ 1: tokens (nanoGPT's <c>vocab_size</c>).</param>
/// <param name="BlockSize">The context length ≥ 1: the most positions a sequence may have (<c>block_size</c>; GPT-2's <c>n_positions</c>).</param>
/// <param name="NLayer">Transformer blocks ≥ 1 (<c>n_layer</c>).</param>
/// <param name="NHead">Query heads ≥ 1, dividing <paramref name="NEmbd"/> (<c>n_head</c>).</param>
/// <param name="NEmbd">Width C of the residual stream ≥ 1 (<c>n_embd</c>).</param>
public sealed record GptConfig(int VocabSize, int BlockSize, int NLayer, int NHead, int NEmbd)
{
    /// <summary>Dropout probability in [0, 1) on the embeddings, the attention weights and the residual branches (training mode only). nanoGPT's default for fine-tuning is 0.</summary>
    public double Dropout { get; init; }

    /// <summary>Whether the Linear and LayerNorm layers have biases (default true, as GPT-2; nanoGPT's <c>bias</c>).</summary>
    public bool Bias { get; init; } = true;

    /// <summary>Learned absolute positions (default, nanoGPT and GPT-2) or rotary ones.</summary>
    public GptPositions Positions { get; init; } = GptPositions.Learned;

    /// <summary>Key/value heads for grouped-query attention, dividing <see cref="NHead"/>; 0 (the default) means <see cref="NHead"/> (ordinary multi-head attention).</summary>
    public int NKVHead { get; init; }

    /// <summary>The MLP's non-linearity: <see cref="FeedForwardActivation.Gelu"/> (default: nanoGPT's exact <c>nn.GELU()</c>), <see cref="FeedForwardActivation.GeluTanh"/> (GPT-2) or <see cref="FeedForwardActivation.Relu"/>.</summary>
    public FeedForwardActivation Activation { get; init; } = FeedForwardActivation.Gelu;

    /// <summary>ε of every LayerNorm (default 1e-5).</summary>
    public double LayerNormEps { get; init; } = 1e-5;

    /// <summary>The key/value heads actually used: <see cref="NKVHead"/>, or <see cref="NHead"/> when it is 0.</summary>
    public int KVHeads => NKVHead == 0 ? NHead : NKVHead;

    /// <summary>The width of one head, <c>NEmbd / NHead</c>.</summary>
    public int HeadDim => NHead > 0 ? NEmbd / NHead : 0;

    /// <summary>Throws an <see cref="ArgumentException"/> (or <see cref="ArgumentOutOfRangeException"/>) naming the first invalid setting, with the expected and actual value.</summary>
    /// <param name="paramName">The argument name to report (the caller's parameter holding this config).</param>
    public void Validate(string paramName = "config")
    {
        void Positive(int value, string name)
        {
            if (value < 1) throw new ArgumentOutOfRangeException(paramName, value, $"{paramName}.{name} must be ≥ 1, got {value}.");
        }
        Positive(VocabSize, nameof(VocabSize));
        Positive(BlockSize, nameof(BlockSize));
        Positive(NLayer, nameof(NLayer));
        Positive(NHead, nameof(NHead));
        Positive(NEmbd, nameof(NEmbd));
        if (NEmbd % NHead != 0)
            throw new ArgumentException($"{paramName}.NEmbd must be divisible by NHead (each head has width NEmbd / NHead): got NEmbd = {NEmbd}, NHead = {NHead}.", paramName);
        if (NKVHead < 0 || (NKVHead > 0 && NHead % NKVHead != 0))
            throw new ArgumentException($"{paramName}.NKVHead must be 0 (= NHead) or divide NHead = {NHead} (each key/value head serves a group of query heads), got {NKVHead}.", paramName);
        if (Positions == GptPositions.Rotary && HeadDim % 2 != 0)
            throw new ArgumentException($"{paramName}: rotary positions rotate pairs, so the head width NEmbd / NHead must be even, got {HeadDim}.", paramName);
        if (!Enum.IsDefined(Positions))
            throw new ArgumentOutOfRangeException(paramName, Positions, $"{paramName}.Positions must be Learned or Rotary, got {(int)Positions}.");
        if (Activation is not (FeedForwardActivation.Gelu or FeedForwardActivation.GeluTanh or FeedForwardActivation.Relu))
            throw new ArgumentOutOfRangeException(paramName, Activation, $"{paramName}.Activation must be Gelu, GeluTanh or Relu (the GPT MLP has two projections, c_fc and c_proj), got {Activation}.");
        if (!(Dropout >= 0 && Dropout < 1))
            throw new ArgumentOutOfRangeException(paramName, Dropout, $"{paramName}.Dropout must be in [0, 1), got {Dropout}.");
        if (!(LayerNormEps > 0))
            throw new ArgumentOutOfRangeException(paramName, LayerNormEps, $"{paramName}.LayerNormEps must be > 0, got {LayerNormEps}.");
    }
}
