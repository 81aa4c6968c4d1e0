// LstmCell: one step of a long short-term memory cell (PyTorch's nn.LSTMCell).
//
// Shapes:  x [B, I]   h, c [B, H]   W_ih [4H, I]   W_hh [4H, H]   b_ih, b_hh [4H]
//          gate rows in PyTorch's order: i (input), f (forget), g (candidate), o (output)
// Forward:
//   a = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh = [a_i a_f a_g a_o]                    [B, 4H]
//   i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
//   c' = f ⊙ c + i ⊙ g
//   h' = o ⊙ tanh(c')
// Backward (given dh' and dc' from above; σ' = σ(1 − σ), tanh' = 1 − tanh²):
//   do   = dh' ⊙ tanh(c')
//   dc'  ← dc' + dh' ⊙ o ⊙ (1 − tanh²(c'))          (total gradient reaching c')
//   di   = dc' ⊙ g        df = dc' ⊙ c        dg = dc' ⊙ i
//   dc   = dc' ⊙ f                                 (the "constant error carousel")
//   da   = [di·i(1−i), df·f(1−f), dg·(1−g²), do·o(1−o)]                       [B, 4H]
//   dx   = da·W_ih        dh = da·W_hh
//   dW_ih += daᵀ·x   dW_hh += daᵀ·h   db_ih += Σ_b da   db_hh += Σ_b da
// Why the LSTM keeps gradients alive: along the cell state, ∂c'/∂c = diag(f) — no weight matrix
// and no squashing derivative. With the forget gate near 1 (e.g. a large forget bias), dc is
// carried back almost unchanged over many steps, where a tanh RNN multiplies by
// diag(1 − h²)·W_hh at every step and the gradient decays geometrically.
// Init (PyTorch): every weight and bias ~ U(±1/√H).
namespace NeuralPrimitives;

/// <summary>
/// One step of an LSTM (PyTorch's <c>nn.LSTMCell</c>), gates i, f, g, o:
/// <c>c' = f⊙c + i⊙g</c>, <c>h' = o⊙tanh(c')</c>. Parameters: <c>weight_ih</c> [4H, I], <c>weight_hh</c> [4H, H],
/// <c>bias_ih</c> [4H], <c>bias_hh</c> [4H].
/// </summary>
/// <remarks>
/// Inputs are batched, <c>input</c> [B, I], <c>hx</c>, <c>cx</c> [B, H], or one unbatched row (PyTorch's 1-D input: [I], [H]). <see cref="Forward"/>/<see cref="Backward"/> belong to one
/// thread at a time and return module-owned tensors valid until the next call; <see cref="Infer"/> is thread-safe and allocates.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class LstmCell<T> : RecurrentCell<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _h = new(), _c = new(), _dx = new(), _dh = new(), _dc = new();
    private readonly TensorBuffer<T> _x = new(), _hPrev = new(), _cPrev = new(), _gates = new(), _tanhC = new(), _da = new();

    /// <summary>Creates the cell with PyTorch's initialisation (every weight and bias ~ U(±1/√hiddenSize)).</summary>
    /// <param name="inputSize">Features of the input (≥ 1).</param>
    /// <param name="hiddenSize">Features of the hidden and cell state (≥ 1).</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public LstmCell(int inputSize, int hiddenSize, bool bias = true, Rng? rng = null)
        : base(inputSize, hiddenSize, 4, bias, rng)
    {
    }

    /// <summary>Training forward of one step; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <param name="cx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' and c', each [B, H] or, unbatched, [H] (module-owned).</returns>
    public (Tensor<T> H, Tensor<T> C) Forward(Tensor<T> input, Tensor<T>? hx = null, Tensor<T>? cx = null)
    {
        int batch = CheckInput(input, nameof(input), out bool unbatched);
        CheckState(hx, batch, unbatched, nameof(hx));
        CheckState(cx, batch, unbatched, nameof(cx));
        RememberForward(batch, unbatched);
        int H = HiddenSize;
        var x = _x.GetSpan(batch * InputSize);
        input.AsReadOnlySpan().CopyTo(x);
        var hPrev = _hPrev.GetSpan(batch * H);
        if (hx is null) hPrev.Clear(); else hx.AsReadOnlySpan().CopyTo(hPrev);
        var cPrev = _cPrev.GetSpan(batch * H);
        if (cx is null) cPrev.Clear(); else cx.AsReadOnlySpan().CopyTo(cPrev);
        var h = _h.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        var c = _c.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        Step(x, hPrev, cPrev, _gates.GetSpan(batch * 4 * H), _tanhC.GetSpan(batch * H), h.AsSpan(), c.AsSpan(), batch);
        return (h, c);
    }

    /// <summary>Inference forward of one step: caches nothing, allocates its results, thread-safe.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <param name="cx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' and c', each [B, H] or, unbatched, [H].</returns>
    public (Tensor<T> H, Tensor<T> C) Infer(Tensor<T> input, Tensor<T>? hx = null, Tensor<T>? cx = null)
    {
        int batch = CheckInput(input, nameof(input), out bool unbatched);
        CheckState(hx, batch, unbatched, nameof(hx));
        CheckState(cx, batch, unbatched, nameof(cx));
        int H = HiddenSize;
        var h = Tensor.Create(new T[batch * H], Rows(unbatched, batch, H, stackalloc nint[2]));
        var c = Tensor.Create(new T[batch * H], Rows(unbatched, batch, H, stackalloc nint[2]));
        Step(input.AsReadOnlySpan(), hx is null ? new T[batch * H] : hx.AsReadOnlySpan(), cx is null ? new T[batch * H] : cx.AsReadOnlySpan(),
            new T[batch * 4 * H], new T[batch * H], h.AsSpan(), c.AsSpan(), batch);
        return (h, c);
    }

    private void Step(ReadOnlySpan<T> x, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, Span<T> gates, Span<T> tanhC, Span<T> h, Span<T> c, int batch)
    {
        int H = HiddenSize, G = 4 * H;
        Gemm.Multiply(false, true, batch, G, InputSize, T.One, x, WeightIh.Data, T.Zero, gates);
        Gemm.Multiply(false, true, batch, G, H, T.One, hPrev, WeightHh.Data, T.One, gates);
        for (int b = 0; b < batch; b++)
        {
            var a = gates.Slice(b * G, G);
            if (BiasIh is not null) TensorPrimitives.Add(a, BiasIh.Data, a);
            if (BiasHh is not null) TensorPrimitives.Add(a, BiasHh.Data, a);
            VectorMath.Sigmoid<T>(a[..(2 * H)], a[..(2 * H)]);          // i, f
            VectorMath.Tanh<T>(a.Slice(2 * H, H), a.Slice(2 * H, H));    // g
            VectorMath.Sigmoid<T>(a.Slice(3 * H, H), a.Slice(3 * H, H)); // o
            for (int j = 0; j < H; j++)
            {
                int k = b * H + j;
                T i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
                c[k] = f * cPrev[k] + i * g;
                tanhC[k] = T.Tanh(c[k]);
                h[k] = o * tanhC[k];
            }
        }
    }

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates parameter gradients.</summary>
    /// <param name="dH">∂L/∂h', shaped as h'.</param>
    /// <param name="dC">∂L/∂c', shaped as c'; zeros when null.</param>
    /// <returns>∂L/∂input [B, I], ∂L/∂hx [B, H] and ∂L/∂cx [B, H] (module-owned; [I] and [H] unbatched).</returns>
    public (Tensor<T> DInput, Tensor<T> DHx, Tensor<T> DCx) Backward(Tensor<T> dH, Tensor<T>? dC = null)
    {
        int batch = CheckBackward(dH, out bool unbatched), H = HiddenSize, I = InputSize, G = 4 * H;
        CheckState(dC, batch, unbatched, nameof(dC));
        var dh = dH.AsReadOnlySpan();
        var gates = _gates.Array;
        var tanhC = _tanhC.Array;
        var cPrev = _cPrev.Array;
        var da = _da.GetSpan(batch * G);
        var dcx = _dc.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        var dcPrev = dcx.AsSpan();
        ReadOnlySpan<T> dcIn = dC is null ? default : dC.AsReadOnlySpan();
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < H; j++)
            {
                int k = b * H + j, r = b * G;
                T i = gates[r + j], f = gates[r + H + j], g = gates[r + 2 * H + j], o = gates[r + 3 * H + j];
                T tc = tanhC[k];
                T dcTotal = (dC is null ? T.Zero : dcIn[k]) + dh[k] * o * (T.One - tc * tc);
                T dO = dh[k] * tc;
                T dI = dcTotal * g, dF = dcTotal * cPrev[k], dG = dcTotal * i;
                dcPrev[k] = dcTotal * f;
                da[r + j] = dI * i * (T.One - i);
                da[r + H + j] = dF * f * (T.One - f);
                da[r + 2 * H + j] = dG * (T.One - g * g);
                da[r + 3 * H + j] = dO * o * (T.One - o);
            }
        var dx = _dx.Get(Rows(unbatched, batch, I, stackalloc nint[2]));
        var dhx = _dh.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        Gemm.Multiply(false, false, batch, I, G, T.One, da, WeightIh.Data, T.Zero, dx.AsSpan());
        Gemm.Multiply(false, false, batch, H, G, T.One, da, WeightHh.Data, T.Zero, dhx.AsSpan());
        AccumulateWeightGrads(da, da, _x.Array, _hPrev.Array, batch);
        return (dx, dhx, dcx);
    }
}
