namespace NeuralPrimitives.Tests.Training;

/// <summary>
/// Real learning, no mock (issue 9): the README's ten-line language model (containers, CrossEntropyLoss, AdamW,
/// clipping) learns a short text, seeded and reproducibly; the same with a tied head; a sparse embedding trains;
/// and the whole step allocates nothing after warm-up.
/// </summary>
public class LanguageModelTrainingTests
{
    private const string Text = "the quick brown fox jumps over the lazy dog. the lazy dog sleeps all day. ";

    private sealed record Run(float FirstLoss, float LastLoss, float[] Losses, ModuleDict<float> Model, Embedding<float> Embed);

    // One sequence of the text, time-major [T, 1]: inputs are characters 0..n−2, targets 1..n−1.
    private static (Tensor<int> Inputs, Tensor<int> Targets, int Vocab) Data()
    {
        var vocab = Text.Distinct().Order().ToArray();
        var ids = Text.Select(c => Array.IndexOf(vocab, c)).ToArray();
        return (Tensor.Create(ids[..^1], [ids.Length - 1, 1]), Tensor.Create(ids[1..], [ids.Length - 1, 1]), vocab.Length);
    }

    private static Run Train(int steps, bool tied = false, bool sparse = false, int seed = 0)
    {
        Rng.ManualSeed((ulong)seed);
        var (inputs, targets, vocab) = Data();
        int embedDim = tied ? 48 : 24;
        // --- the ten lines (README quick start), with the options under test ---
        var embed = new Embedding<float>(vocab, embedDim, sparse: sparse);
        var lstm = new Lstm<float>(embedDim, 48, numLayers: 2);
        var head = new Linear<float>(48, vocab);
        if (tied) head.Weight = embed.Weight;
        var model = new ModuleDict<float> { ["embed"] = embed, ["lstm"] = lstm, ["head"] = head };
        var parameters = model.Parameters().ToArray();
        var lossFn = new CrossEntropyLoss<float>();
        var optimizer = new AdamW<float>(parameters, lr: 1e-2);
        var losses = new float[steps];
        for (int step = 0; step < steps; step++)
        {
            var (hidden, _, _) = lstm.Forward(embed.Forward(inputs));
            losses[step] = lossFn.Forward(head.Forward(hidden), targets);
            embed.Backward(lstm.Backward(head.Backward(lossFn.Backward())).DInput);
            GradientClipping.ClipGradNorm(parameters, maxNorm: 1.0);
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        return new Run(losses[0], losses[^1], losses, model, embed);
    }

    [Fact]
    public void TheTenLineLstmLanguageModelLearnsAShortText()
    {
        var run = Train(150);
        // Uniform guessing over the 25 characters costs ln 25 ≈ 3.22 nats; the text is memorisable.
        Assert.InRange(run.FirstLoss, 2.9, 3.5);
        Assert.True(run.LastLoss < 0.25f, $"loss after 150 steps: {run.LastLoss} (first {run.FirstLoss})");
        Assert.Equal(["embed.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
                      "lstm.weight_ih_l1", "lstm.weight_hh_l1", "lstm.bias_ih_l1", "lstm.bias_hh_l1", "head.weight", "head.bias"],
            run.Model.NamedParameters().Select(p => p.Name));
    }

    [Fact]
    public void TrainingIsSeededAndReproducible()
    {
        var a = Train(25, seed: 3);
        var b = Train(25, seed: 3);
        var c = Train(25, seed: 4);
        Assert.Equal(a.Losses, b.Losses);
        Assert.NotEqual(a.Losses, c.Losses);
    }

    [Fact]
    public void ATiedHeadLearnsToo()
    {
        var run = Train(150, tied: true);
        Assert.True(run.LastLoss < 0.25f, $"tied loss after 150 steps: {run.LastLoss}");
        Assert.Same(run.Embed.Weight, run.Model.GetParameter("head.weight"));
        Assert.DoesNotContain(run.Model.NamedParameters(), p => p.Name == "head.weight"); // listed once, as embed.weight
        Assert.Contains("head.weight", run.Model.StateDict().Keys);
    }

    [Fact]
    public void ASparseEmbeddingTrainsOnlyItsTouchedRows()
    {
        Rng.ManualSeed(0);
        var (_, _, vocab) = Data();
        var untrained = new Embedding<float>(vocab, 24).Weight.Data; // the same seed gives the same initial table
        var run = Train(150, sparse: true);
        Assert.True(run.LastLoss < 0.25f, $"sparse loss after 150 steps: {run.LastLoss}");
        var trained = run.Embed.Weight.Data;
        // Every character of the inputs is a touched row and must have moved.
        foreach (int r in Data().Inputs.ToArray().Distinct())
            Assert.False(trained.AsSpan(r * 24, 24).SequenceEqual(untrained.AsSpan(r * 24, 24)), $"row {r} did not train");
    }

    [Fact]
    public void AWholeTrainingStepAllocatesNothingAfterWarmUp()
    {
        var (inputs, targets, vocab) = Data();
        var model = new NeuralPrimitives.Shared.LstmLanguageModel(new Rng(1), vocab, 16, 32, lr: 1e-3);
        Assert.Equal(0, Allocations.SteadyStateBytes(() => model.Step(inputs, targets)));
    }
}
