// Pretrained word vectors: readers for the GloVe / word2vec text formats and the word2vec binary
// format, a vocabulary (word ↔ row), and the bridge to an Embedding (Embedding.FromPretrained).
//
// Text formats (one vector per line, values separated by spaces or tabs, lines ending in \n or \r\n):
//   GloVe:          word v_1 v_2 … v_D                    (no header; D = the values on the first line)
//   word2vec text:  first line "V D", then V lines as above
//   A word may itself contain spaces (a few GloVe entries do): the values are the numbers that end the
//   line, at least one token is the word, and everything before the values is the word. Every line must
//   hold exactly D values (the header's D, else the first line's), so a line with one value too many is
//   an error, not a word "cat 0.1". Files are UTF-8 unless another ASCII-compatible encoding is given;
//   a byte sequence that is not valid in it is an error naming the line and the byte (Latin-1 GloVe
//   files exist: pass Encoding.Latin1).
// word2vec binary:  ASCII header "V D\n" (or "\r\n"), then V times: the word's UTF-8 bytes, one space,
//   D float32 little-endian values, optionally a '\n' (written by the original C tool; skipped).
//   Nothing is allocated from the header alone: a seekable stream must hold the V·(4D + 1) bytes the
//   header promises before anything is read, and a stream that cannot seek grows its buffers as the
//   data arrives, so a lying header costs what the file holds, not what it claims.
// NaN, ±∞ and values that overflow T are errors naming the line (or entry) unless allowNonFinite is set.
// Repeated words keep their first vector (later ones are counted in DuplicatesSkipped).
// Malformed content raises InvalidDataException naming the line (or entry), the expected and the actual
// value; control characters in quoted content are shown escaped (\r, \x00), never invisibly.
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace NeuralPrimitives;

/// <summary>A list of distinct words and their row numbers.</summary>
public sealed class Vocabulary : IReadOnlyList<string>
{
    private readonly List<string> _words = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);

    /// <summary>Creates an empty vocabulary.</summary>
    public Vocabulary() { }

    /// <summary>Creates a vocabulary from distinct words (row i = the i-th word).</summary>
    /// <param name="words">The words; a repeat is rejected.</param>
    public Vocabulary(IEnumerable<string> words)
    {
        ArgumentNullException.ThrowIfNull(words);
        foreach (var w in words)
            if (!TryAdd(w))
                throw new ArgumentException($"words must be distinct: '{w}' appears twice (first at row {_index[w]}).", nameof(words));
    }

    /// <summary>Number of words.</summary>
    public int Count => _words.Count;

    /// <summary>The word of row <paramref name="index"/>.</summary>
    /// <param name="index">Row in [0, Count).</param>
    public string this[int index] => _words[index];

    /// <summary>The row of <paramref name="word"/>, or −1 if it is not in the vocabulary.</summary>
    /// <param name="word">The word (case-sensitive).</param>
    public int IndexOf(string word) => _index.TryGetValue(word ?? throw new ArgumentNullException(nameof(word)), out int i) ? i : -1;

    /// <summary>Whether <paramref name="word"/> is in the vocabulary.</summary>
    /// <param name="word">The word (case-sensitive).</param>
    public bool Contains(string word) => _index.ContainsKey(word ?? throw new ArgumentNullException(nameof(word)));

    /// <summary>Appends a word; returns false (and changes nothing) if it is already present.</summary>
    /// <param name="word">The word.</param>
    public bool TryAdd(string word)
    {
        ArgumentNullException.ThrowIfNull(word);
        if (!_index.TryAdd(word, _words.Count)) return false;
        _words.Add(word);
        return true;
    }

    /// <summary>The row of <paramref name="word"/>; throws <see cref="KeyNotFoundException"/> naming it when absent.</summary>
    /// <param name="word">The word.</param>
    public int this[string word] => _index.TryGetValue(word ?? throw new ArgumentNullException(nameof(word)), out int i) ? i : throw new KeyNotFoundException($"'{word}' is not in the vocabulary ({Count} words).");

    /// <inheritdoc />
    public IEnumerator<string> GetEnumerator() => _words.GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Word vectors read from a file: a <see cref="Vocabulary"/> plus a [Count, Dim] matrix.</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class PretrainedVectors<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private T[]? _norms;

    /// <summary>Wraps a vocabulary and a row-major [vocabulary.Count, dim] matrix (not copied).</summary>
    /// <param name="vocabulary">The words.</param>
    /// <param name="dim">Vector size.</param>
    /// <param name="vectors">Row-major matrix, row i = vector of word i.</param>
    /// <param name="duplicatesSkipped">How many repeated words the reader dropped.</param>
    public PretrainedVectors(Vocabulary vocabulary, int dim, T[] vectors, int duplicatesSkipped = 0)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(vectors);
        Dim = Guard.Positive(dim);
        DuplicatesSkipped = Guard.NonNegative(duplicatesSkipped);
        Guard.Length(vectors.Length, Guard.ElementCount(vocabulary.Count, dim, nameof(vectors), "vocabulary.Count", nameof(dim)), nameof(vectors));
        Vocabulary = vocabulary;
        Vectors = vectors;
    }

    /// <summary>The words; row i of <see cref="Vectors"/> belongs to word i.</summary>
    public Vocabulary Vocabulary { get; }

    /// <summary>Vector size D.</summary>
    public int Dim { get; }

    /// <summary>Number of words.</summary>
    public int Count => Vocabulary.Count;

    /// <summary>The matrix [Count, Dim], row-major.</summary>
    public T[] Vectors { get; }

    /// <summary>Repeated words the reader dropped (the first occurrence is kept).</summary>
    public int DuplicatesSkipped { get; }

    /// <summary>The vector of <paramref name="word"/> (a view into <see cref="Vectors"/>).</summary>
    /// <param name="word">A word of the vocabulary.</param>
    public ReadOnlySpan<T> this[string word] => Vectors.AsSpan(Vocabulary[word ?? throw new ArgumentNullException(nameof(word))] * Dim, Dim);

    /// <summary>The matrix as a [Count, Dim] tensor view (no copy).</summary>
    public Tensor<T> Matrix => Tensor.Create(Vectors, [Count, Dim]);

    /// <summary>An <see cref="Embedding{T}"/> holding a copy of the vectors (PyTorch's <c>from_pretrained</c>).</summary>
    /// <param name="freeze">When true (default) the weight is not trained.</param>
    /// <param name="paddingIdx">Optional padding row.</param>
    /// <param name="sparse">Row-sparse gradient when trained.</param>
    public Embedding<T> ToEmbedding(bool freeze = true, int? paddingIdx = null, bool sparse = false) =>
        Embedding<T>.FromPretrained(Matrix, freeze, paddingIdx, sparse: sparse);

    private ReadOnlySpan<T> Norms
    {
        get
        {
            var n = _norms;
            if (n is null)
            {
                n = new T[Count];
                VectorSimilarity.RowNorms<T>(Vectors, Dim, n);
                _norms = n;
            }
            return n;
        }
    }

    /// <summary>The <paramref name="k"/> words most similar (cosine) to <paramref name="word"/>, best first, excluding the word itself.</summary>
    /// <param name="word">A word of the vocabulary.</param>
    /// <param name="k">How many.</param>
    public (string Word, T Similarity)[] MostSimilar(string word, int k = 10)
    {
        ArgumentNullException.ThrowIfNull(word);
        int w = Vocabulary[word];
        return Words(VectorSimilarity.NearestNeighbours<T>(Vectors, Dim, Vectors.AsSpan(w * Dim, Dim), k, [w], Norms));
    }

    /// <summary>The <paramref name="k"/> words most similar (cosine) to a vector, best first.</summary>
    /// <param name="vector">Query of length <see cref="Dim"/>.</param>
    /// <param name="k">How many.</param>
    public (string Word, T Similarity)[] MostSimilar(ReadOnlySpan<T> vector, int k = 10)
    {
        Guard.Length(vector.Length, Dim, nameof(vector));
        return Words(VectorSimilarity.NearestNeighbours<T>(Vectors, Dim, vector, k, default, Norms));
    }

    /// <summary>"<paramref name="a"/> is to <paramref name="b"/> as <paramref name="c"/> is to ?" (â − b̂ + ĉ, excluding the three words).</summary>
    /// <param name="a">E.g. "king".</param>
    /// <param name="b">E.g. "man".</param>
    /// <param name="c">E.g. "woman".</param>
    /// <param name="k">How many answers.</param>
    public (string Word, T Similarity)[] Analogy(string a, string b, string c, int k = 1)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        return Words(VectorSimilarity.Analogy<T>(Vectors, Dim, Vocabulary[a], Vocabulary[b], Vocabulary[c], k, Norms));
    }

    private (string Word, T Similarity)[] Words((int Index, T Similarity)[] hits) =>
        Array.ConvertAll(hits, h => (Vocabulary[h.Index], h.Similarity));
}

/// <summary>Readers for GloVe / word2vec text files and word2vec binary files.</summary>
public static class PretrainedVectors
{
    /// <summary>Reads a GloVe or word2vec text file (the word2vec "V D" header line is detected).</summary>
    /// <param name="path">File path.</param>
    /// <param name="maxWords">Read at most this many vectors (like gensim's <c>limit</c>); null reads all.</param>
    /// <param name="allowNonFinite">Keep NaN, ±∞ and values that overflow <typeparamref name="T"/> instead of rejecting them.</param>
    /// <param name="encoding">The file's encoding: UTF-8 (the default) or another ASCII-compatible one such as
    /// <see cref="Encoding.Latin1"/>. Bytes that are not valid in it are an <see cref="InvalidDataException"/> naming the line and byte.</param>
    /// <exception cref="InvalidDataException">The content is malformed; the message names the line.</exception>
    public static PretrainedVectors<T> ReadText<T>(string path, int? maxWords = null, bool allowNonFinite = false, Encoding? encoding = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        if (maxWords is int mw) Guard.NonNegative(mw, nameof(maxWords));
        var strict = StrictAsciiCompatible(encoding ?? Encoding.UTF8, nameof(encoding));
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1); // DecodedLines reads 64 KB blocks itself
        return ParseText<T>(DecodedLines(stream, strict), maxWords, allowNonFinite);
    }

    /// <summary>Reads GloVe or word2vec text from a reader (the word2vec "V D" header line is detected).</summary>
    /// <remarks>The reader has already decoded the bytes: to have undecodable bytes reported, pass the file path instead.</remarks>
    /// <param name="reader">The text.</param>
    /// <param name="maxWords">Read at most this many vectors; null reads all.</param>
    /// <param name="allowNonFinite">Keep NaN, ±∞ and values that overflow <typeparamref name="T"/> instead of rejecting them.</param>
    /// <exception cref="InvalidDataException">The content is malformed; the message names the line.</exception>
    public static PretrainedVectors<T> ReadText<T>(TextReader reader, int? maxWords = null, bool allowNonFinite = false)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(reader);
        if (maxWords is int mw) Guard.NonNegative(mw, nameof(maxWords));
        return ParseText<T>(ReaderLines(reader), maxWords, allowNonFinite);
    }

    private static IEnumerable<string> ReaderLines(TextReader reader)
    {
        while (reader.ReadLine() is { } line) yield return line;
    }

    /// <summary>Reads a word2vec binary file (header "V D", then each word, a space and D little-endian float32 values).</summary>
    /// <param name="path">File path.</param>
    /// <param name="maxWords">Read at most this many vectors; null reads all.</param>
    /// <param name="allowNonFinite">Keep NaN, ±∞ and values that overflow <typeparamref name="T"/> instead of rejecting them.</param>
    /// <exception cref="InvalidDataException">The content is malformed or shorter than its header says; the message names the entry.</exception>
    public static PretrainedVectors<T> ReadWord2VecBinary<T>(string path, int? maxWords = null, bool allowNonFinite = false)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 12);
        return ReadWord2VecBinary<T>(stream, maxWords, allowNonFinite);
    }

    /// <summary>Reads word2vec binary data from a stream.</summary>
    /// <param name="stream">The data. When it can seek, its length is checked against the header before anything is allocated.</param>
    /// <param name="maxWords">Read at most this many vectors; null reads all.</param>
    /// <param name="allowNonFinite">Keep NaN, ±∞ and values that overflow <typeparamref name="T"/> instead of rejecting them.</param>
    /// <exception cref="InvalidDataException">The content is malformed or shorter than its header says; the message names the entry.</exception>
    public static PretrainedVectors<T> ReadWord2VecBinary<T>(Stream stream, int? maxWords = null, bool allowNonFinite = false)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (maxWords is int mw) Guard.NonNegative(mw, nameof(maxWords));
        var (count, dim) = ReadBinaryHeader(stream);
        int n = maxWords is int limit ? Math.Min(limit, count) : count;
        long entryBytes = 4L * dim + 1; // at least a space and the vector (the word may be empty)
        if ((long)n * dim > Array.MaxLength)
            throw new InvalidDataException($"the header declares {count:N0} vectors of {dim:N0} values: {(long)n * dim:N0} values are more than one array can hold (limit {Array.MaxLength:N0}); read fewer with maxWords.");
        if (stream.CanSeek && (long)n * entryBytes > stream.Length - stream.Position)
            throw new InvalidDataException(
                $"the header declares {count:N0} vectors of {dim:N0} float32 values, so reading {n:N0} of them needs at least {(long)n * entryBytes:N0} bytes, but only {stream.Length - stream.Position:N0} follow the header.");

        var vocab = new Vocabulary();
        var values = new GrowableArray<T>(capacity: stream.CanSeek ? n * dim : Math.Min(n * dim, 4096), max: n * dim);
        var raw = new byte[4 * Math.Min(dim, 4096)]; // the vector is read in chunks of at most 16 KB
        var word = new List<byte>(32);
        int duplicates = 0;
        for (int e = 0; e < n; e++)
        {
            int b;
            word.Clear();
            while ((b = stream.ReadByte()) >= 0 && b != ' ')
                if (word.Count > 0 || (b != '\n' && b != '\r')) word.Add((byte)b); // skip the line break after the previous vector
            if (b < 0) throw new InvalidDataException($"entry {e}: the file ends inside a word; the header declares {count:N0} vectors.");
            string text = Encoding.UTF8.GetString(word.ToArray());
            bool keep = vocab.TryAdd(text);
            if (!keep) duplicates++;
            for (int j = 0; j < dim;)
            {
                int chunk = Math.Min(dim - j, raw.Length / 4);
                if (stream.ReadAtLeast(raw.AsSpan(0, 4 * chunk), 4 * chunk, throwOnEndOfStream: false) < 4 * chunk)
                    throw new InvalidDataException($"entry {e} ('{Printable(text)}'): the file ends inside its vector; expected {dim:N0} float32 values.");
                for (int q = 0; q < chunk; q++, j++)
                {
                    float f = BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * q));
                    T v = T.CreateTruncating(f);
                    if (!allowNonFinite && !T.IsFinite(v))
                        throw new InvalidDataException($"entry {e} ('{Printable(text)}'): value {j + 1} is {f.ToString(CultureInfo.InvariantCulture)}{(float.IsFinite(f) ? $", which overflows {typeof(T).Name}" : "")}. " + NonFiniteHint);
                    if (keep) values.Add(v);
                }
            }
        }
        return new PretrainedVectors<T>(vocab, dim, values.ToArray(), duplicates);
    }

    private const string NonFiniteHint = "Non-finite values are rejected; pass allowNonFinite: true to keep them.";

    // "V D" on the first line (at most 64 bytes, ASCII, ending in \n or \r\n).
    private static (int Count, int Dim) ReadBinaryHeader(Stream stream)
    {
        Span<byte> line = stackalloc byte[64];
        int len = 0, b;
        while ((b = stream.ReadByte()) >= 0 && b != '\n')
        {
            if (len == line.Length) throw new InvalidDataException($"word2vec binary header must be \"<count> <dim>\" on the first line, got more than {line.Length} bytes without a line break: \"{Printable(Encoding.Latin1.GetString(line))}…\".");
            line[len++] = (byte)b;
        }
        string header = Encoding.Latin1.GetString(line[..len]);
        var parts = header.TrimEnd('\r').Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int dim) || dim <= 0)
            throw new InvalidDataException($"word2vec binary header must be \"<count> <dim>\" with dim ≥ 1, got \"{Printable(header)}\"{(b < 0 ? " (the file ends there)" : "")}.");
        return (count, dim);
    }

    // ---- text -----------------------------------------------------------------------------------

    private static PretrainedVectors<T> ParseText<T>(IEnumerable<string> lines, int? maxWords, bool allowNonFinite)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var vocab = new Vocabulary();
        var values = new GrowableArray<T>(capacity: 1024, max: Array.MaxLength);
        var tokens = new List<Range>();
        var parsed = new List<T>();
        int dim = -1, declared = -1, lineNo = 0, duplicates = 0, read = 0;
        string dimSource = "";
        foreach (var line in lines)
        {
            lineNo++;
            Tokenize(line, tokens);
            if (tokens.Count == 0) continue;
            if (dim < 0 && read == 0 && tokens.Count == 2
                && int.TryParse(line.AsSpan()[tokens[0]], NumberStyles.None, CultureInfo.InvariantCulture, out int v)
                && int.TryParse(line.AsSpan()[tokens[1]], NumberStyles.None, CultureInfo.InvariantCulture, out int d))
            {
                if (d <= 0) throw new InvalidDataException($"line {lineNo}: the header declares dimension {d}; expected ≥ 1.");
                declared = v; dim = d; dimSource = "the header's dimension";
                continue;
            }
            if (declared >= 0 && read == declared) break;
            if (maxWords is int limit && read >= limit) break;

            // The values are the numbers that end the line; at least the first token is the word.
            int valueCount = TrailingNumbers(line, tokens, parsed);
            if (dim < 0)
            {
                if (valueCount == 0)
                    throw new InvalidDataException($"line {lineNo}: expected a word followed by its values, got {tokens.Count} token(s) and no number after '{Printable(line[tokens[0]])}'.");
                dim = valueCount; dimSource = "the first line's dimension";
            }
            int first = tokens.Count - valueCount; // index of the first value token
            string word = first == 1 ? line[tokens[0]] : line[tokens[0].Start..tokens[first - 1].End];
            if (valueCount != dim)
            {
                string notNumber = valueCount < dim && first >= 2 ? $" ('{Printable(line[tokens[first - 1]])}' is not a number)" : "";
                throw new InvalidDataException(
                    $"line {lineNo}: expected a word followed by {dim} values ({dimSource}), got {tokens.Count} tokens: {valueCount} value(s) after '{Printable(word)}'{notNumber}.");
            }
            if (!allowNonFinite)
                for (int j = 0; j < dim; j++)
                    if (!T.IsFinite(parsed[dim - 1 - j]))
                    {
                        string token = line[tokens[first + j]];
                        bool literal = T.IsNaN(parsed[dim - 1 - j]) || token.Contains("inf", StringComparison.OrdinalIgnoreCase) || token.Contains('∞');
                        throw new InvalidDataException($"line {lineNo}: value {j + 1} of '{Printable(word)}' is '{Printable(token)}'{(literal ? "" : $", which overflows {typeof(T).Name}")}. " + NonFiniteHint);
                    }
            if (vocab.TryAdd(word))
                for (int j = dim - 1; j >= 0; j--) values.Add(parsed[j]); // parsed holds the values last first
            else
                duplicates++;
            read++;
        }
        if (declared >= 0 && read < declared && (maxWords is null || read < maxWords))
            throw new InvalidDataException($"the header declares {declared} vectors but the text holds {read}.");
        if (dim < 0) throw new InvalidDataException("the text holds no vectors.");
        return new PretrainedVectors<T>(vocab, dim, values.ToArray(), duplicates);
    }

    // The ranges of the tokens of a line, separated by spaces and tabs.
    private static void Tokenize(string line, List<Range> tokens)
    {
        tokens.Clear();
        int i = 0;
        while (i < line.Length)
        {
            while (i < line.Length && line[i] is ' ' or '\t') i++;
            int start = i;
            while (i < line.Length && line[i] is not (' ' or '\t')) i++;
            if (i > start) tokens.Add(start..i);
        }
    }

    // Parses the tokens from the last one backwards while they are numbers, leaving the first token to the word;
    // returns how many there are, with their values (last first) in parsed.
    private static int TrailingNumbers<T>(string line, List<Range> tokens, List<T> parsed) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        parsed.Clear();
        for (int t = tokens.Count - 1; t >= 1; t--)
        {
            if (!T.TryParse(line.AsSpan()[tokens[t]], NumberStyles.Float, CultureInfo.InvariantCulture, out T x)) break;
            parsed.Add(x);
        }
        return parsed.Count;
    }

    // An encoding that throws on invalid bytes; line breaks must be the single byte '\n', as in ASCII.
    private static Encoding StrictAsciiCompatible(Encoding encoding, string name)
    {
        if (!encoding.GetBytes("\n").AsSpan().SequenceEqual("\n"u8) || !encoding.GetBytes(" ").AsSpan().SequenceEqual(" "u8))
            throw new ArgumentException($"{name} must be ASCII-compatible (UTF-8, Latin-1, Windows-1252, …) so that lines end in the byte 0x0A; got {encoding.WebName}.", name);
        return Encoding.GetEncoding(encoding.CodePage, EncoderFallback.ExceptionFallback, DecoderFallback.ExceptionFallback);
    }

    // The lines of a stream, decoded one by one with a strict encoding, so an invalid byte is reported with its line.
    // "\n" and "\r\n" end a line; a UTF-8 byte-order mark at the start is skipped.
    private static IEnumerable<string> DecodedLines(Stream stream, Encoding strict)
    {
        var buffer = new byte[1 << 16];
        var pending = new List<byte>();
        int lineNo = 0, read;
        bool start = true;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            var chunk = buffer.AsMemory(0, read);
            if (start && strict is UTF8Encoding && chunk.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) chunk = chunk[3..];
            start = false;
            int nl;
            while ((nl = chunk.Span.IndexOf((byte)'\n')) >= 0)
            {
                pending.AddRange(chunk.Span[..nl]);
                yield return Decode(pending, strict, ++lineNo);
                pending.Clear();
                chunk = chunk[(nl + 1)..];
            }
            pending.AddRange(chunk.Span);
        }
        if (pending.Count > 0) yield return Decode(pending, strict, ++lineNo);
    }

    private static string Decode(List<byte> line, Encoding strict, int lineNo)
    {
        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(line);
        if (bytes.Length > 0 && bytes[^1] == '\r') bytes = bytes[..^1];
        try
        {
            return strict.GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            int at = ex.Index >= 0 ? ex.Index : 0;
            string seen = string.Join(" ", (ex.BytesUnknown ?? []).Select(x => $"0x{x:X2}"));
            throw new InvalidDataException(
                $"line {lineNo}, byte {at + 1}: {seen} is not valid {strict.WebName}. If the file is Latin-1 (as some GloVe files are), pass encoding: Encoding.Latin1.", ex);
        }
    }

    // Content quoted in a message, with control characters made visible (\r, \t, \x00) and long text cut.
    private static string Printable(string text)
    {
        if (text.Length > 80) text = text[..80] + "…";
        var sb = new StringBuilder(text.Length);
        foreach (char ch in text)
            sb.Append(ch switch
            {
                '\r' => "\\r",
                '\n' => "\\n",
                '\t' => "\\t",
                _ when char.IsControl(ch) => $"\\x{(int)ch:X2}",
                _ => ch.ToString(),
            });
        return sb.ToString();
    }

    // A T[] that grows by doubling up to a bound (values read from a file whose length is not known up front).
    private sealed class GrowableArray<T>(int capacity, int max)
    {
        private T[] _items = new T[capacity];
        private int _count;

        public void Add(T item)
        {
            if (_count == _items.Length)
            {
                if (_count >= max) throw new InvalidDataException($"more than {max:N0} values: more than one array can hold.");
                Array.Resize(ref _items, (int)Math.Min(Math.Max(2L * _count, 16), max));
            }
            _items[_count++] = item;
        }

        public T[] ToArray()
        {
            if (_count != _items.Length) Array.Resize(ref _items, _count);
            return _items;
        }
    }
}
