// The experiment: train the same GRU encoder–decoder twice under the same wall-clock budget, once without
// attention (the decoder sees only the encoder's final state) and once with additive attention, on the same
// stream of training batches; then measure exact-match accuracy by source length with greedy decoding on the
// same test strings, and plot it, with the attention weights of one long example.
//
// Training: AdamW, gradient clipping at norm 1, a learning rate warmed up over the first steps and then
// decayed along a cosine to a tenth over the budget (the budget being time, the schedule follows the fraction
// of it used, or of --steps when that comes first). Every random choice is seeded: the initial weights from
// --seed, the training batches from --seed + 1 (the same batches for both models), the test strings from
// --seed + 2. With --steps the run is reproducible exactly; with a time budget the number of steps depends
// on the machine.
using System.Diagnostics;

namespace Seq2Seq;

/// <summary>The demo's settings (the command line's options).</summary>
internal sealed record DemoOptions
{
    public double TimeSeconds { get; init; } = 150;
    public int? Steps { get; init; }
    public ulong Seed { get; init; } = 1;
    public string OutputDirectory { get; init; } = "seq2seq-out";
    public int AlphabetSize { get; init; } = 20;
    public int MinLength { get; init; } = 5;
    public int MaxLength { get; init; } = 40;
    public int HiddenSize { get; init; } = 128;
    public int EmbeddingSize { get; init; } = 32;
    public int AttentionSize { get; init; } = 32;
    public int BatchSize { get; init; } = 32;
    public double LearningRate { get; init; } = 3e-3;
    public int TestPerLength { get; init; } = 100;
    public int WarmupSteps { get; init; } = 50;
}

/// <summary>One trained model: how long it trained and how well it reverses strings of each length.</summary>
internal sealed record ModelReport(string Name, int Steps, double Seconds, double FinalLoss, double[] Accuracy);

/// <summary>The demo's results: accuracies per length for both models and the files written.</summary>
internal sealed record DemoResult(int[] Lengths, ModelReport NoAttention, ModelReport Attention, string AccuracyPlot,
    string AttentionPlot, string ResultsFile, double Seconds);

internal static class Demo
{
    public static DemoResult Run(DemoOptions o, TextWriter log)
    {
        var clock = Stopwatch.StartNew();
        var task = new ReversalTask(o.AlphabetSize, o.MinLength, o.MaxLength);
        double budget = o.TimeSeconds / 2;
        log.WriteLine($"Reversing random strings of {o.MinLength}–{o.MaxLength} letters over a {o.AlphabetSize}-letter alphabet; " +
            $"GRU H = {o.HiddenSize}, E = {o.EmbeddingSize}, batch {o.BatchSize}, {budget:0.#} s per model{(o.Steps is int s ? $" or {s} steps" : "")}.");

        var plain = new Seq2SeqModel<float>(task.VocabularySize, o.EmbeddingSize, o.HiddenSize, attentionSize: null, new Rng(o.Seed));
        var attentive = new Seq2SeqModel<float>(task.VocabularySize, o.EmbeddingSize, o.HiddenSize, o.AttentionSize, new Rng(o.Seed));
        var (plainSteps, plainSeconds, plainLoss) = Train(plain, "no attention", task, o, budget, log);
        var (attentionSteps, attentionSeconds, attentionLoss) = Train(attentive, "attention", task, o, budget, log);

        var lengths = Enumerable.Range(o.MinLength, o.MaxLength - o.MinLength + 1).ToArray();
        var testRng = new Rng(o.Seed + 2);
        var tests = lengths.Select(l => Enumerable.Range(0, o.TestPerLength).Select(_ => task.RandomString(testRng, l)).ToArray()).ToArray();
        var noAttention = new ModelReport("no attention", plainSteps, plainSeconds, plainLoss, Evaluate(plain, tests));
        var attention = new ModelReport("attention", attentionSteps, attentionSeconds, attentionLoss, Evaluate(attentive, tests));
        PrintTable(log, lengths, noAttention, attention);

        Directory.CreateDirectory(o.OutputDirectory);
        string accuracyPlot = Path.Combine(o.OutputDirectory, "accuracy_by_length.png");
        Plots.Accuracy(accuracyPlot, lengths, noAttention, attention, budget);
        var example = tests[^1][0];                                          // one of the longest test strings
        var decoded = attentive.Greedy([example], example.Length + 1)[0];
        string attentionPlot = Path.Combine(o.OutputDirectory, "attention_heatmap.png");
        Plots.AttentionHeatmap(attentionPlot, ReversalTask.Spell(example), ReversalTask.Spell(decoded.Tokens) + (decoded.Ended ? "$" : ""), decoded.Weights!);
        log.WriteLine($"Example: {ReversalTask.Spell(example)} → {ReversalTask.Spell(decoded.Tokens)} ({(IsCorrect(example, decoded.Tokens, decoded.Ended) ? "correct" : "wrong")})");
        string resultsFile = Path.Combine(o.OutputDirectory, "results.json");
        var result = new DemoResult(lengths, noAttention, attention, accuracyPlot, attentionPlot, resultsFile, clock.Elapsed.TotalSeconds);
        File.WriteAllText(resultsFile, System.Text.Json.JsonSerializer.Serialize(new { options = o, result }, JsonOptions));
        log.WriteLine($"Wrote {accuracyPlot}, {attentionPlot} and {resultsFile} ({clock.Elapsed.TotalSeconds:0.0} s in all).");
        return result;
    }

    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    /// <summary>Trains until the time budget or the step limit; returns the steps, seconds and the final smoothed loss.</summary>
    private static (int Steps, double Seconds, double Loss) Train(Seq2SeqModel<float> model, string name, ReversalTask task, DemoOptions o, double budget, TextWriter log)
    {
        var parameters = model.Parameters().ToArray();
        var optimizer = new AdamW<float>(parameters, lr: o.LearningRate);
        using var batches = task.TrainingBatches(new Rng(o.Seed + 1), o.BatchSize).GetEnumerator();
        var clock = Stopwatch.StartNew();
        double smoothed = double.NaN, nextReport = 5;
        int step = 0;
        while (clock.Elapsed.TotalSeconds < budget && step < (o.Steps ?? int.MaxValue))
        {
            double used = Math.Max(clock.Elapsed.TotalSeconds / budget, o.Steps is int n ? (double)step / n : 0);
            optimizer.ParamGroups[0].Lr = LearningRate(o.LearningRate, step, o.WarmupSteps, used);
            batches.MoveNext();
            float loss = model.Forward(batches.Current);
            model.Backward();
            GradientClipping.ClipGradNorm(parameters, maxNorm: 1.0);
            optimizer.Step();
            optimizer.ZeroGrad();
            step++;
            smoothed = double.IsNaN(smoothed) ? loss : 0.95 * smoothed + 0.05 * loss;
            if (clock.Elapsed.TotalSeconds >= nextReport)
            {
                log.WriteLine($"  {name,-12} step {step,5}  loss {smoothed:0.000}  {clock.Elapsed.TotalSeconds,5:0} s / {budget:0} s");
                nextReport += 10;
            }
        }
        log.WriteLine($"  {name,-12} trained {step} steps in {clock.Elapsed.TotalSeconds:0.0} s, final loss {smoothed:0.000} nats/token");
        return (step, clock.Elapsed.TotalSeconds, smoothed);
    }

    /// <summary>Linear warm-up, then a cosine from <paramref name="peak"/> down to peak/10 as the budget is used (0 → 1).</summary>
    internal static double LearningRate(double peak, int step, int warmupSteps, double used)
    {
        double warmup = Math.Min(1.0, (step + 1.0) / warmupSteps);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * Math.Clamp(used, 0, 1)));
        return peak * warmup * (0.1 + 0.9 * cosine);
    }

    /// <summary>Exact-match accuracy (0…1) per length: the output must be the reversed string followed by &lt;eos&gt;.</summary>
    private static double[] Evaluate(Seq2SeqModel<float> model, int[][][] testsByLength) =>
        testsByLength.Select(strings =>
        {
            var outputs = model.Greedy(strings, strings[0].Length + 1);
            return strings.Zip(outputs).Count(p => IsCorrect(p.First, p.Second.Tokens, p.Second.Ended)) / (double)strings.Length;
        }).ToArray();

    internal static bool IsCorrect(int[] source, int[] output, bool ended) => ended && output.SequenceEqual(source.Reverse());

    private static void PrintTable(TextWriter log, int[] lengths, ModelReport a, ModelReport b)
    {
        log.WriteLine();
        log.WriteLine($"Exact-match accuracy (greedy decoding) by source length:");
        log.WriteLine($"  length   {a.Name,12}   {b.Name,12}");
        for (int i = 0; i < lengths.Length; i++)
            log.WriteLine($"  {lengths[i],6}   {a.Accuracy[i],11:P0}   {b.Accuracy[i],11:P0}");
        log.WriteLine($"  {"mean",6}   {a.Accuracy.Average(),11:P1}   {b.Accuracy.Average(),11:P1}");
        log.WriteLine($"  ({a.Name}: {a.Steps} steps in {a.Seconds:0} s; {b.Name}: {b.Steps} steps in {b.Seconds:0} s)");
        log.WriteLine();
    }
}
