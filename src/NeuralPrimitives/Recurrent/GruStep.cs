// The GRU's step equations, element-wise part (the contract is in RecurrentStep.cs; the matrix
// products around it are in RecurrentCell.cs and RecurrentTimeLoop.cs). Used by GruCell and Gru.
//
// Gate rows in PyTorch's order: r (reset), z (update), n (new). PyTorch's variant keeps b_hn inside
// the reset product, so the hidden side stays apart from the input side:
// Forward, given gx = x·W_ihᵀ + b_ih = [gx_r gx_z gx_n] and gh = h·W_hhᵀ + b_hh = [gh_r gh_z gh_n]:
//   r = σ(gx_r + gh_r)      z = σ(gx_z + gh_z)
//   n = tanh(gx_n + r ⊙ gh_n)
//   h' = (1 − z) ⊙ n + z ⊙ h  =  n + z ⊙ (h − n)
// Backward, given dh':
//   dn = dh' ⊙ (1 − z)        dz = dh' ⊙ (h − n)
//   da_n = dn ⊙ (1 − n²)      (the gradient of n's pre-activation)
//   dr = da_n ⊙ gh_n          da_r = dr ⊙ r(1 − r)       da_z = dz ⊙ z(1 − z)
//   input side  dGx = [da_r, da_z, da_n]
//   hidden side dGh = [da_r, da_z, da_n ⊙ r]                                   [3H]
//   direct path ∂L/∂h_{t−1} = dh' ⊙ z + dGh·W_hh (the caller adds the product)
// The direct path dh' ⊙ z is the GRU's gradient highway: with z near 1 the state (and its gradient)
// passes through a step almost unchanged, as the LSTM's cell state does with f ≈ 1.
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>The GRU step: gates r, z, n; n = tanh(gx_n + r⊙gh_n); h' = (1−z)⊙n + z⊙h.</summary>
internal readonly struct GruStep<T> : IRecurrentStep<T>, IUnitEquations<T, BackwardRow<T>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public static int GatesPerUnit => 3;
    public static bool HiddenGatesApart => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Forward(in ForwardRow<T> row)
    {
        int H = row.H.Length;
        var gates = row.Gates;
        Span<T> rz = gates[..(2 * H)], r = gates[..H], z = gates.Slice(H, H), n = gates.Slice(2 * H, H);
        TensorPrimitives.Add(rz, row.HiddenGates[..(2 * H)], rz);
        VectorMath.Sigmoid<T>(rz, rz);                                           // r, z = σ(gx + gh)
        TensorPrimitives.MultiplyAdd(r, row.HiddenGates.Slice(2 * H, H), n, n);
        VectorMath.Tanh<T>(n, n);                                                // n = tanh(gx_n + r ⊙ gh_n)
        TensorPrimitives.Subtract(row.H, n, row.H);                              // h − n
        TensorPrimitives.MultiplyAdd(z, row.H, n, row.H);                        // h' = n + z ⊙ (h − n)
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Backward(in BackwardRow<T> row) => Lanes<T>.ForEach<GruStep<T>, BackwardRow<T>>(row, row.DH.Length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Units<L>(in BackwardRow<T> row, int j) where L : struct, ILane<L, T>
    {
        int H = row.DH.Length;
        L r = L.Load(row.Gates, j), z = L.Load(row.Gates, H + j), n = L.Load(row.Gates, 2 * H + j), dh = L.Load(row.DH, j);
        L daN = dh * (L.One - z) * (L.One - n * n);                              // dn ⊙ tanh'(n)
        L daR = daN * L.Load(row.HiddenGates, 2 * H + j) * r * (L.One - r);      // dr ⊙ σ'(r), dr = da_n ⊙ gh_n
        L daZ = dh * (L.Load(row.HPrev, j) - n) * z * (L.One - z);               // dz ⊙ σ'(z)
        daR.Store(row.DA, j); daZ.Store(row.DA, H + j); daN.Store(row.DA, 2 * H + j);
        daR.Store(row.DAHidden, j); daZ.Store(row.DAHidden, H + j); (daN * r).Store(row.DAHidden, 2 * H + j);
        (dh * z).Store(row.DHPrev, j);                                           // the direct path dh' ⊙ z
    }
}
