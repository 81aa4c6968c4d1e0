// How data moves between System.Numerics.Tensors' Tensor<T> and this library.
//
// The public surface takes and returns Tensor<T> (no rival tensor type to learn); the
// kernels work on contiguous row-major spans. A dense Tensor<T> (Tensor.Create(array, shape)
// wraps the array without copying) is viewed as a span with AsSpan(); a strided view
// (a slice with gaps) is rejected with a message pointing at ToDenseTensor(). The error names
// the caller's argument: `input.AsSpan()` reports `input` (CallerArgumentExpression), so a
// module that views its argument this way needs no second check to name it.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>Span access to dense <see cref="Tensor{T}"/> data (contiguous, row-major).</summary>
public static class TensorExtensions
{
    /// <summary>
    /// Returns the elements of a dense tensor as a span in row-major order, without copying.
    /// Throws <see cref="ArgumentException"/> for strided (non-dense) tensors; call
    /// <see cref="Tensor{T}.ToDenseTensor"/> first.
    /// </summary>
    /// <param name="tensor">The tensor.</param>
    /// <param name="paramName">The name errors report (by default the expression the method was called on, e.g. <c>input</c>).</param>
    public static Span<T> AsSpan<T>(this Tensor<T> tensor, [CallerArgumentExpression(nameof(tensor))] string? paramName = null)
    {
        ArgumentNullException.ThrowIfNull(tensor, paramName);
        if (tensor.FlattenedLength == 0) return Span<T>.Empty;
        if (!tensor.IsDense)
            throw new ArgumentException($"{paramName} of shape {Shapes.Format(tensor.Lengths)} is not dense (contiguous row-major); call ToDenseTensor() first.", paramName);
        return MemoryMarshal.CreateSpan(ref tensor.GetPinnableReference(), checked((int)tensor.FlattenedLength));
    }

    /// <summary>Read-only counterpart of <see cref="AsSpan{T}(Tensor{T}, string)"/>.</summary>
    /// <param name="tensor">The tensor.</param>
    /// <param name="paramName">The name errors report (by default the expression the method was called on).</param>
    public static ReadOnlySpan<T> AsReadOnlySpan<T>(this Tensor<T> tensor, [CallerArgumentExpression(nameof(tensor))] string? paramName = null) =>
        tensor.AsSpan(paramName);

    /// <summary>Copies the tensor's elements into a new array in row-major order.</summary>
    public static T[] ToArray<T>(this Tensor<T> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var result = new T[tensor.FlattenedLength];
        tensor.FlattenTo(result);
        return result;
    }

    /// <summary>The shape of the tensor as an <c>int</c> array.</summary>
    public static int[] Shape<T>(this Tensor<T> tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var s = new int[tensor.Rank];
        for (int i = 0; i < s.Length; i++) s[i] = checked((int)tensor.Lengths[i]);
        return s;
    }
}
