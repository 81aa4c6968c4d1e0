// Element-wise transcendental functions used by the activations, softmax and recurrent gates:
// our own SIMD kernels for float and double (Vector512 where AVX-512 is present, else Vector<T>,
// i.e. 256-bit AVX2 or 128-bit SSE/NEON, else scalar Math), TensorPrimitives for any other T.
// benchmarks/README.md has the measurements behind the choice (speed and accuracy against
// TensorPrimitives' Exp/Tanh/Sigmoid).
//
// exp x      x is clamped to [−104, 89] (float) / [−746, 710] (double). Range reduction:
//            k = round(x·log₂e) (adding 1.5·2ᵐ, m = mantissa bits, rounds and leaves k in the low
//            bits), r = x − k·ln2 (ln2 split hi + lo, so k·ln2_hi is exact), |r| ≤ ln2/2.
//            eˣ = 2ᵏ·eʳ, eʳ a polynomial of degree 6 (float) / 11 (double): Chebyshev fits of eʳ on
//            [−ln2/2, ln2/2], errors 2e−9 / 3e−18 (< 0.05 ulp). 2ᵏ is written into the exponent
//            bits; when some lane's 2ᵏ is not a normal number (subnormal result or overflow to +∞)
//            that vector uses two factors 2^⌊k/2⌋·2^(k−⌊k/2⌋) instead, so those results are right too.
// expm1 u    (u ≥ 0, inside tanh) Same reduction; eʳ − 1 = r + r²·Σₙ rⁿ/(n+2)! (Taylor, to r⁷/7!
//            for float, r¹³/13! for double: truncation < 0.1 ulp), and
//            eᵘ − 1 = 2ᵏ·(eʳ − 1) + (2ᵏ − 1): no cancellation near u = 0.
// tanh x     = sign(x)·m/(m + 2), m = expm1(2|x|); |x| is clamped to 10 (float) / 20 (double),
//            where tanh already rounds to 1. Accurate to a few ulp near 0 (no 1 − small).
// σ(x)       e = exp(−|x|) ∈ (0, 1]:  σ = 1/(1 + e) for x ≥ 0,  e/(1 + e) for x < 0 (one division
//            either way). Never overflows; keeps relative accuracy in the left tail (σ(−100) ≈ 3.7e−44, not 0).
// Specials:  NaN → NaN; exp(+∞) = +∞, exp(−∞) = 0; tanh(±∞) = ±1, tanh(−0) = −0; σ(+∞) = 1, σ(−∞) = 0.
// Shapes:    x and y are spans; y needs at least x.Length elements; y may alias x exactly
//            (in place), partial overlap is not supported.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NeuralPrimitives;

/// <summary>Vectorised element-wise exp, tanh, sigmoid and erf on spans.</summary>
internal static class VectorMath
{
    /// <summary>y = eˣ.</summary>
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> y) where T : IExponentialFunctions<T>
    {
        if (typeof(T) == typeof(float)) Apply<ExpOp, float>(AsFloat(x), AsFloat(y));
        else if (typeof(T) == typeof(double)) Apply<ExpOp, double>(AsDouble(x), AsDouble(y));
        else TensorPrimitives.Exp(x, y);
    }

    /// <summary>eˣ per lane of one <see cref="Vector{T}"/> (float or double): the same kernel as <see cref="Exp{T}(ReadOnlySpan{T}, Span{T})"/>'s vector body, for loops that fuse it with other work.</summary>
    /// <remarks>Without SIMD hardware each lane takes <c>T.Exp</c> (software vector arithmetic would be much slower).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<T> Exp<T>(Vector<T> x) where T : unmanaged, IExponentialFunctions<T>
    {
        if (!Vector.IsHardwareAccelerated)
        {
            Span<T> lanes = stackalloc T[Vector<T>.Count];
            x.CopyTo(lanes);
            foreach (ref T v in lanes) v = T.Exp(v);
            return new Vector<T>(lanes);
        }
        if (typeof(T) == typeof(float)) return ExpF(x.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double)) return ExpD(x.As<T, double>()).As<double, T>();
        throw new NotSupportedException($"VectorMath.Exp: element type {typeof(T).Name} (float and double only).");
    }

    /// <summary>y = tanh x.</summary>
    public static void Tanh<T>(ReadOnlySpan<T> x, Span<T> y) where T : IHyperbolicFunctions<T>
    {
        if (typeof(T) == typeof(float)) Apply<TanhOp, float>(AsFloat(x), AsFloat(y));
        else if (typeof(T) == typeof(double)) Apply<TanhOp, double>(AsDouble(x), AsDouble(y));
        else TensorPrimitives.Tanh(x, y);
    }

    /// <summary>y = 1 / (1 + e⁻ˣ).</summary>
    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y) where T : IExponentialFunctions<T>
    {
        if (typeof(T) == typeof(float)) Apply<SigmoidOp, float>(AsFloat(x), AsFloat(y));
        else if (typeof(T) == typeof(double)) Apply<SigmoidOp, double>(AsDouble(x), AsDouble(y));
        else TensorPrimitives.Sigmoid(x, y);
    }

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

    // ---- the driver: one loop for both element types, the operation is a struct (no calls in the loop) ----

    private static ReadOnlySpan<float> AsFloat<T>(ReadOnlySpan<T> s) =>
        MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<T, float>(ref MemoryMarshal.GetReference(s)), s.Length);

    private static Span<float> AsFloat<T>(Span<T> s) =>
        MemoryMarshal.CreateSpan(ref Unsafe.As<T, float>(ref MemoryMarshal.GetReference(s)), s.Length);

    private static ReadOnlySpan<double> AsDouble<T>(ReadOnlySpan<T> s) =>
        MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<T, double>(ref MemoryMarshal.GetReference(s)), s.Length);

    private static Span<double> AsDouble<T>(Span<T> s) =>
        MemoryMarshal.CreateSpan(ref Unsafe.As<T, double>(ref MemoryMarshal.GetReference(s)), s.Length);

    private static void Apply<TOp, T>(ReadOnlySpan<T> x, Span<T> y) where TOp : struct, IUnaryOp<T> where T : unmanaged
    {
        Guard.MinLength(y.Length, x.Length, nameof(y));
        ref T xr = ref MemoryMarshal.GetReference(x);
        ref T yr = ref MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - Vector512<T>.Count; i += Vector512<T>.Count)
                TOp.Invoke(Vector512.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            if (i < n)
            {
                // Tail through a padded stack vector: same results as the body, safe in place.
                Span<T> tail = stackalloc T[Vector512<T>.Count];
                tail.Clear();
                x[i..].CopyTo(tail);
                TOp.Invoke(Vector512.Create<T>(tail)).CopyTo(tail);
                tail[..(n - i)].CopyTo(y[i..]);
            }
        }
        else if (Vector.IsHardwareAccelerated)
        {
            for (; i <= n - Vector<T>.Count; i += Vector<T>.Count)
                TOp.Invoke(Vector.LoadUnsafe(ref xr, (nuint)i)).StoreUnsafe(ref yr, (nuint)i);
            if (i < n)
            {
                Span<T> tail = stackalloc T[Vector<T>.Count];
                tail.Clear();
                x[i..].CopyTo(tail);
                TOp.Invoke(new Vector<T>(tail)).CopyTo(tail);
                tail[..(n - i)].CopyTo(y[i..]);
            }
        }
        else
            for (; i < n; i++) y[i] = TOp.Invoke(x[i]);
    }

    /// <summary>An element-wise operation at every width the drivers use.</summary>
    private interface IUnaryOp<T> where T : unmanaged
    {
        static abstract Vector512<T> Invoke(Vector512<T> x);
        static abstract Vector<T> Invoke(Vector<T> x);
        static abstract T Invoke(T x);
    }

    private readonly struct ExpOp : IUnaryOp<float>, IUnaryOp<double>
    {
        public static Vector512<float> Invoke(Vector512<float> x) => ExpF(x);
        public static Vector<float> Invoke(Vector<float> x) => ExpF(x);
        public static float Invoke(float x) => MathF.Exp(x);
        public static Vector512<double> Invoke(Vector512<double> x) => ExpD(x);
        public static Vector<double> Invoke(Vector<double> x) => ExpD(x);
        public static double Invoke(double x) => Math.Exp(x);
    }

    private readonly struct TanhOp : IUnaryOp<float>, IUnaryOp<double>
    {
        public static Vector512<float> Invoke(Vector512<float> x)
        {
            var m = Expm1F(Vector512.Min(Vector512.Abs(x) * 2f, Vector512.Create(TanhClampF * 2)));
            var t = Vector512.CopySign(m / (m + Vector512.Create(2f)), x);
            return Vector512.ConditionalSelect(Vector512.Equals(x, x), t, x);
        }

        public static Vector<float> Invoke(Vector<float> x)
        {
            var m = Expm1F(Vector.Min(Vector.Abs(x) * 2f, new Vector<float>(TanhClampF * 2)));
            var t = Vector.CopySign(m / (m + new Vector<float>(2f)), x);
            return Vector.ConditionalSelect(Vector.Equals(x, x), t, x);
        }

        public static float Invoke(float x) => MathF.Tanh(x);

        public static Vector512<double> Invoke(Vector512<double> x)
        {
            var m = Expm1D(Vector512.Min(Vector512.Abs(x) * 2d, Vector512.Create(TanhClampD * 2)));
            var t = Vector512.CopySign(m / (m + Vector512.Create(2d)), x);
            return Vector512.ConditionalSelect(Vector512.Equals(x, x), t, x);
        }

        public static Vector<double> Invoke(Vector<double> x)
        {
            var m = Expm1D(Vector.Min(Vector.Abs(x) * 2d, new Vector<double>(TanhClampD * 2)));
            var t = Vector.CopySign(m / (m + new Vector<double>(2d)), x);
            return Vector.ConditionalSelect(Vector.Equals(x, x), t, x);
        }

        public static double Invoke(double x) => Math.Tanh(x);
    }

    private readonly struct SigmoidOp : IUnaryOp<float>, IUnaryOp<double>
    {
        public static Vector512<float> Invoke(Vector512<float> x)
        {
            var e = ExpF(-Vector512.Abs(x));
            return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), e, Vector512<float>.One) / (Vector512<float>.One + e);
        }

        public static Vector<float> Invoke(Vector<float> x)
        {
            var e = ExpF(-Vector.Abs(x));
            return Vector.ConditionalSelect(Vector.LessThan(x, Vector<float>.Zero), e, Vector<float>.One) / (Vector<float>.One + e);
        }

        public static float Invoke(float x)
        {
            float e = MathF.Exp(-MathF.Abs(x));
            return (x < 0 ? e : 1) / (1 + e);
        }

        public static Vector512<double> Invoke(Vector512<double> x)
        {
            var e = ExpD(-Vector512.Abs(x));
            return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<double>.Zero), e, Vector512<double>.One) / (Vector512<double>.One + e);
        }

        public static Vector<double> Invoke(Vector<double> x)
        {
            var e = ExpD(-Vector.Abs(x));
            return Vector.ConditionalSelect(Vector.LessThan(x, Vector<double>.Zero), e, Vector<double>.One) / (Vector<double>.One + e);
        }

        public static double Invoke(double x)
        {
            double e = Math.Exp(-Math.Abs(x));
            return (x < 0 ? e : 1) / (1 + e);
        }
    }

    // ---- cores ----

    private const float Log2EF = 1.44269504088896341f;
    private const float Ln2HiF = 0.693145751953125f;        // 0x3F317200: 16 significant bits, k·Ln2HiF is exact
    private const float Ln2LoF = 1.42860682030941723e-6f;   // ln2 − Ln2HiF
    private const float ExpMinF = -104f, ExpMaxF = 89f;     // e^−104 < half the smallest subnormal; e^89 > float.MaxValue
    private const float TanhClampF = 10f;                   // 1 − tanh 10 ≈ 4e−9 < ulp(1)/2
    private const float ShifterF = 12582912f;               // 1.5·2²³: x + ShifterF rounds x to an integer held in the low mantissa bits
    private const int ShifterBitsF = 0x4B400000;            // bit pattern of ShifterF
    // eʳ ≈ 1 + r + Σ_{n=2..6} ExpFn·rⁿ on |r| ≤ ln2/2: mpmath.chebyfit(exp, [−ln2/2, ln2/2], 7), error 2e−9.
    private const float ExpF2 = 0.50000000471177576744f, ExpF3 = 0.16666415514653275427f, ExpF4 = 0.041666352896775156787f;
    private const float ExpF5 = 0.0083751263981533356792f, ExpF6 = 0.0013941108433972674605f;

    private const double Log2ED = 1.44269504088896338700;
    private const double Ln2HiD = 6.93147180369123816490e-01; // low 32 bits zero: k·Ln2HiD is exact
    private const double Ln2LoD = 1.90821492927058770002e-10; // ln2 − Ln2HiD
    private const double ExpMinD = -746d, ExpMaxD = 710d;
    private const double TanhClampD = 20d;                    // 1 − tanh 20 ≈ 8e−18 < ulp(1)/2
    private const double ShifterD = 6755399441055744d;        // 1.5·2⁵²
    private const long ShifterBitsD = 0x4338000000000000;     // bit pattern of ShifterD
    // eʳ ≈ 1 + r + Σ_{n=2..11} ExpDn·rⁿ on |r| ≤ ln2/2: mpmath.chebyfit(exp, [−ln2/2, ln2/2], 12), error 3e−18.
    private const double ExpD2 = 0.50000000000000183855, ExpD3 = 0.16666666666666680806, ExpD4 = 0.041666666666488095495;
    private const double ExpD5 = 0.0083333333333196006109, ExpD6 = 0.0013888888952314774652, ExpD7 = 0.00019841269890047113707;
    private const double ExpD8 = 0.000024801485482328492419, ExpD9 = 2.7557240918578969823e-6, ExpD10 = 2.7632639639041029744e-7;
    private const double ExpD11 = 2.5110037605963777708e-8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpF(Vector512<float> x)
    {
        var xc = Vector512.MinNative(Vector512.MaxNative(x, Vector512.Create(ExpMinF)), Vector512.Create(ExpMaxF));
        var kShifted = Vector512.FusedMultiplyAdd(xc, Vector512.Create(Log2EF), Vector512.Create(ShifterF)); // round(x·log₂e) in the low bits
        var k = kShifted - Vector512.Create(ShifterF);
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2HiF), xc);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2LoF), r);
        var p = Vector512.Create(ExpF6);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpF5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpF4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpF3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpF2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        var ki = kShifted.AsInt32() - Vector512.Create(ShifterBitsF);
        Vector512<float> y;
        if (Vector512.GreaterThanAny((ki + Vector512.Create(126)).AsUInt32(), Vector512.Create(253u)))
        {
            // Some 2ᵏ outside the normal range [2⁻¹²⁶, 2¹²⁷] (subnormal or overflowing result): two factors.
            var k1 = Vector512.ShiftRightArithmetic(ki, 1);
            var s1 = Vector512.ShiftLeft(k1 + Vector512.Create(127), 23).AsSingle();
            var s2 = Vector512.ShiftLeft(ki - k1 + Vector512.Create(127), 23).AsSingle();
            y = p * s1 * s2;
        }
        else
            y = p * Vector512.ShiftLeft(ki + Vector512.Create(127), 23).AsSingle();
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), y, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector<float> ExpF(Vector<float> x)
    {
        var xc = Vector.MinNative(Vector.MaxNative(x, new Vector<float>(ExpMinF)), new Vector<float>(ExpMaxF));
        var kShifted = Vector.FusedMultiplyAdd(xc, new Vector<float>(Log2EF), new Vector<float>(ShifterF)); // round(x·log₂e) in the low bits
        var k = kShifted - new Vector<float>(ShifterF);
        var r = Vector.FusedMultiplyAdd(k, new Vector<float>(-Ln2HiF), xc);
        r = Vector.FusedMultiplyAdd(k, new Vector<float>(-Ln2LoF), r);
        var p = new Vector<float>(ExpF6);
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(ExpF5));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(ExpF4));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(ExpF3));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(ExpF2));
        p = Vector.FusedMultiplyAdd(p, r, Vector<float>.One);
        p = Vector.FusedMultiplyAdd(p, r, Vector<float>.One);
        var ki = Vector.AsVectorInt32(kShifted) - new Vector<int>(ShifterBitsF);
        Vector<float> y;
        if (Vector.GreaterThanAny(Vector.AsVectorUInt32(ki + new Vector<int>(126)), new Vector<uint>(253u)))
        {
            var k1 = Vector.ShiftRightArithmetic(ki, 1);
            var s1 = Vector.AsVectorSingle(Vector.ShiftLeft(k1 + new Vector<int>(127), 23));
            var s2 = Vector.AsVectorSingle(Vector.ShiftLeft(ki - k1 + new Vector<int>(127), 23));
            y = p * s1 * s2;
        }
        else
            y = p * Vector.AsVectorSingle(Vector.ShiftLeft(ki + new Vector<int>(127), 23));
        return Vector.ConditionalSelect(Vector.Equals(x, x), y, x);
    }

    /// <summary>eᵘ − 1 for 0 ≤ u ≤ 2·TanhClampF (so 2ᵏ is a normal number in one factor).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Expm1F(Vector512<float> u)
    {
        var kShifted = Vector512.FusedMultiplyAdd(u, Vector512.Create(Log2EF), Vector512.Create(ShifterF));
        var k = kShifted - Vector512.Create(ShifterF);
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2HiF), u);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2LoF), r);
        var p = Vector512.Create(1f / 5040);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        var q = Vector512.FusedMultiplyAdd(p, r * r, r);                 // eʳ − 1
        var s = Vector512.ShiftLeft(kShifted.AsInt32() - Vector512.Create(ShifterBitsF - 127), 23).AsSingle();
        return Vector512.FusedMultiplyAdd(s, q, s - Vector512<float>.One); // 2ᵏ(eʳ − 1) + (2ᵏ − 1)
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Expm1F(Vector<float> u)
    {
        var kShifted = Vector.FusedMultiplyAdd(u, new Vector<float>(Log2EF), new Vector<float>(ShifterF));
        var k = kShifted - new Vector<float>(ShifterF);
        var r = Vector.FusedMultiplyAdd(k, new Vector<float>(-Ln2HiF), u);
        r = Vector.FusedMultiplyAdd(k, new Vector<float>(-Ln2LoF), r);
        var p = new Vector<float>(1f / 5040);
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(1f / 720));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(1f / 120));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(1f / 24));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(1f / 6));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<float>(0.5f));
        var q = Vector.FusedMultiplyAdd(p, r * r, r);
        var s = Vector.AsVectorSingle(Vector.ShiftLeft(Vector.AsVectorInt32(kShifted) - new Vector<int>(ShifterBitsF - 127), 23));
        return Vector.FusedMultiplyAdd(s, q, s - Vector<float>.One);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> ExpD(Vector512<double> x)
    {
        var xc = Vector512.MinNative(Vector512.MaxNative(x, Vector512.Create(ExpMinD)), Vector512.Create(ExpMaxD));
        var kShifted = Vector512.FusedMultiplyAdd(xc, Vector512.Create(Log2ED), Vector512.Create(ShifterD));
        var k = kShifted - Vector512.Create(ShifterD);
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2HiD), xc);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2LoD), r);
        var p = Vector512.Create(ExpD11);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD10));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD9));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD8));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD7));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpD2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<double>.One);
        var ki = kShifted.AsInt64() - Vector512.Create(ShifterBitsD);
        Vector512<double> y;
        if (Vector512.GreaterThanAny((ki + Vector512.Create(1022L)).AsUInt64(), Vector512.Create(2045UL)))
        {
            // Some 2ᵏ outside [2⁻¹⁰²², 2¹⁰²³]: two factors.
            var k1 = Vector512.ShiftRightArithmetic(ki, 1);
            var s1 = Vector512.ShiftLeft(k1 + Vector512.Create(1023L), 52).AsDouble();
            var s2 = Vector512.ShiftLeft(ki - k1 + Vector512.Create(1023L), 52).AsDouble();
            y = p * s1 * s2;
        }
        else
            y = p * Vector512.ShiftLeft(ki + Vector512.Create(1023L), 52).AsDouble();
        return Vector512.ConditionalSelect(Vector512.Equals(x, x), y, x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> ExpD(Vector<double> x)
    {
        var xc = Vector.MinNative(Vector.MaxNative(x, new Vector<double>(ExpMinD)), new Vector<double>(ExpMaxD));
        var kShifted = Vector.FusedMultiplyAdd(xc, new Vector<double>(Log2ED), new Vector<double>(ShifterD));
        var k = kShifted - new Vector<double>(ShifterD);
        var r = Vector.FusedMultiplyAdd(k, new Vector<double>(-Ln2HiD), xc);
        r = Vector.FusedMultiplyAdd(k, new Vector<double>(-Ln2LoD), r);
        var p = new Vector<double>(ExpD11);
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD10));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD9));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD8));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD7));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD6));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD5));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD4));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD3));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(ExpD2));
        p = Vector.FusedMultiplyAdd(p, r, Vector<double>.One);
        p = Vector.FusedMultiplyAdd(p, r, Vector<double>.One);
        var ki = Vector.AsVectorInt64(kShifted) - new Vector<long>(ShifterBitsD);
        Vector<double> y;
        if (Vector.GreaterThanAny(Vector.AsVectorUInt64(ki + new Vector<long>(1022L)), new Vector<ulong>(2045UL)))
        {
            var k1 = Vector.ShiftRightArithmetic(ki, 1);
            var s1 = Vector.AsVectorDouble(Vector.ShiftLeft(k1 + new Vector<long>(1023L), 52));
            var s2 = Vector.AsVectorDouble(Vector.ShiftLeft(ki - k1 + new Vector<long>(1023L), 52));
            y = p * s1 * s2;
        }
        else
            y = p * Vector.AsVectorDouble(Vector.ShiftLeft(ki + new Vector<long>(1023L), 52));
        return Vector.ConditionalSelect(Vector.Equals(x, x), y, x);
    }

    /// <summary>eᵘ − 1 for 0 ≤ u ≤ 2·TanhClampD.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Expm1D(Vector512<double> u)
    {
        var kShifted = Vector512.FusedMultiplyAdd(u, Vector512.Create(Log2ED), Vector512.Create(ShifterD));
        var k = kShifted - Vector512.Create(ShifterD);
        var r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2HiD), u);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2LoD), r);
        var q = Vector512.FusedMultiplyAdd(TaylorTailD(r), r * r, r);
        var s = Vector512.ShiftLeft(kShifted.AsInt64() - Vector512.Create(ShifterBitsD - 1023L), 52).AsDouble();
        return Vector512.FusedMultiplyAdd(s, q, s - Vector512<double>.One);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> Expm1D(Vector<double> u)
    {
        var kShifted = Vector.FusedMultiplyAdd(u, new Vector<double>(Log2ED), new Vector<double>(ShifterD));
        var k = kShifted - new Vector<double>(ShifterD);
        var r = Vector.FusedMultiplyAdd(k, new Vector<double>(-Ln2HiD), u);
        r = Vector.FusedMultiplyAdd(k, new Vector<double>(-Ln2LoD), r);
        var q = Vector.FusedMultiplyAdd(TaylorTailD(r), r * r, r);
        var s = Vector.AsVectorDouble(Vector.ShiftLeft(Vector.AsVectorInt64(kShifted) - new Vector<long>(ShifterBitsD - 1023L), 52));
        return Vector.FusedMultiplyAdd(s, q, s - Vector<double>.One);
    }

    /// <summary>Σ_{n=2..13} rⁿ⁻²/n! (Horner), |r| ≤ ln2/2: the omitted r¹⁴/14! is below 5e−18.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> TaylorTailD(Vector512<double> r)
    {
        var p = Vector512.Create(1d / 6227020800);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 479001600));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 39916800));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 3628800));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 362880));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 40320));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 5040));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 720));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1d / 6));
        return Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5d));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> TaylorTailD(Vector<double> r)
    {
        var p = new Vector<double>(1d / 6227020800);
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 479001600));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 39916800));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 3628800));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 362880));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 40320));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 5040));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 720));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 120));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 24));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1d / 6));
        return Vector.FusedMultiplyAdd(p, r, new Vector<double>(0.5d));
    }
}
