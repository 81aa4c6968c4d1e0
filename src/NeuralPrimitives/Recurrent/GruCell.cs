// GruCell: one step of a gated recurrent unit (PyTorch's nn.GRUCell).
//
// Shapes:  x [B, I]   h [B, H]   W_ih [3H, I]   W_hh [3H, H]   b_ih, b_hh [3H]
//          gate rows in PyTorch's order: r (reset), z (update), n (new)
// Forward (PyTorch's variant: b_hn sits inside the reset product):
//   gx = x·W_ihᵀ + b_ih = [gx_r gx_z gx_n]       gh = h·W_hhᵀ + b_hh = [gh_r gh_z gh_n]
//   r = σ(gx_r + gh_r)      z = σ(gx_z + gh_z)
//   n = tanh(gx_n + r ⊙ gh_n)
//   h' = (1 − z) ⊙ n + z ⊙ h
// Backward (given dh'):
//   dn = dh' ⊙ (1 − z)        dz = dh' ⊙ (h − n)        dh (direct) = dh' ⊙ z
//   dan = dn ⊙ (1 − n²)       (gradient of n's pre-activation)
//   dr  = dan ⊙ gh_n          dgh_n = dan ⊙ r
//   dar = dr ⊙ r(1 − r)       daz = dz ⊙ z(1 − z)
//   dGx = [dar, daz, dan]     dGh = [dar, daz, dgh_n]                          [B, 3H]
//   dx = dGx·W_ih             dh = dh' ⊙ z + dGh·W_hh
//   dW_ih += dGxᵀ·x   dW_hh += dGhᵀ·h   db_ih += Σ_b dGx   db_hh += Σ_b dGh
// The direct path dh' ⊙ z is the GRU's gradient highway: with z near 1 the state (and its
// gradient) passes through a step almost unchanged, as the LSTM's cell state does with f ≈ 1.
// Init (PyTorch): every weight and bias ~ U(±1/√H).
namespace NeuralPrimitives;

/// <summary>
/// One step of a GRU (PyTorch's <c>nn.GRUCell</c>), gates r, z, n:
/// <c>n = tanh(W_in·x + b_in + r⊙(W_hn·h + b_hn))</c>, <c>h' = (1−z)⊙n + z⊙h</c>.
/// Parameters: <c>weight_ih</c> [3H, I], <c>weight_hh</c> [3H, H], <c>bias_ih</c> [3H], <c>bias_hh</c> [3H].
/// </summary>
/// <remarks>
/// Inputs are batched, <c>input</c> [B, I], <c>hx</c> [B, H], or one unbatched row (PyTorch's 1-D input: [I], [H]). <see cref="Forward"/>/<see cref="Backward"/> belong to one thread
/// at a time and return module-owned tensors valid until the next call; <see cref="Infer"/> is thread-safe and allocates.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class GruCell<T> : RecurrentCell<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _h = new(), _dx = new(), _dh = new();
    private readonly TensorBuffer<T> _x = new(), _hPrev = new(), _gx = new(), _gh = new(), _dGx = new(), _dGh = new();

    /// <summary>Creates the cell with PyTorch's initialisation (every weight and bias ~ U(±1/√hiddenSize)).</summary>
    /// <param name="inputSize">Features of the input (≥ 1).</param>
    /// <param name="hiddenSize">Features of the hidden state (≥ 1).</param>
    /// <param name="bias">Whether to learn <c>bias_ih</c> and <c>bias_hh</c>.</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public GruCell(int inputSize, int hiddenSize, bool bias = true, Rng? rng = null)
        : base(inputSize, hiddenSize, 3, bias, rng)
    {
    }

    /// <summary>Training forward of one step; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="input">[B, I], or one unbatched row [I].</param>
    /// <param name="hx">[B, H] ([H] unbatched); zeros when null.</param>
    /// <returns>h' [B, H], or [H] unbatched (module-owned).</returns>
    public Tensor<T> Forward(Tensor<T> input, Tensor<T>? hx = null)
    {
        int batch = CheckInput(input, nameof(input), out bool unbatched);
        CheckState(hx, batch, unbatched, nameof(hx));
        RememberForward(batch, unbatched);
        int H = HiddenSize;
        var x = _x.GetSpan(batch * InputSize);
        input.AsReadOnlySpan().CopyTo(x);
        var hPrev = _hPrev.GetSpan(batch * H);
        if (hx is null) hPrev.Clear(); else hx.AsReadOnlySpan().CopyTo(hPrev);
        var h = _h.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        Step(x, hPrev, _gx.GetSpan(batch * 3 * H), _gh.GetSpan(batch * 3 * H), h.AsSpan(), batch);
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
        int H = HiddenSize;
        var h = Tensor.Create(new T[batch * H], Rows(unbatched, batch, H, stackalloc nint[2]));
        Step(input.AsReadOnlySpan(), hx is null ? new T[batch * H] : hx.AsReadOnlySpan(), new T[batch * 3 * H], new T[batch * 3 * H], h.AsSpan(), batch);
        return h;
    }

    // gx and gh keep, after the step: gx = [r, z, n] (activated), gh = h·W_hhᵀ + b_hh (raw; gh_n is needed by backward).
    private void Step(ReadOnlySpan<T> x, ReadOnlySpan<T> hPrev, Span<T> gx, Span<T> gh, Span<T> h, int batch)
    {
        int H = HiddenSize, G = 3 * H;
        Gemm.Multiply(false, true, batch, G, InputSize, T.One, x, WeightIh.Data, T.Zero, gx);
        Gemm.Multiply(false, true, batch, G, H, T.One, hPrev, WeightHh.Data, T.Zero, gh);
        for (int b = 0; b < batch; b++)
        {
            var ax = gx.Slice(b * G, G);
            var ah = gh.Slice(b * G, G);
            if (BiasIh is not null) TensorPrimitives.Add(ax, BiasIh.Data, ax);
            if (BiasHh is not null) TensorPrimitives.Add(ah, BiasHh.Data, ah);
            for (int j = 0; j < H; j++)
            {
                T r = T.One / (T.One + T.Exp(-(ax[j] + ah[j])));
                T z = T.One / (T.One + T.Exp(-(ax[H + j] + ah[H + j])));
                T n = T.Tanh(ax[2 * H + j] + r * ah[2 * H + j]);
                ax[j] = r; ax[H + j] = z; ax[2 * H + j] = n;
                int k = b * H + j;
                h[k] = (T.One - z) * n + z * hPrev[k];
            }
        }
    }

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates parameter gradients.</summary>
    /// <param name="dH">∂L/∂h', shaped as h'.</param>
    /// <returns>∂L/∂input [B, I] and ∂L/∂hx [B, H] (module-owned; [I] and [H] unbatched).</returns>
    public (Tensor<T> DInput, Tensor<T> DHx) Backward(Tensor<T> dH)
    {
        int batch = CheckBackward(dH, out bool unbatched), H = HiddenSize, I = InputSize, G = 3 * H;
        var dy = dH.AsReadOnlySpan();
        var gx = _gx.Array;
        var gh = _gh.Array;
        var hPrev = _hPrev.Array;
        var dGx = _dGx.GetSpan(batch * G);
        var dGh = _dGh.GetSpan(batch * G);
        var dhx = _dh.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        var dhPrev = dhx.AsSpan();
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < H; j++)
            {
                int k = b * H + j, row = b * G;
                T r = gx[row + j], z = gx[row + H + j], n = gx[row + 2 * H + j], ghn = gh[row + 2 * H + j];
                T dn = dy[k] * (T.One - z);
                T dz = dy[k] * (hPrev[k] - n);
                T dan = dn * (T.One - n * n);
                T dr = dan * ghn;
                T dar = dr * r * (T.One - r);
                T daz = dz * z * (T.One - z);
                dGx[row + j] = dar; dGx[row + H + j] = daz; dGx[row + 2 * H + j] = dan;
                dGh[row + j] = dar; dGh[row + H + j] = daz; dGh[row + 2 * H + j] = dan * r;
                dhPrev[k] = dy[k] * z;
            }
        var dx = _dx.Get(Rows(unbatched, batch, I, stackalloc nint[2]));
        Gemm.Multiply(false, false, batch, I, G, T.One, dGx, WeightIh.Data, T.Zero, dx.AsSpan());
        Gemm.Multiply(false, false, batch, H, G, T.One, dGh, WeightHh.Data, T.One, dhPrev);
        AccumulateWeightGrads(dGx, dGh, _x.Array, hPrev, batch);
        return (dx, dhx);
    }
}
