// One tensor of a safetensors file as its header describes it: name, dtype, shape and where its bytes are.
namespace NeuralPrimitives;

/// <summary>
/// A tensor listed in a safetensors header (validated): its name, <see cref="DType"/>, shape and byte range
/// <c>[Begin, End)</c> within the file's data buffer (Hugging Face's <c>TensorInfo</c>).
/// </summary>
public sealed class SafeTensorsEntry
{
    private readonly int[] _shape;

    internal SafeTensorsEntry(string name, DType dtype, int[] shape, long begin, long end)
        => (Name, DType, _shape, Begin, End) = (name, dtype, shape, begin, end);

    /// <summary>The tensor's name (a PyTorch state_dict key such as <c>lstm.weight_ih_l0</c>).</summary>
    public string Name { get; }

    /// <summary>How its elements are stored.</summary>
    public DType DType { get; }

    /// <summary>The shape; empty for a scalar (one element).</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of elements: the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount => (End - Begin) / DType.ElementSize();

    /// <summary>The first byte of the tensor, relative to the start of the data buffer (<c>data_offsets[0]</c>).</summary>
    public long Begin { get; }

    /// <summary>One past the last byte of the tensor, relative to the start of the data buffer (<c>data_offsets[1]</c>).</summary>
    public long End { get; }

    /// <summary>The tensor's size in bytes, <see cref="End"/> − <see cref="Begin"/>.</summary>
    public long ByteLength => End - Begin;

    /// <summary>The shape as a new array.</summary>
    internal int[] ShapeArray() => (int[])_shape.Clone();

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {DType} {Shapes.Format(_shape)}, bytes [{Begin}, {End})";
}
