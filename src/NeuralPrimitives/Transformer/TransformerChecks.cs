// Shared by the transformer layers and stacks (TransformerEncoderLayer.cs, TransformerDecoderLayer.cs,
// TransformerEncoder.cs, TransformerDecoder.cs, Transformer.cs): the argument checks in the public
// parameters' names, and the residual sum y = x + f(x) that every sublayer ends with.
//
// Shapes (E = dModel, H = nhead; L = this sequence's length, S = the attended sequence's length, N batch):
//   a sequence      [L, N, E] ([N, L, E] with batchFirst; [L, E] unbatched)
//   an attn mask    [L, S] or [N·H, L, S] (boolean with its convention, or additive; see AttentionMask.cs)
//   a key padding   [N, S] ([S] unbatched), true = ignore that key
namespace NeuralPrimitives;

/// <summary>The sizes of one sequence argument: batch N, length L, and whether it was unbatched.</summary>
internal readonly record struct SequenceSize(int Batch, int Length, bool Unbatched);

internal static class TransformerChecks
{
    /// <summary>dModel and nhead of a layer: both ≥ 1 and dModel divisible by nhead (each head has width dModel/nhead).</summary>
    public static void Heads(int dModel, int nhead)
    {
        Guard.Positive(dModel);
        Guard.Positive(nhead);
        if (dModel % nhead != 0)
            throw new ArgumentException(
                $"dModel must be divisible by nhead (each head has width dModel/nhead): expected a multiple of {nhead}, got dModel = {dModel}.", nameof(dModel));
    }

    /// <summary>The sizes every encoder and decoder layer checks: <see cref="Heads"/>, dimFeedforward ≥ 1 and dropout in [0, 1].</summary>
    public static void Layer(int dModel, int nhead, int dimFeedforward, double dropout)
    {
        Heads(dModel, nhead);
        Guard.Positive(dimFeedforward);
        Guard.InRange(dropout, 0, 1);
    }

    /// <summary>A sequence [L, N, E] / [N, L, E] (batchFirst) / [L, E]; returns its batch and length.</summary>
    public static SequenceSize Sequence<T>(Tensor<T> x, int dModel, bool batchFirst, string name)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        string layout = batchFirst ? "[N, L, E]" : "[L, N, E]";
        if (x.Rank is not (2 or 3) || x.Lengths[^1] != dModel || Shapes.Product(x.Lengths) == 0 || !x.IsDense)
            throw new ArgumentException(
                $"{name} must be a dense {layout} or unbatched [L, E] sequence with E = dModel = {dModel} and every dimension ≥ 1, got shape {Shapes.Format(x.Lengths)}.", name);
        if (x.Rank == 2) return new(1, (int)x.Lengths[0], true);
        return batchFirst ? new((int)x.Lengths[0], (int)x.Lengths[1], false) : new((int)x.Lengths[1], (int)x.Lengths[0], false);
    }

    /// <summary>A second sequence (tgt against src, memory against tgt) must be batched like the first and have its batch size.</summary>
    public static void SameBatch(SequenceSize first, SequenceSize second, string firstName, string secondName, ReadOnlySpan<nint> secondShape)
    {
        if (first.Unbatched != second.Unbatched || first.Batch != second.Batch)
            throw new ArgumentException(
                $"{secondName} must have {firstName}'s batch: expected {(first.Unbatched ? "an unbatched [L, E] sequence" : $"batch size N = {first.Batch}")}, got shape {Shapes.Format(secondShape)}.",
                secondName);
    }

    /// <summary>An attention mask over [L, S] scores: [L, S] or [N·H, L, S] (PyTorch's attn_mask shapes).</summary>
    public static void Mask<T>(AttentionMask<T>? mask, int batch, int heads, int l, int s, string name) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (mask is not { } m) return;
        if (m.IsEmpty) throw new ArgumentException($"{name} holds no tensor.", name);
        var shape = m.Lengths;
        bool ok = (shape.Length == 2 && shape[0] == l && shape[1] == s)
               || (shape.Length == 3 && shape[0] == batch * heads && shape[1] == l && shape[2] == s);
        if (!ok)
            throw new ArgumentException(
                $"{name} has the wrong shape: expected [L, S] = [{l}, {s}] or [N·nhead, L, S] = [{batch * heads}, {l}, {s}], got {Shapes.Format(shape)}.", name);
    }

    /// <summary>A key padding mask [N, S] ([S] unbatched), true = ignore.</summary>
    public static void KeyPadding(Tensor<bool>? mask, SequenceSize keys, string name)
    {
        if (mask is null) return;
        ReadOnlySpan<nint> expected = keys.Unbatched ? [keys.Length] : [keys.Batch, keys.Length];
        if (!mask.Lengths.SequenceEqual(expected) || !mask.IsDense)
            throw new ArgumentException($"{name} has the wrong shape: expected a dense {Shapes.Format(expected)} ({(keys.Unbatched ? "[S]" : "[N, S]")}, true = ignore that key), got {Shapes.Format(mask.Lengths)}.", name);
    }

    /// <summary>
    /// The residual connection y = x + f(x): into <paramref name="buffer"/> (training; module-owned, reused) or a new tensor
    /// (<paramref name="buffer"/> null: inference, thread-safe).
    /// </summary>
    public static Tensor<T> Residual<T>(Tensor<T> x, Tensor<T> fx, TensorBuffer<T>? buffer) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var y = buffer is null ? Tensor.Create(new T[x.FlattenedLength], x.Lengths) : buffer.Get(x.Lengths);
        ParallelRanges.Add(x.AsReadOnlySpan(), fx.AsReadOnlySpan(), y.AsSpan());
        return y;
    }

    /// <summary>Training Forward or thread-safe Infer of a one-tensor layer.</summary>
    public static Tensor<T> Run<T>(ILayer<T> layer, Tensor<T> x, bool training) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        training ? layer.Forward(x) : layer.Infer(x);

    /// <summary>Dropout in a training Forward (the identity in evaluation mode); skipped by inference, where it is the identity.</summary>
    public static Tensor<T> Drop<T>(Dropout<T> dropout, Tensor<T> x, bool training) where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        training ? dropout.Forward(x) : x;

    /// <summary>Calls the factory for layers 0 … numLayers − 1 (a stack's layers, each its own instance).</summary>
    public static TLayer[] BuildLayers<TLayer>(Func<int, TLayer> layer, int numLayers)
    {
        ArgumentNullException.ThrowIfNull(layer);
        Guard.Positive(numLayers);
        return Enumerable.Range(0, numLayers).Select(layer).ToArray();
    }

    /// <summary>A stack's layers: at least one, none null, all with one dModel and batchFirst.</summary>
    public static TLayer[] StackLayers<TLayer>(IEnumerable<TLayer> layers, Func<TLayer, (int DModel, bool BatchFirst)> sizes) where TLayer : class
    {
        ArgumentNullException.ThrowIfNull(layers);
        var all = layers.ToArray();
        if (all.Length == 0) throw new ArgumentException("layers must hold at least one layer, got none.", nameof(layers));
        if (all[0] is null) throw new ArgumentException("layers must not contain null, got null at index 0.", nameof(layers));
        var first = sizes(all[0]);
        for (int i = 0; i < all.Length; i++)
        {
            var l = all[i];
            if (l is null || sizes(l) != first)
                throw new ArgumentException(
                    $"layers must be non-null with one dModel and batchFirst: expected dModel {first.DModel}, batchFirst {first.BatchFirst}, got {(l is null ? "null" : $"dModel {sizes(l).DModel}, batchFirst {sizes(l).BatchFirst}")} at index {i}.",
                    nameof(layers));
        }
        return all;
    }
}
