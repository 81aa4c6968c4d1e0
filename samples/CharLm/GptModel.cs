// The transformer kind: the library's Gpt<float> (nanoGPT's GPT: learned positions, pre-norm blocks, tied head), as a
// character model, and a Hugging Face GPT-2 folder with GPT-2's tokenizer for generate/score --gpt2.
//   training     the same [T, B] stream chunks as the recurrent kinds, transposed to the GPT's [B, L] (L = T = the
//                block size); no state is carried between chunks: each chunk is its own context, so the first
//                characters of a chunk are predicted from little context
//   validation   the same 64 streams in chunks of T, each chunk a fresh context of at most T characters (a KV cache
//                cannot carry state past the block size), the mean cross-entropy over every prediction
//   attention    Gpt.InferWithAttention over the first line of the generated sample: the last block's weights
//                [H, L, L], one heatmap panel per head (Plots.Attention)
//   GPT-2        Gpt2Checkpoint.Load reads model.safetensors (F32/F16/BF16; heads from config.json beside it); the text is
//                tokenised with Microsoft.ML.Tokenizers' TiktokenTokenizer for "gpt2" (its data package ships the BPE
//                ranks: nothing is downloaded). The sample depends on these packages, the library does not.
using Microsoft.ML.Tokenizers;

namespace CharLm;

internal sealed class GptCharModel : ICharModel
{
    private readonly Gpt<float> _gpt;
    private readonly CrossEntropyLoss<float> _loss = new();
    private int[] _batchMajor = [];
    private int[] _targetsBatchMajor = [];
    private Tensor<int>? _x, _y;

    public GptCharModel(ModelConfig config, ulong seed)
    {
        if (config.Heads < 1 || config.Hidden % config.Heads != 0)
            throw new UserError($"--hidden ({config.Hidden}) must be a multiple of --heads ({config.Heads}) for the transformer.");
        Config = config;
        _gpt = new Gpt<float>(new GptConfig(config.Vocabulary, config.Context, config.Layers, config.Heads, config.Hidden) { Dropout = config.Dropout },
            seed: (int)(seed % int.MaxValue));
    }

    /// <summary>Wraps a loaded model (GPT-2) under a configuration that describes it.</summary>
    public GptCharModel(Gpt<float> gpt, ModelConfig config)
    {
        _gpt = gpt;
        Config = config;
    }

    public ModelConfig Config { get; }

    public Module<float> Module => _gpt;

    public (float[] Weights, int Dim) Embeddings => (_gpt.TokenEmbedding.Weight.Data, _gpt.Config.NEmbd);

    public float TrainStep(Tensor<int> inputs, Tensor<int> targets, bool resetState)
    {
        int steps = (int)inputs.Lengths[0], batch = (int)inputs.Lengths[1];
        if (_x is null || _batchMajor.Length != steps * batch)
        {
            _batchMajor = new int[steps * batch];
            _targetsBatchMajor = new int[steps * batch];
            _x = Tensor.Create(_batchMajor, [batch, steps]);
            _y = Tensor.Create(_targetsBatchMajor, [batch, steps]);
        }
        Transpose(inputs.AsReadOnlySpan(), _batchMajor, steps, batch);
        Transpose(targets.AsReadOnlySpan(), _targetsBatchMajor, steps, batch);
        var logits = _gpt.Forward(_x);
        float loss = _loss.Forward(logits, _y!);
        _gpt.Backward(_loss.Backward());
        return loss;
    }

    /// <summary>[T, B] time-major → [B, T] batch-major.</summary>
    private static void Transpose(ReadOnlySpan<int> timeMajor, Span<int> batchMajor, int steps, int batch)
    {
        for (int t = 0; t < steps; t++)
            for (int b = 0; b < batch; b++) batchMajor[b * steps + t] = timeMajor[t * batch + b];
    }

    public double Evaluate(ReadOnlySpan<int> split, int count, int chunk, double fraction = 1)
    {
        var streams = Corpus.Streams(split, count, out int share);
        share = Math.Max(2, (int)Math.Min(share, Math.Ceiling(share * fraction)));
        chunk = Math.Min(chunk, _gpt.Config.BlockSize);
        double total = 0;
        long predicted = 0;
        for (int t0 = 0; t0 < share - 1; t0 += chunk)
        {
            int steps = Math.Min(chunk, share - 1 - t0);
            var x = new int[steps * count];
            var y = new int[steps * count];
            Transpose(streams.AsSpan(t0 * count, steps * count), x, steps, count);
            Transpose(streams.AsSpan((t0 + 1) * count, steps * count), y, steps, count);
            var logits = _gpt.Infer(Tensor.Create(x, [count, steps]));
            total += CharModels.SumCrossEntropy(logits.AsReadOnlySpan(), y, Config.Vocabulary);
            predicted += steps * count;
        }
        return total / predicted;
    }

    /// <summary>The last block's attention weights [H][L, L] over the first non-empty line of <paramref name="sample"/> (at most the block size).</summary>
    public (string Line, double[][,] Heads)? AttentionLine(Vocabulary vocabulary, string sample)
    {
        string? line = sample.Split('\n').FirstOrDefault(l => l.Trim().Length >= 8) ?? sample.Split('\n').FirstOrDefault(l => l.Length > 0);
        if (line is null) return null;
        int[] ids;
        try { ids = vocabulary.Encode(line, "the line"); }
        catch (UserError) { return null; }
        ids = ids[..Math.Min(ids.Length, Math.Min(_gpt.Config.BlockSize, 48))];
        line = vocabulary.Decode(ids);
        if (line.Length != ids.Length) return null;          // a character outside the BMP: the labels would not line up
        var (_, weights) = _gpt.InferWithAttention(Tensor.Create(ids, [1, ids.Length]));
        var last = weights[^1].AsReadOnlySpan();                  // [1, H, L, L]
        int h = _gpt.Config.NHead, l = ids.Length;
        var heads = new double[h][,];
        for (int head = 0; head < h; head++)
        {
            heads[head] = new double[l, l];
            for (int q = 0; q < l; q++)
                for (int k = 0; k < l; k++) heads[head][q, k] = last[(head * l + q) * l + k];
        }
        return (line, heads);
    }

    public TResult Accept<TResult>(IModelVisitor<TResult> visitor) => visitor.Visit(new SlidingWindowGpt(_gpt));
}

/// <summary>The decoding state of <see cref="SlidingWindowGpt"/>: the GPT's KV cache and the tokens of each sequence so far.</summary>
internal sealed record SlidingState(GptState<float> Inner, List<int>[] History);

/// <summary>
/// A GPT for decoding past its block size: when the KV cache is full, it is rebuilt from the last half of each
/// sequence's tokens (re-encoded from position 0), then the new token is fed. Within the block size it is exactly the GPT.
/// </summary>
internal sealed class SlidingWindowGpt(Gpt<float> gpt) : ILanguageModel<float, SlidingState>
{
    public int VocabularySize => gpt.VocabularySize;

    private int Capacity => gpt.Config.BlockSize;

    public SlidingState InitialState(int batch) =>
        new(gpt.InitialState(batch), Enumerable.Range(0, batch).Select(_ => new List<int>()).ToArray());

    public void NextLogits(ReadOnlySpan<int> tokens, ref SlidingState state, Span<float> logits)
    {
        if (state.Inner.Length >= Capacity) state = Slide(state);
        var inner = state.Inner;
        gpt.NextLogits(tokens, ref inner, logits);
        for (int b = 0; b < tokens.Length; b++) state.History[b].Add(tokens[b]);
        state = state with { Inner = inner };
    }

    public void Prefill(ReadOnlySpan<int> tokens, ref SlidingState state, Span<float> logits)
    {
        int batch = state.History.Length, steps = tokens.Length / batch, v = VocabularySize;
        if (state.Inner.Length + steps <= Capacity)
        {
            var inner = state.Inner;
            gpt.Prefill(tokens, ref inner, logits);
            for (int s = 0; s < steps; s++)
                for (int b = 0; b < batch; b++) state.History[b].Add(tokens[s * batch + b]);
            state = state with { Inner = inner };
            return;
        }
        bool all = logits.Length == (long)steps * batch * v;
        var row = new float[batch * v];
        for (int s = 0; s < steps; s++)
        {
            NextLogits(tokens.Slice(s * batch, batch), ref state, row);
            if (all) row.CopyTo(logits.Slice(s * batch * v, batch * v));
            else if (s == steps - 1) row.CopyTo(logits);
        }
    }

    public SlidingState SelectStates(SlidingState state, ReadOnlySpan<int> rows)
    {
        var history = new List<int>[rows.Length];
        for (int i = 0; i < rows.Length; i++) history[i] = new List<int>(state.History[rows[i]]);
        return new SlidingState(gpt.SelectStates(state.Inner, rows), history);
    }

    private SlidingState Slide(SlidingState state)
    {
        int batch = state.History.Length, keep = Math.Max(1, Capacity / 2);
        var tokens = new int[keep * batch];
        for (int b = 0; b < batch; b++)
        {
            var h = state.History[b];
            for (int s = 0; s < keep; s++) tokens[s * batch + b] = h[h.Count - keep + s];
        }
        var inner = gpt.InitialState(batch);
        gpt.Prefill(tokens, ref inner, new float[batch * VocabularySize]);
        return state with { Inner = inner };
    }
}

internal static class GptModel
{
    public static ICharModel Create(ModelConfig config, ulong seed) => new GptCharModel(config, seed);
}

/// <summary>GPT-2's byte-level BPE (Microsoft.ML.Tokenizers) as a codec.</summary>
internal sealed class Gpt2Codec(Tokenizer tokenizer, int vocabularySize) : ITextCodec
{
    public int[] Encode(string text, string what)
    {
        var ids = tokenizer.EncodeToIds(text).ToArray();
        if (ids.FirstOrDefault(id => id >= vocabularySize, -1) is int bad && bad >= 0)
            throw new UserError($"{what} has the GPT-2 token {bad} ({Show(bad)}), outside the model's vocabulary of {vocabularySize}.");
        return ids;
    }

    public string Decode(IReadOnlyList<int> ids) => tokenizer.Decode(ids);

    public string Show(int id) => "'" + tokenizer.Decode([id]).Replace("\n", "\\n") + "'";
}

/// <summary>A Hugging Face GPT-2 folder (model.safetensors, config.json) with the GPT-2 tokenizer.</summary>
internal static class Gpt2Folder
{
    public static (ICharModel Model, ITextCodec Codec) Load(string folder)
    {
        string path = Directory.Exists(folder) ? Path.Combine(folder, "model.safetensors") : folder;
        if (!File.Exists(path)) throw new UserError($"--gpt2 '{folder}' has no model.safetensors.");
        Gpt<float> gpt;
        try { gpt = Gpt2Checkpoint.Load<float>(path); }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or FormatException or System.Text.Json.JsonException)
        {
            throw new UserError($"cannot load the GPT-2 checkpoint '{path}': {Checkpoint.FirstLine(e.Message)}");
        }
        var c = gpt.Config;
        var config = new ModelConfig
        {
            Model = "gpt2", Vocabulary = c.VocabSize, Hidden = c.NEmbd, Layers = c.NLayer, Embed = c.NEmbd, Heads = c.NHead, Context = c.BlockSize,
        };
        return (new GptCharModel(gpt, config), new Gpt2Codec(TiktokenTokenizer.CreateForModel("gpt2"), c.VocabSize));
    }
}
