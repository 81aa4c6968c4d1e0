// The loop over time of one layer and direction, forward and backward (BPTT), for any cell kind:
// the step equations come from TStep (RnnStep.cs, LstmStep.cs, GruStep.cs), resolved at compile time.
// Notation as in RecurrentEngine.cs; ReferenceBptt.cs is the same computation written plainly.
//
// FORWARD (ForwardDirection, then ForwardSteps):
//   A   = X·W_ihᵀ                         all T·B rows in ONE large GEMM              [T·B, G]
//   h = h0, c = c0; for each step t in the direction's order:
//       A_t += h·W_hhᵀ                    one small GEMM per step (GRU: gh_t = h·W_hhᵀ + b_hh apart) [B, G]
//       per sequence b with t < len_b:   A_t[b] += bias;  TStep.Forward: gates, new h (and c)
//       LSTM with projection:             h = m_t·W_hrᵀ                                      [B, P]
//       Y_t[b] = h[b] if t < len_b, else 0 (the state of a finished sequence stays frozen)
//   The reverse direction visits t ≥ len_b first, so its state stays h0 until it reaches the
//   sequence's own last element: it "starts at each sequence's own end".
//
// BACKWARD (BackwardDirection, then BackwardSteps): walk the steps in the opposite order, carrying
// dh (and dc for the LSTM) from step t+1 to step t:
//   dh_t = dY_t + dh                      the total gradient reaching h_t: from the output at t and
//                                         from every later step through h_{t+1}
//   LSTM with projection:                 dm_t = dh_t·W_hr
//   per sequence b with t < len_b:        TStep.Backward: dA_t[b] (and dc), the direct part of dh
//   dh = direct + dA_h,t·W_hh             one small GEMM per step                   [B, P]
//   a padded position (t ≥ len_b) passes dh and dc through unchanged and has dA = 0.
// The weight gradients follow, once for all steps (RecurrentWeightGradients.cs).
//
// THREADS: sequences never interact, so both time loops split the batch across threads, each
// thread walking every step for its own sequences (one hand-over per loop instead of a fork and a
// join inside every small per-step GEMM). The large GEMMs split themselves. Every sum over
// sequences is taken in the same order whatever the split, so results do not depend on the
// number of threads.
namespace NeuralPrimitives;

/// <summary>The recurrent engine for one cell kind: its time loops, generic over the kind's step equations.</summary>
internal sealed class RecurrentEngine<T, TStep> : RecurrentEngine<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T> where TStep : IRecurrentStep<T>
{
    private readonly TimeLoopJob _timeLoop;

    public RecurrentEngine(string layerName, int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst,
        double dropout, bool bidirectional, int projSize, Rng? rng)
        : base(layerName, TStep.GatesPerUnit, TStep.HasCellState, TStep.HiddenGatesApart,
            inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, projSize, rng)
    {
        _timeLoop = new TimeLoopJob(this);
    }

    // ───────────────────────────────── forward ─────────────────────────────────

    private protected override void ForwardDirection(RecurrentWorkspace<T> ws, int l, int d, ReadOnlySpan<T> hInit, ReadOnlySpan<T> cInit, Span<T> hOut, Span<T> cOut)
    {
        var cell = Cells[l * Directions + d];
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch;
        int H = HiddenSize, P = StateSize, G = GatesH, s = l * Directions + d;
        var x = ws.LayerInput[l].AsSpan(0, rows * cell.InSize);
        var a = RecurrentWorkspace<T>.Buf(ref ws.Gates[s], rows * G);
        Gemm.Transpose<T>(cell.WHh.Data, G, P, RecurrentWorkspace<T>.Buf(ref ws.WHhT[s], P * G));
        if (cell.WHr is not null) Gemm.Transpose<T>(cell.WHr.Data, P, H, RecurrentWorkspace<T>.Buf(ref ws.WHrT[s], H * P));
        // Everything the time loop writes is sized here, before the loop may run on several threads.
        int cached = ws.KeepCaches ? rows : batch;            // rows of tanh(c), m and gh: every step's, or one step's
        if (ws.KeepCaches) RecurrentWorkspace<T>.Buf(ref ws.HPrev[s], rows * P);
        if (TStep.HasCellState)
        {
            if (ws.KeepCaches) RecurrentWorkspace<T>.Buf(ref ws.CPrev[s], rows * H);
            RecurrentWorkspace<T>.Buf(ref ws.TanhC[s], cached * H);
            if (cell.WHr is not null) RecurrentWorkspace<T>.Buf(ref ws.M[s], cached * H);
        }
        if (TStep.HiddenGatesApart) RecurrentWorkspace<T>.Buf(ref ws.Gh[s], cached * G);
        RecurrentWorkspace<T>.Buf(ref ws.Tmp, batch * P);

        // 1. Input projection of every timestep at once: A = X·W_ihᵀ. The biases are added step by step
        //    (ForwardSteps), to rows that are then in cache, instead of in a pass over all of A here.
        Gemm.Multiply(transposeA: false, transposeB: true, rows, G, cell.InSize, T.One, x, cell.WIh.Data, T.Zero, a);
        if (cell.BIh is not null)
        {
            // b_ih + b_hh, or for the GRU b_ih alone (b_hh goes into gh: b_hn must stay inside r ⊙ (W_hn h + b_hn)).
            var bias = RecurrentWorkspace<T>.Buf(ref ws.Bias, G);
            if (TStep.HiddenGatesApart) cell.BIh.Data.CopyTo(bias);
            else TensorPrimitives.Add(cell.BIh.Data, cell.BHh!.Data, bias);
        }

        // 2. The recurrence (ForwardSteps), from the initial state.
        var h = RecurrentWorkspace<T>.Buf(ref ws.H, batch * P);
        if (hInit.IsEmpty) h.Clear(); else hInit.CopyTo(h);
        var c = TStep.HasCellState ? RecurrentWorkspace<T>.Buf(ref ws.C, batch * H) : default;
        if (TStep.HasCellState) { if (cInit.IsEmpty) c.Clear(); else cInit.CopyTo(c); }
        RunTimeLoop(ws, l, d, TimeLoopPass.Forward, dY: null, recordNorms: false);
        h.CopyTo(hOut);
        if (TStep.HasCellState) c.CopyTo(cOut);
    }

    /// <summary>
    /// The forward recurrence for sequences b0 ≤ b &lt; b1 of the batch, every step in this direction's order.
    /// Sequences never interact, so disjoint ranges can run on different threads (see <see cref="RunTimeLoop"/>).
    /// </summary>
    private void ForwardSteps(RecurrentWorkspace<T> ws, int l, int d, int b0, int b1)
    {
        var cell = Cells[l * Directions + d];
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch, nb = b1 - b0;
        int H = HiddenSize, P = StateSize, G = GatesH, ldy = Directions * P, s = l * Directions + d;
        bool projection = cell.WHr is not null, keep = ws.KeepCaches;
        var lengths = ws.Lengths.AsSpan(b0, nb);                 // lengths[j] is sequence b0 + j's
        var a = ws.Gates[s].AsSpan(0, rows * G);
        var wHhT = ws.WHhT[s].AsSpan(0, P * G);
        var hPrevAll = keep ? ws.HPrev[s].AsSpan(0, rows * P) : default;
        var y = ws.LayerOutput[l].AsSpan(0, rows * ldy);
        var h = ws.H.AsSpan(b0 * P, nb * P);
        var c = TStep.HasCellState ? ws.C.AsSpan(b0 * H, nb * H) : default;
        ReadOnlySpan<T> bias = cell.BIh is null ? default : ws.Bias.AsSpan(0, G);

        for (int step = 0; step < steps; step++)
        {
            int t = d == 0 ? step : steps - 1 - step;
            int o = t * batch + b0;                               // row of sequence b0 at step t
            int oc = keep ? o : b0;                               // its row in the tanh(c), m and gh caches
            var at = a.Slice(o * G, nb * G);
            if (keep) h.CopyTo(hPrevAll.Slice(o * P, nb * P));
            if (TStep.HasCellState && keep) c.CopyTo(ws.CPrev[s].AsSpan(o * H, nb * H));
            var tanhC = TStep.HasCellState ? ws.TanhC[s].AsSpan(oc * H, nb * H) : default;
            var m = projection ? ws.M[s].AsSpan(oc * H, nb * H) : default;
            var gh = TStep.HiddenGatesApart ? ws.Gh[s].AsSpan(oc * G, nb * G) : default;

            // The hidden product: A_t += h·W_hhᵀ, or apart, gh_t = h·W_hhᵀ + b_hh.
            if (TStep.HiddenGatesApart)
            {
                if (cell.BHh is not null) for (int j = 0; j < nb; j++) cell.BHh.Data.CopyTo(gh.Slice(j * G, G));
                Gemm.Multiply(transposeA: false, transposeB: false, nb, G, P, T.One, h, wHhT, cell.BHh is null ? T.Zero : T.One, gh);
            }
            else Gemm.Multiply(transposeA: false, transposeB: false, nb, G, P, T.One, h, wHhT, T.One, at);

            for (int j = 0; j < nb; j++)
            {
                if (t >= lengths[j])
                {
                    if (projection) m.Slice(j * H, H).Clear();    // padding: state frozen; m = 0 adds nothing to dW_hr
                    continue;
                }
                var gates = at.Slice(j * G, G);
                if (!bias.IsEmpty) TensorPrimitives.Add(gates, bias, gates);
                TStep.Forward(new ForwardRow<T>
                {
                    Gates = gates,
                    HiddenGates = TStep.HiddenGatesApart ? gh.Slice(j * G, G) : default,
                    H = projection ? m.Slice(j * H, H) : h.Slice(j * P, P),
                    C = TStep.HasCellState ? c.Slice(j * H, H) : default,
                    TanhC = TStep.HasCellState ? tanhC.Slice(j * H, H) : default,
                });
            }
            if (projection)
            {
                // h_t = m_t·W_hrᵀ, written only for sequences still running.
                var hp = ws.Tmp.AsSpan(b0 * P, nb * P);
                Gemm.Multiply(transposeA: false, transposeB: false, nb, P, H, T.One, m, ws.WHrT[s].AsSpan(0, H * P), T.Zero, hp);
                for (int j = 0; j < nb; j++)
                    if (t < lengths[j]) hp.Slice(j * P, P).CopyTo(h.Slice(j * P, P));
            }
            // Output: the new state for running sequences, zero past each sequence's length.
            for (int j = 0; j < nb; j++)
            {
                var yb = y.Slice((o + j) * ldy + d * P, P);
                if (t < lengths[j]) h.Slice(j * P, P).CopyTo(yb); else yb.Clear();
            }
        }
    }

    // ───────────────────────────────── backward ────────────────────────────────

    private protected override void BackwardDirection(RecurrentWorkspace<T> ws, int l, int d, T[] dY, ReadOnlySpan<T> dhInit, ReadOnlySpan<T> dcInit,
        bool recordNorms, Span<T> dh0, Span<T> dc0)
    {
        var cell = Cells[l * Directions + d];
        var g = GradWorkspace;
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch, H = HiddenSize, P = StateSize, G = GatesH;
        // Everything the time loop writes is sized here, before the loop may run on several threads.
        RecurrentWorkspace<T>.Buf(ref g.DA, rows * G);                               // ∂L/∂(pre-activation), input side
        if (TStep.HiddenGatesApart) RecurrentWorkspace<T>.Buf(ref g.DAh, rows * G);  // hidden side (the GRU's differs in n)
        RecurrentWorkspace<T>.Buf(ref g.DHs, rows * P);                              // total ∂L/∂h_t for every t
        var dh = RecurrentWorkspace<T>.Buf(ref g.DH, batch * P);                     // the carry: ∂L/∂h from later steps
        if (dhInit.IsEmpty) dh.Clear(); else dhInit.CopyTo(dh);
        var dc = TStep.HasCellState ? RecurrentWorkspace<T>.Buf(ref g.DC, batch * H) : default;
        if (TStep.HasCellState) { if (dcInit.IsEmpty) dc.Clear(); else dcInit.CopyTo(dc); }
        if (cell.WHr is not null) RecurrentWorkspace<T>.Buf(ref g.Dm, batch * H);
        RecurrentWorkspace<T>.Buf(ref g.SeqBias, batch * 2 * G);
        var seqNorms = RecurrentWorkspace<T>.Buf(ref g.SeqNorms, steps * batch);

        RunTimeLoop(ws, l, d, TimeLoopPass.Backward, dY, recordNorms);
        dh.CopyTo(dh0);
        if (TStep.HasCellState) dc.CopyTo(dc0);
        // The loop summed ‖dh_t[b]‖² per sequence (so the result does not depend on how the batch was
        // split across threads); add the sequences up in order.
        if (recordNorms)
            for (int t = 0; t < steps; t++)
            {
                double sum = 0;
                for (int b = 0; b < batch; b++) sum += seqNorms[t * batch + b];
                g.Norms[t] = Math.Sqrt(sum);
            }
    }

    /// <summary>
    /// The loop backwards over time for sequences b0 ≤ b &lt; b1 (see <see cref="RunTimeLoop"/>): writes dA and dH for
    /// their rows, sums each sequence's dA (its bias gradients) and ‖dh_t‖², and leaves ∂L/∂h0 (∂L/∂c0) in the carry.
    /// </summary>
    private void BackwardSteps(RecurrentWorkspace<T> ws, int l, int d, T[] dYAll, bool recordNorms, int b0, int b1)
    {
        var cell = Cells[l * Directions + d];
        var g = GradWorkspace;
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch, nb = b1 - b0;
        int H = HiddenSize, P = StateSize, G = GatesH, ldy = Directions * P, s = l * Directions + d;
        bool projection = cell.WHr is not null;
        var lengths = ws.Lengths.AsSpan(b0, nb);                 // lengths[j] is sequence b0 + j's
        var dY = dYAll.AsSpan(0, rows * ldy);
        var gates = ws.Gates[s].AsSpan(0, rows * G);
        var hPrevAll = ws.HPrev[s].AsSpan(0, rows * P);
        var dA = g.DA.AsSpan(0, rows * G);
        var dAh = TStep.HiddenGatesApart ? g.DAh.AsSpan(0, rows * G) : dA;
        var dHs = g.DHs.AsSpan(0, rows * P);
        var dh = g.DH.AsSpan(b0 * P, nb * P);
        var dc = TStep.HasCellState ? g.DC.AsSpan(b0 * H, nb * H) : default;
        var dm = projection ? g.Dm.AsSpan(b0 * H, nb * H) : default;
        var seqNorms = g.SeqNorms.AsSpan(0, steps * batch);       // ‖dh_t[b]‖² at [t·B + b]
        var seqBias = g.SeqBias.AsSpan(b0 * 2 * G, nb * 2 * G);   // per sequence: Σ_t dA_t[b] then Σ_t dA_h,t[b]
        seqBias.Clear();

        for (int step = steps - 1; step >= 0; step--)
        {
            int t = d == 0 ? step : steps - 1 - step;
            int o = t * batch + b0;                               // row of sequence b0 at step t
            var dht = dHs.Slice(o * P, nb * P);
            var dat = dA.Slice(o * G, nb * G);
            var daht = dAh.Slice(o * G, nb * G);

            // dh_t = dh_carry + dY_t (the output at a padded position is a constant zero: no gradient).
            for (int j = 0; j < nb; j++)
            {
                var row = dht.Slice(j * P, P);
                dh.Slice(j * P, P).CopyTo(row);
                if (t < lengths[j]) TensorPrimitives.Add(row, dY.Slice((o + j) * ldy + d * P, P), row);
            }
            if (recordNorms)
                for (int j = 0; j < nb; j++) seqNorms[o + j] = double.CreateTruncating(TensorPrimitives.SumOfSquares<T>(dht.Slice(j * P, P)));

            // Through the projection h = W_hr·m: dm = dh·W_hr (padded rows of m are zero, so dW_hr is unaffected).
            ReadOnlySpan<T> dOut = dht;
            if (projection)
            {
                Gemm.Multiply(transposeA: false, transposeB: false, nb, H, P, T.One, dht, cell.WHr!.Data, T.Zero, dm);
                dOut = dm;
            }
            for (int j = 0; j < nb; j++)
            {
                var dhNext = dh.Slice(j * P, P);
                if (t >= lengths[j])
                {
                    // Padding: no gradient into this step; dh (and dc) pass through to step t−1 unchanged.
                    dat.Slice(j * G, G).Clear();
                    if (TStep.HiddenGatesApart) daht.Slice(j * G, G).Clear();
                    dht.Slice(j * P, P).CopyTo(dhNext);
                    continue;
                }
                TStep.Backward(new BackwardRow<T>
                {
                    Gates = gates.Slice((o + j) * G, G),
                    HiddenGates = TStep.HiddenGatesApart ? ws.Gh[s].AsSpan((o + j) * G, G) : default,
                    HPrev = hPrevAll.Slice((o + j) * P, P),
                    TanhC = TStep.HasCellState ? ws.TanhC[s].AsSpan((o + j) * H, H) : default,
                    CPrev = TStep.HasCellState ? ws.CPrev[s].AsSpan((o + j) * H, H) : default,
                    DH = dOut.Slice(j * H, H),                       // [H]: P = H unless projected
                    DC = TStep.HasCellState ? dc.Slice(j * H, H) : default,
                    DA = dat.Slice(j * G, G),
                    DAHidden = daht.Slice(j * G, G),
                    DHPrev = dhNext,                                  // the direct path, before the product below
                });
            }

            for (int j = 0; j < nb; j++)
            {
                var sb = seqBias.Slice(j * 2 * G, 2 * G);
                TensorPrimitives.Add(sb[..G], dat.Slice(j * G, G), sb[..G]);
                if (TStep.HiddenGatesApart) TensorPrimitives.Add(sb[G..], daht.Slice(j * G, G), sb[G..]);
            }

            // Carry to step t−1: dh += dA_h,t·W_hh. This product, applied once per step, is where gradients
            // vanish or explode: dh is multiplied by diag(act')·W_hh at every step back (HiddenGradientNorms).
            Gemm.Multiply(transposeA: false, transposeB: false, nb, P, G, T.One, daht, cell.WHh.Data, T.One, dh);
        }
    }

    // ───────────────────────── threads: split the batch ─────────────────────────

    /// <summary>Fewest sequences one thread takes when a time loop is split across threads (one 8-row GEMM tile).</summary>
    private const int MinSequencesPerThread = 8;

    /// <summary>Time loops whose recurrence products add up to fewer multiply-adds than this (T·B·G·P) run on the calling thread.</summary>
    private const long ParallelMinMacs = 1L << 22;

    private enum TimeLoopPass { Forward, Backward }

    /// <summary>
    /// Runs one layer·direction's time loop, <see cref="ForwardSteps"/> or <see cref="BackwardSteps"/>. The per-step
    /// products are small (m = batch), and handing each one to two threads would cost a fork and a join per step;
    /// instead the batch is split: each thread walks every timestep for its own sequences, so there is one
    /// hand-over per loop. Each sequence sees the same operations however it is split.
    /// </summary>
    private void RunTimeLoop(RecurrentWorkspace<T> ws, int l, int d, TimeLoopPass pass, T[]? dY, bool recordNorms)
    {
        int parts = Math.Min(Parallelism.NumThreads, ws.Batch / MinSequencesPerThread);
        long macs = (long)ws.Steps * ws.Batch * GatesH * StateSize;
        if (parts > 1 && macs >= ParallelMinMacs && Parallelism.TryEnterParallel())
        {
            try
            {
                _timeLoop.Set(ws, l, d, pass, dY, recordNorms, parts);
                Parallelism.RunParallel(_timeLoop, parts, parts);
            }
            finally
            {
                _timeLoop.Set(null, 0, 0, pass, null, false, 0);   // drop the references to the buffers
                Parallelism.ExitParallel();
            }
            return;
        }
        RunSteps(ws, l, d, pass, dY, recordNorms, 0, ws.Batch);
    }

    private void RunSteps(RecurrentWorkspace<T> ws, int l, int d, TimeLoopPass pass, T[]? dY, bool recordNorms, int b0, int b1)
    {
        if (pass == TimeLoopPass.Forward) ForwardSteps(ws, l, d, b0, b1);
        else BackwardSteps(ws, l, d, dY!, recordNorms, b0, b1);
    }

    /// <summary>One time loop split by sequences: part p of n runs sequences [B·p/n, B·(p+1)/n).</summary>
    private sealed class TimeLoopJob(RecurrentEngine<T, TStep> engine) : ParallelJob
    {
        private RecurrentWorkspace<T>? _ws;
        private T[]? _dY;
        private int _layer, _direction, _parts;
        private TimeLoopPass _pass;
        private bool _recordNorms;

        public void Set(RecurrentWorkspace<T>? ws, int layer, int direction, TimeLoopPass pass, T[]? dY, bool recordNorms, int parts) =>
            (_ws, _layer, _direction, _pass, _dY, _recordNorms, _parts) = (ws, layer, direction, pass, dY, recordNorms, parts);

        public override void Execute(int part)
        {
            int b0 = _ws!.Batch * part / _parts, b1 = _ws.Batch * (part + 1) / _parts;
            engine.RunSteps(_ws, _layer, _direction, _pass, _dY, _recordNorms, b0, b1);
        }
    }
}
