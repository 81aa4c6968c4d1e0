// GELU for float on SIMD vectors (Activations.Gelu / GeluBackward dispatch here for T = float; double keeps the
// exact series there, for gradient checks).
//
// Exact:  GELU(x) = ½x(1 + erf(z)),  z = x/√2
//         erf(z) ≈ sign(z)·(1 − (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵)·e^(−z²)),  t = 1/(1 + p|z|)
//         (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e−7, the approximation PyTorch's vectorised CPU erf uses)
//         GELU'(x) = Φ(x) + x·φ(x),  Φ(x) = ½(1 + erf(z)),  φ(x) = e^(−x²/2)/√(2π)  — the same e^(−z²) as erf's
// Tanh:   GELU(x) = ½x(1 + tanh u) = x·s,  u = √(2/π)(x + 0.044715x³),  s = σ(2u) = 1/(1 + e^(−2u))  (½(1 + tanh u) = σ(2u))
//         GELU'(x) = s + x·2s(1 − s)·√(2/π)(1 + 3·0.044715x²)          (1 − tanh²u = 4s(1 − s))
// One Vector<float> loop and a scalar tail that evaluates the same formulas, so results do not depend on the length;
// a long range is split between the threads (Kernels/Parallelism.cs, ParallelRanges).
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

internal static unsafe class GeluFloat
{
    private const float P = 0.3275911f, A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;
    private const float InvSqrt2 = 0.70710678118654752f, InvSqrt2Pi = 0.39894228040143268f;
    private const float SqrtTwoOverPi = 0.79788456080286535588f, Cubic = 0.044715f;

    public static void Forward(ReadOnlySpan<float> x, Span<float> y, bool tanh)
    {
        fixed (float* px = x, py = y) ParallelRanges.Run(new ForwardRange(px, py, tanh), x.Length);
    }

    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, bool tanh)
    {
        fixed (float* px = x, pdy = dy, pdx = dx) ParallelRanges.Run(new BackwardRange(px, pdy, pdx, tanh), x.Length);
    }

    private readonly struct ForwardRange(float* x, float* y, bool tanh) : IRangeOperation
    {
        public void Run(int start, int end) => ForwardPart(new(x + start, end - start), new(y + start, end - start), tanh);
    }

    private readonly struct BackwardRange(float* x, float* dy, float* dx, bool tanh) : IRangeOperation
    {
        public void Run(int start, int end) => BackwardPart(new(x + start, end - start), new(dy + start, end - start), new(dx + start, end - start), tanh);
    }

    private static void ForwardPart(ReadOnlySpan<float> x, Span<float> y, bool tanh)
    {
        ref float xr = ref MemoryMarshal.GetReference(x), yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                Value(Vector.LoadUnsafe(ref xr, (nuint)i), tanh).StoreUnsafe(ref yr, (nuint)i);
        for (; i < x.Length; i++) y[i] = Value(new Vector<float>(x[i]), tanh)[0];
    }

    private static void BackwardPart(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, bool tanh)
    {
        ref float xr = ref MemoryMarshal.GetReference(x), dyr = ref MemoryMarshal.GetReference(dy), dxr = ref MemoryMarshal.GetReference(dx);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                (Vector.LoadUnsafe(ref dyr, (nuint)i) * Derivative(Vector.LoadUnsafe(ref xr, (nuint)i), tanh)).StoreUnsafe(ref dxr, (nuint)i);
        for (; i < x.Length; i++) dx[i] = dy[i] * Derivative(new Vector<float>(x[i]), tanh)[0];
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Value(Vector<float> v, bool tanh) => tanh ? v * TanhGate(v) : v * Cdf(v, out _);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Derivative(Vector<float> v, bool tanh)
    {
        if (tanh)
        {
            var s = TanhGate(v);
            var du = new Vector<float>(SqrtTwoOverPi) * (Vector<float>.One + new Vector<float>(3 * Cubic) * v * v);
            return s + v * new Vector<float>(2) * s * (Vector<float>.One - s) * du;
        }
        var cdf = Cdf(v, out var gauss);                      // gauss = e^(−x²/2)
        return cdf + v * gauss * new Vector<float>(InvSqrt2Pi);
    }

    /// <summary>Φ(x) = ½(1 + erf(x/√2)) by A&amp;S 7.1.26; also returns e^(−x²/2).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Cdf(Vector<float> x, out Vector<float> gauss)
    {
        var z = Vector.Abs(x) * new Vector<float>(InvSqrt2);
        var t = Vector<float>.One / (Vector<float>.One + new Vector<float>(P) * z);
        var poly = Vector.FusedMultiplyAdd(new Vector<float>(A5), t, new Vector<float>(A4));
        poly = Vector.FusedMultiplyAdd(poly, t, new Vector<float>(A3));
        poly = Vector.FusedMultiplyAdd(poly, t, new Vector<float>(A2));
        poly = Vector.FusedMultiplyAdd(poly, t, new Vector<float>(A1));
        gauss = VectorMath.ExpF(-(z * z));
        var erfAbs = Vector<float>.One - poly * t * gauss;
        var erf = Vector.ConditionalSelect(Vector.LessThan(x, Vector<float>.Zero), -erfAbs, erfAbs);
        return new Vector<float>(0.5f) * (Vector<float>.One + erf);
    }

    /// <summary>σ(2u) = ½(1 + tanh u), u = √(2/π)(x + 0.044715x³).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector<float> TanhGate(Vector<float> x)
    {
        var u = new Vector<float>(SqrtTwoOverPi) * (x + new Vector<float>(Cubic) * x * x * x);
        return Vector<float>.One / (Vector<float>.One + VectorMath.ExpF(new Vector<float>(-2) * u));
    }
}
