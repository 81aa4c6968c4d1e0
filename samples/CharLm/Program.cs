// dotnet run -c Release --project samples/CharLm [-- train|generate|score options]
//
// The command line (System.CommandLine). No arguments = `train` with the defaults. Bad input (an unknown or
// unparsable option, a non-positive number, a missing/empty/non-UTF-8 corpus, a prompt outside the vocabulary, a
// checkpoint of another model or vocabulary, an output folder that cannot be written) prints one line to stderr
// and exits with code 2, never a stack trace. Ctrl+C during training stops after the current step and saves.
using System.CommandLine;
using System.CommandLine.Parsing;
using static NeuralPrimitives.Samples.CliChecks;

namespace CharLm;

internal static class Program
{
    private static int Main(string[] args)
    {
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cancel.IsCancellationRequested) return;      // a second Ctrl+C ends the process at once
            e.Cancel = true;
            cancel.Cancel();
        };
        Console.OutputEncoding = System.Text.Encoding.UTF8;
        return Cli.Run(args, Console.Out, Console.Error, interactive: !Console.IsOutputRedirected, cancel.Token);
    }
}

/// <summary>Parses the command line, runs the command, maps bad input to exit code 2.</summary>
internal static class Cli
{
    public const int BadInput = 2;

    public static int Run(string[] args, TextWriter output, TextWriter error, bool interactive = false, CancellationToken cancel = default)
    {
        if (args.Length == 0) args = ["train"];
        var ui = new Ui(output, interactive);
        var root = new RootCommand("A character-level language model: train it on a text (default: tiny Shakespeare), generate from it, " +
            "and see where its probabilities come from. No arguments = train with the defaults (about three minutes).")
        {
            TrainCommand(ui, cancel), GenerateCommand(ui), ScoreCommand(ui),
        };
        var result = root.Parse(args);
        if (result.Errors.Count > 0) return Fail(error, result.Errors[0].Message);
        try
        {
            return result.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (UserError e)
        {
            return Fail(error, e.Message);
        }
    }

    private static Command TrainCommand(Ui ui, CancellationToken cancel)
    {
        var d = new TrainOptions();
        var model = new Option<string>("--model") { Description = "lstm | gru | rnn | transformer", DefaultValueFactory = _ => d.Model };
        model.AcceptOnlyFromAmong(ModelConfig.Kinds);
        var time = Positive(new Option<double>("--time") { Description = "Training budget in seconds (the training clock; validation is not counted)", DefaultValueFactory = _ => d.TimeSeconds });
        var steps = Positive(new Option<int?>("--steps") { Description = "Stop after this many steps (if before the time budget)" });
        var seqLen = Positive(new Option<int>("--seq-len") { Description = "Characters per stream per step (truncated BPTT length; the transformer's context)", DefaultValueFactory = _ => d.SeqLen });
        var batch = Positive(new Option<int>("--batch") { Description = "Parallel streams per step", DefaultValueFactory = _ => d.Batch });
        var hidden = Positive(new Option<int>("--hidden") { Description = "Hidden size H (the transformer's width; its default is 128)", DefaultValueFactory = _ => d.Hidden });
        var layers = Positive(new Option<int>("--layers") { Description = "Stacked recurrent layers (transformer blocks; their default is 4)", DefaultValueFactory = _ => d.Layers });
        var embed = Positive(new Option<int>("--embed") { Description = "Character embedding size E (recurrent kinds; the transformer uses H)", DefaultValueFactory = _ => d.Embed });
        var heads = Positive(new Option<int>("--heads") { Description = "Attention heads (transformer)", DefaultValueFactory = _ => d.Heads });
        var lr = Positive(new Option<double>("--lr") { Description = "Peak learning rate of AdamW", DefaultValueFactory = _ => d.Lr });
        var warmup = NonNegative(new Option<int>("--warmup") { Description = "Linear warm-up steps", DefaultValueFactory = _ => d.Warmup });
        var minLr = NonNegative(new Option<double>("--min-lr-ratio") { Description = "The cosine ends at lr × this", DefaultValueFactory = _ => d.MinLrRatio });
        var dropout = NonNegative(new Option<double>("--dropout") { Description = "Dropout before the head (and between layers), in [0, 1)", DefaultValueFactory = _ => d.Dropout });
        var weightDecay = NonNegative(new Option<double>("--weight-decay") { Description = "AdamW weight decay (matrices only)", DefaultValueFactory = _ => d.WeightDecay });
        var clip = Positive(new Option<double>("--clip") { Description = "Gradient-norm clipping threshold", DefaultValueFactory = _ => d.Clip });
        var seed = new Option<ulong>("--seed") { Description = "Seed of the weights, the dropout masks and the sample", DefaultValueFactory = _ => d.Seed };
        var threads = Positive(new Option<int>("--threads") { Description = "Threads for the kernels", DefaultValueFactory = _ => d.Threads });
        var corpus = new Option<string>("--corpus") { Description = "UTF-8 text file to learn (default: tiny Shakespeare)", DefaultValueFactory = _ => d.Corpus };
        var outDir = new Option<string>("--out") { Description = "Folder for the checkpoint, metrics.json and the plots", DefaultValueFactory = _ => d.Out };
        var resume = new Option<string?>("--resume") { Description = "Continue training from this checkpoint (weights, optimiser state, step, schedule)" };
        var evalEvery = Positive(new Option<double>("--eval-every") { Description = "Seconds of training between validations", DefaultValueFactory = _ => d.EvalEvery });
        var sample = Positive(new Option<int>("--sample-length") { Description = "Characters of the sample printed at the end", DefaultValueFactory = _ => d.SampleLength });
        dropout.Validators.Add(r => { if (r.GetValueOrDefault<double>() >= 1) r.AddError($"--dropout must be below 1, got {r.GetValueOrDefault<double>()}."); });
        var command = new Command("train", "Train a character-level language model (no arguments at all = this with the defaults).")
        {
            model, time, steps, seqLen, batch, hidden, layers, embed, heads, lr, warmup, minLr, dropout, weightDecay, clip, seed, threads,
            corpus, outDir, resume, evalEvery, sample,
        };
        command.SetAction(parsed =>
        {
            var o = new TrainOptions
            {
                Model = parsed.GetValue(model)!, TimeSeconds = parsed.GetValue(time), Steps = parsed.GetValue(steps), SeqLen = parsed.GetValue(seqLen),
                Batch = parsed.GetValue(batch), Hidden = parsed.GetValue(hidden), Layers = parsed.GetValue(layers), Embed = parsed.GetValue(embed),
                Heads = parsed.GetValue(heads), Lr = parsed.GetValue(lr), Warmup = parsed.GetValue(warmup), MinLrRatio = parsed.GetValue(minLr),
                Dropout = parsed.GetValue(dropout), WeightDecay = parsed.GetValue(weightDecay), Clip = parsed.GetValue(clip), Seed = parsed.GetValue(seed),
                Threads = parsed.GetValue(threads), Corpus = parsed.GetValue(corpus)!, Out = parsed.GetValue(outDir)!, Resume = parsed.GetValue(resume),
                EvalEvery = parsed.GetValue(evalEvery), SampleLength = parsed.GetValue(sample),
                ModelGiven = parsed.GetResult(model) is { Implicit: false },
            };
            // The transformer's own defaults for the width and the depth (the recurrent defaults would make one wide block).
            if (o.Model == "transformer")
                o = o with
                {
                    Hidden = parsed.GetResult(hidden) is { Implicit: false } ? o.Hidden : TrainOptions.TransformerHidden,
                    Layers = parsed.GetResult(layers) is { Implicit: false } ? o.Layers : TrainOptions.TransformerLayers,
                };
            if (CheckWritable(o.Out) is string problem) throw new UserError(problem);
            Trainer.Run(o, ui, cancel);
            return 0;
        });
        return command;
    }

    private static Command GenerateCommand(Ui ui)
    {
        var d = new GenerateOptions();
        var checkpoint = new Option<string>("--checkpoint") { Description = "A checkpoint written by train", DefaultValueFactory = _ => d.Checkpoint };
        var gpt2 = new Option<string?>("--gpt2") { Description = "Instead: a Hugging Face GPT-2 folder (model.safetensors), tokenised with GPT-2's BPE" };
        var prompt = new Option<string?>("--prompt") { Description = $"The text to continue (default \"{Commands.DefaultPrompt}\")" };
        var length = Positive(new Option<int>("--length") { Description = "Tokens (characters) to generate", DefaultValueFactory = _ => d.Length });
        var strategy = new Option<string>("--strategy") { Description = "greedy | sample | beam", DefaultValueFactory = _ => d.Strategy };
        strategy.AcceptOnlyFromAmong("greedy", "sample", "beam");
        var temperature = Positive(new Option<double>("--temperature") { Description = "Sampling temperature τ > 0", DefaultValueFactory = _ => d.Temperature });
        var topK = NonNegative(new Option<int>("--top-k") { Description = "Sample among the k most likely (0 = off)", DefaultValueFactory = _ => d.TopK });
        var topP = Positive(new Option<double>("--top-p") { Description = "Nucleus: the smallest set reaching probability p, in (0, 1]", DefaultValueFactory = _ => d.TopP });
        topP.Validators.Add(r => { if (r.GetValueOrDefault<double>() > 1) r.AddError($"--top-p must be at most 1, got {r.GetValueOrDefault<double>()}."); });
        var repetition = Positive(new Option<double>("--repetition-penalty") { Description = "Divide the logits of tokens already seen by θ (1 = off)", DefaultValueFactory = _ => d.RepetitionPenalty });
        var beam = Positive(new Option<int>("--beam") { Description = "Beam width (strategy beam)", DefaultValueFactory = _ => d.Beam });
        var lengthPenalty = NonNegative(new Option<double>("--length-penalty") { Description = "α: beam scores are log p / |Y|^α", DefaultValueFactory = _ => d.LengthPenalty });
        var seed = new Option<ulong>("--seed") { Description = "Seed of the sampling", DefaultValueFactory = _ => d.Seed };
        var threads = Positive(new Option<int>("--threads") { Description = "Threads for the kernels", DefaultValueFactory = _ => d.Threads });
        var command = new Command("generate", "Continue a prompt, streaming the text as it is produced.")
        {
            checkpoint, gpt2, prompt, length, strategy, temperature, topK, topP, repetition, beam, lengthPenalty, seed, threads,
        };
        command.SetAction(parsed => Commands.Generate(new GenerateOptions
        {
            Checkpoint = parsed.GetValue(checkpoint)!, Gpt2 = parsed.GetValue(gpt2), Prompt = parsed.GetValue(prompt), Length = parsed.GetValue(length),
            Strategy = parsed.GetValue(strategy)!, Temperature = parsed.GetValue(temperature), TopK = parsed.GetValue(topK), TopP = parsed.GetValue(topP),
            RepetitionPenalty = parsed.GetValue(repetition), Beam = parsed.GetValue(beam), LengthPenalty = parsed.GetValue(lengthPenalty),
            Seed = parsed.GetValue(seed), Threads = parsed.GetValue(threads),
        }, ui));
        return command;
    }

    private static Command ScoreCommand(Ui ui)
    {
        var d = new ScoreOptions();
        var checkpoint = new Option<string>("--checkpoint") { Description = "A checkpoint written by train", DefaultValueFactory = _ => d.Checkpoint };
        var gpt2 = new Option<string?>("--gpt2") { Description = "Instead: a Hugging Face GPT-2 folder (model.safetensors), tokenised with GPT-2's BPE" };
        var text = new Option<string>("--text") { Description = "The text to explain", DefaultValueFactory = _ => d.Text };
        var top = Positive(new Option<int>("--top") { Description = "Rows of the most-surprising table", DefaultValueFactory = _ => d.Top });
        var threads = Positive(new Option<int>("--threads") { Description = "Threads for the kernels", DefaultValueFactory = _ => d.Threads });
        var command = new Command("score", "Explain a text: each character coloured by its surprisal, the most surprising positions with the model's alternatives, the perplexity.")
        {
            checkpoint, gpt2, text, top, threads,
        };
        command.SetAction(parsed => Commands.Score(new ScoreOptions
        {
            Checkpoint = parsed.GetValue(checkpoint)!, Gpt2 = parsed.GetValue(gpt2), Text = parsed.GetValue(text)!, Top = parsed.GetValue(top),
            Threads = parsed.GetValue(threads),
        }, ui));
        return command;
    }

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"charlm: {Checkpoint.FirstLine(message)}");
        return BadInput;
    }
}
