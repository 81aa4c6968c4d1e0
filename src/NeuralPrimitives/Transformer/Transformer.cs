// The encoder–decoder transformer (Vaswani et al. 2017; PyTorch's nn.Transformer): an encoder stack reads the
// source into a memory, a decoder stack reads the target and attends to the memory. No embeddings and no output
// projection: those depend on the task (see docs/transformer.md for a complete sequence-to-sequence model).
//
// Shapes (E = dModel; S source length, T target length, N batch):
//   src [S, N, E]   tgt [T, N, E]   output [T, N, E]     ([N, ·, E] with batchFirst; unbatched [·, E])
//   srcMask [S, S], tgtMask [T, T], memoryMask [T, S] (or [N·H, ·, ·]); key padding masks [N, S], [N, T], [N, S]
// Forward:
//   memory = encoder(src, srcMask, srcKeyPaddingMask)                           encoder = N_enc layers + encoder.norm
//   y      = decoder(tgt, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask)   decoder = N_dec layers + decoder.norm
// Backward:
//   (d tgt, d memory) = decoder'(dy)        d src = encoder'(d memory)
// Both stacks end in a LayerNorm (encoder.norm, decoder.norm), post-norm or pre-norm alike, as PyTorch builds them.
// Initialisation: PyTorch's _reset_parameters, xavier_uniform_ on every parameter with more than one dimension
// (the weights), after the layers' own initialisation; biases and the norms keep theirs.
// Names: encoder.layers.N.*, encoder.norm.*, decoder.layers.N.*, decoder.norm.* (PyTorch's state_dict keys).
namespace NeuralPrimitives;

/// <summary>The gradients of a <see cref="Transformer{T}"/> with respect to its two inputs.</summary>
/// <param name="DSrc">∂L/∂src, shaped like src.</param>
/// <param name="DTgt">∂L/∂tgt, shaped like tgt.</param>
/// <typeparam name="T">Element type.</typeparam>
public readonly record struct TransformerGradients<T>(Tensor<T> DSrc, Tensor<T> DTgt);

/// <summary>
/// The encoder–decoder transformer (PyTorch's <c>nn.Transformer</c>): children <c>encoder</c> (a <see cref="TransformerEncoder{T}"/>
/// with a final <c>norm</c>) and <c>decoder</c> (a <see cref="TransformerDecoder{T}"/> with a final <c>norm</c>).
/// </summary>
/// <remarks>
/// <para>Takes embedded sequences and returns the decoder's features: add the embeddings, positions and output projection
/// yourself (as with PyTorch). For generation, call <see cref="Encoder"/> once and <see cref="Decoder"/> per step.</para>
/// <para>Forward/Backward belong to one thread at a time; <see cref="Infer"/> is thread-safe.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Transformer<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{

    /// <summary>Creates the model with PyTorch's defaults (the base model of the paper) and initialisation.</summary>
    /// <param name="dModel">E (default 512; divisible by <paramref name="nhead"/>).</param>
    /// <param name="nhead">Attention heads (default 8).</param>
    /// <param name="numEncoderLayers">Encoder layers (default 6).</param>
    /// <param name="numDecoderLayers">Decoder layers (default 6).</param>
    /// <param name="dimFeedforward">Feed-forward hidden size (default 2048).</param>
    /// <param name="dropout">Dropout probability (default 0.1).</param>
    /// <param name="activation">Feed-forward non-linearity (default ReLU).</param>
    /// <param name="layerNormEps">The LayerNorms' ε (default 1e-5).</param>
    /// <param name="batchFirst">Sequences as [N, ·, E].</param>
    /// <param name="normFirst">Pre-norm layers.</param>
    /// <param name="bias">Biases in the projections and norms (default true).</param>
    /// <param name="rng">Random source for initialisation and dropout; <see cref="Rng.Default"/> when null.</param>
    public Transformer(int dModel = 512, int nhead = 8, int numEncoderLayers = 6, int numDecoderLayers = 6, int dimFeedforward = 2048,
        double dropout = 0.1, FeedForwardActivation activation = FeedForwardActivation.Relu, double layerNormEps = 1e-5,
        bool batchFirst = false, bool normFirst = false, bool bias = true, Rng? rng = null)
    {
        TransformerChecks.Heads(dModel, nhead);
        Guard.Positive(numEncoderLayers);
        Guard.Positive(numDecoderLayers);
        rng ??= Rng.Default;
        (DModel, NHead, BatchFirst) = (dModel, nhead, batchFirst);
        Encoder = RegisterModule("encoder", new TransformerEncoder<T>(
            _ => new TransformerEncoderLayer<T>(dModel, nhead, dimFeedforward, dropout, activation, layerNormEps, batchFirst, normFirst, bias, rng),
            numEncoderLayers, new LayerNorm<T>(dModel, layerNormEps, bias: bias)));
        Decoder = RegisterModule("decoder", new TransformerDecoder<T>(
            _ => new TransformerDecoderLayer<T>(dModel, nhead, dimFeedforward, dropout, activation, layerNormEps, batchFirst, normFirst, bias, rng),
            numDecoderLayers, new LayerNorm<T>(dModel, layerNormEps, bias: bias)));
        foreach (var p in Parameters())
            if (p.Shape.Length > 1) Init.XavierUniform(p, rng);   // PyTorch's _reset_parameters
    }

    /// <summary>E.</summary>
    public int DModel { get; }

    /// <summary>Attention heads.</summary>
    public int NHead { get; }

    /// <summary>Whether sequences are [N, ·, E].</summary>
    public bool BatchFirst { get; }

    /// <summary>The encoder stack, child <c>encoder</c>.</summary>
    public TransformerEncoder<T> Encoder { get; }

    /// <summary>The decoder stack, child <c>decoder</c>.</summary>
    public TransformerDecoder<T> Decoder { get; }

    /// <summary>
    /// PyTorch's <c>generate_square_subsequent_mask</c>: an additive [size, size] mask, 0 on and below the diagonal and −∞ above
    /// (position t sees positions ≤ t). Passing <c>tgtIsCausal: true</c> does the same without a tensor.
    /// </summary>
    /// <param name="size">The sequence length (≥ 1).</param>
    public static Tensor<T> GenerateSquareSubsequentMask(int size)
    {
        Guard.Positive(size);
        var m = new T[size * size];
        for (int i = 0; i < size; i++)
            for (int j = i + 1; j < size; j++) m[i * size + j] = T.NegativeInfinity;
        return Tensor.Create(m, [size, size]);
    }

    /// <summary>Training forward (PyTorch's <c>forward</c>, arguments in its order).</summary>
    /// <param name="src">[S, N, E] ([N, S, E] with batchFirst, [S, E] unbatched).</param>
    /// <param name="tgt">[T, N, E], batched like src with its batch size.</param>
    /// <param name="srcMask">[S, S] or [N·H, S, S], on the encoder's self-attention.</param>
    /// <param name="tgtMask">[T, T] or [N·H, T, T], on the decoder's self-attention (e.g. <see cref="GenerateSquareSubsequentMask"/>).</param>
    /// <param name="memoryMask">[T, S] or [N·H, T, S], on the cross-attention.</param>
    /// <param name="srcKeyPaddingMask">[N, S]: true = ignore that source position (in the encoder).</param>
    /// <param name="tgtKeyPaddingMask">[N, T]: true = ignore that target position.</param>
    /// <param name="memoryKeyPaddingMask">[N, S]: true = ignore that memory position (usually the same as srcKeyPaddingMask).</param>
    /// <param name="srcIsCausal">Causal encoder self-attention.</param>
    /// <param name="tgtIsCausal">Causal decoder self-attention (the usual setting for training a decoder).</param>
    /// <param name="memoryIsCausal">Causal cross-attention.</param>
    /// <returns>The decoder's output shaped like tgt (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> src, Tensor<T> tgt, AttentionMask<T>? srcMask = null, AttentionMask<T>? tgtMask = null,
        AttentionMask<T>? memoryMask = null, Tensor<bool>? srcKeyPaddingMask = null, Tensor<bool>? tgtKeyPaddingMask = null,
        Tensor<bool>? memoryKeyPaddingMask = null, bool srcIsCausal = false, bool tgtIsCausal = false, bool memoryIsCausal = false)
    {
        using var pass = BeginForward();
        CheckPair(src, tgt);
        var memory = Encoder.Forward(src, srcMask, srcKeyPaddingMask, srcIsCausal);
        var output = Decoder.Forward(tgt, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal, memoryIsCausal);
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Inference forward: a new tensor, nothing cached, thread-safe.</summary>
    /// <param name="src">As for <see cref="Forward"/>.</param>
    /// <param name="tgt">As for <see cref="Forward"/>.</param>
    /// <param name="srcMask">As for <see cref="Forward"/>.</param>
    /// <param name="tgtMask">As for <see cref="Forward"/>.</param>
    /// <param name="memoryMask">As for <see cref="Forward"/>.</param>
    /// <param name="srcKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="tgtKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="memoryKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="srcIsCausal">As for <see cref="Forward"/>.</param>
    /// <param name="tgtIsCausal">As for <see cref="Forward"/>.</param>
    /// <param name="memoryIsCausal">As for <see cref="Forward"/>.</param>
    public Tensor<T> Infer(Tensor<T> src, Tensor<T> tgt, AttentionMask<T>? srcMask = null, AttentionMask<T>? tgtMask = null,
        AttentionMask<T>? memoryMask = null, Tensor<bool>? srcKeyPaddingMask = null, Tensor<bool>? tgtKeyPaddingMask = null,
        Tensor<bool>? memoryKeyPaddingMask = null, bool srcIsCausal = false, bool tgtIsCausal = false, bool memoryIsCausal = false)
    {
        CheckPair(src, tgt);
        var memory = Encoder.Infer(src, srcMask, srcKeyPaddingMask, srcIsCausal);
        return Decoder.Infer(tgt, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal, memoryIsCausal);
    }

    /// <summary>Backward of the last <see cref="Forward"/>: the decoder, then the encoder with the memory's gradient.</summary>
    /// <param name="dOutput">∂L/∂output, shaped like tgt.</param>
    /// <returns>∂L/∂src and ∂L/∂tgt (module-owned).</returns>
    public TransformerGradients<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var (dTgt, dMemory) = Decoder.Backward(dOutput);
        var dSrc = Encoder.Backward(dMemory);
        pass.Complete(dSrc.AsReadOnlySpan(), "dSrc");
        return new(dSrc, dTgt);
    }

    /// <summary>PyTorch's checks: src and tgt have one batch size and E = dModel features.</summary>
    private void CheckPair(Tensor<T> src, Tensor<T> tgt)
    {
        var s = TransformerChecks.Sequence(src, DModel, BatchFirst, nameof(src));
        var t = TransformerChecks.Sequence(tgt, DModel, BatchFirst, nameof(tgt));
        TransformerChecks.SameBatch(s, t, nameof(src), nameof(tgt), tgt.Lengths);
    }
}
