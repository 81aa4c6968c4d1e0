// ILanguageModel: the one thing every decoding strategy needs from a model — the logits of the
// next token given everything fed so far, with the "everything fed so far" held in a state that
// belongs to the caller.
//
//   p(y_t | y_<t) = softmax(z_t),   z_t = NextLogits(y_{t−1}, state_{t−1})  ∈ ℝ^V
//   state_t      = what the model remembers of y_≤t
//
// A recurrent model's state is its hidden state per layer, (h, c) for an LSTM: NextLogits runs one
// step of the recurrence and replaces the state. A transformer's state is its KV cache: NextLogits
// appends the new token's keys and values and attends over all cached positions. Because the state
// is passed in and handed back (never kept inside the model), a model can decode many independent
// sequences at once, from several threads, on shared weights, using only the thread-safe Infer path.
//
// Shapes (B = the state's batch, V = VocabularySize, S = prompt steps):
//   NextLogits  tokens [B]       → logits [B, V]           (the distribution after each token)
//   Prefill     tokens [S, B]    → logits [S, B, V] or [B, V] (every position's, or the last one's)
//   SelectStates(state, rows)    → state' with sequence i = a copy of sequence rows[i]
//                                  (beam search: keep, duplicate and reorder hypotheses)
namespace NeuralPrimitives;

/// <summary>
/// A model that gives next-token logits given a caller-owned state: what greedy decoding, sampling, beam search,
/// streaming and scoring (<see cref="Generation"/>, <see cref="BeamSearch"/>, <see cref="Introspection"/>) run on.
/// </summary>
/// <remarks>
/// <para><b>The state belongs to the caller.</b> <see cref="InitialState"/> makes one for <c>B</c> independent
/// sequences; every call takes it by <c>ref</c> and leaves it describing the sequences extended by the tokens fed.
/// An implementation may update the state in place or replace it, so after a call the caller must not use an
/// earlier copy of the value (take one with <see cref="SelectStates"/> first). Nothing about a sequence is kept
/// inside the model, so implementations use only each module's thread-safe <c>Infer</c> path, never the training
/// caches, and several decodings may run on one model at once.</para>
/// <para><b>A recurrent model</b> (<see cref="RecurrentLanguageModel{T}"/>) keeps the hidden state of every layer,
/// <c>h</c> [L, B, H] (and <c>c</c> for an LSTM): <see cref="NextLogits"/> embeds the B tokens, runs one step of the
/// recurrence from <c>h</c> (<c>Lstm.Infer(x, h, c)</c>), replaces the state with the new <c>(h, c)</c> and applies
/// the head; <see cref="Prefill"/> runs the whole prompt through the same <c>Infer</c> call (one input projection
/// GEMM for all steps); <see cref="SelectStates"/> gathers rows of <c>h</c> and <c>c</c> along the batch axis.</para>
/// <para><b>A transformer</b> keeps a KV cache: for every layer the keys and values of all positions fed so far,
/// <c>K, V</c> [B, heads, capacity, headDim], and the number of positions filled, <c>n</c>. <see cref="InitialState"/>
/// allocates an empty cache (n = 0, capacity = the context length). <see cref="NextLogits"/> embeds each token at
/// position <c>n</c> (positional embedding or RoPE offset <c>n</c>), computes its query, key and value in every layer,
/// writes the key and value into slot <c>n</c>, attends from the query to slots <c>0..n</c> (the causal mask is implicit:
/// later slots are empty), applies the head to the last layer's output and sets <c>n ← n + 1</c>. <see cref="Prefill"/>
/// feeds S tokens at positions <c>n..n+S−1</c> in one causal pass, writing S slots; when the caller asks only for the
/// last position's logits, the head (a [D, V] product) runs for that position alone. <see cref="SelectStates"/> copies
/// cache rows along the batch axis (Hugging Face's <c>_reorder_cache</c>, an <c>index_select</c> on dimension 0).
/// Feeding past the capacity is an <see cref="ArgumentException"/> (or the implementation documents a sliding window).</para>
/// <para>Token ids are in [0, <see cref="VocabularySize"/>); an id outside is an <see cref="ArgumentOutOfRangeException"/>
/// naming the argument. Logits are unnormalised log-probabilities (softmax gives the distribution).</para>
/// </remarks>
/// <typeparam name="T">Element type of the logits (<c>float</c> or <c>double</c>).</typeparam>
/// <typeparam name="TState">What the model remembers of each sequence: hidden states, or a KV cache.</typeparam>
public interface ILanguageModel<T, TState> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Number of tokens V: logits have V entries per sequence and token ids are in [0, V).</summary>
    int VocabularySize { get; }

    /// <summary>A state for <paramref name="batch"/> empty, independent sequences (zero hidden state, or an empty KV cache).</summary>
    /// <param name="batch">Number of sequences B (≥ 1).</param>
    TState InitialState(int batch);

    /// <summary>
    /// Feeds one token per sequence and writes the logits of the token that follows it: <c>logits[b, v]</c> is the
    /// unnormalised log-probability that sequence b continues with token v. Advances <paramref name="state"/> by one position.
    /// </summary>
    /// <param name="tokens">One token per sequence [B], each in [0, V).</param>
    /// <param name="state">The sequences so far; on return, the sequences extended by <paramref name="tokens"/>.</param>
    /// <param name="logits">Destination [B, V], row-major.</param>
    void NextLogits(ReadOnlySpan<int> tokens, ref TState state, Span<T> logits);

    /// <summary>
    /// Feeds S tokens per sequence (a prompt, or a text to score) in one pass; equivalent to S calls of
    /// <see cref="NextLogits"/>, one per row of <paramref name="tokens"/>, but faster.
    /// </summary>
    /// <param name="tokens">Time-major [S, B]: row s holds the s-th token of every sequence; S = tokens.Length / B ≥ 1.</param>
    /// <param name="state">The sequences so far; on return, extended by all S rows.</param>
    /// <param name="logits">Either [S, B, V] (the logits after every position) or [B, V] (after the last position only,
    /// which lets a transformer skip the head for the others); the implementation tells the two apart by the length.</param>
    void Prefill(ReadOnlySpan<int> tokens, ref TState state, Span<T> logits);

    /// <summary>
    /// A new, independent state whose sequence i is a copy of sequence <c>rows[i]</c> of <paramref name="state"/>
    /// (rows may repeat or be left out, so the batch may grow or shrink: beam search expands one prompt into W beams
    /// and reorders them by parent at every step). <paramref name="state"/> itself stays valid and unchanged.
    /// </summary>
    /// <param name="state">The source state.</param>
    /// <param name="rows">Source sequence of each new sequence, each in [0, B); at least one.</param>
    TState SelectStates(TState state, ReadOnlySpan<int> rows);
}

/// <summary>Argument checks shared by the decoding strategies and by the library's <see cref="ILanguageModel{T, TState}"/> implementations.</summary>
internal static class DecodingChecks
{
    /// <summary>Throws unless every value (a token id, or a row index) is in [0, <paramref name="limit"/>), naming the first bad one and its position.</summary>
    public static void Tokens(ReadOnlySpan<int> values, int limit, string name)
    {
        for (int i = 0; i < values.Length; i++)
            if ((uint)values[i] >= (uint)limit)
                throw new ArgumentOutOfRangeException(name, values[i], $"{name}[{i}] = {values[i]} is out of range: expected a value in [0, {limit}).");
    }

    /// <summary>Throws unless <paramref name="token"/> (an end token) is null or in [0, <paramref name="vocabularySize"/>).</summary>
    public static void OptionalToken(int? token, int vocabularySize, string name)
    {
        if (token is int t && (uint)t >= (uint)vocabularySize)
            throw new ArgumentOutOfRangeException(name, t, $"{name} must be a token id in [0, {vocabularySize}), got {t}.");
    }

    /// <summary>Throws unless the prompt has at least one token, all in range.</summary>
    public static void Prompt(IReadOnlyList<int> prompt, int vocabularySize, string name)
    {
        ArgumentNullException.ThrowIfNull(prompt, name);
        if (prompt.Count == 0)
            throw new ArgumentException($"{name} must contain at least one token (expected length ≥ 1, got 0): the model needs a token " +
                "to predict the next one from (start with a beginning-of-text token if the model has one).", name);
        for (int i = 0; i < prompt.Count; i++)
            if ((uint)prompt[i] >= (uint)vocabularySize)
                throw new ArgumentOutOfRangeException(name, prompt[i],
                    $"{name}[{i}] = {prompt[i]} is out of range: expected a token id in [0, {vocabularySize}).");
    }

    /// <summary>
    /// Checks a <see cref="ILanguageModel{T, TState}.Prefill"/> call for a state of <paramref name="batch"/> sequences and
    /// returns the number of steps S and whether <paramref name="logitsLength"/> asks for every position ([S, B, V]) rather
    /// than the last one only ([B, V]).
    /// </summary>
    public static (int Steps, bool AllPositions) Prefill(int tokensLength, int batch, int logitsLength, int vocabularySize,
        string tokensName, string logitsName)
    {
        if (tokensLength == 0 || tokensLength % batch != 0)
            throw new ArgumentException($"{tokensName} must be [S, B] with S ≥ 1 for the state's B = {batch} sequences " +
                $"(a length that is a positive multiple of {batch}), got length {tokensLength}.", tokensName);
        int steps = tokensLength / batch;
        long last = (long)batch * vocabularySize, all = last * steps;
        if (logitsLength != last && logitsLength != all)
            throw new ArgumentException($"{logitsName} must be [S, B, V] = [{steps}, {batch}, {vocabularySize}] (length {all}) or " +
                $"[B, V] = [{batch}, {vocabularySize}] (length {last}), got length {logitsLength}.", logitsName);
        return (steps, logitsLength == all);
    }

    /// <summary>
    /// Copies one row of a model's logits into doubles (the decoding strategies compute in double). NaN or +∞ is an
    /// <see cref="InvalidOperationException"/> (nothing sensible can be sampled from it); −∞ is a masked token and allowed.
    /// </summary>
    public static void CopyLogits<T>(ReadOnlySpan<T> source, Span<double> destination) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        for (int v = 0; v < source.Length; v++)
        {
            double z = double.CreateTruncating(source[v]);
            if (double.IsNaN(z) || double.IsPositiveInfinity(z))
                throw new InvalidOperationException($"The model returned the logit {z} for token {v}: logits must be finite (or −∞ for a masked token).");
            destination[v] = z;
        }
    }

    /// <summary>Throws unless <paramref name="actual"/> equals <paramref name="expected"/>, describing the expected layout.</summary>
    public static void Length(int actual, long expected, string layout, string name)
    {
        if (actual != expected)
            throw new ArgumentException($"{name} must be {layout} (length {expected}), got length {actual}.", name);
    }
}
