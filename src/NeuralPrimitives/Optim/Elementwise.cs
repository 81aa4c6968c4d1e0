// The loop every optimiser update runs: an element-wise kernel over a parameter (or one row of it),
// written once against a "lane" type so that the same arithmetic runs on a SIMD vector of
// Vector<T>.Count elements and on the scalar tail (the operator-struct pattern of TensorPrimitives).
// Lanes use only +, −, ×, ÷, √ and max — no fused multiply-add — so a vector lane and a scalar lane
// round identically, and the result does not depend on where a thread's range starts.
//
// Optimiser updates read and write several arrays per element and do little arithmetic, so they
// are bound by memory bandwidth: one fused pass per parameter (instead of one pass per tensor
// operation, as PyTorch's single-tensor and foreach paths run them) is where the speed comes from.
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>A SIMD vector or a single element, with the arithmetic an optimiser update needs.</summary>
internal interface ILane<TSelf, T>
    where TSelf : struct, ILane<TSelf, T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Elements per lane.</summary>
    static abstract int Count { get; }

    /// <summary>Reads <see cref="Count"/> elements starting at <c>source[i]</c>.</summary>
    static abstract TSelf Load(ref T source, int i);

    /// <summary>Writes <see cref="Count"/> elements starting at <c>destination[i]</c>.</summary>
    static abstract void Store(TSelf value, ref T destination, int i);

    /// <summary>Every element equal to <paramref name="value"/>.</summary>
    static abstract TSelf Broadcast(T value);

    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);
    static abstract TSelf operator /(TSelf a, TSelf b);

    /// <summary>Element-wise square root (IEEE, correctly rounded).</summary>
    static abstract TSelf Sqrt(TSelf a);

    /// <summary>Element-wise maximum (NaN-propagating, like <c>torch.maximum</c>).</summary>
    static abstract TSelf Max(TSelf a, TSelf b);
}

/// <summary>One element.</summary>
internal readonly struct ScalarLane<T>(T value) : ILane<ScalarLane<T>, T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly T _v = value;

    public static int Count => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Load(ref T source, int i) => new(Unsafe.Add(ref source, i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ScalarLane<T> value, ref T destination, int i) => Unsafe.Add(ref destination, i) = value._v;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Broadcast(T value) => new(value);

    public static ScalarLane<T> operator +(ScalarLane<T> a, ScalarLane<T> b) => new(a._v + b._v);
    public static ScalarLane<T> operator -(ScalarLane<T> a, ScalarLane<T> b) => new(a._v - b._v);
    public static ScalarLane<T> operator *(ScalarLane<T> a, ScalarLane<T> b) => new(a._v * b._v);
    public static ScalarLane<T> operator /(ScalarLane<T> a, ScalarLane<T> b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Sqrt(ScalarLane<T> a) => new(T.Sqrt(a._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Max(ScalarLane<T> a, ScalarLane<T> b) => new(T.Max(a._v, b._v));
}

/// <summary><see cref="Vector{T}.Count"/> elements (the hardware's preferred vector width).</summary>
internal readonly struct VectorLane<T>(Vector<T> value) : ILane<VectorLane<T>, T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Vector<T> _v = value;

    public static int Count => Vector<T>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Load(ref T source, int i) => new(Vector.LoadUnsafe(ref source, (nuint)i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(VectorLane<T> value, ref T destination, int i) => value._v.StoreUnsafe(ref destination, (nuint)i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Broadcast(T value) => new(new Vector<T>(value));

    public static VectorLane<T> operator +(VectorLane<T> a, VectorLane<T> b) => new(a._v + b._v);
    public static VectorLane<T> operator -(VectorLane<T> a, VectorLane<T> b) => new(a._v - b._v);
    public static VectorLane<T> operator *(VectorLane<T> a, VectorLane<T> b) => new(a._v * b._v);
    public static VectorLane<T> operator /(VectorLane<T> a, VectorLane<T> b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Sqrt(VectorLane<T> a) => new(Vector.SquareRoot(a._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLane<T> Max(VectorLane<T> a, VectorLane<T> b) => new(Vector.Max(a._v, b._v));
}

/// <summary>An update of elements [i, i + TL.Count) — a ref struct holding refs to the arrays and the step's coefficients.</summary>
internal interface IElementwiseKernel<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Updates the <typeparamref name="TL"/>.Count elements starting at <paramref name="i"/>.</summary>
    void Apply<TL>(int i) where TL : struct, ILane<TL, T>;
}

/// <summary>Runs a kernel over a range: SIMD vectors first, then the scalar tail.</summary>
internal static class Elementwise<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Applies <paramref name="kernel"/> to elements [0, <paramref name="length"/>) of the arrays it refers to.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Run<TK>(ref TK kernel, int length) where TK : IElementwiseKernel<T>, allows ref struct
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
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
