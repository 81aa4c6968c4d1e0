// Argument checks shared by every primitive. Each throws an ArgumentException (or
// ArgumentOutOfRangeException) whose message names the argument, what was expected and
// what was given, so that a wrong shape is reported where it enters the library instead
// of surfacing later as an index error or as silent garbage.
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

internal static class Guard
{
    /// <summary>Returns <paramref name="value"/>; throws unless it is at least 1.</summary>
    public static int Positive(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive (expected ≥ 1, got {value}).");
        return value;
    }

    /// <summary>Returns <paramref name="value"/>; throws unless it is at least 0.</summary>
    public static int NonNegative(int value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value < 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be non-negative (expected ≥ 0, got {value}).");
        return value;
    }

    /// <summary>Returns <paramref name="value"/>; throws unless it lies in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static double InRange(double value, double min, double max, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (!(value >= min && value <= max))
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [{min}, {max}], got {value}.");
        return value;
    }

    /// <summary>Throws unless a span has exactly <paramref name="expected"/> elements.</summary>
    public static void Length(int actual, int expected, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} has the wrong length: expected {expected}, got {actual}.", name);
    }

    /// <summary>Throws unless a span has at least <paramref name="expected"/> elements.</summary>
    public static void MinLength(int actual, int expected, string name)
    {
        if (actual < expected)
            throw new ArgumentException($"{name} is too short: expected at least {expected} elements, got {actual}.", name);
    }

    /// <summary>Throws unless a tensor's rank is at least <paramref name="minRank"/>.</summary>
    public static void MinRank<T>(Tensor<T> tensor, int minRank, string name)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (tensor.Rank < minRank)
            throw new ArgumentException($"{name} must have rank ≥ {minRank}, got shape {Shapes.Format(tensor.Lengths)}.", name);
    }

    /// <summary>Throws unless the tensor's last dimension is <paramref name="expected"/>.</summary>
    public static void LastDim<T>(Tensor<T> tensor, int expected, string name)
    {
        MinRank(tensor, 1, name);
        long last = tensor.Lengths[^1];
        if (last != expected)
            throw new ArgumentException($"{name} must have last dimension {expected}, got shape {Shapes.Format(tensor.Lengths)}.", name);
    }

    /// <summary>Throws unless two tensors have the same shape.</summary>
    public static void SameShape<T1, T2>(Tensor<T1> expected, Tensor<T2> actual, string name)
    {
        ArgumentNullException.ThrowIfNull(actual, name);
        if (!expected.Lengths.SequenceEqual(actual.Lengths))
            throw new ArgumentException($"{name} has the wrong shape: expected {Shapes.Format(expected.Lengths)}, got {Shapes.Format(actual.Lengths)}.", name);
    }

    /// <summary>Throws unless a tensor has exactly the given shape.</summary>
    public static void Shape<T>(Tensor<T> tensor, ReadOnlySpan<nint> expected, string name)
    {
        ArgumentNullException.ThrowIfNull(tensor, name);
        if (!tensor.Lengths.SequenceEqual(expected))
            throw new ArgumentException($"{name} has the wrong shape: expected {Shapes.Format(expected)}, got {Shapes.Format(tensor.Lengths)}.", name);
    }

    /// <summary>
    /// The element count <paramref name="a"/> × <paramref name="b"/> of a buffer (a weight, a table, an output), checked
    /// against the largest array .NET can allocate: throws <see cref="ArgumentOutOfRangeException"/> for
    /// <paramref name="paramName"/> naming both sizes and the limit, instead of an overflow deep inside.
    /// </summary>
    public static int ElementCount(long a, long b, string paramName, string aName, string bName)
    {
        long n = a * b; // a, b < 2³¹: no overflow in 64 bits
        if (n > Array.MaxLength)
            throw new ArgumentOutOfRangeException(paramName, n,
                $"{aName} × {bName} = {a:N0} × {b:N0} = {n:N0} elements, more than one array can hold (limit {Array.MaxLength:N0}).");
        return (int)n;
    }
}
