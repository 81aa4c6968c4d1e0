// A buffer: state a module keeps and saves but does not train (PyTorch's register_buffer), such as
// running statistics or a precomputed table. It is part of StateDict() and LoadStateDict(), never of
// Parameters(), and has no gradient.
namespace NeuralPrimitives;

/// <summary>A named, non-trainable tensor that belongs to a module's state (PyTorch's buffer).</summary>
/// <typeparam name="T">Element type.</typeparam>
public sealed class Buffer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly int[] _shape;

    /// <summary>Creates a zero-filled buffer.</summary>
    /// <param name="shape">Its shape; every dimension ≥ 1.</param>
    public Buffer(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Data = new T[Shapes.CheckedProduct(shape, nameof(shape))];
        _shape = (int[])shape.Clone();
    }

    /// <summary>The shape.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The values, row-major.</summary>
    public T[] Data { get; }

    /// <summary>The values as a tensor view (no copy).</summary>
    public Tensor<T> Value => Tensor.Create(Data, Array.ConvertAll(_shape, d => (nint)d));
}
