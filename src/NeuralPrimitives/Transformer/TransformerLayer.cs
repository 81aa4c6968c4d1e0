// The part the transformer encoder and decoder layers share (TransformerEncoderLayer.cs, TransformerDecoderLayer.cs,
// whose headers hold the equations): the sizes, the children with PyTorch's names, and the attention calls.
//
// Sublayer k is wrapped by norm{k} and dropout{k}:
//   encoder layer:  1 = self-attention (self_attn),  2 = feed-forward (linear1, dropout, linear2)
//   decoder layer:  1 = self-attention (self_attn),  2 = cross-attention (multihead_attn),  3 = feed-forward
// Registration follows PyTorch's state_dict order, the attributes in the order its __init__ assigns them:
//   encoder layer:  self_attn,                 linear1, dropout, linear2, norm1, norm2,        dropout1, dropout2
//   decoder layer:  self_attn, multihead_attn, linear1, dropout, linear2, norm1, norm2, norm3, dropout1, dropout2, dropout3
// The decoder's cross-attention sublayer (multihead_attn, norm3, dropout3) falls between the shared children, so this
// constructor registers it too when asked (the decoder layer exposes it). Random draws go in the same order: the
// attentions initialise from rng itself, then the feed-forward network and each dropout get a generator split off it.
namespace NeuralPrimitives;

/// <summary>
/// Base of <see cref="TransformerEncoderLayer{T}"/> and <see cref="TransformerDecoderLayer{T}"/>: the sizes, the
/// self-attention <c>self_attn</c>, the feed-forward network (children <c>linear1</c>, <c>dropout</c>, <c>linear2</c>) and the
/// LayerNorms <c>norm1</c>, <c>norm2</c> and dropouts <c>dropout1</c>, <c>dropout2</c> around the first two sublayers, with PyTorch's names.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class TransformerLayer<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>
    /// Checks the sizes and registers the children in PyTorch's order (see the file header); with <c>crossAttention</c> also
    /// the decoder's cross-attention sublayer <c>multihead_attn</c>, <c>norm3</c>, <c>dropout3</c>.
    /// </summary>
    private protected TransformerLayer(int dModel, int nhead, int dimFeedforward, double dropout, FeedForwardActivation activation,
        double layerNormEps, bool batchFirst, bool normFirst, bool bias, Rng? rng, bool crossAttention)
    {
        TransformerChecks.Layer(dModel, nhead, dimFeedforward, dropout);
        var random = rng ?? Rng.Default;
        (DModel, NHead, BatchFirst, NormFirst) = (dModel, nhead, batchFirst, normFirst);
        MultiheadAttention<T> Attention(string name) =>
            RegisterModule(name, new MultiheadAttention<T>(dModel, nhead, dropout, bias, batchFirst: batchFirst, rng: random));
        LayerNorm<T> Norm(string name) => RegisterModule(name, new LayerNorm<T>(dModel, layerNormEps, bias: bias));
        Dropout<T> Drop(string name) => RegisterModule(name, new Dropout<T>(dropout, new Rng(random.NextUInt64())));

        SelfAttn = Attention("self_attn");
        var crossAttn = crossAttention ? Attention("multihead_attn") : null;
        FeedForward = new FeedForward<T>(dModel, dimFeedforward, activation, dropout, bias, new Rng(random.NextUInt64()));
        foreach (var (name, child) in FeedForward.NamedChildren()) RegisterModule(name, child);
        Norm1 = Norm("norm1");
        Norm2 = Norm("norm2");
        var norm3 = crossAttention ? Norm("norm3") : null;
        Dropout1 = Drop("dropout1");
        Dropout2 = Drop("dropout2");
        if (crossAttention) CrossSublayer = (crossAttn!, norm3!, Drop("dropout3"));
    }

    /// <summary>The decoder's cross-attention sublayer (<c>multihead_attn</c>, <c>norm3</c>, <c>dropout3</c>), or null in an encoder layer.</summary>
    private protected (MultiheadAttention<T> Attention, LayerNorm<T> Norm, Dropout<T> Dropout)? CrossSublayer { get; }

    /// <summary>E.</summary>
    public int DModel { get; }

    /// <summary>H, the attention heads.</summary>
    public int NHead { get; }

    /// <summary>Whether sequences are [N, ·, E].</summary>
    public bool BatchFirst { get; }

    /// <summary>Whether the layer is pre-norm (LayerNorm before each sublayer instead of after the residual sum).</summary>
    public bool NormFirst { get; }

    /// <summary>The self-attention <c>self_attn</c> (over the source in an encoder layer, the masked one over the target in a decoder layer).</summary>
    public MultiheadAttention<T> SelfAttn { get; }

    /// <summary>The feed-forward network; its children <c>linear1</c>, <c>dropout</c>, <c>linear2</c> are registered as this layer's own (PyTorch's keys).</summary>
    public FeedForward<T> FeedForward { get; }

    /// <summary><c>norm1</c>, around the self-attention.</summary>
    public LayerNorm<T> Norm1 { get; }

    /// <summary><c>norm2</c>, around the second sublayer: the encoder layer's feed-forward network, the decoder layer's cross-attention.</summary>
    public LayerNorm<T> Norm2 { get; }

    /// <summary><c>dropout1</c>, on the self-attention's output.</summary>
    public Dropout<T> Dropout1 { get; }

    /// <summary><c>dropout2</c>, on the second sublayer's output: the encoder layer's feed-forward network, the decoder layer's cross-attention.</summary>
    public Dropout<T> Dropout2 { get; }

    /// <summary>
    /// <paramref name="attention"/>(query, keyValue, keyValue): the training Forward (caching) or the thread-safe Infer, without
    /// the weights. Self-attention passes one tensor as both; cross-attention the target as query and the memory as key and value.
    /// </summary>
    private protected static Tensor<T> Attend(MultiheadAttention<T> attention, Tensor<T> query, Tensor<T> keyValue, AttentionMask<T>? mask,
        Tensor<bool>? keyPadding, bool isCausal, bool training) =>
        (training
            ? attention.Forward(query, keyValue, keyValue, keyPadding, needWeights: false, attnMask: mask, isCausal: isCausal)
            : attention.Infer(query, keyValue, keyValue, keyPadding, needWeights: false, attnMask: mask, isCausal: isCausal)).Output;
}
