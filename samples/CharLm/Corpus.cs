// The data, as benchmarks/peers/charlm_peer.py prepares it:
//   vocabulary  the distinct characters (Unicode code points) of the corpus, sorted by code point; id = index
//   split       train = the first ⌊0.9·N⌋ characters, validation = the rest
//   streams     n equal contiguous shares of a split (the tail that does not divide is dropped):
//               stream b = data[b·share … (b+1)·share − 1], share = ⌊len/n⌋; laid out time-major [share, n]
//   training    each step feeds rows pos … pos+T−1 of the B training streams and predicts rows pos+1 … pos+T,
//               carrying the recurrent state across steps (truncated BPTT); when pos + T + 1 > share the
//               streams wrap to their start with a zero state
//   validation  the 64 validation streams in chunks of T rows, carrying the state, predicting rows 1 … share−1:
//               the mean cross-entropy over all (share − 1)·64 predictions
using System.Text;

namespace CharLm;

/// <summary>A problem the user can fix (bad input): the command line prints its message on one line and exits with code 2.</summary>
internal sealed class UserError(string message) : Exception(message);

/// <summary>A character vocabulary: the sorted distinct code points of a text.</summary>
internal sealed class Vocabulary
{
    private readonly Dictionary<int, int> _index = new();

    public Vocabulary(IEnumerable<int> codePoints)
    {
        CodePoints = codePoints.Distinct().Order().ToArray();
        for (int i = 0; i < CodePoints.Length; i++) _index[CodePoints[i]] = i;
    }

    /// <summary>The code point of each id.</summary>
    public int[] CodePoints { get; }

    public int Count => CodePoints.Length;

    public static Vocabulary Of(string text) => new(Runes(text));

    /// <summary>The text's code points (a surrogate pair is one character, as Python's str counts them).</summary>
    public static IEnumerable<int> Runes(string text)
    {
        foreach (var rune in text.EnumerateRunes()) yield return rune.Value;
    }

    public bool TryGetId(int codePoint, out int id) => _index.TryGetValue(codePoint, out id);

    /// <summary>The ids of <paramref name="text"/>; characters outside the vocabulary are a <see cref="UserError"/> naming them.</summary>
    public int[] Encode(string text, string what)
    {
        var ids = new List<int>(text.Length);
        var missing = new SortedSet<int>();
        foreach (int cp in Runes(text))
            if (TryGetId(cp, out int id)) ids.Add(id);
            else missing.Add(cp);
        if (missing.Count > 0)
            throw new UserError($"{what} contains {missing.Count} character{(missing.Count == 1 ? "" : "s")} outside the model's vocabulary of {Count}: " +
                string.Join(", ", missing.Select(Describe)) + ".");
        return ids.ToArray();
    }

    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (int id in ids) sb.Append(Text(id));
        return sb.ToString();
    }

    public string Text(int id) => char.ConvertFromUtf32(CodePoints[id]);

    /// <summary>A character as a reader can see it: 'a', '\n', U+00A0.</summary>
    public static string Describe(int codePoint) => codePoint switch
    {
        '\n' => "'\\n'",
        '\r' => "'\\r'",
        '\t' => "'\\t'",
        ' ' => "' '",
        _ when codePoint < 32 || codePoint is >= 0x7F and < 0xA0 || codePoint == 0xA0 => $"U+{codePoint:X4}",
        _ => $"'{char.ConvertFromUtf32(codePoint)}'",
    };

    /// <summary>The vocabulary as a JSON array of code points (the checkpoint's metadata).</summary>
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(CodePoints);

    public static Vocabulary FromJson(string json) =>
        new(System.Text.Json.JsonSerializer.Deserialize<int[]>(json) ?? throw new FormatException("empty vocabulary"));

    public bool SameAs(Vocabulary other) => CodePoints.AsSpan().SequenceEqual(other.CodePoints);
}

/// <summary>A corpus: its vocabulary, its ids, the 90/10 split.</summary>
internal sealed class Corpus
{
    public const double TrainFraction = 0.9;

    public Corpus(string text, Vocabulary? vocabulary = null)
    {
        Vocabulary = vocabulary ?? Vocabulary.Of(text);
        Ids = Vocabulary.Encode(text, "the corpus");
        TrainLength = (int)(Ids.Length * TrainFraction);
    }

    public Vocabulary Vocabulary { get; }

    public int[] Ids { get; }

    public int TrainLength { get; }

    public ReadOnlySpan<int> Train => Ids.AsSpan(0, TrainLength);

    public ReadOnlySpan<int> Validation => Ids.AsSpan(TrainLength);

    /// <summary>Reads a UTF-8 text file; a missing, empty or non-UTF-8 file is a <see cref="UserError"/>.</summary>
    public static string ReadText(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UserError($"cannot read the corpus '{path}': {e.Message}");
        }
        string text;
        try { text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes); }
        catch (DecoderFallbackException e)
        {
            throw new UserError($"the corpus '{path}' is not UTF-8 text (invalid byte sequence at byte {e.Index}).");
        }
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        if (text.Length == 0) throw new UserError($"the corpus '{path}' is empty.");
        return text;
    }

    /// <summary>
    /// The split's <paramref name="count"/> streams, time-major: result[t·count + b] = data[b·share + t], share = ⌊len/count⌋.
    /// </summary>
    public static int[] Streams(ReadOnlySpan<int> data, int count, out int share)
    {
        share = data.Length / count;
        var result = new int[share * count];
        for (int b = 0; b < count; b++)
            for (int t = 0; t < share; t++) result[t * count + b] = data[b * share + t];
        return result;
    }
}
