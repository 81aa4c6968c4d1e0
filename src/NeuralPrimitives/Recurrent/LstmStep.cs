// The LSTM's step equations, element-wise part (the contract is in RecurrentStep.cs; the matrix
// products around it are in RecurrentCell.cs and RecurrentTimeLoop.cs). Used by LstmCell and Lstm.
//
// Gate rows in PyTorch's order: i (input), f (forget), g (candidate), o (output); σ' = σ(1 − σ),
// tanh' = 1 − tanh².
// Forward, given a = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh = [a_i a_f a_g a_o]  [4H]:
//   i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
//   c' = f ⊙ c + i ⊙ g
//   h' = o ⊙ tanh(c')                      (with projSize, Lstm then maps h' to W_hr·h')
// Backward, given dh' and dc' (∂L/∂c' from step t+1):
//   dc' ← dc' + dh' ⊙ o ⊙ (1 − tanh²(c'))  the total gradient reaching c'
//   di = dc' ⊙ g     df = dc' ⊙ c     dg = dc' ⊙ i     do = dh' ⊙ tanh(c')
//   da = [di ⊙ i(1−i), df ⊙ f(1−f), dg ⊙ (1−g²), do ⊙ o(1−o)]               [4H]
//   dc = dc' ⊙ f                           the carry to c_{t−1} (the "constant error carousel")
//   No direct path for h: ∂L/∂h_{t−1} = da·W_hh (the caller's product).
// Why the LSTM keeps gradients alive: along the cell state ∂c'/∂c = diag(f), with no weight matrix
// and no squashing derivative. With the forget gate near 1 (e.g. a large forget bias) dc is carried
// back almost unchanged over many steps, where a tanh RNN multiplies by diag(1 − h²)·W_hh at every
// step and the gradient decays geometrically.
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

/// <summary>The LSTM step: gates i, f, g, o; c' = f⊙c + i⊙g; h' = o⊙tanh(c').</summary>
internal readonly struct LstmStep<T> : IRecurrentStep<T>, IUnitEquations<T, BackwardRow<T>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public static int GatesPerUnit => 4;
    public static bool HasCellState => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Forward(in ForwardRow<T> row)
    {
        int H = row.C.Length;
        var gates = row.Gates;
        Span<T> i = gates[..H], f = gates.Slice(H, H), g = gates.Slice(2 * H, H), o = gates.Slice(3 * H, H);
        VectorMath.Sigmoid<T>(gates[..(2 * H)], gates[..(2 * H)]);   // i = σ(a_i), f = σ(a_f)
        VectorMath.Tanh<T>(g, g);                                    // g = tanh(a_g)
        VectorMath.Sigmoid<T>(o, o);                                 // o = σ(a_o)
        TensorPrimitives.Multiply(f, row.C, row.C);                  // c' = f ⊙ c
        TensorPrimitives.MultiplyAdd(i, g, row.C, row.C);            //      + i ⊙ g
        VectorMath.Tanh<T>(row.C, row.TanhC);
        TensorPrimitives.Multiply(o, row.TanhC, row.H);              // h' = o ⊙ tanh(c')
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Backward(in BackwardRow<T> row)
    {
        Lanes<T>.ForEach<LstmStep<T>, BackwardRow<T>>(row, row.DC.Length);
        row.DHPrev.Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Units<L>(in BackwardRow<T> row, int j) where L : struct, ILane<L, T>
    {
        int H = row.DC.Length;
        L i = L.Load(row.Gates, j), f = L.Load(row.Gates, H + j), g = L.Load(row.Gates, 2 * H + j), o = L.Load(row.Gates, 3 * H + j);
        L tanhC = L.Load(row.TanhC, j), dh = L.Load(row.DH, j);
        L dc = L.Load(row.DC, j) + dh * o * (L.One - tanhC * tanhC);       // dc' ← dc' + dh' ⊙ o ⊙ tanh'(c')
        (dc * g * i * (L.One - i)).Store(row.DA, j);                         // di ⊙ σ'(a_i)
        (dc * L.Load(row.CPrev, j) * f * (L.One - f)).Store(row.DA, H + j);  // df ⊙ σ'(a_f)
        (dc * i * (L.One - g * g)).Store(row.DA, 2 * H + j);                 // dg ⊙ tanh'(a_g)
        (dh * tanhC * o * (L.One - o)).Store(row.DA, 3 * H + j);             // do ⊙ σ'(a_o)
        (dc * f).Store(row.DC, j);                                           // carry: dc = dc' ⊙ f
    }
}
