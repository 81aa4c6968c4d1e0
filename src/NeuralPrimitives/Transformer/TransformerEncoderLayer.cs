// One transformer encoder layer (Vaswani et al. 2017, §3.1; PyTorch's nn.TransformerEncoderLayer): a
// self-attention sublayer, in which every position looks at every other position of the same sequence,
// then the position-wise feed-forward sublayer (FeedForward.cs), each wrapped in a residual connection
// and a LayerNorm.
//
// Shapes (E = dModel, H = nhead, F = dimFeedforward; S source length, N batch):
//   src, output [S, N, E] ([N, S, E] with batchFirst; [S, E] unbatched)
//   srcMask [S, S] or [N·H, S, S] (boolean with its convention, or additive), srcKeyPaddingMask [N, S] (true = ignore)
// Forward, post-norm (normFirst = false, the original transformer and PyTorch's default):
//   x₁ = norm1(x  + dropout1(SA(x)))          SA(x) = self_attn(x, x, x, srcMask, srcKeyPaddingMask)
//   y  = norm2(x₁ + dropout2(FF(x₁)))         FF(x) = linear2(dropout(act(linear1(x))))
// Forward, pre-norm (normFirst = true; GPT-2 and most models since, Xiong et al. 2020):
//   x₁ = x  + dropout1(SA(norm1(x)))
//   y  = x₁ + dropout2(FF(norm2(x₁)))
// Backward (each module's Backward accumulates its own parameter gradients; the residual's gradient is the identity,
// so it is added to the gradient that went through the sublayer):
//   post-norm:  dh₂ = norm2'(dy)      dx₁ = dh₂ + FF'(dropout2'(dh₂))
//               dh₁ = norm1'(dx₁)     dx  = dh₁ + SA'(dropout1'(dh₁))
//   pre-norm:   dx₁ = dy  + norm2'(FF'(dropout2'(dy)))
//               dx  = dx₁ + norm1'(SA'(dropout1'(dx₁)))
//   (SA' is the self-attention's gradient with respect to its one input: query, key and value are the same tensor.)
//
// Why the residual connection: y = x + f(x) has ∂y/∂x = I + ∂f/∂x, so the gradient reaches the lower layers through
// the identity however deep the stack is, and a sublayer only has to learn a correction to its input.
// Why LayerNorm: the sums x + f(x) grow layer after layer; normalising each position's E features to zero mean and
// unit variance keeps every sublayer's input at one scale (per position, no batch statistics, so the same in
// training and inference). Post-norm normalises the sum, so the residual path passes through every norm; pre-norm
// normalises only the sublayer's input and leaves x + f(x) a clean identity path from the output down to the
// embedding, which trains deep stacks without a learning-rate warm-up (and needs a final norm: TransformerEncoder's norm).
// The encoder attends in both directions: the whole source is known at once, so no position is hidden from
// another (a srcMask or key padding only removes what the caller asks, such as padding).
namespace NeuralPrimitives;

/// <summary>
/// A transformer encoder layer (PyTorch's <c>nn.TransformerEncoderLayer</c>): self-attention then a feed-forward network,
/// each inside a residual connection with a LayerNorm, after the sum (post-norm, the default) or before the sublayer
/// (<c>normFirst</c>). Children, with PyTorch's names: <c>self_attn</c>, <c>linear1</c>, <c>dropout</c>, <c>linear2</c>,
/// <c>norm1</c>, <c>norm2</c>, <c>dropout1</c>, <c>dropout2</c>.
/// </summary>
/// <remarks>
/// <para>Forward/Backward belong to one thread at a time; their results are module-owned buffers valid until the next
/// call, and <c>src</c> is kept by reference until Backward. <see cref="Infer"/> is thread-safe and returns a new tensor.</para>
/// <para>A query row whose every key is masked gives zeros from the attention (PyTorch gives NaN).</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class TransformerEncoderLayer<T> : TransformerLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _sum1 = new(), _sum2 = new(), _dSum1 = new(), _dSrc = new();
    private Tensor<T>? _src;

    /// <summary>Creates the layer with PyTorch's defaults and initialisation (MultiheadAttention's and Linear's).</summary>
    /// <param name="dModel">E, the number of features of every position (≥ 1, divisible by <paramref name="nhead"/>).</param>
    /// <param name="nhead">H, the attention heads (≥ 1).</param>
    /// <param name="dimFeedforward">F, the feed-forward network's hidden size (default 2048, as PyTorch).</param>
    /// <param name="dropout">Dropout probability on the attention weights, the feed-forward hidden layer and both sublayer outputs (default 0.1).</param>
    /// <param name="activation">The feed-forward non-linearity (default ReLU; PyTorch's <c>"gelu"</c> is <see cref="FeedForwardActivation.Gelu"/>).</param>
    /// <param name="layerNormEps">The LayerNorms' ε (default 1e-5).</param>
    /// <param name="batchFirst">Sequences as [N, S, E] instead of [S, N, E].</param>
    /// <param name="normFirst">Pre-norm: LayerNorm before each sublayer instead of after the residual sum.</param>
    /// <param name="bias">Whether the projections and the LayerNorms have biases (default true; PyTorch 2.1's <c>bias</c>).</param>
    /// <param name="rng">Random source for initialisation and, split off it, the dropout masks; <see cref="Rng.Default"/> when null.</param>
    public TransformerEncoderLayer(int dModel, int nhead, int dimFeedforward = 2048, double dropout = 0.1,
        FeedForwardActivation activation = FeedForwardActivation.Relu, double layerNormEps = 1e-5, bool batchFirst = false,
        bool normFirst = false, bool bias = true, Rng? rng = null)
        // Registration order is PyTorch's state_dict order: self_attn, linear1, dropout, linear2, norm1, norm2, dropout1, dropout2.
        : base(dModel, nhead, dimFeedforward, dropout, activation, layerNormEps, batchFirst, normFirst, bias, rng, crossAttention: false) { }

    /// <summary>Training forward (PyTorch's <c>forward(src, src_mask, src_key_padding_mask, is_causal)</c>).</summary>
    /// <param name="src">[S, N, E] ([N, S, E] with batchFirst, [S, E] unbatched).</param>
    /// <param name="srcMask">[S, S] or [N·H, S, S]: boolean (<see cref="AttentionMask{T}.Ignore"/> is PyTorch's convention) or additive (a float tensor converts implicitly).</param>
    /// <param name="srcKeyPaddingMask">[N, S] ([S] unbatched): true = ignore that key (padding).</param>
    /// <param name="isCausal">Apply the causal mask (position s sees positions ≤ s); combined with srcMask when both are given.</param>
    /// <returns>The output shaped like src (module-owned, valid until the next Forward).</returns>
    public Tensor<T> Forward(Tensor<T> src, AttentionMask<T>? srcMask = null, Tensor<bool>? srcKeyPaddingMask = null, bool isCausal = false)
    {
        using var pass = BeginForward();
        var output = Compute(src, srcMask, srcKeyPaddingMask, isCausal, training: true);
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Inference forward (no dropout, nothing cached): a new tensor; safe to call from several threads at once.</summary>
    /// <param name="src">As for <see cref="Forward"/>.</param>
    /// <param name="srcMask">As for <see cref="Forward"/>.</param>
    /// <param name="srcKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="isCausal">As for <see cref="Forward"/>.</param>
    public Tensor<T> Infer(Tensor<T> src, AttentionMask<T>? srcMask = null, Tensor<bool>? srcKeyPaddingMask = null, bool isCausal = false) =>
        Compute(src, srcMask, srcKeyPaddingMask, isCausal, training: false);

    /// <summary>The equations of the header; training calls each child's Forward (caching), inference its Infer.</summary>
    private Tensor<T> Compute(Tensor<T> src, AttentionMask<T>? srcMask, Tensor<bool>? srcKeyPaddingMask, bool isCausal, bool training)
    {
        var x = src;
        var size = TransformerChecks.Sequence(x, DModel, BatchFirst, nameof(src));
        TransformerChecks.Mask(srcMask, size.Batch, NHead, size.Length, size.Length, nameof(srcMask));
        TransformerChecks.KeyPadding(srcKeyPaddingMask, size, nameof(srcKeyPaddingMask));
        var (sum1, sum2) = training ? (_sum1, _sum2) : (null, null);
        Tensor<T> x1, y;
        if (NormFirst)
        {
            var a = TransformerChecks.Run(Norm1, x, training);
            x1 = TransformerChecks.Residual(x, TransformerChecks.Drop(Dropout1, SelfAttention(a, srcMask, srcKeyPaddingMask, isCausal, training), training), sum1);          // x₁ = x + SA(norm1(x))
            var b = TransformerChecks.Run(Norm2, x1, training);
            y = TransformerChecks.Residual(x1, TransformerChecks.Drop(Dropout2, TransformerChecks.Run(FeedForward, b, training), training), sum2);                        // y = x₁ + FF(norm2(x₁))
        }
        else
        {
            x1 = TransformerChecks.Run(Norm1, TransformerChecks.Residual(x, TransformerChecks.Drop(Dropout1, SelfAttention(x, srcMask, srcKeyPaddingMask, isCausal, training), training), sum1), training); // x₁ = norm1(x + SA(x))
            y = TransformerChecks.Run(Norm2, TransformerChecks.Residual(x1, TransformerChecks.Drop(Dropout2, TransformerChecks.Run(FeedForward, x1, training), training), sum2), training);             // y = norm2(x₁ + FF(x₁))
        }
        if (training) _src = src;
        return y;
    }

    /// <summary>SA(x) = self_attn(x, x, x): one tensor as query, key and value (one packed projection GEMM).</summary>
    private Tensor<T> SelfAttention(Tensor<T> x, AttentionMask<T>? mask, Tensor<bool>? keyPadding, bool isCausal, bool training) =>
        Attend(SelfAttn, x, x, mask, keyPadding, isCausal, training);

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates every parameter gradient and returns ∂L/∂src (module-owned).</summary>
    /// <param name="dOutput">∂L/∂output, shaped like src.</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.SameShape(_src!, dOutput, nameof(dOutput));
        Tensor<T> dx;
        if (NormFirst)
        {
            var dx1 = TransformerChecks.Residual(dOutput, Norm2.Backward(FeedForward.Backward(Dropout2.Backward(dOutput))), _dSum1);      // dx₁ = dy + norm2'(FF'(dropout2'(dy)))
            dx = TransformerChecks.Residual(dx1, Norm1.Backward(SelfAttn.Backward(Dropout1.Backward(dx1)).DQuery), _dSrc);                  // dx = dx₁ + norm1'(SA'(dropout1'(dx₁)))
        }
        else
        {
            var dh2 = Norm2.Backward(dOutput);
            var dx1 = TransformerChecks.Residual(dh2, FeedForward.Backward(Dropout2.Backward(dh2)), _dSum1);                                // dx₁ = dh₂ + FF'(dropout2'(dh₂))
            var dh1 = Norm1.Backward(dx1);
            dx = TransformerChecks.Residual(dh1, SelfAttn.Backward(Dropout1.Backward(dh1)).DQuery, _dSrc);                                  // dx = dh₁ + SA'(dropout1'(dh₁))
        }
        pass.Complete(dx.AsReadOnlySpan(), "dSrc");
        return dx;
    }
}
