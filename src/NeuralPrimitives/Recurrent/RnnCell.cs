// RnnCell: one step of an Elman RNN (PyTorch's nn.RNNCell).
//
// Shapes:  x [B, I]   h [B, H]   W_ih [H, I]   W_hh [H, H]   b_ih, b_hh [H]   h' [B, H]
// Forward:
//   a  = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh            pre-activation            [B, H]
//   h' = act(a),  act = tanh or relu
// Backward (given dh' = ∂L/∂h'):
//   da     = dh' ⊙ act'(a),  tanh'(a) = 1 − h'²,  relu'(a) = [h' > 0]
//   dx     = da·W_ih                                                           [B, I]
//   dh     = da·W_hh                                                           [B, H]
//   dW_ih += daᵀ·x      dW_hh += daᵀ·h      db_ih += Σ_b da      db_hh += Σ_b da
// Why gradients vanish or explode over time: unrolled, ∂h_t/∂h_{t−1} = diag(act'(a_t))·W_hh, so
// the gradient reaching step t−k is a product of k such Jacobians. With ‖W_hh‖ < 1 and
// |tanh'| ≤ 1 it shrinks geometrically in k; with ‖W_hh‖ > 1 (and unsaturated units) it can grow.
// Init (PyTorch): every weight and bias ~ U(±1/√H).
namespace NeuralPrimitives;

/// <summary>The non-linearity of an Elman RNN (PyTorch's <c>nonlinearity='tanh' | 'relu'</c>).</summary>
public enum RnnNonlinearity
{
    /// <summary>h' = tanh(a) (PyTorch's default).</summary>
    Tanh,

    /// <summary>h' = max(0, a).</summary>
    Relu,
}

/// <summary>
/// One step of an Elman RNN (PyTorch's <c>nn.RNNCell</c>): <c>h' = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh)</c>.
/// Parameters: <c>weight_ih</c> [H, I], <c>weight_hh</c> [H, H], <c>bias_ih</c> [H], <c>bias_hh</c> [H].
/// </summary>
/// <remarks>
/// Inputs are batched, <c>input</c> [B, I], <c>hx</c> [B, H], or one unbatched row (PyTorch's 1-D input: [I], [H]). <see cref="Forward"/>/<see cref="Backward"/> belong to one thread
/// at a time and return module-owned tensors valid until the next call; <see cref="Infer"/> is thread-safe and allocates.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class RnnCell<T> : RecurrentCell<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _h = new(), _dx = new(), _dh = new(), _x = new(), _hPrev = new(), _da = new();

    /// <summary>Creates the cell with PyTorch's initialisation (every weight and bias ~ U(±1/√hiddenSize)).</summary>
    /// <param name="inputSize">Features of the input (≥ 1).</param>
    /// <param name="hiddenSize">Features of the hidden state (≥ 1).</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="nonlinearity">tanh (default) or ReLU.</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public RnnCell(int inputSize, int hiddenSize, bool bias = true, RnnNonlinearity nonlinearity = RnnNonlinearity.Tanh, Rng? rng = null)
        : base(inputSize, hiddenSize, 1, bias, rng)
    {
        if (nonlinearity is not (RnnNonlinearity.Tanh or RnnNonlinearity.Relu))
            throw new ArgumentOutOfRangeException(nameof(nonlinearity), nonlinearity, $"nonlinearity must be Tanh or Relu, got {nonlinearity}.");
        Nonlinearity = nonlinearity;
    }

    /// <summary>The non-linearity.</summary>
    public RnnNonlinearity Nonlinearity { get; }

    /// <summary>Training forward of one step; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' [B, H], or [H] unbatched (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> input, Tensor<T>? hx = null)
    {
        int batch = CheckInput(input, nameof(input), out bool unbatched);
        CheckState(hx, batch, unbatched, nameof(hx));
        RememberForward(batch, unbatched);
        // Cache copies of x and h so the caller may reuse its tensors.
        var x = _x.GetSpan(batch * InputSize);
        input.AsReadOnlySpan().CopyTo(x);
        var hPrev = _hPrev.GetSpan(batch * HiddenSize);
        if (hx is null) hPrev.Clear(); else hx.AsReadOnlySpan().CopyTo(hPrev);
        var h = _h.Get(Rows(unbatched, batch, HiddenSize, stackalloc nint[2]));
        Step(x, hPrev, h.AsSpan(), batch);
        return h;
    }

    /// <summary>Inference forward of one step: caches nothing, allocates the result, thread-safe.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' [B, H], or [H] unbatched.</returns>
    public Tensor<T> Infer(Tensor<T> input, Tensor<T>? hx = null)
    {
        int batch = CheckInput(input, nameof(input), out bool unbatched);
        CheckState(hx, batch, unbatched, nameof(hx));
        var hPrev = hx is null ? new T[batch * HiddenSize] : hx.AsReadOnlySpan();
        var h = Tensor.Create(new T[batch * HiddenSize], Rows(unbatched, batch, HiddenSize, stackalloc nint[2]));
        Step(input.AsReadOnlySpan(), hPrev, h.AsSpan(), batch);
        return h;
    }

    private void Step(ReadOnlySpan<T> x, ReadOnlySpan<T> hPrev, Span<T> h, int batch)
    {
        int H = HiddenSize;
        // a = x·W_ihᵀ + h·W_hhᵀ (+ biases), then h' = act(a) in place.
        Gemm.Multiply(false, true, batch, H, InputSize, T.One, x, WeightIh.Data, T.Zero, h);
        Gemm.Multiply(false, true, batch, H, H, T.One, hPrev, WeightHh.Data, T.One, h);
        for (int b = 0; b < batch; b++)
        {
            var row = h.Slice(b * H, H);
            if (BiasIh is not null) TensorPrimitives.Add(row, BiasIh.Data, row);
            if (BiasHh is not null) TensorPrimitives.Add(row, BiasHh.Data, row);
        }
        if (Nonlinearity == RnnNonlinearity.Tanh) VectorMath.Tanh<T>(h, h);
        else TensorPrimitives.Max(h, T.Zero, h);
    }

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates parameter gradients.</summary>
    /// <param name="dH">∂L/∂h', shaped as h'.</param>
    /// <returns>∂L/∂input [B, I] and ∂L/∂hx [B, H] (module-owned; [I] and [H] unbatched).</returns>
    public (Tensor<T> DInput, Tensor<T> DHx) Backward(Tensor<T> dH)
    {
        int batch = CheckBackward(dH, out bool unbatched), H = HiddenSize, I = InputSize;
        var h = _h.Array.AsSpan(0, batch * H);
        var dy = dH.AsReadOnlySpan();
        // da = dh' ⊙ act'(a), written with the output h' = act(a).
        var da = _da.GetSpan(batch * H);
        for (int i = 0; i < da.Length; i++)
            da[i] = Nonlinearity == RnnNonlinearity.Tanh ? dy[i] * (T.One - h[i] * h[i]) : (h[i] > T.Zero ? dy[i] : T.Zero);
        var dx = _dx.Get(Rows(unbatched, batch, I, stackalloc nint[2]));
        var dh = _dh.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        Gemm.Multiply(false, false, batch, I, H, T.One, da, WeightIh.Data, T.Zero, dx.AsSpan());
        Gemm.Multiply(false, false, batch, H, H, T.One, da, WeightHh.Data, T.Zero, dh.AsSpan());
        AccumulateWeightGrads(da, da, _x.Array, _hPrev.Array, batch);
        return (dx, dh);
    }
}
