// `train`: the recipe of benchmarks/peers/charlm_peer.py (data in Corpus.cs), step by step:
//   lr        linear warm-up over the first W steps, lr·(s+1)/W; then a cosine from lr to lr·r as the budget is used:
//             lr_s = lr·r + ½·(lr − lr·r)·(1 + cos(π·u)), u = the fraction used = max(training seconds / --time,
//             steps / --steps) (nanoGPT's schedule, Optim/WarmupCosineLR.cs, but driven by the wall clock like the peer)
//   step      logits = model(x); L = mean CE; backward; clip_grad_norm(clip); AdamW(lr, wd on matrices only); zero_grad
//   budget    training stops when the training clock reaches --time or after --steps; the training clock stops while
//             the validation runs, so validating takes no steps away from the model: every --eval-every seconds of
//             training over the first eighth of each of the 64 validation streams (the progress bar's and the curve's
//             points), and once at the end over the whole split (the number reported)
//   Ctrl+C    (the token) stops after the current step: the checkpoint is written as at the end, then the run stops
//   --resume  loads the weights, the optimiser state, the step, the stream position and the loss history; the
//             schedule then spans the checkpoint's seconds + --time (and steps + --steps): to finish an interrupted
//             run with the schedule it had, resume it with --time = what was left
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;

namespace CharLm;

/// <summary>The options of <c>train</c> (defaults: the default run, the same as charlm_peer.py's).</summary>
internal sealed record TrainOptions
{
    public string Model { get; init; } = "lstm";
    public double TimeSeconds { get; init; } = 180;
    public int? Steps { get; init; }
    public int SeqLen { get; init; } = 64;
    public int Batch { get; init; } = 64;
    public int Hidden { get; init; } = 384;
    public int Layers { get; init; } = 1;
    public int Embed { get; init; } = 64;
    public int Heads { get; init; } = 4;
    public double Lr { get; init; } = 5e-3;
    public int Warmup { get; init; } = 50;
    public double MinLrRatio { get; init; } = 0.1;
    public double Dropout { get; init; } = 0.1;
    public double WeightDecay { get; init; } = 0.01;
    public double Clip { get; init; } = 1.0;
    public ulong Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
    public string Corpus { get; init; } = DefaultCorpus;
    public string Out { get; init; } = "charlm-out";
    public string? Resume { get; init; }
    public double EvalEvery { get; init; } = 30;
    public int SampleLength { get; init; } = 400;
    /// <summary>Whether --model was given explicitly (a --resume checkpoint of another kind is then an error).</summary>
    public bool ModelGiven { get; init; }

    public const int TransformerHidden = 128, TransformerLayers = 4;

    public static string DefaultCorpus => Path.Combine(AppContext.BaseDirectory, "data", "tinyshakespeare.txt");
}

/// <summary>What a training run produced (metrics.json).</summary>
internal sealed record TrainResult
{
    public string Implementation { get; init; } = "NeuralPrimitives";
    public string Model { get; init; } = "";
    public int Hidden { get; init; }
    public int Layers { get; init; }
    public int Embed { get; init; }
    public int Heads { get; init; }
    public int SeqLen { get; init; }
    public int Batch { get; init; }
    public double Lr { get; init; }
    public string Schedule { get; init; } = "";
    public double Dropout { get; init; }
    public double WeightDecay { get; init; }
    public double Clip { get; init; }
    public ulong Seed { get; init; }
    public int Threads { get; init; }
    public int Parameters { get; init; }
    public string Corpus { get; init; } = "";
    public int Steps { get; init; }
    public double Seconds { get; init; }
    public double TrainLoss { get; init; }
    public double ValLoss { get; init; }
    public double ValPerplexity { get; init; }
    public double ValBitsPerChar { get; init; }
    public double CharsPerSecond { get; init; }
    public double ValidationSeconds { get; init; }
    public double TotalSeconds { get; init; }
    public bool Interrupted { get; init; }
    public string Checkpoint { get; init; } = "";
    public string[] Plots { get; init; } = [];
    public string Sample { get; init; } = "";
}

internal static class Trainer
{
    public static readonly JsonSerializerOptions MetricsJson = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>The periodic validations read the first eighth of each of the 64 validation streams; the final one all of it.</summary>
    public const double PeriodicFraction = 0.125;

    /// <summary>The peer's lr_at: warm-up by steps, then the cosine by the fraction of the budget used.</summary>
    public static double LearningRate(double peak, double minRatio, int warmup, int step, double used)
    {
        if (step < warmup) return peak * (step + 1) / warmup;
        double low = peak * minRatio;
        return low + 0.5 * (peak - low) * (1 + Math.Cos(Math.PI * Math.Clamp(used, 0, 1)));
    }

    public static TrainResult Run(TrainOptions o, Ui ui, CancellationToken cancel)
    {
        var wall = Stopwatch.StartNew();
        Parallelism.NumThreads = o.Threads;
        var text = Corpus.ReadText(o.Corpus);

        LoadedCheckpoint? resumed = o.Resume is string r ? Checkpoint.Load(r) : null;
        if (resumed is not null && o.ModelGiven && resumed.Model.Config.Model != o.Model)
            throw new UserError($"--resume '{o.Resume}' is a {resumed.Model.Config.Model} checkpoint, but --model is {o.Model}.");
        Corpus corpus;
        if (resumed is not null)
        {
            var own = Vocabulary.Of(text);
            if (!own.SameAs(resumed.Vocabulary))
                throw new UserError($"--resume '{o.Resume}' was trained on another vocabulary ({resumed.Vocabulary.Count} characters) than the corpus '{o.Corpus}' has ({own.Count}).");
            corpus = new Corpus(text, resumed.Vocabulary);
        }
        else corpus = new Corpus(text);

        var prior = resumed?.Training;
        int seqLen = prior?.SeqLen ?? o.SeqLen, batch = prior?.Batch ?? o.Batch;
        var model = resumed?.Model ?? CharModels.Create(new ModelConfig
        {
            Model = o.Model, Vocabulary = corpus.Vocabulary.Count, Hidden = o.Hidden, Layers = o.Layers,
            Embed = o.Model == "transformer" ? o.Hidden : o.Embed, Dropout = o.Dropout, Heads = o.Heads, Context = seqLen,
        }, o.Seed);
        var config = model.Config;
        var streams = Corpus.Streams(corpus.Train, batch, out int share);
        if (share < seqLen + 1)
            throw new UserError($"the corpus is too short: {corpus.TrainLength} training characters in {batch} streams give {share} each, fewer than --seq-len + 1 = {seqLen + 1}.");
        if (corpus.Validation.Length / 64 < 2)
            throw new UserError($"the corpus is too short: its validation tenth ({corpus.Validation.Length} characters) must give 64 streams of at least 2 characters.");
        Directory.CreateDirectory(o.Out);

        var parameters = model.Module.Parameters().ToArray();
        var optimizer = new AdamW<float>(
            [new ParamGroup<float>(parameters.Where(p => p.Shape.Length >= 2)) { WeightDecay = o.WeightDecay },
             new ParamGroup<float>(parameters.Where(p => p.Shape.Length < 2)) { WeightDecay = 0 }], lr: o.Lr);
        bool optimizerResumed = resumed is not null && Checkpoint.TryLoadOptimizer(resumed.Path, optimizer);

        int startStep = prior?.Step ?? 0;
        double startSeconds = prior?.Seconds ?? 0;
        double budget = startSeconds + o.TimeSeconds;
        int? maxSteps = o.Steps is int n ? startStep + n : null;
        var trainCurve = prior?.Train.ToList() ?? [];
        var valCurve = prior?.Validation.ToList() ?? [];
        string schedule = $"warmup {o.Warmup} then cosine to {o.MinLrRatio.ToString(System.Globalization.CultureInfo.InvariantCulture)}x over the budget";
        int parameterCount = parameters.Sum(p => p.Length);

        ui.Line($"Corpus {Path.GetFileName(o.Corpus)}: {corpus.Ids.Length:N0} characters, vocabulary {corpus.Vocabulary.Count}; " +
            $"train {corpus.TrainLength:N0}, validation {corpus.Validation.Length:N0}.");
        ui.Line($"Model {config.Model}: hidden {config.Hidden}, layers {config.Layers}, embed {config.Embed}{(config.IsRecurrent ? "" : $", heads {config.Heads}, context {config.Context}")}, " +
            $"dropout {config.Dropout}; {parameterCount:N0} parameters. Batch {batch} × seq {seqLen}, AdamW lr {o.Lr}, {schedule}, clip {o.Clip}, " +
            $"{o.Threads} thread{(o.Threads == 1 ? "" : "s")}.");
        if (resumed is not null)
            ui.Line($"Resuming {resumed.Path} at step {startStep} ({startSeconds:0.0} s trained){(optimizerResumed ? " with its optimiser state" : ", optimiser state not found: starting it afresh")}.");
        ui.Line($"Training for {o.TimeSeconds:0.#} s{(o.Steps is int s ? $" or {s} steps" : "")}, validating every {o.EvalEvery:0} s (an eighth of the split) and at the end (all of it). Ctrl+C stops and saves.");

        var inputArray = new int[seqLen * batch];
        var targetArray = new int[seqLen * batch];
        var inputs = Tensor.Create(inputArray, [seqLen, batch]);
        var targets = Tensor.Create(targetArray, [seqLen, batch]);
        int position = prior?.Position ?? 0;
        bool reset = true;
        int step = startStep;
        var recent = new Queue<double>();
        double valLoss = valCurve.Count > 0 ? valCurve[^1].Loss : double.NaN, validationSeconds = 0;
        var clock = new Stopwatch();
        double Trained() => startSeconds + clock.Elapsed.TotalSeconds;
        double Used() => Math.Max(Trained() / budget, maxSteps is int m ? (double)step / m : 0);
        double nextEval = startSeconds + o.EvalEvery;
        long charsThisRun = 0;

        double Validate(double fraction)
        {
            clock.Stop();
            var v = Stopwatch.StartNew();
            model.Module.Eval();
            double loss = model.Evaluate(corpus.Validation, 64, seqLen, fraction);
            model.Module.Train();
            validationSeconds += v.Elapsed.TotalSeconds;
            valCurve.Add(new LossPoint(step, Trained(), loss));
            clock.Start();
            return loss;
        }

        string Status()
        {
            double trained = clock.Elapsed.TotalSeconds;
            double cps = trained > 0 ? charsThisRun / trained : 0;
            double left = Math.Max(0, budget - Trained());
            if (maxSteps is int m && step > startStep) left = Math.Min(left, (m - step) * trained / (step - startStep));
            return $"step {step}  train {(recent.Count > 0 ? recent.Average() : double.NaN):0.000}  val {valLoss:0.000} (ppl {Math.Exp(valLoss):0.00})  " +
                $"{cps:N0} chars/s  {left:0} s left";
        }

        bool interrupted = false;
        ui.Progress(report =>
        {
            clock.Start();
            while (true)
            {
                if (Trained() >= budget || (maxSteps is int m && step >= m)) break;
                if (cancel.IsCancellationRequested) { interrupted = true; break; }
                double used = Used();
                double lr = LearningRate(o.Lr, o.MinLrRatio, o.Warmup, step, used);
                foreach (var g in optimizer.ParamGroups) g.Lr = lr;
                if (position + seqLen + 1 > share) { position = 0; reset = true; }
                streams.AsSpan(position * batch, seqLen * batch).CopyTo(inputArray);
                streams.AsSpan((position + 1) * batch, seqLen * batch).CopyTo(targetArray);
                position += seqLen;
                float loss = model.TrainStep(inputs, targets, reset);
                reset = false;
                GradientClipping.ClipGradNorm(parameters, o.Clip);
                optimizer.Step();
                optimizer.ZeroGrad();
                step++;
                charsThisRun += seqLen * batch;
                if (!float.IsFinite(loss)) throw new UserError($"the training loss became {loss} at step {step}: lower --lr.");
                recent.Enqueue(loss);
                if (recent.Count > 50) recent.Dequeue();
                trainCurve.Add(new LossPoint(step, Trained(), loss));
                if (Trained() >= nextEval && Trained() < budget - o.EvalEvery / 3)
                {
                    valLoss = Validate(PeriodicFraction);
                    nextEval += o.EvalEvery;
                }
                report(Used(), Status());
            }
            clock.Stop();
            report(Used(), "final validation over the whole split …");
            valLoss = Validate(1);
            clock.Stop();
            report(Math.Min(1, Used()), Status());
        });

        double seconds = Trained();
        var training = new TrainingState
        {
            Step = step, Seconds = seconds, Position = position, SeqLen = seqLen, Batch = batch, Lr = o.Lr, Warmup = o.Warmup,
            MinLrRatio = o.MinLrRatio, WeightDecay = o.WeightDecay, Clip = o.Clip, Seed = o.Seed, Train = Thin(trainCurve, 2000), Validation = valCurve,
        };
        string checkpointPath = Checkpoint.PathFor(o.Out, config.Model);
        Checkpoint.Save(checkpointPath, model, corpus.Vocabulary, training, optimizer);
        double trainLoss = recent.Count > 0 ? recent.Average() : double.NaN;
        double runSeconds = clock.Elapsed.TotalSeconds;
        ui.Line($"{(interrupted ? "Interrupted" : "Trained")}: {step} steps in {seconds:0.0} s (validation {validationSeconds:0.0} s more), " +
            $"train loss {trainLoss:0.000}, validation loss {valLoss:0.0000} nats/char (perplexity {Math.Exp(valLoss):0.000}, {valLoss / Math.Log(2):0.000} bits/char).");
        ui.Line($"Checkpoint: {checkpointPath}{(interrupted ? $" (continue with: train --resume {checkpointPath} --time {Math.Max(1, budget - seconds):0})" : "")}");

        string sample = "";
        var plots = new List<string>();
        if (!interrupted)
        {
            int[] prompt = corpus.Vocabulary.TryGetId('\n', out int newline) ? [newline] : [corpus.Ids[0]];
            var tokens = Decode.Sample(model, prompt, o.SampleLength, new SamplingOptions { Temperature = 0.8 }, o.Seed);
            sample = corpus.Vocabulary.Decode(tokens);
            ui.Line("");
            ui.Line("A sample (temperature 0.8):");
            ui.Text(sample);
            ui.Line("");
            plots.AddRange(Plots.WriteAll(o.Out, model, corpus, trainCurve, valCurve, sample, ui));
        }
        var result = new TrainResult
        {
            Model = config.Model, Hidden = config.Hidden, Layers = config.Layers, Embed = config.Embed, Heads = config.IsRecurrent ? 0 : config.Heads,
            SeqLen = seqLen, Batch = batch, Lr = o.Lr, Schedule = schedule, Dropout = config.Dropout, WeightDecay = o.WeightDecay,
            Clip = o.Clip, Seed = o.Seed, Threads = o.Threads, Parameters = parameterCount, Corpus = Path.GetFileName(o.Corpus),
            Steps = step, Seconds = Math.Round(seconds, 1), TrainLoss = Math.Round(trainLoss, 4), ValLoss = Math.Round(valLoss, 4),
            ValPerplexity = Math.Round(Math.Exp(valLoss), 3), ValBitsPerChar = Math.Round(valLoss / Math.Log(2), 4),
            CharsPerSecond = Math.Round(runSeconds > 0 ? charsThisRun / runSeconds : 0), ValidationSeconds = Math.Round(validationSeconds, 1),
            TotalSeconds = Math.Round(wall.Elapsed.TotalSeconds, 1), Interrupted = interrupted, Checkpoint = checkpointPath, Plots = plots.ToArray(), Sample = sample,
        };
        string metricsPath = Path.Combine(o.Out, "metrics.json");
        File.WriteAllText(metricsPath, JsonSerializer.Serialize(result, MetricsJson));
        ui.Line($"Wrote {metricsPath}{(plots.Count > 0 ? ", " + string.Join(", ", plots.Select(Path.GetFileName)) : "")} ({wall.Elapsed.TotalSeconds:0.0} s in all).");
        return result;
    }

    /// <summary>At most <paramref name="max"/> points of a curve, evenly spaced, the last one kept.</summary>
    private static List<LossPoint> Thin(List<LossPoint> points, int max)
    {
        if (points.Count <= max) return points;
        var result = new List<LossPoint>(max);
        for (int i = 0; i < max; i++) result.Add(points[(int)((long)i * (points.Count - 1) / (max - 1))]);
        return result;
    }
}
