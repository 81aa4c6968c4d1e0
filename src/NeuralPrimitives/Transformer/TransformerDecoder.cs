// A stack of N transformer decoder layers (PyTorch's nn.TransformerDecoder), with an optional final norm.
//
// Shapes: tgt, output [T, N, E]; memory [S, N, E] ([N, ·, E] with batchFirst; unbatched [·, E]); masks as TransformerDecoderLayer's.
// Forward:   x₀ = tgt,   x_{i+1} = layer_i(x_i, memory, masks),   y = norm(x_N)
//            Every layer reads the same memory (the encoder's output) and the same masks.
// Backward:  d x_N = norm'(dy);  for i = N−1 … 0:  (d x_i, dm_i) = layer_i'(d x_{i+1});
//            d tgt = d x_0,   d memory = Σ_i dm_i   (the memory feeds every layer, so its gradient is the sum)
// Names: layers.0.self_attn.*, layers.0.multihead_attn.*, …, norm.weight, norm.bias (PyTorch's keys).
namespace NeuralPrimitives;

/// <summary>
/// A stack of <see cref="TransformerDecoderLayer{T}"/>s with an optional final norm (PyTorch's <c>nn.TransformerDecoder</c>).
/// Children: <c>layers</c> (<c>layers.0</c>, <c>layers.1</c>, …) and <c>norm</c> when given.
/// </summary>
/// <remarks>
/// A factory builds each layer (PyTorch deep-copies one). Forward/Backward belong to one thread at a time; <see cref="Infer"/> is thread-safe.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class TransformerDecoder<T> : TransformerStack<T, TransformerDecoderLayer<T>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _dMemory = new();

    /// <summary>Builds <paramref name="numLayers"/> layers with <paramref name="decoderLayer"/> (called once per layer, with its index).</summary>
    /// <param name="decoderLayer">Makes layer i.</param>
    /// <param name="numLayers">N (≥ 1).</param>
    /// <param name="norm">The final norm, or null for none.</param>
    public TransformerDecoder(Func<int, TransformerDecoderLayer<T>> decoderLayer, int numLayers, NormalizationLayer<T>? norm = null)
        : this(TransformerChecks.BuildLayers(decoderLayer, numLayers), norm) { }

    /// <summary>Stacks the given layers in order (they must all have the same dModel and batchFirst).</summary>
    /// <param name="layers">The layers (at least one, each used once).</param>
    /// <param name="norm">The final norm, or null for none.</param>
    public TransformerDecoder(IEnumerable<TransformerDecoderLayer<T>> layers, NormalizationLayer<T>? norm = null)
        : base(layers, norm) { }

    /// <summary>Training forward: every layer in order with the same memory and masks, then the final norm.</summary>
    /// <param name="tgt">[T, N, E] ([N, T, E] with batchFirst, [T, E] unbatched).</param>
    /// <param name="memory">[S, N, E], the encoder's output.</param>
    /// <param name="tgtMask">[T, T] or [N·H, T, T], on the self-attention.</param>
    /// <param name="memoryMask">[T, S] or [N·H, T, S], on the cross-attention.</param>
    /// <param name="tgtKeyPaddingMask">[N, T]: true = ignore.</param>
    /// <param name="memoryKeyPaddingMask">[N, S]: true = ignore.</param>
    /// <param name="tgtIsCausal">Causal self-attention in every layer.</param>
    /// <param name="memoryIsCausal">Causal cross-attention in every layer.</param>
    /// <returns>The output shaped like tgt (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> tgt, Tensor<T> memory, AttentionMask<T>? tgtMask = null, AttentionMask<T>? memoryMask = null,
        Tensor<bool>? tgtKeyPaddingMask = null, Tensor<bool>? memoryKeyPaddingMask = null, bool tgtIsCausal = false, bool memoryIsCausal = false)
    {
        using var pass = BeginForward();
        var x = tgt;
        foreach (var layer in Stacked) x = layer.Forward(x, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal, memoryIsCausal);
        if (Norm is not null) x = Norm.Forward(x);
        pass.Complete(x.AsReadOnlySpan(), "output");
        return x;
    }

    /// <summary>Inference forward: a new tensor, nothing cached, thread-safe.</summary>
    /// <param name="tgt">As for <see cref="Forward"/>.</param>
    /// <param name="memory">As for <see cref="Forward"/>.</param>
    /// <param name="tgtMask">As for <see cref="Forward"/>.</param>
    /// <param name="memoryMask">As for <see cref="Forward"/>.</param>
    /// <param name="tgtKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="memoryKeyPaddingMask">As for <see cref="Forward"/>.</param>
    /// <param name="tgtIsCausal">As for <see cref="Forward"/>.</param>
    /// <param name="memoryIsCausal">As for <see cref="Forward"/>.</param>
    public Tensor<T> Infer(Tensor<T> tgt, Tensor<T> memory, AttentionMask<T>? tgtMask = null, AttentionMask<T>? memoryMask = null,
        Tensor<bool>? tgtKeyPaddingMask = null, Tensor<bool>? memoryKeyPaddingMask = null, bool tgtIsCausal = false, bool memoryIsCausal = false)
    {
        var x = tgt;
        foreach (var layer in Stacked) x = layer.Infer(x, memory, tgtMask, memoryMask, tgtKeyPaddingMask, memoryKeyPaddingMask, tgtIsCausal, memoryIsCausal);
        return Norm is null ? x : Norm.Infer(x);
    }

    /// <summary>Backward of the last <see cref="Forward"/>: the norm and the layers in reverse; ∂L/∂memory summed over the layers.</summary>
    /// <param name="dOutput">∂L/∂output, shaped like tgt.</param>
    /// <returns>∂L/∂tgt and ∂L/∂memory (module-owned).</returns>
    public TransformerDecoderGradients<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var d = Norm is null ? dOutput : Norm.Backward(dOutput);
        Tensor<T>? dMemory = null;
        for (int i = Stacked.Length - 1; i >= 0; i--)
        {
            var g = Stacked[i].Backward(d);
            d = g.DTgt;
            if (dMemory is null)
            {
                dMemory = _dMemory.Get(g.DMemory.Lengths);
                g.DMemory.AsReadOnlySpan().CopyTo(dMemory.AsSpan());
            }
            else
                TensorPrimitives.Add(dMemory.AsReadOnlySpan(), g.DMemory.AsReadOnlySpan(), dMemory.AsSpan());   // d memory += dm_i
        }
        pass.Complete(d.AsReadOnlySpan(), "dTgt");
        return new(d, dMemory!);
    }
}
