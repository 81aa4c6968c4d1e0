// A key/value cache for incremental (autoregressive) decoding, owned by the caller.
//
// Decoding a sequence one position at a time recomputes nothing: position t's key and value do not
// depend on later positions (causal attention), so they are computed once, stored here, and every
// later query attends to them. One step with Lnew new positions:
//     m = Length                                         positions already cached
//     q, k, v of the new positions (RoPE at positions m … m + Lnew − 1)
//     Keys[:, :, m : m+Lnew] = k,  Values[:, :, m : m+Lnew] = v,  Length = m + Lnew
//     O = softmax(q·Keys[:, :, :Length]ᵀ·scale + causal bottom-right mask)·Values[:, :, :Length]
// The bottom-right causal mask lets new position m + i see cached positions 0 … m + i: exactly the
// rows m … m + Lnew − 1 of the full causal pass, so decoding step by step equals one full pass.
//
// Shapes: Keys, Values [batch, numKVHeads, capacity, headDim]; positions ≥ Length hold stale values.
// The cache belongs to one decoding stream (one thread at a time); the module that fills it
// (GroupedQueryAttention.Infer) stays stateless and thread-safe.
namespace NeuralPrimitives;

/// <summary>
/// Keys and values of the positions decoded so far, for <see cref="GroupedQueryAttention{T}.Infer(Tensor{T}, KvCache{T})"/>.
/// Caller-owned state: create one per sequence batch being decoded (<see cref="GroupedQueryAttention{T}.CreateCache"/>) and
/// use it from one thread at a time; <see cref="Reset"/> starts a new sequence.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class KvCache<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Allocates a cache for <paramref name="capacity"/> positions.</summary>
    /// <param name="batch">Sequences decoded together (≥ 1).</param>
    /// <param name="numKVHeads">Key/value heads (≥ 1).</param>
    /// <param name="headDim">Width of each head (≥ 1).</param>
    /// <param name="capacity">Most positions the cache can hold (≥ 1).</param>
    public KvCache(int batch, int numKVHeads, int headDim, int capacity)
    {
        Guard.Positive(batch);
        Guard.Positive(numKVHeads);
        Guard.Positive(headDim);
        Guard.Positive(capacity);
        (Batch, NumKVHeads, HeadDim, Capacity) = (batch, numKVHeads, headDim, capacity);
        int[] dims = [batch, numKVHeads, capacity, headDim];
        int n = Shapes.CheckedProduct(dims, nameof(capacity));
        Keys = Tensor.Create(new T[n], [batch, numKVHeads, capacity, headDim]);
        Values = Tensor.Create(new T[n], [batch, numKVHeads, capacity, headDim]);
    }

    /// <summary>Sequences decoded together.</summary>
    public int Batch { get; }

    /// <summary>Key/value heads.</summary>
    public int NumKVHeads { get; }

    /// <summary>Width of each head.</summary>
    public int HeadDim { get; }

    /// <summary>Most positions the cache can hold.</summary>
    public int Capacity { get; }

    /// <summary>Positions cached so far (the position offset of the next step).</summary>
    public int Length { get; private set; }

    /// <summary>The cached keys [batch, numKVHeads, capacity, headDim] (after RoPE); positions ≥ <see cref="Length"/> are stale.</summary>
    public Tensor<T> Keys { get; }

    /// <summary>The cached values [batch, numKVHeads, capacity, headDim]; positions ≥ <see cref="Length"/> are stale.</summary>
    public Tensor<T> Values { get; }

    /// <summary>Forgets every cached position (the storage is kept).</summary>
    public void Reset() => Length = 0;

    /// <summary>Where head (b, g) of <see cref="Keys"/> / <see cref="Values"/> lives.</summary>
    internal HeadLayout Layout => HeadLayout.Dense(NumKVHeads, Capacity, HeadDim);

    /// <summary>Throws unless <paramref name="count"/> more positions fit.</summary>
    internal void CheckRoom(int count, string paramName)
    {
        if (Length + count > Capacity)
            throw new ArgumentException(
                $"{paramName} is full: it holds {Length} of {Capacity} positions and {count} more do not fit (expected at most {Capacity - Length} new positions, got {count}). Create a larger cache or Reset it.",
                paramName);
    }

    /// <summary>Marks <paramref name="count"/> more positions as filled.</summary>
    internal void Advance(int count) => Length += count;
}
