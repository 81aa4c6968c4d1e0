namespace NeuralPrimitives.Tests.Decoding;

// The sampling steps one by one on hand-made rows whose answers are worked out by hand (dyadic probabilities, so the
// sums are exact), then the whole pipeline's empirical frequencies against the processed distribution computed
// independently in the test.
public class SamplingTests
{
    // ---- top-p: the smallest set of most likely tokens whose probability reaches p ----

    public static TheoryData<double[], double, double[]> TopPCases => new()
    {
        // reaching p exactly keeps no more: 0.5 ≥ 0.5
        { [0.5, 0.25, 0.125, 0.125], 0.5, [1, 0, 0, 0] },
        { [0.5, 0.25, 0.125, 0.125], 0.6, [2.0 / 3, 1.0 / 3, 0, 0] },
        { [0.5, 0.25, 0.125, 0.125], 0.75, [2.0 / 3, 1.0 / 3, 0, 0] },
        { [0.5, 0.25, 0.125, 0.125], 0.76, [4.0 / 7, 2.0 / 7, 1.0 / 7, 0] },
        { [0.5, 0.25, 0.125, 0.125], 0.875, [4.0 / 7, 2.0 / 7, 1.0 / 7, 0] },
        // p = 1 keeps every token
        { [0.5, 0.25, 0.125, 0.125], 1.0, [0.5, 0.25, 0.125, 0.125] },
        // tokens out of order: the most likely first, whatever their ids
        { [0.125, 0.5, 0.125, 0.25], 0.7, [0, 2.0 / 3, 0, 1.0 / 3] },
        // ties: equal probabilities are taken lower id first, and exactly as many as needed
        { [0.25, 0.25, 0.25, 0.25], 0.5, [0.5, 0.5, 0, 0] },
        { [0.25, 0.25, 0.25, 0.25], 0.3, [0.5, 0.5, 0, 0] },
        { [0.25, 0.25, 0.25, 0.25], 0.25, [1, 0, 0, 0] },
        { [0.125, 0.375, 0.125, 0.375], 0.5, [0, 0.5, 0, 0.5] },
        { [0.5, 0.125, 0.125, 0.125, 0.125], 0.625, [0.8, 0.2, 0, 0, 0] },
        // a tiny p keeps only the most likely token
        { [0.25, 0.5, 0.25], 1e-9, [0, 1, 0] },
        // weights need not be normalised: p is a fraction of their total (2 of 4)
        { [2, 1, 1], 0.5, [1, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(TopPCases))]
    public void TopPKeepsTheSmallestSetReachingP(double[] probabilities, double p, double[] expected)
    {
        var row = (double[])probabilities.Clone();
        Sampling.ApplyTopP(row, p);
        TestData.AssertClose<double>(expected, row, 1e-15, what: $"top-p {p}");
    }

    [Fact]
    public void TopPOnRandomDistributionsIsTheSmallestReachingSet()
    {
        var rng = new Rng(7);
        for (int trial = 0; trial < 300; trial++)
        {
            int n = 1 + rng.NextInt(12);
            var logits = TestData.Normal(rng, n, 2);
            if (trial % 3 == 0) for (int i = 1; i < n; i += 2) logits[i] = logits[i - 1]; // ties
            var probabilities = Reference.Softmax(logits);
            double p = trial % 10 == 0 ? 1 : rng.Uniform(1e-6, 1);
            var row = (double[])probabilities.Clone();
            Sampling.ApplyTopP(row, p);

            var kept = Enumerable.Range(0, n).Where(v => row[v] > 0).ToList();
            var dropped = Enumerable.Range(0, n).Where(v => row[v] == 0).ToList();
            double keptMass = kept.Sum(v => probabilities[v]);
            Assert.True(keptMass >= p * probabilities.Sum() * (1 - 1e-12), $"kept mass {keptMass} < p {p}");
            // smallest: without its least likely member the set no longer reaches p (unless p = 1 keeps everything)
            if (p < 1)
            {
                double least = kept.Min(v => probabilities[v]);
                Assert.True(keptMass - least < p * probabilities.Sum(), $"set of {kept.Count} is not the smallest reaching p = {p}");
            }
            // most likely: nothing dropped beats anything kept; renormalised
            foreach (int d in dropped) Assert.True(probabilities[d] <= kept.Min(v => probabilities[v]));
            Assert.Equal(1, row.Sum(), 12);
            foreach (int v in kept) Assert.Equal(probabilities[v] / keptMass, row[v], 12);
        }
    }

    // ---- top-k ----

    [Theory]
    [InlineData(1, new[] { 1 })]
    [InlineData(2, new[] { 1, 3 })]
    [InlineData(3, new[] { 1, 2, 3 })]
    [InlineData(4, new[] { 0, 1, 2, 3 })] // the two equal smallest (0 and 4) tie for the last place: 0 wins
    [InlineData(5, new[] { 0, 1, 2, 3, 4 })]
    [InlineData(9, new[] { 0, 1, 2, 3, 4 })]
    public void TopKKeepsExactlyTheKLargestLowerIdOnTies(int k, int[] expectedKept)
    {
        double[] logits = [1, 3, 2, 3, 1];
        var row = (double[])logits.Clone();
        Sampling.ApplyTopK(row, k);
        var kept = Enumerable.Range(0, row.Length).Where(v => !double.IsNegativeInfinity(row[v])).ToArray();
        Assert.Equal(expectedKept, kept);
        foreach (int v in kept) Assert.Equal(logits[v], row[v]); // survivors unchanged
    }

    // ---- repetition penalty (CTRL / Hugging Face) ----

    [Theory]
    [InlineData(2.0, new[] { 1.0, -2, 0, 3, -4, 0.5 })]
    [InlineData(0.5, new[] { 4.0, -0.5, 0, 3, -4, 0.5 })]
    [InlineData(1.0, new[] { 2.0, -1, 0, 3, -4, 0.5 })]
    public void RepetitionPenaltyChangesExactlyTheSeenTokens(double penalty, double[] expected)
    {
        double[] logits = [2, -1, 0, 3, -4, 0.5];
        bool[] seen = [true, true, true, false, false, false];
        Sampling.ApplyRepetitionPenalty(logits, seen, penalty);
        Assert.Equal(expected, logits); // exact: one division or multiplication each, unseen tokens untouched
    }

    [Fact]
    public void TemperatureDividesTheLogits()
    {
        double[] logits = [1, -2, 0.5];
        Sampling.ApplyTemperature(logits, 0.5);
        Assert.Equal([2.0, -4, 1], logits);
    }

    [Fact]
    public void ArgmaxTakesTheFirstOfEqualMaxima() => Assert.Equal(1, Sampling.Argmax([0.0, 2, 1, 2]));

    // ---- drawing ----

    [Fact]
    public void DrawMatchesTheWeightsAndNeverPicksAZeroWeight()
    {
        double[] weights = [0.1, 0, 0.4, 0.2, 0, 0.3];
        var counts = new int[weights.Length];
        var rng = new Rng(11);
        for (int i = 0; i < 20000; i++) counts[Sampling.Draw(weights, rng)]++;
        var (chi, df, impossible) = Reference.ChiSquare(counts, weights);
        Assert.False(impossible);
        Assert.True(chi < Reference.ChiSquareQuantile999(df), $"chi² = {chi:F1} with {df} df, counts {string.Join(",", counts)}");
    }

    [Fact]
    public void DrawIsReproducibleFromTheSeed()
    {
        double[] weights = [1, 2, 3, 4];
        var a = new Rng(5); var b = new Rng(5);
        var first = Enumerable.Range(0, 100).Select(_ => Sampling.Draw(weights, a)).ToArray();
        var second = Enumerable.Range(0, 100).Select(_ => Sampling.Draw(weights, b)).ToArray();
        Assert.Equal(first, second);
    }

    // ---- the whole pipeline through Generation ----

    /// <summary>The processed distribution of the first generated token, written out step by step (LINQ, no library code).</summary>
    private static double[] Expected(double[] logits, bool[] seen, double penalty, double temperature, int topK, double topP)
    {
        int n = logits.Length;
        var z = logits.Select((x, v) => !seen[v] ? x : x > 0 ? x / penalty : x * penalty).Select(x => x / temperature).ToArray();
        var byLogit = Enumerable.Range(0, n).OrderByDescending(v => z[v]).ThenBy(v => v).ToArray();
        if (topK > 0) foreach (int v in byLogit.Skip(topK)) z[v] = double.NegativeInfinity;
        double max = z.Max();
        var p = z.Select(x => Math.Exp(x - max)).ToArray();
        double sum = p.Sum();
        p = p.Select(x => x / sum).ToArray();
        var byP = Enumerable.Range(0, n).OrderByDescending(v => p[v]).ThenBy(v => v).ToArray();
        double cumulative = 0;
        var keep = new HashSet<int>();
        foreach (int v in byP) { if (cumulative >= topP) break; keep.Add(v); cumulative += p[v]; }
        return Enumerable.Range(0, n).Select(v => keep.Contains(v) ? p[v] / cumulative : 0).ToArray();
    }

    public static TheoryData<double, int, double, double> PipelineCases => new()
    {
        { 1.0, 0, 1.0, 1.0 },   // plain softmax
        { 0.7, 0, 1.0, 1.0 },   // temperature
        { 1.5, 4, 1.0, 1.0 },   // top-k
        { 1.0, 0, 0.8, 1.0 },   // top-p
        { 0.8, 5, 0.9, 1.0 },   // all three
        { 1.0, 0, 1.0, 1.8 },   // repetition penalty (tokens 0 and 5 are in the prompt)
        { 1.2, 6, 0.95, 1.3 },
    };

    [Theory]
    [MemberData(nameof(PipelineCases))]
    public void SampledFrequenciesMatchTheProcessedDistribution(double temperature, int topK, double topP, double penalty)
    {
        double[] logits = [2.0, 1.5, 1.0, 0.5, 0.0, -1.0, 0.25, 1.25];
        int[] prompt = [5, 0];
        var seen = new bool[logits.Length];
        foreach (int t in prompt) seen[t] = true;
        var expected = Expected(logits, seen, penalty, temperature, topK, topP);

        var model = new ToyLanguageModel(logits.Length, _ => logits);
        var options = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP, RepetitionPenalty = penalty };
        var rng = new Rng(2024);
        var counts = new int[logits.Length];
        for (int i = 0; i < 20000; i++) counts[Generation.Generate(model, prompt, 1, options, rng: rng)[0]]++;

        var (chi, df, impossible) = Reference.ChiSquare(counts, expected);
        Assert.False(impossible, $"a token outside the kept set was sampled: counts {string.Join(",", counts)}, expected {string.Join(",", expected.Select(x => x.ToString("F3")))}");
        Assert.True(chi < Reference.ChiSquareQuantile999(df), $"chi² = {chi:F1} with {df} df; counts {string.Join(",", counts)}, expected {string.Join(",", expected.Select(x => x.ToString("F3")))}");
    }

    [Fact]
    public void TheExpectedDistributionsOfThePipelineTestDiffer()
    {
        // The cases above must exercise each step: each processed distribution differs from the plain softmax.
        double[] logits = [2.0, 1.5, 1.0, 0.5, 0.0, -1.0, 0.25, 1.25];
        var seen = new bool[logits.Length]; seen[5] = seen[0] = true;
        var plain = Expected(logits, seen, 1, 1, 0, 1);
        foreach (var (t, k, p, r) in new[] { (0.7, 0, 1.0, 1.0), (1.5, 4, 1.0, 1.0), (1.0, 0, 0.8, 1.0), (1.0, 0, 1.0, 1.8) })
            Assert.True(Expected(logits, seen, r, t, k, p).Zip(plain).Max(x => Math.Abs(x.First - x.Second)) > 0.02);
    }

    // ---- bad options ----

    [Theory]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void BadTemperatureIsRefused(double value)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { Temperature = value });
        Assert.Equal("Temperature", e.ParamName);
        Assert.Contains("≥ 0", e.Message);
        Assert.Contains(value.ToString(), e.Message);
    }

    [Fact]
    public void NegativeTopKIsRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopK = -1 });
        Assert.Equal("TopK", e.ParamName);
        Assert.Contains("-1", e.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void TopPOutsideZeroOneIsRefused(double value)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { TopP = value });
        Assert.Equal("TopP", e.ParamName);
        Assert.Contains("(0, 1]", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>("p", () => Sampling.ApplyTopP(new double[] { 1 }, value));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-2.0)]
    [InlineData(double.PositiveInfinity)]
    public void NonPositiveRepetitionPenaltyIsRefused(double value)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SamplingOptions { RepetitionPenalty = value });
        Assert.Equal("RepetitionPenalty", e.ParamName);
        Assert.Contains("> 0", e.Message);
    }

    [Fact]
    public void StepFunctionsCheckTheirArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>("temperature", () => Sampling.ApplyTemperature(new double[] { 1 }, 0));
        Assert.Throws<ArgumentOutOfRangeException>("k", () => Sampling.ApplyTopK(new double[] { 1 }, 0));
        Assert.Throws<ArgumentException>("seen", () => Sampling.ApplyRepetitionPenalty(new double[] { 1, 2 }, new bool[1], 2));
        Assert.Throws<ArgumentException>("weights", () => Sampling.Draw(new double[] { 0, 0 }, new Rng(1)));
    }
}
