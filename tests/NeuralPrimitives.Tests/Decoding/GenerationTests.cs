namespace NeuralPrimitives.Tests.Decoding;

// Greedy decoding against a greedy loop written out in the test, the special cases of sampling that must be greedy,
// seeded reproducibility, the repetition penalty inside generation, and streaming: the same tokens as the batch call,
// produced lazily, stopped by cancellation.
public class GenerationTests
{
    private static readonly int[] Prompt = [1, 3];

    public static TheoryData<ulong> Seeds => [1, 2, 3, 4, 5, 6, 7, 8];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void GreedyIsTheArgmaxAtEveryStep(ulong seed)
    {
        var model = ToyLanguageModel.Random(5, seed);
        Assert.Equal(Reference.Greedy(model, Prompt, 12, null), Generation.Greedy(model, Prompt, 12));
        int end = (int)(seed % 5);
        Assert.Equal(Reference.Greedy(model, Prompt, 12, end), Generation.Greedy(model, Prompt, 12, end));
    }

    [Fact]
    public void GenerationStopsAfterTheEndTokenAndIncludesIt()
    {
        // 0 → 1 → 2 → 3(end) → 0 …, each transition certain enough for greedy.
        var model = ToyLanguageModel.Bigram(new double[,] { { 0, 5, 0, 0 }, { 0, 0, 5, 0 }, { 0, 0, 0, 5 }, { 5, 0, 0, 0 } });
        Assert.Equal([1, 2, 3], Generation.Greedy(model, [0], 10, endToken: 3));
        Assert.Equal([1, 2, 3, 0, 1], Generation.Greedy(model, [0], 5));
        Assert.Equal([1, 2], Generation.Greedy(model, [0], 2, endToken: 3));
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void TopKOneTemperatureZeroAndATinyTopPAreGreedy(ulong seed)
    {
        var model = ToyLanguageModel.Random(6, seed);
        var greedy = Generation.Greedy(model, Prompt, 15);
        var rng = new Rng(seed);
        Assert.Equal(greedy, Generation.Generate(model, Prompt, 15, new SamplingOptions { TopK = 1, Temperature = 1.7 }, rng: rng));
        Assert.Equal(greedy, Generation.Generate(model, Prompt, 15, new SamplingOptions { Temperature = 0 }, rng: rng));
        Assert.Equal(greedy, Generation.Generate(model, Prompt, 15, new SamplingOptions { TopP = 1e-9, Temperature = 1.3 }, rng: rng));
    }

    [Fact]
    public void TopKOneIsGreedyEvenWithTiedLogits()
    {
        // logits tie between tokens 1 and 3 everywhere: greedy takes 1, and so must top-k = 1 (exactly one survivor)
        var model = new ToyLanguageModel(4, _ => [0, 2, 1, 2]);
        var sampled = Generation.Generate(model, [0], 30, new SamplingOptions { TopK = 1 }, rng: new Rng(3));
        Assert.All(sampled, t => Assert.Equal(1, t));
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        var model = ToyLanguageModel.Random(7, 42, scale: 0.7);
        var options = new SamplingOptions { Temperature = 1.1, TopK = 5, TopP = 0.9, RepetitionPenalty = 1.2 };
        var a = Generation.Generate(model, Prompt, 60, options, rng: new Rng(99));
        var b = Generation.Generate(model, Prompt, 60, options, rng: new Rng(99));
        var c = Generation.Generate(model, Prompt, 60, options, rng: new Rng(100));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Theory]
    [InlineData(new[] { 3.0, 2.9, 0 }, new[] { 0, 1, 0, 0 })]   // positive logits: seen 0 drops to 1.5 < 2.9; then 1.5 > 1.45
    [InlineData(new[] { -1.0, -1.5, -5 }, new[] { 0, 1, 0, 0 })] // negative logits: seen 0 drops to −2 < −1.5; then −2 > −3
    public void RepetitionPenaltySteersGreedyAwayFromSeenTokens(double[] logits, int[] expected)
    {
        var model = new ToyLanguageModel(3, _ => logits);
        var penalised = Generation.Generate(model, [2], 4, new SamplingOptions { Temperature = 0, RepetitionPenalty = 2 });
        Assert.Equal(expected, penalised);
        Assert.Equal([0, 0, 0, 0], Generation.Greedy(model, [2], 4));
        // the prompt counts as context: with 0 already in the prompt the first choice is 1
        Assert.Equal(1, Generation.Generate(model, [0], 1, new SamplingOptions { Temperature = 0, RepetitionPenalty = 2 })[0]);
    }

    // ---- streaming ----

    public static TheoryData<SamplingOptions> StreamCases => new()
    {
        SamplingOptions.Greedy,
        new SamplingOptions { Temperature = 0.9, TopK = 4, TopP = 0.95, RepetitionPenalty = 1.1 },
    };

    [Theory]
    [MemberData(nameof(StreamCases))]
    public async Task StreamingYieldsTheSameTokensAsTheBatchCall(SamplingOptions options)
    {
        var model = ToyLanguageModel.Random(6, 17, scale: 1);
        foreach (int? end in new int?[] { null, 5, 2 })
        {
            var batch = Generation.Generate(model, Prompt, 40, options, end, new Rng(8));
            var streamed = Generation.Stream(model, Prompt, 40, options, end, new Rng(8)).ToArray();
            var streamedAsync = new List<int>();
            await foreach (int t in Generation.StreamAsync(model, Prompt, 40, options, end, new Rng(8)))
                streamedAsync.Add(t);
            Assert.Equal(batch, streamed);
            Assert.Equal(batch, streamedAsync);
            if (end is null) Assert.Equal(40, batch.Length);
            else Assert.True(batch.Length == 40 || batch[^1] == end);
        }
    }

    [Fact]
    public void StreamingProducesTokensOneAtATime()
    {
        var model = ToyLanguageModel.Random(5, 3);
        var stream = Generation.Stream(model, Prompt, 50, SamplingOptions.Greedy);
        Assert.Equal(0, model.Calls); // nothing runs before enumeration
        using var e = stream.GetEnumerator();
        Assert.True(e.MoveNext());
        int afterFirst = model.Calls; // the prompt only: the first token comes from the prompt's logits
        Assert.True(e.MoveNext());
        Assert.Equal(afterFirst + 1, model.Calls); // one model step per further token
        Assert.Equal(Prompt.Length, afterFirst);
    }

    [Fact]
    public async Task CancellationStopsTheStream()
    {
        var model = ToyLanguageModel.Random(5, 4);
        using var cts = new CancellationTokenSource();
        var received = new List<int>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (int t in Generation.StreamAsync(model, Prompt, 1000, SamplingOptions.Greedy, cancellationToken: cts.Token))
            {
                received.Add(t);
                if (received.Count == 3) cts.Cancel();
            }
        });
        Assert.Equal(3, received.Count);
        Assert.Equal(Prompt.Length + 2, model.Calls); // no step after the third token's successor was asked for
        Assert.Equal(Generation.Greedy(model, Prompt, 3), received);
    }

    [Fact]
    public async Task WithCancellationStopsTheStreamToo()
    {
        var model = ToyLanguageModel.Random(5, 4);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        int count = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (int _ in Generation.StreamAsync(model, Prompt, 10, SamplingOptions.Greedy).WithCancellation(cts.Token)) count++;
        });
        Assert.Equal(0, count);
        Assert.Equal(0, model.Calls);
    }

    // ---- bad input ----

    private static readonly ToyLanguageModel Four = ToyLanguageModel.Random(4, 1);

    [Fact]
    public void EmptyPromptIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => Generation.Greedy(Four, [], 3));
        Assert.Equal("prompt", e.ParamName);
        Assert.Contains("got 0", e.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4)]
    [InlineData(1000)]
    public void PromptTokenOutOfRangeIsRefusedEagerly(int bad)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Generation.Stream(Four, [0, bad], 3, SamplingOptions.Greedy));
        Assert.Equal("prompt", e.ParamName);
        Assert.Contains($"prompt[1] = {bad}", e.Message);
        Assert.Contains("[0, 4)", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>("prompt", () => Generation.StreamAsync(Four, [bad], 3, SamplingOptions.Greedy));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4)]
    public void EndTokenOutOfRangeIsRefused(int bad)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Generation.Generate(Four, [0], 3, SamplingOptions.Greedy, endToken: bad));
        Assert.Equal("endToken", e.ParamName);
        Assert.Contains($"got {bad}", e.Message);
        Assert.Contains("[0, 4)", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void MaxNewTokensBelowOneIsRefused(int bad)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Generation.Greedy(Four, [0], bad));
        Assert.Equal("maxNewTokens", e.ParamName);
        Assert.Contains($"got {bad}", e.Message);
    }

    [Fact]
    public void NullArgumentsAreRefused()
    {
        Assert.Throws<ArgumentNullException>("model", () => Generation.Greedy<double, List<int>[]>(null!, [0], 3));
        Assert.Throws<ArgumentNullException>("sampling", () => Generation.Generate(Four, [0], 3, null!));
        Assert.Throws<ArgumentNullException>("prompt", () => Generation.Greedy(Four, null!, 3));
    }

    [Fact]
    public void NaNLogitsAreReported()
    {
        var model = new ToyLanguageModel(3, _ => [0, double.NaN, 1]);
        var e = Assert.Throws<InvalidOperationException>(() => Generation.Greedy(model, [0], 2));
        Assert.Contains("token 1", e.Message);
    }
}
