// A tiny ILanguageModel written out in the test: the logits of the next token are any function of the whole
// history (prompt and generated tokens). Its state is the list of histories, one per sequence, so every decoding
// strategy can run on hand-made distributions whose right answers are worked out by hand or by brute force.
// The reference log-softmax and the exhaustive enumeration of sequences below share no code with the library.

namespace NeuralPrimitives.Tests.Decoding;

public sealed class ToyLanguageModel(int vocabularySize, Func<IReadOnlyList<int>, double[]> logitsOf)
    : ILanguageModel<double, List<int>[]>
{
    /// <summary>A bigram model: the logits after token a are row a of the table [V, V].</summary>
    public static ToyLanguageModel Bigram(double[,] table) =>
        new(table.GetLength(0), history => Enumerable.Range(0, table.GetLength(1)).Select(v => table[history[^1], v]).ToArray());

    /// <summary>
    /// A model whose logits are a seeded random function (Gaussian, scale <paramref name="scale"/>) of the last two tokens
    /// and of the position, so that no two different sequences share a probability (no ties in rankings).
    /// </summary>
    public static ToyLanguageModel Random(int vocabularySize, ulong seed, double scale = 2)
    {
        const int positions = 40;
        var table = new double[positions, vocabularySize, vocabularySize, vocabularySize];
        var rng = new Rng(seed);
        for (int t = 0; t < positions; t++)
            for (int a = 0; a < vocabularySize; a++)
                for (int b = 0; b < vocabularySize; b++)
                    for (int v = 0; v < vocabularySize; v++) table[t, a, b, v] = rng.Normal(0, scale);
        return new(vocabularySize, h =>
        {
            int t = Math.Min(h.Count, positions - 1), a = h.Count >= 2 ? h[^2] : 0, b = h[^1];
            return Enumerable.Range(0, vocabularySize).Select(v => table[t, a, b, v]).ToArray();
        });
    }

    public int VocabularySize { get; } = vocabularySize;

    /// <summary>How many NextLogits and Prefill calls the model served.</summary>
    public int Calls { get; private set; }

    public List<int>[] InitialState(int batch) => Enumerable.Range(0, batch).Select(_ => new List<int>()).ToArray();

    public void NextLogits(ReadOnlySpan<int> tokens, ref List<int>[] state, Span<double> logits)
    {
        Assert.Equal(state.Length, tokens.Length);
        Assert.Equal(state.Length * VocabularySize, logits.Length);
        Calls++;
        for (int b = 0; b < state.Length; b++)
        {
            state[b].Add(tokens[b]);
            logitsOf(state[b]).CopyTo(logits.Slice(b * VocabularySize, VocabularySize));
        }
    }

    public void Prefill(ReadOnlySpan<int> tokens, ref List<int>[] state, Span<double> logits)
    {
        int batch = state.Length, steps = tokens.Length / batch, v = VocabularySize;
        bool all = logits.Length == steps * batch * v;
        Assert.True(all || logits.Length == batch * v);
        var row = new double[batch * v];
        for (int s = 0; s < steps; s++)
        {
            NextLogits(tokens.Slice(s * batch, batch), ref state, row);
            if (all) row.CopyTo(logits.Slice(s * batch * v));
        }
        if (!all) row.CopyTo(logits);
    }

    public List<int>[] SelectStates(List<int>[] state, ReadOnlySpan<int> rows)
    {
        var result = new List<int>[rows.Length];
        for (int i = 0; i < rows.Length; i++) result[i] = [.. state[rows[i]]];
        return result;
    }

    /// <summary>log p(v | history) for every v, computed directly (Math.Exp, Math.Log).</summary>
    public double[] LogProbabilities(IReadOnlyList<int> history) => Reference.LogSoftmax(logitsOf(history));
}

/// <summary>Slow, obvious reference computations for the decoding tests.</summary>
public static class Reference
{
    public static double[] LogSoftmax(IReadOnlyList<double> z)
    {
        double max = z.Max();
        double logSum = Math.Log(z.Sum(x => Math.Exp(x - max))) + max;
        return z.Select(x => x - logSum).ToArray();
    }

    public static double[] Softmax(IReadOnlyList<double> z) => LogSoftmax(z).Select(Math.Exp).ToArray();

    /// <summary>
    /// Every continuation of <paramref name="prompt"/> the beam search can return: sequences that end at the first end
    /// token, or reach <paramref name="maxLength"/> tokens without one; with their raw log-probability.
    /// </summary>
    public static List<(int[] Tokens, double LogP, bool Ended)> AllContinuations(ToyLanguageModel model, IReadOnlyList<int> prompt, int maxLength, int? endToken)
    {
        var result = new List<(int[], double, bool)>();
        void Walk(List<int> tokens, double logP)
        {
            var logProbs = model.LogProbabilities([.. prompt, .. tokens]);
            for (int v = 0; v < model.VocabularySize; v++)
            {
                var next = new List<int>(tokens) { v };
                double s = logP + logProbs[v];
                if (v == endToken) result.Add(([.. next], s, true));
                else if (next.Count == maxLength) result.Add(([.. next], s, false));
                else Walk(next, s);
            }
        }
        Walk([], 0);
        return result;
    }

    /// <summary>f(|Y|) written out again from the formulas: |Y|^α, or ((5 + |Y|)/6)^α.</summary>
    public static double Normalizer(int length, double alpha, bool gnmt) => gnmt ? Math.Pow((5.0 + length) / 6, alpha) : Math.Pow(length, alpha);

    /// <summary>Greedy decoding written out directly: argmax (first maximum) of the model's log-probabilities at each step.</summary>
    public static List<int> Greedy(ToyLanguageModel model, IReadOnlyList<int> prompt, int maxNewTokens, int? endToken)
    {
        var tokens = new List<int>();
        while (tokens.Count < maxNewTokens)
        {
            var lp = model.LogProbabilities([.. prompt, .. tokens]);
            int best = 0;
            for (int v = 1; v < lp.Length; v++) if (lp[v] > lp[best]) best = v;
            tokens.Add(best);
            if (best == endToken) break;
        }
        return tokens;
    }

    /// <summary>
    /// The chi-square statistic Σ (observed − expected)² / expected over the tokens with expected count &gt; 0, and
    /// whether any token with expected probability 0 was observed.
    /// </summary>
    public static (double ChiSquare, int DegreesOfFreedom, bool ImpossibleSeen) ChiSquare(int[] counts, double[] probabilities)
    {
        int n = counts.Sum(), df = -1;
        double chi = 0;
        bool impossible = false;
        for (int v = 0; v < counts.Length; v++)
        {
            if (probabilities[v] == 0) { impossible |= counts[v] > 0; continue; }
            double expected = n * probabilities[v];
            chi += (counts[v] - expected) * (counts[v] - expected) / expected;
            df++;
        }
        return (chi, df, impossible);
    }

    /// <summary>
    /// The 99.9% quantile of the chi-square distribution with <paramref name="df"/> degrees of freedom
    /// (Wilson–Hilferty: df·(1 − 2/(9df) + z·√(2/(9df)))³ with z = 3.09, accurate to a few percent for df ≥ 1).
    /// </summary>
    public static double ChiSquareQuantile999(int df)
    {
        double a = 2.0 / (9 * df);
        return df * Math.Pow(1 - a + 3.090 * Math.Sqrt(a), 3);
    }
}
