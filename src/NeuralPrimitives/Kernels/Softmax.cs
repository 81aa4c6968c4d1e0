// Numerically stable softmax and log-softmax over the last axis of a [rows, n] buffer.
//
// Forward (per row, m = max_j x_j, so that no exponent is positive and nothing overflows):
//   softmax:     y_i = e^(x_i − m) / Σ_j e^(x_j − m)
//   log-softmax: y_i = (x_i − m) − log Σ_j e^(x_j − m)
// Backward (given dy = ∂L/∂y):
//   softmax:     dx_i = y_i · (dy_i − Σ_j dy_j·y_j)
//   log-softmax: dx_i = dy_i − e^(y_i) · Σ_j dy_j
// TensorPrimitives.SoftMax skips the max shift and returns NaN from inputs near 89 (float)
// upwards; with the shift, inputs of ±1e4 give exact results. A row of all −∞ gives NaN, as
// in PyTorch (attention handles fully masked rows itself and returns zeros).
namespace NeuralPrimitives;

/// <summary>Stable softmax / log-softmax over the last axis, forward and backward, on row-major spans.</summary>
public static class Softmax
{
    /// <summary>y = softmax(x) row by row; <paramref name="x"/> and <paramref name="y"/> are [rows, n] and may alias.</summary>
    public static void Forward<T>(ReadOnlySpan<T> x, Span<T> y, int n) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckRows(x.Length, y.Length, n, nameof(y));
        for (int r = 0; r < x.Length; r += n)
        {
            var xr = x.Slice(r, n); var yr = y.Slice(r, n);
            T max = TensorPrimitives.Max(xr);
            TensorPrimitives.Subtract(xr, max, yr);
            VectorMath.Exp<T>(yr, yr);
            TensorPrimitives.Multiply(yr, T.One / TensorPrimitives.Sum<T>(yr), yr);
        }
    }

    /// <summary>dx = y ⊙ (dy − Σ dy⊙y) row by row, from the softmax output <paramref name="y"/>.</summary>
    public static void Backward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckRows(y.Length, dy.Length, n, nameof(dy));
        CheckRows(y.Length, dx.Length, n, nameof(dx));
        for (int r = 0; r < y.Length; r += n)
        {
            var yr = y.Slice(r, n); var dyr = dy.Slice(r, n); var dxr = dx.Slice(r, n);
            T dot = TensorPrimitives.Dot(yr, dyr);
            TensorPrimitives.Subtract(dyr, dot, dxr);
            TensorPrimitives.Multiply(dxr, yr, dxr);
        }
    }

    /// <summary>y = log_softmax(x) row by row; <paramref name="x"/> and <paramref name="y"/> may alias.</summary>
    public static void LogForward<T>(ReadOnlySpan<T> x, Span<T> y, int n) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckRows(x.Length, y.Length, n, nameof(y));
        Span<T> scratch = stackalloc T[Math.Min(n, 256)];
        for (int r = 0; r < x.Length; r += n)
        {
            var xr = x.Slice(r, n); var yr = y.Slice(r, n);
            T max = TensorPrimitives.Max(xr);
            // y = (x − m) − log Σ e^(x−m), in that order: x − (m + logSum) loses the low bits of
            // logSum when |m| is large (float, m = 1e4: errors of 4e-4). The sum of exponentials
            // goes through a small stack scratch so that y may alias x.
            TensorPrimitives.Subtract(xr, max, yr);
            T sum = T.Zero;
            for (int c = 0; c < n; c += scratch.Length)
            {
                var chunk = yr.Slice(c, Math.Min(scratch.Length, n - c));
                VectorMath.Exp<T>(chunk, scratch[..chunk.Length]);
                sum += TensorPrimitives.Sum<T>(scratch[..chunk.Length]);
            }
            TensorPrimitives.Subtract(yr, T.Log(sum), yr);
        }
    }

    /// <summary>dx = dy − e^y · Σ dy row by row, from the log-softmax output <paramref name="y"/>.</summary>
    public static void LogBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckRows(y.Length, dy.Length, n, nameof(dy));
        CheckRows(y.Length, dx.Length, n, nameof(dx));
        for (int r = 0; r < y.Length; r += n)
        {
            var yr = y.Slice(r, n); var dyr = dy.Slice(r, n); var dxr = dx.Slice(r, n);
            T sum = TensorPrimitives.Sum(dyr);
            VectorMath.Exp(yr, dxr);
            TensorPrimitives.MultiplyAdd(dxr, -sum, dyr, dxr);
        }
    }

    private static void CheckRows(int xLength, int otherLength, int n, string otherName)
    {
        Guard.Positive(n);
        if (xLength % n != 0)
            throw new ArgumentException($"x length {xLength} is not a multiple of the row length n = {n}.", "x");
        Guard.Length(otherLength, xLength, otherName);
    }
}
