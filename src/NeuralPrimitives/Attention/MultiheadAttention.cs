// Multi-head attention (Vaswani et al. 2017), PyTorch's nn.MultiheadAttention: same constructor,
// parameter names, initialisation, masks and shapes.
//
// Shapes (E = embedDim, H = numHeads, hd = E/H; L target length, S source length, N batch):
//   query [L, N, E]  key [S, N, kdim]  value [S, N, vdim]      ([N, ·, ·] with batchFirst; [L, E] … unbatched)
//   output [L, N, E] (like query)    weights [N, L, S'] averaged over heads, or [N, H, L, S'] per head
//   S' = S + 1 with addBiasKV, + 1 more with addZeroAttn (the appended key/value positions)
// Forward:
//   Q = query·W_qᵀ + b_q      K = key·W_kᵀ + b_k      V = value·W_vᵀ + b_v       (in_proj_weight = [W_q; W_k; W_v])
//   addBiasKV:   K ← [K; bias_k],  V ← [V; bias_v]      one more key/value position per sequence
//   addZeroAttn: K ← [K; 0],       V ← [V; 0]
//   per head h:  O_h = softmax(Q_h·K_hᵀ/√hd + M)·V_h  (ScaledDotProductAttention.cs; dropout on the weights in training)
//   output = [O_1 … O_H]·W_oᵀ + b_o                   (out_proj's parameters; the GEMMs run here, so the
//                                                      module-owned buffers make a training step allocation-free)
//   M: attnMask [L, S] or [N·H, L, S] (boolean: state the convention, see AttentionMask; float: added), keyPaddingMask
//   [N, S] (true = ignore that key), isCausal (query l sees keys s ≤ l); the appended positions are never masked.
// Backward (the attention part is ScaledDotProductAttention's):
//   dO_h from d(output)·W_o;  dW_o += d(output)ᵀ·[O_1 … O_H];  db_o += Σ_rows d(output)
//   dQ, dK, dV per head;  dbias_k = Σ_n dK[n, S];  dbias_v = Σ_n dV[n, S]   (the zero position takes no gradient)
//   d(query) = dQ·W_q, dW_q += dQᵀ·query, db_q += Σ_rows dQ    (likewise for key and value)
// Self-attention (query, key and value the same tensor, E = kdim = vdim, no appended positions) takes
// one GEMM for all three projections, [Q | K | V] = x·in_proj_weightᵀ + in_proj_bias, and the heads are
// read in place from it (no transposes); its backward is one GEMM for d(x) as well.
//
// Contrast of the boolean conventions (the same booleans mean opposite things):
//   keyPaddingMask here, and nn.MultiheadAttention's bool attn_mask:  true = IGNORE that key
//   F.scaled_dot_product_attention's bool attn_mask:                  true = TAKE PART
// so a boolean attnMask must say which one it follows: AttentionMask<T>.Ignore(mask) for PyTorch
// MultiheadAttention code, AttentionMask<T>.Keep(mask) for SDPA-style code.
namespace NeuralPrimitives;

/// <summary>The gradients of <see cref="MultiheadAttention{T}"/> with respect to its inputs.</summary>
/// <param name="DQuery">∂L/∂query (shaped like query). When key or value is the same tensor as query, their gradient is included here.</param>
/// <param name="DKey">∂L/∂key, or null when key is the same tensor as query (its gradient is then in <paramref name="DQuery"/>).</param>
/// <param name="DValue">∂L/∂value, or null when value is the same tensor as query or key (its gradient is then in that one's).</param>
/// <typeparam name="T">Element type.</typeparam>
public readonly record struct MultiheadAttentionGradients<T>(Tensor<T> DQuery, Tensor<T>? DKey, Tensor<T>? DValue);

/// <summary>
/// Multi-head attention (PyTorch's <c>nn.MultiheadAttention</c>): parameters <c>in_proj_weight</c> [3E, E] (or
/// <c>q_proj_weight</c> [E, E], <c>k_proj_weight</c> [E, kdim], <c>v_proj_weight</c> [E, vdim] when kdim or vdim differ from E),
/// <c>in_proj_bias</c> [3E], <c>bias_k</c>, <c>bias_v</c> [1, 1, E] (addBiasKV), and the child <c>out_proj</c> (<see cref="Linear{T}"/>).
/// </summary>
/// <remarks>
/// <para>Masks follow nn.MultiheadAttention: <c>keyPaddingMask</c> [N, S] is true where a key is padding (ignore it). This is the
/// opposite of <see cref="ScaledDotProductAttention"/>'s boolean <see cref="AttentionMask{T}.Keep"/> convention (true = take part);
/// a boolean <c>attnMask</c> therefore states its convention (<see cref="AttentionMask{T}.Ignore"/> is PyTorch MultiheadAttention's).</para>
/// <para>A query whose every key is masked gives zeros before the output projection (PyTorch gives NaN).</para>
/// <para>Forward/Backward belong to one thread at a time; results are module-owned buffers valid until the next call and the inputs
/// are kept by reference until Backward. <see cref="Infer"/> is thread-safe.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class MultiheadAttention<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Everything one forward writes and its backward reads; training owns one, Infer takes one from a pool.</summary>
    private sealed class Workspace
    {
        public readonly AttentionEngine<T> Engine = new();
        public readonly TensorBuffer<T> Packed = new(), Queries = new(), Keys = new(), Values = new(), Context = new(), Weights = new(), Output = new();
        public readonly TensorBuffer<T> DPacked = new(), DQueries = new(), DKeys = new(), DValues = new(), DContext = new(), DWeights = new();
        public readonly TensorBuffer<T> DQuery = new(), DKey = new(), DValue = new();
        public Tensor<T>? ReturnedWeights;
    }

    /// <summary>The sizes of one call.</summary>
    private readonly record struct Call(int Batch, int TargetLength, int SourceLength, int Keys, bool Unbatched, bool Packed, bool NeedWeights, bool Average);

    private readonly Workspace _train = new();
    private readonly System.Collections.Concurrent.ConcurrentBag<Workspace> _inferPool = new();
    private Tensor<T> _query = null!, _key = null!, _value = null!;
    private Call _call;

    /// <summary>Creates the layer with PyTorch's initialisation (xavier_uniform projections, zero biases, xavier_normal bias_k/bias_v).</summary>
    /// <param name="embedDim">E, the model width (≥ 1, divisible by <paramref name="numHeads"/>).</param>
    /// <param name="numHeads">H, parallel attention heads (≥ 1); each has width E/H.</param>
    /// <param name="dropout">Dropout probability on the attention weights in training mode (0 ≤ p &lt; 1).</param>
    /// <param name="bias">Whether the input and output projections have biases.</param>
    /// <param name="addBiasKV">Append a learned key and value position (<c>bias_k</c>, <c>bias_v</c>) to every sequence.</param>
    /// <param name="addZeroAttn">Append a zero key and value position to every sequence.</param>
    /// <param name="kdim">Features of the key input (default E).</param>
    /// <param name="vdim">Features of the value input (default E).</param>
    /// <param name="batchFirst">Inputs and output as [N, L, ·] instead of [L, N, ·].</param>
    /// <param name="rng">Random source for initialisation and to seed <see cref="DropoutRng"/>; <see cref="Rng.Default"/> when null.</param>
    public MultiheadAttention(int embedDim, int numHeads, double dropout = 0, bool bias = true, bool addBiasKV = false, bool addZeroAttn = false,
        int? kdim = null, int? vdim = null, bool batchFirst = false, Rng? rng = null)
    {
        Guard.Positive(embedDim);
        Guard.Positive(numHeads);
        if (embedDim % numHeads != 0)
            throw new ArgumentException($"embedDim must be divisible by numHeads (each head has width embedDim/numHeads): got embedDim = {embedDim}, numHeads = {numHeads}.", nameof(embedDim));
        if (!(dropout >= 0 && dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, $"dropout must be in [0, 1), got {dropout}.");
        int kd = kdim ?? embedDim, vd = vdim ?? embedDim;
        Guard.Positive(kd, nameof(kdim));
        Guard.Positive(vd, nameof(vdim));
        rng ??= Rng.Default;
        (EmbedDim, NumHeads, HeadDim, KDim, VDim) = (embedDim, numHeads, embedDim / numHeads, kd, vd);
        (Dropout, AddZeroAttn, BatchFirst) = (dropout, addZeroAttn, batchFirst);

        // Registration order is PyTorch's state_dict order; out_proj is built (and initialised) first, as in PyTorch.
        if (QkvSameEmbedDim)
            InProjWeight = RegisterParameter("in_proj_weight", new Parameter<T>("in_proj_weight", 3 * embedDim, embedDim));
        else
        {
            QProjWeight = RegisterParameter("q_proj_weight", new Parameter<T>("q_proj_weight", embedDim, embedDim));
            KProjWeight = RegisterParameter("k_proj_weight", new Parameter<T>("k_proj_weight", embedDim, kd));
            VProjWeight = RegisterParameter("v_proj_weight", new Parameter<T>("v_proj_weight", embedDim, vd));
        }
        if (bias) InProjBias = RegisterParameter("in_proj_bias", new Parameter<T>("in_proj_bias", 3 * embedDim));
        if (addBiasKV)
        {
            BiasK = RegisterParameter("bias_k", new Parameter<T>("bias_k", 1, 1, embedDim));
            BiasV = RegisterParameter("bias_v", new Parameter<T>("bias_v", 1, 1, embedDim));
        }
        OutProj = RegisterModule("out_proj", new Linear<T>(embedDim, embedDim, bias, rng));

        // PyTorch's _reset_parameters: xavier_uniform_ on the projections, zero biases, xavier_normal_ on bias_k/bias_v.
        if (InProjWeight is not null) Init.XavierUniform(InProjWeight, rng);
        else
        {
            Init.XavierUniform(QProjWeight!, rng);
            Init.XavierUniform(KProjWeight!, rng);
            Init.XavierUniform(VProjWeight!, rng);
        }
        if (bias) OutProj.Bias!.Data.AsSpan().Clear();
        foreach (var p in new[] { BiasK, BiasV })
            if (p is not null)
            {
                var (fanIn, fanOut) = Init.Fans(p.Shape);
                Init.Normal(p, rng, 0, Math.Sqrt(2.0 / (fanIn + fanOut)));
            }
        DropoutRng = new Rng(rng.NextUInt64());
    }

    /// <summary>E.</summary>
    public int EmbedDim { get; }

    /// <summary>H.</summary>
    public int NumHeads { get; }

    /// <summary>E/H, the width of one head.</summary>
    public int HeadDim { get; }

    /// <summary>Features of the key input.</summary>
    public int KDim { get; }

    /// <summary>Features of the value input.</summary>
    public int VDim { get; }

    /// <summary>Dropout probability on the attention weights (training mode).</summary>
    public double Dropout { get; }

    /// <summary>Whether a zero key/value position is appended.</summary>
    public bool AddZeroAttn { get; }

    /// <summary>Whether inputs are [N, L, ·].</summary>
    public bool BatchFirst { get; }

    /// <summary>Whether one packed <c>in_proj_weight</c> holds the three projections (kdim = vdim = E), PyTorch's <c>_qkv_same_embed_dim</c>.</summary>
    public bool QkvSameEmbedDim => KDim == EmbedDim && VDim == EmbedDim;

    /// <summary><c>in_proj_weight</c> [3E, E] = [W_q; W_k; W_v], or null when kdim/vdim differ from E.</summary>
    public Parameter<T>? InProjWeight { get; }

    /// <summary><c>q_proj_weight</c> [E, E] when kdim/vdim differ from E, else null.</summary>
    public Parameter<T>? QProjWeight { get; }

    /// <summary><c>k_proj_weight</c> [E, kdim] when kdim/vdim differ from E, else null.</summary>
    public Parameter<T>? KProjWeight { get; }

    /// <summary><c>v_proj_weight</c> [E, vdim] when kdim/vdim differ from E, else null.</summary>
    public Parameter<T>? VProjWeight { get; }

    /// <summary><c>in_proj_bias</c> [3E] = [b_q; b_k; b_v], or null without bias.</summary>
    public Parameter<T>? InProjBias { get; }

    /// <summary><c>bias_k</c> [1, 1, E] (addBiasKV), else null.</summary>
    public Parameter<T>? BiasK { get; }

    /// <summary><c>bias_v</c> [1, 1, E] (addBiasKV), else null.</summary>
    public Parameter<T>? BiasV { get; }

    /// <summary>The output projection <c>out_proj</c> (E → E).</summary>
    public Linear<T> OutProj { get; }

    /// <summary>The random source of the dropout masks (seeded from the constructor's <c>rng</c>).</summary>
    public Rng DropoutRng { get; set; }

    /// <summary>Training forward (PyTorch's <c>forward</c>; arguments in its order).</summary>
    /// <param name="query">[L, N, E] ([N, L, E] with batchFirst, [L, E] unbatched).</param>
    /// <param name="key">[S, N, kdim] (or batch-first / unbatched like query). Pass the same tensor as query (and value) for self-attention.</param>
    /// <param name="value">[S, N, vdim].</param>
    /// <param name="keyPaddingMask">[N, S] ([S] unbatched): <b>true = ignore</b> that key (padding), PyTorch's convention.</param>
    /// <param name="needWeights">Also return the attention weights (forces the exact path; PyTorch's default is true).</param>
    /// <param name="attnMask">[L, S] or [N·H, L, S] ([H, L, S] unbatched): boolean (<see cref="AttentionMask{T}.Ignore"/> is PyTorch MultiheadAttention's convention) or additive.</param>
    /// <param name="averageAttnWeights">Average the returned weights over the heads ([N, L, S']) instead of per head ([N, H, L, S']).</param>
    /// <param name="isCausal">Apply the causal mask (query l sees keys s ≤ l); may be combined with attnMask (both apply).</param>
    /// <returns>The output shaped like query, and the weights when requested (module-owned).</returns>
    public AttentionOutput<T> Forward(Tensor<T> query, Tensor<T> key, Tensor<T> value, Tensor<bool>? keyPaddingMask = null, bool needWeights = true,
        AttentionMask<T>? attnMask = null, bool averageAttnWeights = true, bool isCausal = false)
    {
        using var pass = BeginForward();
        _call = Prepare(_train, query, key, value, keyPaddingMask, needWeights, attnMask, averageAttnWeights, isCausal, Training && Dropout > 0);
        (_query, _key, _value) = (query, key, value);
        var output = OutProject(Attend(_train, _call), _train.Output.Get(query.Lengths));
        pass.Complete(output.AsReadOnlySpan(), "output");
        return new(output, _train.ReturnedWeights);
    }

    /// <summary>Inference forward (no dropout): new tensors, nothing cached, safe to call from several threads at once.</summary>
    /// <param name="query">As for <see cref="Forward"/>.</param>
    /// <param name="key">As for <see cref="Forward"/>.</param>
    /// <param name="value">As for <see cref="Forward"/>.</param>
    /// <param name="keyPaddingMask">As for <see cref="Forward"/> (true = ignore).</param>
    /// <param name="needWeights">As for <see cref="Forward"/>.</param>
    /// <param name="attnMask">As for <see cref="Forward"/>.</param>
    /// <param name="averageAttnWeights">As for <see cref="Forward"/>.</param>
    /// <param name="isCausal">As for <see cref="Forward"/>.</param>
    public AttentionOutput<T> Infer(Tensor<T> query, Tensor<T> key, Tensor<T> value, Tensor<bool>? keyPaddingMask = null, bool needWeights = true,
        AttentionMask<T>? attnMask = null, bool averageAttnWeights = true, bool isCausal = false)
    {
        var ws = _inferPool.TryTake(out var pooled) ? pooled : new Workspace();
        try
        {
            var call = Prepare(ws, query, key, value, keyPaddingMask, needWeights, attnMask, averageAttnWeights, isCausal, dropout: false);
            var output = OutProject(Attend(ws, call), Tensor.Create(new T[query.FlattenedLength], query.Lengths));
            var w = ws.ReturnedWeights;
            return new(output, w is null ? null : Tensor.Create(w.ToArray(), w.Lengths));
        }
        finally
        {
            _inferPool.Add(ws);
        }
    }

    /// <summary>Backward of the last <see cref="Forward"/>: accumulates every parameter gradient and returns the input gradients.</summary>
    /// <param name="dOutput">∂L/∂output, shaped like the output.</param>
    /// <param name="dWeights">∂L/∂weights, shaped like the returned weights, when the loss used them; null otherwise.</param>
    /// <returns>∂L/∂query, ∂L/∂key, ∂L/∂value (module-owned; see <see cref="MultiheadAttentionGradients{T}"/> for aliased inputs).</returns>
    public MultiheadAttentionGradients<T> Backward(Tensor<T> dOutput, Tensor<T>? dWeights = null)
    {
        using var pass = BeginBackward();
        var ws = _train;
        var call = _call;
        Guard.SameShape(_query, dOutput, nameof(dOutput));
        if (dWeights is not null)
        {
            if (!call.NeedWeights) throw new ArgumentException("dWeights was given but the last Forward returned no weights (needWeights was false).", nameof(dWeights));
            Guard.SameShape(ws.ReturnedWeights!, dWeights, nameof(dWeights));
        }
        // output = context·W_oᵀ + b_o:  d(context) = d(output)·W_o, dW_o += d(output)ᵀ·context, db_o += Σ_rows d(output)
        var context = ws.Engine.O;
        var dContext = ws.DContext.Get(context.Lengths);
        int rows = call.Batch * call.TargetLength;
        AttentionProjection.Backward(dOutput.AsReadOnlySpan(), EmbedDim, rows, context.AsReadOnlySpan(), EmbedDim, EmbedDim, OutProj.Weight, -1, EmbedDim, OutProj.Bias, 0, dContext.AsSpan(), EmbedDim, accumulate: false);
        var result = BackwardInputs(ws, call, dContext, dWeights);
        pass.Complete(result.DQuery.AsReadOnlySpan(), "dQuery");
        return result;
    }

    // ---- forward ---------------------------------------------------------------------------------

    /// <summary>Checks the inputs, projects q, k, v into the workspace and describes the attention to its engine.</summary>
    private Call Prepare(Workspace ws, Tensor<T> query, Tensor<T> key, Tensor<T> value, Tensor<bool>? keyPaddingMask, bool needWeights,
        AttentionMask<T>? attnMask, bool average, bool isCausal, bool dropout)
    {
        var call = CheckInputs(query, key, value, keyPaddingMask, attnMask, needWeights, average);
        int n = call.Batch, l = call.TargetLength, s = call.SourceLength, sExt = call.Keys, e = EmbedDim, hd = HeadDim;
        var engine = ws.Engine;
        Span<nint> shape = stackalloc nint[3];

        if (call.Packed)
        {
            // [Q | K | V] = x·in_proj_weightᵀ + in_proj_bias, one GEMM; the heads are read in place.
            var packed = ws.Packed.Get(Rows(shape, n * l, 3 * e));
            AttentionProjection.Forward<T>(query.AsReadOnlySpan(), e, n * l, InProjWeight!.Data, e, 3 * e, InProjBias?.Data, packed.AsSpan(), 3 * e);
            (engine.Q, engine.K, engine.V) = (packed, packed, packed);
            engine.QLayout = HeadLayout.Sequence(BatchFirst, n, l, 3 * e, hd);
            engine.KLayout = HeadLayout.Sequence(BatchFirst, n, l, 3 * e, hd, e);
            engine.VLayout = HeadLayout.Sequence(BatchFirst, n, l, 3 * e, hd, 2 * e);
        }
        else
        {
            var q = ws.Queries.Get(Rows(shape, n * l, e));
            AttentionProjection.Forward(query.AsReadOnlySpan(), e, n * l, WeightRows(QProjWeight, 0), e, e, BiasPart(0), q.AsSpan(), e);
            var k = ws.Keys.Get(Rows(shape, n * sExt, e));
            var v = ws.Values.Get(Rows(shape, n * sExt, e));
            ProjectSource(key.AsReadOnlySpan(), KDim, call, WeightRows(KProjWeight, 1), BiasPart(1), BiasK, k.AsSpan());
            ProjectSource(value.AsReadOnlySpan(), VDim, call, WeightRows(VProjWeight, 2), BiasPart(2), BiasV, v.AsSpan());
            (engine.Q, engine.K, engine.V) = (q, k, v);
            engine.QLayout = HeadLayout.Sequence(BatchFirst, n, l, e, hd);
            engine.KLayout = engine.VLayout = HeadLayout.Sequence(true, n, sExt, e, hd);
        }
        engine.O = ws.Context.Get(query.Lengths);
        engine.OLayout = HeadLayout.Sequence(BatchFirst, n, l, e, hd);

        (engine.Batch, engine.Heads, engine.KvHeads) = (n, NumHeads, NumHeads);
        (engine.Lq, engine.Lk, engine.Dk, engine.Dv) = (l, sExt, hd, hd);
        engine.Scale = T.One / T.Sqrt(T.CreateTruncating(hd));
        // The appended positions (keys s ≥ S) are never masked, as PyTorch pads its masks with "keep" there.
        engine.Structure = isCausal ? StructuralMask.Create(l, sExt, true, CausalAlignment.TopLeft, null, s) : StructuralMask.None(s);
        Span<int> lead = stackalloc int[2];
        engine.Mask1 = default;
        engine.Mask2 = default;
        if (attnMask is { } m)
        {
            lead[0] = n * NumHeads; // a 3-D mask is [N·H, L, S]: one leading dimension over the flattened heads
            engine.Mask1 = MaskView<T>.Broadcast(m, lead[..1], l, s, nameof(attnMask));
        }
        if (keyPaddingMask is not null)
        {
            (lead[0], lead[1]) = (n, NumHeads);
            Span<nint> asShape = [n, 1, 1, s];
            engine.Mask2 = MaskView<T>.Broadcast(AttentionMask<T>.Ignore(keyPaddingMask), lead, l, s, nameof(keyPaddingMask), asShape);
        }
        engine.DropoutP = dropout ? Dropout : 0;
        engine.DropoutSeed = dropout ? DropoutRng.NextUInt64() : 0;
        return call;
    }

    /// <summary>Runs the attention (exact when the weights are needed) and returns the concatenated heads [.., E].</summary>
    private Tensor<T> Attend(Workspace ws, Call call)
    {
        int h = NumHeads, l = call.TargetLength, s = call.Keys;
        ReadOnlySpan<nint> weightsShape = call.Unbatched ? [h, l, s] : [call.Batch, h, l, s];
        ws.Engine.Forward(call.NeedWeights, weightsShape);
        if (call.NeedWeights && call.Average)
        {
            // weights averaged over heads: [N, L, S'] = (1/H)·Σ_h P̃_h
            var avg = ws.Weights.Get(call.Unbatched ? [l, s] : [call.Batch, l, s]);
            var per = ws.Engine.Weights!.AsReadOnlySpan();
            var dst = avg.AsSpan();
            int block = l * s;
            T inv = T.One / T.CreateTruncating(h);
            for (int b = 0; b < call.Batch; b++)
            {
                var target = dst.Slice(b * block, block);
                per.Slice(b * h * block, block).CopyTo(target);
                for (int i = 1; i < h; i++) TensorPrimitives.Add(target, per.Slice((b * h + i) * block, block), target);
                TensorPrimitives.Multiply(target, inv, target);
            }
            ws.ReturnedWeights = avg;
        }
        else
            ws.ReturnedWeights = call.NeedWeights ? ws.Engine.Weights : null;
        return ws.Engine.O;
    }

    private static ReadOnlySpan<nint> Rows(Span<nint> shape, int rows, int cols)
    {
        shape[0] = rows;
        shape[1] = cols;
        return shape[..2];
    }

    /// <summary>output = context·W_oᵀ + b_o with out_proj's parameters (its rows are the positions, in the input's order).</summary>
    private Tensor<T> OutProject(Tensor<T> context, Tensor<T> output)
    {
        AttentionProjection.Forward<T>(context.AsReadOnlySpan(), EmbedDim, (int)(context.FlattenedLength / EmbedDim), OutProj.Weight.Data, EmbedDim, EmbedDim, OutProj.Bias?.Data, output.AsSpan(), EmbedDim);
        return output;
    }

    /// <summary>The projection weight of part 0 (q), 1 (k) or 2 (v): the separate weight, or that third of in_proj_weight.</summary>
    private ReadOnlySpan<T> WeightRows(Parameter<T>? separate, int part) =>
        separate is not null ? separate.Data : InProjWeight!.Data.AsSpan(part * EmbedDim * EmbedDim, EmbedDim * EmbedDim);

    private ReadOnlySpan<T> BiasPart(int part) => InProjBias is null ? default : InProjBias.Data.AsSpan(part * EmbedDim, EmbedDim);

    /// <summary>
    /// Projects a key or value input into [N, S', E] (batch-major, whatever the input layout): per sequence n,
    /// rows 0..S−1 = x_n·Wᵀ + b, then bias_k/bias_v (addBiasKV) and a zero row (addZeroAttn).
    /// </summary>
    private void ProjectSource(ReadOnlySpan<T> x, int features, Call call, ReadOnlySpan<T> w, ReadOnlySpan<T> b, Parameter<T>? appended, Span<T> y)
    {
        int n = call.Batch, s = call.SourceLength, sExt = call.Keys, e = EmbedDim;
        int start = BatchFirst ? s * features : features, ld = BatchFirst ? features : n * features;
        for (int i = 0; i < n; i++)
        {
            var yi = y.Slice(i * sExt * e, sExt * e);
            AttentionProjection.Forward(x[(i * start)..], ld, s, w, features, e, b, yi, e);
            int row = s;
            if (appended is not null) appended.Data.CopyTo(yi.Slice(row++ * e, e));
            if (AddZeroAttn) yi.Slice(row * e, e).Clear();
        }
    }

    /// <summary>Shape checks in PyTorch's terms; returns the sizes of the call.</summary>
    private Call CheckInputs(Tensor<T> query, Tensor<T> key, Tensor<T> value, Tensor<bool>? keyPaddingMask, AttentionMask<T>? attnMask, bool needWeights, bool average)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (query.Rank is not (2 or 3))
            throw new ArgumentException($"query must be [L, N, E]{(BatchFirst ? " / [N, L, E]" : "")} or unbatched [L, E], got shape {Shapes.Format(query.Lengths)}.", nameof(query));
        bool unbatched = query.Rank == 2;
        CheckRank(key, query.Rank, nameof(key));
        CheckRank(value, query.Rank, nameof(value));
        Guard.LastDim(query, EmbedDim, nameof(query));
        Guard.LastDim(key, KDim, nameof(key));
        Guard.LastDim(value, VDim, nameof(value));
        int seqAxis = unbatched || !BatchFirst ? 0 : 1, batchAxis = 1 - seqAxis;
        int n = unbatched ? 1 : (int)query.Lengths[batchAxis], l = (int)query.Lengths[seqAxis], s = (int)key.Lengths[seqAxis];
        if (!unbatched && key.Lengths[batchAxis] != n)
            throw new ArgumentException($"key must have the query's batch size {n}, got shape {Shapes.Format(key.Lengths)} for query {Shapes.Format(query.Lengths)}.", nameof(key));
        if (!value.Lengths[..^1].SequenceEqual(key.Lengths[..^1]))
            throw new ArgumentException($"value must have the key's sequence and batch sizes {Shapes.Format(key.Lengths[..^1])}, got shape {Shapes.Format(value.Lengths)}.", nameof(value));
        CheckDense(query, nameof(query));
        CheckDense(key, nameof(key));
        CheckDense(value, nameof(value));
        if (keyPaddingMask is not null)
        {
            ReadOnlySpan<nint> expected = unbatched ? [s] : [n, s];
            Guard.Shape(keyPaddingMask, expected, nameof(keyPaddingMask));
            if (!keyPaddingMask.IsDense) throw new ArgumentException($"{nameof(keyPaddingMask)} must be dense.", nameof(keyPaddingMask));
        }
        if (attnMask is { } m)
        {
            if (m.IsEmpty) throw new ArgumentException($"{nameof(attnMask)} holds no tensor.", nameof(attnMask));
            var shape = m.Lengths;
            bool ok = (shape.Length == 2 && shape[0] == l && shape[1] == s)
                   || (shape.Length == 3 && shape[0] == n * NumHeads && shape[1] == l && shape[2] == s);
            if (!ok)
                throw new ArgumentException($"attnMask must be [L, S] = [{l}, {s}] or [N·H, L, S] = [{n * NumHeads}, {l}, {s}], got {Shapes.Format(shape)}.", nameof(attnMask));
        }
        bool packed = ReferenceEquals(query, key) && ReferenceEquals(key, value) && QkvSameEmbedDim && BiasK is null && !AddZeroAttn;
        int keys = s + (BiasK is null ? 0 : 1) + (AddZeroAttn ? 1 : 0);
        return new Call(n, l, s, keys, unbatched, packed, needWeights, average);
    }

    private static void CheckDense(Tensor<T> t, string name)
    {
        if (!t.IsDense || Shapes.Product(t.Lengths) == 0)
            throw new ArgumentException($"{name} must be dense (contiguous row-major) with every dimension ≥ 1, got shape {Shapes.Format(t.Lengths)}.", name);
    }

    private static void CheckRank(Tensor<T> t, int rank, string name)
    {
        if (t.Rank != rank)
            throw new ArgumentException($"{name} must have the query's rank {rank} (batched inputs are 3-D, unbatched 2-D), got shape {Shapes.Format(t.Lengths)}.", name);
    }

    // ---- backward --------------------------------------------------------------------------------

    private MultiheadAttentionGradients<T> BackwardInputs(Workspace ws, Call call, Tensor<T> dContext, Tensor<T>? dWeights)
    {
        int n = call.Batch, l = call.TargetLength, e = EmbedDim, h = NumHeads, sExt = call.Keys;
        var engine = ws.Engine;
        Span<nint> shape = stackalloc nint[2];

        // ∂L/∂(per-head weights): the averaged weights' gradient spread over the heads, 1/H each.
        Tensor<T>? dPerHead = dWeights;
        if (dWeights is not null && call.Average)
        {
            dPerHead = ws.DWeights.Get(engine.Weights!.Lengths);
            var src = dWeights.AsReadOnlySpan();
            var dst = dPerHead.AsSpan();
            int block = l * sExt;
            T inv = T.One / T.CreateTruncating(h);
            for (int b = 0; b < n; b++)
                for (int i = 0; i < h; i++)
                    TensorPrimitives.Multiply(src.Slice(b * block, block), inv, dst.Slice((b * h + i) * block, block));
        }

        var dQuery = ws.DQuery.Get(_query.Lengths);
        if (call.Packed)
        {
            var dPacked = ws.DPacked.Get(Rows(shape, n * l, 3 * e));
            engine.Backward(dContext, dPacked, dPacked, dPacked, dPerHead);
            AttentionProjection.Backward(dPacked.AsReadOnlySpan(), 3 * e, n * l, _query.AsReadOnlySpan(), e, e, InProjWeight!, 0, 3 * e, InProjBias, 0, dQuery.AsSpan(), e, accumulate: false);
            return new(dQuery, null, null);
        }

        var dq = ws.DQueries.Get(Rows(shape, n * l, e));
        var dk = ws.DKeys.Get(Rows(shape, n * sExt, e));
        var dv = ws.DValues.Get(Rows(shape, n * sExt, e));
        engine.Backward(dContext, dq, dk, dv, dPerHead);
        AttentionProjection.Backward(dq.AsReadOnlySpan(), e, n * l, _query.AsReadOnlySpan(), e, e, QProjWeight ?? InProjWeight!, QProjWeight is null ? 0 : -1, e, InProjBias, 0, dQuery.AsSpan(), e, accumulate: false);

        // Key and value: their gradient goes into the first argument that is the same tensor (self-attention shares one gradient).
        bool keyIsQuery = ReferenceEquals(_key, _query);
        var dKey = keyIsQuery ? dQuery : ws.DKey.Get(_key.Lengths);
        SourceBackward(dk.AsReadOnlySpan(), call, _key.AsReadOnlySpan(), KDim, KProjWeight, 1, BiasK, dKey.AsSpan(), accumulate: keyIsQuery);
        bool valueIsQuery = ReferenceEquals(_value, _query), valueIsKey = !valueIsQuery && ReferenceEquals(_value, _key);
        var dValue = valueIsQuery ? dQuery : valueIsKey ? dKey : ws.DValue.Get(_value.Lengths);
        SourceBackward(dv.AsReadOnlySpan(), call, _value.AsReadOnlySpan(), VDim, VProjWeight, 2, BiasV, dValue.AsSpan(), accumulate: valueIsQuery || valueIsKey);
        return new(dQuery, keyIsQuery ? null : dKey, valueIsQuery || valueIsKey ? null : dValue);
    }

    /// <summary>Backward of <see cref="ProjectSource"/>: per sequence, the projection's backward on rows 0..S−1, and Σ_n dY[n, S] into bias_k/bias_v.</summary>
    private void SourceBackward(ReadOnlySpan<T> dy, Call call, ReadOnlySpan<T> x, int features, Parameter<T>? separate, int part,
        Parameter<T>? appended, Span<T> dx, bool accumulate)
    {
        int n = call.Batch, s = call.SourceLength, sExt = call.Keys, e = EmbedDim;
        int start = BatchFirst ? s * features : features, ld = BatchFirst ? features : n * features;
        var weight = separate ?? InProjWeight!;
        for (int i = 0; i < n; i++)
        {
            var dyi = dy.Slice(i * sExt * e, sExt * e);
            AttentionProjection.Backward(dyi, e, s, x[(i * start)..], ld, features, weight, separate is null ? part : -1, e, InProjBias, part, dx[(i * start)..], ld, accumulate);
            if (appended is { RequiresGrad: true })
                TensorPrimitives.Add(appended.Grad, dyi.Slice(s * e, e), appended.Grad);
        }
    }
}
