// RecurrentEngine: the sequence machinery shared by Rnn, Lstm and Gru — layers, directions,
// variable lengths, dropout between layers, and backpropagation through time (BPTT).
// New to BPTT? Read ReferenceBptt.cs first: the same algorithm for one LSTM layer in ~40 lines,
// written with LstmCell. This engine computes exactly the same numbers, organised for speed.
//
// The engine is spread over files a reader can hold:
//   RecurrentEngine.cs          this file: configuration, parameters, argument checks, and the loop over
//                               layers and directions (with the dropout between layers)
//   RecurrentWorkspace.cs       the buffers a forward fills and its backward reads
//   RecurrentTimeLoop.cs        one layer and direction: the loop over time, forward and backward
//   RecurrentWeightGradients.cs the weight gradients of BPTT, once for all timesteps
// The per-step equations of each cell kind are in RnnStep.cs, LstmStep.cs and GruStep.cs.
//
// Notation: T timesteps, B batch, I input features, H hidden size, P = projSize (LSTM) or H,
//   G = gates·H (RNN 1·H, LSTM 4·H, GRU 3·H), D directions, L layers.
//   Layer l reads X_l [T, B, In_l] (In_0 = I, In_l = D·P) and writes Y_l [T, B, D·P].
//   Direction d = 0 walks t = 0 … T−1, direction d = 1 walks t = T−1 … 0.
//
// FORWARD, for l = 0 … L−1: X_l = Y_{l−1} ⊙ mask_l (training with dropout p: mask ∈ {0, 1/(1−p)}),
//   then each direction d runs over time (RecurrentTimeLoop.cs) and writes its half of Y_l.
// BACKWARD, for l = L−1 … 0: each direction runs BPTT and adds its ∂L/∂X_l; then
//   ∂L/∂Y_{l−1} = ∂L/∂X_l ⊙ mask_l.
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
namespace NeuralPrimitives;

/// <summary>Layers, directions, lengths, dropout and BPTT for <see cref="Rnn{T}"/>, <see cref="Lstm{T}"/> and <see cref="Gru{T}"/>.</summary>
/// <remarks>The kind-specific work (the time loops) is in <see cref="RecurrentEngine{T, TStep}"/>.</remarks>
internal abstract partial class RecurrentEngine<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Weights of one layer and direction.</summary>
    private protected sealed class Cell
    {
        public required Parameter<T> WIh, WHh;
        public Parameter<T>? BIh, BHh, WHr;
        public int InSize;
    }

    private protected readonly Cell[] Cells;
    private protected readonly RecurrentWorkspace<T> TrainWorkspace = new();
    private protected readonly RecurrentGradientWorkspace<T> GradWorkspace = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<RecurrentWorkspace<T>> _inferPool = new();

    private protected RecurrentEngine(string layerName, int gatesPerUnit, bool hasCellState, bool hiddenGatesApart,
        int inputSize, int hiddenSize, int numLayers, bool bias, bool batchFirst, double dropout, bool bidirectional, int projSize, Rng? rng)
    {
        Guard.Positive(inputSize);
        Guard.Positive(hiddenSize);
        Guard.Positive(numLayers);
        if (!(dropout >= 0 && dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, $"dropout must be in [0, 1), got {dropout}.");
        Guard.NonNegative(projSize);
        if (projSize >= hiddenSize && projSize > 0)
            throw new ArgumentOutOfRangeException(nameof(projSize), projSize, $"projSize must be smaller than hiddenSize (expected < {hiddenSize}), got {projSize}.");
        LayerName = layerName;
        HasCellState = hasCellState;
        HiddenGatesApart = hiddenGatesApart;
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        NumLayers = numLayers;
        HasBias = bias;
        BatchFirst = batchFirst;
        DropoutProbability = dropout;
        Bidirectional = bidirectional;
        ProjSize = projSize;
        rng ??= Rng.Default;

        // Every weight must fit one array: checked before anything is allocated.
        long gates = (long)gatesPerUnit * hiddenSize;
        string sizes = $"inputSize = {inputSize}, hiddenSize = {hiddenSize}" + (projSize > 0 ? $", projSize = {projSize}" : "");
        CheckWeightSize("weight_ih_l0", gates, inputSize, $"{gatesPerUnit}·hiddenSize × inputSize", sizes, nameof(inputSize));
        CheckWeightSize("weight_hh_l0", gates, StateSize, $"{gatesPerUnit}·hiddenSize × {(projSize > 0 ? "projSize" : "hiddenSize")}", sizes, nameof(hiddenSize));
        if (numLayers > 1)
            CheckWeightSize("weight_ih_l1", gates, (long)Directions * StateSize, $"{gatesPerUnit}·hiddenSize × {Directions}·{(projSize > 0 ? "projSize" : "hiddenSize")}", sizes, nameof(hiddenSize));
        GatesH = (int)gates;

        Cells = new Cell[numLayers * Directions];
        for (int l = 0; l < numLayers; l++)
            for (int d = 0; d < Directions; d++)
            {
                string suffix = $"_l{l}" + (d == 1 ? "_reverse" : "");
                int inSize = l == 0 ? inputSize : Directions * StateSize;
                Cells[l * Directions + d] = new Cell
                {
                    InSize = inSize,
                    WIh = new Parameter<T>("weight_ih" + suffix, GatesH, inSize),
                    WHh = new Parameter<T>("weight_hh" + suffix, GatesH, StateSize),
                    BIh = bias ? new Parameter<T>("bias_ih" + suffix, GatesH) : null,
                    BHh = bias ? new Parameter<T>("bias_hh" + suffix, GatesH) : null,
                    WHr = projSize > 0 ? new Parameter<T>("weight_hr" + suffix, projSize, hiddenSize) : null,
                };
            }
        // PyTorch's order: per layer, per direction: w_ih, w_hh, b_ih, b_hh, w_hr; all ~ U(±1/√H) in that order.
        var list = new List<Parameter<T>>();
        foreach (var c in Cells)
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

    private void CheckWeightSize(string weight, long rows, long cols, string formula, string sizes, string paramName)
    {
        // G·H alone too large: hiddenSize is the culprit, whatever the other factor.
        if (rows > Array.MaxLength || rows * cols > Array.MaxLength)
            throw new ArgumentOutOfRangeException(rows > Array.MaxLength ? "hiddenSize" : paramName,
                $"{LayerName}'s {weight} would be [{rows}, {cols}] ({formula}) = {rows * (double)cols:N0} elements, more than one array can hold " +
                $"(limit {Array.MaxLength:N0}); {sizes}.");
    }

    /// <summary>The layer's type name for messages (<c>Lstm</c>, …).</summary>
    public string LayerName { get; }
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
    public ReadOnlySpan<double> HiddenGradientNorms => GradWorkspace.Norms.AsSpan(0, GradWorkspace.NormCount);

    /// <summary>The LSTM: a cell state c beside h.</summary>
    private protected bool HasCellState { get; }

    /// <summary>The GRU: the hidden product is kept apart from the input side, with its own gradient.</summary>
    private protected bool HiddenGatesApart { get; }

    private protected int Directions => Bidirectional ? 2 : 1;          // D
    private protected int StateSize => ProjSize > 0 ? ProjSize : HiddenSize;   // P
    private protected int GatesH { get; }                               // G

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
        // The widest buffer per (t, b) row: the gates, or [X_l | H_prev] in the weight gradient.
        long width = Math.Max(GatesH, Math.Max(InputSize, Directions * StateSize) + (long)StateSize);
        if ((long)steps * batch * width > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(input),
                $"input {Shapes.Format(input.Lengths)} is too long for this {LayerName}: its T·B = {steps}·{batch} rows of {width} values per layer " +
                $"(gates G = {GatesH}, or input plus state) need {(double)steps * batch * width:N0} elements, more than one array can hold (limit {Array.MaxLength:N0}).");
        Span<nint> shape = stackalloc nint[3];
        if (h0 is not null) Guard.Shape(h0, StateShape(unbatched, batch, StateSize, shape), nameof(h0));
        if (c0 is not null)
        {
            if (!HasCellState) throw new ArgumentException("c0 is only for LSTM.", nameof(c0));
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

    // ─────────────────────── forward: layers and directions ───────────────────────

    /// <summary>The training forward (the caller, a layer module, holds its misuse guard): keeps every step's caches for <see cref="Backward"/>.</summary>
    public (Tensor<T> Output, Tensor<T> HN, Tensor<T>? CN) Forward(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths, bool training)
    {
        var (steps, batch, unbatched) = CheckInput(input, h0, c0, lengths);
        var ws = TrainWorkspace;
        Span<nint> shape = stackalloc nint[3];
        var output = ws.Output.Get(SequenceShape(unbatched, steps, batch, Directions * StateSize, shape));
        var hN = ws.HN.Get(StateShape(unbatched, batch, StateSize, shape));
        var cN = HasCellState ? ws.CN.Get(StateShape(unbatched, batch, HiddenSize, shape)) : null;
        Run(ws, input, h0, c0, lengths, steps, batch, unbatched, training && DropoutProbability > 0, keepCaches: true, output, hN, cN);
        return (output, hN, cN);
    }

    /// <summary>The inference forward: thread-safe, results in new tensors, scratch from a pool.</summary>
    public (Tensor<T> Output, Tensor<T> HN, Tensor<T>? CN) Infer(Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths)
    {
        var (steps, batch, unbatched) = CheckInput(input, h0, c0, lengths);
        // The results are new tensors owned by the caller, written in place; the scratch comes from a pool
        // (one workspace per concurrent caller, so repeated calls do not re-allocate it) and keeps only
        // what one step needs, since no backward pass follows.
        Span<nint> shape = stackalloc nint[3];
        var output = NewTensor(SequenceShape(unbatched, steps, batch, Directions * StateSize, shape));
        var hN = NewTensor(StateShape(unbatched, batch, StateSize, shape));
        var cN = HasCellState ? NewTensor(StateShape(unbatched, batch, HiddenSize, shape)) : null;
        var ws = _inferPool.TryTake(out var pooled) ? pooled : new RecurrentWorkspace<T>();
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
    private void Run(RecurrentWorkspace<T> ws, Tensor<T> input, Tensor<T>? h0, Tensor<T>? c0, int[]? lengths, int steps, int batch,
        bool unbatched, bool dropout, bool keepCaches, Tensor<T> output, Tensor<T> hNTensor, Tensor<T>? cNTensor)
    {
        int L = NumLayers, D = Directions, P = StateSize, H = HiddenSize, rows = steps * batch;
        ws.Prepare(steps, batch, lengths, L, D, unbatched, dropout, keepCaches);
        bool swap = BatchFirst && !unbatched;                 // an unbatched [T, I] is already time-major [T, 1, I]

        // Layer 0's input, time-major [T, B, I].
        var x0 = RecurrentWorkspace<T>.Buf(ref ws.LayerInput[0], rows * InputSize);
        if (swap) SwapTimeBatch(input.AsReadOnlySpan(), x0, batch, steps, InputSize);
        else input.AsReadOnlySpan().CopyTo(x0);

        var hN = hNTensor.AsSpan();
        var cN = cNTensor is null ? default : cNTensor.AsSpan();
        for (int l = 0; l < L; l++)
        {
            RecurrentWorkspace<T>.Buf(ref ws.LayerOutput[l], rows * D * P);
            if (l > 0) DropoutBetweenLayers(ws, l, rows * D * P);
            for (int d = 0; d < D; d++)
            {
                int s = l * D + d;
                ReadOnlySpan<T> hInit = h0 is null ? default : h0.AsReadOnlySpan().Slice(s * batch * P, batch * P);
                ReadOnlySpan<T> cInit = c0 is null ? default : c0.AsReadOnlySpan().Slice(s * batch * H, batch * H);
                ForwardDirection(ws, l, d, hInit, cInit, hN.Slice(s * batch * P, batch * P), HasCellState ? cN.Slice(s * batch * H, batch * H) : default);
            }
        }

        var yTop = ws.LayerOutput[L - 1].AsSpan(0, rows * D * P);
        if (swap) SwapTimeBatch(yTop, output.AsSpan(), steps, batch, D * P);
        else yTop.CopyTo(output.AsSpan());
    }

    /// <summary>Layer l's input: X_l = Y_{l−1} ⊙ mask, mask ∈ {0, 1/(1−p)} (training with dropout), else X_l = Y_{l−1}.</summary>
    private void DropoutBetweenLayers(RecurrentWorkspace<T> ws, int l, int n)
    {
        var prev = ws.LayerOutput[l - 1].AsSpan(0, n);
        var x = RecurrentWorkspace<T>.Buf(ref ws.LayerInput[l], n);
        if (!ws.DropoutActive)
        {
            prev.CopyTo(x);
            return;
        }
        var mask = RecurrentWorkspace<T>.Buf(ref ws.Mask[l], n);
        if (ResampleDropout || !ws.MaskDrawn[l])
        {
            // The kept units are scaled by 1/(1−p), so that E[X_l] = Y_{l−1} and evaluation needs no rescaling.
            T keep = T.One / T.CreateTruncating(1 - DropoutProbability);
            for (int i = 0; i < mask.Length; i++) mask[i] = DropoutRng.NextDouble() < DropoutProbability ? T.Zero : keep;
            ws.MaskDrawn[l] = true;
        }
        TensorPrimitives.Multiply(prev, mask, x);
    }

    /// <summary>[A, Bdim, F] → [Bdim, A, F].</summary>
    private static void SwapTimeBatch(ReadOnlySpan<T> src, Span<T> dst, int outer, int inner, int features)
    {
        for (int a = 0; a < outer; a++)
            for (int b = 0; b < inner; b++)
                src.Slice((a * inner + b) * features, features).CopyTo(dst.Slice((b * outer + a) * features, features));
    }

    /// <summary>One layer and direction forward over time from the initial state; writes its final state.</summary>
    private protected abstract void ForwardDirection(RecurrentWorkspace<T> ws, int l, int d, ReadOnlySpan<T> hInit, ReadOnlySpan<T> cInit, Span<T> hOut, Span<T> cOut);

    // ─────────────────────── backward: layers and directions ──────────────────────

    /// <summary>BPTT for the last <see cref="Forward"/> (the caller holds the misuse guard, so a Forward with caches came first).</summary>
    public (Tensor<T> DInput, Tensor<T> DH0, Tensor<T>? DC0) Backward(Tensor<T> dOutput, Tensor<T>? dHN, Tensor<T>? dCN)
    {
        var ws = TrainWorkspace;
        int steps = ws.Steps, batch = ws.Batch, rows = steps * batch, L = NumLayers, D = Directions, P = StateSize, H = HiddenSize;
        bool unbatched = ws.Unbatched, swap = BatchFirst && !unbatched;
        Span<nint> shape = stackalloc nint[3];
        Guard.Shape(dOutput, SequenceShape(unbatched, steps, batch, D * P, shape), nameof(dOutput));
        if (dHN is not null) Guard.Shape(dHN, StateShape(unbatched, batch, P, shape), nameof(dHN));
        if (dCN is not null)
        {
            if (!HasCellState) throw new ArgumentException("dCN is only for LSTM.", nameof(dCN));
            Guard.Shape(dCN, StateShape(unbatched, batch, H, shape), nameof(dCN));
        }

        var g = GradWorkspace;
        g.Prepare(steps, L);
        // ∂L/∂Y of the top layer, time-major.
        var dTop = RecurrentWorkspace<T>.Buf(ref g.DTop, rows * D * P);
        if (swap) SwapTimeBatch(dOutput.AsReadOnlySpan(), dTop, batch, steps, D * P);
        else dOutput.AsReadOnlySpan().CopyTo(dTop);

        var dH0Tensor = g.DH0.Get(StateShape(unbatched, batch, P, shape));
        var dC0Tensor = HasCellState ? g.DC0.Get(StateShape(unbatched, batch, H, shape)) : null;
        var dH0 = dH0Tensor.AsSpan();
        var dC0 = dC0Tensor is null ? default : dC0Tensor.AsSpan();
        T[] dY = g.DTop;
        for (int l = L - 1; l >= 0; l--)
        {
            var dX = RecurrentWorkspace<T>.Buf(ref g.DX[l], rows * Cells[l * D].InSize);
            for (int d = 0; d < D; d++)
            {
                int s = l * D + d;
                ReadOnlySpan<T> dhInit = dHN is null ? default : dHN.AsReadOnlySpan().Slice(s * batch * P, batch * P);
                ReadOnlySpan<T> dcInit = dCN is null ? default : dCN.AsReadOnlySpan().Slice(s * batch * H, batch * H);
                BackwardDirection(ws, l, d, dY, dhInit, dcInit, recordNorms: l == L - 1 && d == 0,
                    dH0.Slice(s * batch * P, batch * P), HasCellState ? dC0.Slice(s * batch * H, batch * H) : default);
                AccumulateWeightGradients(ws, l, d, dX, accumulateDX: d > 0);
            }
            // Through the dropout between layers: ∂L/∂Y_{l−1} = ∂L/∂X_l ⊙ mask.
            if (l > 0 && ws.DropoutActive) TensorPrimitives.Multiply(dX, ws.Mask[l].AsSpan(0, dX.Length), dX);
            dY = g.DX[l];
        }

        var dIn = dY.AsSpan(0, rows * InputSize);
        var dInput = g.DInput.Get(SequenceShape(unbatched, steps, batch, InputSize, shape));
        if (swap) SwapTimeBatch(dIn, dInput.AsSpan(), steps, batch, InputSize);
        else dIn.CopyTo(dInput.AsSpan());
        return (dInput, dH0Tensor, dC0Tensor);
    }

    /// <summary>
    /// One layer and direction backwards over time from the carried ∂L/∂h_T (∂L/∂c_T): leaves dA (and dA_h) and the
    /// total ∂L/∂h_t of every step in the gradient workspace for <see cref="AccumulateWeightGradients"/>, and writes ∂L/∂h0 (∂L/∂c0).
    /// </summary>
    private protected abstract void BackwardDirection(RecurrentWorkspace<T> ws, int l, int d, T[] dY, ReadOnlySpan<T> dhInit, ReadOnlySpan<T> dcInit,
        bool recordNorms, Span<T> dh0, Span<T> dc0);
}
