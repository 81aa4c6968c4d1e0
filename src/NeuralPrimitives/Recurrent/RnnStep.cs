// The Elman RNN's step equations, element-wise part (the contract is in RecurrentStep.cs; the matrix
// products around it are in RecurrentCell.cs and RecurrentTimeLoop.cs). Used by RnnCell and Rnn.
//
// Forward, given a = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh  [H]:
//   h' = act(a)            act = tanh (RnnTanh) or relu (RnnRelu); h' is also the cached "gate"
// Backward, given dh' = ∂L/∂h' (the total gradient reaching h'):
//   da = dh' ⊙ act'(a), written with the output h' = act(a):
//        tanh'(a) = 1 − h'²        relu'(a) = [h' > 0]
//   No direct path: h_{t−1} reaches h' only through W_hh, so ∂L/∂h_{t−1} = da·W_hh (the caller's product).
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>h' = act(a); da = dh' ⊙ act'(a), with the activation <typeparamref name="TAct"/> (<see cref="RnnTanh{T}"/> or <see cref="RnnRelu{T}"/>).</summary>
internal readonly struct RnnStep<T, TAct> : IRecurrentStep<T>, IUnitEquations<T, BackwardRow<T>>
    where T : unmanaged, IBinaryFloatingPointIeee754<T> where TAct : IRnnActivation<T>
{
    public static int GatesPerUnit => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Forward(in ForwardRow<T> row)
    {
        TAct.Forward(row.Gates);                        // h' = act(a)
        row.Gates.CopyTo(row.H);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Backward(in BackwardRow<T> row)
    {
        Lanes<T>.ForEach<RnnStep<T, TAct>, BackwardRow<T>>(row, row.DH.Length);
        row.DHPrev.Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Units<L>(in BackwardRow<T> row, int j) where L : struct, ILane<L, T> =>
        TAct.Backward(L.Load(row.Gates, j), L.Load(row.DH, j)).Store(row.DA, j);   // da = dh' ⊙ act'(a)
}

/// <summary>An RNN's activation: h' = act(a) in place, and dh' ⊙ act'(a) from the output h'.</summary>
internal interface IRnnActivation<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>a ← act(a).</summary>
    static abstract void Forward(Span<T> a);

    /// <summary>dh' ⊙ act'(a), written with h' = act(a).</summary>
    static abstract L Backward<L>(L h, L dh) where L : struct, ILane<L, T>;
}

/// <summary>h' = tanh(a); tanh'(a) = 1 − h'².</summary>
internal readonly struct RnnTanh<T> : IRnnActivation<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Forward(Span<T> a) => VectorMath.Tanh<T>(a, a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static L Backward<L>(L h, L dh) where L : struct, ILane<L, T> => dh * (L.One - h * h);
}

/// <summary>h' = max(0, a); relu'(a) = [h' &gt; 0].</summary>
internal readonly struct RnnRelu<T> : IRnnActivation<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Forward(Span<T> a) => TensorPrimitives.Max(a, T.Zero, a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static L Backward<L>(L h, L dh) where L : struct, ILane<L, T> => L.WherePositive(h, dh);
}
