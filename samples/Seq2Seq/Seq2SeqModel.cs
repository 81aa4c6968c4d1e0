// A GRU encoder–decoder (Cho et al. 2014; Sutskever et al. 2014), with or without additive attention
// (Bahdanau, Cho & Bengio 2015). docs/classic-attention.md tells the story; this file is the model.
//
// Shapes: B examples, source length S (padded), U = S + 1 decoder steps, E embedding, H hidden, V vocabulary.
//
// Encoder (one whole-sequence call):
//   h_1 … h_S = GRU_enc(Embed_src(x_1 … x_S))     [B, S, H]   (stops at each source's length L_b)
// Decoder, step u = 1 … U (teacher forcing: y_0 = <bos>, y_{u−1} = the previous correct token):
//   s_0 = h_L                                     the encoder's final state: WITHOUT attention, all the decoder knows
//   c_0 = 0
//   x_u = [Embed_tgt(y_{u−1}); c_{u−1}]           [B, E + H]   (without attention: x_u = Embed_tgt(y_{u−1}), [B, E])
//   s_u = GRUCell(x_u, s_{u−1})                   [B, H]
//   c_u, a_u = Attention(s_u, h_1 … h_S)          [B, H], [B, S]   a_u = softmax over the valid source positions
//   logits_u = W_o [s_u; c_u] + b_o               [B, V]       (without attention: W_o s_u + b_o)
//   loss = mean cross-entropy of logits_u against y_u over the non-padding targets
// The context enters the next step's input ("input feeding", Luong et al. 2015), so what the decoder read at
// step u informs its state at u + 1. Greedy decoding runs the same step with y_{u−1} = argmax logits_{u−1}.
//
// Backward: the step loop in reverse, carrying ds (∂L/∂s_u from step u + 1) and dc (∂L/∂c_u from x_{u+1}):
//   [ds_head; dc_head] = Head.Backward(dlogits_u)
//   dc += dc_head;   (ds_att, dh) = Attention.Backward(dc);   dh_1…S += dh
//   ds += ds_head + ds_att
//   (dx_u, ds) = Cell.Backward(ds)                ds is now ∂L/∂s_{u−1}
//   [de_u; dc] = dx_u                             dc is now ∂L/∂c_{u−1}
// then Embed_tgt.Backward(de), GRU_enc.Backward(dh_1…S, dh_L = ds) and Embed_src.Backward.
//
// Design: why the backward loop runs each step's forward again. A module keeps the cache of ONE Forward and
// accepts one Backward for it; the step loop calls the same GruCell, attention and head U times, so by the time
// the loss is known only step U's caches are left. The alternatives are U instances sharing tied parameters
// (GruCell's weights cannot be reassigned, unlike Linear.Weight) or one batched attention call over all U
// steps (impossible here: with input feeding s_u depends on c_{u−1}, so the steps are sequential). So the
// backward loop re-runs step u's Forward from the stored s_{u−1}, c_{u−1} and the embeddings, then calls each
// module's Backward while its cache holds step u: per-step gradient checkpointing. The forward keeps only the
// states s_u and contexts c_u (O(U·B·H), what the equations need anyway); the price is one more forward of the
// decoder, a third of the decoder's work. The encoder is a whole-sequence Gru: one Forward, one Backward.

namespace Seq2Seq;

/// <typeparam name="T"><c>float</c> to train, <c>double</c> for the gradient check.</typeparam>
/// <summary>The encoder–decoder of the header: <see cref="Forward"/>/<see cref="Backward"/> for a training batch, <see cref="Greedy"/> to decode.</summary>
internal sealed class Seq2SeqModel<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly int _vocabulary;
    // Per decoder step: s_0 … s_U and (with attention) c_0 … c_U [B, H]: the forward's record, read again by the backward loop.
    private readonly List<Tensor<T>> _states = [], _contexts = [];
    private Tensor<T> _x = Empty, _z = Empty;                 // x_u and [s_u; c_u] of the step being computed
    private Tensor<T> _logits = Empty, _dEmbedded = Empty, _dEncoder = Empty, _ds = Empty, _dc = Empty, _dsTail = Empty;
    private Batch? _batch;
    private Tensor<T>? _embedded, _encoder;

    private static readonly Tensor<T> Empty = Tensor.Create(new T[1], [1]);

    /// <summary>Creates the model; <paramref name="attentionSize"/> null means no attention (the bottleneck model).</summary>
    public Seq2SeqModel(int vocabularySize, int embeddingSize, int hiddenSize, int? attentionSize, Rng rng)
    {
        _vocabulary = vocabularySize;
        HiddenSize = hiddenSize;
        SourceEmbedding = RegisterModule("src_embed", new Embedding<T>(vocabularySize, embeddingSize, paddingIdx: ReversalTask.Pad, rng: rng));
        Encoder = RegisterModule("encoder", new Gru<T>(embeddingSize, hiddenSize, batchFirst: true, rng: rng));
        TargetEmbedding = RegisterModule("tgt_embed", new Embedding<T>(vocabularySize, embeddingSize, paddingIdx: ReversalTask.Pad, rng: rng));
        int context = attentionSize is null ? 0 : hiddenSize;
        Cell = RegisterModule("decoder", new GruCell<T>(embeddingSize + context, hiddenSize, rng: rng));
        if (attentionSize is int da) Attention = RegisterModule("attention", new AdditiveAttention<T>(hiddenSize, hiddenSize, da, rng: rng));
        Head = RegisterModule("head", new Linear<T>(hiddenSize + context, vocabularySize, rng: rng));
    }

    public int HiddenSize { get; }

    public Embedding<T> SourceEmbedding { get; }

    public Gru<T> Encoder { get; }

    public Embedding<T> TargetEmbedding { get; }

    public GruCell<T> Cell { get; }

    /// <summary>Null for the model without attention.</summary>
    public AdditiveAttention<T>? Attention { get; }

    public Linear<T> Head { get; }

    /// <summary>The loss: cross-entropy over the target tokens, padding ignored.</summary>
    public CrossEntropyLoss<T> Loss { get; } = new(ignoreIndex: ReversalTask.Pad);

    private int EmbeddingSize => TargetEmbedding.EmbeddingDim;

    // ---- the decoder step: one definition, used by training (Forward) and decoding (Infer) ------------------

    /// <summary>
    /// Decoder step u = 1 … U of the header: reads s_{u−1}, c_{u−1} and e = Embed_tgt(y_{u−1}), writes s_u and c_u, and
    /// returns logits_u [B, V] and the attention weights a_u [B, S] (null without attention). With <paramref name="training"/>
    /// every module runs its caching Forward, ready for one Backward; otherwise Infer.
    /// </summary>
    private (Tensor<T> Logits, Tensor<T>? Weights) Step(int u, ReadOnlySpan<T> embedded, Tensor<T> encoder, int[] lengths, bool training)
    {
        var (sPrev, s) = (_states[u - 1], _states[u]);
        Join(embedded, EmbeddingSize, Attention is null ? default : _contexts[u - 1].AsReadOnlySpan(), _x); // x_u = [e; c_{u−1}]
        (training ? Cell.Forward(_x, sPrev) : Cell.Infer(_x, sPrev)).AsReadOnlySpan().CopyTo(s.AsSpan());   // s_u = GRUCell(x_u, s_{u−1})
        if (Attention is null) return (training ? Head.Forward(s) : Head.Infer(s), null);                 // logits_u = W_o s_u + b_o
        var (c, a) = training ? Attention.Forward(s, encoder, lengths: lengths) : Attention.Infer(s, encoder, lengths: lengths);
        c.AsReadOnlySpan().CopyTo(_contexts[u].AsSpan());                                                 // c_u = Σ_t a_ut h_t
        Join(s.AsReadOnlySpan(), HiddenSize, c.AsReadOnlySpan(), _z);                                     // [s_u; c_u]
        return (training ? Head.Forward(_z) : Head.Infer(_z), a);                                         // logits_u = W_o [s_u; c_u] + b_o
    }

    // ---- training -------------------------------------------------------------------------------------------

    /// <summary>Encoder, the teacher-forced decoder loop and the loss; returns the mean loss per target token.</summary>
    public T Forward(Batch batch)
    {
        using var pass = BeginForward();
        int B = batch.Size, U = batch.DecoderSteps;
        Prepare(B, U);
        var encoder = StartDecoder(Encoder.Forward(SourceEmbedding.Forward(batch.Sources), lengths: batch.SourceLengths));
        var embedded = TargetEmbedding.Forward(batch.DecoderInputs);                        // Embed_tgt(y_0 … y_{U−1}) [U, B, E]
        _logits = Sized(_logits, [U, B, _vocabulary]);
        for (int u = 1; u <= U; u++)
            Step(u, At(embedded, u - 1), encoder, batch.SourceLengths, training: true).Logits.AsReadOnlySpan()
                .CopyTo(_logits.AsSpan().Slice((u - 1) * B * _vocabulary, B * _vocabulary));   // logits_u is row u − 1 of [U, B, V]
        T loss = Loss.Forward(_logits, batch.Targets);
        (_batch, _embedded, _encoder) = (batch, embedded, encoder);
        pass.Complete();
        return loss;
    }

    /// <summary>The step loop in reverse (header): accumulates every parameter's gradient of <paramref name="dLoss"/> × the loss.</summary>
    public void Backward(T? dLoss = null)
    {
        using var pass = BeginBackward();
        var (batch, embedded, encoder) = (_batch!, _embedded!, _encoder!);
        int B = batch.Size, U = batch.DecoderSteps, E = EmbeddingSize, H = HiddenSize;
        var dLogits = Loss.Backward(dLoss ?? T.One);                                        // [U, B, V]
        _dEmbedded = Sized(_dEmbedded, [U, B, E]);
        _dEncoder = Sized(_dEncoder, encoder.Lengths);
        _dEncoder.AsSpan().Clear();
        _ds = Sized(_ds, [B, H]);
        _dc = Sized(_dc, [B, H]);
        _dsTail = Sized(_dsTail, [1, B, H]);
        Span<T> ds = _ds.AsSpan(), dc = _dc.AsSpan();
        ds.Clear();                                                                         // nothing flows back from after step U
        dc.Clear();
        for (int u = U; u >= 1; u--)
        {
            Step(u, At(embedded, u - 1), encoder, batch.SourceLengths, training: true);    // recompute step u (header)
            var dz = Head.Backward(Rows(dLogits, u - 1));                                   // [ds_head; dc_head]
            if (Attention is null) TensorPrimitives.Add(ds, dz.AsReadOnlySpan(), ds);
            else
            {
                Split(dz.AsReadOnlySpan(), H, ds, dc, accumulate: true);                    // ds += ds_head, dc += dc_head
                var (dsAttention, dh) = Attention.Backward(_dc);
                TensorPrimitives.Add(ds, dsAttention.AsReadOnlySpan(), ds);                 // ds += ds_att
                TensorPrimitives.Add(_dEncoder.AsSpan(), dh.AsReadOnlySpan(), _dEncoder.AsSpan());  // dh_1…S += dh
            }
            var (dx, dsPrev) = Cell.Backward(_ds);
            dsPrev.AsReadOnlySpan().CopyTo(ds);                                             // ds = ∂L/∂s_{u−1}
            Split(dx.AsReadOnlySpan(), E, _dEmbedded.AsSpan().Slice((u - 1) * B * E, B * E), Attention is null ? default : dc, accumulate: false); // [de_u; dc = ∂L/∂c_{u−1}]
        }
        TargetEmbedding.Backward(_dEmbedded);
        ds.CopyTo(_dsTail.AsSpan());                                                        // ∂L/∂s_0 = ∂L/∂h_L
        var (dSource, _) = Encoder.Backward(_dEncoder, _dsTail);
        SourceEmbedding.Backward(dSource);
        pass.Complete();
    }

    // ---- decoding --------------------------------------------------------------------------------------------

    /// <summary>
    /// Greedy decoding of a batch: the decoder step with y_{u−1} = argmax of the previous logits, until every row has
    /// produced &lt;eos&gt; or <paramref name="maxSteps"/> steps. Uses the model's step buffers: one call at a time, not during training.
    /// </summary>
    /// <returns>Per row: the tokens before &lt;eos&gt; (or all, without one), whether &lt;eos&gt; came, and (with attention) the
    /// weights of every step over the source, [steps][S].</returns>
    public (int[] Tokens, bool Ended, double[][]? Weights)[] Greedy(IReadOnlyList<int[]> sources, int maxSteps)
    {
        var batch = ReversalTask.MakeBatch(sources);
        int B = batch.Size, S = batch.SourceSteps;
        Prepare(B, maxSteps);
        var encoder = StartDecoder(Encoder.Infer(SourceEmbedding.Infer(batch.Sources), lengths: batch.SourceLengths));
        var previous = Enumerable.Repeat(ReversalTask.Bos, B).ToArray();
        var tokens = Enumerable.Range(0, B).Select(_ => new List<int>()).ToArray();
        var weights = Enumerable.Range(0, B).Select(_ => new List<double[]>()).ToArray();
        var ended = new bool[B];
        for (int u = 1; u <= maxSteps && ended.Contains(false); u++)
        {
            var embedded = TargetEmbedding.Infer(Tensor.Create(previous, [B]));             // Embed_tgt(y_{u−1}) [B, E]
            var (logits, a) = Step(u, embedded.AsReadOnlySpan(), encoder, batch.SourceLengths, training: false);
            for (int b = 0; b < B; b++)
            {
                previous[b] = TensorPrimitives.IndexOfMax(logits.AsReadOnlySpan().Slice(b * _vocabulary, _vocabulary));
                if (ended[b]) continue;
                if (a is not null) weights[b].Add(Array.ConvertAll(a.AsReadOnlySpan().Slice(b * S, S).ToArray(), double.CreateTruncating));
                if (previous[b] == ReversalTask.Eos) ended[b] = true;
                else tokens[b].Add(previous[b]);
            }
        }
        return Enumerable.Range(0, B).Select(b => (tokens[b].ToArray(), ended[b], Attention is null ? null : weights[b].ToArray())).ToArray();
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    /// <summary>Keeps the encoder's result for the decoder: s_0 = h_L, c_0 = 0; returns h_1 … h_S.</summary>
    private Tensor<T> StartDecoder((Tensor<T> Output, Tensor<T> HN) encoded)
    {
        encoded.HN.AsReadOnlySpan().CopyTo(_states[0].AsSpan());                            // hN [1, B, H] is [B, H]
        if (Attention is not null) _contexts[0].AsSpan().Clear();
        return encoded.Output;
    }

    /// <summary>Sizes the per-step buffers for <paramref name="batch"/> rows and <paramref name="steps"/> decoder steps.</summary>
    private void Prepare(int batch, int steps)
    {
        int H = HiddenSize, context = Attention is null ? 0 : H;
        if (_states.Count > 0 && _states[0].Lengths[0] != batch) { _states.Clear(); _contexts.Clear(); }
        while (_states.Count <= steps)
        {
            _states.Add(Tensor.Create(new T[batch * H], [batch, H]));
            if (Attention is not null) _contexts.Add(Tensor.Create(new T[batch * H], [batch, H]));
        }
        _x = Sized(_x, [batch, EmbeddingSize + context]);
        _z = Sized(_z, [batch, H + context]);
    }

    /// <summary>The tensor if it has this shape, else a new zero one.</summary>
    private static Tensor<T> Sized(Tensor<T> tensor, ReadOnlySpan<nint> shape) =>
        tensor.Lengths.SequenceEqual(shape) ? tensor : Tensor.Create(new T[Shapes.Product(shape)], shape);

    private Tensor<T>? _row;

    /// <summary>Row i of a time-major [U, B, V] tensor as a [B, V] tensor (copied into a reused buffer).</summary>
    private Tensor<T> Rows(Tensor<T> sequence, int i)
    {
        _row = Sized(_row ?? Empty, [sequence.Lengths[1], sequence.Lengths[2]]);
        At(sequence, i).CopyTo(_row.AsSpan());
        return _row;
    }

    /// <summary>Row i of a time-major [U, B, ·] tensor, as a span.</summary>
    private static ReadOnlySpan<T> At(Tensor<T> sequence, int i)
    {
        int row = (int)(sequence.FlattenedLength / sequence.Lengths[0]);
        return sequence.AsReadOnlySpan().Slice(i * row, row);
    }

    /// <summary>Row-wise concatenation dst_b = [a_b; b_b] (a has <paramref name="widthA"/> columns; b may be empty).</summary>
    private static void Join(ReadOnlySpan<T> a, int widthA, ReadOnlySpan<T> b, Tensor<T> dst)
    {
        var d = dst.AsSpan();
        int rows = a.Length / widthA, width = d.Length / rows, widthB = width - widthA;
        for (int r = 0; r < rows; r++)
        {
            a.Slice(r * widthA, widthA).CopyTo(d.Slice(r * width, widthA));
            if (widthB > 0) b.Slice(r * widthB, widthB).CopyTo(d.Slice(r * width + widthA, widthB));
        }
    }

    /// <summary>The inverse of <see cref="Join"/>: each row [a_b; b_b] of <paramref name="src"/> into a and b (written or added to).</summary>
    private static void Split(ReadOnlySpan<T> src, int widthA, Span<T> a, Span<T> b, bool accumulate)
    {
        int rows = a.Length / widthA, width = src.Length / rows, widthB = width - widthA;
        for (int r = 0; r < rows; r++)
        {
            Place(src.Slice(r * width, widthA), a.Slice(r * widthA, widthA), accumulate);
            if (widthB > 0) Place(src.Slice(r * width + widthA, widthB), b.Slice(r * widthB, widthB), accumulate);
        }
    }

    private static void Place(ReadOnlySpan<T> value, Span<T> destination, bool accumulate)
    {
        if (accumulate) TensorPrimitives.Add(destination, value, destination);
        else value.CopyTo(destination);
    }
}
