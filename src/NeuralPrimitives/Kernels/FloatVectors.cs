// Float vectors as types with operators, so that an element-wise formula or a register-blocked kernel is written once,
// generic over the vector width, and the JIT compiles it once per width with every operation inlined:
//   Float512     Vector512<float>  (16 lanes; AVX-512)
//   FloatVector  Vector<float>     (the hardware's preferred width: 8 lanes on AVX2 and on AVX-512 hosts by default, 4 on
//                                    SSE/NEON; software lanes without SIMD, where callers take their scalar paths instead)
// Users: the GELU formulas (GeluFloat.cs) and the attention block products (Attention/AttentionKernels.cs). Each member
// is the one vector instruction (or VectorMath's exponential) of its name, so a formula gives the same bits at every width.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NeuralPrimitives;

/// <summary>The vector operations the generic float kernels use, for one vector type of float lanes.</summary>
internal unsafe interface IFloatVector<TSelf> where TSelf : struct, IFloatVector<TSelf>
{
    static abstract bool IsAccelerated { get; }
    static abstract int Count { get; }
    static abstract TSelf Create(float value);
    static abstract TSelf Load(float* p);
    static abstract void Store(TSelf v, float* p);
    static abstract float First(TSelf v);
    static abstract TSelf Abs(TSelf v);
    static abstract TSelf FusedMultiplyAdd(TSelf a, TSelf b, TSelf c);
    /// <summary>eᵛ per lane (VectorMath.ExpF).</summary>
    static abstract TSelf Exp(TSelf v);
    /// <summary>Per lane: <paramref name="a"/> where <paramref name="x"/> &lt; 0, else <paramref name="b"/>.</summary>
    static abstract TSelf WhereNegative(TSelf x, TSelf a, TSelf b);
    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a);
    static abstract TSelf operator *(TSelf a, TSelf b);
    static abstract TSelf operator /(TSelf a, TSelf b);
}

/// <summary>16 float lanes (Vector512).</summary>
internal readonly unsafe struct Float512(Vector512<float> v) : IFloatVector<Float512>
{
    private readonly Vector512<float> _v = v;
    public static bool IsAccelerated => Vector512.IsHardwareAccelerated;
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 Create(float value) => new(Vector512.Create(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 Load(float* p) => new(Vector512.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Float512 v, float* p) => v._v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float First(Float512 v) => v._v.ToScalar();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 Abs(Float512 v) => new(Vector512.Abs(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 FusedMultiplyAdd(Float512 a, Float512 b, Float512 c) => new(Vector512.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 Exp(Float512 v) => new(VectorMath.ExpF(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 WhereNegative(Float512 x, Float512 a, Float512 b) => new(Vector512.ConditionalSelect(Vector512.LessThan(x._v, Vector512<float>.Zero), a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 operator +(Float512 a, Float512 b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 operator -(Float512 a, Float512 b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 operator -(Float512 a) => new(-a._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 operator *(Float512 a, Float512 b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Float512 operator /(Float512 a, Float512 b) => new(a._v / b._v);
}

/// <summary>Vector&lt;float&gt;.Count float lanes.</summary>
internal readonly unsafe struct FloatVector(Vector<float> v) : IFloatVector<FloatVector>
{
    private readonly Vector<float> _v = v;
    public static bool IsAccelerated => Vector.IsHardwareAccelerated;
    public static int Count => Vector<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector Create(float value) => new(new Vector<float>(value));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector Load(float* p) => new(Vector.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(FloatVector v, float* p) => v._v.Store(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float First(FloatVector v) => v._v[0];
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector Abs(FloatVector v) => new(Vector.Abs(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector FusedMultiplyAdd(FloatVector a, FloatVector b, FloatVector c) => new(Vector.FusedMultiplyAdd(a._v, b._v, c._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector Exp(FloatVector v) => new(VectorMath.ExpF(v._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector WhereNegative(FloatVector x, FloatVector a, FloatVector b) => new(Vector.ConditionalSelect(Vector.LessThan(x._v, Vector<float>.Zero), a._v, b._v));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector operator +(FloatVector a, FloatVector b) => new(a._v + b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector operator -(FloatVector a, FloatVector b) => new(a._v - b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector operator -(FloatVector a) => new(-a._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector operator *(FloatVector a, FloatVector b) => new(a._v * b._v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static FloatVector operator /(FloatVector a, FloatVector b) => new(a._v / b._v);
}
