// `generate` and `score`: a trained checkpoint (or a Hugging Face GPT-2 folder) through the library's decoding.
//   generate   streams the continuation of --prompt to the console as it is produced (Generation.Stream), by
//              greedy decoding, sampling (temperature, top-k, top-p, repetition penalty, seeded) or beam search
//              (BeamSearch.Run, scores length-normalised by |Y|^α, α = --length-penalty; the best hypotheses are printed
//              with their scores)
//   score      Introspection.Score over --text: every token coloured by its surprisal −log₂ p (green < 1 bit, yellow < 3,
//              orange < 6, red ≥ 6), a table of the most surprising positions with the model's alternatives, and the
//              cross-entropy, bits per token and perplexity of the text. The first token is context only.
using Spectre.Console;

namespace CharLm;

/// <summary>Turns text into a model's token ids and back: the character vocabulary, or GPT-2's byte-level BPE.</summary>
internal interface ITextCodec
{
    /// <summary>The ids of <paramref name="text"/>; a text the model cannot read is a <see cref="UserError"/> (<paramref name="what"/> names it).</summary>
    int[] Encode(string text, string what);

    /// <summary>The text of a token sequence.</summary>
    string Decode(IReadOnlyList<int> ids);

    /// <summary>One token, shown so that a reader sees it (whitespace made visible).</summary>
    string Show(int id);
}

/// <summary>The character vocabulary as a codec.</summary>
internal sealed class CharCodec(Vocabulary vocabulary) : ITextCodec
{
    public int[] Encode(string text, string what) => vocabulary.Encode(text, what);

    public string Decode(IReadOnlyList<int> ids) => vocabulary.Decode(ids);

    public string Show(int id) => Vocabulary.Describe(vocabulary.CodePoints[id]);
}

internal sealed record GenerateOptions
{
    public string Checkpoint { get; init; } = System.IO.Path.Combine("charlm-out", "lstm.safetensors");
    public string? Gpt2 { get; init; }
    public string? Prompt { get; init; }
    public int Length { get; init; } = 500;
    public string Strategy { get; init; } = "sample";
    public double Temperature { get; init; } = 0.8;
    public int TopK { get; init; }
    public double TopP { get; init; } = 1.0;
    public double RepetitionPenalty { get; init; } = 1.0;
    public int Beam { get; init; } = 4;
    public double LengthPenalty { get; init; } = 1.0;
    public ulong Seed { get; init; } = 1;
    public int Threads { get; init; } = Environment.ProcessorCount;
}

internal sealed record ScoreOptions
{
    public string Checkpoint { get; init; } = System.IO.Path.Combine("charlm-out", "lstm.safetensors");
    public string? Gpt2 { get; init; }
    public string Text { get; init; } = "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.";
    public int Top { get; init; } = 10;
    public int Threads { get; init; } = Environment.ProcessorCount;
}

internal static class Commands
{
    public const string DefaultPrompt = "ROMEO:";

    /// <summary>The model and codec of a CharLm checkpoint or of a GPT-2 folder.</summary>
    private static (ICharModel Model, ITextCodec Codec, string Source) Open(string checkpoint, string? gpt2)
    {
        if (gpt2 is not null)
        {
            var (model, codec) = Gpt2Folder.Load(gpt2);
            return (model, codec, gpt2);
        }
        var loaded = CharLm.Checkpoint.Load(checkpoint);
        return (loaded.Model, new CharCodec(loaded.Vocabulary), checkpoint);
    }

    public static int Generate(GenerateOptions o, Ui ui)
    {
        Parallelism.NumThreads = o.Threads;
        var (model, codec, source) = Open(o.Checkpoint, o.Gpt2);
        model.Module.Eval();
        string promptText = o.Prompt ?? (o.Gpt2 is not null ? "The meaning of life is" : DefaultPrompt);
        int[] prompt;
        try { prompt = codec.Encode(promptText, "--prompt"); }
        catch (UserError) when (o.Prompt is null && codec is CharCodec)
        {
            prompt = [0];      // the default prompt does not fit another corpus: start from the first character
            promptText = codec.Decode(prompt);
        }
        if (prompt.Length == 0) throw new UserError("--prompt must contain at least one character.");
        ui.Line($"{model.Config.Model} from {source}, {o.Strategy}{StrategyDetail(o)}:");
        ui.Line("");
        ui.Write(promptText);
        if (o.Strategy == "beam")
        {
            var hypotheses = Decode.Beam(model, prompt, o.Length, o.Beam, o.LengthPenalty, Math.Min(3, o.Beam));
            ui.Write(codec.Decode(hypotheses[0].Tokens));
            ui.Line("");
            ui.Line("");
            for (int i = 0; i < hypotheses.Count; i++)
            {
                var h = hypotheses[i];
                ui.Line($"beam {i + 1}: score {h.Score:0.0000} (log-probability {h.LogProbability:0.00} over {h.Tokens.Count} tokens): " +
                    Flat(codec.Decode(h.Tokens), 60));
            }
            return 0;
        }
        var sampling = o.Strategy == "greedy"
            ? SamplingOptions.Greedy
            : new SamplingOptions { Temperature = o.Temperature, TopK = o.TopK, TopP = o.TopP, RepetitionPenalty = o.RepetitionPenalty };
        var generated = new List<int>();
        int printed = 0;
        foreach (int token in Decode.Stream(model, prompt, o.Length, sampling, o.Seed))
        {
            generated.Add(token);
            string text = codec is CharCodec ? codec.Decode([token]) : Tail(codec.Decode(generated), ref printed);
            ui.Write(text);
        }
        ui.Line("");
        return 0;
    }

    private static string StrategyDetail(GenerateOptions o) => o.Strategy switch
    {
        "sample" => $" (temperature {o.Temperature}{(o.TopK > 0 ? $", top-k {o.TopK}" : "")}{(o.TopP < 1 ? $", top-p {o.TopP}" : "")}" +
                    $"{(o.RepetitionPenalty != 1 ? $", repetition penalty {o.RepetitionPenalty}" : "")}, seed {o.Seed})",
        "beam" => $" (width {o.Beam}, length penalty α = {o.LengthPenalty})",
        _ => "",
    };

    /// <summary>The part of <paramref name="decoded"/> not written yet (a BPE token may complete a character of the one before).</summary>
    private static string Tail(string decoded, ref int printed)
    {
        if (decoded.Length <= printed) return "";
        // Hold back a trailing replacement character: it may be half of a multi-byte character.
        int end = decoded.EndsWith('\uFFFD') ? decoded.Length - 1 : decoded.Length;
        if (end <= printed) return "";
        string tail = decoded[printed..end];
        printed = end;
        return tail;
    }

    private static string Flat(string text, int max)
    {
        string flat = text.Replace("\n", "\\n");
        return flat.Length <= max ? flat : flat[..max] + "…";
    }

    public static int Score(ScoreOptions o, Ui ui)
    {
        Parallelism.NumThreads = o.Threads;
        var (model, codec, source) = Open(o.Checkpoint, o.Gpt2);
        model.Module.Eval();
        int[] ids = codec.Encode(o.Text, "--text");
        if (ids.Length < 2) throw new UserError($"--text must have at least 2 {(codec is CharCodec ? "characters" : "tokens")} (the first is only context), got {ids.Length}.");
        var score = Decode.Score(model, ids, topK: 5);
        string unit = codec is CharCodec ? "char" : "token";
        ui.Line($"{model.Config.Model} from {source}: each {unit} coloured by its surprisal −log₂ p " +
            "(green < 1 bit, yellow < 3, orange < 6, red ≥ 6; the first is context only).");
        ui.Line("");
        var text = new System.Text.StringBuilder();
        text.Append(Spectre.Console.Markup.Escape(codec.Decode([ids[0]])));
        foreach (var t in score.Tokens)
        {
            string colour = t.SurprisalBits < 1 ? "green" : t.SurprisalBits < 3 ? "yellow" : t.SurprisalBits < 6 ? "darkorange" : "red";
            text.Append($"[{colour}]{Spectre.Console.Markup.Escape(codec.Decode([t.Token]))}[/]");
        }
        ui.Markup(text.ToString());
        ui.Line("");
        ui.Line("");
        var table = new Table().Title($"The {Math.Min(o.Top, score.Tokens.Count)} most surprising positions");
        foreach (var column in new[] { "position", unit, "p", "surprisal (bits)", "entropy (bits)", "rank", "the model expected" })
            table.AddColumn(column);
        foreach (var t in score.Tokens.OrderByDescending(t => t.SurprisalBits).Take(o.Top))
            table.AddRow(t.Position.ToString(), Spectre.Console.Markup.Escape(codec.Show(t.Token)), $"{t.Probability:0.0000}", $"{t.SurprisalBits:0.00}",
                $"{t.EntropyBits:0.00}", t.Rank.ToString(),
                Spectre.Console.Markup.Escape(string.Join("  ", t.Alternatives.Select(a => $"{codec.Show(a.Token)} {a.Probability:0.00}"))));
        ui.Render(table);
        ui.Line($"{score.Tokens.Count} {unit}s scored: log-likelihood {score.LogLikelihood:0.00} nats, cross-entropy {score.CrossEntropy:0.0000} nats/{unit} " +
            $"= {score.BitsPerToken:0.000} bits/{unit}, perplexity {score.Perplexity:0.000}.");
        return 0;
    }
}
