// RecurrentLanguageModel: PyTorch's word_language_model RNNModel (examples/word_language_model/model.py),
// with the same child names, so its state_dict loads as is: encoder.weight, rnn.weight_ih_l0 …, decoder.weight, decoder.bias.
//
// Shapes: tokens [T, B] (time-major ints in [0, V)), E = embeddingSize, H = hiddenSize, L = numLayers.
//   x       = encoder(tokens)          [T, B, E]   Embedding, weight [V, E]
//   x'      = dropout_e(x)                         (embeddingDropout; the PyTorch example uses its one dropout here too)
//   y, s_T  = rnn(x', s_0)             [T, B, H]   Rnn/Lstm/Gru over L layers, dropout between layers;
//                                                  state s = h [L, B, H] (and c [L, B, H] for an LSTM)
//   y'      = dropout(y)                           (before the head)
//   z       = decoder(y')              [T, B, V]   Linear, weight [V, H], bias [V]; the logits of the next token
//   Tied head (Press & Wolf 2017; tieWeights, needs E = H): decoder.weight IS encoder.weight, one [V, H] parameter.
// Backward, given dz = ∂L/∂z (the final state s_T gets no gradient: truncated BPTT stops at the chunk boundary,
// and the caller carries s_T into the next chunk's Forward as s_0):
//   dy' = decoder.Backward(dz)      accumulates ∂decoder.weight += dzᵀ·y', ∂decoder.bias += Σ dz
//   dy  = dy' ⊙ mask                (dropout)
//   dx' = rnn.Backward(dy)          backpropagation through time (Recurrent/RecurrentEngine.cs)
//   dx  = dx' ⊙ mask_e
//   encoder.Backward(dx)            scatter-add into the rows of the tokens seen; with a tied head this adds to the
//                                   same gradient the decoder accumulated into
// Dropout (inverted, training mode only): mask_i = 1/(1 − p) with probability 1 − p, otherwise 0; y' = y ⊙ mask.
// Initialisation (the example's init_weights): encoder.weight, decoder.weight ~ U(±0.1), decoder.bias = 0;
// the recurrent weights keep PyTorch's U(±1/√H).
// Decoding (ILanguageModel): the state is s = (h, c) per layer; NextLogits runs one step through the Infer paths
// (Embedding.Infer, Lstm.Infer from (h, c), Linear.Infer), so it caches nothing and is thread-safe.
namespace NeuralPrimitives;

/// <summary>The recurrent layer of a <see cref="RecurrentLanguageModel{T}"/> (PyTorch word_language_model's <c>rnn_type</c>).</summary>
public enum RnnType
{
    /// <summary><see cref="Lstm{T}"/> (state h and c).</summary>
    Lstm,

    /// <summary><see cref="Gru{T}"/> (state h).</summary>
    Gru,

    /// <summary><see cref="Rnn{T}"/> with tanh (state h).</summary>
    RnnTanh,

    /// <summary><see cref="Rnn{T}"/> with ReLU (state h).</summary>
    RnnRelu,
}

/// <summary>
/// The state a <see cref="RecurrentLanguageModel{T}"/> carries between chunks (truncated BPTT) and decoding steps:
/// the hidden state of every layer, <see cref="H"/> [L, B, H], and for an LSTM the cell state <see cref="C"/> [L, B, H].
/// </summary>
/// <param name="H">Hidden state [L, B, H].</param>
/// <param name="C">Cell state [L, B, H] for an LSTM, otherwise null.</param>
public sealed record RecurrentLanguageModelState<T>(Tensor<T> H, Tensor<T>? C)
{
    /// <summary>Number of sequences B.</summary>
    public int Batch => (int)H.Lengths[1];
}

/// <summary>
/// A recurrent language model, Embedding → Rnn/Lstm/Gru → dropout → Linear head (optionally tied to the embedding),
/// named as PyTorch's word_language_model <c>RNNModel</c> (<c>encoder</c>, <c>rnn</c>, <c>decoder</c>) so its state_dict
/// loads directly. Train it with <see cref="Forward"/>/<see cref="Backward"/> on [T, B] chunks, carrying the state;
/// decode from it through <see cref="ILanguageModel{T, TState}"/> (<see cref="Generation"/>, <see cref="BeamSearch"/>, <see cref="Introspection"/>).
/// </summary>
/// <remarks>
/// Unlike the PyTorch example, <see cref="Forward"/> returns logits (not log-probabilities): the loss applies the log-softmax.
/// <see cref="Forward"/>/<see cref="Backward"/> belong to one thread at a time; <see cref="Infer"/> and the decoding methods may run
/// on many threads at once while the weights are not written.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class RecurrentLanguageModel<T> : Module<T>, ILanguageModel<T, RecurrentLanguageModelState<T>>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Embedding<T> _encoder;
    private readonly RecurrentLayer<T> _rnn;
    private readonly Linear<T> _decoder;
    private readonly Dropout<T> _embeddingDropout, _outputDropout;
    private RecurrentLanguageModelState<T>? _trainState; // wraps the rnn's module-owned final state (reused: no allocation per step)
    private Tensor<T>? _logits; // the last Forward's logits (the decoder's buffer): its shape is what Backward expects

    /// <summary>Creates the model with the example's initialisation.</summary>
    /// <param name="rnnType">The recurrent layer: LSTM (default), GRU, or an Elman RNN with tanh or ReLU.</param>
    /// <param name="vocabularySize">V ≥ 1 tokens.</param>
    /// <param name="embeddingSize">E ≥ 1, the token vector size (PyTorch's <c>ninp</c>).</param>
    /// <param name="hiddenSize">H ≥ 1 (PyTorch's <c>nhid</c>).</param>
    /// <param name="numLayers">L ≥ 1 stacked recurrent layers.</param>
    /// <param name="dropout">0 ≤ p &lt; 1: dropout between the recurrent layers and before the head, in training mode.</param>
    /// <param name="tieWeights">Share one [V, H] weight between the encoder and the decoder (needs <paramref name="embeddingSize"/> = <paramref name="hiddenSize"/>).</param>
    /// <param name="embeddingDropout">0 ≤ p &lt; 1: dropout on the embeddings (the PyTorch example uses <paramref name="dropout"/> here too).</param>
    /// <param name="rng">Random source for initialisation and the dropout masks; <see cref="Rng.Default"/> when null.</param>
    public RecurrentLanguageModel(RnnType rnnType, int vocabularySize, int embeddingSize, int hiddenSize, int numLayers = 1,
        double dropout = 0, bool tieWeights = false, double embeddingDropout = 0, Rng? rng = null)
    {
        Guard.Positive(vocabularySize);
        Guard.Positive(embeddingSize);
        Guard.Positive(hiddenSize);
        Guard.Positive(numLayers);
        CheckDropout(dropout, nameof(dropout));
        CheckDropout(embeddingDropout, nameof(embeddingDropout));
        if (tieWeights && embeddingSize != hiddenSize)
            throw new ArgumentException($"{nameof(tieWeights)} needs embeddingSize = hiddenSize (one [V, H] matrix serves both), got embeddingSize {embeddingSize} and hiddenSize {hiddenSize}.", nameof(tieWeights));
        rng ??= Rng.Default;
        RnnType = rnnType;
        Dropout = dropout;
        EmbeddingDropout = embeddingDropout;
        TieWeights = tieWeights;
        _encoder = RegisterModule("encoder", new Embedding<T>(vocabularySize, embeddingSize, rng: rng));
        _rnn = RegisterModule<RecurrentLayer<T>>("rnn", rnnType switch
        {
            RnnType.Lstm => new Lstm<T>(embeddingSize, hiddenSize, numLayers, dropout: dropout, rng: rng),
            RnnType.Gru => new Gru<T>(embeddingSize, hiddenSize, numLayers, dropout: dropout, rng: rng),
            RnnType.RnnTanh => new Rnn<T>(embeddingSize, hiddenSize, numLayers, RnnNonlinearity.Tanh, dropout: dropout, rng: rng),
            RnnType.RnnRelu => new Rnn<T>(embeddingSize, hiddenSize, numLayers, RnnNonlinearity.Relu, dropout: dropout, rng: rng),
            _ => throw new ArgumentOutOfRangeException(nameof(rnnType), rnnType, $"{nameof(rnnType)} must be Lstm, Gru, RnnTanh or RnnRelu, got {(int)rnnType}."),
        });
        _decoder = RegisterModule("decoder", new Linear<T>(hiddenSize, vocabularySize, rng: rng));
        // Two instances (one module may serve once per step); they hold no parameters, so the state_dict is PyTorch's.
        _embeddingDropout = RegisterModule("embedding_drop", new Dropout<T>(embeddingDropout));
        _outputDropout = RegisterModule("drop", new Dropout<T>(dropout));
        Init.Uniform(_encoder.Weight, -0.1, 0.1, rng);
        _decoder.Bias!.Data.AsSpan().Clear();
        if (tieWeights) _decoder.Weight = _encoder.Weight;
        else Init.Uniform(_decoder.Weight, -0.1, 0.1, rng);
        DropoutRng = new Rng(rng.NextUInt64());
    }

    /// <summary>The recurrent layer type.</summary>
    public RnnType RnnType { get; }

    /// <summary>V: tokens, rows of the embedding, outputs of the head.</summary>
    public int VocabularySize => _encoder.NumEmbeddings;

    /// <summary>E: the embedding size.</summary>
    public int EmbeddingSize => _encoder.EmbeddingDim;

    /// <summary>H: the recurrent layers' hidden size.</summary>
    public int HiddenSize => _rnn.HiddenSize;

    /// <summary>L: stacked recurrent layers.</summary>
    public int NumLayers => _rnn.NumLayers;

    /// <summary>Dropout probability between the recurrent layers and before the head (training mode only).</summary>
    public double Dropout { get; }

    /// <summary>Dropout probability on the embeddings (training mode only).</summary>
    public double EmbeddingDropout { get; }

    /// <summary>Whether the head shares the embedding's weight.</summary>
    public bool TieWeights { get; }

    /// <summary>The embedding (<c>encoder</c>).</summary>
    public Embedding<T> Encoder => _encoder;

    /// <summary>The recurrent layer (<c>rnn</c>): an <see cref="Lstm{T}"/>, <see cref="Gru{T}"/> or <see cref="Rnn{T}"/>.</summary>
    public RecurrentLayer<T> Rnn => _rnn;

    /// <summary>The head (<c>decoder</c>).</summary>
    public Linear<T> Decoder => _decoder;

    /// <summary>
    /// The generator of the embedding and head dropout masks (the recurrent layer's own masks use <see cref="RecurrentLayer{T}.DropoutRng"/>).
    /// Assign a freshly seeded <see cref="Rng"/> to reproduce masks.
    /// </summary>
    public Rng DropoutRng
    {
        get;
        set
        {
            field = value ?? throw new ArgumentNullException(nameof(value));
            _embeddingDropout.Generator = _outputDropout.Generator = value;
        }
    }

    // ───────────────────────────── training ─────────────────────────────

    /// <summary>
    /// Training forward over a [T, B] chunk of tokens from <paramref name="state"/>; caches what <see cref="Backward"/> needs.
    /// For truncated BPTT pass the returned state as the next chunk's <paramref name="state"/> (it is copied on entry).
    /// </summary>
    /// <param name="tokens">[T, B] token ids in [0, V), time-major; T, B ≥ 1.</param>
    /// <param name="state">The state before the chunk (shape [L, B, H]); zeros when null.</param>
    /// <returns>The logits [T, B, V] and the state after the chunk, both module-owned and valid until the next Forward.</returns>
    public (Tensor<T> Logits, RecurrentLanguageModelState<T> State) Forward(Tensor<int> tokens, RecurrentLanguageModelState<T>? state = null)
    {
        using var pass = BeginForward();
        int batch = CheckTokens(tokens, nameof(tokens));
        CheckState(state, batch, nameof(state));
        var x = _embeddingDropout.Forward(_encoder.Forward(tokens));
        var (y, hN, cN) = RunRnn(training: true, x, state);
        var logits = _decoder.Forward(_outputDropout.Forward(y));
        if (_trainState is null || !ReferenceEquals(_trainState.H, hN) || !ReferenceEquals(_trainState.C, cN))
            _trainState = new RecurrentLanguageModelState<T>(hN, cN);
        _logits = logits;
        pass.Complete(logits.AsReadOnlySpan(), "logits");
        return (logits, _trainState);
    }

    /// <summary>
    /// Backward of the last <see cref="Forward"/>: accumulates the gradient of every parameter (a tied weight gets the sum of
    /// both uses). The final state gets no gradient (truncated BPTT). Tokens are not differentiable, so nothing is returned.
    /// </summary>
    /// <param name="dLogits">∂L/∂logits [T, B, V].</param>
    public void Backward(Tensor<T> dLogits)
    {
        using var pass = BeginBackward();
        Guard.Shape(dLogits, _logits!.Lengths, nameof(dLogits));
        var dY = _outputDropout.Backward(_decoder.Backward(dLogits));
        var dX = _rnn switch
        {
            Lstm<T> lstm => lstm.Backward(dY).DInput,
            Gru<T> gru => gru.Backward(dY).DInput,
            Rnn<T> rnn => rnn.Backward(dY).DInput,
            _ => throw new InvalidOperationException("Unknown recurrent layer."),
        };
        _encoder.Backward(_embeddingDropout.Backward(dX));
        pass.Complete();
    }

    // ───────────────────────────── inference ─────────────────────────────

    /// <summary>Inference forward (no dropout, nothing cached, thread-safe): new tensors.</summary>
    /// <param name="tokens">[T, B] token ids in [0, V), time-major.</param>
    /// <param name="state">The state before the tokens; zeros when null. Not modified.</param>
    /// <returns>The logits [T, B, V] and the state after the last token (new tensors).</returns>
    public (Tensor<T> Logits, RecurrentLanguageModelState<T> State) Infer(Tensor<int> tokens, RecurrentLanguageModelState<T>? state = null)
    {
        int batch = CheckTokens(tokens, nameof(tokens));
        CheckState(state, batch, nameof(state));
        var (y, hN, cN) = RunRnn(training: false, _encoder.Infer(tokens), state);
        return (_decoder.Infer(y), new RecurrentLanguageModelState<T>(hN, cN));
    }

    /// <inheritdoc />
    public RecurrentLanguageModelState<T> InitialState(int batch)
    {
        Guard.Positive(batch);
        return new RecurrentLanguageModelState<T>(NewState(batch), RnnType == RnnType.Lstm ? NewState(batch) : null);
    }

    /// <inheritdoc />
    public void NextLogits(ReadOnlySpan<int> tokens, ref RecurrentLanguageModelState<T> state, Span<T> logits)
    {
        ArgumentNullException.ThrowIfNull(state);
        Guard.Length(tokens.Length, state.Batch, nameof(tokens));
        DecodingChecks.Length(logits.Length, (long)state.Batch * VocabularySize, $"[B, V] = [{state.Batch}, {VocabularySize}]", nameof(logits));
        Prefill(tokens, ref state, logits);
    }

    /// <inheritdoc />
    public void Prefill(ReadOnlySpan<int> tokens, ref RecurrentLanguageModelState<T> state, Span<T> logits)
    {
        ArgumentNullException.ThrowIfNull(state);
        int batch = state.Batch;
        var (steps, allPositions) = DecodingChecks.Prefill(tokens.Length, batch, logits.Length, VocabularySize, nameof(tokens), nameof(logits));
        var (z, next) = Infer(Tensor.Create(tokens.ToArray(), [steps, batch]), state);
        var all = z.AsReadOnlySpan();
        (allPositions ? all : all[^logits.Length..]).CopyTo(logits);
        state = next;
    }

    /// <inheritdoc />
    public RecurrentLanguageModelState<T> SelectStates(RecurrentLanguageModelState<T> state, ReadOnlySpan<int> rows)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (rows.IsEmpty) throw new ArgumentException($"{nameof(rows)} must select at least one sequence (expected length ≥ 1, got 0).", nameof(rows));
        DecodingChecks.Tokens(rows, state.Batch, nameof(rows));
        return new RecurrentLanguageModelState<T>(Gather(state.H, rows), state.C is null ? null : Gather(state.C, rows));
    }

    // ───────────────────────────── helpers ─────────────────────────────

    private (Tensor<T> Y, Tensor<T> HN, Tensor<T>? CN) RunRnn(bool training, Tensor<T> x, RecurrentLanguageModelState<T>? state)
    {
        var (h0, c0) = (state?.H, state?.C);
        switch (_rnn)
        {
            case Lstm<T> lstm:
            {
                var (y, h, c) = training ? lstm.Forward(x, h0, c0) : lstm.Infer(x, h0, c0);
                return (y, h, c);
            }
            case Gru<T> gru:
            {
                var (y, h) = training ? gru.Forward(x, h0) : gru.Infer(x, h0);
                return (y, h, null);
            }
            case Rnn<T> rnn:
            {
                var (y, h) = training ? rnn.Forward(x, h0) : rnn.Infer(x, h0);
                return (y, h, null);
            }
            default:
                throw new InvalidOperationException("Unknown recurrent layer.");
        }
    }

    private Tensor<T> NewState(int batch) => Tensor.Create(new T[NumLayers * batch * HiddenSize], [NumLayers, batch, HiddenSize]);

    /// <summary>out[l, i, :] = source[l, rows[i], :].</summary>
    private static Tensor<T> Gather(Tensor<T> source, ReadOnlySpan<int> rows)
    {
        int layers = (int)source.Lengths[0], batch = (int)source.Lengths[1], size = (int)source.Lengths[2];
        var result = Tensor.Create(new T[layers * rows.Length * size], [layers, rows.Length, size]);
        ReadOnlySpan<T> src = source.AsReadOnlySpan();
        var dst = result.AsSpan();
        for (int l = 0; l < layers; l++)
            for (int i = 0; i < rows.Length; i++)
                src.Slice((l * batch + rows[i]) * size, size).CopyTo(dst.Slice((l * rows.Length + i) * size, size));
        return result;
    }

    private int CheckTokens(Tensor<int> tokens, string name)
    {
        ArgumentNullException.ThrowIfNull(tokens, name);
        if (tokens.Rank != 2 || tokens.Lengths[0] < 1 || tokens.Lengths[1] < 1)
            throw new ArgumentException($"{name} must be [T, B] (time-major, T, B ≥ 1), got shape {Shapes.Format(tokens.Lengths)}.", name);
        DecodingChecks.Tokens(tokens.AsReadOnlySpan(), VocabularySize, name);
        return (int)tokens.Lengths[1];
    }

    private void CheckState(RecurrentLanguageModelState<T>? state, int batch, string name)
    {
        if (state is null) return;
        ReadOnlySpan<nint> expected = [NumLayers, batch, HiddenSize];
        bool lstm = RnnType == RnnType.Lstm;
        if (!state.H.Lengths.SequenceEqual(expected))
            throw new ArgumentException($"{name}.H must be [L, B, H] = {Shapes.Format(expected)}, got {Shapes.Format(state.H.Lengths)}.", name);
        if (!lstm && state.C is not null)
            throw new ArgumentException($"{name}.C must be null for {RnnType} (only an LSTM has a cell state), got shape {Shapes.Format(state.C.Lengths)}.", name);
        if (lstm && (state.C is null || !state.C.Lengths.SequenceEqual(expected)))
            throw new ArgumentException($"{name}.C must be [L, B, H] = {Shapes.Format(expected)} for an LSTM, got {(state.C is null ? "null" : Shapes.Format(state.C.Lengths))}.", name);
    }

    private static void CheckDropout(double p, string name)
    {
        if (!(p >= 0 && p < 1))
            throw new ArgumentOutOfRangeException(name, p, $"{name} must be in [0, 1), got {p}.");
    }
}
