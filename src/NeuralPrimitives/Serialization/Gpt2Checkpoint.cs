// Loading GPT checkpoints written elsewhere into Gpt<T>: Hugging Face's GPT-2 model.safetensors, and
// nanoGPT state_dicts (through Gpt<T>.LoadNanoGpt), by renaming keys and transposing where layouts differ.
//
// Hugging Face GPT2Model / GPT2LMHeadModel (transformers' modeling_gpt2.py), per block N:
//   HF key (optionally prefixed "transformer.")    HF shape      → our key (nanoGPT's)                        our shape
//   wte.weight                                      [V, C]          transformer.wte.weight (and lm_head.weight) [V, C]
//   wpe.weight                                      [P, C]          transformer.wpe.weight                      [P, C]
//   h.N.ln_1.weight / .bias                         [C]             transformer.h.N.ln_1.*                      [C]
//   h.N.attn.c_attn.weight                          [C, 3C]  ᵀ      transformer.h.N.attn.c_attn.weight          [3C, C]
//   h.N.attn.c_attn.bias                            [3C]            transformer.h.N.attn.c_attn.bias            [3C]
//   h.N.attn.c_proj.weight                          [C, C]   ᵀ      transformer.h.N.attn.c_proj.weight          [C, C]
//   h.N.ln_2.*, h.N.mlp.c_fc.weight [C, 4C] ᵀ, h.N.mlp.c_proj.weight [4C, C] ᵀ, their biases, ln_f.*      (likewise)
//   h.N.attn.bias, h.N.attn.masked_bias             buffers (the causal mask, −1e4)     ignored
// GPT-2's Conv1D stores its weight [in, out] and computes y = x·W + b, so W_ours = W_HFᵀ (a transpose on load);
// nn.Linear stores [out, in] and computes y = x·Wᵀ + b. Columns 0…C of c_attn are q, then k, then v, as nanoGPT's.
// GPT-2 uses the tanh GELU ("gelu_new") and layer_norm_epsilon 1e-5. Dtypes F32, F16, BF16 (and F64) widen on read.
// Configuration: V, C from wte, n_positions from wpe, n_layer from the highest h.N; n_head is not in any shape: it
// comes from config.json next to the file (n_head), or from the caller; a configuration that cannot be inferred,
// or a config.json that contradicts the shapes, is an ArgumentException saying what is missing.
namespace NeuralPrimitives;

/// <summary>
/// Loads Hugging Face GPT-2 checkpoints (<c>model.safetensors</c> of <c>gpt2</c>, <c>gpt2-medium</c>, …, or a tiny
/// GPT-2-shaped one) into a <see cref="Gpt{T}"/>: renames <c>h.N.*</c> to nanoGPT's <c>transformer.h.N.*</c>, transposes the
/// Conv1D weights, ties the head to <c>wte</c>, sets the tanh GELU. Nothing is downloaded: the caller provides the file.
/// </summary>
public static class Gpt2Checkpoint
{
    /// <summary>
    /// Reads a GPT-2 <c>model.safetensors</c>; the configuration is inferred from the shapes, with the number of heads from
    /// <c>config.json</c> in the same folder (or <paramref name="nHead"/>).
    /// </summary>
    /// <param name="modelSafetensorsPath">The file (F32, F16 or BF16).</param>
    /// <param name="nHead">The heads H when there is no <c>config.json</c> (12 for GPT-2 small); must agree with it when both are given.</param>
    /// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
    /// <returns>The model, in evaluation mode.</returns>
    /// <exception cref="ArgumentException">The configuration cannot be inferred, or tensors are missing, unexpected or wrongly shaped (all listed in one message).</exception>
    public static Gpt<T> Load<T>(string modelSafetensorsPath, int? nHead = null) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        using var file = SafeTensorsFile.Open(modelSafetensorsPath);
        var source = GptCheckpointSource.Gpt2(file);
        var config = InferConfig(source, modelSafetensorsPath, nHead);
        var model = new Gpt<T>(config);
        model.LoadStateDict(source, strict: true);
        model.Eval();
        return model;
    }

    /// <summary>The configuration <see cref="Load{T}"/> would use (see there).</summary>
    /// <param name="modelSafetensorsPath">The file.</param>
    /// <param name="nHead">The heads when there is no <c>config.json</c>.</param>
    public static GptConfig InferConfig(string modelSafetensorsPath, int? nHead = null)
    {
        using var file = SafeTensorsFile.Open(modelSafetensorsPath);
        return InferConfig(GptCheckpointSource.Gpt2(file), modelSafetensorsPath, nHead);
    }

    private static GptConfig InferConfig(GptCheckpointSource source, string path, int? nHead)
    {
        const string param = "modelSafetensorsPath";
        var settings = new Dictionary<string, string> { ["activation"] = "gelu_tanh" };
        var json = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", "config.json");
        var problems = new List<string>();
        Dictionary<string, System.Text.Json.JsonElement>? hf = null;
        if (File.Exists(json))
        {
            try
            {
                hf = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, System.Text.Json.JsonElement>>(File.ReadAllText(json));
            }
            catch (System.Text.Json.JsonException e)
            {
                throw new ArgumentException($"{param}: the config.json next to it ({json}) is not valid JSON: {e.Message}", param, e);
            }
        }
        int? Int(string key) => hf is not null && hf.TryGetValue(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number ? v.GetInt32() : null;
        if (Int("n_head") is int jsonHeads)
        {
            if (nHead is int given && given != jsonHeads)
                throw new ArgumentException($"nHead = {given} disagrees with n_head = {jsonHeads} in {json}.", nameof(nHead));
            settings["n_head"] = jsonHeads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (hf is not null && hf.TryGetValue("layer_norm_epsilon", out var eps) && eps.ValueKind == System.Text.Json.JsonValueKind.Number)
            settings["layer_norm_eps"] = eps.GetDouble().ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        if (hf is not null && hf.TryGetValue("activation_function", out var act) && act.ValueKind == System.Text.Json.JsonValueKind.String)
            settings["activation"] = act.GetString() switch
            {
                "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => "gelu_tanh",
                "gelu" => "gelu",
                "relu" => "relu",
                var other => throw new ArgumentException($"{param}: activation_function '{other}' in {json} is not supported (expected gelu_new, gelu or relu).", param),
            };
        var config = GptCheckpointSource.InferConfig(source, nHead, settings, param,
            "GPT-2's config.json (n_head) is not next to the file: pass nHead (12 for GPT-2 small, 16 medium, 20 large, 25 xl)");
        void Check(string key, int actual)
        {
            if (Int(key) is int expected && expected != actual)
                problems.Add($"{key} = {expected} in config.json but the tensors give {actual}");
        }
        Check("vocab_size", config.VocabSize);
        Check("n_embd", config.NEmbd);
        Check("n_layer", config.NLayer);
        Check("n_positions", config.BlockSize);
        if (problems.Count > 0)
            throw new ArgumentException($"{param}: the configuration cannot be inferred consistently: {string.Join("; ", problems)}.", param);
        return config;
    }
}

/// <summary>
/// A view of a checkpoint under our (nanoGPT's) key names: keys renamed, some weights transposed ([in, out] → [out, in]),
/// buffers that carry no learned state dropped, and the tied <c>lm_head.weight</c> supplied from <c>transformer.wte.weight</c>
/// when the file leaves it out.
/// </summary>
internal sealed class GptCheckpointSource : IStateDictSource
{
    private const string Wte = "transformer.wte.weight", Head = "lm_head.weight";
    private readonly IStateDictSource _inner;
    private readonly OrderedDictionary<string, (string Key, bool Transpose)> _map = new();

    private GptCheckpointSource(IStateDictSource inner) => _inner = inner;

    /// <summary>nanoGPT: names as they are (without a torch.compile <c>_orig_mod.</c> prefix); the causal-mask buffers dropped.</summary>
    public static GptCheckpointSource NanoGpt(IStateDictSource inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        var source = new GptCheckpointSource(inner);
        foreach (var key in inner.Keys)
        {
            var name = key.StartsWith("_orig_mod.", StringComparison.Ordinal) ? key["_orig_mod.".Length..] : key;
            if (IsMaskBuffer(name)) continue;
            source._map[name] = (key, false);
        }
        source.AliasHead();
        return source;
    }

    /// <summary>Hugging Face GPT-2: <c>transformer.</c> added where missing, Conv1D weights transposed, mask buffers dropped.</summary>
    public static GptCheckpointSource Gpt2(IStateDictSource inner)
    {
        var source = new GptCheckpointSource(inner);
        foreach (var key in inner.Keys)
        {
            var name = key.StartsWith("transformer.", StringComparison.Ordinal) || key == Head ? key : "transformer." + key;
            if (IsMaskBuffer(name)) continue;
            bool conv1d = name.StartsWith("transformer.h.", StringComparison.Ordinal) && inner.GetShape(key).Length == 2 &&
                (name.EndsWith(".attn.c_attn.weight", StringComparison.Ordinal) || name.EndsWith(".attn.c_proj.weight", StringComparison.Ordinal) ||
                 name.EndsWith(".mlp.c_fc.weight", StringComparison.Ordinal) || name.EndsWith(".mlp.c_proj.weight", StringComparison.Ordinal));
            source._map[name] = (key, conv1d);
        }
        source.AliasHead();
        return source;
    }

    private static bool IsMaskBuffer(string name) =>
        name.StartsWith("transformer.h.", StringComparison.Ordinal) && (name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal));

    private void AliasHead()
    {
        if (!_map.ContainsKey(Head) && _map.TryGetValue(Wte, out var wte)) _map[Head] = wte;
    }

    public IEnumerable<string> Keys => _map.Keys;

    public bool Contains(string key) => _map.ContainsKey(key);

    public int[] GetShape(string key)
    {
        var (k, transpose) = _map[key];
        var shape = _inner.GetShape(k);
        return transpose ? [shape[1], shape[0]] : shape;
    }

    public void CopyTo<TDest>(string key, Span<TDest> destination) where TDest : unmanaged, IBinaryFloatingPointIeee754<TDest>
    {
        var (k, transpose) = _map[key];
        if (!transpose)
        {
            _inner.CopyTo(k, destination);
            return;
        }
        var shape = _inner.GetShape(k);
        int rows = shape[0], cols = shape[1];       // stored [in, out]; destination [out, in]
        var stored = new TDest[destination.Length];
        _inner.CopyTo<TDest>(k, stored);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                destination[j * rows + i] = stored[i * cols + j];
    }

    /// <summary>The configuration read from the shapes (see <see cref="Gpt{T}.InferNanoGptConfig"/>), with settings from metadata.</summary>
    public static GptConfig InferConfig(GptCheckpointSource source, int? nHead, IReadOnlyDictionary<string, string>? metadata, string paramName,
        string headHint = "pass nHead, or save the state with metadata n_head")
    {
        string? Meta(string key) => metadata is not null && metadata.TryGetValue(key, out var v) ? v : null;
        int? MetaInt(string key)
        {
            var v = Meta(key);
            if (v is null) return null;
            return int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n) ? n
                : throw new ArgumentException($"{paramName}: metadata {key} = '{v}' is not an integer.", paramName);
        }
        if (!source.Contains(Wte) || source.GetShape(Wte).Length != 2)
            throw new ArgumentException($"{paramName}: the GPT configuration cannot be inferred: expected a token embedding '{Wte}' (HF: 'wte.weight') of shape [V, C], " +
                $"{(source.Contains(Wte) ? "got shape " + Shapes.Format(source.GetShape(Wte)) : "but there is none")}. Keys: {string.Join(", ", source.Keys.Take(12))}{(source.Keys.Count() > 12 ? ", …" : "")}.", paramName);
        var wte = source.GetShape(Wte);
        int vocab = wte[0], c = wte[1];
        int layers = 0;
        foreach (var key in source.Keys)
            if (key.StartsWith("transformer.h.", StringComparison.Ordinal))
            {
                var rest = key.AsSpan("transformer.h.".Length);
                int dot = rest.IndexOf('.');
                if (dot > 0 && int.TryParse(rest[..dot], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n))
                    layers = Math.Max(layers, n + 1);
            }
        if (layers == 0)
            throw new ArgumentException($"{paramName}: the GPT configuration cannot be inferred: no block tensors 'transformer.h.N.…' (HF: 'h.N.…') were found.", paramName);
        int heads = nHead ?? MetaInt("n_head")
            ?? throw new ArgumentException($"{paramName}: the number of heads n_head cannot be inferred from the tensor shapes; {headHint}.", nameof(nHead));
        if (heads < 1 || c % heads != 0)
            throw new ArgumentException($"{paramName}: n_head = {heads} does not divide n_embd = {c} (from '{Wte}' [V, C]).", nameof(nHead));
        GptPositions positions;
        int blockSize;
        if (source.Contains("transformer.wpe.weight"))
        {
            positions = GptPositions.Learned;
            blockSize = source.GetShape("transformer.wpe.weight")[0];
        }
        else
        {
            positions = GptPositions.Rotary;
            blockSize = MetaInt("block_size")
                ?? throw new ArgumentException($"{paramName}: the GPT configuration cannot be inferred: there is no position embedding 'transformer.wpe.weight' " +
                    "(so positions are rotary) and no metadata block_size gives the context length.", paramName);
        }
        const string attn = "transformer.h.0.attn.c_attn.weight";
        int kvHeads = heads;
        if (source.Contains(attn))
        {
            int rows = source.GetShape(attn)[0], hd = c / heads;   // rows = (H + 2G)·hd
            if (rows % hd != 0 || (rows / hd - heads) % 2 != 0 || rows / hd <= heads || heads % ((rows / hd - heads) / 2) != 0)
                throw new ArgumentException($"{paramName}: '{attn}' has {rows} rows, which is not (H + 2G)·hd for H = {heads} heads of width {hd} with G dividing H.", paramName);
            kvHeads = (rows / hd - heads) / 2;
        }
        var activation = Meta("activation") switch
        {
            null or "gelu" => FeedForwardActivation.Gelu,
            "gelu_tanh" => FeedForwardActivation.GeluTanh,
            "relu" => FeedForwardActivation.Relu,
            var other => throw new ArgumentException($"{paramName}: metadata activation = '{other}' is not one of gelu, gelu_tanh, relu.", paramName),
        };
        double eps = Meta("layer_norm_eps") is string e
            ? double.Parse(e, System.Globalization.CultureInfo.InvariantCulture)
            : 1e-5;
        var config = new GptConfig(vocab, blockSize, layers, heads, c)
        {
            Bias = source.Contains("transformer.h.0.ln_1.bias"),
            Positions = positions,
            NKVHead = kvHeads == heads ? 0 : kvHeads,
            Activation = activation,
            LayerNormEps = eps,
        };
        config.Validate(paramName);
        return config;
    }
}
