// Additive score (Bahdanau, Cho & Bengio 2015): a one-hidden-layer MLP on the pair (s, h_t),
//   e_bt = vᵀ tanh(W₂ s_b + W₁ h_bt)
// with the names of PyTorch's seq2seq tutorial (BahdanauAttention): Wa = W₂ on the decoder state,
// Ua = W₁ on the encoder states, Va = v, each an nn.Linear (with biases by default, as the tutorial;
// Va's bias shifts every score of a row equally, so the softmax ignores it and its gradient is 0).
//
// Shapes:   Wa: Linear(Ds → Da)   Ua: Linear(Dh → Da)   Va: Linear(Da → 1)
// Forward:  q = Wa(s) [B, Da]     k = Ua(h) [B, T, Da]
//           z_bt = tanh(q_b + k_bt) [B, T, Da]
//           e = Va(z) [B, T, 1] → [B, T]
// Backward, from de [B, T]:
//           dz = Va.Backward(de)                  [B, T, Da]
//           dp = dz ⊙ (1 − z²)                     (tanh' from its output)
//           dh += Ua.Backward(dp)                 (dk = dp)
//           ds  = Wa.Backward(dq), dq_b = Σ_t dp_bt
namespace NeuralPrimitives;

/// <summary>
/// Bahdanau's additive attention: scores <c>e_t = Va(tanh(Wa s + Ua h_t))</c>, then the masked softmax and the context
/// of <see cref="ClassicAttention{T}"/>. Children <c>Wa</c> (Ds → Da), <c>Ua</c> (Dh → Da), <c>Va</c> (Da → 1), the names of
/// PyTorch's seq2seq translation tutorial, so its <c>BahdanauAttention</c> state_dict loads directly.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class AdditiveAttention<T> : ClassicAttention<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _hidden = new(), _dHidden = new(), _dScores = new(), _dQuery = new();
    private Tensor<T>? _z; // tanh(q_b + k_bt) of the last training forward

    /// <summary>Creates the module with PyTorch's Linear initialisation.</summary>
    /// <param name="stateSize">Ds (≥ 1).</param>
    /// <param name="encoderSize">Dh (≥ 1).</param>
    /// <param name="attentionSize">Da, the width of the hidden layer (≥ 1; the tutorial uses the hidden size).</param>
    /// <param name="bias">Whether Wa, Ua and Va have biases (default true, as the tutorial's nn.Linear layers).</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public AdditiveAttention(int stateSize, int encoderSize, int attentionSize, bool bias = true, Rng? rng = null)
        : base(stateSize, encoderSize)
    {
        Guard.Positive(attentionSize);
        AttentionSize = attentionSize;
        rng ??= Rng.Default;
        Wa = RegisterModule("Wa", new Linear<T>(stateSize, attentionSize, bias, rng));
        Ua = RegisterModule("Ua", new Linear<T>(encoderSize, attentionSize, bias, rng));
        Va = RegisterModule("Va", new Linear<T>(attentionSize, 1, bias, rng));
    }

    /// <summary>Da, the width of the score's hidden layer.</summary>
    public int AttentionSize { get; }

    /// <summary>W₂ of the header: the decoder-state projection Ds → Da.</summary>
    public Linear<T> Wa { get; }

    /// <summary>W₁ of the header: the encoder-state projection Dh → Da.</summary>
    public Linear<T> Ua { get; }

    /// <summary>v of the header: Da → 1.</summary>
    public Linear<T> Va { get; }

    /// <inheritdoc />
    protected override void Score(Tensor<T> state, Tensor<T> encoder, Span<T> scores, bool training)
    {
        var q = training ? Wa.Forward(state) : Wa.Infer(state);
        var k = training ? Ua.Forward(encoder) : Ua.Infer(encoder);
        var hidden = training ? _hidden.Get(k.Lengths) : Tensor.Create(new T[k.FlattenedLength], k.Lengths);
        int batch = (int)k.Lengths[0], steps = (int)k.Lengths[1], da = AttentionSize;
        ReadOnlySpan<T> qs = q.AsReadOnlySpan(), ks = k.AsReadOnlySpan();
        var z = hidden.AsSpan();
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < steps; t++)
            {
                int bt = (b * steps + t) * da;
                TensorPrimitives.Add(qs.Slice(b * da, da), ks.Slice(bt, da), z.Slice(bt, da));   // q_b + k_bt
            }
        Activations.Tanh<T>(z, z);                                                           // z = tanh(q_b + k_bt)
        var e = training ? Va.Forward(hidden) : Va.Infer(hidden);                            // [B, T, 1]
        e.AsReadOnlySpan().CopyTo(scores);
        if (training) _z = hidden;
    }

    /// <inheritdoc />
    protected override void ScoreBackward(ReadOnlySpan<T> dScores, Span<T> dState, Span<T> dEncoder)
    {
        var z = _z!;
        int batch = (int)z.Lengths[0], steps = (int)z.Lengths[1], da = AttentionSize;
        var de = _dScores.Get([batch, steps, 1]);
        dScores.CopyTo(de.AsSpan());
        var dz = Va.Backward(de);
        var dHidden = _dHidden.Get(z.Lengths);
        Activations.TanhBackward<T>(z.AsReadOnlySpan(), dz.AsReadOnlySpan(), dHidden.AsSpan());  // dp = dz ⊙ (1 − z²)
        TensorPrimitives.Add(dEncoder, Ua.Backward(dHidden).AsReadOnlySpan(), dEncoder);       // dh += Ua.Backward(dp)
        var dQuery = _dQuery.Get([batch, da], clear: true);
        ReadOnlySpan<T> dp = dHidden.AsReadOnlySpan();
        var dq = dQuery.AsSpan();
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < steps; t++)
                TensorPrimitives.Add(dq.Slice(b * da, da), dp.Slice((b * steps + t) * da, da), dq.Slice(b * da, da)); // dq_b = Σ_t dp_bt
        Wa.Backward(dQuery).AsReadOnlySpan().CopyTo(dState);                                   // ds = Wa.Backward(dq)
    }
}
