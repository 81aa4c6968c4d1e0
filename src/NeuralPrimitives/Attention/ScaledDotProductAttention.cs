// Scaled dot-product attention (Vaswani et al. 2017), PyTorch 2's F.scaled_dot_product_attention.
//
// Shapes:  q [..., Lq, dk]   k [..., Lk, dk]   v [..., Lk, dv]   →   o [..., Lq, dv],  P [..., Lq, Lk]
//          "..." are the same leading dimensions for all three, except that with grouped-query attention
//          (EnableGqa) k and v may have fewer heads (dimension −3) than q: query head h reads kv head
//          h / (Hq / Hkv), PyTorch's repeat_interleave.
// Forward, per head (the exact path below, one line of code per equation):
//     S = scale·Q·Kᵀ + M              scores [Lq, Lk]; scale = 1/√dk by default; M the masks (AttentionMask.cs):
//                                     0 where the pair takes part, −∞ where masked, or an additive bias
//     P = softmax_rows(S)             P_qk = e^(S_qk − m_q) / Σ_j e^(S_qj − m_q), m_q = max_j S_qj;
//                                     a row with every key masked (m_q = −∞) is all zeros (PyTorch: NaN)
//     P̃ = P ⊙ Z / (1 − p)             dropout: Z_qk ∈ {0, 1} kept with probability 1 − p (P̃ = P without dropout)
//     O = P̃·V                         output [Lq, dv]
// Backward, given dO = ∂L/∂O (and optionally ∂L/∂P̃ when the weights were returned and used):
//     dV  = P̃ᵀ·dO                      [Lk, dv]  (summed over the query heads that share a kv head)
//     dP̃  = dO·Vᵀ (+ ∂L/∂P̃)            [Lq, Lk]
//     dP  = dP̃ ⊙ Z / (1 − p)
//     dS  = P ⊙ (dP − D),  D_q = Σ_k P_qk·dP_qk     softmax backward (Kernels/Softmax.cs); without a weights
//                                     gradient D_q = Σ_c dO_qc·O_qc, the form the memory-efficient path uses
//     dQ  = scale·dS·K                 [Lq, dk]
//     dK  = scale·dSᵀ·Q                [Lk, dk]  (summed over the query heads that share a kv head)
//     The mask takes no gradient; a fully masked row has P = 0, hence dS = 0 and no gradient.
// Two algorithms compute the same function:
//   exact (this file)         materialises S and P per head: needed to return the weights; O(Lq·Lk) memory.
//   memory-efficient          FlashAttention.cs: blocked online softmax, stores only log Σ e^S per row,
//                             recomputes blocks in backward, skips blocks the causal mask or window hides.
//   Auto picks the memory-efficient path unless the weights are requested.
// Threads (exact path): one part per key/value head (its query heads run in order, so dK and dV
// accumulate without races); the GEMMs of a single part may split themselves.
namespace NeuralPrimitives;

/// <summary>
/// Scaled dot-product attention as a function (PyTorch's <c>F.scaled_dot_product_attention</c>):
/// <c>softmax(scale·q·kᵀ + mask)·v</c> over q [..., Lq, dk], k [..., Lk, dk], v [..., Lk, dv].
/// For training (backward) use <see cref="ScaledDotProductAttention{T}"/>.
/// </summary>
public static class ScaledDotProductAttention
{
    /// <summary>
    /// Computes attention (thread-safe; allocates its result). Dropout is applied when <see cref="AttentionOptions.DropoutP"/>
    /// &gt; 0, as in PyTorch's function (which has no training flag).
    /// </summary>
    /// <param name="query">q [..., Lq, dk] (rank ≥ 2, dense).</param>
    /// <param name="key">k [..., Lk, dk]: the same leading dimensions as q, or fewer heads (dimension −3) with <see cref="AttentionOptions.EnableGqa"/>.</param>
    /// <param name="value">v [..., Lk, dv], leading dimensions as k.</param>
    /// <param name="attnMask">
    /// Optional mask broadcastable to [..., Lq, Lk]. A boolean mask states its convention: <see cref="AttentionMask{T}.Keep"/>
    /// (true = take part, PyTorch SDPA's) or <see cref="AttentionMask{T}.Ignore"/> (true = masked out, nn.MultiheadAttention's
    /// and key_padding_mask's). A float tensor is added to the scores. Unlike PyTorch, it may be combined with
    /// <see cref="AttentionOptions.IsCausal"/> (both apply).
    /// </param>
    /// <param name="options">Scale, causal mask, window, dropout, weights, GQA, algorithm; <see cref="AttentionOptions.Default"/> when null.</param>
    /// <returns>The output [..., Lq, dv] and, with <see cref="AttentionOptions.NeedWeights"/>, the weights [..., Lq, Lk].</returns>
    /// <remarks>A query row whose keys are all masked gives a zero output row (PyTorch gives NaN).</remarks>
    public static AttentionOutput<T> Compute<T>(Tensor<T> query, Tensor<T> key, Tensor<T> value, AttentionMask<T>? attnMask = null, AttentionOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        options ??= AttentionOptions.Default;
        var engine = new AttentionEngine<T>();
        CheckTensor(query, nameof(query));
        Span<nint> outputShape = stackalloc nint[query.Rank], weightsShape = stackalloc nint[query.Rank];
        bool exact = Setup(engine, query, key, value, attnMask, options, options.DropoutP > 0, outputShape, weightsShape);
        engine.O = Tensor.Create(new T[Shapes.Product(outputShape)], outputShape);
        engine.Forward(exact, weightsShape);
        return new(engine.O, engine.Weights);
    }

    /// <summary>
    /// Checks the arguments and describes the problem to <paramref name="engine"/> (dense head layouts); writes the output and
    /// weights shapes (each of q's rank) and returns whether the exact algorithm runs.
    /// </summary>
    internal static bool Setup<T>(AttentionEngine<T> engine, Tensor<T> query, Tensor<T> key, Tensor<T> value,
        AttentionMask<T>? attnMask, AttentionOptions options, bool dropout, Span<nint> outputShape, Span<nint> weightsShape)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckTensor(query, nameof(query));
        CheckTensor(key, nameof(key));
        CheckTensor(value, nameof(value));
        if (key.Rank != query.Rank)
            throw new ArgumentException($"key must have the rank of query ({query.Rank}), got shape {Shapes.Format(key.Lengths)} for query {Shapes.Format(query.Lengths)}.", nameof(key));
        if (value.Rank != query.Rank)
            throw new ArgumentException($"value must have the rank of query ({query.Rank}), got shape {Shapes.Format(value.Lengths)} for query {Shapes.Format(query.Lengths)}.", nameof(value));
        int rank = query.Rank;
        int lq = (int)query.Lengths[^2], dk = (int)query.Lengths[^1];
        int lk = (int)key.Lengths[^2], dv = (int)value.Lengths[^1];
        if (key.Lengths[^1] != dk)
            throw new ArgumentException($"key must have the query's last dimension dk = {dk}, got shape {Shapes.Format(key.Lengths)}.", nameof(key));
        if (value.Lengths[^2] != lk)
            throw new ArgumentException($"value must have as many positions as key (Lk = {lk}, dimension −2), got shape {Shapes.Format(value.Lengths)} for key {Shapes.Format(key.Lengths)}.", nameof(value));

        // Leading dimensions: equal for q, k, v, except the head axis (−3) of k and v under grouped-query attention.
        int heads = rank >= 3 ? (int)query.Lengths[^3] : 1, kvHeads = rank >= 3 ? (int)key.Lengths[^3] : 1;
        for (int d = 0; d < rank - 3; d++)
            if (key.Lengths[d] != query.Lengths[d])
                throw new ArgumentException($"key must have the query's leading dimensions {Shapes.Format(query.Lengths[..^2])}, got shape {Shapes.Format(key.Lengths)}.", nameof(key));
        if (kvHeads != heads)
        {
            if (!options.EnableGqa)
                throw new ArgumentException($"key has {kvHeads} heads (dimension −3) and query {heads}; they must be equal, or set EnableGqa for grouped-query attention. Shapes: query {Shapes.Format(query.Lengths)}, key {Shapes.Format(key.Lengths)}.", nameof(key));
            if (heads % kvHeads != 0)
                throw new ArgumentException($"The query's {heads} heads must be a multiple of the key's {kvHeads} heads (dimension −3) for grouped-query attention. Shapes: query {Shapes.Format(query.Lengths)}, key {Shapes.Format(key.Lengths)}.", nameof(key));
        }
        if (!value.Lengths[..^1].SequenceEqual(key.Lengths[..^1]))
            throw new ArgumentException($"value must have the key's leading dimensions and length {Shapes.Format(key.Lengths[..^1])}, got shape {Shapes.Format(value.Lengths)}.", nameof(value));
        if (options.NeedWeights && options.Algorithm == AttentionAlgorithm.MemoryEfficient)
            throw new ArgumentException("options: the memory-efficient algorithm cannot return the weights (NeedWeights = true); use Exact or Auto.", nameof(options));

        engine.Batch = rank >= 3 ? Shapes.Product(query.Lengths[..^3]) : 1;
        engine.Heads = heads;
        engine.KvHeads = kvHeads;
        (engine.Lq, engine.Lk, engine.Dk, engine.Dv) = (lq, lk, dk, dv);
        engine.Scale = T.CreateTruncating(options.Scale ?? 1 / Math.Sqrt(dk));
        engine.Structure = options.IsCausal || options.Window is not null
            ? StructuralMask.Create(lq, lk, options.IsCausal, options.CausalAlignment, options.Window, lk)
            : StructuralMask.None(lk);
        engine.Mask1 = default;
        engine.Mask2 = default;
        if (attnMask is { } mask)
        {
            Span<int> lead = stackalloc int[rank - 2];
            for (int d = 0; d < lead.Length; d++) lead[d] = (int)query.Lengths[d];
            engine.Mask1 = MaskView<T>.Broadcast(mask, lead, lq, lk, nameof(attnMask));
        }
        engine.DropoutP = dropout ? options.DropoutP : 0;
        engine.DropoutSeed = dropout ? (options.DropoutRng ?? Rng.Default).NextUInt64() : 0;
        (engine.Q, engine.K, engine.V) = (query, key, value);
        engine.QLayout = HeadLayout.Dense(heads, lq, dk);
        engine.KLayout = HeadLayout.Dense(kvHeads, lk, dk);
        engine.VLayout = HeadLayout.Dense(kvHeads, lk, dv);
        engine.OLayout = HeadLayout.Dense(heads, lq, dv);

        query.Lengths.CopyTo(outputShape);
        outputShape[^1] = dv;
        query.Lengths.CopyTo(weightsShape);
        weightsShape[^1] = lk;
        return options.Algorithm == AttentionAlgorithm.Exact || (options.Algorithm == AttentionAlgorithm.Auto && options.NeedWeights);
    }

    private static void CheckTensor<T>(Tensor<T> tensor, string name)
    {
        Guard.MinRank(tensor, 2, name);
        for (int d = 0; d < tensor.Rank; d++)
            if (tensor.Lengths[d] < 1)
                throw new ArgumentException($"{name} must have every dimension ≥ 1, got shape {Shapes.Format(tensor.Lengths)}.", name);
        if (!tensor.IsDense)
            throw new ArgumentException($"{name} of shape {Shapes.Format(tensor.Lengths)} is not dense (contiguous row-major); call ToDenseTensor() first.", name);
    }
}

/// <summary>
/// Scaled dot-product attention as a trainable step: <see cref="Forward"/> keeps what <see cref="Backward"/> needs
/// (the weights on the exact path, one log-sum-exp per query row on the memory-efficient one) and <see cref="Backward"/>
/// returns ∂L/∂q, ∂L/∂k, ∂L/∂v. It has no parameters. See <see cref="ScaledDotProductAttention.Compute{T}"/> for the arguments.
/// </summary>
/// <remarks>
/// Dropout (<see cref="AttentionOptions.DropoutP"/>) applies in training mode only. Results are module-owned buffers valid
/// until the next call; q, k and v are kept by reference until <see cref="Backward"/>. <see cref="Infer"/> is thread-safe.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class ScaledDotProductAttention<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly AttentionEngine<T> _engine = new();
    private readonly TensorBuffer<T> _output = new(), _dQuery = new(), _dKey = new(), _dValue = new();

    /// <summary>Training forward; see <see cref="ScaledDotProductAttention.Compute{T}"/> for the arguments.</summary>
    /// <param name="query">q [..., Lq, dk].</param>
    /// <param name="key">k [..., Lk, dk].</param>
    /// <param name="value">v [..., Lk, dv].</param>
    /// <param name="attnMask">Optional mask broadcastable to [..., Lq, Lk] (see <see cref="AttentionMask{T}"/>).</param>
    /// <param name="options">Options; <see cref="AttentionOptions.Default"/> when null.</param>
    /// <returns>The output [..., Lq, dv] and the weights if requested (module-owned).</returns>
    public AttentionOutput<T> Forward(Tensor<T> query, Tensor<T> key, Tensor<T> value, AttentionMask<T>? attnMask = null, AttentionOptions? options = null)
    {
        using var pass = BeginForward();
        options ??= AttentionOptions.Default;
        Guard.MinRank(query, 2, nameof(query));
        Span<nint> outputShape = stackalloc nint[query.Rank], weightsShape = stackalloc nint[query.Rank];
        bool exact = ScaledDotProductAttention.Setup(_engine, query, key, value, attnMask, options, Training && options.DropoutP > 0, outputShape, weightsShape);
        _engine.O = _output.Get(outputShape);
        _engine.Forward(exact, weightsShape);
        pass.Complete(_engine.O.AsReadOnlySpan(), "output");
        return new(_engine.O, _engine.Weights);
    }

    /// <summary>Backward of the last <see cref="Forward"/>.</summary>
    /// <param name="dOutput">∂L/∂output, shaped like the output.</param>
    /// <param name="dWeights">∂L/∂weights, shaped like the returned weights, when the loss used them (exact path only); null otherwise.</param>
    /// <returns>∂L/∂q, ∂L/∂k, ∂L/∂v (module-owned).</returns>
    public AttentionGradients<T> Backward(Tensor<T> dOutput, Tensor<T>? dWeights = null)
    {
        using var pass = BeginBackward();
        Guard.SameShape(_engine.O, dOutput, nameof(dOutput));
        if (dWeights is not null)
        {
            if (_engine.Weights is null)
                throw new ArgumentException("dWeights was given but the last Forward returned no weights (NeedWeights was false).", nameof(dWeights));
            Guard.SameShape(_engine.Weights, dWeights, nameof(dWeights));
        }
        var dq = _dQuery.Get(_engine.Q.Lengths);
        var dk = _dKey.Get(_engine.K.Lengths);
        var dv = _dValue.Get(_engine.V.Lengths);
        _engine.Backward(dOutput, dq, dk, dv, dWeights);
        if (AnomalyDetection.Enabled)
        {
            AnomalyDetection.Check<T>(dk.AsReadOnlySpan(), DisplayName, "dKey", "Backward");
            AnomalyDetection.Check<T>(dv.AsReadOnlySpan(), DisplayName, "dValue", "Backward");
        }
        pass.Complete(dq.AsReadOnlySpan(), "dQuery");
        return new(dq, dk, dv);
    }

    /// <summary>Inference forward (no dropout): new tensors, nothing cached, thread-safe.</summary>
    /// <param name="query">q [..., Lq, dk].</param>
    /// <param name="key">k [..., Lk, dk].</param>
    /// <param name="value">v [..., Lk, dv].</param>
    /// <param name="attnMask">Optional mask.</param>
    /// <param name="options">Options (dropout ignored).</param>
    public AttentionOutput<T> Infer(Tensor<T> query, Tensor<T> key, Tensor<T> value, AttentionMask<T>? attnMask = null, AttentionOptions? options = null)
        => ScaledDotProductAttention.Compute(query, key, value, attnMask, (options ?? AttentionOptions.Default) with { DropoutP = 0 });
}

// The exact path: S, P and O per head, with the project's GEMM on strided head views.
internal sealed partial class AttentionEngine<T>
{
    /// <summary>Forward of the query heads of kv head <paramref name="part"/> = b·KvHeads + g.</summary>
    private void ExactForwardPart(int part)
    {
        int b = part / KvHeads, g = part % KvHeads;
        ReadOnlySpan<T> q = Q.AsReadOnlySpan(), k = K.AsReadOnlySpan()[KLayout.Offset(b, g)..], v = V.AsReadOnlySpan()[VLayout.Offset(b, g)..];
        Span<T> o = O.AsSpan(), weights = _weights.Array, dropped = _dropped.Array;
        T kept = KeptScale;
        for (int h = g * Group; h < (g + 1) * Group; h++)
        {
            int bh = b * Heads + h;
            var s = weights.Slice(bh * Lq * Lk, Lq * Lk);
            // S = scale·Q·Kᵀ + M
            Gemm.Multiply(false, true, Lq, Lk, Dk, Scale, q[QLayout.Offset(b, h)..], QLayout.RowStride, k, KLayout.RowStride, T.Zero, s, Lk);
            ApplyMasks(s, Lk, keyMajor: false, bh, 0, Lq, 0, Lk, structural: true);
            // P = softmax_rows(S), zero rows where every key is masked
            for (int row = 0; row < Lq; row++) MaskedSoftmax(s.Slice(row * Lk, Lk));
            // P̃ = P ⊙ Z / (1 − p)
            var p = s;
            if (DropoutActive)
            {
                p = dropped.Slice(bh * Lq * Lk, Lq * Lk);
                for (int row = 0; row < Lq; row++)
                    for (int col = 0; col < Lk; col++)
                        p[row * Lk + col] = s[row * Lk + col] * DropoutFactor(bh, row, col, kept);
            }
            // O = P̃·V
            Gemm.Multiply(false, false, Lq, Dv, Lk, T.One, p, Lk, v, VLayout.RowStride, T.Zero, o[OLayout.Offset(b, h)..], OLayout.RowStride);
        }
    }

    /// <summary>softmax in place; a row of −∞ (every key masked) becomes zeros instead of NaN.</summary>
    private static void MaskedSoftmax(Span<T> row)
    {
        T max = TensorPrimitives.Max<T>(row);
        if (T.IsNegativeInfinity(max))
        {
            row.Clear();
            return;
        }
        TensorPrimitives.Subtract(row, max, row);
        VectorMath.Exp<T>(row, row);
        TensorPrimitives.Multiply(row, T.One / TensorPrimitives.Sum<T>(row), row);
    }

    /// <summary>Backward of the query heads of kv head <paramref name="part"/>: dQ per head, dK and dV summed over the group.</summary>
    private void ExactBackwardPart(int part)
    {
        int b = part / KvHeads, g = part % KvHeads;
        ReadOnlySpan<T> q = Q.AsReadOnlySpan(), k = K.AsReadOnlySpan()[KLayout.Offset(b, g)..], v = V.AsReadOnlySpan()[VLayout.Offset(b, g)..];
        ReadOnlySpan<T> dO = _dO.AsReadOnlySpan(), weights = _weights.Array, dropped = DropoutActive ? _dropped.Array : _weights.Array;
        Span<T> dQ = _dQ.AsSpan(), dK = _dK.AsSpan()[KLayout.Offset(b, g)..], dV = _dV.AsSpan()[VLayout.Offset(b, g)..];
        Span<T> scratch = _dScores.Array;
        T kept = KeptScale;
        for (int h = g * Group; h < (g + 1) * Group; h++)
        {
            int bh = b * Heads + h, size = Lq * Lk;
            T accumulate = h == g * Group ? T.Zero : T.One;   // the first head of the group overwrites dK and dV
            ReadOnlySpan<T> p = weights.Slice(bh * size, size), pDropped = dropped.Slice(bh * size, size);
            var dOh = dO[OLayout.Offset(b, h)..];
            var qh = q[QLayout.Offset(b, h)..];
            var dS = scratch.Slice(bh * size, size);
            // dV (+)= P̃ᵀ·dO
            Gemm.Multiply(true, false, Lk, Dv, Lq, T.One, pDropped, Lk, dOh, OLayout.RowStride, accumulate, dV, VLayout.RowStride);
            // dP̃ = dO·Vᵀ (+ ∂L/∂P̃)
            T withWeights = T.Zero;
            if (_dWeights is not null)
            {
                _dWeights.AsReadOnlySpan().Slice(bh * size, size).CopyTo(dS);
                withWeights = T.One;
            }
            Gemm.Multiply(false, true, Lq, Lk, Dv, T.One, dOh, OLayout.RowStride, v, VLayout.RowStride, withWeights, dS, Lk);
            // dP = dP̃ ⊙ Z / (1 − p)
            if (DropoutActive)
                for (int row = 0; row < Lq; row++)
                    for (int col = 0; col < Lk; col++)
                        dS[row * Lk + col] *= DropoutFactor(bh, row, col, kept);
            // dS = P ⊙ (dP − Σ_k P·dP)
            Softmax.Backward(p, dS, dS, Lk);
            // dQ = scale·dS·K,  dK (+)= scale·dSᵀ·Q
            Gemm.Multiply(false, false, Lq, Dk, Lk, Scale, dS, Lk, k, KLayout.RowStride, T.Zero, dQ[QLayout.Offset(b, h)..], QLayout.RowStride);
            Gemm.Multiply(true, false, Lk, Dk, Lq, Scale, dS, Lk, qh, QLayout.RowStride, accumulate, dK, KLayout.RowStride);
        }
    }
}
