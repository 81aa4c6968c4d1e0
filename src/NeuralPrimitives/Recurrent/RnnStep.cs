// The Elman RNN's step equations, element-wise part (the contract is in RecurrentStep.cs; the matrix
// products around it are in RecurrentCell.cs and RecurrentTimeLoop.cs). Used by RnnCell and Rnn.
//
// Forward, given a = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh  [H]:
//   h' = act(a)            act = tanh (RnnTanhStep) or relu (RnnReluStep); h' is also the cached "gate"
// Backward, given dh' = ∂L/∂h' (the total gradient reaching h'):
//   da = dh' ⊙ act'(a), written with the output h' = act(a):
//        tanh'(a) = 1 − h'²        relu'(a) = [h' > 0]
//   No direct path: h_{t−1} reaches h' only through W_hh, so ∂L/∂h_{t−1} = da·W_hh (the caller's product).
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>h' = tanh(a); da = dh' ⊙ (1 − h'²).</summary>
internal readonly struct RnnTanhStep<T> : IRecurrentStep<T>, IUnitEquations<T, BackwardRow<T>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public static int GatesPerUnit => 1;
    public static bool HasCellState => false;
    public static bool HiddenGatesApart => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Forward(in ForwardRow<T> row)
    {
        VectorMath.Tanh<T>(row.Gates, row.Gates);       // h' = tanh(a)
        row.Gates.CopyTo(row.H);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Backward(in BackwardRow<T> row)
    {
        Lanes<T>.ForEach<RnnTanhStep<T>, BackwardRow<T>>(row, row.DH.Length);
        row.DHPrev.Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Units<L>(in BackwardRow<T> row, int j) where L : struct, ILane<L, T>
    {
        L h = L.Load(row.Gates, j);
        (L.Load(row.DH, j) * (L.One - h * h)).Store(row.DA, j);    // da = dh' ⊙ tanh'(a) = dh' ⊙ (1 − h'²)
    }
}

/// <summary>h' = max(0, a); da = dh' ⊙ [h' &gt; 0].</summary>
internal readonly struct RnnReluStep<T> : IRecurrentStep<T>, IUnitEquations<T, BackwardRow<T>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public static int GatesPerUnit => 1;
    public static bool HasCellState => false;
    public static bool HiddenGatesApart => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Forward(in ForwardRow<T> row)
    {
        TensorPrimitives.Max(row.Gates, T.Zero, row.Gates);   // h' = relu(a)
        row.Gates.CopyTo(row.H);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Backward(in BackwardRow<T> row)
    {
        Lanes<T>.ForEach<RnnReluStep<T>, BackwardRow<T>>(row, row.DH.Length);
        row.DHPrev.Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Units<L>(in BackwardRow<T> row, int j) where L : struct, ILane<L, T> =>
        L.WherePositive(L.Load(row.Gates, j), L.Load(row.DH, j)).Store(row.DA, j);   // da = dh' ⊙ [h' > 0]
}
