// The models the sample trains, behind one small interface so the training loop, the checkpoint, the plots and
// the decoding commands do not care which kind they have:
//   lstm, gru, rnn   RecurrentLanguageModel<float>: Embedding(V, E) → Lstm/Gru/Rnn(tanh)(E, H, layers) → Dropout(p)
//                    → Linear(H, V); state_dict keys encoder.weight, rnn.weight_ih_l0 …, decoder.weight/bias
//                    (PyTorch's word_language_model, and charlm_peer.py's CharLm has the same names); initialised as
//                    PyTorch initialises the peer's modules: embedding N(0, 1), head U(±1/√H), recurrent U(±1/√H)
//   transformer      Gpt<float> (nanoGPT layout), see GptModel.cs
// Each step of truncated BPTT:  logits, s_T = model(x [T, B], s_0);  L = mean CE(logits, y);  backward;
// the next chunk starts from s_T (the gradient stops at the chunk boundary).
// Gradient flow (recurrent kinds): in eval mode (no dropout), from a state warmed up on the preceding text, a chunk
// of T characters is fed and the loss is taken at the LAST position only, L = mean_b CE(z_{T−1,b}, y_{T−1,b}); after
// the backward, RecurrentLayer.HiddenGradientNorms gives ‖∂L/∂h_t‖ for t = 0 … T−1 (the last layer, summed over the
// batch), which shows how far back the gradient of a prediction reaches: geometric decay for a tanh RNN, much
// slower for an LSTM.
namespace CharLm;

/// <summary>The architecture of a model (saved in the checkpoint's metadata).</summary>
internal sealed record ModelConfig
{
    public string Model { get; init; } = "lstm";
    public int Vocabulary { get; init; }
    public int Hidden { get; init; }
    public int Layers { get; init; } = 1;
    public int Embed { get; init; }
    public double Dropout { get; init; }
    /// <summary>Transformer only: attention heads and the context length (block size).</summary>
    public int Heads { get; init; }
    public int Context { get; init; }

    public static readonly string[] Kinds = ["lstm", "gru", "rnn", "transformer"];

    public bool IsRecurrent => Model != "transformer";
}

/// <summary>Lets a caller run code generic over the model's decoding state (hidden states or a KV cache).</summary>
internal interface IModelVisitor<TResult>
{
    TResult Visit<TState>(ILanguageModel<float, TState> model);
}

/// <summary>A model of the sample: one training step, validation, and the views the plots need.</summary>
internal interface ICharModel
{
    ModelConfig Config { get; }

    /// <summary>The module (parameters, state_dict, train/eval).</summary>
    Module<float> Module { get; }

    /// <summary>Forward, loss and backward of one [T, B] chunk (time-major); continues from the last chunk's state unless <paramref name="resetState"/>.</summary>
    float TrainStep(Tensor<int> inputs, Tensor<int> targets, bool resetState);

    /// <summary>
    /// Mean cross-entropy (nats/char) over the split, as <paramref name="count"/> streams in chunks of <paramref name="chunk"/>
    /// carrying the state: over the whole of every stream, or its first <paramref name="fraction"/>.
    /// </summary>
    double Evaluate(ReadOnlySpan<int> split, int count, int chunk, double fraction = 1);

    /// <summary>The character embeddings [V, E], row-major.</summary>
    (float[] Weights, int Dim) Embeddings { get; }

    TResult Accept<TResult>(IModelVisitor<TResult> visitor);
}

internal static class CharModels
{
    public static ICharModel Create(ModelConfig config, ulong seed) => config.Model switch
    {
        "lstm" or "gru" or "rnn" => new RecurrentModel(config, seed),
        "transformer" => GptModel.Create(config, seed),
        _ => throw new UserError($"--model must be one of {string.Join(", ", ModelConfig.Kinds)}, got '{config.Model}'."),
    };

    public static RnnType RnnTypeOf(string kind) => kind switch
    {
        "lstm" => RnnType.Lstm,
        "gru" => RnnType.Gru,
        _ => RnnType.RnnTanh,
    };

    /// <summary>Sum of the cross-entropies of a [T, B, V] block of logits against [T, B] targets.</summary>
    public static double SumCrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<int> targets, int vocabulary)
    {
        double total = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            var row = logits.Slice(r * vocabulary, vocabulary);
            float max = TensorPrimitives.Max(row);
            double sum = 0;
            for (int v = 0; v < vocabulary; v++) sum += Math.Exp(row[v] - max);
            total += Math.Log(sum) + max - row[targets[r]];
        }
        return total;
    }
}

/// <summary>lstm, gru, rnn: the library's <see cref="RecurrentLanguageModel{T}"/>.</summary>
internal sealed class RecurrentModel : ICharModel
{
    private readonly RecurrentLanguageModel<float> _model;
    private readonly CrossEntropyLoss<float> _loss = new();
    private RecurrentLanguageModelState<float>? _state;

    public RecurrentModel(ModelConfig config, ulong seed)
    {
        Config = config;
        var rng = new Rng(seed);
        _model = new RecurrentLanguageModel<float>(CharModels.RnnTypeOf(config.Model), config.Vocabulary, config.Embed, config.Hidden,
            config.Layers, dropout: config.Dropout, rng: rng);
        // PyTorch's default initialisation of nn.Embedding and nn.Linear, as charlm_peer.py's CharLm has it (the library's
        // constructor follows word_language_model's init_weights, U(±0.1), whose small embeddings start learning later):
        // encoder.weight ~ N(0, 1), decoder.weight and decoder.bias ~ U(±1/√H). The recurrent weights keep U(±1/√H).
        Init.Normal(_model.Encoder.Weight, rng);
        Init.UniformFanIn(_model.Decoder.Weight, config.Hidden, rng);
        Init.UniformFanIn(_model.Decoder.Bias!, config.Hidden, rng);
        _model.Rnn.DropoutRng = new Rng(seed + 7);
    }

    public ModelConfig Config { get; }

    public Module<float> Module => _model;

    public RecurrentLanguageModel<float> Language => _model;

    public (float[] Weights, int Dim) Embeddings => (_model.Encoder.Weight.Data, _model.EmbeddingSize);

    public float TrainStep(Tensor<int> inputs, Tensor<int> targets, bool resetState)
    {
        if (resetState) _state = null;
        var (logits, state) = _model.Forward(inputs, _state);
        float loss = _loss.Forward(logits, targets);
        _model.Backward(_loss.Backward());
        _state = state;
        return loss;
    }

    public double Evaluate(ReadOnlySpan<int> split, int count, int chunk, double fraction = 1)
    {
        var streams = Corpus.Streams(split, count, out int share);
        share = Math.Max(2, (int)Math.Min(share, Math.Ceiling(share * fraction)));
        RecurrentLanguageModelState<float>? state = null;
        double total = 0;
        long predicted = 0;
        for (int t0 = 0; t0 < share - 1; t0 += chunk)
        {
            int steps = Math.Min(chunk, share - 1 - t0);
            var x = Tensor.Create(streams.AsSpan(t0 * count, steps * count).ToArray(), [steps, count]);
            var (logits, next) = _model.Infer(x, state);
            total += CharModels.SumCrossEntropy(logits.AsReadOnlySpan(), streams.AsSpan((t0 + 1) * count, steps * count), Config.Vocabulary);
            predicted += steps * count;
            state = next;
        }
        return total / predicted;
    }

    /// <summary>‖∂L/∂h_t‖, t = 0 … length−1, for the loss at the last position (see the file header).</summary>
    public double[] GradientFlow(ReadOnlySpan<int> text, int batch, int length)
    {
        // A short text gets fewer streams, then a shorter chunk; the state is warmed up on up to 64 characters before it.
        batch = Math.Clamp(text.Length / (length + 1), 1, batch);
        length = Math.Min(length, text.Length / batch - 1);
        if (length < 2) throw new UserError($"the validation text ({text.Length} characters) is too short for a gradient-flow chunk.");
        var streams = Corpus.Streams(text, batch, out int share);
        int warm = Math.Max(0, Math.Min(share - length - 1, 64));
        bool training = _model.Training;
        _model.Eval();
        try
        {
            RecurrentLanguageModelState<float>? state = null;
            if (warm > 0) state = _model.Infer(Tensor.Create(streams.AsSpan(0, warm * batch).ToArray(), [warm, batch])).State;
            var x = Tensor.Create(streams.AsSpan(warm * batch, length * batch).ToArray(), [length, batch]);
            var y = streams.AsSpan((warm + 1) * batch, length * batch).ToArray();
            for (int i = 0; i < (length - 1) * batch; i++) y[i] = -100;      // only the last position counts
            var loss = new CrossEntropyLoss<float>(ignoreIndex: -100);
            var (logits, _) = _model.Forward(x, state);
            loss.Forward(logits, Tensor.Create(y, [length, batch]));
            _model.Backward(loss.Backward());
            var norms = _model.Rnn.HiddenGradientNorms.ToArray();
            _model.ZeroGrad();
            return norms;
        }
        finally
        {
            _model.Train(training);
        }
    }

    public TResult Accept<TResult>(IModelVisitor<TResult> visitor) => visitor.Visit(_model);
}
