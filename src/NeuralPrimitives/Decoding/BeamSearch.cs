// Beam search: look for the continuation Y = y_1 … y_|Y| of a prompt x with the best length-normalised score
//
//   log P(Y | x) = Σ_t log p(y_t | x, y_<t)           (log p = log-softmax of the model's logits)
//   score(Y)     = log P(Y | x) / f(|Y|)
//   f(n) = n^α                      (LengthNormalization.Power; α = 1 is the mean log-probability per token)
//   f(n) = ((5 + n) / 6)^α          (LengthNormalization.Gnmt, Wu et al. 2016, "GNMT")
//   α = 0 gives f = 1: the raw log-probability, which favours short hypotheses (every token adds a log p ≤ 0).
//   |Y| counts the generated tokens, the end token included; the prompt does not count.
//
// Search, keeping W live hypotheses ("beams"), each with its raw log-probability s_b:
//   step t = 1 … maxLength:
//     candidates (b, v) for every live beam b and token v, with raw score s_b + log p(v | beam b)
//     walk the candidates from the best raw score down (ties: lower beam, then lower token id):
//       v = end token:        if the candidate is among the W best, Y_b·v is finished, scored by its own length;
//                             otherwise it is dropped (as in Hugging Face's beam search)
//       otherwise, t = maxLength:  Y_b·v is finished without an end token (until W such are taken)
//       otherwise:            Y_b·v becomes a live beam of step t + 1 (until W are taken)
//     state ← SelectStates(state, parents of the new beams); logits ← NextLogits(their last tokens)
//   Stopping early is exact: a live beam's descendants finish with raw s' ≤ s_b ≤ 0 and a length
//   n ∈ (t, maxLength], so their score is at most s_b / max(f(t + 1), f(maxLength)) (f is monotone in n).
//   Once that bound is no better than the n-th best finished score for every live beam, nothing can change the
//   n best and the search ends. The n best finished hypotheses are returned, best score first.
//   With W = 1 and α = 0 this is greedy decoding; with W ≥ V^maxLength no candidate is ever pruned and the result
//   is the exhaustive best (the tests check both).
namespace NeuralPrimitives;

/// <summary>How <see cref="BeamSearch"/> divides a hypothesis' log-probability by a function of its length |Y|.</summary>
public enum LengthNormalization
{
    /// <summary><c>f(|Y|) = |Y|^α</c> (Hugging Face's <c>length_penalty</c>).</summary>
    Power,

    /// <summary><c>f(|Y|) = ((5 + |Y|) / 6)^α</c> (GNMT, Wu et al. 2016).</summary>
    Gnmt,
}

/// <summary>One finished beam-search hypothesis.</summary>
/// <param name="Tokens">The generated tokens (the prompt excluded), ending with the end token when <paramref name="ReachedEndToken"/>.</param>
/// <param name="Score">The length-normalised score <c>LogProbability / f(|Tokens|)</c> it was ranked by.</param>
/// <param name="LogProbability">The sum of the natural log-probabilities of its tokens given the prompt.</param>
/// <param name="ReachedEndToken">Whether it ended with the end token (otherwise it stopped at the maximum length).</param>
public sealed record BeamHypothesis(IReadOnlyList<int> Tokens, double Score, double LogProbability, bool ReachedEndToken);

/// <summary>Beam search with a beam width, an end token, a maximum length and length normalisation (see the file header for the algorithm).</summary>
public static class BeamSearch
{
    /// <summary>Searches for the best continuations of <paramref name="prompt"/> and returns the <paramref name="numReturnSequences"/> best, best first.</summary>
    /// <param name="model">The language model.</param>
    /// <param name="prompt">The context (≥ 1 token, each in [0, V)).</param>
    /// <param name="beamWidth">W ≥ 1: live hypotheses kept per step. W = 1 with <paramref name="lengthPenalty"/> 0 is greedy decoding.</param>
    /// <param name="maxLength">Most tokens a hypothesis may have (≥ 1), the end token included.</param>
    /// <param name="endToken">The token that finishes a hypothesis; null: every hypothesis runs to <paramref name="maxLength"/>.</param>
    /// <param name="lengthPenalty">α (default 1): the exponent of the length normaliser; 0 ranks by raw log-probability.</param>
    /// <param name="normalization">f(|Y|) = |Y|^α (default) or GNMT's ((5 + |Y|)/6)^α.</param>
    /// <param name="numReturnSequences">How many hypotheses to return, in [1, <paramref name="beamWidth"/>] (fewer when fewer sequences exist).</param>
    /// <returns>The best hypotheses by <see cref="BeamHypothesis.Score"/>, descending.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A bad width, length, count, penalty or token.</exception>
    public static IReadOnlyList<BeamHypothesis> Run<T, TState>(ILanguageModel<T, TState> model, IReadOnlyList<int> prompt,
        int beamWidth, int maxLength, int? endToken = null, double lengthPenalty = 1.0,
        LengthNormalization normalization = LengthNormalization.Power, int numReturnSequences = 1)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        int vocabulary = model.VocabularySize;
        DecodingChecks.Prompt(prompt, vocabulary, nameof(prompt));
        Guard.Positive(beamWidth);
        Guard.Positive(maxLength);
        DecodingChecks.OptionalToken(endToken, vocabulary, nameof(endToken));
        if (!double.IsFinite(lengthPenalty))
            throw new ArgumentOutOfRangeException(nameof(lengthPenalty), lengthPenalty, $"{nameof(lengthPenalty)} must be finite, got {lengthPenalty}.");
        if (!Enum.IsDefined(normalization))
            throw new ArgumentOutOfRangeException(nameof(normalization), normalization, $"{nameof(normalization)} must be Power or Gnmt, got {(int)normalization}.");
        if (numReturnSequences < 1 || numReturnSequences > beamWidth)
            throw new ArgumentOutOfRangeException(nameof(numReturnSequences), numReturnSequences,
                $"{nameof(numReturnSequences)} must be in [1, beamWidth = {beamWidth}], got {numReturnSequences}.");

        double F(int length) => LengthNormalizer(length, lengthPenalty, normalization);
        int perBeam = Math.Min(vocabulary, beamWidth + 1); // enough: W non-end tokens and the end token
        var finished = new List<BeamHypothesis>();
        var beams = new List<(int[] Tokens, double LogP)> { ([], 0.0) };
        var state = model.InitialState(1);
        var logits = new T[vocabulary];
        model.Prefill([.. prompt], ref state, logits);

        var logProbs = new double[vocabulary];
        var order = new int[vocabulary];
        var candidates = new List<(double Score, int Beam, int Token)>();
        for (int step = 1; ; step++)
        {
            // Candidates: the perBeam best tokens of every live beam.
            candidates.Clear();
            for (int b = 0; b < beams.Count; b++)
            {
                var row = logProbs.AsSpan();
                DecodingChecks.CopyLogits<T>(logits.AsSpan(b * vocabulary, vocabulary), row);
                Softmax.LogForward<double>(row, row, vocabulary);
                Sampling.SortDescending(row, order);
                for (int r = 0; r < perBeam; r++) candidates.Add((beams[b].LogP + row[order[r]], b, order[r]));
            }
            candidates.Sort(static (x, y) =>
                x.Score != y.Score ? y.Score.CompareTo(x.Score) : x.Beam != y.Beam ? x.Beam.CompareTo(y.Beam) : x.Token.CompareTo(y.Token));

            var next = new List<(int[] Tokens, double LogP)>();
            var parents = new List<int>();
            int cut = 0;
            for (int rank = 0; rank < candidates.Count && next.Count + cut < beamWidth; rank++)
            {
                var (score, b, v) = candidates[rank];
                int[] tokens = [.. beams[b].Tokens, v];
                if (v == endToken)
                {
                    if (rank < beamWidth) finished.Add(new BeamHypothesis(tokens, score / F(tokens.Length), score, true));
                }
                else if (step == maxLength)
                {
                    finished.Add(new BeamHypothesis(tokens, score / F(tokens.Length), score, false));
                    cut++;
                }
                else
                {
                    next.Add((tokens, score));
                    parents.Add(b);
                }
            }
            beams = next;
            if (beams.Count == 0 || CannotImprove(finished, beams, numReturnSequences, Math.Max(F(step + 1), F(maxLength)))) break;

            state = model.SelectStates(state, parents.ToArray());
            var lastTokens = beams.Select(beam => beam.Tokens[^1]).ToArray();
            if (logits.Length != beams.Count * vocabulary) logits = new T[beams.Count * vocabulary];
            model.NextLogits(lastTokens, ref state, logits);
        }
        return finished.OrderByDescending(h => h.Score).Take(numReturnSequences).ToArray();
    }

    /// <summary>The length normaliser f(|Y|): <c>|Y|^α</c> (<see cref="LengthNormalization.Power"/>) or <c>((5 + |Y|)/6)^α</c> (<see cref="LengthNormalization.Gnmt"/>).</summary>
    /// <param name="length">|Y| ≥ 1, generated tokens including the end token.</param>
    /// <param name="alpha">α; 0 gives 1.</param>
    /// <param name="normalization">Which formula.</param>
    public static double LengthNormalizer(int length, double alpha, LengthNormalization normalization) => normalization switch
    {
        LengthNormalization.Power => Math.Pow(length, alpha),
        LengthNormalization.Gnmt => Math.Pow((5.0 + length) / 6.0, alpha),
        _ => throw new ArgumentOutOfRangeException(nameof(normalization), normalization, $"{nameof(normalization)} must be Power or Gnmt, got {(int)normalization}."),
    };

    /// <summary>True when at least <paramref name="count"/> hypotheses are finished and no live beam's descendant can beat the count-th best.</summary>
    private static bool CannotImprove(List<BeamHypothesis> finished, List<(int[] Tokens, double LogP)> beams, int count, double largestNormalizer)
    {
        if (finished.Count < count) return false;
        double nthBest = finished.Select(h => h.Score).OrderByDescending(s => s).ElementAt(count - 1);
        return beams.All(beam => beam.LogP / largestNormalizer <= nthBest);
    }
}
