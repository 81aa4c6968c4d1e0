// Where LoadStateDict reads from: anything that can name its tensors, give their shapes and copy one
// into a destination span, converting the element type. A dictionary of tensors is one source; a
// safetensors file is another, which copies each tensor straight from the file into the parameter so
// that a large checkpoint is never held in memory twice.
namespace NeuralPrimitives;

/// <summary>A named collection of tensors that <see cref="Module{T}.LoadStateDict(IStateDictSource, bool)"/> can read.</summary>
public interface IStateDictSource
{
    /// <summary>The tensor names, in the source's order.</summary>
    IEnumerable<string> Keys { get; }

    /// <summary>The shape of the tensor named <paramref name="key"/>.</summary>
    int[] GetShape(string key);

    /// <summary>Copies the tensor named <paramref name="key"/> into <paramref name="destination"/> (exactly its element count), converting to <typeparamref name="TDest"/>.</summary>
    void CopyTo<TDest>(string key, Span<TDest> destination) where TDest : unmanaged, IBinaryFloatingPointIeee754<TDest>;
}

/// <summary>An <see cref="IStateDictSource"/> over a dictionary of dense tensors.</summary>
internal sealed class TensorDictionarySource<T>(IReadOnlyDictionary<string, Tensor<T>> state) : IStateDictSource
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public IEnumerable<string> Keys => state.Keys;

    public int[] GetShape(string key) => state[key].Shape();

    public void CopyTo<TDest>(string key, Span<TDest> destination) where TDest : unmanaged, IBinaryFloatingPointIeee754<TDest>
    {
        var tensor = state[key];
        Guard.Length(destination.Length, checked((int)tensor.FlattenedLength), nameof(destination));
        if (typeof(TDest) == typeof(T)) { tensor.FlattenTo(System.Runtime.InteropServices.MemoryMarshal.Cast<TDest, T>(destination)); return; }
        var values = tensor.ToArray();
        for (int i = 0; i < values.Length; i++) destination[i] = TDest.CreateTruncating(values[i]);
    }
}
