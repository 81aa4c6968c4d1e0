namespace NeuralPrimitives.Tests.Decoding;

// Scores on a distribution worked out by hand, the chain rule (Σ per-token log-probabilities = the sequence's), and
// the recurrent model's scores against its own Infer logits with a log-softmax written in the test.
public class IntrospectionTests
{
    // Every position predicts p = [1/2, 1/4, 1/8, 1/8]: surprisals 1, 2, 3, 3 bits; entropy 1.75 bits.
    private static readonly ToyLanguageModel Dyadic = new(4, _ => [Math.Log(0.5), Math.Log(0.25), Math.Log(0.125), Math.Log(0.125)]);

    [Fact]
    public void ScoresOfAHandWorkedDistribution()
    {
        var score = Introspection.Score(Dyadic, [2, 0, 3, 1], topK: 3);
        Assert.Equal([1, 2, 3], score.Tokens.Select(t => t.Position));
        Assert.Equal([0, 3, 1], score.Tokens.Select(t => t.Token));
        Assert.Equal([1.0, 3, 2], score.Tokens.Select(t => Math.Round(t.SurprisalBits, 12)));
        Assert.Equal([0.5, 0.125, 0.25], score.Tokens.Select(t => Math.Round(t.Probability, 12)));
        Assert.All(score.Tokens, t => Assert.Equal(1.75, t.EntropyBits, 12));
        Assert.Equal([1, 3, 2], score.Tokens.Select(t => t.Rank)); // 1/8 has two strictly likelier tokens; its tie does not count
        foreach (var t in score.Tokens)
        {
            Assert.Equal([0, 1, 2], t.Alternatives.Select(a => a.Token)); // the tie 2 / 3 goes to the lower id
            Assert.Equal([0.5, 0.25, 0.125], t.Alternatives.Select(a => Math.Round(a.Probability, 12)));
        }
        Assert.Equal(Math.Log(1.0 / 64), score.LogLikelihood, 12);
        Assert.Equal(2 * Math.Log(2), score.CrossEntropy, 12);
        Assert.Equal(4, score.Perplexity, 10);
        Assert.Equal(2, score.BitsPerToken, 12);
    }

    [Fact]
    public void AContextIsFedButNotScored()
    {
        var score = Introspection.Score(Dyadic, [0, 3, 1], topK: 0, context: [2]);
        Assert.Equal([0, 1, 2], score.Tokens.Select(t => t.Position));
        Assert.Equal([0, 3, 1], score.Tokens.Select(t => t.Token));
        Assert.All(score.Tokens, t => Assert.Empty(t.Alternatives));
        Assert.Equal(Math.Log(1.0 / 64), score.LogLikelihood, 12);
    }

    [Theory]
    [InlineData(31ul)]
    [InlineData(32ul)]
    [InlineData(33ul)]
    public void TokenLogProbabilitiesSumToTheSequenceLikelihood(ulong seed)
    {
        var model = ToyLanguageModel.Random(6, seed);
        var rng = new Rng(seed);
        int[] context = [1, 4];
        var text = Enumerable.Range(0, 20).Select(_ => rng.NextInt(6)).ToArray();
        var score = Introspection.Score(model, text, topK: 6, context: context);

        Assert.Equal(score.Tokens.Sum(t => t.LogProbability), score.LogLikelihood, 12);
        double chain = 0;
        for (int i = 0; i < text.Length; i++)
        {
            var logProbs = model.LogProbabilities([.. context, .. text.Take(i)]);
            chain += logProbs[text[i]];
            var t = score.Tokens[i];
            Assert.Equal(logProbs[text[i]], t.LogProbability, 12);
            Assert.Equal(-logProbs[text[i]] / Math.Log(2), t.SurprisalBits, 12);
            Assert.Equal(-logProbs.Sum(l => Math.Exp(l) * l) / Math.Log(2), t.EntropyBits, 12);
            Assert.Equal(1 + logProbs.Count(l => l > logProbs[text[i]]), t.Rank);
            Assert.Equal(Enumerable.Range(0, 6).OrderByDescending(v => logProbs[v]).ThenBy(v => v), t.Alternatives.Select(a => a.Token));
            Assert.Equal(1, t.Alternatives.Sum(a => a.Probability), 12);
        }
        Assert.Equal(chain, score.LogLikelihood, 12);
        Assert.Equal(Math.Exp(-chain / text.Length), score.Perplexity, 10);
    }

    [Theory]
    [InlineData(RnnType.Lstm)]
    [InlineData(RnnType.Gru)]
    [InlineData(RnnType.RnnTanh)]
    public void RecurrentModelScoresMatchItsInferLogits(RnnType kind)
    {
        var model = new RecurrentLanguageModel<double>(kind, 9, 5, 6, numLayers: 2, rng: new Rng(3));
        var init = new Rng(4);
        foreach (var p in model.Parameters()) init.FillUniform<double>(p.Data, -0.7, 0.7);
        int[] text = [3, 1, 4, 1, 5, 8, 2, 6, 5, 3, 5];
        var score = Introspection.Score(model, text, topK: 3);

        // Independent path: the whole text through Infer as one [T, 1] sequence, then a log-softmax per row.
        var (logits, _) = model.Infer(Tensor.Create(text, [text.Length, 1]));
        var z = logits.ToArray();
        double logLikelihood = 0;
        for (int i = 1; i < text.Length; i++)
        {
            var logProbs = Reference.LogSoftmax(z.AsSpan((i - 1) * 9, 9).ToArray());
            logLikelihood += logProbs[text[i]];
            Assert.Equal(logProbs[text[i]], score.Tokens[i - 1].LogProbability, 12);
        }
        Assert.Equal(logLikelihood, score.LogLikelihood, 11);
    }

    // ---- bad input ----

    [Fact]
    public void BadTextIsRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Introspection.Score(Dyadic, [0, 7]));
        Assert.Equal("text", e.ParamName);
        Assert.Contains("text[1] = 7", e.Message);
        Assert.Contains("[0, 4)", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>("context", () => Introspection.Score(Dyadic, [0, 1], context: [-1]));
        var one = Assert.Throws<ArgumentException>(() => Introspection.Score(Dyadic, [2]));
        Assert.Equal("text", one.ParamName);
        Assert.Contains("got 1", one.Message);
        Assert.Throws<ArgumentException>("text", () => Introspection.Score(Dyadic, [], context: [1]));
        Assert.Throws<ArgumentOutOfRangeException>("topK", () => Introspection.Score(Dyadic, [0, 1], topK: -1));
        Assert.Throws<ArgumentNullException>("text", () => Introspection.Score(Dyadic, null!));
    }
}
