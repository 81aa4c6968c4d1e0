// The decoding state of a Gpt: one KV cache per block, all at the same length n (the positions fed so far).
//   Layers[i].Keys, Layers[i].Values  [B, G, capacity, hd]   (keys after RoPE when the model is rotary)
//   Length n                           the position of the next token (its wpe row, or its RoPE offset)
namespace NeuralPrimitives;

/// <summary>
/// What a <see cref="Gpt{T}"/> remembers of B sequences while decoding: the keys and values of every block for every
/// position fed so far (<see cref="ILanguageModel{T, TState}"/>'s state). Make one with <see cref="Gpt{T}.InitialState"/>;
/// it belongs to the caller and to one decoding stream (one thread) at a time.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class GptState<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    internal GptState(KvCache<T>[] layers) => Layers = layers;

    /// <summary>The KV cache of each block (index = block).</summary>
    public IReadOnlyList<KvCache<T>> Layers { get; }

    /// <summary>Sequences B.</summary>
    public int Batch => Layers[0].Batch;

    /// <summary>Positions fed so far (the next token's position).</summary>
    public int Length => Layers[0].Length;

    /// <summary>Most positions a sequence may have (the model's block size).</summary>
    public int Capacity => Layers[0].Capacity;
}
