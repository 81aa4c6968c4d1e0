using System.Text.Json;
using Seq2Seq;

namespace NeuralPrimitives.Tests.Samples;

/// <summary>
/// samples/Seq2Seq (issue 12): the hand-written backward of the decoder loop agrees with central differences, the batches
/// are what the header says, the demo run in-process shows attention beating the bottleneck on the longest strings and
/// writes valid PNGs, a seed reproduces a run, and bad options exit with code 2 and one line.
/// </summary>
public class Seq2SeqTests
{
    // ---- the model's backward ----------------------------------------------------------------------------------

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DecoderLoopBackwardMatchesCentralDifferences(bool attention)
    {
        // Four letters, lengths 1, 4 and 3 in one batch (so padding in the encoder, the attention and the loss).
        var task = new ReversalTask(alphabetSize: 4, minLength: 1, maxLength: 4);
        var rng = new Rng(7);
        var batch = ReversalTask.MakeBatch([task.RandomString(rng, 1), task.RandomString(rng, 4), task.RandomString(rng, 3)]);
        var model = new Seq2SeqModel<double>(task.VocabularySize, embeddingSize: 3, hiddenSize: 4, attention ? 3 : null, new Rng(11));
        var parameters = model.NamedParameters().ToList();
        var problem = new GradientCheckProblem
        {
            Inputs = [],
            Parameters = parameters,
            Forward = () => [[model.Forward(batch)]],
            Backward = d => { model.Backward(d[0][0]); return []; },
        };
        // Tighter than gradcheck's defaults: the gradients of this tiny model's mean loss are ~1e-5 … 1e-4, so an
        // absolute tolerance of 1e-5 would let a missing term pass (dropping the attention's ds did); central
        // differences agree to ~2e-10 here.
        var result = GradientCheck.Run(problem, new GradientCheckOptions { AbsoluteTolerance = 1e-8, RelativeTolerance = 1e-6 });
        Assert.True(result.Passed, result.ToString());
        Assert.Equal(attention, parameters.Any(p => p.Name.StartsWith("attention.", StringComparison.Ordinal)));
        // The check must have seen real gradients: every weight matrix gets some (only padding rows stay zero).
        model.ZeroGrad();
        model.Forward(batch);
        model.Backward();
        foreach (var (name, p) in parameters.Where(p => p.Parameter.Shape.Length == 2 && !p.Name.StartsWith("attention.Va", StringComparison.Ordinal)))
            Assert.True(p.Grad.Any(g => g != 0), $"{name} has no gradient");
    }

    [Fact]
    public void BackwardTwiceAfterOneForwardIsRefused()
    {
        var task = new ReversalTask(3, 2, 3);
        var model = new Seq2SeqModel<float>(task.VocabularySize, 2, 3, 2, new Rng(1));
        var batch = ReversalTask.MakeBatch([[3, 4], [5, 4, 3]]);
        Assert.Throws<InvalidOperationException>(() => model.Backward());
        model.Forward(batch);
        model.Backward();
        Assert.Throws<InvalidOperationException>(() => model.Backward());
    }

    // ---- the data ----------------------------------------------------------------------------------------------

    [Fact]
    public void BatchHoldsTeacherForcingInputsAndReversedTargets()
    {
        const int a = ReversalTask.FirstLetter, b = a + 1, c = a + 2;
        var batch = ReversalTask.MakeBatch([[a, b, c], [c, a]]);
        Assert.Equal([3, 2], batch.SourceLengths);
        Assert.Equal([a, b, c, c, a, ReversalTask.Pad], batch.Sources.ToArray());        // [B, S]
        const int bos = ReversalTask.Bos, eos = ReversalTask.Eos, pad = ReversalTask.Pad;
        // [U, B] time-major: column 0 is "abc" → "cba$", column 1 is "ca" → "ac$" then padding.
        Assert.Equal([bos, bos, c, a, b, c, a, pad], batch.DecoderInputs.ToArray());
        Assert.Equal([c, a, b, c, a, eos, eos, pad], batch.Targets.ToArray());
        Assert.Equal("cba", ReversalTask.Spell([c, b, a]));
    }

    [Fact]
    public void TrainingBatchesCoverEveryLengthAndGroupSimilarLengths()
    {
        var task = new ReversalTask(alphabetSize: 5, minLength: 5, maxLength: 40);
        var batches = task.TrainingBatches(new Rng(3), batchSize: 16).Take(8 * ReversalTask.BucketBatches).ToList();
        var lengths = batches.SelectMany(x => x.SourceLengths).ToList();
        Assert.Equal(Enumerable.Range(5, 36), lengths.Distinct().Order());
        double meanPadded = batches.Average(x => x.SourceSteps), meanLength = lengths.Average();
        Assert.True(meanPadded < meanLength + 3, $"bucketing should keep padding small: padded {meanPadded:0.0} vs mean length {meanLength:0.0}");
        Assert.All(batches.SelectMany(x => x.Sources.ToArray()), t => Assert.InRange(t, ReversalTask.Pad, task.VocabularySize - 1));
    }

    [Fact]
    public void LearningRateWarmsUpThenDecaysToATenth()
    {
        Assert.Equal(0.1, Demo.LearningRate(1.0, step: 0, warmupSteps: 10, used: 0), 12);   // (0 + 1) / 10
        Assert.Equal(1.0, Demo.LearningRate(1.0, step: 50, warmupSteps: 10, used: 0), 12);
        Assert.Equal(0.55, Demo.LearningRate(1.0, step: 50, warmupSteps: 10, used: 0.5), 12); // 0.1 + 0.9·½
        Assert.Equal(0.1, Demo.LearningRate(1.0, step: 50, warmupSteps: 10, used: 1), 12);
    }

    // ---- the demo, in-process ----------------------------------------------------------------------------------

    // A small version of the default run: lengths 5–12, a smaller model, a fixed number of steps (so the result
    // does not depend on the machine's speed, or on coverage instrumentation, which makes it about 4× slower; the time
    // budget is only a safety cap). About 5 s. At length 12,
    // seeds 1–8 gave attention 87–95 % and no attention 0–1 %, so the margin of 50 points holds with room.
    private static readonly string[] Small =
        ["--steps", "600", "--time", "1800", "--min-length", "5", "--max-length", "12", "--alphabet", "10",
         "--hidden", "48", "--embedding", "16", "--attention-size", "16", "--batch", "32", "--lr", "0.006", "--test-per-length", "100"];

    private static (int Code, string Output, string Error, JsonElement Result, string Folder) RunDemo(params string[] args)
    {
        string folder = Path.Combine(Path.GetTempPath(), "np-seq2seq-" + Guid.NewGuid().ToString("N"));
        var (output, error) = (new StringWriter(), new StringWriter());
        int code = Cli.Run([.. args, "--out", folder], output, error);
        var result = code == 0 ? JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "results.json"))).RootElement.GetProperty("result").Clone() : default;
        return (code, output.ToString(), error.ToString(), result, folder);
    }

    private static double[] Accuracy(JsonElement result, string model) =>
        result.GetProperty(model).GetProperty("Accuracy").EnumerateArray().Select(e => e.GetDouble()).ToArray();

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [Trait(TestCategories.Category, TestCategories.Long)]
    public void AttentionBeatsTheBottleneckOnTheLongestStrings(ulong seed)
    {
        var (code, output, error, result, folder) = RunDemo([.. Small, "--seed", seed.ToString()]);
        try
        {
            Assert.True(code == 0, error);
            double[] plain = Accuracy(result, "NoAttention"), attention = Accuracy(result, "Attention");
            int longest = plain.Length - 1;
            Assert.True(attention[longest] >= plain[longest] + 0.5,
                $"seed {seed}: at length 12 attention {attention[longest]:P0} vs no attention {plain[longest]:P0}\n{output}");
            Assert.Contains("Exact-match accuracy", output);
            foreach (var png in new[] { "accuracy_by_length.png", "attention_heatmap.png" })
                Png.AssertValid(Path.Combine(folder, png));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void SameSeedAndStepsReproduceTheRun()
    {
        string[] tiny = ["--steps", "15", "--min-length", "3", "--max-length", "6", "--hidden", "16", "--embedding", "8",
            "--attention-size", "8", "--batch", "8", "--test-per-length", "10", "--seed", "5"];
        var first = RunDemo(tiny);
        var second = RunDemo(tiny);
        try
        {
            Assert.Equal(0, first.Code);
            Assert.Equal(0, second.Code);
            foreach (var model in new[] { "NoAttention", "Attention" })
            {
                Assert.Equal(15, first.Result.GetProperty(model).GetProperty("Steps").GetInt32());
                Assert.Equal(first.Result.GetProperty(model).GetProperty("FinalLoss").GetDouble(), second.Result.GetProperty(model).GetProperty("FinalLoss").GetDouble());
                Assert.Equal(Accuracy(first.Result, model), Accuracy(second.Result, model));
            }
        }
        finally
        {
            Directory.Delete(first.Folder, recursive: true);
            Directory.Delete(second.Folder, recursive: true);
        }
    }

    // ---- the command line ----------------------------------------------------------------------------------------

    [Theory]
    [InlineData("--time", "0")]
    [InlineData("--time", "-5")]
    [InlineData("--steps", "0")]
    [InlineData("--hidden", "-3")]
    [InlineData("--batch", "0")]
    [InlineData("--lr", "0")]
    [InlineData("--alphabet", "27")]
    [InlineData("--hidden", "many")]
    [InlineData("--no-such-option")]
    [InlineData("--min-length", "10", "--max-length", "5")]
    public void BadOptionsExitWithCodeTwoAndOneLine(params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        Assert.Equal(Cli.BadInput, Cli.Run(args, output, error));
        string message = error.ToString().TrimEnd();
        Assert.StartsWith("seq2seq: ", message);
        Assert.DoesNotContain('\n', message);
        Assert.DoesNotContain("   at ", message);
    }

    [Fact]
    public void AnOutputFolderThatCannotBeWrittenExitsWithCodeTwo()
    {
        string file = Path.GetTempFileName();                 // a file: no folder can be created under it
        try
        {
            var (output, error) = (new StringWriter(), new StringWriter());
            Assert.Equal(Cli.BadInput, Cli.Run(["--out", Path.Combine(file, "plots")], output, error));
            Assert.StartsWith("seq2seq: cannot write to the output folder", error.ToString());
            Assert.DoesNotContain('\n', error.ToString().TrimEnd());
            Assert.Empty(output.ToString());                  // nothing trained
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void HelpListsTheOptions()
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        Assert.Equal(0, Cli.Run(["--help"], output, error));
        foreach (var option in new[] { "--time", "--seed", "--out", "--hidden", "--max-length" }) Assert.Contains(option, output.ToString());
    }
}
