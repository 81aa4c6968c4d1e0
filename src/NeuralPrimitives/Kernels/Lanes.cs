// Lanes: how one definition of an element-wise equation serves both the vector body of a loop and its
// scalar tail (the operator-struct pattern of TensorPrimitives, Gemm.Kernels.cs and VectorMath.cs).
// An equation is written once, as a generic method over a lane type L, with ordinary operators:
//
//     L dc = L.Load(row.DC, j) + dh * o * (L.One - tc * tc);        (Recurrent/LstmStep.cs)
//     var m = L.Broadcast(beta1) * L.Load(ref m0, i) + …;            (Optim/Adam.cs)
//
// and a driver runs it over elements 0 … n−1: with L = VectorLane<T> (Vector<T>.Count consecutive
// elements at once) while a whole vector fits, then with L = ScalarLane<T> (one element) for the
// tail. Both lane types are structs, so the JIT compiles the equation once per lane type with the
// operators inlined: no virtual or delegate call in the loop. Without SIMD hardware every element
// takes the scalar lane. The lanes use only +, −, ×, ÷, √, max and select — no fused multiply-add —
// so a vector lane and a scalar lane round identically, and a result does not depend on where a
// thread's range or a vector boundary falls.
//
// Two drivers, for the two ways an equation carries its data:
//   Lanes<T>.ForEach<TEquations, TArgs>(args, n)  static equations reading a readonly argument struct
//   Lanes<T>.Run<TKernel>(ref kernel, n)           an instance kernel (a ref struct holding refs)
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>A group of consecutive elements an element-wise equation runs on: one scalar, or one SIMD vector of them.</summary>
internal interface ILane<TSelf, T> where TSelf : struct, ILane<TSelf, T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Elements per lane.</summary>
    static abstract int Count { get; }

    /// <summary>Every element 1.</summary>
    static abstract TSelf One { get; }

    /// <summary>Every element equal to <paramref name="value"/>.</summary>
    static abstract TSelf Broadcast(T value);

    /// <summary>Reads the elements <paramref name="index"/> … of <paramref name="source"/> (the caller keeps them in bounds).</summary>
    static abstract TSelf Load(ReadOnlySpan<T> source, int index);

    /// <summary>Reads <see cref="Count"/> elements starting at <c>source[index]</c>.</summary>
    static abstract TSelf Load(ref T source, int index);

    /// <summary>Writes <see cref="Count"/> elements starting at <c>destination[index]</c>.</summary>
    static abstract void Store(TSelf value, ref T destination, int index);

    /// <summary>Writes the lane to the elements <paramref name="index"/> … of <paramref name="destination"/>.</summary>
    void Store(Span<T> destination, int index);

    /// <summary>Per element: <paramref name="value"/> where <paramref name="condition"/> &gt; 0, else 0.</summary>
    static abstract TSelf WherePositive(TSelf condition, TSelf value);

    /// <summary>Element-wise square root (IEEE, correctly rounded).</summary>
    static abstract TSelf Sqrt(TSelf a);

    /// <summary>Element-wise maximum (NaN-propagating, like <c>torch.maximum</c>).</summary>
    static abstract TSelf Max(TSelf a, TSelf b);

    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);
    static abstract TSelf operator /(TSelf a, TSelf b);
}

/// <summary>An element-wise equation over a row, generic over the lane type (see <see cref="Lanes{T}.ForEach"/>).</summary>
internal interface IUnitEquations<T, TArgs> where T : unmanaged, IBinaryFloatingPointIeee754<T> where TArgs : allows ref struct
{
    /// <summary>Computes the elements <paramref name="j"/> … <paramref name="j"/> + L.Count − 1.</summary>
    static abstract void Units<L>(in TArgs args, int j) where L : struct, ILane<L, T>;
}

/// <summary>An update of elements [i, i + TL.Count) — a ref struct holding refs to the arrays and the step's coefficients.</summary>
internal interface IElementwiseKernel<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Updates the <typeparamref name="TL"/>.Count elements starting at <paramref name="i"/>.</summary>
    void Apply<TL>(int i) where TL : struct, ILane<TL, T>;
}

/// <summary>Runs an element-wise equation over a range: the vector body, then the scalar tail.</summary>
internal static class Lanes<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private static bool Vectorised => Vector.IsHardwareAccelerated && Vector<T>.IsSupported;

    /// <summary>Elements 0 … <paramref name="n"/>−1 of <typeparamref name="TEquations"/>: Vector&lt;T&gt;-wide while a vector fits, then one at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForEach<TEquations, TArgs>(in TArgs args, int n)
        where TEquations : IUnitEquations<T, TArgs> where TArgs : allows ref struct
    {
        int j = 0;
        if (Vectorised)
            for (; j <= n - Vector<T>.Count; j += Vector<T>.Count) TEquations.Units<VectorLane<T>>(args, j);
        for (; j < n; j++) TEquations.Units<ScalarLane<T>>(args, j);
    }

    /// <summary>Applies <paramref name="kernel"/> to elements [0, <paramref name="length"/>) of the arrays it refers to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TK>(ref TK kernel, int length) where TK : IElementwiseKernel<T>, allows ref struct
    {
        int i = 0;
        if (Vectorised)
            for (; i <= length - Vector<T>.Count; i += Vector<T>.Count) kernel.Apply<VectorLane<T>>(i);
        for (; i < length; i++) kernel.Apply<ScalarLane<T>>(i);
    }

    /// <summary>A reference to <c>array[index]</c>, or a null reference when the (optional) array is absent.</summary>
    public static ref T At(T[]? array, int index)
    {
        if (array is null) return ref Unsafe.NullRef<T>();
        return ref array[index];
    }
}

/// <summary><see cref="Vector{T}.Count"/> consecutive elements (the hardware's preferred vector width).</summary>
internal readonly struct VectorLane<T>(Vector<T> value) : ILane<VectorLane<T>, T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Vector<T> _v = value;

    public static int Count => Vector<T>.Count;

    public static VectorLane<T> One { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(Vector<T>.One); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Broadcast(T value) => new(new Vector<T>(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Load(ReadOnlySpan<T> source, int index) => new(Vector.LoadUnsafe(ref MemoryMarshal.GetReference(source), (nuint)index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Load(ref T source, int index) => new(Vector.LoadUnsafe(ref source, (nuint)index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(VectorLane<T> value, ref T destination, int index) => value._v.StoreUnsafe(ref destination, (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index) => _v.StoreUnsafe(ref MemoryMarshal.GetReference(destination), (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> WherePositive(VectorLane<T> condition, VectorLane<T> value) =>
        new(Vector.ConditionalSelect(Vector.GreaterThan(condition._v, Vector<T>.Zero), value._v, Vector<T>.Zero));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Sqrt(VectorLane<T> a) => new(Vector.SquareRoot(a._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Max(VectorLane<T> a, VectorLane<T> b) => new(Vector.Max(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> operator +(VectorLane<T> a, VectorLane<T> b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> operator -(VectorLane<T> a, VectorLane<T> b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> operator *(VectorLane<T> a, VectorLane<T> b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> operator /(VectorLane<T> a, VectorLane<T> b) => new(a._v / b._v);
}

/// <summary>One element.</summary>
internal readonly struct ScalarLane<T>(T value) : ILane<ScalarLane<T>, T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly T _v = value;

    public static int Count => 1;

    public static ScalarLane<T> One { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(T.One); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Broadcast(T value) => new(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Load(ReadOnlySpan<T> source, int index) => new(source[index]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Load(ref T source, int index) => new(Unsafe.Add(ref source, index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ScalarLane<T> value, ref T destination, int index) => Unsafe.Add(ref destination, index) = value._v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index) => destination[index] = _v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> WherePositive(ScalarLane<T> condition, ScalarLane<T> value) => new(condition._v > T.Zero ? value._v : T.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Sqrt(ScalarLane<T> a) => new(T.Sqrt(a._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Max(ScalarLane<T> a, ScalarLane<T> b) => new(T.Max(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator +(ScalarLane<T> a, ScalarLane<T> b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator -(ScalarLane<T> a, ScalarLane<T> b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator *(ScalarLane<T> a, ScalarLane<T> b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator /(ScalarLane<T> a, ScalarLane<T> b) => new(a._v / b._v);
}
