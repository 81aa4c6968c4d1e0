// The weight gradients of backpropagation through time, for one layer and direction, after its
// backward loop over time (RecurrentTimeLoop.cs) has left, for every step t and sequence b, the
// pre-activation gradient dA [T·B, G] (and its hidden side dA_h, which differs only for the GRU)
// and the total ∂L/∂h_t, dH [T·B, P].
//
// The weights are shared by every step, so each gradient is a sum over the steps:
//   db_ih += Σ_t Σ_b dA_t[b]          db_hh += Σ_t Σ_b dA_h,t[b]
//   dW_ih += Σ_t dA_tᵀ·X_t = dAᵀ·X     dW_hh += Σ_t dA_h,tᵀ·H_{t−1} = dA_hᵀ·H_prev
//   dW_hr += dHᵀ·M                     (LSTM with projection, M = o ⊙ tanh c of every step)
//   dX     = dA·W_ih                   ∂L/∂X_l (the second direction adds to the first's)
// Instead of T small products per weight, each is ONE GEMM over all T·B rows. For the RNN and the
// LSTM, whose two products share dA, [dW_ih | dW_hh] += dAᵀ·[X | H_prev] is a single GEMM.
// Padded positions have dA = 0 and M = 0, so they add nothing.
namespace NeuralPrimitives;

internal abstract partial class RecurrentEngine<T>
{
    /// <summary>Adds layer l, direction d's bias and weight gradients, and writes (or, with <paramref name="accumulateDX"/>, adds) its ∂L/∂X_l.</summary>
    private protected void AccumulateWeightGradients(RecurrentWorkspace<T> ws, int l, int d, Span<T> dX, bool accumulateDX)
    {
        var cell = Cells[l * Directions + d];
        var g = GradWorkspace;
        int rows = ws.Steps * ws.Batch, H = HiddenSize, P = StateSize, G = GatesH, s = l * Directions + d;
        var dA = g.DA.AsSpan(0, rows * G);
        var dAh = HiddenGatesApart ? g.DAh.AsSpan(0, rows * G) : dA;
        var hPrev = ws.HPrev[s].AsSpan(0, rows * P);
        var x = ws.LayerInput[l].AsSpan(0, rows * cell.InSize);

        // Biases: the time loop summed each sequence's dA over its steps; add the sequences up in order
        // (so the result does not depend on how the batch was split across threads).
        var seqBias = g.SeqBias.AsSpan(0, ws.Batch * 2 * G);
        for (int b = 0; b < ws.Batch; b++)
        {
            if (cell.BIh is { RequiresGrad: true }) TensorPrimitives.Add(cell.BIh.Grad, seqBias.Slice(b * 2 * G, G), cell.BIh.Grad);
            if (cell.BHh is { RequiresGrad: true }) TensorPrimitives.Add(cell.BHh.Grad, seqBias.Slice(b * 2 * G + (HiddenGatesApart ? G : 0), G), cell.BHh.Grad);
        }

        var gIh = cell.WIh.Grad.AsSpan();
        var gHh = cell.WHh.Grad.AsSpan();
        if (!HiddenGatesApart && cell.WIh.RequiresGrad && cell.WHh.RequiresGrad)
        {
            // [dW_ih | dW_hh] += dAᵀ·[X | H_prev]: dA is packed once instead of twice, and the product is larger.
            int inSize = cell.InSize, width = inSize + P;
            var xh = RecurrentWorkspace<T>.Buf(ref g.XH, rows * width);
            for (int r = 0; r < rows; r++)
            {
                x.Slice(r * inSize, inSize).CopyTo(xh.Slice(r * width, inSize));
                hPrev.Slice(r * P, P).CopyTo(xh.Slice(r * width + inSize, P));
            }
            var dW = WeightGradient(dA, xh, rows, width);
            for (int gate = 0; gate < G; gate++)
            {
                var rowIh = gIh.Slice(gate * inSize, inSize);
                var rowHh = gHh.Slice(gate * P, P);
                TensorPrimitives.Add(rowIh, dW.Slice(gate * width, inSize), rowIh);
                TensorPrimitives.Add(rowHh, dW.Slice(gate * width + inSize, P), rowHh);
            }
        }
        else
        {
            if (cell.WIh.RequiresGrad) TensorPrimitives.Add(gIh, WeightGradient(dA, x, rows, cell.InSize), gIh);
            if (cell.WHh.RequiresGrad) TensorPrimitives.Add(gHh, WeightGradient(dAh, hPrev, rows, P), gHh);
        }
        if (cell.WHr is { RequiresGrad: true })
            Gemm.Multiply(transposeA: true, transposeB: false, P, H, rows, T.One, g.DHs.AsSpan(0, rows * P), ws.M[s].AsSpan(0, rows * H), T.One, cell.WHr.Grad.AsSpan());
        Gemm.Multiply(transposeA: false, transposeB: false, rows, cell.InSize, G, T.One, dA, cell.WIh.Data, accumulateDX ? T.One : T.Zero, dX);
    }

    /// <summary>
    /// dW = dAᵀ·X [G × n] over all <paramref name="rows"/> rows (X [rows × n]), computed as (Xᵀ·dA)ᵀ: with X's n columns as
    /// the product's rows it ran 10% faster than dAᵀ·X (LSTM, float: m = 384, n = 1024, k = 2048 against m = 1024, n = 384).
    /// </summary>
    private Span<T> WeightGradient(ReadOnlySpan<T> dA, ReadOnlySpan<T> x, int rows, int n)
    {
        int G = GatesH;
        var dWt = RecurrentWorkspace<T>.Buf(ref GradWorkspace.DWt, n * G);
        Gemm.Multiply(transposeA: true, transposeB: false, n, G, rows, T.One, x, dA, T.Zero, dWt);
        var dW = RecurrentWorkspace<T>.Buf(ref GradWorkspace.DW, G * n);
        Gemm.Transpose<T>(dWt, n, G, dW);
        return dW;
    }
}
