// One transformer decoder layer (Vaswani et al. 2017, §3.1; PyTorch's nn.TransformerDecoderLayer): masked
// self-attention over the target, cross-attention from the target to the encoder's output (the memory), then
// the position-wise feed-forward network, each wrapped in a residual connection and a LayerNorm.
//
// Shapes (E = dModel, H = nhead; T target length, S memory length, N batch):
//   tgt, output [T, N, E]   memory [S, N, E]      ([N, ·, E] with batchFirst; [·, E] unbatched)
//   tgtMask [T, T] or [N·H, T, T]    memoryMask [T, S] or [N·H, T, S]    (boolean with its convention, or additive)
//   tgtKeyPaddingMask [N, T]         memoryKeyPaddingMask [N, S]          (true = ignore that key)
// Forward, post-norm (normFirst = false, PyTorch's default):
//   x₁ = norm1(x  + dropout1(SA(x)))          SA(x)    = self_attn(x, x, x, tgtMask, tgtKeyPaddingMask)
//   x₂ = norm2(x₁ + dropout2(CA(x₁, m)))      CA(x, m) = multihead_attn(x, m, m, memoryMask, memoryKeyPaddingMask)
//   y  = norm3(x₂ + dropout3(FF(x₂)))         FF(x)    = linear2(dropout(act(linear1(x))))
// Forward, pre-norm (normFirst = true):
//   x₁ = x  + dropout1(SA(norm1(x)))
//   x₂ = x₁ + dropout2(CA(norm2(x₁), m))      (the memory is not normalised here: the encoder's final norm did that)
//   y  = x₂ + dropout3(FF(norm3(x₂)))
// Backward (the residual's gradient is the identity; CA' gives the gradient for its query and for the memory, which
// is both its key and its value):
//   post-norm:  dh₃ = norm3'(dy)    dx₂ = dh₃ + FF'(dropout3'(dh₃))
//               dh₂ = norm2'(dx₂)   (dq, dm) = CA'(dropout2'(dh₂))    dx₁ = dh₂ + dq
//               dh₁ = norm1'(dx₁)   dx = dh₁ + SA'(dropout1'(dh₁))
//   pre-norm:   dx₂ = dy + norm3'(FF'(dropout3'(dy)))
//               (dq, dm) = CA'(dropout2'(dx₂))    dx₁ = dx₂ + norm2'(dq)
//               dx = dx₁ + norm1'(SA'(dropout1'(dx₁)))
//   d(memory) = dm (the layer's only use of the memory).
//
// Encoder vs decoder: the encoder reads a whole source at once and every position may attend to every other; the
// decoder produces the target one token at a time, so in training (where the whole target is fed at once, "teacher
// forcing") position t must not see the tokens after t, or it would learn to copy the answer instead of predicting
// it. That is the causal tgtMask (isCausal / tgtIsCausal): query t sees keys ≤ t, and the output at t depends only
// on tgt[0..t] and the memory. The cross-attention is the decoder's only view of the source: every target position
// may read every memory position (except padding: memoryKeyPaddingMask).
// Residuals and LayerNorm: see TransformerEncoderLayer.cs.
namespace NeuralPrimitives;

/// <summary>The gradients of a transformer decoder (layer or stack) with respect to its two inputs.</summary>
/// <param name="DTgt">∂L/∂tgt, shaped like tgt.</param>
/// <param name="DMemory">∂L/∂memory, shaped like memory (summed over every layer that reads it).</param>
/// <typeparam name="T">Element type.</typeparam>
public readonly record struct TransformerDecoderGradients<T>(Tensor<T> DTgt, Tensor<T> DMemory);

/// <summary>
/// A transformer decoder layer (PyTorch's <c>nn.TransformerDecoderLayer</c>): masked self-attention, cross-attention to the
/// encoder's output, then a feed-forward network, each inside a residual connection with a LayerNorm (post-norm by
/// default, pre-norm with <c>normFirst</c>). Children, with PyTorch's names: <c>self_attn</c>, <c>multihead_attn</c>,
/// <c>linear1</c>, <c>dropout</c>, <c>linear2</c>, <c>norm1</c>, <c>norm2</c>, <c>norm3</c>, <c>dropout1</c>..<c>dropout3</c>.
/// </summary>
/// <remarks>
/// <para>Forward/Backward belong to one thread at a time; their results are module-owned buffers valid until the next
/// call, and the inputs are kept by reference until Backward. <see cref="Infer"/> is thread-safe and returns a new tensor.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class TransformerDecoderLayer<T> : TransformerLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _sum1 = new(), _sum2 = new(), _sum3 = new(), _dSum2 = new(), _dSum1 = new(), _dTgt = new();
    private Tensor<T>? _tgt, _memory;

    /// <summary>Creates the layer with PyTorch's defaults and initialisation (MultiheadAttention's and Linear's).</summary>
    /// <param name="dModel">E, the number of features of every position (≥ 1, divisible by <paramref name="nhead"/>).</param>
    /// <param name="nhead">H, the attention heads of both attentions (≥ 1).</param>
    /// <param name="dimFeedforward">The feed-forward network's hidden size (default 2048, as PyTorch).</param>
    /// <param name="dropout">Dropout probability on the attention weights, the feed-forward hidden layer and the three sublayer outputs (default 0.1).</param>
    /// <param name="activation">The feed-forward non-linearity (default ReLU).</param>
    /// <param name="layerNormEps">The LayerNorms' ε (default 1e-5).</param>
    /// <param name="batchFirst">Sequences as [N, ·, E] instead of [·, N, E].</param>
    /// <param name="normFirst">Pre-norm: LayerNorm before each sublayer instead of after the residual sum.</param>
    /// <param name="bias">Whether the projections and the LayerNorms have biases (default true).</param>
    /// <param name="rng">Random source for initialisation and, split off it, the dropout masks; <see cref="Rng.Default"/> when null.</param>
    public TransformerDecoderLayer(int dModel, int nhead, int dimFeedforward = 2048, double dropout = 0.1,
        FeedForwardActivation activation = FeedForwardActivation.Relu, double layerNormEps = 1e-5, bool batchFirst = false,
        bool normFirst = false, bool bias = true, Rng? rng = null)
        // PyTorch's state_dict order: self_attn, multihead_attn, linear1, dropout, linear2, norm1..norm3, dropout1..dropout3.
        : base(dModel, nhead, dimFeedforward, dropout, activation, layerNormEps, batchFirst, normFirst, bias, rng, crossAttention: true) =>
        (MultiheadAttn, Norm3, Dropout3) = CrossSublayer!.Value;

    /// <summary>The cross-attention from the target to the memory, <c>multihead_attn</c>.</summary>
    public MultiheadAttention<T> MultiheadAttn { get; }

    /// <summary><c>norm3</c>, around the feed-forward network.</summary>
    public LayerNorm<T> Norm3 { get; }

    /// <summary><c>dropout3</c>, on the feed-forward network's output.</summary>
    public Dropout<T> Dropout3 { get; }

    /// <summary>Training forward (PyTorch's <c>forward(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_is_causal, memory_is_causal)</c>).</summary>
    /// <param name="tgt">[T, N, E] ([N, T, E] with batchFirst, [T, E] unbatched).</param>
    /// <param name="memory">[S, N, E], the encoder's output (batched like tgt).</param>
    /// <param name="tgtMask">[T, T] or [N·H, T, T], on the self-attention: boolean (<see cref="AttentionMask{T}.Ignore"/> is PyTorch's convention) or additive.</param>
    /// <param name="memoryMask">[T, S] or [N·H, T, S], on the cross-attention.</param>
    /// <param name="tgtKeyPaddingMask">[N, T]: true = ignore that target position as a key.</param>
    /// <param name="memoryKeyPaddingMask">[N, S]: true = ignore that memory position.</param>
    /// <param name="tgtIsCausal">Apply the causal mask on the self-attention (position t sees targets ≤ t), combined with tgtMask.</param>
    /// <param name="memoryIsCausal">Apply the causal mask on the cross-attention (target t sees memory ≤ t).</param>
    /// <returns>The output shaped like tgt (module-owned, valid until the next Forward).</returns>
    public Tensor<T> Forward(Tensor<T> tgt, Tensor<T> memory, AttentionMask<T>? tgtMask = null, AttentionMask<T>? memoryMask = null,
        Tensor<bool>? tgtKeyPaddingMask = null, Tensor<bool>? memoryKeyPaddingMask = null, bool tgtIsCausal = false, bool memoryIsCausal = false)
    {
        using var pass = BeginForward();
        var output = Compute(tgt, memory, new(tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal, memoryIsCausal), training: true);
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Inference forward (no dropout, nothing cached): a new tensor; safe to call from several threads at once.</summary>
    /// <param name="tgt">As for <see cref="Forward"/>.</param>
    /// <param name="memory">As for <see cref="Forward"/>.</param>
    /// <param name="tgtMask">As for <see cref="Forward"/>.</param>
    /// <param name="memoryMask">As for <see cref="Forward"/>.</param>
    /// <param name="tgtKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="memoryKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="tgtIsCausal">As for <see cref="Forward"/>.</param>
    /// <param name="memoryIsCausal">As for <see cref="Forward"/>.</param>
    public Tensor<T> Infer(Tensor<T> tgt, Tensor<T> memory, AttentionMask<T>? tgtMask = null, AttentionMask<T>? memoryMask = null,
        Tensor<bool>? tgtKeyPaddingMask = null, Tensor<bool>? memoryKeyPaddingMask = null, bool tgtIsCausal = false, bool memoryIsCausal = false) =>
        Compute(tgt, memory, new(tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal, memoryIsCausal), training: false);

    /// <summary>The equations of the header; training calls each child's Forward (caching), inference its Infer.</summary>
    private Tensor<T> Compute(Tensor<T> tgt, Tensor<T> memory, in DecoderMasks<T> masks, bool training)
    {
        var size = TransformerChecks.Sequence(tgt, DModel, BatchFirst, nameof(tgt));
        var memorySize = TransformerChecks.Sequence(memory, DModel, BatchFirst, nameof(memory));
        TransformerChecks.SameBatch(size, memorySize, nameof(tgt), nameof(memory), memory.Lengths);
        masks.Check(size, memorySize, NHead);
        var (sum1, sum2, sum3) = training ? (_sum1, _sum2, _sum3) : (null, null, null);
        var x = tgt;
        Tensor<T> x1, x2, y;
        if (NormFirst)
        {
            var a = TransformerChecks.Run(Norm1, x, training);
            x1 = TransformerChecks.Residual(x, TransformerChecks.Drop(Dropout1, SelfAttention(a, masks, training), training), sum1);                  // x₁ = x + SA(norm1(x))
            var b = TransformerChecks.Run(Norm2, x1, training);
            x2 = TransformerChecks.Residual(x1, TransformerChecks.Drop(Dropout2, CrossAttention(b, memory, masks, training), training), sum2);        // x₂ = x₁ + CA(norm2(x₁), m)
            var c = TransformerChecks.Run(Norm3, x2, training);
            y = TransformerChecks.Residual(x2, TransformerChecks.Drop(Dropout3, TransformerChecks.Run(FeedForward, c, training), training), sum3);    // y = x₂ + FF(norm3(x₂))
        }
        else
        {
            x1 = TransformerChecks.Run(Norm1, TransformerChecks.Residual(x, TransformerChecks.Drop(Dropout1, SelfAttention(x, masks, training), training), sum1), training);            // x₁ = norm1(x + SA(x))
            x2 = TransformerChecks.Run(Norm2, TransformerChecks.Residual(x1, TransformerChecks.Drop(Dropout2, CrossAttention(x1, memory, masks, training), training), sum2), training);  // x₂ = norm2(x₁ + CA(x₁, m))
            y = TransformerChecks.Run(Norm3, TransformerChecks.Residual(x2, TransformerChecks.Drop(Dropout3, TransformerChecks.Run(FeedForward, x2, training), training), sum3), training); // y = norm3(x₂ + FF(x₂))
        }
        if (training) (_tgt, _memory) = (tgt, memory);
        return y;
    }

    /// <summary>SA(x) = self_attn(x, x, x) with the target's masks.</summary>
    private Tensor<T> SelfAttention(Tensor<T> x, in DecoderMasks<T> m, bool training) =>
        Attend(SelfAttn, x, x, m.Tgt, m.TgtKeyPadding, m.TgtIsCausal, training);

    /// <summary>CA(x, m) = multihead_attn(x, m, m): the target queries the memory (the memory is both key and value).</summary>
    private Tensor<T> CrossAttention(Tensor<T> x, Tensor<T> memory, in DecoderMasks<T> m, bool training) =>
        Attend(MultiheadAttn, x, memory, m.Memory, m.MemoryKeyPadding, m.MemoryIsCausal, training);

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates every parameter gradient and returns ∂L/∂tgt and ∂L/∂memory (module-owned).</summary>
    /// <param name="dOutput">∂L/∂output, shaped like tgt.</param>
    public TransformerDecoderGradients<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.SameShape(_tgt!, dOutput, nameof(dOutput));
        Tensor<T> dx;
        MultiheadAttentionGradients<T> cross;
        if (NormFirst)
        {
            var dx2 = TransformerChecks.Residual(dOutput, Norm3.Backward(FeedForward.Backward(Dropout3.Backward(dOutput))), _dSum2); // dx₂ = dy + norm3'(FF'(dropout3'(dy)))
            cross = MultiheadAttn.Backward(Dropout2.Backward(dx2));                                                                   // (dq, dm) = CA'(dropout2'(dx₂))
            var dx1 = TransformerChecks.Residual(dx2, Norm2.Backward(cross.DQuery), _dSum1);                                          // dx₁ = dx₂ + norm2'(dq)
            dx = TransformerChecks.Residual(dx1, Norm1.Backward(SelfAttn.Backward(Dropout1.Backward(dx1)).DQuery), _dTgt);            // dx = dx₁ + norm1'(SA'(dropout1'(dx₁)))
        }
        else
        {
            var dh3 = Norm3.Backward(dOutput);
            var dx2 = TransformerChecks.Residual(dh3, FeedForward.Backward(Dropout3.Backward(dh3)), _dSum2);                          // dx₂ = dh₃ + FF'(dropout3'(dh₃))
            var dh2 = Norm2.Backward(dx2);
            cross = MultiheadAttn.Backward(Dropout2.Backward(dh2));                                                                   // (dq, dm) = CA'(dropout2'(dh₂))
            var dx1 = TransformerChecks.Residual(dh2, cross.DQuery, _dSum1);                                                          // dx₁ = dh₂ + dq
            var dh1 = Norm1.Backward(dx1);
            dx = TransformerChecks.Residual(dh1, SelfAttn.Backward(Dropout1.Backward(dh1)).DQuery, _dTgt);                            // dx = dh₁ + SA'(dropout1'(dh₁))
        }
        pass.Complete(dx.AsReadOnlySpan(), "dTgt");
        return new(dx, cross.DKey!);   // the memory was key and value: its whole gradient is in DKey
    }
}

/// <summary>The masks of a decoder call, checked once against the sizes.</summary>
internal readonly record struct DecoderMasks<T>(AttentionMask<T>? Tgt, AttentionMask<T>? Memory, Tensor<bool>? TgtKeyPadding,
    Tensor<bool>? MemoryKeyPadding, bool TgtIsCausal, bool MemoryIsCausal) where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public void Check(SequenceSize tgt, SequenceSize memory, int heads)
    {
        TransformerChecks.Mask(Tgt, tgt.Batch, heads, tgt.Length, tgt.Length, "tgtMask");
        TransformerChecks.Mask(Memory, tgt.Batch, heads, tgt.Length, memory.Length, "memoryMask");
        TransformerChecks.KeyPadding(TgtKeyPadding, tgt, "tgtKeyPaddingMask");
        TransformerChecks.KeyPadding(MemoryKeyPadding, memory, "memoryKeyPaddingMask");
    }
}
