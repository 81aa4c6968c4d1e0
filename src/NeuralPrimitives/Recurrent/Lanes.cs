// Lanes: how one definition of an element-wise equation serves both the vector body of a loop and its
// scalar tail. The recurrent step equations (RnnStep.cs, LstmStep.cs, GruStep.cs) are written once, as
// a generic method over a lane type L, with ordinary operators:
//
//     L dc = L.Load(row.DC, j) + dh * o * (L.One - tc * tc);
//
// and `Lanes<T>.ForEach` runs that method over the units 0 … n−1 of a row: with L = VectorLanes<T>
// (Vector<T>.Count consecutive units at once) while a whole vector fits, then with L = ScalarLane<T>
// (one unit) for the tail. Both lane types are structs, so the JIT compiles the method once per lane
// type with the operators inlined: no virtual or delegate call in the loop (the pattern of
// Gemm.Kernels.cs and VectorMath.cs). Without SIMD hardware the whole row takes the scalar lane.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>A group of consecutive units an element-wise equation runs on: one scalar, or one SIMD vector of them.</summary>
internal interface ILanes<TSelf, T> where TSelf : struct, ILanes<TSelf, T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Every lane 1.</summary>
    static abstract TSelf One { get; }

    /// <summary>Reads the units <paramref name="index"/> … of <paramref name="source"/> (the caller keeps them in bounds).</summary>
    static abstract TSelf Load(ReadOnlySpan<T> source, int index);

    /// <summary>Writes the lanes to the units <paramref name="index"/> … of <paramref name="destination"/>.</summary>
    void Store(Span<T> destination, int index);

    /// <summary>Per lane: <paramref name="value"/> where <paramref name="condition"/> &gt; 0, else 0.</summary>
    static abstract TSelf WherePositive(TSelf condition, TSelf value);

    static abstract TSelf operator +(TSelf a, TSelf b);
    static abstract TSelf operator -(TSelf a, TSelf b);
    static abstract TSelf operator *(TSelf a, TSelf b);
}

/// <summary>An element-wise equation over the units of a row, generic over the lane type (see <see cref="Lanes{T}.ForEach"/>).</summary>
internal interface IUnitEquations<T, TArgs> where T : unmanaged, IBinaryFloatingPointIeee754<T> where TArgs : allows ref struct
{
    /// <summary>Computes the units <paramref name="j"/> … <paramref name="j"/> + L.Count − 1.</summary>
    static abstract void Units<L>(in TArgs args, int j) where L : struct, ILanes<L, T>;
}

/// <summary>Runs an element-wise equation over a row: the vector body, then the scalar tail.</summary>
internal static class Lanes<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Units 0 … <paramref name="n"/>−1 of <typeparamref name="TEquations"/>: Vector&lt;T&gt;-wide while a vector fits, then one at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ForEach<TEquations, TArgs>(in TArgs args, int n)
        where TEquations : IUnitEquations<T, TArgs> where TArgs : allows ref struct
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
            for (; j <= n - Vector<T>.Count; j += Vector<T>.Count) TEquations.Units<VectorLanes<T>>(args, j);
        for (; j < n; j++) TEquations.Units<ScalarLane<T>>(args, j);
    }
}

/// <summary><see cref="Vector{T}.Count"/> consecutive units.</summary>
internal readonly struct VectorLanes<T>(Vector<T> value) : ILanes<VectorLanes<T>, T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Vector<T> _value = value;

    public static VectorLanes<T> One { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(Vector<T>.One); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLanes<T> Load(ReadOnlySpan<T> source, int index) =>
        new(Vector.LoadUnsafe(ref MemoryMarshal.GetReference(source), (nuint)index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index) => _value.StoreUnsafe(ref MemoryMarshal.GetReference(destination), (nuint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLanes<T> WherePositive(VectorLanes<T> condition, VectorLanes<T> value) =>
        new(Vector.ConditionalSelect(Vector.GreaterThan(condition._value, Vector<T>.Zero), value._value, Vector<T>.Zero));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLanes<T> operator +(VectorLanes<T> a, VectorLanes<T> b) => new(a._value + b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLanes<T> operator -(VectorLanes<T> a, VectorLanes<T> b) => new(a._value - b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorLanes<T> operator *(VectorLanes<T> a, VectorLanes<T> b) => new(a._value * b._value);
}

/// <summary>One unit.</summary>
internal readonly struct ScalarLane<T>(T value) : ILanes<ScalarLane<T>, T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly T _value = value;

    public static ScalarLane<T> One { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => new(T.One); }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> Load(ReadOnlySpan<T> source, int index) => new(source[index]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Store(Span<T> destination, int index) => destination[index] = _value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> WherePositive(ScalarLane<T> condition, ScalarLane<T> value) => new(condition._value > T.Zero ? value._value : T.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator +(ScalarLane<T> a, ScalarLane<T> b) => new(a._value + b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator -(ScalarLane<T> a, ScalarLane<T> b) => new(a._value - b._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ScalarLane<T> operator *(ScalarLane<T> a, ScalarLane<T> b) => new(a._value * b._value);
}
