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
//   A   = X·W_ihᵀ                        all T·B rows in ONE large GEMM           [T·B, G]
//   for each step t in the direction's order (ForwardSteps):
//       A_t += h·W_hhᵀ                  one small GEMM per step                   [B, G]
//       gates_t = act(A_t + b_ih + b_hh), new (h, c)   gate activations (cell equations)
//       per sequence b: if t < len_b the state advances and Y_t[b] = h[b];
//                       otherwise the state is frozen and Y_t[b] = 0.
//   The reverse direction visits t ≥ len_b first, so its state stays h0 until it reaches the
//   sequence's own last element: it "starts at each sequence's own end".
//   (GRU: b_hh goes into gh_t = h·W_hhᵀ + b_hh, because n needs r ⊙ (W_hn h + b_hn).)
//
// BACKWARD THROUGH TIME (the loop in `BackwardSteps`): walk the steps in the opposite order,
// carrying dh (and dc for the LSTM) from step t+1 to step t:
//   dh_t  = dY_t + dh_carry                (total gradient reaching h_t: from the output at t
//                                           and from every later step through h_{t+1})
//   dA_t  = cell backward (gate derivatives, see the cell files)
//   dh_carry = dA_t·W_hh (+ direct paths)   one small GEMM per step                  [B, P]
//   db_ih, db_hh += Σ_b dA_t[b]             (summed per sequence, added up at the end)
//   padded positions (t ≥ len_b) pass dh and dc through unchanged and contribute no gradient.
// Then, once for all timesteps (`BackwardDirection`):
//   dW_ih += dAᵀ·X     dW_hh += dAᵀ·H_prev   (over all T·B rows; for RNN/LSTM, whose two
//                                            products share dA, ONE GEMM dAᵀ·[X | H_prev])
//   dX     = dA·W_ih                          (ONE GEMM)
//
// THREADS: sequences never interact, so both time loops split the batch across threads, each
// thread walking every step for its own sequences (one hand-over per loop instead of a fork and a
// join inside every small per-step GEMM). The large GEMMs split themselves. Every sum over
// sequences is taken in the same order whatever the split, so results do not depend on the
// number of threads.
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
    /// so a step after warm-up allocates nothing); <see cref="Infer"/> takes one from a pool and, with
    /// <see cref="KeepCaches"/> false, sizes the per-step caches for a single step.
    /// </summary>
    private sealed class Workspace
    {
        public int Steps, Batch;
        public int[] Lengths = [];
        public T[][] LayerInput = [], LayerOutput = [], Mask = [];
        public bool[] MaskDrawn = [];
        public bool DropoutActive, KeepCaches, Unbatched;
        // Per layer·direction: activated gates [T·B, G], state before each step H_prev [T·B, P],
        // LSTM: c before each step [T·B, H], tanh(c_t) [T·B, H], m_t = o⊙tanh(c_t) [T·B, H];
        // GRU: the hidden projection gh_t = h·W_hhᵀ + b_hh [T·B, 3H]. Without KeepCaches: no H_prev
        // and c_prev, and tanh(c_t), m_t and gh_t hold one step ([B, ·]).
        public T[][] Gates = [], HPrev = [], CPrev = [], TanhC = [], M = [], Gh = [];
        // Per layer·direction: W_hhᵀ [P, G] and W_hrᵀ [H, P], transposed once per forward so that the
        // per-step GEMMs read a row-major B directly (no packing of the weights at every step).
        public T[][] WHhT = [], WHrT = [];
        public T[] H = [], C = [], Tmp = [], Bias = [];
        public readonly TensorBuffer<T> Output = new(), HN = new(), CN = new();
    }

    private readonly Cell[] _cells;
    private readonly Workspace _train = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<Workspace> _inferPool = new();
    private bool _hasForward;
    private readonly TensorBuffer<T> _dInput = new(), _dH0 = new(), _dC0 = new();
    private T[] _xh = [], _dW = [], _dA = [], _dAh = [], _dHs = [], _dh = [], _dc = [], _dm = [], _dTop = [];
    private T[][] _dX = [];
    private double[] _norms = [], _seqNorms = [];
    private int _normCount;
    private T[] _seqBias = [], _dWt = [];
    private readonly TimeLoopJob _timeLoop;

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
        _timeLoop = new TimeLoopJob(this);
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

    private static Span<TE> Buf<TE>(ref TE[] a, int n)
    {
        if (a.Length < n) a = new TE[n];
        return a.AsSpan(0, n);
    }

    private static void EnsureLayers(ref T[][] a, int n)
    {
        if (a.Length != n) { a = new T[n][]; for (int i = 0; i < n; i++) a[i] = []; }
    }

    // ───────────────────────────── argument checks ─────────────────────────────

    /// <summary>Checks the arguments of a forward; returns T, B and whether the input is one unbatched sequence [T, I] (B = 1).</summary>
    private (int Steps, int Batch, bool Unbatched) CheckInput(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths)
    {
        ArgumentNullException.ThrowIfNull(input);
        string layout = BatchFirst ? "[B, T, " : "[T, B, ";
        if (input.Rank != 3 && input.Rank != 2)
            throw new ArgumentException($"input must have rank 3 {layout}input_size] = {layout}{InputSize}] or, for one unbatched sequence, rank 2 [T, {InputSize}]; got shape {Shapes.Format(input.Lengths)}.", nameof(input));
        bool unbatched = input.Rank == 2;
        if (input.Lengths[^1] != InputSize)
            throw new ArgumentException($"input has the wrong feature size: expected input_size {InputSize}, got {input.Lengths[^1]} (shape {Shapes.Format(input.Lengths)}).", nameof(input));
        int steps = (int)input.Lengths[BatchFirst && !unbatched ? 1 : 0], batch = unbatched ? 1 : (int)input.Lengths[BatchFirst ? 0 : 1];
        if (steps < 1)
            throw new ArgumentException($"input is an empty sequence: expected T ≥ 1 timesteps, got {steps} (shape {Shapes.Format(input.Lengths)}).", nameof(input));
        if (batch < 1)
            throw new ArgumentException($"input has an empty batch: expected B ≥ 1, got {batch} (shape {Shapes.Format(input.Lengths)}).", nameof(input));
        Span<nint> shape = stackalloc nint[3];
        if (h0 is not null) Guard.Shape(h0, StateShape(unbatched, batch, StateSize, shape), nameof(h0));
        if (c0 is not null)
        {
            if (!IsLstm) throw new ArgumentException("c0 is only for LSTM.", nameof(c0));
            Guard.Shape(c0, StateShape(unbatched, batch, HiddenSize, shape), nameof(c0));
        }
        if (lengths is not null)
        {
            if (lengths.Length != batch)
                throw new ArgumentException($"lengths has the wrong count: expected {batch} (one per sequence in the batch), got {lengths.Length}.", nameof(lengths));
            for (int b = 0; b < batch; b++)
                if (lengths[b] < 1 || lengths[b] > steps)
                    throw new ArgumentOutOfRangeException(nameof(lengths), lengths[b], $"lengths[{b}] must be in [1, {steps}] (1 ≤ length ≤ T), got {lengths[b]}.");
        }
        return (steps, batch, unbatched);
    }

    /// <summary>Shape of a sequence tensor with <paramref name="features"/> per step: [T, B, F], [B, T, F] (batch-first) or [T, F] (unbatched).</summary>
    private ReadOnlySpan<nint> SequenceShape(bool unbatched, int steps, int batch, int features, Span<nint> dst)
    {
        if (unbatched) { dst[0] = steps; dst[1] = features; return dst[..2]; }
        (dst[0], dst[1], dst[2]) = BatchFirst ? (batch, steps, features) : (steps, batch, features);
        return dst[..3];
    }

    /// <summary>Shape of a state tensor (h, c or their gradients): [L·D, B, size], or [L·D, size] unbatched.</summary>
    private ReadOnlySpan<nint> StateShape(bool unbatched, int batch, int size, Span<nint> dst)
    {
        dst[0] = NumLayers * Directions;
        if (unbatched) { dst[1] = size; return dst[..2]; }
        (dst[1], dst[2]) = (batch, size);
        return dst[..3];
    }

    // ───────────────────────────────── forward ─────────────────────────────────

    public (Tensor<T> Output, Tensor<T> HN, Tensor<T>? CN) Forward(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths, bool training)
    {
        var (steps, batch, unbatched) = CheckInput(input, h0, c0, lengths);
        _hasForward = false;
        var ws = _train;
        Span<nint> shape = stackalloc nint[3];
        var output = ws.Output.Get(SequenceShape(unbatched, steps, batch, Directions * StateSize, shape));
        var hN = ws.HN.Get(StateShape(unbatched, batch, StateSize, shape));
        var cN = IsLstm ? ws.CN.Get(StateShape(unbatched, batch, HiddenSize, shape)) : null;
        Run(ws, input, h0, c0, lengths, steps, batch, unbatched, training && DropoutProbability > 0, keepCaches: true, output, hN, cN);
        _hasForward = true;
        return (output, hN, cN);
    }

    public (Tensor<T> Output, Tensor<T> HN, Tensor<T>? CN) Infer(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths)
    {
        var (steps, batch, unbatched) = CheckInput(input, h0, c0, lengths);
        // The results are new tensors owned by the caller, written in place; the scratch comes from a pool
        // (one workspace per concurrent caller, so repeated calls do not re-allocate it) and keeps only
        // what one step needs, since no backward pass follows.
        Span<nint> shape = stackalloc nint[3];
        var output = NewTensor(SequenceShape(unbatched, steps, batch, Directions * StateSize, shape));
        var hN = NewTensor(StateShape(unbatched, batch, StateSize, shape));
        var cN = IsLstm ? NewTensor(StateShape(unbatched, batch, HiddenSize, shape)) : null;
        var ws = _inferPool.TryTake(out var pooled) ? pooled : new Workspace();
        try
        {
            Run(ws, input, h0, c0, lengths, steps, batch, unbatched, dropout: false, keepCaches: false, output, hN, cN);
        }
        finally
        {
            _inferPool.Add(ws);
        }
        return (output, hN, cN);
    }

    private static Tensor<T> NewTensor(ReadOnlySpan<nint> shape) => Tensor.Create(GC.AllocateUninitializedArray<T>(Shapes.Product(shape)), shape);

    /// <summary>
    /// The forward pass over all layers and directions, writing the output sequence and the final states.
    /// <paramref name="keepCaches"/>: keep every step's gates and states for <see cref="Backward"/>.
    /// </summary>
    private void Run(Workspace ws, Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths, int steps, int batch,
        bool unbatched, bool dropout, bool keepCaches, Tensor<T> output, Tensor<T> hNTensor, Tensor<T>? cNTensor)
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
        ws.KeepCaches = keepCaches;
        ws.Unbatched = unbatched;
        bool swap = BatchFirst && !unbatched;                 // an unbatched [T, I] is already time-major [T, 1, I]

        // Layer 0's input, time-major [T, B, I].
        var x0 = Buf(ref ws.LayerInput[0], rows * InputSize);
        if (swap) SwapTimeBatch(input.AsReadOnlySpan(), x0, batch, steps, InputSize);
        else input.AsReadOnlySpan().CopyTo(x0);

        var hN = hNTensor.AsSpan();
        var cN = cNTensor is null ? default : cNTensor.AsSpan();
        for (int l = 0; l < L; l++)
        {
            Buf(ref ws.LayerOutput[l], rows * D * P);
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
                ForwardDirection(ws, l, d, hInit, cInit, hN.Slice(s * batch * P, batch * P), IsLstm ? cN.Slice(s * batch * H, batch * H) : default);
            }
        }

        var yTop = ws.LayerOutput[L - 1].AsSpan(0, rows * D * P);
        if (swap) SwapTimeBatch(yTop, output.AsSpan(), steps, batch, D * P);
        else yTop.CopyTo(output.AsSpan());
    }

    /// <summary>[A, Bdim, F] → [Bdim, A, F].</summary>
    private static void SwapTimeBatch(ReadOnlySpan<T> src, Span<T> dst, int outer, int inner, int features)
    {
        for (int a = 0; a < outer; a++)
            for (int b = 0; b < inner; b++)
                src.Slice((a * inner + b) * features, features).CopyTo(dst.Slice((b * outer + a) * features, features));
    }

    private void ForwardDirection(Workspace ws, int l, int d, ReadOnlySpan<T> hInit, ReadOnlySpan<T> cInit, Span<T> hOut, Span<T> cOut)
    {
        var cell = _cells[l * Directions + d];
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch;
        int H = HiddenSize, P = StateSize, G = GatesH, s = l * Directions + d;
        var x = ws.LayerInput[l].AsSpan(0, rows * cell.InSize);
        var a = Buf(ref ws.Gates[s], rows * G);
        Gemm.Transpose<T>(cell.WHh.Data, G, P, Buf(ref ws.WHhT[s], P * G));
        if (cell.WHr is not null) Gemm.Transpose<T>(cell.WHr.Data, P, H, Buf(ref ws.WHrT[s], H * P));
        // Everything the time loop writes is sized here, before the loop may run on several threads.
        int cached = ws.KeepCaches ? rows : batch;            // rows of tanh(c), m and gh: every step's, or one step's
        if (ws.KeepCaches) Buf(ref ws.HPrev[s], rows * P);
        if (ws.KeepCaches && IsLstm) Buf(ref ws.CPrev[s], rows * H);
        if (IsLstm) { Buf(ref ws.TanhC[s], cached * H); Buf(ref ws.M[s], cached * H); }
        if (Kind == RecurrentCellKind.Gru) Buf(ref ws.Gh[s], cached * G);
        Buf(ref ws.Tmp, batch * Math.Max(P, H));

        // 1. Input projection of every timestep at once: A = X·W_ihᵀ. The biases are added step by step
        //    (ForwardSteps), to rows that are then in cache, instead of in a pass over all of A here.
        Gemm.Multiply(false, true, rows, G, cell.InSize, T.One, x, cell.WIh.Data, T.Zero, a);
        if (cell.BIh is not null)
        {
            // b_ih + b_hh for the RNN and LSTM; the GRU adds b_ih to its input side and b_hh to gh
            // (b_hn must stay inside r ⊙ (W_hn h + b_hn)).
            var bias = Buf(ref ws.Bias, G);
            if (Kind == RecurrentCellKind.Gru) cell.BIh.Data.CopyTo(bias);
            else TensorPrimitives.Add(cell.BIh.Data, cell.BHh!.Data, bias);
        }

        // 2. The recurrence (ForwardSteps), from the initial state.
        var h = Buf(ref ws.H, batch * P);
        if (hInit.IsEmpty) h.Clear(); else hInit.CopyTo(h);
        var c = IsLstm ? Buf(ref ws.C, batch * H) : default;
        if (IsLstm) { if (cInit.IsEmpty) c.Clear(); else cInit.CopyTo(c); }
        RunTimeLoop(ws, l, d, dY: null, recordNorms: false);
        h.CopyTo(hOut);
        if (IsLstm) c.CopyTo(cOut);
    }

    /// <summary>
    /// The forward recurrence for sequences b0 ≤ b &lt; b1 of the batch, every step in this direction's order.
    /// Sequences never interact, so disjoint ranges can run on different threads (see <see cref="RunTimeLoop"/>).
    /// </summary>
    private void ForwardSteps(Workspace ws, int l, int d, int b0, int b1)
    {
        var cell = _cells[l * Directions + d];
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch, nb = b1 - b0;
        int H = HiddenSize, P = StateSize, G = GatesH, ldy = Directions * P, s = l * Directions + d, w = Math.Max(P, H);
        var lengths = ws.Lengths.AsSpan(b0, nb);                 // lengths[j] is sequence b0 + j's
        var a = ws.Gates[s].AsSpan(0, rows * G);
        var wHhT = ws.WHhT[s].AsSpan(0, P * G);
        var wHrT = cell.WHr is null ? default : ws.WHrT[s].AsSpan(0, H * P);
        bool keep = ws.KeepCaches;
        var hPrevAll = keep ? ws.HPrev[s].AsSpan(0, rows * P) : default;
        var y = ws.LayerOutput[l].AsSpan(0, rows * ldy);
        var h = ws.H.AsSpan(b0 * P, nb * P);
        var c = IsLstm ? ws.C.AsSpan(b0 * H, nb * H) : default;
        var tmp = ws.Tmp.AsSpan(b0 * w, nb * w);
        ReadOnlySpan<T> bias = cell.BIh is null ? default : ws.Bias.AsSpan(0, G);

        for (int step = 0; step < steps; step++)
        {
            int t = d == 0 ? step : steps - 1 - step;
            int o = t * batch + b0;                               // row of sequence b0 at step t
            int oc = keep ? o : b0;                               // its row in the tanh(c), m and gh caches
            var at = a.Slice(o * G, nb * G);
            if (keep) h.CopyTo(hPrevAll.Slice(o * P, nb * P));
            switch (Kind)
            {
                case RecurrentCellKind.RnnTanh:
                case RecurrentCellKind.RnnRelu:
                    Gemm.Multiply(false, false, nb, H, H, T.One, h, wHhT, T.One, at);
                    if (!bias.IsEmpty) AddToRows(at, bias);
                    if (Kind == RecurrentCellKind.RnnTanh) VectorMath.Tanh<T>(at, at);
                    else TensorPrimitives.Max(at, T.Zero, at);
                    for (int j = 0; j < nb; j++)
                        if (t < lengths[j]) at.Slice(j * H, H).CopyTo(h.Slice(j * H, H));
                    break;

                case RecurrentCellKind.Lstm:
                {
                    Gemm.Multiply(false, false, nb, G, P, T.One, h, wHhT, T.One, at);
                    var tanhC = ws.TanhC[s].AsSpan(oc * H, nb * H);
                    var m = ws.M[s].AsSpan(oc * H, nb * H);
                    if (keep) c.CopyTo(ws.CPrev[s].AsSpan(o * H, nb * H));
                    for (int j = 0; j < nb; j++)
                    {
                        var g = at.Slice(j * G, G);
                        var mb = m.Slice(j * H, H);
                        if (t >= lengths[j]) { mb.Clear(); continue; }   // padding: state frozen, contributes nothing
                        if (!bias.IsEmpty) TensorPrimitives.Add(g, bias, g);
                        VectorMath.Sigmoid<T>(g[..(2 * H)], g[..(2 * H)]);          // i, f
                        VectorMath.Tanh<T>(g.Slice(2 * H, H), g.Slice(2 * H, H));    // g
                        VectorMath.Sigmoid<T>(g.Slice(3 * H, H), g.Slice(3 * H, H)); // o
                        var cb = c.Slice(j * H, H);
                        var tb = tanhC.Slice(j * H, H);
                        // c = f ⊙ c + i ⊙ g ; m = o ⊙ tanh(c)
                        TensorPrimitives.Multiply(g.Slice(H, H), cb, cb);
                        TensorPrimitives.MultiplyAdd(g[..H], g.Slice(2 * H, H), cb, cb);
                        VectorMath.Tanh<T>(cb, tb);
                        TensorPrimitives.Multiply(g.Slice(3 * H, H), tb, mb);
                        if (cell.WHr is null) mb.CopyTo(h.Slice(j * P, P));
                    }
                    if (cell.WHr is not null)
                    {
                        // Projection h = m·W_hrᵀ, written only for sequences still running.
                        var hp = tmp[..(nb * P)];
                        Gemm.Multiply(false, false, nb, P, H, T.One, m, wHrT, T.Zero, hp);
                        for (int j = 0; j < nb; j++)
                            if (t < lengths[j]) hp.Slice(j * P, P).CopyTo(h.Slice(j * P, P));
                    }
                    break;
                }

                case RecurrentCellKind.Gru:
                {
                    var gh = ws.Gh[s].AsSpan(oc * G, nb * G);
                    T betaH = T.Zero;
                    if (cell.BHh is not null)
                    {
                        for (int j = 0; j < nb; j++) cell.BHh.Data.CopyTo(gh.Slice(j * G, G));
                        betaH = T.One;
                    }
                    Gemm.Multiply(false, false, nb, G, H, T.One, h, wHhT, betaH, gh);
                    for (int j = 0; j < nb; j++)
                    {
                        if (t >= lengths[j]) continue;
                        var g = at.Slice(j * G, G);
                        var ghb = gh.Slice(j * G, G);
                        var hb = h.Slice(j * H, H);
                        if (!bias.IsEmpty) TensorPrimitives.Add(g, bias, g);
                        // r, z = σ(gx + gh); n = tanh(gx_n + r ⊙ gh_n); h = n + z ⊙ (h − n)
                        TensorPrimitives.Add(g[..(2 * H)], ghb[..(2 * H)], g[..(2 * H)]);
                        VectorMath.Sigmoid<T>(g[..(2 * H)], g[..(2 * H)]);
                        var n = g.Slice(2 * H, H);
                        TensorPrimitives.MultiplyAdd(g[..H], ghb.Slice(2 * H, H), n, n);
                        VectorMath.Tanh<T>(n, n);
                        var diff = tmp.Slice(j * w, H);
                        TensorPrimitives.Subtract(hb, n, diff);
                        TensorPrimitives.MultiplyAdd(g.Slice(H, H), diff, n, hb);
                    }
                    break;
                }
            }
            // Output: the new state for running sequences, zero past each sequence's length.
            for (int j = 0; j < nb; j++)
            {
                var yb = y.Slice((o + j) * ldy + d * P, P);
                if (t < lengths[j]) h.Slice(j * P, P).CopyTo(yb); else yb.Clear();
            }
        }
    }

    /// <summary>Fewest sequences one thread takes when a time loop is split across threads (one 8-row GEMM tile).</summary>
    private const int MinSequencesPerThread = 8;

    /// <summary>Time loops whose recurrence products add up to fewer multiply-adds than this (T·B·G·P) run on the calling thread.</summary>
    private const long ParallelMinMacs = 1L << 22;

    /// <summary>
    /// Runs one layer·direction's time loop (forward when <paramref name="dY"/> is null, else backward). The
    /// per-step products are small (m = batch), and handing each one to two threads would cost a fork and a
    /// join per step; instead the batch is split: each thread walks every timestep for its own sequences,
    /// so there is one hand-over per loop. Each sequence sees the same operations however it is split.
    /// </summary>
    private void RunTimeLoop(Workspace ws, int l, int d, T[]? dY, bool recordNorms)
    {
        int parts = Math.Min(Parallelism.NumThreads, ws.Batch / MinSequencesPerThread);
        long macs = (long)ws.Steps * ws.Batch * GatesH * StateSize;
        if (parts > 1 && macs >= ParallelMinMacs && Parallelism.TryEnterParallel())
        {
            try
            {
                _timeLoop.Set(ws, l, d, dY, recordNorms, parts);
                Parallelism.RunParallel(_timeLoop, parts, parts);
            }
            finally
            {
                _timeLoop.Set(null, 0, 0, null, false, 0);   // drop the references to the buffers
                Parallelism.ExitParallel();
            }
            return;
        }
        if (dY is null) ForwardSteps(ws, l, d, 0, ws.Batch);
        else BackwardSteps(ws, l, d, dY, recordNorms, 0, ws.Batch);
    }

    /// <summary>One time loop split by sequences: part p of n runs sequences [B·p/n, B·(p+1)/n).</summary>
    private sealed class TimeLoopJob(RecurrentEngine<T> engine) : ParallelJob
    {
        private Workspace? _ws;
        private T[]? _dY;
        private int _layer, _direction, _parts;
        private bool _recordNorms;

        public void Set(Workspace? ws, int layer, int direction, T[]? dY, bool recordNorms, int parts) =>
            (_ws, _layer, _direction, _dY, _recordNorms, _parts) = (ws, layer, direction, dY, recordNorms, parts);

        public override void Execute(int part)
        {
            int b0 = _ws!.Batch * part / _parts, b1 = _ws.Batch * (part + 1) / _parts;
            if (_dY is null) engine.ForwardSteps(_ws, _layer, _direction, b0, b1);
            else engine.BackwardSteps(_ws, _layer, _direction, _dY, _recordNorms, b0, b1);
        }
    }

    // ───────────────────────────────── backward ────────────────────────────────

    public (Tensor<T> DInput, Tensor<T> DH0, Tensor<T>? DC0) Backward(Tensor<T> dOutput, Tensor<T>? dHN, Tensor<T>? dCN)
    {
        if (!_hasForward) throw new InvalidOperationException("Backward called before Forward.");
        var ws = _train;
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch, L = NumLayers, D = Directions, P = StateSize, H = HiddenSize;
        bool unbatched = ws.Unbatched, swap = BatchFirst && !unbatched;
        Span<nint> shape = stackalloc nint[3];
        Guard.Shape(dOutput, SequenceShape(unbatched, steps, batch, D * P, shape), nameof(dOutput));
        if (dHN is not null) Guard.Shape(dHN, StateShape(unbatched, batch, P, shape), nameof(dHN));
        if (dCN is not null)
        {
            if (!IsLstm) throw new ArgumentException("dCN is only for LSTM.", nameof(dCN));
            Guard.Shape(dCN, StateShape(unbatched, batch, H, shape), nameof(dCN));
        }

        // ∂L/∂Y of the top layer, time-major.
        var dTop = Buf(ref _dTop, rows * D * P);
        if (swap) SwapTimeBatch(dOutput.AsReadOnlySpan(), dTop, batch, steps, D * P);
        else dOutput.AsReadOnlySpan().CopyTo(dTop);

        if (_norms.Length < steps) _norms = new double[steps];
        _normCount = steps;
        EnsureLayers(ref _dX, L);
        var dH0Tensor = _dH0.Get(StateShape(unbatched, batch, P, shape));
        var dC0Tensor = IsLstm ? _dC0.Get(StateShape(unbatched, batch, H, shape)) : null;
        var dH0 = dH0Tensor.AsSpan();
        var dC0 = dC0Tensor is null ? default : dC0Tensor.AsSpan();
        T[] dY = _dTop;
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
            dY = _dX[l];
        }

        var dIn = dY.AsSpan(0, rows * InputSize);
        var dInput = _dInput.Get(SequenceShape(unbatched, steps, batch, InputSize, shape));
        if (swap) SwapTimeBatch(dIn, dInput.AsSpan(), steps, batch, InputSize);
        else dIn.CopyTo(dInput.AsSpan());
        return (dInput, dH0Tensor, dC0Tensor);
    }

    /// <summary>
    /// BPTT for one layer and direction: the loop backwards over time carrying dh (and dc) (<see cref="BackwardSteps"/>),
    /// then the weight gradients and dX as single GEMMs over all timesteps.
    /// </summary>
    private void BackwardDirection(Workspace ws, int l, int d, T[] dY, ReadOnlySpan<T> dhInit, ReadOnlySpan<T> dcInit,
        Span<T> dX, bool accumulate, bool recordNorms, Span<T> dh0, Span<T> dc0)
    {
        var cell = _cells[l * Directions + d];
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch;
        int H = HiddenSize, P = StateSize, G = GatesH, s = l * Directions + d;
        bool gru = Kind == RecurrentCellKind.Gru;
        var hPrevAll = ws.HPrev[s].AsSpan(0, rows * P);
        var dA = Buf(ref _dA, rows * G);                      // ∂L/∂(pre-activation), input side
        var dAh = gru ? Buf(ref _dAh, rows * G) : dA;         // hidden side (differs only for the GRU's n gate)
        var dHs = Buf(ref _dHs, rows * P);                    // total ∂L/∂h_t for every t
        var dh = Buf(ref _dh, batch * P);                     // the carry: ∂L/∂h from later steps
        if (dhInit.IsEmpty) dh.Clear(); else dhInit.CopyTo(dh);
        var dc = IsLstm ? Buf(ref _dc, batch * H) : default;
        if (IsLstm) { if (dcInit.IsEmpty) dc.Clear(); else dcInit.CopyTo(dc); }
        if (IsLstm && cell.WHr is not null) Buf(ref _dm, batch * H);
        var seqBias = Buf(ref _seqBias, batch * 2 * G);
        var seqNorms = Buf(ref _seqNorms, steps * batch);

        RunTimeLoop(ws, l, d, dY, recordNorms);
        dh.CopyTo(dh0);
        if (IsLstm) dc.CopyTo(dc0);
        // The loop summed per sequence (so the result does not depend on how the batch was split across
        // threads); add the sequences up in order: ‖dh_t‖² per step, and the bias gradients Σ dA and Σ dA_h.
        if (recordNorms)
            for (int t = 0; t < steps; t++)
            {
                double sum = 0;
                for (int b = 0; b < batch; b++) sum += seqNorms[t * batch + b];
                _norms[t] = Math.Sqrt(sum);
            }
        for (int b = 0; b < batch; b++)
        {
            if (cell.BIh is { RequiresGrad: true }) TensorPrimitives.Add(cell.BIh.Grad, seqBias.Slice(b * 2 * G, G), cell.BIh.Grad);
            if (cell.BHh is { RequiresGrad: true }) TensorPrimitives.Add(cell.BHh.Grad, seqBias.Slice(b * 2 * G + (gru ? G : 0), G), cell.BHh.Grad);
        }

        // Weight gradients, one GEMM each over all T·B rows.
        var x = ws.LayerInput[l].AsSpan(0, rows * cell.InSize);
        var gIh = cell.WIh.Grad.AsSpan();
        var gHh = cell.WHh.Grad.AsSpan();
        if (!gru && cell.WIh.RequiresGrad && cell.WHh.RequiresGrad)
        {
            // RNN/LSTM: both products share dA, so they are one GEMM: [dW_ih | dW_hh] += dAᵀ·[X | H_prev]
            // (dA is packed once instead of twice, and the product is larger).
            int inSize = cell.InSize, width = inSize + P;
            var xh = Buf(ref _xh, rows * width);
            for (int r = 0; r < rows; r++)
            {
                x.Slice(r * inSize, inSize).CopyTo(xh.Slice(r * width, inSize));
                hPrevAll.Slice(r * P, P).CopyTo(xh.Slice(r * width + inSize, P));
            }
            var dW = WeightGradient(dA, xh, rows, width);
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
            if (cell.WIh.RequiresGrad) TensorPrimitives.Add(gIh, WeightGradient(dA, x, rows, cell.InSize), gIh);
            if (cell.WHh.RequiresGrad) TensorPrimitives.Add(gHh, WeightGradient(dAh, hPrevAll, rows, P), gHh);
        }
        if (cell.WHr is { RequiresGrad: true })
            Gemm.Multiply(true, false, P, H, rows, T.One, dHs, ws.M[s].AsSpan(0, rows * H), T.One, cell.WHr.Grad.AsSpan());
        // dX = dA·W_ih (the second direction adds to the first's).
        Gemm.Multiply(false, false, rows, cell.InSize, G, T.One, dA, cell.WIh.Data, accumulate ? T.One : T.Zero, dX);
    }

    /// <summary>
    /// The loop backwards over time for sequences b0 ≤ b &lt; b1 (see <see cref="RunTimeLoop"/>): writes dA and dH for
    /// their rows, sums each sequence's dA (its bias gradients) and ‖dh_t‖², and leaves ∂L/∂h0 (∂L/∂c0) in the carry.
    /// </summary>
    private void BackwardSteps(Workspace ws, int l, int d, T[] dYAll, bool recordNorms, int b0, int b1)
    {
        var cell = _cells[l * Directions + d];
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch, nb = b1 - b0;
        int H = HiddenSize, P = StateSize, G = GatesH, ldy = Directions * P, s = l * Directions + d;
        bool gru = Kind == RecurrentCellKind.Gru;
        var lengths = ws.Lengths.AsSpan(b0, nb);                 // lengths[j] is sequence b0 + j's
        var dY = dYAll.AsSpan(0, rows * ldy);
        var gates = ws.Gates[s].AsSpan(0, rows * G);
        var hPrevAll = ws.HPrev[s].AsSpan(0, rows * P);
        var dA = _dA.AsSpan(0, rows * G);
        var dAh = gru ? _dAh.AsSpan(0, rows * G) : dA;
        var dHs = _dHs.AsSpan(0, rows * P);
        var dh = _dh.AsSpan(b0 * P, nb * P);
        var dc = IsLstm ? _dc.AsSpan(b0 * H, nb * H) : default;
        var dm = IsLstm && cell.WHr is not null ? _dm.AsSpan(b0 * H, nb * H) : default;
        var seqNorms = _seqNorms.AsSpan(0, steps * batch);       // ‖dh_t[b]‖² at [t·B + b]
        var seqBias = _seqBias.AsSpan(b0 * 2 * G, nb * 2 * G);   // per sequence: Σ_t dA_t[b] then Σ_t dA_h,t[b]
        seqBias.Clear();

        for (int step = steps - 1; step >= 0; step--)
        {
            int t = d == 0 ? step : steps - 1 - step;
            int o = t * batch + b0;                               // row of sequence b0 at step t
            var dht = dHs.Slice(o * P, nb * P);
            var dat = dA.Slice(o * G, nb * G);
            var daht = dAh.Slice(o * G, nb * G);
            var gt = gates.Slice(o * G, nb * G);

            // dh_t = dh_carry + dY_t (the output at a padded position is a constant zero: no gradient).
            for (int j = 0; j < nb; j++)
            {
                var row = dht.Slice(j * P, P);
                dh.Slice(j * P, P).CopyTo(row);
                if (t < lengths[j]) TensorPrimitives.Add(row, dY.Slice((o + j) * ldy + d * P, P), row);
            }
            if (recordNorms)
                for (int j = 0; j < nb; j++) seqNorms[o + j] = double.CreateTruncating(TensorPrimitives.SumOfSquares<T>(dht.Slice(j * P, P)));

            switch (Kind)
            {
                case RecurrentCellKind.RnnTanh:
                case RecurrentCellKind.RnnRelu:
                    for (int j = 0; j < nb; j++)
                    {
                        var da = dat.Slice(j * H, H);
                        if (t >= lengths[j]) { da.Clear(); continue; }
                        RnnBackwardRow(gt.Slice(j * H, H), dht.Slice(j * H, H), da, Kind == RecurrentCellKind.RnnTanh);
                    }
                    break;

                case RecurrentCellKind.Lstm:
                {
                    var cPrev = ws.CPrev[s].AsSpan(o * H, nb * H);
                    var tanhC = ws.TanhC[s].AsSpan(o * H, nb * H);
                    // Through the projection h = W_hr·m: dm = dh·W_hr (padded rows of m are zero, so dW_hr is unaffected).
                    ReadOnlySpan<T> dmt = dht;
                    if (cell.WHr is not null)
                    {
                        Gemm.Multiply(false, false, nb, H, P, T.One, dht, cell.WHr.Data, T.Zero, dm);
                        dmt = dm;
                    }
                    for (int j = 0; j < nb; j++)
                    {
                        var da = dat.Slice(j * G, G);
                        if (t >= lengths[j]) { da.Clear(); continue; }                    // dc passes through unchanged
                        int k0 = j * H;
                        LstmBackwardRow(gt.Slice(j * G, G), tanhC.Slice(k0, H), cPrev.Slice(k0, H), dmt.Slice(k0, H), dc.Slice(k0, H), da, H);
                    }
                    break;
                }

                case RecurrentCellKind.Gru:
                {
                    var gh = ws.Gh[s].AsSpan(o * G, nb * G);
                    var hPrev = hPrevAll.Slice(o * P, nb * P);
                    for (int j = 0; j < nb; j++)
                    {
                        var dax = dat.Slice(j * G, G);
                        var dah = daht.Slice(j * G, G);
                        if (t >= lengths[j]) { dax.Clear(); dah.Clear(); continue; }
                        GruBackwardRow(gt.Slice(j * G, G), gh.Slice(j * G, G), hPrev.Slice(j * H, H), dht.Slice(j * H, H), dax, dah, H);
                    }
                    break;
                }
            }

            for (int j = 0; j < nb; j++)
            {
                var sb = seqBias.Slice(j * 2 * G, 2 * G);
                TensorPrimitives.Add(sb[..G], dat.Slice(j * G, G), sb[..G]);
                if (gru) TensorPrimitives.Add(sb[G..], daht.Slice(j * G, G), sb[G..]);
            }

            // Carry to step t−1: dh = dA_t·W_hh (+ the GRU's direct path z ⊙ dh); padded rows pass dh through.
            T beta = T.Zero;
            if (gru)
            {
                for (int j = 0; j < nb; j++)
                {
                    var dhb = dh.Slice(j * P, P);
                    if (t < lengths[j]) TensorPrimitives.Multiply(dht.Slice(j * P, P), gt.Slice(j * G + H, H), dhb);
                    else dht.Slice(j * P, P).CopyTo(dhb);
                }
                beta = T.One;
            }
            // This product, applied once per step, is where gradients vanish or explode: dh is multiplied
            // by diag(act')·W_hh at every step back (see the header and HiddenGradientNorms).
            Gemm.Multiply(false, false, nb, P, G, T.One, daht, cell.WHh.Data, beta, dh);
            if (!gru)
                for (int j = 0; j < nb; j++)
                    if (t >= lengths[j]) dht.Slice(j * P, P).CopyTo(dh.Slice(j * P, P));
        }
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

    /// <summary>Adds <paramref name="v"/> to every row of <paramref name="m"/> (rows of v.Length).</summary>
    private static void AddToRows(Span<T> m, ReadOnlySpan<T> v)
    {
        for (int r = 0; r < m.Length; r += v.Length) TensorPrimitives.Add(m.Slice(r, v.Length), v, m.Slice(r, v.Length));
    }

    /// <summary>
    /// dW = dAᵀ·X [G × n] over all <paramref name="rows"/> rows (X [rows × n]), computed as (Xᵀ·dA)ᵀ: with X's n columns as
    /// the product's rows it ran 10% faster than dAᵀ·X (LSTM, float: m = 384, n = 1024, k = 2048 against m = 1024, n = 384).
    /// </summary>
    private Span<T> WeightGradient(ReadOnlySpan<T> dA, ReadOnlySpan<T> x, int rows, int n)
    {
        int G = GatesH;
        var dWt = Buf(ref _dWt, n * G);
        Gemm.Multiply(true, false, n, G, rows, T.One, x, dA, T.Zero, dWt);
        var dW = Buf(ref _dW, G * n);
        Gemm.Transpose<T>(dWt, n, G, dW);
        return dW;
    }
}
