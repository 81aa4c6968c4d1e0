// dotnet run -c Release --project samples/Seq2Seq [-- options]
//
// The command line (System.CommandLine). A bad option (unknown, unparsable, out of range, or an output
// folder that cannot be written) prints one line to stderr and exits with code 2, never a stack trace.
using System.CommandLine;
using System.CommandLine.Parsing;
using static NeuralPrimitives.Samples.CliChecks;

namespace Seq2Seq;

internal static class Program
{
    private static int Main(string[] args) => Cli.Run(args, Console.Out, Console.Error);
}

/// <summary>Parses the options, runs the demo, maps bad input to exit code 2.</summary>
internal static class Cli
{
    public const int BadInput = 2;

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var d = new DemoOptions();
        var time = Positive(new Option<double>("--time") { Description = "Training budget in seconds, split equally between the two models", DefaultValueFactory = _ => d.TimeSeconds });
        var steps = Positive(new Option<int?>("--steps") { Description = "Stop each model after this many steps (if before the time budget)" });
        var seed = new Option<ulong>("--seed") { Description = "Seed of the weights, the training batches and the test strings", DefaultValueFactory = _ => d.Seed };
        var outDir = new Option<string>("--out") { Description = "Folder for the plots and results.json", DefaultValueFactory = _ => d.OutputDirectory };
        var alphabet = Positive(new Option<int>("--alphabet") { Description = "Number of letters (1–26)", DefaultValueFactory = _ => d.AlphabetSize });
        var minLength = Positive(new Option<int>("--min-length") { Description = "Shortest source string", DefaultValueFactory = _ => d.MinLength });
        var maxLength = Positive(new Option<int>("--max-length") { Description = "Longest source string", DefaultValueFactory = _ => d.MaxLength });
        var hidden = Positive(new Option<int>("--hidden") { Description = "GRU hidden size H (encoder and decoder)", DefaultValueFactory = _ => d.HiddenSize });
        var embedding = Positive(new Option<int>("--embedding") { Description = "Letter embedding size E", DefaultValueFactory = _ => d.EmbeddingSize });
        var attentionSize = Positive(new Option<int>("--attention-size") { Description = "Width of the additive attention's hidden layer", DefaultValueFactory = _ => d.AttentionSize });
        var batch = Positive(new Option<int>("--batch") { Description = "Sequences per training batch", DefaultValueFactory = _ => d.BatchSize });
        var lr = Positive(new Option<double>("--lr") { Description = "Peak learning rate of AdamW", DefaultValueFactory = _ => d.LearningRate });
        var testPerLength = Positive(new Option<int>("--test-per-length") { Description = "Test strings per source length", DefaultValueFactory = _ => d.TestPerLength });
        var root = new RootCommand("A GRU encoder–decoder learns to reverse strings, once without attention (the bottleneck) and once with " +
            "additive attention, under the same time budget; prints and plots exact-match accuracy by length and one attention heatmap.")
        {
            time, steps, seed, outDir, alphabet, minLength, maxLength, hidden, embedding, attentionSize, batch, lr, testPerLength,
        };
        alphabet.Validators.Add(r => { if (r.GetValueOrDefault<int>() > 26) r.AddError($"--alphabet must be at most 26 letters, got {r.GetValueOrDefault<int>()}."); });
        root.Validators.Add(r =>
        {
            int min = r.GetValue(minLength), max = r.GetValue(maxLength);
            if (min > max) r.AddError($"--min-length ({min}) must not exceed --max-length ({max}).");
        });
        root.SetAction(parsed =>
        {
            var options = new DemoOptions
            {
                TimeSeconds = parsed.GetValue(time), Steps = parsed.GetValue(steps), Seed = parsed.GetValue(seed),
                OutputDirectory = parsed.GetValue(outDir)!, AlphabetSize = parsed.GetValue(alphabet),
                MinLength = parsed.GetValue(minLength), MaxLength = parsed.GetValue(maxLength), HiddenSize = parsed.GetValue(hidden),
                EmbeddingSize = parsed.GetValue(embedding), AttentionSize = parsed.GetValue(attentionSize), BatchSize = parsed.GetValue(batch),
                LearningRate = parsed.GetValue(lr), TestPerLength = parsed.GetValue(testPerLength),
            };
            if (CheckWritable(options.OutputDirectory) is string problem) return Fail(error, problem);
            Demo.Run(options, output);
            return 0;
        });

        var result = root.Parse(args);
        if (result.Errors.Count > 0) return Fail(error, result.Errors[0].Message);
        return result.Invoke(new InvocationConfiguration { Output = output, Error = error });
    }

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"seq2seq: {message}");
        return BadInput;
    }
}
