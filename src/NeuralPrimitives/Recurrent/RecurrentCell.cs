// The part every one-step recurrent cell (RnnCell, LstmCell, GruCell) shares: PyTorch's names and
// layouts, weight_ih [G·H, I], weight_hh [G·H, H], bias_ih [G·H], bias_hh [G·H], with G = 1 (RNN),
// 4 (LSTM: gate rows i, f, g, o) or 3 (GRU: r, z, n), PyTorch's initialisation (every weight and
// bias ~ U(−1/√H, 1/√H)), and the matrix half of one step, around the element-wise half that each
// kind's step struct holds (RnnStep.cs, LstmStep.cs, GruStep.cs; contract in RecurrentStep.cs):
//
// Shapes:  x [B, I]   h, c [B, H]   a [B, G·H]
// Forward:   a  = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh       (GRU: gx = x·W_ihᵀ + b_ih, gh = h·W_hhᵀ + b_hh)
//            per row: TStep.Forward → gates, h' (and c')
// Backward:  per row: TStep.Backward → da (GRU: dgx, dgh), the direct part of dh, dc
//            dx = da·W_ih      dh = direct + da_h·W_hh
//            dW_ih += daᵀ·x    dW_hh += da_hᵀ·h    db_ih += Σ_b da    db_hh += Σ_b da_h
namespace NeuralPrimitives;

/// <summary>Base of <see cref="RnnCell{T}"/>, <see cref="LstmCell{T}"/> and <see cref="GruCell{T}"/>: sizes and PyTorch-named parameters.</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class RecurrentCell<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly int _gatesH;
    private int _forwardBatch;
    private bool _forwardUnbatched;
    // The training Forward's copies of its inputs and what its Backward reads; the results.
    private readonly TensorBuffer<T> _x = new(), _hPrev = new(), _cPrev = new(), _gates = new(), _hiddenGates = new(), _tanhC = new();
    private readonly TensorBuffer<T> _h = new(), _c = new(), _da = new(), _daHidden = new(), _dx = new(), _dh = new(), _dc = new();

    private protected RecurrentCell(string cellName, int inputSize, int hiddenSize, int gates, bool bias, Rng? rng)
    {
        Guard.Positive(inputSize);
        Guard.Positive(hiddenSize);
        long gatesH = (long)gates * hiddenSize;
        CheckWeightSize(cellName, "weight_ih", gatesH, inputSize, gates, nameof(inputSize), inputSize, hiddenSize);
        CheckWeightSize(cellName, "weight_hh", gatesH, hiddenSize, gates, nameof(hiddenSize), inputSize, hiddenSize);
        _gatesH = (int)gatesH;
        CellName = cellName;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        WeightIh = new Parameter<T>("weight_ih", _gatesH, inputSize);
        WeightHh = new Parameter<T>("weight_hh", _gatesH, hiddenSize);
        if (bias)
        {
            BiasIh = new Parameter<T>("bias_ih", _gatesH);
            BiasHh = new Parameter<T>("bias_hh", _gatesH);
        }
        rng ??= Rng.Default;
        foreach (var p in OwnParameters()) Init.UniformFanIn(p, hiddenSize, rng);
    }

    private static void CheckWeightSize(string cellName, string weight, long rows, long cols, int gates, string paramName, int inputSize, int hiddenSize)
    {
        // G·H alone too large: hiddenSize is the culprit, whatever the other factor.
        if (rows > Array.MaxLength || rows * cols > Array.MaxLength)
            throw new ArgumentOutOfRangeException(rows > Array.MaxLength ? "hiddenSize" : paramName,
                $"{cellName}'s {weight} would be [{rows}, {cols}] ({gates}·hiddenSize × {(weight == "weight_ih" ? "inputSize" : "hiddenSize")}) = {rows * (double)cols:N0} " +
                $"elements, more than one array can hold (limit {Array.MaxLength:N0}); inputSize = {inputSize}, hiddenSize = {hiddenSize}.");
    }

    private string CellName { get; }

    /// <summary>Features of the input.</summary>
    public int InputSize { get; }

    /// <summary>Features of the hidden state (and of the LSTM cell state).</summary>
    public int HiddenSize { get; }

    /// <summary><c>weight_ih</c> [G·H, I], gate rows in the order the derived cell documents.</summary>
    public Parameter<T> WeightIh { get; }

    /// <summary><c>weight_hh</c> [G·H, H], gate rows in the order the derived cell documents.</summary>
    public Parameter<T> WeightHh { get; }

    /// <summary><c>bias_ih</c> [G·H], or null without bias.</summary>
    public Parameter<T>? BiasIh { get; }

    /// <summary><c>bias_hh</c> [G·H], or null without bias.</summary>
    public Parameter<T>? BiasHh { get; }

    /// <inheritdoc />
    protected override IEnumerable<Parameter<T>> OwnParameters()
    {
        yield return WeightIh;
        yield return WeightHh;
        if (BiasIh is not null) yield return BiasIh;
        if (BiasHh is not null) yield return BiasHh;
    }

    // ───────────────────────── checks ─────────────────────────

    /// <summary>
    /// Checks input is [B, <see cref="InputSize"/>] with B ≥ 1, or one unbatched row [<see cref="InputSize"/>]
    /// (PyTorch's unbatched input, computed as B = 1), and the optional states [B, H] ([H] unbatched); returns B.
    /// </summary>
    private int CheckInput(Tensor<T> input, Tensor<T>? hx, Tensor<T>? cx, out bool unbatched)
    {
        ArgumentNullException.ThrowIfNull(input);
        unbatched = input.Rank == 1;
        if (unbatched ? input.Lengths[0] != InputSize : input.Rank != 2 || input.Lengths[1] != InputSize || input.Lengths[0] < 1)
            throw new ArgumentException($"input must have shape [batch ≥ 1, {InputSize}] or, unbatched, [{InputSize}]; got {Shapes.Format(input.Lengths)}.", nameof(input));
        int batch = unbatched ? 1 : (int)input.Lengths[0];
        if ((long)batch * _gatesH > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(input),
                $"input {Shapes.Format(input.Lengths)} has too many rows for this {CellName}: {batch} rows of G·H = {_gatesH} gate pre-activations need " +
                $"{(double)batch * _gatesH:N0} elements, more than one array can hold (limit {Array.MaxLength:N0}).");
        CheckState(hx, batch, unbatched, nameof(hx));
        CheckState(cx, batch, unbatched, nameof(cx));
        return batch;
    }

    /// <summary>Checks an optional state (or state gradient) is [batch, <see cref="HiddenSize"/>], or [<see cref="HiddenSize"/>] unbatched.</summary>
    private void CheckState(Tensor<T>? state, int batch, bool unbatched, string name)
    {
        if (state is not null) Guard.Shape(state, Rows(unbatched, batch, HiddenSize, stackalloc nint[2]), name);
    }

    /// <summary>The shape of <paramref name="batch"/> rows of <paramref name="features"/>: [B, F], or [F] unbatched.</summary>
    private static ReadOnlySpan<nint> Rows(bool unbatched, int batch, int features, Span<nint> dst)
    {
        if (unbatched) { dst[0] = features; return dst[..1]; }
        (dst[0], dst[1]) = (batch, features);
        return dst;
    }

    // ───────────────────────── forward ─────────────────────────

    /// <summary>
    /// The training forward of one step of <typeparamref name="TStep"/>'s kind, under the misuse guard: copies the inputs
    /// (so the caller may reuse or pass back its tensors) and keeps what <see cref="TrainingBackward{TStep}"/> needs.
    /// </summary>
    private protected (Tensor<T> H, Tensor<T>? C) TrainingForward<TStep>(Tensor<T> input, Tensor<T>? hx, Tensor<T>? cx) where TStep : IRecurrentStep<T>
    {
        using var pass = BeginForward();
        int batch = CheckInput(input, hx, cx, out bool unbatched), H = HiddenSize;
        (_forwardBatch, _forwardUnbatched) = (batch, unbatched);
        var x = _x.GetSpan(batch * InputSize);
        input.AsReadOnlySpan().CopyTo(x);
        var hPrev = _hPrev.GetSpan(batch * H);
        if (hx is null) hPrev.Clear(); else hx.AsReadOnlySpan().CopyTo(hPrev);
        var cPrev = TStep.HasCellState ? _cPrev.GetSpan(batch * H) : default;
        if (TStep.HasCellState) { if (cx is null) cPrev.Clear(); else cx.AsReadOnlySpan().CopyTo(cPrev); }
        var h = _h.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        var c = TStep.HasCellState ? _c.Get(Rows(unbatched, batch, H, stackalloc nint[2])) : null;
        Step<TStep>(x, hPrev, cPrev, _gates.GetSpan(batch * _gatesH), TStep.HiddenGatesApart ? _hiddenGates.GetSpan(batch * _gatesH) : default,
            TStep.HasCellState ? _tanhC.GetSpan(batch * H) : default, h.AsSpan(), c is null ? default : c.AsSpan(), batch);
        pass.Complete(h.AsReadOnlySpan(), "h");
        return (h, c);
    }

    /// <summary>The inference forward of one step: caches nothing, allocates its results, thread-safe.</summary>
    private protected (Tensor<T> H, Tensor<T>? C) InferStep<TStep>(Tensor<T> input, Tensor<T>? hx, Tensor<T>? cx) where TStep : IRecurrentStep<T>
    {
        int batch = CheckInput(input, hx, cx, out bool unbatched), H = HiddenSize;
        var h = Tensor.Create(new T[batch * H], Rows(unbatched, batch, H, stackalloc nint[2]));
        var c = TStep.HasCellState ? Tensor.Create(new T[batch * H], Rows(unbatched, batch, H, stackalloc nint[2])) : null;
        Step<TStep>(input.AsReadOnlySpan(), hx is null ? new T[batch * H] : hx.AsReadOnlySpan(),
            TStep.HasCellState ? (cx is null ? new T[batch * H] : cx.AsReadOnlySpan()) : default,
            new T[batch * _gatesH], TStep.HiddenGatesApart ? new T[batch * _gatesH] : default, TStep.HasCellState ? new T[batch * H] : default,
            h.AsSpan(), c is null ? default : c.AsSpan(), batch);
        return (h, c);
    }

    /// <summary>One step for <paramref name="batch"/> rows: the pre-activations by GEMM, then <typeparamref name="TStep"/>'s equations per row.</summary>
    private void Step<TStep>(ReadOnlySpan<T> x, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> cPrev, Span<T> gates, Span<T> hiddenGates, Span<T> tanhC,
        Span<T> h, Span<T> c, int batch) where TStep : IRecurrentStep<T>
    {
        int H = HiddenSize, G = _gatesH;
        // a = x·W_ihᵀ + h·W_hhᵀ (GRU: gh = h·W_hhᵀ apart); the biases per row below.
        Gemm.Multiply(transposeA: false, transposeB: true, batch, G, InputSize, T.One, x, WeightIh.Data, T.Zero, gates);
        if (TStep.HiddenGatesApart) Gemm.Multiply(transposeA: false, transposeB: true, batch, G, H, T.One, hPrev, WeightHh.Data, T.Zero, hiddenGates);
        else Gemm.Multiply(transposeA: false, transposeB: true, batch, G, H, T.One, hPrev, WeightHh.Data, T.One, gates);
        hPrev.CopyTo(h);                                  // the state is updated in place: h_{t−1} → h_t
        if (TStep.HasCellState) cPrev.CopyTo(c);
        for (int b = 0; b < batch; b++)
        {
            var a = gates.Slice(b * G, G);
            var ah = TStep.HiddenGatesApart ? hiddenGates.Slice(b * G, G) : a;
            if (BiasIh is not null) TensorPrimitives.Add(a, BiasIh.Data, a);
            if (BiasHh is not null) TensorPrimitives.Add(ah, BiasHh.Data, ah);
            TStep.Forward(new ForwardRow<T>
            {
                Gates = a,
                HiddenGates = TStep.HiddenGatesApart ? ah : default,
                H = h.Slice(b * H, H),
                C = TStep.HasCellState ? c.Slice(b * H, H) : default,
                TanhC = TStep.HasCellState ? tanhC.Slice(b * H, H) : default,
            });
        }
    }

    // ───────────────────────── backward ─────────────────────────

    /// <summary>
    /// The backward of the last training forward, under the misuse guard: ∂L/∂input, ∂L/∂hx (and ∂L/∂cx), and the
    /// parameter gradients accumulated. <paramref name="dC"/> (LSTM) is ∂L/∂c', zeros when null.
    /// </summary>
    private protected (Tensor<T> DInput, Tensor<T> DHx, Tensor<T>? DCx) TrainingBackward<TStep>(Tensor<T> dH, Tensor<T>? dC) where TStep : IRecurrentStep<T>
    {
        using var pass = BeginBackward();
        int batch = _forwardBatch, H = HiddenSize, I = InputSize, G = _gatesH;
        bool unbatched = _forwardUnbatched;
        Guard.Shape(dH, Rows(unbatched, batch, H, stackalloc nint[2]), nameof(dH));
        CheckState(dC, batch, unbatched, nameof(dC));
        var dh = dH.AsReadOnlySpan();
        var gates = _gates.Array.AsSpan(0, batch * G);
        var da = _da.GetSpan(batch * G);
        var daHidden = TStep.HiddenGatesApart ? _daHidden.GetSpan(batch * G) : da;
        var dcx = TStep.HasCellState ? _dc.Get(Rows(unbatched, batch, H, stackalloc nint[2])) : null;
        if (dcx is not null) { if (dC is null) dcx.AsSpan().Clear(); else dC.AsReadOnlySpan().CopyTo(dcx.AsSpan()); }
        var dhx = _dh.Get(Rows(unbatched, batch, H, stackalloc nint[2]));
        for (int b = 0; b < batch; b++)
        {
            TStep.Backward(new BackwardRow<T>
            {
                Gates = gates.Slice(b * G, G),
                HiddenGates = TStep.HiddenGatesApart ? _hiddenGates.Array.AsSpan(b * G, G) : default,
                HPrev = _hPrev.Array.AsSpan(b * H, H),
                TanhC = TStep.HasCellState ? _tanhC.Array.AsSpan(b * H, H) : default,
                CPrev = TStep.HasCellState ? _cPrev.Array.AsSpan(b * H, H) : default,
                DH = dh.Slice(b * H, H),
                DC = dcx is null ? default : dcx.AsSpan().Slice(b * H, H),
                DA = da.Slice(b * G, G),
                DAHidden = daHidden.Slice(b * G, G),
                DHPrev = dhx.AsSpan().Slice(b * H, H),
            });
        }
        var dx = _dx.Get(Rows(unbatched, batch, I, stackalloc nint[2]));
        Gemm.Multiply(transposeA: false, transposeB: false, batch, I, G, T.One, da, WeightIh.Data, T.Zero, dx.AsSpan());
        Gemm.Multiply(transposeA: false, transposeB: false, batch, H, G, T.One, daHidden, WeightHh.Data, T.One, dhx.AsSpan());
        if (WeightIh.RequiresGrad) Gemm.Multiply(transposeA: true, transposeB: false, G, I, batch, T.One, da, _x.Array, T.One, WeightIh.Grad.AsSpan());
        if (WeightHh.RequiresGrad) Gemm.Multiply(transposeA: true, transposeB: false, G, H, batch, T.One, daHidden, _hPrev.Array, T.One, WeightHh.Grad.AsSpan());
        for (int b = 0; b < batch; b++)
        {
            if (BiasIh is { RequiresGrad: true }) TensorPrimitives.Add(BiasIh.Grad, da.Slice(b * G, G), BiasIh.Grad);
            if (BiasHh is { RequiresGrad: true }) TensorPrimitives.Add(BiasHh.Grad, daHidden.Slice(b * G, G), BiasHh.Grad);
        }
        pass.Complete(dx.AsReadOnlySpan(), "dInput");
        return (dx, dhx, dcx);
    }
}
