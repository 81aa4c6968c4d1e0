// Introspection: how a model sees a given text, token by token.
//
// The text y_1 … y_N is fed after an optional context c (Prefill, every position's logits); the logits z_i after
// c, y_<i give the model's distribution over the i-th token, p_i = softmax(z_i). For each scored token:
//   log-probability   ℓ_i = log p_i(y_i) = z_i[y_i] − log Σ_v e^(z_i[v])       (natural log; log-softmax)
//   surprisal         s_i = −log₂ p_i(y_i) = −ℓ_i / ln 2                       (bits: 1 bit = a fair coin flip)
//   entropy           H_i = −Σ_v p_i(v) log₂ p_i(v)                             (bits; 0·log 0 = 0) — how unsure the
//                                                                               model was before seeing y_i
//   rank              r_i = 1 + #{v : p_i(v) > p_i(y_i)}                        (1 = its first choice; ties share)
//   alternatives      the k most likely tokens (v, p_i(v)), descending, equal probabilities by lower id
// For the sequence (n scored tokens):
//   log-likelihood    LL = Σ_i ℓ_i = log P(y | c)                               (chain rule)
//   cross-entropy     CE = −LL / n                                              (nats per token)
//   perplexity        PPL = e^CE = P(y | c)^(−1/n)                              (the model was as unsure as a fair
//                                                                               choice among PPL tokens)
// Without a context the first token has nothing to be predicted from: it is the context, and y_2 … y_N are scored.
namespace NeuralPrimitives;

/// <summary>A token the model considered at a position, with its probability.</summary>
/// <param name="Token">The token id.</param>
/// <param name="Probability">Its probability under the model's prediction for that position.</param>
public sealed record TokenAlternative(int Token, double Probability);

/// <summary>What the model thought of one token of a text.</summary>
/// <param name="Position">Index of the token in the scored text.</param>
/// <param name="Token">The actual token.</param>
/// <param name="LogProbability">ℓ = log p(token | everything before it), natural log.</param>
/// <param name="SurprisalBits">−log₂ p(token): how surprised the model was, in bits.</param>
/// <param name="EntropyBits">Entropy of the predicted distribution, in bits: how unsure the model was before seeing the token.</param>
/// <param name="Rank">1 + the number of tokens the model found strictly more likely (1 = its first choice).</param>
/// <param name="Alternatives">The most likely tokens at this position, most likely first.</param>
public sealed record TokenScore(int Position, int Token, double LogProbability, double SurprisalBits, double EntropyBits, int Rank,
    IReadOnlyList<TokenAlternative> Alternatives)
{
    /// <summary>p(token) = e^ℓ.</summary>
    public double Probability => Math.Exp(LogProbability);
}

/// <summary>A text's scores: every scored token, and the totals.</summary>
/// <param name="Tokens">One entry per scored token, in text order.</param>
/// <param name="LogLikelihood">Σ ℓ_i = log P(text | context), natural log.</param>
public sealed record SequenceScore(IReadOnlyList<TokenScore> Tokens, double LogLikelihood)
{
    /// <summary>Mean negative log-likelihood per scored token, in nats (the cross-entropy loss).</summary>
    public double CrossEntropy => -LogLikelihood / Tokens.Count;

    /// <summary>e^CrossEntropy: the number of equally likely choices the model was, on average, hesitating between.</summary>
    public double Perplexity => Math.Exp(CrossEntropy);

    /// <summary>Mean surprisal per scored token, in bits (CrossEntropy / ln 2).</summary>
    public double BitsPerToken => CrossEntropy / Math.Log(2);
}

/// <summary>Scores a given text under a model: each token's log-probability, surprisal, entropy, rank and alternatives, and the perplexity.</summary>
public static class Introspection
{
    /// <summary>Feeds <paramref name="context"/> and <paramref name="text"/> to the model in one pass and scores every token of the text it predicts.</summary>
    /// <param name="model">The language model.</param>
    /// <param name="text">The tokens to score, each in [0, V). Without a context its first token is only context, so it needs ≥ 2 tokens.</param>
    /// <param name="topK">How many alternatives to list per position (≥ 0; at most V are listed).</param>
    /// <param name="context">Tokens fed before the text and not scored (a beginning-of-text token, or a prompt); may be null or empty.</param>
    /// <returns>The per-token scores (positions index <paramref name="text"/>) and the totals.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A token outside [0, V), or <paramref name="topK"/> &lt; 0.</exception>
    /// <exception cref="ArgumentException">Nothing to score (an empty text, or one token without a context).</exception>
    public static SequenceScore Score<T, TState>(ILanguageModel<T, TState> model, IReadOnlyList<int> text, int topK = 5, IReadOnlyList<int>? context = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(text);
        int vocabulary = model.VocabularySize;
        context ??= [];
        int[] all = [.. context, .. text];
        DecodingChecks.Tokens(all.AsSpan(context.Count), vocabulary, nameof(text));
        DecodingChecks.Tokens(all.AsSpan(0, context.Count), vocabulary, nameof(context));
        Guard.NonNegative(topK);
        int first = context.Count == 0 ? 1 : 0; // the first scored position of the text
        if (text.Count <= first)
            throw new ArgumentException($"{nameof(text)} has nothing to score: expected at least {first + 1} token(s) " +
                $"{(first == 1 ? "without a context (the first token is the context)" : "")}, got {text.Count}.", nameof(text));

        // Feed everything but the last token; the logits after all[j] predict all[j + 1].
        int fed = all.Length - 1;
        var logits = new T[fed * vocabulary];
        var state = model.InitialState(1);
        model.Prefill(all.AsSpan(0, fed), ref state, logits);

        var logProbs = new double[vocabulary];
        var order = new int[vocabulary];
        var scores = new List<TokenScore>(text.Count - first);
        double logLikelihood = 0;
        for (int position = first; position < text.Count; position++)
        {
            int j = context.Count + position - 1, token = text[position];
            var row = logProbs.AsSpan();
            DecodingChecks.CopyLogits<T>(logits.AsSpan(j * vocabulary, vocabulary), row);
            Softmax.LogForward<double>(row, row, vocabulary);
            var score = ScoreToken(position, token, row, Math.Min(topK, vocabulary), order);
            logLikelihood += score.LogProbability;
            scores.Add(score);
        }
        return new SequenceScore(scores, logLikelihood);
    }

    private static TokenScore ScoreToken(int position, int token, ReadOnlySpan<double> logProbs, int topK, int[] order)
    {
        double logP = logProbs[token], entropyNats = 0;
        int better = 0;
        foreach (double l in logProbs)
        {
            if (l > logP) better++;
            if (l > double.NegativeInfinity) entropyNats -= Math.Exp(l) * l;
        }
        TokenAlternative[] alternatives = [];
        if (topK > 0)
        {
            Sampling.SortDescending(logProbs, order);
            alternatives = new TokenAlternative[topK];
            for (int r = 0; r < topK; r++) alternatives[r] = new TokenAlternative(order[r], Math.Exp(logProbs[order[r]]));
        }
        return new TokenScore(position, token, logP, -logP / Math.Log(2), entropyNats / Math.Log(2), 1 + better, alternatives);
    }
}
