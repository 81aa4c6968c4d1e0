// The contract of a cell kind's step equations: the element-wise part of one timestep of one
// sequence, forward and backward. The matrix products around it are the same for every kind and are
// done by the callers, the one-step cells (RecurrentCell.cs) and the sequence engine
// (RecurrentTimeLoop.cs):
//
//   forward    a = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh        (GRU: gx = x·W_ihᵀ + b_ih, gh = h·W_hhᵀ + b_hh apart)
//              Forward(row): gates = act(a), the new state (h, and c for the LSTM)
//   backward   Backward(row): dA = ∂L/∂a from dh (and dc), the direct part of ∂L/∂h_{t−1}
//              ∂L/∂h_{t−1} = direct + dA_h·W_hh     ∂L/∂x = dA·W_ih
//              dW_ih += dAᵀ·x   dW_hh += dA_hᵀ·h_{t−1}   db_ih += dA   db_hh += dA_h
//
// One struct per kind implements it (RnnStep.cs: RnnStep with RnnTanh or RnnRelu; LstmStep.cs; GruStep.cs),
// and the callers are generic over it (RecurrentEngine<T, TStep>), so the equations exist once and
// every call to them is resolved at compile time. A new cell kind is a new step struct.
namespace NeuralPrimitives;

/// <summary>The element-wise equations of one recurrent cell kind (see RecurrentStep.cs).</summary>
internal interface IRecurrentStep<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Gate blocks per hidden unit: the pre-activation row a has G = GatesPerUnit·H entries (RNN 1, LSTM 4, GRU 3).</summary>
    static abstract int GatesPerUnit { get; }

    /// <summary>Whether the cell carries a cell state c beside h (the LSTM; the others keep this default, false).</summary>
    static virtual bool HasCellState => false;

    /// <summary>
    /// Whether the hidden product gh = h·W_hhᵀ + b_hh stays apart from the input side instead of being added into a
    /// (the GRU, whose n gate needs r ⊙ gh_n); its backward then gives a separate hidden-side gradient dA_h.
    /// The others keep this default, false.
    /// </summary>
    static virtual bool HiddenGatesApart => false;

    /// <summary>One step of one sequence: activates <see cref="ForwardRow{T}.Gates"/> in place and writes the new state.</summary>
    static abstract void Forward(in ForwardRow<T> row);

    /// <summary>One step of one sequence backwards: the gate gradients and the direct part of ∂L/∂h_{t−1}.</summary>
    static abstract void Backward(in BackwardRow<T> row);
}

/// <summary>What the forward equations of one step of one sequence read and write. A kind uses the fields it needs.</summary>
internal ref struct ForwardRow<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>[G·H]. In: the pre-activations a (biases added). Out: the activated gates, cached for the backward.</summary>
    public Span<T> Gates;

    /// <summary>GRU: gh = h·W_hhᵀ + b_hh [3H].</summary>
    public ReadOnlySpan<T> HiddenGates;

    /// <summary>[H]. In: h_{t−1} (read by the GRU). Out: h_t (the LSTM writes o ⊙ tanh c_t, which a projection then maps to h_t).</summary>
    public Span<T> H;

    /// <summary>LSTM [H]. In: c_{t−1}. Out: c_t.</summary>
    public Span<T> C;

    /// <summary>LSTM [H]. Out: tanh(c_t), cached for the backward.</summary>
    public Span<T> TanhC;
}

/// <summary>What the backward equations of one step of one sequence read and write. A kind uses the fields it needs.</summary>
internal ref struct BackwardRow<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>The activated gates the forward cached [G·H] (RNN: h_t itself).</summary>
    public ReadOnlySpan<T> Gates;

    /// <summary>GRU: gh = h_{t−1}·W_hhᵀ + b_hh [3H].</summary>
    public ReadOnlySpan<T> HiddenGates;

    /// <summary>GRU: h_{t−1} [H].</summary>
    public ReadOnlySpan<T> HPrev;

    /// <summary>LSTM: tanh(c_t) [H].</summary>
    public ReadOnlySpan<T> TanhC;

    /// <summary>LSTM: c_{t−1} [H].</summary>
    public ReadOnlySpan<T> CPrev;

    /// <summary>The total ∂L/∂h_t [H] (from the output at t and from step t+1; with an LSTM projection, ∂L/∂(o ⊙ tanh c_t)).</summary>
    public ReadOnlySpan<T> DH;

    /// <summary>LSTM [H]. In: ∂L/∂c_t from step t+1. Out: ∂L/∂c_{t−1}.</summary>
    public Span<T> DC;

    /// <summary>Out: ∂L/∂a [G·H], the input-side pre-activation gradient (also the hidden side unless <see cref="IRecurrentStep{T}.HiddenGatesApart"/>).</summary>
    public Span<T> DA;

    /// <summary>GRU, out: ∂L/∂gh [3H], the hidden-side gradient.</summary>
    public Span<T> DAHidden;

    /// <summary>Out [H]: the part of ∂L/∂h_{t−1} that bypasses W_hh (GRU: dh ⊙ z; RNN and LSTM: 0). The caller adds dA_h·W_hh.</summary>
    public Span<T> DHPrev;
}
