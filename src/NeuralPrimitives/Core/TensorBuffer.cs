// A reusable output/workspace buffer. Modules keep one per tensor they hand out; asking
// again with the same shape returns the same Tensor<T> (no allocation), so that a training
// step after warm-up allocates nothing. A different shape (or a larger one) reallocates.
namespace NeuralPrimitives;

internal sealed class TensorBuffer<T>
{
    private T[] _data = [];
    private Tensor<T>? _tensor;

    /// <summary>The backing array (at least as long as the last requested shape).</summary>
    public T[] Array => _data;

    /// <summary>Returns a tensor of the given shape over a reused array. Contents are unspecified unless <paramref name="clear"/>.</summary>
    public Tensor<T> Get(ReadOnlySpan<nint> shape, bool clear = false)
    {
        if (_tensor is null || !_tensor.Lengths.SequenceEqual(shape))
        {
            int n = Shapes.Product(shape);
            if (_data.Length != n) _data = new T[n];
            _tensor = Tensor.Create(_data, shape);
        }
        if (clear) System.Array.Clear(_data);
        return _tensor;
    }

    /// <summary>
    /// Returns a tensor shaped like <paramref name="lengths"/> with its last dimension replaced by <paramref name="last"/>
    /// (a layer's [..., in] → [..., out]); allocates nothing when the shape is the same as last time.
    /// </summary>
    public Tensor<T> GetWithLast(ReadOnlySpan<nint> lengths, int last)
    {
        if (_tensor is not null && Shapes.EqualWithLast(_tensor.Lengths, lengths, last)) return _tensor;
        return Get(Shapes.WithLast(lengths, last));
    }

    /// <summary>Returns a span of exactly <paramref name="length"/> elements over a reused array.</summary>
    public Span<T> GetSpan(int length, bool clear = false)
    {
        if (_data.Length < length) { _data = new T[length]; _tensor = null; }
        var s = _data.AsSpan(0, length);
        if (clear) s.Clear();
        return s;
    }
}
