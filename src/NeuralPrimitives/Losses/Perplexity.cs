// Perplexity of a language model: the exponential of its mean cross-entropy per token (in nats).
//
//   PPL = exp( (1/N) Σ_n −log p(y_n | context) ) = exp(mean cross-entropy)
//   A model that guesses uniformly among V tokens has PPL = V; a perfect one has PPL = 1.
// Average the cross-entropy over tokens first (total loss / total tokens), then exponentiate: the mean of
// per-batch perplexities is not the perplexity of the data.
namespace NeuralPrimitives;

/// <summary>Perplexity from cross-entropy (the usual language-model metric).</summary>
public static class Perplexity
{
    /// <summary>exp(<paramref name="meanCrossEntropy"/>), e.g. of <see cref="CrossEntropyLoss{T}"/> with <see cref="Reduction.Mean"/>.</summary>
    /// <param name="meanCrossEntropy">Mean cross-entropy per token, in nats.</param>
    public static T FromMeanCrossEntropy<T>(T meanCrossEntropy) where T : IExponentialFunctions<T> => T.Exp(meanCrossEntropy);

    /// <summary>exp(total / tokens): the perplexity of a whole evaluation set from its summed cross-entropy (<see cref="Reduction.Sum"/>).</summary>
    /// <param name="totalCrossEntropy">The cross-entropy summed over all tokens, in nats.</param>
    /// <param name="tokens">How many tokens were summed (≥ 1).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tokens"/> is less than 1.</exception>
    public static double FromTotalCrossEntropy(double totalCrossEntropy, long tokens)
    {
        if (tokens < 1) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, $"tokens must be positive (expected ≥ 1), got {tokens}.");
        return Math.Exp(totalCrossEntropy / tokens);
    }
}
