// Classic attention of the seq2seq era (Bahdanau, Cho & Bengio 2015; Luong, Pham & Manning 2015).
//
// The bottleneck it removes: an RNN encoder–decoder squeezes the whole source sentence into one vector,
// the encoder's last state. With attention, every decoder step looks back at all encoder states
// h_1..h_T: it scores each against its own state s, turns the scores into weights with a softmax over
// the source, and reads out their weighted average, the context vector. The score functions are the
// subclasses (docs/attention.md, "Classic attention", compares them); this file is what they share.
//
// Shapes:   s [B, Ds] decoder state     h [B, T, Dh] encoder states     e, a [B, T]     c [B, Dh]
//           padding: keyPaddingMask [B, T] (true = padding, as nn.MultiheadAttention) or lengths [B]
//           (positions t ≥ lengths[b] are padding).
// Forward:  e_bt = score(s_b, h_bt)                  (the subclass)
//           e_bt = −∞ where h_bt is padding           (exp(−∞) = 0: padding gets no weight)
//           a_b  = softmax_t(e_b)                     (a row with every position masked: a_b = 0, not NaN)
//           c_b  = Σ_t a_bt h_bt
// Backward, from dc [B, Dh] and optionally da [B, T] (a gradient for the weights output):
//           da_bt += dc_b · h_bt                      (c is linear in a)
//           dh_bt  = a_bt dc_b                        (… and in h)
//           de_bt  = a_bt (da_bt − Σ_t' a_bt' da_bt')  (softmax backward; 0 wherever a = 0, so padding
//                                                      and fully masked rows get no gradient)
//           ds, dh += the score's backward of de      (the subclass), with its parameter gradients.
namespace NeuralPrimitives;

/// <summary>What a classic attention module returns.</summary>
/// <param name="Context">The context vectors c [B, Dh]: the attention-weighted sums of the encoder states.</param>
/// <param name="Weights">The attention weights a [B, T]: a softmax over the valid source positions (0 at padding).</param>
/// <typeparam name="T">Element type.</typeparam>
public readonly record struct ClassicAttentionOutput<T>(Tensor<T> Context, Tensor<T> Weights);

/// <summary>The input gradients of a classic attention module's Backward.</summary>
/// <param name="DState">dL/ds [B, Ds].</param>
/// <param name="DEncoder">dL/dh [B, T, Dh].</param>
/// <typeparam name="T">Element type.</typeparam>
public readonly record struct ClassicAttentionGradients<T>(Tensor<T> DState, Tensor<T> DEncoder);

/// <summary>
/// Base of the seq2seq attention modules (<see cref="DotAttention{T}"/>, <see cref="GeneralAttention{T}"/>,
/// <see cref="LowRankAttention{T}"/>, <see cref="AdditiveAttention{T}"/>): scores a decoder state s [B, Ds] against
/// encoder states h [B, T, Dh], applies a softmax over the source with a padding mask, and returns the weights a [B, T]
/// and the context c = Σ_t a_t h_t [B, Dh]. Subclasses supply the score (<see cref="Score"/>, <see cref="ScoreBackward"/>).
/// </summary>
/// <remarks>
/// A source position is padding where <c>keyPaddingMask</c> is true (PyTorch's <c>key_padding_mask</c> convention) or
/// at t ≥ <c>lengths[b]</c>. A row whose every position is padding returns zero weights, a zero context and zero
/// gradients (a softmax over nothing would be NaN).
/// Thread safety: <see cref="Forward"/>/<see cref="Backward"/> belong to one thread at a time; <see cref="Infer"/> caches
/// nothing and may run on several threads at once. The inputs of Forward are kept by reference until Backward.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class ClassicAttention<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _context = new(), _weights = new(), _dWeights = new(), _dState = new(), _dEncoder = new();
    private Tensor<T>? _state, _encoder;

    /// <summary>Sets the sizes; subclasses create their parameters.</summary>
    /// <param name="stateSize">Ds, the size of the decoder state (≥ 1).</param>
    /// <param name="encoderSize">Dh, the size of each encoder state (≥ 1).</param>
    protected ClassicAttention(int stateSize, int encoderSize)
    {
        StateSize = Guard.Positive(stateSize);
        EncoderSize = Guard.Positive(encoderSize);
    }

    /// <summary>Ds, the size of the decoder state s.</summary>
    public int StateSize { get; }

    /// <summary>Dh, the size of each encoder state h_t (and of the context).</summary>
    public int EncoderSize { get; }

    /// <summary>Training forward: caches what <see cref="Backward"/> needs. The results are module-owned, valid until the next Forward.</summary>
    /// <param name="state">The decoder state s [B, Ds].</param>
    /// <param name="encoder">The encoder states h [B, T, Dh] (T ≥ 1).</param>
    /// <param name="keyPaddingMask">Optional [B, T]: true marks padding (ignored positions).</param>
    /// <param name="lengths">Optional valid lengths per batch row, each in [0, T]; positions t ≥ lengths[b] are padding.
    /// Give this or <paramref name="keyPaddingMask"/>, not both.</param>
    public ClassicAttentionOutput<T> Forward(Tensor<T> state, Tensor<T> encoder, Tensor<bool>? keyPaddingMask = null, int[]? lengths = null)
    {
        using var pass = BeginForward();
        var (batch, steps) = Check(state, encoder, keyPaddingMask, lengths);
        var weights = _weights.Get([batch, steps]);
        var context = _context.Get([batch, EncoderSize]);
        Score(state, encoder, weights.AsSpan(), training: true);
        Attend(encoder.AsReadOnlySpan(), keyPaddingMask, lengths, batch, steps, weights.AsSpan(), context.AsSpan());
        (_state, _encoder) = (state, encoder);
        pass.Complete(context.AsReadOnlySpan(), "context");
        return new(context, weights);
    }

    /// <summary>Inference forward: caches nothing, returns new tensors, safe to call from several threads at once.</summary>
    /// <param name="state">The decoder state s [B, Ds].</param>
    /// <param name="encoder">The encoder states h [B, T, Dh].</param>
    /// <param name="keyPaddingMask">Optional [B, T]: true marks padding.</param>
    /// <param name="lengths">Optional valid lengths per batch row, each in [0, T].</param>
    public ClassicAttentionOutput<T> Infer(Tensor<T> state, Tensor<T> encoder, Tensor<bool>? keyPaddingMask = null, int[]? lengths = null)
    {
        var (batch, steps) = Check(state, encoder, keyPaddingMask, lengths);
        var weights = Tensor.Create(new T[batch * steps], [batch, steps]);
        var context = Tensor.Create(new T[batch * EncoderSize], [batch, EncoderSize]);
        Score(state, encoder, weights.AsSpan(), training: false);
        Attend(encoder.AsReadOnlySpan(), keyPaddingMask, lengths, batch, steps, weights.AsSpan(), context.AsSpan());
        return new(context, weights);
    }

    /// <summary>
    /// Backward of the last <see cref="Forward"/>: returns dL/ds and dL/dh (module-owned) and accumulates the score's
    /// parameter gradients.
    /// </summary>
    /// <param name="dContext">dL/dc [B, Dh].</param>
    /// <param name="dWeights">Optional dL/da [B, T], when the weights themselves feed the loss (e.g. an attention penalty).</param>
    public ClassicAttentionGradients<T> Backward(Tensor<T> dContext, Tensor<T>? dWeights = null)
    {
        using var pass = BeginBackward();
        var (state, encoder) = (_state!, _encoder!);
        int batch = (int)encoder.Lengths[0], steps = (int)encoder.Lengths[1];
        Guard.Shape(dContext, [batch, EncoderSize], nameof(dContext));
        if (dWeights is not null) Guard.Shape(dWeights, [batch, steps], nameof(dWeights));
        var h = encoder.AsReadOnlySpan();
        var a = _weights.Array.AsSpan(0, batch * steps);
        var dc = dContext.AsReadOnlySpan();
        var da = _dWeights.GetSpan(batch * steps);
        var dEncoder = _dEncoder.Get(encoder.Lengths, clear: true);
        var dh = dEncoder.AsSpan();
        int d = EncoderSize;
        for (int b = 0; b < batch; b++)
        {
            RowDots(h.Slice(b * steps * d, steps * d), dc.Slice(b * d, d), da.Slice(b * steps, steps));  // da_bt = dc_b · h_bt
            AddOuter(a.Slice(b * steps, steps), dc.Slice(b * d, d), dh.Slice(b * steps * d, steps * d)); // dh_bt = a_bt dc_b
        }
        if (dWeights is not null) TensorPrimitives.Add(da, dWeights.AsReadOnlySpan(), da);
        Softmax.Backward<T>(a, da, da, steps);                                                             // de, in place of da
        var dState = _dState.Get(state.Lengths);
        ScoreBackward(da, dState.AsSpan(), dh);
        pass.Complete(dState.AsReadOnlySpan(), "dState");
        return new(dState, dEncoder);
    }

    /// <summary>
    /// Computes the scores e [B, T] of every encoder state against the decoder state. With <paramref name="training"/>,
    /// called from <see cref="Forward"/> and may cache what <see cref="ScoreBackward"/> needs; otherwise called from
    /// <see cref="Infer"/> and must cache nothing (it may run on several threads at once).
    /// </summary>
    /// <param name="state">s [B, Ds], already checked.</param>
    /// <param name="encoder">h [B, T, Dh], already checked.</param>
    /// <param name="scores">e [B, T], to be written.</param>
    /// <param name="training">Whether this is the training forward.</param>
    protected abstract void Score(Tensor<T> state, Tensor<T> encoder, Span<T> scores, bool training);

    /// <summary>
    /// Backward of the last training <see cref="Score"/>: given de [B, T], writes ds [B, Ds], ADDS the score's
    /// contribution to dh [B, T, Dh] (which already holds the context's part) and accumulates parameter gradients.
    /// </summary>
    /// <param name="dScores">de [B, T] (zero at padding).</param>
    /// <param name="dState">ds [B, Ds], to be written.</param>
    /// <param name="dEncoder">dh [B, T, Dh], to be added to.</param>
    protected abstract void ScoreBackward(ReadOnlySpan<T> dScores, Span<T> dState, Span<T> dEncoder);

    /// <summary>The decoder state of the last training Forward (for <see cref="ScoreBackward"/>).</summary>
    protected Tensor<T> LastState => _state ?? throw new InvalidOperationException($"{DisplayName} has no forward pass.");

    /// <summary>The encoder states of the last training Forward (for <see cref="ScoreBackward"/>).</summary>
    protected Tensor<T> LastEncoder => _encoder ?? throw new InvalidOperationException($"{DisplayName} has no forward pass.");

    // ---- masked softmax and context -----------------------------------------------------------------

    /// <summary>Masks the scores with −∞, turns them into weights (in place) and writes the context.</summary>
    private void Attend(ReadOnlySpan<T> h, Tensor<bool>? keyPaddingMask, int[]? lengths, int batch, int steps, Span<T> weights, Span<T> context)
    {
        var mask = keyPaddingMask is null ? default : keyPaddingMask.AsReadOnlySpan();
        int d = EncoderSize;
        for (int b = 0; b < batch; b++)
        {
            var a = weights.Slice(b * steps, steps);
            for (int t = 0; t < steps; t++)
                if ((lengths is not null && t >= lengths[b]) || (!mask.IsEmpty && mask[b * steps + t])) a[t] = T.NegativeInfinity;
            if (T.IsNegativeInfinity(TensorPrimitives.Max<T>(a))) a.Clear();   // every position masked: a = 0
            else Softmax.Forward<T>(a, a, steps);
            var c = context.Slice(b * d, d);
            c.Clear();
            WeightedSum(a, h.Slice(b * steps * d, steps * d), c);                // c_b = Σ_t a_bt h_bt
        }
    }

    // ---- the three row operations attention is made of (rows: [T, D] row-major) --------------------

    /// <summary>result_t = rows_t · v for each row t.</summary>
    private protected static void RowDots(ReadOnlySpan<T> rows, ReadOnlySpan<T> v, Span<T> result)
    {
        for (int t = 0; t < result.Length; t++) result[t] = TensorPrimitives.Dot(rows.Slice(t * v.Length, v.Length), v);
    }

    /// <summary>result += Σ_t w_t rows_t.</summary>
    private protected static void WeightedSum(ReadOnlySpan<T> w, ReadOnlySpan<T> rows, Span<T> result)
    {
        for (int t = 0; t < w.Length; t++) TensorPrimitives.MultiplyAdd(rows.Slice(t * result.Length, result.Length), w[t], result, result);
    }

    /// <summary>rows_t += w_t v for each row t.</summary>
    private protected static void AddOuter(ReadOnlySpan<T> w, ReadOnlySpan<T> v, Span<T> rows)
    {
        for (int t = 0; t < w.Length; t++)
        {
            var row = rows.Slice(t * v.Length, v.Length);
            TensorPrimitives.MultiplyAdd(v, w[t], row, row);
        }
    }

    // ---- argument checks --------------------------------------------------------------------------------

    private (int Batch, int Steps) Check(Tensor<T> state, Tensor<T> encoder, Tensor<bool>? keyPaddingMask, int[]? lengths)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(encoder);
        if (state.Rank != 2 || state.Lengths[1] != StateSize)
            throw new ArgumentException($"state must have shape [B, {StateSize}] (batch, state size), got {Shapes.Format(state.Lengths)}.", nameof(state));
        int batch = (int)state.Lengths[0];
        if (encoder.Rank != 3 || encoder.Lengths[0] != batch || encoder.Lengths[2] != EncoderSize || encoder.Lengths[1] < 1)
            throw new ArgumentException(
                $"encoder must have shape [{batch}, T, {EncoderSize}] (batch of state, T ≥ 1 positions, encoder size), got {Shapes.Format(encoder.Lengths)}.", nameof(encoder));
        int steps = (int)encoder.Lengths[1];
        if (keyPaddingMask is not null && lengths is not null)
            throw new ArgumentException("Give keyPaddingMask or lengths, not both.", nameof(lengths));
        if (keyPaddingMask is not null) Guard.Shape(keyPaddingMask, [batch, steps], nameof(keyPaddingMask));
        if (lengths is not null)
        {
            Guard.Length(lengths.Length, batch, nameof(lengths));
            for (int b = 0; b < batch; b++)
                if (lengths[b] < 0 || lengths[b] > steps)
                    throw new ArgumentOutOfRangeException(nameof(lengths), lengths[b], $"lengths[{b}] must be in [0, {steps}] (the encoder's T), got {lengths[b]}.");
        }
        return (batch, steps);
    }
}
