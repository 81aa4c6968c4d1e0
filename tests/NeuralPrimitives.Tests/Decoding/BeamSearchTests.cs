using static NeuralPrimitives.Tests.Support.BadArgument;

namespace NeuralPrimitives.Tests.Decoding;

// Beam search against hand-worked rankings and against exhaustive enumeration of every sequence (Reference.AllContinuations).
public class BeamSearchTests
{
    private static readonly int[] Prompt = [0, 1];

    public static TheoryData<ulong> Seeds => [11, 12, 13, 14, 15, 16, 17, 18, 19, 20];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void WidthOneIsGreedy(ulong seed)
    {
        var model = ToyLanguageModel.Random(5, seed);
        int end = (int)(seed % 5);
        var beam = BeamSearch.Run(model, Prompt, beamWidth: 1, maxLength: 10, endToken: end, lengthPenalty: 0);
        Assert.Equal(Generation.Greedy(model, Prompt, 10, end), beam.Single().Tokens);
        // Without an end token every hypothesis has the same length, so the normalisation changes nothing.
        foreach (var normalization in new[] { LengthNormalization.Power, LengthNormalization.Gnmt })
        {
            var full = BeamSearch.Run(model, Prompt, 1, 10, lengthPenalty: 0.8, normalization: normalization);
            Assert.Equal(Generation.Greedy(model, Prompt, 10), full.Single().Tokens);
        }
    }

    // Two tokens, a (0) and end (1); after the prompt p(a) = 0.6, p(end) = 0.4; after one more token p(a) = 0.4, p(end) = 0.6.
    // With maxLength 2 there are exactly three hypotheses:
    //   [end]     P = 0.4                 [a, end]  P = 0.6·0.6 = 0.36        [a, a]  P = 0.6·0.4 = 0.24 (no end token)
    private static readonly ToyLanguageModel TwoTokens =
        new(2, h => h.Count == 1 ? [Math.Log(0.6), Math.Log(0.4)] : [Math.Log(0.4), Math.Log(0.6)]);

    public static TheoryData<LengthNormalization, double, int[][], double[]> RankingCases => new()
    {
        // α = 0: raw log-probability; the short hypothesis wins
        { LengthNormalization.Power, 0, [[1], [0, 1], [0, 0]], [Math.Log(0.4), Math.Log(0.36), Math.Log(0.24)] },
        // |Y|^1: mean log-probability per token
        { LengthNormalization.Power, 1, [[0, 1], [0, 0], [1]], [Math.Log(0.36) / 2, Math.Log(0.24) / 2, Math.Log(0.4)] },
        // |Y|^0.5
        { LengthNormalization.Power, 0.5, [[0, 1], [1], [0, 0]], [Math.Log(0.36) / Math.Sqrt(2), Math.Log(0.4), Math.Log(0.24) / Math.Sqrt(2)] },
        // GNMT ((5 + |Y|)/6)^1: f(1) = 1, f(2) = 7/6
        { LengthNormalization.Gnmt, 1, [[0, 1], [1], [0, 0]], [Math.Log(0.36) / (7.0 / 6), Math.Log(0.4), Math.Log(0.24) / (7.0 / 6)] },
        // GNMT α = 0.5: f(2) = √(7/6) ≈ 1.080 is too small to lift [a, end] (−0.946) above [end] (−0.916)
        { LengthNormalization.Gnmt, 0.5, [[1], [0, 1], [0, 0]], [Math.Log(0.4), Math.Log(0.36) / Math.Sqrt(7.0 / 6), Math.Log(0.24) / Math.Sqrt(7.0 / 6)] },
    };

    [Theory]
    [MemberData(nameof(RankingCases))]
    public void LengthNormalisationReordersHypothesesAsItsFormulaSays(LengthNormalization normalization, double alpha, int[][] expectedOrder, double[] expectedScores)
    {
        var result = BeamSearch.Run(TwoTokens, [0], beamWidth: 3, maxLength: 2, endToken: 1, lengthPenalty: alpha,
            normalization: normalization, numReturnSequences: 3);
        Assert.Equal(expectedOrder.Length, result.Count);
        for (int i = 0; i < result.Count; i++)
        {
            Assert.Equal(expectedOrder[i], result[i].Tokens);
            Assert.Equal(expectedScores[i], result[i].Score, 12);
            Assert.Equal(expectedOrder[i][^1] == 1, result[i].ReachedEndToken);
        }
    }

    [Fact]
    public void AnEndTokenOutsideTheWBestCandidatesIsDropped()
    {
        // W = 1: after the prompt, a (0.6) ranks first and [end] (0.4) second, outside the beam, so it is not kept even
        // though it is the most likely sequence; the beam follows a and finishes [a, end] (0.36), as greedy does.
        var result = BeamSearch.Run(TwoTokens, [0], beamWidth: 1, maxLength: 2, endToken: 1, lengthPenalty: 0, numReturnSequences: 1);
        Assert.Equal([0, 1], result.Single().Tokens);
        Assert.Equal(Generation.Greedy(TwoTokens, [0], 2, endToken: 1), result.Single().Tokens);
        // With W = 2 it is among the W best and wins.
        Assert.Equal([1], BeamSearch.Run(TwoTokens, [0], 2, 2, endToken: 1, lengthPenalty: 0).Single().Tokens);
    }

    [Fact]
    public void AnEndTokenRankedWOrLowerAmongTheCandidatesIsNotFinished()
    {
        // a = 0, b = 1, end = 2, W = 2. Step 1 keeps [a] (0.5) and [b] (0.4). Step 2's candidates, best first:
        //   [a, end] 0.25 (rank 0: finished), [b, a] 0.2 (live), [b, end] 0.16 (rank 2 = W: dropped), [a, a] 0.15 (live).
        // Step 3 (the maximum length) finishes [b, a, a] 0.1 and [a, a, a] 0.075. So the two best are [a, end] and
        // [b, a, a]; keeping the rank-2 end candidate would put [b, end] (0.16) second.
        var model = new ToyLanguageModel(3, h => (h.Count, h[^1]) switch
        {
            (1, _) => [Math.Log(0.5), Math.Log(0.4), Math.Log(0.1)],
            (2, 0) => [Math.Log(0.3), Math.Log(0.2), Math.Log(0.5)],
            (2, _) => [Math.Log(0.5), Math.Log(0.1), Math.Log(0.4)],
            _ => [Math.Log(0.5), Math.Log(0.3), Math.Log(0.2)],
        });
        var result = BeamSearch.Run(model, [0], beamWidth: 2, maxLength: 3, endToken: 2, lengthPenalty: 0, numReturnSequences: 2);
        Assert.Equal([0, 2], result[0].Tokens);
        Assert.Equal([1, 0, 0], result[1].Tokens);
        Assert.Equal(Math.Log(0.1), result[1].LogProbability, 12);
    }

    [Fact]
    public void EarlyStoppingNeverCutsOffALongerHypothesisTheNormalisationFavours()
    {
        // a = 0, end = 1. After the prompt [end] has 0.7 and a 0.3; after a, three more a's and then end are certain.
        // With α = 1: [end] scores ln 0.7 = −0.357, [a, a, a, a, end] ln 0.3 / 5 = −0.241 and wins. After step 1 the live
        // beam [a] (raw −1.204) can still reach −1.204 / f(5), not just −1.204 / f(2) = −0.602 < −0.357: the search must go on.
        var model = new ToyLanguageModel(2, h => h.Count switch
        {
            1 => [Math.Log(0.3), Math.Log(0.7)],
            < 5 => [0, -60],
            _ => [-60, 0],
        });
        var best = BeamSearch.Run(model, [0], beamWidth: 2, maxLength: 5, endToken: 1, lengthPenalty: 1).Single();
        Assert.Equal([0, 0, 0, 0, 1], best.Tokens);
        Assert.Equal(Math.Log(0.3) / 5, best.Score, 10);
    }

    [Fact]
    public void LengthNormalizerIsTheFormula()
    {
        Assert.Equal(Math.Pow(7, 0.6), BeamSearch.LengthNormalizer(7, 0.6, LengthNormalization.Power), 14);
        Assert.Equal(Math.Pow(12.0 / 6, 0.6), BeamSearch.LengthNormalizer(7, 0.6, LengthNormalization.Gnmt), 14);
        Assert.Equal(1, BeamSearch.LengthNormalizer(9, 0, LengthNormalization.Gnmt));
        Assert.Equal(1, BeamSearch.LengthNormalizer(1, 2.5, LengthNormalization.Gnmt));
    }

    public static TheoryData<ulong, LengthNormalization, double> ExhaustiveCases()
    {
        var data = new TheoryData<ulong, LengthNormalization, double>();
        foreach (ulong seed in new ulong[] { 21, 22, 23, 24 })
            foreach (var (n, a) in new[] { (LengthNormalization.Power, 0.0), (LengthNormalization.Power, 1.0), (LengthNormalization.Power, 0.6),
                                           (LengthNormalization.Gnmt, 0.6), (LengthNormalization.Gnmt, 2.0), (LengthNormalization.Power, -0.5) })
                data.Add(seed, n, a);
        return data;
    }

    [Theory]
    [MemberData(nameof(ExhaustiveCases))]
    public void AWideEnoughBeamReturnsTheBruteForceRanking(ulong seed, LengthNormalization normalization, double alpha)
    {
        // V = 3, maxLength = 4: at most 3⁴ = 81 sequences, so W = 81 never prunes anything.
        var model = ToyLanguageModel.Random(3, seed, scale: 1.5);
        const int end = 2, maxLength = 4, n = 12;
        var expected = Reference.AllContinuations(model, Prompt, maxLength, end)
            .Select(c => (c.Tokens, c.LogP, Score: c.LogP / Reference.Normalizer(c.Tokens.Length, alpha, normalization == LengthNormalization.Gnmt)))
            .OrderByDescending(c => c.Score).Take(n).ToList();
        var result = BeamSearch.Run(model, Prompt, beamWidth: 81, maxLength, end, alpha, normalization, numReturnSequences: n);
        Assert.Equal(n, result.Count);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(expected[i].Tokens, result[i].Tokens);
            Assert.Equal(expected[i].Score, result[i].Score, 10);
            Assert.Equal(expected[i].LogP, result[i].LogProbability, 10);
        }
    }

    [Fact]
    public void ABeamOfTwoEscapesTheGreedyTrap()
    {
        // Tokens: 0 = start, 1 = A, 2 = B, 3 = end. After the prompt, A (0.55) beats B (0.45); but A is followed by
        // end with 0.4, B by end with 0.9. Best with α = 0: [B, end] (0.405) > [A, end] (0.22). Greedy takes A.
        var p = new double[,] { { 0, 0.55, 0.45, 0 }, { 0.1, 0.25, 0.25, 0.4 }, { 0.02, 0.04, 0.04, 0.9 }, { 0.25, 0.25, 0.25, 0.25 } };
        var table = new double[4, 4];
        for (int a = 0; a < 4; a++) for (int v = 0; v < 4; v++) table[a, v] = p[a, v] == 0 ? -30 : Math.Log(p[a, v]);
        var model = ToyLanguageModel.Bigram(table);

        Assert.Equal([1, 3], Generation.Greedy(model, [0], 2, endToken: 3));
        var best = BeamSearch.Run(model, [0], beamWidth: 2, maxLength: 2, endToken: 3, lengthPenalty: 0).Single();
        var bruteForce = Reference.AllContinuations(model, [0], 2, 3).MaxBy(c => c.LogP);
        Assert.Equal([2, 3], best.Tokens);
        Assert.Equal(bruteForce.Tokens, best.Tokens);
        Assert.Equal(Math.Log(0.45 * 0.9), best.LogProbability, 6); // −30 logits leave ~1e-13 of the mass elsewhere
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ResultsAreSortedAndTheirLogProbabilitiesAreTheModels(ulong seed)
    {
        var model = ToyLanguageModel.Random(4, seed);
        var result = BeamSearch.Run(model, Prompt, beamWidth: 4, maxLength: 6, endToken: 3, lengthPenalty: 0.7, numReturnSequences: 4);
        Assert.Equal(4, result.Count);
        for (int i = 1; i < result.Count; i++) Assert.True(result[i - 1].Score >= result[i].Score);
        foreach (var h in result)
        {
            double logP = 0;
            for (int t = 0; t < h.Tokens.Count; t++) logP += model.LogProbabilities([.. Prompt, .. h.Tokens.Take(t)])[h.Tokens[t]];
            Assert.Equal(logP, h.LogProbability, 10);
            Assert.Equal(logP / Math.Pow(h.Tokens.Count, 0.7), h.Score, 10);
            Assert.Equal(h.ReachedEndToken, h.Tokens[^1] == 3);
            Assert.True(h.ReachedEndToken || h.Tokens.Count == 6);
            Assert.DoesNotContain(3, h.Tokens.Take(h.Tokens.Count - 1)); // nothing follows an end token
        }
    }

    [Fact]
    public void FewerHypothesesThanAskedWhenFewerExist()
    {
        var result = BeamSearch.Run(TwoTokens, [0], beamWidth: 5, maxLength: 1, endToken: 1, numReturnSequences: 5);
        Assert.Equal(2, result.Count); // [end] and [a]
    }

    // ---- bad input ----

    private static readonly ToyLanguageModel Four = ToyLanguageModel.Random(4, 1);

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void BeamWidthBelowOneIsRefused(int bad) =>
        ThrowsExactly<ArgumentOutOfRangeException>(() => BeamSearch.Run(Four, [0], bad, 5), "beamWidth", $"got {bad}");

    [Theory]
    [InlineData(0)]
    [InlineData(-7)]
    public void MaxLengthBelowOneIsRefused(int bad) =>
        ThrowsExactly<ArgumentOutOfRangeException>(() => BeamSearch.Run(Four, [0], 2, bad), "maxLength", $"got {bad}");

    [Theory]
    [InlineData(-1)]
    [InlineData(4)]
    public void EndTokenOutOfRangeIsRefused(int bad) =>
        ThrowsExactly<ArgumentOutOfRangeException>(() => BeamSearch.Run(Four, [0], 2, 5, endToken: bad), "endToken", "[0, 4)");

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void NumReturnSequencesOutsideOneToWidthIsRefused(int bad) =>
        ThrowsExactly<ArgumentOutOfRangeException>(() => BeamSearch.Run(Four, [0], 2, 5, numReturnSequences: bad), "numReturnSequences", "[1, beamWidth = 2]");

    [Fact]
    public void OtherBadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>("lengthPenalty", () => BeamSearch.Run(Four, [0], 2, 5, lengthPenalty: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>("normalization", () => BeamSearch.Run(Four, [0], 2, 5, normalization: (LengthNormalization)7));
        Assert.Throws<ArgumentOutOfRangeException>("prompt", () => BeamSearch.Run(Four, [0, 9], 2, 5));
        Assert.Throws<ArgumentException>("prompt", () => BeamSearch.Run(Four, [], 2, 5));
        Assert.Throws<ArgumentNullException>("model", () => BeamSearch.Run<double, List<int>[]>(null!, [0], 2, 5));
    }
}
