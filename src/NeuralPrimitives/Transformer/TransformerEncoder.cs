// A stack of N transformer encoder layers (PyTorch's nn.TransformerEncoder), with an optional final norm.
//
// Shapes: src, output [S, N, E] ([N, S, E] with batchFirst; [S, E] unbatched), masks as TransformerEncoderLayer's.
// Forward:   x₀ = src,   x_{i+1} = layer_i(x_i, srcMask, srcKeyPaddingMask),   y = norm(x_N)   (y = x_N without a norm)
//            Every layer sees the same masks: the padding and the causal structure belong to the sequence, not to a layer.
// Backward:  d x_N = norm'(dy),   d x_i = layer_i'(d x_{i+1}),   d src = d x_0                   (the layers in reverse)
// The final norm: a pre-norm stack leaves x + f(x) unnormalised at the top (its last sum grows with depth), so it
// needs one (nn.Transformer always adds it, GPT-2 calls it ln_f); a post-norm stack's last layer already ends in a norm.
// Names: layers.0.self_attn.in_proj_weight, …, layers.{N−1}.norm2.bias, norm.weight, norm.bias (PyTorch's keys).
namespace NeuralPrimitives;

/// <summary>
/// A stack of <see cref="TransformerEncoderLayer{T}"/>s with an optional final norm (PyTorch's <c>nn.TransformerEncoder</c>).
/// Children: <c>layers</c> (a <see cref="ModuleList{T}"/>: <c>layers.0</c>, <c>layers.1</c>, …) and <c>norm</c> when given.
/// </summary>
/// <remarks>
/// PyTorch deep-copies one layer N times (so its layers start equal, until <c>nn.Transformer</c> re-initialises them);
/// here a factory builds each layer, so each gets its own initialisation. Load a PyTorch state_dict to get PyTorch's weights.
/// Forward/Backward belong to one thread at a time; <see cref="Infer"/> is thread-safe.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class TransformerEncoder<T> : TransformerStack<T, TransformerEncoderLayer<T>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{

    /// <summary>Builds <paramref name="numLayers"/> layers with <paramref name="encoderLayer"/> (called once per layer, with its index).</summary>
    /// <param name="encoderLayer">Makes layer i, e.g. <c>_ =&gt; new TransformerEncoderLayer&lt;float&gt;(512, 8)</c>.</param>
    /// <param name="numLayers">N (≥ 1).</param>
    /// <param name="norm">The final norm (e.g. <c>new LayerNorm&lt;float&gt;(dModel)</c>), or null for none.</param>
    public TransformerEncoder(Func<int, TransformerEncoderLayer<T>> encoderLayer, int numLayers, NormalizationLayer<T>? norm = null)
        : this(TransformerChecks.BuildLayers(encoderLayer, numLayers), norm) { }

    /// <summary>Stacks the given layers in order (they must all have the same dModel and batchFirst).</summary>
    /// <param name="layers">The layers (at least one, each used once).</param>
    /// <param name="norm">The final norm, or null for none.</param>
    public TransformerEncoder(IEnumerable<TransformerEncoderLayer<T>> layers, NormalizationLayer<T>? norm = null)
        : base(layers, norm) { }

    /// <summary>Training forward: every layer in order with the same masks, then the final norm.</summary>
    /// <param name="src">[S, N, E] ([N, S, E] with batchFirst, [S, E] unbatched).</param>
    /// <param name="mask">[S, S] or [N·H, S, S] (PyTorch's <c>mask</c>), boolean with its convention or additive.</param>
    /// <param name="srcKeyPaddingMask">[N, S]: true = ignore that key.</param>
    /// <param name="isCausal">Apply the causal mask in every layer.</param>
    /// <returns>The output shaped like src (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> src, AttentionMask<T>? mask = null, Tensor<bool>? srcKeyPaddingMask = null, bool isCausal = false)
    {
        using var pass = BeginForward();
        Check(src, mask, srcKeyPaddingMask);
        var x = src;
        foreach (var layer in Stacked) x = layer.Forward(x, mask, srcKeyPaddingMask, isCausal);
        if (Norm is not null) x = Norm.Forward(x);
        pass.Complete(x.AsReadOnlySpan(), "output");
        return x;
    }

    /// <summary>Inference forward: a new tensor, nothing cached, thread-safe.</summary>
    /// <param name="src">As for <see cref="Forward"/>.</param>
    /// <param name="mask">As for <see cref="Forward"/>.</param>
    /// <param name="srcKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="isCausal">As for <see cref="Forward"/>.</param>
    public Tensor<T> Infer(Tensor<T> src, AttentionMask<T>? mask = null, Tensor<bool>? srcKeyPaddingMask = null, bool isCausal = false)
    {
        Check(src, mask, srcKeyPaddingMask);
        var x = src;
        foreach (var layer in Stacked) x = layer.Infer(x, mask, srcKeyPaddingMask, isCausal);
        return Norm is null ? x : Norm.Infer(x);
    }

    /// <summary>The checks of the first layer, in this method's parameter names (PyTorch's <c>mask</c> is the layers' srcMask).</summary>
    private void Check(Tensor<T> src, AttentionMask<T>? mask, Tensor<bool>? srcKeyPaddingMask)
    {
        var first = Stacked[0];
        var size = TransformerChecks.Sequence(src, first.DModel, first.BatchFirst, nameof(src));
        TransformerChecks.Mask(mask, size.Batch, first.NHead, size.Length, size.Length, nameof(mask));
        TransformerChecks.KeyPadding(srcKeyPaddingMask, size, nameof(srcKeyPaddingMask));
    }

    /// <summary>Backward of the last <see cref="Forward"/>: the norm and the layers in reverse; returns ∂L/∂src (module-owned).</summary>
    /// <param name="dOutput">∂L/∂output, shaped like src.</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var d = Norm is null ? dOutput : Norm.Backward(dOutput);
        for (int i = Stacked.Length - 1; i >= 0; i--) d = Stacked[i].Backward(d);
        pass.Complete(d.AsReadOnlySpan(), "dSrc");
        return d;
    }
}
