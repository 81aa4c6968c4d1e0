// RecurrentEngine: the sequence machinery shared by Rnn, Lstm and Gru — layers, directions,
// variable lengths, dropout between layers, and backpropagation through time (BPTT).
// The per-step equations and their derivatives are derived in RnnCell.cs, LstmCell.cs and
// GruCell.cs; this file applies them over whole sequences, organised for speed.
//
// Notation: T timesteps, B batch, I input features, H hidden size, P = projSize (LSTM) or H,
//   G = gates·H (RNN 1·H, LSTM 4·H, GRU 3·H), D directions, L layers.
//   Layer l reads X_l [T, B, In_l] (In_0 = I, In_l = D·P) and writes Y_l [T, B, D·P].
//   Direction d = 0 walks t = 0 … T−1, direction d = 1 walks t = T−1 … 0.
//
// FORWARD, one layer and direction:
//   A   = X·W_ihᵀ + b_ih (+ b_hh)       all T·B rows in ONE large GEMM           [T·B, G]
//   for each step t in the direction's order:
//       A_t += h·W_hhᵀ                  one small GEMM per step                   [B, G]
//       gates_t = act(A_t), new (h, c)   fused gate activations (cell equations)
//       per sequence b: if t < len_b the state advances and Y_t[b] = h[b];
//                       otherwise the state is frozen and Y_t[b] = 0.
//   The reverse direction visits t ≥ len_b first, so its state stays h0 until it reaches the
//   sequence's own last element: it "starts at each sequence's own end".
//
// BACKWARD THROUGH TIME (the loop below, in `BackwardDirection`): walk the steps in the
// opposite order, carrying dh (and dc for the LSTM) from step t+1 to step t:
//   dh_t  = dY_t + dh_carry                (total gradient reaching h_t: from the output at t
//                                           and from every later step through h_{t+1})
//   dA_t  = cell backward (gate derivatives, see the cell files)
//   dh_carry = dA_t·W_hh (+ direct paths)   one small GEMM per step                  [B, P]
//   padded positions (t ≥ len_b) pass dh and dc through unchanged and contribute no gradient.
// Then, once for all timesteps:
//   dW_ih += dAᵀ·X     dW_hh += dAᵀ·H_prev   (over all T·B rows; for RNN/LSTM, whose two
//                                            products share dA, ONE GEMM dAᵀ·[X | H_prev])
//   dX     = dA·W_ih                          (ONE GEMM)
//
// WHY GRADIENTS VANISH OR EXPLODE: the carry step dh_{t−1} = (dh_t ⊙ act'(a_t))·W_hh is a
// multiplication by the Jacobian diag(act')·W_hh once per step. After k steps the gradient
// from the loss at t has been multiplied by k such matrices, so its norm behaves like ρᵏ, where ρ
// is roughly the largest singular value of W_hh times the typical act' (≤ 1 for tanh). ρ < 1:
// ‖∂L/∂h_{t−k}‖ decays geometrically (vanishing gradient: the network cannot learn long-range
// dependencies); ρ > 1: it can grow geometrically (exploding gradient: clip it, see
// Optim/GradientClipping.cs). The LSTM's cell state is carried back by dc_{t−1} = dc_t ⊙ f
// (no matrix, no squashing derivative), so with forget gates near 1 the gradient survives.
// HiddenGradientNorms exposes ‖dh_t‖ per timestep so the effect can be observed (tests show both).
using System.Runtime.InteropServices;

namespace NeuralPrimitives;

/// <summary>Which cell a <see cref="RecurrentEngine{T}"/> runs.</summary>
internal enum RecurrentCellKind
{
    RnnTanh,
    RnnRelu,
    Lstm,
    Gru,
}

/// <summary>Layers, directions, lengths, dropout and BPTT for <see cref="Rnn{T}"/>, <see cref="Lstm{T}"/> and <see cref="Gru{T}"/>.</summary>
internal sealed class RecurrentEngine<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Weights of one layer and direction.</summary>
    private sealed class Cell
    {
        public required Parameter<T> WIh, WHh;
        public Parameter<T>? BIh, BHh, WHr;
        public int InSize;
    }

    /// <summary>
    /// Everything one forward writes and its backward reads. The training path keeps one (reused,
    /// so a step after warm-up allocates nothing); <see cref="Infer"/> makes a fresh one per call.
    /// </summary>
    private sealed class Workspace
    {
        public int Steps, Batch;
        public int[] Lengths = [];
        public T[][] LayerInput = [], LayerOutput = [], Mask = [];
        public bool[] MaskDrawn = [];
        public bool DropoutActive;
        // Per layer·direction: activated gates [T·B, G], state before each step H_prev [T·B, P],
        // LSTM: c before each step [T·B, H], tanh(c_t) [T·B, H], m_t = o⊙tanh(c_t) [T·B, H];
        // GRU: the hidden projection gh_t = h·W_hhᵀ + b_hh [T·B, 3H].
        public T[][] Gates = [], HPrev = [], CPrev = [], TanhC = [], M = [], Gh = [];
        // Per layer·direction: W_hhᵀ [P, G] and W_hrᵀ [H, P], transposed once per forward so that the
        // per-step GEMMs read a row-major B directly (no packing of the weights at every step).
        public T[][] WHhT = [], WHrT = [];
        public T[] H = [], C = [], Tmp = [];
        public readonly TensorBuffer<T> Output = new(), HN = new(), CN = new();
    }

    private readonly Cell[] _cells;
    private readonly Workspace _train = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<Workspace> _inferPool = new();
    private bool _hasForward;
    private readonly TensorBuffer<T> _dInput = new(), _dH0 = new(), _dC0 = new();
    private T[] _xh = [], _dW = [], _dA = [], _dAh = [], _dHs = [], _dh = [], _dc = [], _dm = [], _dTop = [];
    private T[][] _dX = [];
    private double[] _norms = [];
    private int _normCount;

    public RecurrentEngine(RecurrentCellKind kind, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst,
        double dropout, bool bidirectional, int projSize, Rng? rng)
    {
        Guard.Positive(inputSize);
        Guard.Positive(hiddenSize);
        Guard.Positive(numLayers);
        if (!(dropout >= 0 && dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, $"dropout must be in [0, 1), got {dropout}.");
        Guard.NonNegative(projSize);
        if (projSize >= hiddenSize && projSize > 0)
            throw new ArgumentOutOfRangeException(nameof(projSize), projSize, $"projSize must be smaller than hiddenSize (expected < {hiddenSize}), got {projSize}.");
        Kind = kind;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        NumLayers = numLayers;
        HasBias = bias;
        BatchFirst = batchFirst;
        DropoutProbability = dropout;
        Bidirectional = bidirectional;
        ProjSize = projSize;
        rng ??= Rng.Default;

        int gates = GatesH;
        _cells = new Cell[numLayers * Directions];
        for (int l = 0; l < numLayers; l++)
            for (int d = 0; d < Directions; d++)
            {
                string suffix = $"_l{l}" + (d == 1 ? "_reverse" : "");
                int inSize = l == 0 ? inputSize : Directions * StateSize;
                var cell = new Cell
                {
                    InSize = inSize,
                    WIh = new Parameter<T>("weight_ih" + suffix, gates, inSize),
                    WHh = new Parameter<T>("weight_hh" + suffix, gates, StateSize),
                    BIh = bias ? new Parameter<T>("bias_ih" + suffix, gates) : null,
                    BHh = bias ? new Parameter<T>("bias_hh" + suffix, gates) : null,
                    WHr = projSize > 0 ? new Parameter<T>("weight_hr" + suffix, projSize, hiddenSize) : null,
                };
                _cells[l * Directions + d] = cell;
            }
        // PyTorch's order: per layer, per direction: w_ih, w_hh, b_ih, b_hh, w_hr; all ~ U(±1/√H) in that order.
        var list = new List<Parameter<T>>();
        foreach (var c in _cells)
        {
            list.Add(c.WIh); list.Add(c.WHh);
            if (c.BIh is not null) list.Add(c.BIh);
            if (c.BHh is not null) list.Add(c.BHh);
            if (c.WHr is not null) list.Add(c.WHr);
        }
        Parameters = list;
        foreach (var p in list) Init.UniformFanIn(p, hiddenSize, rng);
        DropoutRng = new Rng(rng.NextUInt64());
    }

    public RecurrentCellKind Kind { get; }
    public int InputSize { get; }
    public int HiddenSize { get; }
    public int NumLayers { get; }
    public bool HasBias { get; }
    public bool BatchFirst { get; }
    public double DropoutProbability { get; }
    public bool Bidirectional { get; }
    public int ProjSize { get; }
    public IReadOnlyList<Parameter<T>> Parameters { get; }
    public Rng DropoutRng { get; set; }
    public bool ResampleDropout { get; set; } = true;
    public ReadOnlySpan<double> HiddenGradientNorms => _norms.AsSpan(0, _normCount);

    private int Directions => Bidirectional ? 2 : 1;
    private int StateSize => ProjSize > 0 ? ProjSize : HiddenSize;              // P
    private int GatesH => HiddenSize * (Kind switch { RecurrentCellKind.Lstm => 4, RecurrentCellKind.Gru => 3, _ => 1 }); // G
    private bool IsLstm => Kind == RecurrentCellKind.Lstm;

    private static Span<T> Buf(ref T[] a, int n)
    {
        if (a.Length < n) a = new T[n];
        return a.AsSpan(0, n);
    }

    private static void EnsureLayers(ref T[][] a, int n)
    {
        if (a.Length != n) { a = new T[n][]; for (int i = 0; i < n; i++) a[i] = []; }
    }

    // ───────────────────────────── argument checks ─────────────────────────────

    private (int Steps, int Batch) CheckInput(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths)
    {
        ArgumentNullException.ThrowIfNull(input);
        string layout = BatchFirst ? "[B, T, input_size]" : "[T, B, input_size]";
        if (input.Rank != 3)
            throw new ArgumentException($"input must have rank 3 {layout} = {(BatchFirst ? "[B, T, " : "[T, B, ")}{InputSize}], got shape {Shapes.Format(input.Lengths)}.", nameof(input));
        if (input.Lengths[2] != InputSize)
            throw new ArgumentException($"input has the wrong feature size: expected input_size {InputSize}, got {input.Lengths[2]} (shape {Shapes.Format(input.Lengths)}).", nameof(input));
        int steps = (int)input.Lengths[BatchFirst ? 1 : 0], batch = (int)input.Lengths[BatchFirst ? 0 : 1];
        if (steps < 1)
            throw new ArgumentException($"input is an empty sequence: expected T ≥ 1 timesteps, got {steps} (shape {Shapes.Format(input.Lengths)}).", nameof(input));
        if (batch < 1)
            throw new ArgumentException($"input has an empty batch: expected B ≥ 1, got {batch} (shape {Shapes.Format(input.Lengths)}).", nameof(input));
        if (h0 is not null) Guard.Shape(h0, [NumLayers * Directions, batch, StateSize], nameof(h0));
        if (c0 is not null)
        {
            if (!IsLstm) throw new ArgumentException("c0 is only for LSTM.", nameof(c0));
            Guard.Shape(c0, [NumLayers * Directions, batch, HiddenSize], nameof(c0));
        }
        if (lengths is not null)
        {
            if (lengths.Length != batch)
                throw new ArgumentException($"lengths has the wrong count: expected {batch} (one per sequence in the batch), got {lengths.Length}.", nameof(lengths));
            for (int b = 0; b < batch; b++)
                if (lengths[b] < 1 || lengths[b] > steps)
                    throw new ArgumentOutOfRangeException(nameof(lengths), lengths[b], $"lengths[{b}] must be in [1, {steps}] (1 ≤ length ≤ T), got {lengths[b]}.");
        }
        return (steps, batch);
    }

    // ───────────────────────────────── forward ─────────────────────────────────

    public (Tensor<T> Output, Tensor<T> HN, Tensor<T>? CN) Forward(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths, bool training)
    {
        var (steps, batch) = CheckInput(input, h0, c0, lengths);
        _hasForward = false;
        var result = Run(_train, input, h0, c0, lengths, steps, batch, training && DropoutProbability > 0);
        _hasForward = true;
        return result;
    }

    public (Tensor<T> Output, Tensor<T> HN, Tensor<T>? CN) Infer(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths)
    {
        var (steps, batch) = CheckInput(input, h0, c0, lengths);
        // Scratch comes from a pool (one workspace per concurrent caller, so repeated calls do not
        // re-allocate tens of MB); the results are copied into new tensors owned by the caller.
        var ws = _inferPool.TryTake(out var pooled) ? pooled : new Workspace();
        try
        {
            var (y, hN, cN) = Run(ws, input, h0, c0, lengths, steps, batch, dropout: false);
            return (Copy(y), Copy(hN), cN is null ? null : Copy(cN));
        }
        finally
        {
            _inferPool.Add(ws);
        }
    }

    private static Tensor<T> Copy(Tensor<T> t) => Tensor.Create(t.ToArray(), t.Lengths);

    private static void Transpose(ReadOnlySpan<T> src, int rows, int cols, Span<T> dst)
    {
        // dst [cols, rows] = srcᵀ, in 16×16 blocks so both sides stay in cache.
        const int Blk = 16;
        for (int r0 = 0; r0 < rows; r0 += Blk)
            for (int c0 = 0; c0 < cols; c0 += Blk)
            {
                int r1 = Math.Min(rows, r0 + Blk), c1 = Math.Min(cols, c0 + Blk);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
            }
    }

    private (Tensor<T>, Tensor<T>, Tensor<T>?) Run(Workspace ws, Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths,
        int steps, int batch, bool dropout)
    {
        int L = NumLayers, D = Directions, P = StateSize, H = HiddenSize, rows = steps * batch;
        if (ws.Steps * ws.Batch != rows) Array.Fill(ws.MaskDrawn, false);
        ws.Steps = steps; ws.Batch = batch;
        if (ws.Lengths.Length != batch) ws.Lengths = new int[batch];
        for (int b = 0; b < batch; b++) ws.Lengths[b] = lengths?[b] ?? steps;
        EnsureLayers(ref ws.LayerInput, L); EnsureLayers(ref ws.LayerOutput, L); EnsureLayers(ref ws.Mask, L);
        if (ws.MaskDrawn.Length != L) ws.MaskDrawn = new bool[L];
        EnsureLayers(ref ws.Gates, L * D); EnsureLayers(ref ws.HPrev, L * D);
        if (IsLstm) { EnsureLayers(ref ws.CPrev, L * D); EnsureLayers(ref ws.TanhC, L * D); EnsureLayers(ref ws.M, L * D); }
        if (Kind == RecurrentCellKind.Gru) EnsureLayers(ref ws.Gh, L * D);
        EnsureLayers(ref ws.WHhT, L * D);
        if (ProjSize > 0) EnsureLayers(ref ws.WHrT, L * D);
        ws.DropoutActive = dropout;

        // Layer 0's input, time-major [T, B, I].
        var x0 = Buf(ref ws.LayerInput[0], rows * InputSize);
        if (BatchFirst) SwapTimeBatch(input.AsReadOnlySpan(), x0, batch, steps, InputSize);
        else input.AsReadOnlySpan().CopyTo(x0);

        var hN = ws.HN.Get([L * D, batch, P]).AsSpan();
        var cN = IsLstm ? ws.CN.Get([L * D, batch, H]).AsSpan() : default;
        for (int l = 0; l < L; l++)
        {
            var y = Buf(ref ws.LayerOutput[l], rows * D * P);
            if (l > 0)
            {
                // Dropout on the previous layer's output: X_l = Y_{l−1} ⊙ mask, mask ∈ {0, 1/(1−p)}.
                var prev = ws.LayerOutput[l - 1].AsSpan(0, rows * D * P);
                var x = Buf(ref ws.LayerInput[l], rows * D * P);
                if (dropout)
                {
                    var mask = Buf(ref ws.Mask[l], rows * D * P);
                    if (ResampleDropout || !ws.MaskDrawn[l])
                    {
                        T keep = T.One / T.CreateTruncating(1 - DropoutProbability);
                        for (int i = 0; i < mask.Length; i++) mask[i] = DropoutRng.NextDouble() < DropoutProbability ? T.Zero : keep;
                        ws.MaskDrawn[l] = true;
                    }
                    TensorPrimitives.Multiply(prev, mask, x);
                }
                else prev.CopyTo(x);
            }
            for (int d = 0; d < D; d++)
            {
                int s = l * D + d;
                ReadOnlySpan<T> hInit = h0 is null ? default : h0.AsReadOnlySpan().Slice(s * batch * P, batch * P);
                ReadOnlySpan<T> cInit = c0 is null ? default : c0.AsReadOnlySpan().Slice(s * batch * H, batch * H);
                ForwardDirection(ws, l, d, hInit, cInit, y, hN.Slice(s * batch * P, batch * P), IsLstm ? cN.Slice(s * batch * H, batch * H) : default);
            }
        }

        var yTop = ws.LayerOutput[L - 1].AsSpan(0, rows * D * P);
        var output = ws.Output.Get(BatchFirst ? [batch, steps, D * P] : [steps, batch, D * P]);
        if (BatchFirst) SwapTimeBatch(yTop, output.AsSpan(), steps, batch, D * P);
        else yTop.CopyTo(output.AsSpan());
        return (output, ws.HN.Get([L * D, batch, P]), IsLstm ? ws.CN.Get([L * D, batch, H]) : null);
    }

    /// <summary>[A, Bdim, F] → [Bdim, A, F].</summary>
    private static void SwapTimeBatch(ReadOnlySpan<T> src, Span<T> dst, int outer, int inner, int features)
    {
        for (int a = 0; a < outer; a++)
            for (int b = 0; b < inner; b++)
                src.Slice((a * inner + b) * features, features).CopyTo(dst.Slice((b * outer + a) * features, features));
    }

    private void ForwardDirection(Workspace ws, int l, int d, ReadOnlySpan<T> hInit, ReadOnlySpan<T> cInit, Span<T> y, Span<T> hOut, Span<T> cOut)
    {
        var cell = _cells[l * Directions + d];
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch;
        int H = HiddenSize, P = StateSize, G = GatesH, D = Directions, ldy = D * P, s = l * Directions + d;
        var lengths = ws.Lengths;
        var x = ws.LayerInput[l].AsSpan(0, rows * cell.InSize);
        var a = Buf(ref ws.Gates[s], rows * G);
        var wHhT = Buf(ref ws.WHhT[s], P * G);
        Transpose(cell.WHh.Data, G, P, wHhT);
        var wHrT = cell.WHr is null ? default : Buf(ref ws.WHrT[s], H * P);
        if (cell.WHr is not null) Transpose(cell.WHr.Data, P, H, wHrT);
        var hPrevAll = Buf(ref ws.HPrev[s], rows * P);

        // 1. Input projection of every timestep at once: A = X·W_ihᵀ + b_ih (+ b_hh, except for the GRU,
        //    whose b_hn must stay inside r ⊙ (W_hn h + b_hn)).
        T beta = T.Zero;
        if (cell.BIh is not null)
        {
            for (int r = 0; r < rows; r++)
            {
                var row = a.Slice(r * G, G);
                if (Kind == RecurrentCellKind.Gru) cell.BIh.Data.CopyTo(row);
                else TensorPrimitives.Add(cell.BIh.Data, cell.BHh!.Data, row);
            }
            beta = T.One;
        }
        Gemm.Multiply(false, true, rows, G, cell.InSize, T.One, x, cell.WIh.Data, beta, a);

        // 2. The recurrence, one step at a time in this direction's order.
        var h = Buf(ref ws.H, batch * P);
        if (hInit.IsEmpty) h.Clear(); else hInit.CopyTo(h);
        var c = IsLstm ? Buf(ref ws.C, batch * H) : default;
        if (IsLstm) { if (cInit.IsEmpty) c.Clear(); else cInit.CopyTo(c); }
        var tmp = Buf(ref ws.Tmp, batch * Math.Max(P, H));

        for (int step = 0; step < steps; step++)
        {
            int t = d == 0 ? step : steps - 1 - step;
            int o = t * batch;
            var at = a.Slice(o * G, batch * G);
            h.CopyTo(hPrevAll.Slice(o * P, batch * P));
            switch (Kind)
            {
                case RecurrentCellKind.RnnTanh:
                case RecurrentCellKind.RnnRelu:
                    Gemm.Multiply(false, false, batch, H, H, T.One, h, wHhT, T.One, at);
                    if (Kind == RecurrentCellKind.RnnTanh) VectorMath.Tanh<T>(at, at);
                    else TensorPrimitives.Max(at, T.Zero, at);
                    for (int b = 0; b < batch; b++)
                        if (t < lengths[b]) at.Slice(b * H, H).CopyTo(h.Slice(b * H, H));
                    break;

                case RecurrentCellKind.Lstm:
                {
                    Gemm.Multiply(false, false, batch, G, P, T.One, h, wHhT, T.One, at);
                    var cPrev = Buf(ref ws.CPrev[s], rows * H).Slice(o * H, batch * H);
                    var tanhC = Buf(ref ws.TanhC[s], rows * H).Slice(o * H, batch * H);
                    var m = Buf(ref ws.M[s], rows * H).Slice(o * H, batch * H);
                    c.CopyTo(cPrev);
                    for (int b = 0; b < batch; b++)
                    {
                        var g = at.Slice(b * G, G);
                        var mb = m.Slice(b * H, H);
                        if (t >= lengths[b]) { mb.Clear(); continue; }   // padding: state frozen, contributes nothing
                        VectorMath.Sigmoid<T>(g[..(2 * H)], g[..(2 * H)]);          // i, f
                        VectorMath.Tanh<T>(g.Slice(2 * H, H), g.Slice(2 * H, H));    // g
                        VectorMath.Sigmoid<T>(g.Slice(3 * H, H), g.Slice(3 * H, H)); // o
                        var cb = c.Slice(b * H, H);
                        var tb = tanhC.Slice(b * H, H);
                        // c = f ⊙ c + i ⊙ g ; m = o ⊙ tanh(c)
                        TensorPrimitives.Multiply(g.Slice(H, H), cb, cb);
                        TensorPrimitives.MultiplyAdd(g[..H], g.Slice(2 * H, H), cb, cb);
                        VectorMath.Tanh<T>(cb, tb);
                        TensorPrimitives.Multiply(g.Slice(3 * H, H), tb, mb);
                        if (cell.WHr is null) mb.CopyTo(h.Slice(b * P, P));
                    }
                    if (cell.WHr is not null)
                    {
                        // Projection h = m·W_hrᵀ, written only for sequences still running.
                        var hp = tmp[..(batch * P)];
                        Gemm.Multiply(false, false, batch, P, H, T.One, m, wHrT, T.Zero, hp);
                        for (int b = 0; b < batch; b++)
                            if (t < lengths[b]) hp.Slice(b * P, P).CopyTo(h.Slice(b * P, P));
                    }
                    break;
                }

                case RecurrentCellKind.Gru:
                {
                    var gh = Buf(ref ws.Gh[s], rows * G).Slice(o * G, batch * G);
                    T betaH = T.Zero;
                    if (cell.BHh is not null)
                    {
                        for (int b = 0; b < batch; b++) cell.BHh.Data.CopyTo(gh.Slice(b * G, G));
                        betaH = T.One;
                    }
                    Gemm.Multiply(false, false, batch, G, H, T.One, h, wHhT, betaH, gh);
                    for (int b = 0; b < batch; b++)
                    {
                        if (t >= lengths[b]) continue;
                        var g = at.Slice(b * G, G);
                        var ghb = gh.Slice(b * G, G);
                        var hb = h.Slice(b * H, H);
                        // r, z = σ(gx + gh); n = tanh(gx_n + r ⊙ gh_n); h = n + z ⊙ (h − n)
                        TensorPrimitives.Add(g[..(2 * H)], ghb[..(2 * H)], g[..(2 * H)]);
                        VectorMath.Sigmoid<T>(g[..(2 * H)], g[..(2 * H)]);
                        var n = g.Slice(2 * H, H);
                        TensorPrimitives.MultiplyAdd(g[..H], ghb.Slice(2 * H, H), n, n);
                        VectorMath.Tanh<T>(n, n);
                        var diff = tmp[..H];
                        TensorPrimitives.Subtract(hb, n, diff);
                        TensorPrimitives.MultiplyAdd(g.Slice(H, H), diff, n, hb);
                    }
                    break;
                }
            }
            // Output: the new state for running sequences, zero past each sequence's length.
            for (int b = 0; b < batch; b++)
            {
                var yb = y.Slice((o + b) * ldy + d * P, P);
                if (t < lengths[b]) h.Slice(b * P, P).CopyTo(yb); else yb.Clear();
            }
        }
        h.CopyTo(hOut);
        if (IsLstm) c.CopyTo(cOut);
    }

    // ───────────────────────────────── backward ────────────────────────────────

    public (Tensor<T> DInput, Tensor<T> DH0, Tensor<T>? DC0) Backward(Tensor<T> dOutput, Tensor<T>? dHN, Tensor<T>? dCN)
    {
        if (!_hasForward) throw new InvalidOperationException("Backward called before Forward.");
        var ws = _train;
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch, L = NumLayers, D = Directions, P = StateSize, H = HiddenSize;
        Guard.Shape(dOutput, BatchFirst ? [batch, steps, D * P] : [steps, batch, D * P], nameof(dOutput));
        if (dHN is not null) Guard.Shape(dHN, [L * D, batch, P], nameof(dHN));
        if (dCN is not null)
        {
            if (!IsLstm) throw new ArgumentException("dCN is only for LSTM.", nameof(dCN));
            Guard.Shape(dCN, [L * D, batch, H], nameof(dCN));
        }

        // ∂L/∂Y of the top layer, time-major.
        var dTop = Buf(ref _dTop, rows * D * P);
        if (BatchFirst) SwapTimeBatch(dOutput.AsReadOnlySpan(), dTop, batch, steps, D * P);
        else dOutput.AsReadOnlySpan().CopyTo(dTop);

        if (_norms.Length < steps) _norms = new double[steps];
        _normCount = steps;
        EnsureLayers(ref _dX, L);
        var dH0 = _dH0.Get([L * D, batch, P]).AsSpan();
        var dC0 = IsLstm ? _dC0.Get([L * D, batch, H]).AsSpan() : default;
        ReadOnlySpan<T> dY = dTop;
        for (int l = L - 1; l >= 0; l--)
        {
            int inSize = _cells[l * D].InSize;
            var dX = Buf(ref _dX[l], rows * inSize);
            for (int d = 0; d < D; d++)
            {
                int s = l * D + d;
                ReadOnlySpan<T> dhInit = dHN is null ? default : dHN.AsReadOnlySpan().Slice(s * batch * P, batch * P);
                ReadOnlySpan<T> dcInit = dCN is null ? default : dCN.AsReadOnlySpan().Slice(s * batch * H, batch * H);
                BackwardDirection(ws, l, d, dY, dhInit, dcInit, dX, accumulate: d > 0, recordNorms: l == L - 1 && d == 0,
                    dH0.Slice(s * batch * P, batch * P), IsLstm ? dC0.Slice(s * batch * H, batch * H) : default);
            }
            // Through the dropout between layers: ∂L/∂Y_{l−1} = ∂L/∂X_l ⊙ mask.
            if (l > 0 && ws.DropoutActive) TensorPrimitives.Multiply(dX, ws.Mask[l].AsSpan(0, dX.Length), dX);
            dY = dX;
        }

        var dInput = _dInput.Get(BatchFirst ? [batch, steps, InputSize] : [steps, batch, InputSize]);
        if (BatchFirst) SwapTimeBatch(dY, dInput.AsSpan(), steps, batch, InputSize);
        else dY.CopyTo(dInput.AsSpan());
        return (dInput, _dH0.Get([L * D, batch, P]), IsLstm ? _dC0.Get([L * D, batch, H]) : null);
    }

    /// <summary>
    /// BPTT for one layer and direction: the loop backwards over time carrying dh (and dc), then
    /// the weight gradients and dX as single GEMMs over all timesteps.
    /// </summary>
    private void BackwardDirection(Workspace ws, int l, int d, ReadOnlySpan<T> dY, ReadOnlySpan<T> dhInit, ReadOnlySpan<T> dcInit,
        Span<T> dX, bool accumulate, bool recordNorms, Span<T> dh0, Span<T> dc0)
    {
        var cell = _cells[l * Directions + d];
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch;
        int H = HiddenSize, P = StateSize, G = GatesH, ldy = Directions * P, s = l * Directions + d;
        bool gru = Kind == RecurrentCellKind.Gru;
        var lengths = ws.Lengths;
        var gates = ws.Gates[s].AsSpan(0, rows * G);
        var hPrevAll = ws.HPrev[s].AsSpan(0, rows * P);
        var dA = Buf(ref _dA, rows * G);                      // ∂L/∂(pre-activation), input side
        var dAh = gru ? Buf(ref _dAh, rows * G) : dA;         // hidden side (differs only for the GRU's n gate)
        var dHs = Buf(ref _dHs, rows * P);                    // total ∂L/∂h_t for every t
        var dh = Buf(ref _dh, batch * P);                     // the carry: ∂L/∂h from later steps
        if (dhInit.IsEmpty) dh.Clear(); else dhInit.CopyTo(dh);
        var dc = IsLstm ? Buf(ref _dc, batch * H) : default;
        if (IsLstm) { if (dcInit.IsEmpty) dc.Clear(); else dcInit.CopyTo(dc); }
        var dm = IsLstm && cell.WHr is not null ? Buf(ref _dm, batch * H) : default;

        for (int step = steps - 1; step >= 0; step--)
        {
            int t = d == 0 ? step : steps - 1 - step;
            int o = t * batch;
            var dht = dHs.Slice(o * P, batch * P);
            var dat = dA.Slice(o * G, batch * G);
            var daht = dAh.Slice(o * G, batch * G);
            var gt = gates.Slice(o * G, batch * G);

            // dh_t = dh_carry + dY_t (the output at a padded position is a constant zero: no gradient).
            for (int b = 0; b < batch; b++)
            {
                var row = dht.Slice(b * P, P);
                dh.Slice(b * P, P).CopyTo(row);
                if (t < lengths[b]) TensorPrimitives.Add(row, dY.Slice((o + b) * ldy + d * P, P), row);
            }
            if (recordNorms) _norms[t] = double.CreateTruncating(T.Sqrt(TensorPrimitives.SumOfSquares<T>(dht)));

            switch (Kind)
            {
                case RecurrentCellKind.RnnTanh:
                case RecurrentCellKind.RnnRelu:
                    for (int b = 0; b < batch; b++)
                    {
                        var da = dat.Slice(b * H, H);
                        if (t >= lengths[b]) { da.Clear(); continue; }
                        RnnBackwardRow(gt.Slice(b * H, H), dht.Slice(b * H, H), da, Kind == RecurrentCellKind.RnnTanh);
                    }
                    break;

                case RecurrentCellKind.Lstm:
                {
                    var cPrev = ws.CPrev[s].AsSpan(o * H, batch * H);
                    var tanhC = ws.TanhC[s].AsSpan(o * H, batch * H);
                    // Through the projection h = W_hr·m: dm = dh·W_hr (padded rows of m are zero, so dW_hr is unaffected).
                    ReadOnlySpan<T> dmt = dht;
                    if (cell.WHr is not null)
                    {
                        Gemm.Multiply(false, false, batch, H, P, T.One, dht, cell.WHr.Data, T.Zero, dm);
                        dmt = dm;
                    }
                    for (int b = 0; b < batch; b++)
                    {
                        var da = dat.Slice(b * G, G);
                        if (t >= lengths[b]) { da.Clear(); continue; }                    // dc passes through unchanged
                        int k0 = b * H;
                        LstmBackwardRow(gt.Slice(b * G, G), tanhC.Slice(k0, H), cPrev.Slice(k0, H), dmt.Slice(k0, H), dc.Slice(k0, H), da, H);
                    }
                    break;
                }

                case RecurrentCellKind.Gru:
                {
                    var gh = ws.Gh[s].AsSpan(o * G, batch * G);
                    var hPrev = hPrevAll.Slice(o * P, batch * P);
                    for (int b = 0; b < batch; b++)
                    {
                        var dax = dat.Slice(b * G, G);
                        var dah = daht.Slice(b * G, G);
                        if (t >= lengths[b]) { dax.Clear(); dah.Clear(); continue; }
                        GruBackwardRow(gt.Slice(b * G, G), gh.Slice(b * G, G), hPrev.Slice(b * H, H), dht.Slice(b * H, H), dax, dah, H);
                    }
                    break;
                }
            }

            // Carry to step t−1: dh = dA_t·W_hh (+ the GRU's direct path z ⊙ dh); padded rows pass dh through.
            T beta = T.Zero;
            if (gru)
            {
                for (int b = 0; b < batch; b++)
                {
                    var dhb = dh.Slice(b * P, P);
                    if (t < lengths[b]) TensorPrimitives.Multiply(dht.Slice(b * P, P), gt.Slice(b * G + H, H), dhb);
                    else dht.Slice(b * P, P).CopyTo(dhb);
                }
                beta = T.One;
            }
            // This product, applied once per step, is where gradients vanish or explode: dh is multiplied
            // by diag(act')·W_hh at every step back (see the header and HiddenGradientNorms).
            Gemm.Multiply(false, false, batch, P, G, T.One, daht, cell.WHh.Data, beta, dh);
            if (!gru)
                for (int b = 0; b < batch; b++)
                    if (t >= lengths[b]) dht.Slice(b * P, P).CopyTo(dh.Slice(b * P, P));
        }
        dh.CopyTo(dh0);
        if (IsLstm) dc.CopyTo(dc0);

        // Weight gradients, one GEMM each over all T·B rows.
        var x = ws.LayerInput[l].AsSpan(0, rows * cell.InSize);
        if (!gru && cell.WIh.RequiresGrad && cell.WHh.RequiresGrad)
        {
            // RNN/LSTM: both products share dA, so they are one GEMM: [dW_ih | dW_hh] += dAᵀ·[X | H_prev]
            // (dAᵀ is packed once instead of twice, and the product is wider).
            int inSize = cell.InSize, width = inSize + P;
            var xh = Buf(ref _xh, rows * width);
            for (int r = 0; r < rows; r++)
            {
                x.Slice(r * inSize, inSize).CopyTo(xh.Slice(r * width, inSize));
                hPrevAll.Slice(r * P, P).CopyTo(xh.Slice(r * width + inSize, P));
            }
            var dW = Buf(ref _dW, G * width);
            Gemm.Multiply(true, false, G, width, rows, T.One, dA, xh, T.Zero, dW);
            var gIh = cell.WIh.Grad.AsSpan();
            var gHh = cell.WHh.Grad.AsSpan();
            for (int g = 0; g < G; g++)
            {
                var rowIh = gIh.Slice(g * inSize, inSize);
                var rowHh = gHh.Slice(g * P, P);
                TensorPrimitives.Add(rowIh, dW.Slice(g * width, inSize), rowIh);
                TensorPrimitives.Add(rowHh, dW.Slice(g * width + inSize, P), rowHh);
            }
        }
        else
        {
            if (cell.WIh.RequiresGrad) Gemm.Multiply(true, false, G, cell.InSize, rows, T.One, dA, x, T.One, cell.WIh.Grad.AsSpan());
            if (cell.WHh.RequiresGrad) Gemm.Multiply(true, false, G, P, rows, T.One, dAh, hPrevAll, T.One, cell.WHh.Grad.AsSpan());
        }
        if (cell.WHr is { RequiresGrad: true })
            Gemm.Multiply(true, false, P, H, rows, T.One, dHs, ws.M[s].AsSpan(0, rows * H), T.One, cell.WHr.Grad.AsSpan());
        if (cell.BIh is { RequiresGrad: true }) SumRowsInto(dA, rows, G, cell.BIh.Grad);
        if (cell.BHh is { RequiresGrad: true }) SumRowsInto(dAh, rows, G, cell.BHh.Grad);
        // dX = dA·W_ih (the second direction adds to the first's).
        Gemm.Multiply(false, false, rows, cell.InSize, G, T.One, dA, cell.WIh.Data, accumulate ? T.One : T.Zero, dX);
    }

    // ───────────── per-row gate derivatives (the cell backward equations, vectorised) ─────────────

    /// <summary>RNN: da = dh ⊙ act'(a), with tanh' = 1 − h² and relu' = [h &gt; 0] written via the output h.</summary>
    private static void RnnBackwardRow(ReadOnlySpan<T> h, ReadOnlySpan<T> dh, Span<T> da, bool tanh)
    {
        if (!tanh)
        {
            for (int k = 0; k < h.Length; k++) da[k] = h[k] > T.Zero ? dh[k] : T.Zero;   // relu' = [h > 0]
            return;
        }
        int j = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
        {
            ref T hr = ref MemoryMarshal.GetReference(h), dhr = ref MemoryMarshal.GetReference(dh), dar = ref MemoryMarshal.GetReference(da);
            for (; j <= h.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var hv = Vector.LoadUnsafe(ref hr, (nuint)j);
                Vector.StoreUnsafe(Vector.LoadUnsafe(ref dhr, (nuint)j) * (Vector<T>.One - hv * hv), ref dar, (nuint)j);
            }
        }
        for (; j < h.Length; j++) da[j] = dh[j] * (T.One - h[j] * h[j]);                // tanh' = 1 − h²
    }

    /// <summary>
    /// LSTM, one sequence: given the gates [i f g o], tanh(c_t), c_{t−1}, dm = ∂L/∂(o⊙tanh c_t) and the carried dc,
    /// writes da (pre-activation gradients) and replaces dc by ∂L/∂c_{t−1}. See LstmCell.cs for the derivation.
    /// </summary>
    private static void LstmBackwardRow(ReadOnlySpan<T> g, ReadOnlySpan<T> tanhC, ReadOnlySpan<T> cPrev, ReadOnlySpan<T> dm, Span<T> dc, Span<T> da, int H)
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
        {
            var one = Vector<T>.One;
            ref T gr = ref MemoryMarshal.GetReference(g), tcr = ref MemoryMarshal.GetReference(tanhC), cpr = ref MemoryMarshal.GetReference(cPrev);
            ref T dmr = ref MemoryMarshal.GetReference(dm), dcr = ref MemoryMarshal.GetReference(dc), dar = ref MemoryMarshal.GetReference(da);
            nuint h = (nuint)H;
            for (; j <= H - Vector<T>.Count; j += Vector<T>.Count)
            {
                nuint u = (nuint)j;
                var i = Vector.LoadUnsafe(ref gr, u);
                var f = Vector.LoadUnsafe(ref gr, h + u);
                var gg = Vector.LoadUnsafe(ref gr, 2 * h + u);
                var o = Vector.LoadUnsafe(ref gr, 3 * h + u);
                var tc = Vector.LoadUnsafe(ref tcr, u);
                var dmv = Vector.LoadUnsafe(ref dmr, u);
                var dcTotal = Vector.LoadUnsafe(ref dcr, u) + dmv * o * (one - tc * tc);
                Vector.StoreUnsafe(dcTotal * gg * i * (one - i), ref dar, u);
                Vector.StoreUnsafe(dcTotal * Vector.LoadUnsafe(ref cpr, u) * f * (one - f), ref dar, h + u);
                Vector.StoreUnsafe(dcTotal * i * (one - gg * gg), ref dar, 2 * h + u);
                Vector.StoreUnsafe(dmv * tc * o * (one - o), ref dar, 3 * h + u);
                Vector.StoreUnsafe(dcTotal * f, ref dcr, u);
            }
        }
        for (; j < H; j++)
        {
            T i = g[j], f = g[H + j], gg = g[2 * H + j], og = g[3 * H + j], tc = tanhC[j], dmk = dm[j];
            T dcTotal = dc[j] + dmk * og * (T.One - tc * tc);   // dc' ← dc' + dh ⊙ o ⊙ tanh'(c')
            da[j] = dcTotal * gg * i * (T.One - i);              // di ⊙ σ'(i)
            da[H + j] = dcTotal * cPrev[j] * f * (T.One - f);    // df ⊙ σ'(f)
            da[2 * H + j] = dcTotal * i * (T.One - gg * gg);     // dg ⊙ tanh'(g)
            da[3 * H + j] = dmk * tc * og * (T.One - og);        // do ⊙ σ'(o)
            dc[j] = dcTotal * f;                                 // carry to c_{t−1}
        }
    }

    /// <summary>
    /// GRU, one sequence: given the gates [r z n], gh = W_hh·h + b_hh, h_{t−1} and dh, writes the input-side
    /// (dax) and hidden-side (dah) pre-activation gradients. See GruCell.cs for the derivation.
    /// </summary>
    private static void GruBackwardRow(ReadOnlySpan<T> g, ReadOnlySpan<T> gh, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> dh, Span<T> dax, Span<T> dah, int H)
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported)
        {
            var one = Vector<T>.One;
            ref T gr = ref MemoryMarshal.GetReference(g), ghr = ref MemoryMarshal.GetReference(gh), hpr = ref MemoryMarshal.GetReference(hPrev);
            ref T dhr = ref MemoryMarshal.GetReference(dh), dxr = ref MemoryMarshal.GetReference(dax), dhhr = ref MemoryMarshal.GetReference(dah);
            nuint h = (nuint)H;
            for (; j <= H - Vector<T>.Count; j += Vector<T>.Count)
            {
                nuint u = (nuint)j;
                var r = Vector.LoadUnsafe(ref gr, u);
                var z = Vector.LoadUnsafe(ref gr, h + u);
                var n = Vector.LoadUnsafe(ref gr, 2 * h + u);
                var dhv = Vector.LoadUnsafe(ref dhr, u);
                var dan = dhv * (one - z) * (one - n * n);
                var dar = dan * Vector.LoadUnsafe(ref ghr, 2 * h + u) * r * (one - r);
                var daz = dhv * (Vector.LoadUnsafe(ref hpr, u) - n) * z * (one - z);
                Vector.StoreUnsafe(dar, ref dxr, u); Vector.StoreUnsafe(daz, ref dxr, h + u); Vector.StoreUnsafe(dan, ref dxr, 2 * h + u);
                Vector.StoreUnsafe(dar, ref dhhr, u); Vector.StoreUnsafe(daz, ref dhhr, h + u); Vector.StoreUnsafe(dan * r, ref dhhr, 2 * h + u);
            }
        }
        for (; j < H; j++)
        {
            T r = g[j], z = g[H + j], n = g[2 * H + j], dhk = dh[j];
            T dan = dhk * (T.One - z) * (T.One - n * n);          // dn ⊙ tanh'(n)
            T dar = dan * gh[2 * H + j] * r * (T.One - r);        // dr ⊙ σ'(r),  dr = dan ⊙ (W_hn h + b_hn)
            T daz = dhk * (hPrev[j] - n) * z * (T.One - z);       // dz ⊙ σ'(z)
            dax[j] = dar; dax[H + j] = daz; dax[2 * H + j] = dan;
            dah[j] = dar; dah[H + j] = daz; dah[2 * H + j] = dan * r;
        }
    }

    private static void SumRowsInto(ReadOnlySpan<T> m, int rows, int cols, Span<T> acc)
    {
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(acc, m.Slice(r * cols, cols), acc);
    }
}
