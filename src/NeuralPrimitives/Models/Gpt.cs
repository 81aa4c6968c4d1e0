// A GPT-style decoder-only language model (Radford et al. 2018/2019; Karpathy's nanoGPT model.py), with
// nanoGPT's names, so that a nanoGPT state_dict saved as safetensors loads with no mapping table.
//
// Shapes: tokens [B, L] (L ≤ block_size)   C = n_embd   V = vocab_size   logits [B, L, V]
// Forward:
//   x₀ = wte[tokens] + wpe[0 … L−1]           token + learned position embeddings [B, L, C] (rotary: x₀ = wte[tokens];
//                                             the positions enter each attention's q and k instead)
//   x  = drop(x₀)
//   x  = block_N(… block_1(x))                pre-norm causal blocks (Transformer/GptBlock.cs)
//   logits = ln_f(x)·wteᵀ                     the LM head lm_head is tied to wte: one [V, C] Parameter
// Loss (the caller's): L = mean over the B·L positions of −log softmax(logits)[next token]  (CrossEntropyLoss)
// Backward (given dlogits):
//   dh = dlogits·wte,  d(wte) += dlogitsᵀ·ln_f(x)          (lm_head.Backward: the head's half of the tied gradient)
//   dx = block_1.Backward(… block_N.Backward(ln_f.Backward(dh)))
//   d(wte)[tokens[b, t]] += dx₀[b, t]                       (the embedding's half: scatter-add)
//   d(wpe)[t] += Σ_b dx₀[b, t]
// Init (nanoGPT): every Linear and Embedding weight N(0, 0.02), biases 0, the two c_proj weights of each block
//   N(0, 0.02/√(2·n_layer)) (GPT-2's scaling of the residual branches), LayerNorm γ = 1, β = 0.
// Incremental generation (ILanguageModel): the state is one KV cache per block (GptState.cs). Feeding tokens at
//   positions n … n+S−1 adds wpe[n …] (or RoPE at offset n), appends every block's keys and values, and attends
//   with the bottom-right causal mask: exactly rows n … n+S−1 of the full forward, so decoding equals the full pass.
namespace NeuralPrimitives;

/// <summary>
/// A GPT decoder-only transformer (nanoGPT's <c>GPT</c>): token embedding, learned or rotary positions, <c>NLayer</c> pre-norm
/// causal blocks, a final LayerNorm and an LM head tied to the token embedding. State-dict keys are nanoGPT's:
/// <c>transformer.wte.weight</c>, <c>transformer.wpe.weight</c>, <c>transformer.h.N.ln_1.weight</c>, <c>….attn.c_attn.weight</c>,
/// <c>….attn.c_proj.*</c>, <c>….ln_2.*</c>, <c>….mlp.c_fc.*</c>, <c>….mlp.c_proj.*</c>, <c>transformer.ln_f.*</c> and
/// <c>lm_head.weight</c> (the same parameter as <c>transformer.wte.weight</c>).
/// </summary>
/// <remarks>
/// <para><b>Training:</b> <see cref="Forward"/> (tokens [B, L] → logits [B, L, V]), a loss, <see cref="Backward"/>; the step
/// allocates nothing after the first one of a shape.</para>
/// <para><b>Inference:</b> <see cref="Infer"/> (whole sequences), <see cref="InferWithAttention"/> (also the attention weights,
/// for a heatmap) and the <see cref="ILanguageModel{T, TState}"/> methods (KV-cache decoding for <see cref="Generation"/>,
/// <see cref="BeamSearch"/>, <see cref="Introspection"/>) cache nothing in the model and may run on several threads at once.</para>
/// <para><b>Loading:</b> <see cref="LoadNanoGpt(string, int?)"/> reads a nanoGPT state_dict saved as safetensors;
/// <see cref="Gpt2Checkpoint.Load{T}(string, int?)"/> reads Hugging Face's GPT-2 <c>model.safetensors</c>.</para>
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Gpt<T> : Module<T>, ILanguageModel<T, GptState<T>> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Embedding<T> _wte;
    private readonly Embedding<T>? _wpe;
    private readonly Dropout<T> _drop;
    private readonly GptBlock<T>[] _blocks;
    private readonly LayerNorm<T> _lnF;
    private readonly Linear<T> _lmHead;
    private readonly TensorBuffer<T> _x0 = new(), _dPositions = new();
    private Tensor<int>? _positions;   // 0 … L−1 for wpe, kept while L stays the same
    private Tensor<T>? _logits;

    /// <summary>Creates the model with nanoGPT's initialisation.</summary>
    /// <param name="config">Sizes and options (validated: an invalid setting is an <see cref="ArgumentException"/> naming it).</param>
    /// <param name="seed">Seed of the initialisation and of the dropout masks.</param>
    public Gpt(GptConfig config, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate(nameof(config));
        Config = config;
        var rng = new Rng(unchecked((ulong)(long)seed));
        int c = config.NEmbd;
        var rotary = config.Positions == GptPositions.Rotary
            ? new RotaryEmbedding<T>(config.HeadDim, initialPositions: Math.Min(config.BlockSize, 8192), maxCachedPositions: Math.Max(8192, Math.Min(config.BlockSize, 1 << 20)))
            : null;
        _wte = new Embedding<T>(config.VocabSize, c, rng: rng);
        Init.Normal(_wte.Weight, rng, 0, 0.02);
        var transformer = new ModuleDict<T> { ["wte"] = _wte };
        if (rotary is null)
        {
            _wpe = new Embedding<T>(config.BlockSize, c, rng: rng);
            Init.Normal(_wpe.Weight, rng, 0, 0.02);
            transformer["wpe"] = _wpe;
        }
        _drop = new Dropout<T>(config.Dropout, rng);
        transformer["drop"] = _drop;
        _blocks = new GptBlock<T>[config.NLayer];
        var h = new ModuleList<T>();
        for (int i = 0; i < _blocks.Length; i++) h.Add(_blocks[i] = new GptBlock<T>(config, rotary, rng));
        transformer["h"] = h;
        _lnF = new LayerNorm<T>(c, config.LayerNormEps, bias: config.Bias);
        transformer["ln_f"] = _lnF;
        RegisterModule("transformer", transformer);
        _lmHead = RegisterModule("lm_head", new Linear<T>(c, config.VocabSize, bias: false, rng));
        _lmHead.Weight = _wte.Weight;   // weight tying (nanoGPT: self.transformer.wte.weight = self.lm_head.weight)
    }

    /// <summary>The configuration.</summary>
    public GptConfig Config { get; }

    /// <inheritdoc />
    public int VocabularySize => Config.VocabSize;

    /// <summary><c>transformer.wte</c>, the token embedding [V, C] (its weight is also the LM head's).</summary>
    public Embedding<T> TokenEmbedding => _wte;

    /// <summary><c>transformer.wpe</c>, the learned position embedding [BlockSize, C], or null with rotary positions.</summary>
    public Embedding<T>? PositionEmbedding => _wpe;

    /// <summary><c>transformer.h</c>: the blocks.</summary>
    public IReadOnlyList<GptBlock<T>> Blocks => _blocks;

    /// <summary><c>transformer.ln_f</c>, the final LayerNorm.</summary>
    public LayerNorm<T> LnF => _lnF;

    /// <summary><c>lm_head</c>, the bias-free head C → V tied to <see cref="TokenEmbedding"/>.</summary>
    public Linear<T> LmHead => _lmHead;

    // ───────────────────────────── training ─────────────────────────────

    /// <summary>Training forward: logits for every position; caches what <see cref="Backward"/> needs.</summary>
    /// <param name="tokens">[B, L] token ids in [0, V), B ≥ 1, 1 ≤ L ≤ BlockSize (kept by reference until Backward).</param>
    /// <returns>The logits [B, L, V] (module-owned, valid until the next Forward).</returns>
    public Tensor<T> Forward(Tensor<int> tokens)
    {
        using var pass = BeginForward();
        var (b, l) = CheckTokens(tokens, nameof(tokens));
        var tok = _wte.Forward(tokens);
        var x0 = _x0.Get(tok.Lengths);
        if (_wpe is null) tok.AsReadOnlySpan().CopyTo(x0.AsSpan());
        else
        {
            if (_positions is null || _positions.Lengths[0] != l) _positions = Tensor.Create(Enumerable.Range(0, l).ToArray(), [l]);
            AddPositions(tok.AsReadOnlySpan(), _wpe.Forward(_positions).AsReadOnlySpan(), x0.AsSpan(), b);
        }
        var x = _drop.Forward(x0);
        foreach (var block in _blocks) x = block.Forward(x);
        var logits = _lmHead.Forward(_lnF.Forward(x));
        _logits = logits;
        pass.Complete(logits.AsReadOnlySpan(), "logits");
        return logits;
    }

    /// <summary>
    /// Backward of the last <see cref="Forward"/>: accumulates every parameter's gradient (the tied <c>wte</c>/<c>lm_head</c>
    /// weight gets the sum of the head's and the embedding's parts).
    /// </summary>
    /// <param name="dLogits">∂L/∂logits [B, L, V].</param>
    /// <returns>∂L/∂x₀, the gradient of the summed input embeddings [B, L, C] (module-owned; tokens are not differentiable).</returns>
    public Tensor<T> Backward(Tensor<T> dLogits)
    {
        using var pass = BeginBackward();
        ArgumentNullException.ThrowIfNull(dLogits);
        Guard.Shape(dLogits, _logits!.Lengths, nameof(dLogits));
        var dx = _lnF.Backward(_lmHead.Backward(dLogits));
        for (int i = _blocks.Length - 1; i >= 0; i--) dx = _blocks[i].Backward(dx);
        dx = _drop.Backward(dx);
        _wte.Backward(dx);
        if (_wpe is not null)
        {
            int b = (int)dx.Lengths[0], l = (int)dx.Lengths[1], c = Config.NEmbd;
            Span<nint> shape = [l, c];
            var dPos = _dPositions.Get(shape);
            ReadOnlySpan<T> d = dx.AsReadOnlySpan();
            var dp = dPos.AsSpan();
            d[..(l * c)].CopyTo(dp);
            for (int i = 1; i < b; i++) TensorPrimitives.Add(dp, d.Slice(i * l * c, l * c), dp);   // d(wpe)[t] = Σ_b dx₀[b, t]
            _wpe.Backward(dPos);
        }
        pass.Complete(dx.AsReadOnlySpan(), "dInput");
        return dx;
    }

    // ───────────────────────────── inference ─────────────────────────────

    /// <summary>Inference forward (no dropout, nothing cached, thread-safe).</summary>
    /// <param name="tokens">[B, L] token ids in [0, V), 1 ≤ L ≤ BlockSize.</param>
    /// <returns>The logits [B, L, V] (a new tensor).</returns>
    public Tensor<T> Infer(Tensor<int> tokens)
    {
        var (b, l) = CheckTokens(tokens, nameof(tokens));
        return Run(tokens.AsReadOnlySpan(), b, l, null, lastOnly: false, null);
    }

    /// <summary>
    /// Inference forward that also returns every block's attention weights, for a heatmap: <c>Weights[layer]</c> is
    /// [B, H, L, L], row t being the distribution of query position t over key positions 0 … t (zeros after t: causal).
    /// For one line of text pass B = 1 and read <c>Weights[layer]</c> as [H, L, L]. Runs the exact attention path
    /// (O(L²) memory per head); thread-safe, new tensors.
    /// </summary>
    /// <param name="tokens">[B, L] token ids in [0, V), 1 ≤ L ≤ BlockSize.</param>
    /// <returns>The logits [B, L, V] and the weights per block.</returns>
    public (Tensor<T> Logits, IReadOnlyList<Tensor<T>> Weights) InferWithAttention(Tensor<int> tokens)
    {
        var (b, l) = CheckTokens(tokens, nameof(tokens));
        var weights = new Tensor<T>[_blocks.Length];
        for (int i = 0; i < weights.Length; i++) weights[i] = Tensor.Create(new T[(long)b * Config.NHead * l * l], [b, Config.NHead, l, l]);
        return (Run(tokens.AsReadOnlySpan(), b, l, null, lastOnly: false, weights), weights);
    }

    /// <inheritdoc />
    public GptState<T> InitialState(int batch)
    {
        Guard.Positive(batch);
        var caches = new KvCache<T>[_blocks.Length];
        for (int i = 0; i < caches.Length; i++) caches[i] = _blocks[i].Attn.CreateCache(batch, Config.BlockSize);
        return new GptState<T>(caches);
    }

    /// <inheritdoc />
    public void NextLogits(ReadOnlySpan<int> tokens, ref GptState<T> state, Span<T> logits)
    {
        CheckState(state, nameof(state));
        Guard.Length(tokens.Length, state.Batch, nameof(tokens));
        DecodingChecks.Length(logits.Length, (long)state.Batch * VocabularySize, $"[B, V] = [{state.Batch}, {VocabularySize}]", nameof(logits));
        Prefill(tokens, ref state, logits);
    }

    /// <inheritdoc />
    public void Prefill(ReadOnlySpan<int> tokens, ref GptState<T> state, Span<T> logits)
    {
        CheckState(state, nameof(state));
        int batch = state.Batch, v = VocabularySize;
        var (steps, allPositions) = DecodingChecks.Prefill(tokens.Length, batch, logits.Length, v, nameof(tokens), nameof(logits));
        DecodingChecks.Tokens(tokens, v, nameof(tokens));
        if (state.Length + steps > state.Capacity)
            throw new ArgumentException($"{nameof(tokens)}: the state holds {state.Length} of {state.Capacity} positions (the block size) and {steps} more do not fit " +
                $"(expected at most {state.Capacity - state.Length} steps, got {steps}). Start a new state, or feed the last {state.Capacity} tokens again.", nameof(tokens));
        // time-major [S, B] → batch-first [B, S]
        var batchFirst = new int[tokens.Length];
        for (int s = 0; s < steps; s++)
            for (int i = 0; i < batch; i++) batchFirst[i * steps + s] = tokens[s * batch + i];
        var z = Run(batchFirst, batch, steps, state, lastOnly: !allPositions, null).AsReadOnlySpan();
        if (!allPositions) z.CopyTo(logits);                      // [B, 1, V]
        else
            for (int s = 0; s < steps; s++)                       // [B, S, V] → [S, B, V]
                for (int i = 0; i < batch; i++)
                    z.Slice((i * steps + s) * v, v).CopyTo(logits.Slice((s * batch + i) * v, v));
    }

    /// <inheritdoc />
    public GptState<T> SelectStates(GptState<T> state, ReadOnlySpan<int> rows)
    {
        CheckState(state, nameof(state));
        if (rows.IsEmpty) throw new ArgumentException($"{nameof(rows)} must select at least one sequence (expected length ≥ 1, got 0).", nameof(rows));
        DecodingChecks.Tokens(rows, state.Batch, nameof(rows));
        var caches = new KvCache<T>[_blocks.Length];
        for (int layer = 0; layer < caches.Length; layer++)
        {
            var from = state.Layers[layer];
            var to = caches[layer] = new KvCache<T>(rows.Length, from.NumKVHeads, from.HeadDim, from.Capacity);
            int slab = from.NumKVHeads * from.Capacity * from.HeadDim;   // one sequence's [G, capacity, hd]
            for (int i = 0; i < rows.Length; i++)
            {
                from.Keys.AsReadOnlySpan().Slice(rows[i] * slab, slab).CopyTo(to.Keys.AsSpan().Slice(i * slab, slab));
                from.Values.AsReadOnlySpan().Slice(rows[i] * slab, slab).CopyTo(to.Values.AsSpan().Slice(i * slab, slab));
            }
            to.Advance(from.Length);
        }
        return new GptState<T>(caches);
    }

    // ───────────────────────────── helpers ─────────────────────────────

    /// <summary>Embeddings, the blocks (with the state's caches), ln_f and the head; only the last position's logits when <paramref name="lastOnly"/>.</summary>
    private Tensor<T> Run(ReadOnlySpan<int> tokens, int b, int l, GptState<T>? state, bool lastOnly, Tensor<T>[]? weights)
    {
        int offset = state?.Length ?? 0, c = Config.NEmbd;
        var x = _wte.Infer(Tensor.Create(tokens.ToArray(), [b, l]));
        if (_wpe is not null)
        {
            var pos = _wpe.Infer(Tensor.Create(Enumerable.Range(offset, l).ToArray(), [l]));
            AddPositions(x.AsReadOnlySpan(), pos.AsReadOnlySpan(), x.AsSpan(), b);
        }
        for (int i = 0; i < _blocks.Length; i++) x = _blocks[i].Infer(x, state?.Layers[i], weights?[i]);
        if (lastOnly && l > 1)
        {
            var last = Tensor.Create(new T[b * c], [b, 1, c]);
            for (int i = 0; i < b; i++) x.AsReadOnlySpan().Slice((i * l + l - 1) * c, c).CopyTo(last.AsSpan().Slice(i * c, c));
            x = last;
        }
        return _lmHead.Infer(_lnF.Infer(x));
    }

    /// <summary>x₀[b, t] = tok[b, t] + pos[t] for every sequence b.</summary>
    private static void AddPositions(ReadOnlySpan<T> tok, ReadOnlySpan<T> pos, Span<T> x0, int batch)
    {
        int n = pos.Length;
        for (int i = 0; i < batch; i++) TensorPrimitives.Add(tok.Slice(i * n, n), pos, x0.Slice(i * n, n));
    }

    private (int B, int L) CheckTokens(Tensor<int> tokens, string name)
    {
        ArgumentNullException.ThrowIfNull(tokens, name);
        if (tokens.Rank != 2 || tokens.Lengths[0] < 1 || tokens.Lengths[1] < 1)
            throw new ArgumentException($"{name} must be [B, L] (batch-first, B, L ≥ 1), got shape {Shapes.Format(tokens.Lengths)}.", name);
        int l = (int)tokens.Lengths[1];
        if (l > Config.BlockSize)
            throw new ArgumentException($"{name} has L = {l} positions but the model's block size (context length) is {Config.BlockSize}: expected L ≤ {Config.BlockSize}.", name);
        if (!tokens.IsDense) throw new ArgumentException($"{name} must be dense (contiguous row-major).", name);
        DecodingChecks.Tokens(tokens.AsReadOnlySpan(), Config.VocabSize, name);
        return ((int)tokens.Lengths[0], l);
    }

    private void CheckState(GptState<T> state, string name)
    {
        ArgumentNullException.ThrowIfNull(state, name);
        if (state.Layers.Count != _blocks.Length || state.Layers[0].NumKVHeads != Config.KVHeads || state.Layers[0].HeadDim != Config.HeadDim)
            throw new ArgumentException($"{name} is not a state of this model (expected {_blocks.Length} layers of {Config.KVHeads} key/value heads of width {Config.HeadDim}, " +
                $"got {state.Layers.Count} layers of {state.Layers[0].NumKVHeads} heads of width {state.Layers[0].HeadDim}); make one with InitialState.", name);
    }

    // ───────────────────────────── nanoGPT checkpoints ─────────────────────────────

    /// <summary>
    /// Loads a nanoGPT state_dict saved as safetensors (<c>safetensors.torch.save_file(model.state_dict(), path)</c>, with
    /// the tied <c>lm_head.weight</c> present or left out), inferring the configuration with
    /// <see cref="InferNanoGptConfig(IStateDictSource, int?, IReadOnlyDictionary{string, string}?)"/>. Keys prefixed
    /// <c>_orig_mod.</c> (torch.compile) and the causal-mask buffers <c>….attn.bias</c> of older nanoGPT versions are accepted.
    /// </summary>
    /// <param name="safetensorsPath">The file.</param>
    /// <param name="nHead">The number of heads (shapes cannot tell it); when null, read from the file's metadata <c>n_head</c>.</param>
    /// <returns>The model, in evaluation mode.</returns>
    /// <exception cref="ArgumentException">The heads are unknown, or tensors are missing, unexpected or wrongly shaped (all listed).</exception>
    public static Gpt<T> LoadNanoGpt(string safetensorsPath, int? nHead = null)
    {
        using var file = SafeTensorsFile.Open(safetensorsPath);
        return LoadNanoGpt(file, InferNanoGptConfig(file, nHead, file.Metadata));
    }

    /// <summary>Loads a nanoGPT state_dict with a configuration given in full (e.g. rotary positions, or dropout for fine-tuning).</summary>
    /// <param name="safetensorsPath">The file.</param>
    /// <param name="config">The configuration; its shapes must match the file's.</param>
    public static Gpt<T> LoadNanoGpt(string safetensorsPath, GptConfig config)
    {
        using var file = SafeTensorsFile.Open(safetensorsPath);
        return LoadNanoGpt(file, config);
    }

    /// <summary>Loads a nanoGPT-named state (a safetensors file, a dictionary of tensors, …) into a new model of <paramref name="config"/>.</summary>
    /// <param name="source">The tensors under nanoGPT's names.</param>
    /// <param name="config">The configuration (see <see cref="InferNanoGptConfig"/>).</param>
    public static Gpt<T> LoadNanoGpt(IStateDictSource source, GptConfig config)
    {
        ArgumentNullException.ThrowIfNull(source);
        var model = new Gpt<T>(config);
        model.LoadStateDict(GptCheckpointSource.NanoGpt(source), strict: true);
        model.Eval();
        return model;
    }

    /// <summary>
    /// The configuration of a nanoGPT state: V and C from <c>transformer.wte.weight</c> [V, C], the block size from
    /// <c>transformer.wpe.weight</c> [block_size, C], n_layer from the highest <c>transformer.h.N</c>, the key/value heads from
    /// <c>c_attn.weight</c> [(H + 2G)·C/H, C], bias from the presence of <c>ln_1.bias</c>. The number of heads H cannot be
    /// read from shapes: it is <paramref name="nHead"/>, or the metadata's <c>n_head</c>. Without <c>wpe</c> the model is
    /// rotary and the metadata must give <c>block_size</c>. Metadata <c>activation</c> (<c>gelu</c>, <c>gelu_tanh</c>, <c>relu</c>)
    /// and <c>layer_norm_eps</c> are read when present; otherwise nanoGPT's exact GELU and 1e-5.
    /// </summary>
    /// <param name="source">The tensors.</param>
    /// <param name="nHead">The heads H, or null to take them from <paramref name="metadata"/>.</param>
    /// <param name="metadata">String metadata (a safetensors header's <c>__metadata__</c>), or null.</param>
    /// <exception cref="ArgumentException">A tensor needed for the inference is missing or inconsistent, or H is unknown.</exception>
    public static GptConfig InferNanoGptConfig(IStateDictSource source, int? nHead = null, IReadOnlyDictionary<string, string>? metadata = null)
        => GptCheckpointSource.InferConfig(GptCheckpointSource.NanoGpt(source), nHead, metadata, nameof(source));
}
