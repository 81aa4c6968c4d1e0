// Element-wise transcendental functions used by the activations, softmax and recurrent gates.
// One place to choose the implementation: TensorPrimitives' Exp/Tanh/Sigmoid, or our own SIMD
// kernels where measurement shows they are faster at comparable accuracy (see
// benchmarks/README.md for the numbers behind each choice).
namespace NeuralPrimitives;

/// <summary>Vectorised element-wise exp, tanh, sigmoid and erf on spans.</summary>
internal static class VectorMath
{
    /// <summary>y = eˣ.</summary>
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> y) where T : IExponentialFunctions<T>
        => TensorPrimitives.Exp(x, y);

    /// <summary>y = tanh x.</summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : IHyperbolicFunctions<T>
        => TensorPrimitives.Tanh(x, y);

    /// <summary>y = 1 / (1 + e⁻ˣ).</summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : IExponentialFunctions<T>
        => TensorPrimitives.Sigmoid(x, y);

    /// <summary>
    /// The error function, accurate to double precision: erf x = (2/√π)·e^(−x²)·Σₙ 2ⁿx^(2n+1)/(1·3·…·(2n+1)).
    /// Every term is positive (no cancellation); |x| ≥ 6 gives ±1 (erfc 6 ≈ 2e-17).
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return x;
        double ax = Math.Abs(x);
        if (ax >= 6) return Math.Sign(x);
        double x2 = ax * ax, term = ax, sum = ax;
        for (int n = 1; n < 500; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (term < 1e-17 * sum) break;
        }
        double r = 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
        return x < 0 ? -r : r;
    }
}
