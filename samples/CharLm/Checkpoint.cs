// The checkpoint: <out>/<model>.safetensors holds the model's state_dict under PyTorch's names, and in its
// __metadata__ (strings):
//   format       "charlm/1"
//   model        lstm | gru | rnn | transformer
//   vocabulary   JSON array of the code points, in id order
//   config       JSON of ModelConfig (hidden, layers, embed, dropout, heads, context)
//   training     JSON of TrainingState (steps, seconds, stream position, seq len, batch, schedule, loss history)
// Beside it, <out>/<model>.optim.safetensors holds the AdamW state (exp_avg, exp_avg_sq and step per parameter, and
// the group hyperparameters in its metadata), so --resume continues the optimiser where it stopped.
using System.Text.Json;

namespace CharLm;

/// <summary>One point of a loss curve.</summary>
internal sealed record LossPoint(int Step, double Seconds, double Loss);

/// <summary>Where a training run is, and how it was configured (saved in the checkpoint, read by --resume).</summary>
internal sealed record TrainingState
{
    public int Step { get; init; }
    public double Seconds { get; init; }
    public int Position { get; init; }
    public int SeqLen { get; init; }
    public int Batch { get; init; }
    public double Lr { get; init; }
    public int Warmup { get; init; }
    public double MinLrRatio { get; init; }
    public double WeightDecay { get; init; }
    public double Clip { get; init; }
    public ulong Seed { get; init; }
    public List<LossPoint> Train { get; init; } = [];
    public List<LossPoint> Validation { get; init; } = [];
}

/// <summary>A loaded checkpoint: the model with its weights, its vocabulary and how far it was trained.</summary>
internal sealed record LoadedCheckpoint(ICharModel Model, Vocabulary Vocabulary, TrainingState Training, string Path);

internal static class Checkpoint
{
    public const string Format = "charlm/1";

    private static readonly JsonSerializerOptions Json = new() { IncludeFields = false };

    public static string PathFor(string folder, string model) => System.IO.Path.Combine(folder, $"{model}.safetensors");

    public static string OptimizerPath(string checkpoint) =>
        System.IO.Path.ChangeExtension(checkpoint, null) + ".optim.safetensors";

    public static void Save(string path, ICharModel model, Vocabulary vocabulary, TrainingState training, Optimizer<float>? optimizer)
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["model"] = model.Config.Model,
            ["vocabulary"] = vocabulary.ToJson(),
            ["config"] = JsonSerializer.Serialize(model.Config, Json),
            ["training"] = JsonSerializer.Serialize(training, Json),
        };
        SafeTensors.Save(model.Module, path, metadata);
        if (optimizer is not null)
        {
            var state = optimizer.StateDict();
            SafeTensors.Save(state.Tensors, OptimizerPath(path), state.Metadata);
        }
    }

    /// <summary>Loads a checkpoint written by <see cref="Save"/>; anything else is a <see cref="UserError"/>.</summary>
    public static LoadedCheckpoint Load(string path)
    {
        if (!File.Exists(path)) throw new UserError($"the checkpoint '{path}' does not exist.");
        try
        {
            using var file = SafeTensorsFile.Open(path);
            var meta = file.Metadata;
            if (!meta.TryGetValue("format", out var format) || format != Format)
                throw new UserError($"'{path}' is not a CharLm checkpoint (its metadata has no \"format\": \"{Format}\").");
            var vocabulary = Vocabulary.FromJson(meta["vocabulary"]);
            var config = JsonSerializer.Deserialize<ModelConfig>(meta["config"], Json) ?? throw new FormatException("empty config");
            var training = JsonSerializer.Deserialize<TrainingState>(meta["training"], Json) ?? new TrainingState();
            if (config.Vocabulary != vocabulary.Count)
                throw new UserError($"the checkpoint '{path}' is inconsistent: its configuration has {config.Vocabulary} characters, its vocabulary {vocabulary.Count}.");
            var model = CharModels.Create(config, training.Seed);
            model.Module.LoadStateDict(file, strict: true);
            return new LoadedCheckpoint(model, vocabulary, training, path);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or JsonException or KeyNotFoundException or ArgumentException or IOException)
        {
            throw new UserError($"cannot load the checkpoint '{path}': {FirstLine(e.Message)}");
        }
    }

    /// <summary>Loads the optimiser state saved beside <paramref name="checkpoint"/>, if there is one; returns whether it did.</summary>
    public static bool TryLoadOptimizer(string checkpoint, Optimizer<float> optimizer)
    {
        string path = OptimizerPath(checkpoint);
        if (!File.Exists(path)) return false;
        try
        {
            using var file = SafeTensorsFile.Open(path);
            optimizer.LoadStateDict(file, file.Metadata);
            return true;
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException)
        {
            throw new UserError($"cannot load the optimiser state '{path}': {FirstLine(e.Message)}");
        }
    }

    public static string FirstLine(string message)
    {
        int nl = message.IndexOfAny(['\r', '\n']);
        return nl < 0 ? message : message[..nl];
    }
}
