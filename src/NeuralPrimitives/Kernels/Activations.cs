// Element-wise activations, forward and backward (∂L/∂x = ∂L/∂y ⊙ f'(x)).
//
//   ReLU      y = max(x, 0)                       f' = 1[x > 0]            (0 at x = 0, as PyTorch; a NaN
//                                                                          input passes dy through, as PyTorch's
//                                                                          "0 where x ≤ 0" does)
//   Tanh      y = tanh x                          f' = 1 − y²
//   Sigmoid   y = σ(x) = 1/(1+e⁻ˣ)                f' = y(1 − y)
//   SiLU      y = x·σ(x)                          f' = σ(x)·(1 + x(1 − σ(x)))
//   GELU      y = x·Φ(x) = ½x(1 + erf(x/√2))      f' = Φ(x) + x·φ(x),  φ(x) = e^(−x²/2)/√(2π)
//   GELU tanh y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³)
//             f' = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)
// Backward takes the forward input x (and, for tanh and sigmoid, the output y, which is cheaper).
// GELU for float runs on SIMD vectors with an erf approximation (Kernels/GeluFloat.cs, |erf error| ≤ 1.5e−7, as PyTorch's
// CPU kernel); double evaluates erf by its series to full precision (gradient checks).
// x, y, dy, dx are equal-length spans; dx may alias dy. The SIMD backward passes share one driver loop
// (a Vector<T> body and a scalar tail) and differ only in a small gradient struct holding f' both ways.
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>How GELU is computed (PyTorch's <c>approximate</c> argument).</summary>
public enum GeluApproximation
{
    /// <summary>Exact: x·Φ(x) with the Gaussian CDF (PyTorch's <c>approximate='none'</c>).</summary>
    None,

    /// <summary>The tanh approximation (PyTorch's <c>approximate='tanh'</c>).</summary>
    Tanh,
}

/// <summary>Activation functions and their derivatives on spans.</summary>
public static class Activations
{
    private const double SqrtTwoOverPi = 0.79788456080286535588;
    private const double GeluCubic = 0.044715;

    /// <summary>y = max(x, 0).</summary>
    public static void Relu<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.Length(y.Length, x.Length, nameof(y));
        TensorPrimitives.Max(x, T.Zero, y);
    }

    /// <summary>dx = 0 where x ≤ 0, else dy (so a NaN x passes dy, as in PyTorch).</summary>
    public static void ReluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => Backward<T, ReluGrad<T>>(x, dy, dx);

    /// <summary>y = tanh x.</summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.Length(y.Length, x.Length, nameof(y));
        VectorMath.Tanh(x, y);
    }

    /// <summary>dx = dy ⊙ (1 − y²), from the output y = tanh x.</summary>
    public static void TanhBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => Backward<T, TanhGrad<T>>(y, dy, dx);

    /// <summary>y = σ(x).</summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.Length(y.Length, x.Length, nameof(y));
        VectorMath.Sigmoid(x, y);
    }

    /// <summary>dx = dy ⊙ y(1 − y), from the output y = σ(x).</summary>
    public static void SigmoidBackward<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => Backward<T, SigmoidGrad<T>>(y, dy, dx);

    /// <summary>dx = f'(saved) ⊙ dy, where the gradient struct knows f' (at x or at y) for a vector and for one element.</summary>
    private interface IGradient<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        static abstract Vector<T> Invoke(Vector<T> saved, Vector<T> dy);
        static abstract T Invoke(T saved, T dy);
    }

    private readonly struct ReluGrad<T> : IGradient<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public static Vector<T> Invoke(Vector<T> x, Vector<T> dy) => Vector.ConditionalSelect(Vector.LessThanOrEqual(x, Vector<T>.Zero), Vector<T>.Zero, dy);
        public static T Invoke(T x, T dy) => x <= T.Zero ? T.Zero : dy;
    }

    private readonly struct TanhGrad<T> : IGradient<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public static Vector<T> Invoke(Vector<T> y, Vector<T> dy) => dy * (Vector<T>.One - y * y);
        public static T Invoke(T y, T dy) => dy * (T.One - y * y);
    }

    private readonly struct SigmoidGrad<T> : IGradient<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public static Vector<T> Invoke(Vector<T> y, Vector<T> dy) => dy * y * (Vector<T>.One - y);
        public static T Invoke(T y, T dy) => dy * y * (T.One - y);
    }

    // The shared loop: whole vectors, then the scalar tail. Each vector of dy is read before dx is written, so dx may alias dy.
    private static void Backward<T, TGrad>(ReadOnlySpan<T> saved, ReadOnlySpan<T> dy, Span<T> dx)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where TGrad : struct, IGradient<T>
    {
        CheckBackward(saved.Length, dy.Length, dx.Length);
        int i = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
            for (; i <= saved.Length - Vector<T>.Count; i += Vector<T>.Count)
                TGrad.Invoke(new Vector<T>(saved[i..]), new Vector<T>(dy[i..])).CopyTo(dx[i..]);
        for (; i < saved.Length; i++) dx[i] = TGrad.Invoke(saved[i], dy[i]);
    }

    /// <summary>y = x·σ(x).</summary>
    public static void Silu<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.Length(y.Length, x.Length, nameof(y));
        VectorMath.Sigmoid(x, y);
        TensorPrimitives.Multiply(x, y, y);
    }

    /// <summary>dx = dy ⊙ σ(x)(1 + x(1 − σ(x))).</summary>
    public static void SiluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckBackward(x.Length, dy.Length, dx.Length);
        for (int i = 0; i < x.Length; i++)
        {
            T s = T.One / (T.One + T.Exp(-x[i]));
            dx[i] = dy[i] * s * (T.One + x[i] * (T.One - s));
        }
    }

    /// <summary>GELU, exact or tanh-approximated.</summary>
    public static void Gelu<T>(ReadOnlySpan<T> x, Span<T> y, GeluApproximation approximate = GeluApproximation.None) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckApproximation(approximate);
        Guard.Length(y.Length, x.Length, nameof(y));
        if (typeof(T) == typeof(float))
        {
            GeluFloat.Forward(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y), approximate == GeluApproximation.Tanh);
            return;
        }
        for (int i = 0; i < x.Length; i++)
        {
            double v = double.CreateTruncating(x[i]);
            double r = approximate == GeluApproximation.None
                ? 0.5 * v * (1 + VectorMath.Erf(v / Math.Sqrt(2)))
                : 0.5 * v * (1 + Math.Tanh(SqrtTwoOverPi * (v + GeluCubic * v * v * v)));
            y[i] = T.CreateTruncating(r);
        }
    }

    /// <summary>dx = dy ⊙ GELU'(x).</summary>
    public static void GeluBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, GeluApproximation approximate = GeluApproximation.None) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckApproximation(approximate);
        CheckBackward(x.Length, dy.Length, dx.Length);
        if (typeof(T) == typeof(float))
        {
            GeluFloat.Backward(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(dy), MemoryMarshal.Cast<T, float>(dx), approximate == GeluApproximation.Tanh);
            return;
        }
        for (int i = 0; i < x.Length; i++)
        {
            double v = double.CreateTruncating(x[i]), d;
            if (approximate == GeluApproximation.None)
            {
                double cdf = 0.5 * (1 + VectorMath.Erf(v / Math.Sqrt(2)));
                double pdf = Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI);
                d = cdf + v * pdf;
            }
            else
            {
                double t = Math.Tanh(SqrtTwoOverPi * (v + GeluCubic * v * v * v));
                d = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SqrtTwoOverPi * (1 + 3 * GeluCubic * v * v);
            }
            dx[i] = dy[i] * T.CreateTruncating(d);
        }
    }

    /// <summary>Throws unless <paramref name="approximate"/> is a defined <see cref="GeluApproximation"/> (a cast integer is not).</summary>
    internal static void CheckApproximation(GeluApproximation approximate, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(approximate))] string? name = null)
    {
        if (!Enum.IsDefined(approximate))
            throw new ArgumentOutOfRangeException(name, approximate, $"{name} must be GeluApproximation.None or GeluApproximation.Tanh, got {(int)approximate}.");
    }

    private static void CheckBackward(int xLength, int dyLength, int dxLength)
    {
        Guard.Length(dyLength, xLength, "dy");
        Guard.Length(dxLength, xLength, "dx");
    }
}
