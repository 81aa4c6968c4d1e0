// Small helpers for shapes (the `Lengths` of a Tensor<T>): products, formatting, and
// splitting a shape into "leading dimensions × last dimension" (how Linear, softmax and
// the activations treat inputs of any rank).
namespace NeuralPrimitives;

/// <summary>Helpers for tensor shapes (lengths in row-major order).</summary>
public static class Shapes
{
    /// <summary>Formats a shape as <c>[2, 3, 4]</c>.</summary>
    public static string Format(ReadOnlySpan<nint> lengths) => FormatOf(lengths);

    /// <summary>Formats a shape as <c>[2, 3, 4]</c>.</summary>
    public static string Format(ReadOnlySpan<int> lengths) => FormatOf(lengths);

    /// <summary>The number of elements of a shape (1 for rank 0); <see cref="ArgumentOutOfRangeException"/> when it exceeds <see cref="int.MaxValue"/>.</summary>
    public static int Product(ReadOnlySpan<nint> lengths) => ProductOf(lengths);

    /// <summary>The number of elements of a shape (1 for rank 0); <see cref="ArgumentOutOfRangeException"/> when it exceeds <see cref="int.MaxValue"/>.</summary>
    public static int Product(ReadOnlySpan<int> lengths) => ProductOf(lengths);

    private static string FormatOf<TInt>(ReadOnlySpan<TInt> lengths) where TInt : IBinaryInteger<TInt>
    {
        var parts = new string[lengths.Length];
        for (int i = 0; i < lengths.Length; i++) parts[i] = lengths[i].ToString(null, System.Globalization.CultureInfo.InvariantCulture);
        return "[" + string.Join(", ", parts) + "]";
    }

    private static int ProductOf<TInt>(ReadOnlySpan<TInt> lengths) where TInt : IBinaryInteger<TInt>
    {
        foreach (var l in lengths) if (TInt.IsZero(l)) return 0;
        long p = 1;
        foreach (var l in lengths)
        {
            long d = long.CreateSaturating(l);
            if (d < 0 || d > int.MaxValue / p) throw TooMany(FormatOf(lengths), nameof(lengths));
            p *= d;
        }
        return (int)p;
    }

    private static ArgumentOutOfRangeException TooMany(string shape, string paramName) =>
        new(paramName, $"{paramName} {shape} has a negative dimension or more than {int.MaxValue:N0} elements.");

    /// <summary>
    /// The element count of a shape whose every dimension is ≥ 1, checked against the largest array .NET can
    /// allocate: throws <see cref="ArgumentOutOfRangeException"/> naming <paramref name="paramName"/>, the sizes and the limit.
    /// </summary>
    public static int CheckedProduct(ReadOnlySpan<int> dims, string paramName)
    {
        if (dims.Length == 0) throw new ArgumentException($"{paramName} must have at least one dimension.", paramName);
        long p = 1;
        foreach (var d in dims)
        {
            if (d <= 0) throw new ArgumentOutOfRangeException(paramName, $"every dimension of {paramName} must be ≥ 1, got {Format(dims)}.");
            p *= d;
            if (p > Array.MaxLength)
                throw new ArgumentOutOfRangeException(paramName, $"{paramName} {Format(dims)} has more elements than one array can hold (limit {Array.MaxLength:N0}).");
        }
        return (int)p;
    }

    /// <summary>Splits a shape into (rows, last): rows is the product of all but the last dimension.</summary>
    public static (int Rows, int Last) RowsAndLast(ReadOnlySpan<nint> lengths)
    {
        if (lengths.Length == 0) return (1, 1);
        if (lengths[^1] is < 0 or > int.MaxValue) throw TooMany(Format(lengths), nameof(lengths));
        return (Product(lengths[..^1]), (int)lengths[^1]);
    }

    /// <summary>Whether <paramref name="actual"/> equals <paramref name="lengths"/> with its last dimension replaced by <paramref name="last"/> (allocation-free).</summary>
    public static bool EqualWithLast(ReadOnlySpan<nint> actual, ReadOnlySpan<nint> lengths, int last) =>
        actual.Length == lengths.Length && lengths.Length > 0 && actual[^1] == last && actual[..^1].SequenceEqual(lengths[..^1]);

    /// <summary>Copies a shape, replacing its last dimension.</summary>
    public static nint[] WithLast(ReadOnlySpan<nint> lengths, int last)
    {
        if (lengths.Length == 0) throw new ArgumentException("lengths must have at least one dimension to replace the last one, got [].", nameof(lengths));
        var s = lengths.ToArray();
        s[^1] = last;
        return s;
    }
}
