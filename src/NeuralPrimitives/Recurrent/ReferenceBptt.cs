// Backpropagation through time, written plainly: START HERE to learn how Lstm's backward works.
//
// An LSTM layer run over T steps is T copies of one cell that share their weights:
//
//   forward   for t = 0 … T−1:    (h_t, c_t) = cell(x_t, h_{t−1}, c_{t−1})         y_t = h_t
//   backward  dh_next = ∂L/∂h_T, dc_next = ∂L/∂c_T   (zeros when the loss ignores the final state)
//             for t = T−1 … 0:    dh_t = ∂L/∂y_t + dh_next      the output at t, and every later step through h_t
//                                 (dx_t, dh_next, dc_next) = cell_t.Backward(dh_t, dc_next)
//             dW = Σ_t dW_t                                      shared weights: their gradient is the sum over steps
//
// That is all of BPTT. Each step's Backward (LstmCell.cs, equations in LstmStep.cs) needs the
// values of ITS forward, so the loop keeps one step module per timestep, each loaded with the
// cell's weights. The layer (Lstm<T>, RecurrentEngine.cs and the files it lists) computes exactly
// the same numbers — tests check that — but reorganised for speed: the input products of all T steps
// as one matrix product, the weight gradients as one product over all steps instead of T small ones,
// the batch split across threads, and buffers reused instead of T modules.
// (The style follows Karpathy's min-char-rnn, which does the same for a vanilla RNN in numpy.)
namespace NeuralPrimitives;

/// <summary>
/// Reference implementations of backpropagation through time, written for reading: a loop of one-step cells forward,
/// then their backward in reverse carrying the state gradients. Slow (it allocates a module per timestep); the layers
/// (<see cref="Lstm{T}"/>) compute the same results fast.
/// </summary>
public static class ReferenceBptt
{
    /// <summary>
    /// One LSTM layer over a sequence, forward and backward, step by step with <paramref name="cell"/>'s weights:
    /// returns the outputs and the input and initial-state gradients, and ADDS the weight gradients to
    /// <paramref name="cell"/>'s parameters (as <see cref="LstmCell{T}.Backward"/> does).
    /// </summary>
    /// <param name="cell">The weights, shared by every step; receives the gradients.</param>
    /// <param name="input">The sequence [T, B, I], time-major.</param>
    /// <param name="dOutput">∂L/∂output [T, B, H].</param>
    /// <param name="h0">Initial hidden state [B, H]; zeros when null.</param>
    /// <param name="c0">Initial cell state [B, H]; zeros when null.</param>
    /// <param name="dHN">∂L/∂h_T [B, H]; zeros when null.</param>
    /// <param name="dCN">∂L/∂c_T [B, H]; zeros when null.</param>
    /// <returns>The outputs, the final states, and ∂L/∂input, ∂L/∂h0, ∂L/∂c0.</returns>
    /// <exception cref="ArgumentException">A tensor's shape does not match [T, B, I], [T, B, H] or [B, H].</exception>
    public static ReferenceBpttResult<T> Lstm<T>(LstmCell<T> cell, Tensor<T> input, Tensor<T> dOutput,
        Tensor<T>? h0 = null, Tensor<T>? c0 = null, Tensor<T>? dHN = null, Tensor<T>? dCN = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int steps = CheckArguments(cell, input, dOutput, h0, c0, dHN, dCN);

        // Forward: one step module per timestep, all with the cell's weights.
        var unrolled = new LstmCell<T>[steps];
        var output = new Tensor<T>[steps];
        Tensor<T>? h = h0, c = c0;
        for (int t = 0; t < steps; t++)
        {
            unrolled[t] = new LstmCell<T>(cell.InputSize, cell.HiddenSize, cell.BiasIh is not null, new Rng(0));
            unrolled[t].LoadStateDict(cell.StateDict());
            (h, c) = unrolled[t].Forward(At(input, t), h, c);
            output[t] = h;
        }

        // Backward, from the last step to the first, carrying dh_next and dc_next.
        var dInput = new Tensor<T>[steps];
        Tensor<T>? dhNext = dHN, dcNext = dCN;
        for (int t = steps - 1; t >= 0; t--)
        {
            var dh = At(dOutput, t);                                  // dh_t = ∂L/∂y_t
            if (dhNext is not null) TensorPrimitives.Add(dh.AsSpan(), dhNext.AsReadOnlySpan(), dh.AsSpan());   //  + dh_next
            (dInput[t], dhNext, dcNext) = unrolled[t].Backward(dh, dcNext);
        }

        // The weights are shared by every step, so their gradient is the sum of the steps' gradients.
        foreach (var (name, p) in cell.NamedParameters())
            foreach (var step in unrolled)
                TensorPrimitives.Add(p.Grad, step.GetParameter(name).Grad, p.Grad);
        return new ReferenceBpttResult<T>(Stack(output), h!, c!, Stack(dInput), dhNext!, dcNext!);
    }

    /// <summary>A copy of step <paramref name="t"/> of a time-major sequence [T, B, F]: [B, F].</summary>
    private static Tensor<T> At<T>(Tensor<T> sequence, int t)
    {
        int rowLength = (int)(sequence.Lengths[1] * sequence.Lengths[2]);
        return Tensor.Create(sequence.AsReadOnlySpan().Slice(t * rowLength, rowLength).ToArray(), [sequence.Lengths[1], sequence.Lengths[2]]);
    }

    /// <summary>T tensors [B, F] stacked into [T, B, F].</summary>
    private static Tensor<T> Stack<T>(Tensor<T>[] steps)
    {
        int rowLength = (int)steps[0].FlattenedLength;
        var data = new T[steps.Length * rowLength];
        for (int t = 0; t < steps.Length; t++) steps[t].AsReadOnlySpan().CopyTo(data.AsSpan(t * rowLength, rowLength));
        return Tensor.Create(data, [steps.Length, steps[0].Lengths[0], steps[0].Lengths[1]]);
    }

    private static int CheckArguments<T>(LstmCell<T> cell, Tensor<T> input, Tensor<T> dOutput,
        Tensor<T>? h0, Tensor<T>? c0, Tensor<T>? dHN, Tensor<T>? dCN) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(cell);
        ArgumentNullException.ThrowIfNull(input);
        if (input.Rank != 3 || input.Lengths[0] < 1 || input.Lengths[1] < 1 || input.Lengths[2] != cell.InputSize)
            throw new ArgumentException($"input must be a time-major sequence [T ≥ 1, B ≥ 1, {cell.InputSize}], got {Shapes.Format(input.Lengths)}.", nameof(input));
        int steps = (int)input.Lengths[0], batch = (int)input.Lengths[1], H = cell.HiddenSize;
        Guard.Shape(dOutput, [steps, batch, H], nameof(dOutput));
        nint[] state = [batch, H];
        if (h0 is not null) Guard.Shape(h0, state, nameof(h0));
        if (c0 is not null) Guard.Shape(c0, state, nameof(c0));
        if (dHN is not null) Guard.Shape(dHN, state, nameof(dHN));
        if (dCN is not null) Guard.Shape(dCN, state, nameof(dCN));
        return steps;
    }
}

/// <summary>What <see cref="ReferenceBptt.Lstm"/> returns.</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
/// <param name="Output">The hidden state of every step [T, B, H].</param>
/// <param name="HN">The final hidden state [B, H].</param>
/// <param name="CN">The final cell state [B, H].</param>
/// <param name="DInput">∂L/∂input [T, B, I].</param>
/// <param name="DH0">∂L/∂h0 [B, H].</param>
/// <param name="DC0">∂L/∂c0 [B, H].</param>
public sealed record ReferenceBpttResult<T>(Tensor<T> Output, Tensor<T> HN, Tensor<T> CN, Tensor<T> DInput, Tensor<T> DH0, Tensor<T> DC0);
