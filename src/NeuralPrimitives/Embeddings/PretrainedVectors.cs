// Pretrained word vectors: readers for the GloVe / word2vec text formats and the word2vec binary
// format, a vocabulary (word ↔ row), and the bridge to an Embedding (Embedding.FromPretrained).
//
// Text formats (UTF-8, one vector per line, values separated by spaces):
//   GloVe:          word v_1 v_2 … v_D                    (no header; D = tokens on the first line − 1)
//   word2vec text:  first line "V D", then V lines as above
//   A word may itself contain spaces (a few GloVe entries do): the last D tokens are the values and
//   everything before them is the word.
// word2vec binary:  ASCII header "V D\n", then V times: the word's UTF-8 bytes, one space, D float32
//   little-endian values, optionally a '\n' (written by the original C tool; skipped).
// Repeated words keep their first vector (later ones are counted in DuplicatesSkipped).
// Malformed content raises InvalidDataException naming the line (or entry), the expected and the actual value.
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
    public int IndexOf(string word) => _index.TryGetValue(word, out int i) ? i : -1;

    /// <summary>Whether <paramref name="word"/> is in the vocabulary.</summary>
    /// <param name="word">The word (case-sensitive).</param>
    public bool Contains(string word) => _index.ContainsKey(word);

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
    public int this[string word] => _index.TryGetValue(word, out int i) ? i : throw new KeyNotFoundException($"'{word}' is not in the vocabulary ({Count} words).");

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
        Guard.Positive(dim);
        Guard.Length(vectors.Length, vocabulary.Count * dim, nameof(vectors));
        Vocabulary = vocabulary;
        Dim = dim;
        Vectors = vectors;
        DuplicatesSkipped = duplicatesSkipped;
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
    public ReadOnlySpan<T> this[string word] => Vectors.AsSpan(Vocabulary[word] * Dim, Dim);

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
        int w = Vocabulary[word];
        return Words(VectorSimilarity.NearestNeighbours<T>(Vectors, Dim, Vectors.AsSpan(w * Dim, Dim), k, [w], Norms));
    }

    /// <summary>The <paramref name="k"/> words most similar (cosine) to a vector, best first.</summary>
    /// <param name="vector">Query of length <see cref="Dim"/>.</param>
    /// <param name="k">How many.</param>
    public (string Word, T Similarity)[] MostSimilar(ReadOnlySpan<T> vector, int k = 10) =>
        Words(VectorSimilarity.NearestNeighbours<T>(Vectors, Dim, vector, k, default, Norms));

    /// <summary>"<paramref name="a"/> is to <paramref name="b"/> as <paramref name="c"/> is to ?" (â − b̂ + ĉ, excluding the three words).</summary>
    /// <param name="a">E.g. "king".</param>
    /// <param name="b">E.g. "man".</param>
    /// <param name="c">E.g. "woman".</param>
    /// <param name="k">How many answers.</param>
    public (string Word, T Similarity)[] Analogy(string a, string b, string c, int k = 1) =>
        Words(VectorSimilarity.Analogy<T>(Vectors, Dim, Vocabulary[a], Vocabulary[b], Vocabulary[c], k, Norms));

    private (string Word, T Similarity)[] Words((int Index, T Similarity)[] hits) =>
        Array.ConvertAll(hits, h => (Vocabulary[h.Index], h.Similarity));
}

/// <summary>Readers for GloVe / word2vec text files and word2vec binary files.</summary>
public static class PretrainedVectors
{
    /// <summary>Reads a GloVe or word2vec text file (the word2vec "V D" header line is detected).</summary>
    /// <param name="path">File path (UTF-8).</param>
    /// <param name="maxWords">Read at most this many vectors (like gensim's <c>limit</c>); null reads all.</param>
    public static PretrainedVectors<T> ReadText<T>(string path, int? maxWords = null) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        return ReadText<T>(reader, maxWords);
    }

    /// <summary>Reads GloVe or word2vec text from a reader (the word2vec "V D" header line is detected).</summary>
    /// <param name="reader">The text.</param>
    /// <param name="maxWords">Read at most this many vectors; null reads all.</param>
    public static PretrainedVectors<T> ReadText<T>(TextReader reader, int? maxWords = null) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(reader);
        if (maxWords is int mw) Guard.NonNegative(mw, nameof(maxWords));
        var vocab = new Vocabulary();
        var values = new List<T>();
        int dim = -1, declared = -1, lineNo = 0, duplicates = 0, read = 0;
        var tokens = new List<string>();
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            tokens.Clear();
            tokens.AddRange(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
            if (dim < 0 && declared < 0 && read == 0 && tokens.Count == 2
                && int.TryParse(tokens[0], NumberStyles.None, CultureInfo.InvariantCulture, out int v)
                && int.TryParse(tokens[1], NumberStyles.None, CultureInfo.InvariantCulture, out int d))
            {
                if (d <= 0) throw new InvalidDataException($"line {lineNo}: the header declares dimension {d}; expected ≥ 1.");
                declared = v; dim = d;
                continue;
            }
            if (declared >= 0 && read == declared) break;
            if (maxWords is int limit && read >= limit) break;
            if (dim < 0) dim = tokens.Count - 1;
            if (dim < 1 || tokens.Count < dim + 1)
                throw new InvalidDataException($"line {lineNo}: expected a word followed by {Math.Max(dim, 1)} values, got {tokens.Count} token(s).");
            int wordTokens = tokens.Count - dim;
            string word = wordTokens == 1 ? tokens[0] : string.Join(' ', tokens.Take(wordTokens));
            bool added = vocab.TryAdd(word);
            for (int j = wordTokens; j < tokens.Count; j++)
            {
                if (!T.TryParse(tokens[j], NumberStyles.Float, CultureInfo.InvariantCulture, out T x))
                    throw new InvalidDataException($"line {lineNo}: value {j - wordTokens + 1} of '{word}' is not a number: '{tokens[j]}'.");
                if (added) values.Add(x);
            }
            if (!added) duplicates++;
            read++;
        }
        if (declared >= 0 && read < declared && (maxWords is null || read < maxWords))
            throw new InvalidDataException($"the header declares {declared} vectors but the text holds {read}.");
        if (dim < 0) throw new InvalidDataException("the text holds no vectors.");
        return new PretrainedVectors<T>(vocab, dim, values.ToArray(), duplicates);
    }

    /// <summary>Reads a word2vec binary file (header "V D", then each word, a space and D little-endian float32 values).</summary>
    /// <param name="path">File path.</param>
    /// <param name="maxWords">Read at most this many vectors; null reads all.</param>
    public static PretrainedVectors<T> ReadWord2VecBinary<T>(string path, int? maxWords = null) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return ReadWord2VecBinary<T>(stream, maxWords);
    }

    /// <summary>Reads word2vec binary data from a stream.</summary>
    /// <param name="stream">The data.</param>
    /// <param name="maxWords">Read at most this many vectors; null reads all.</param>
    public static PretrainedVectors<T> ReadWord2VecBinary<T>(Stream stream, int? maxWords = null) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (maxWords is int mw) Guard.NonNegative(mw, nameof(maxWords));
        var bytes = new List<byte>(64);
        int b;
        while ((b = stream.ReadByte()) >= 0 && b != '\n') bytes.Add((byte)b);
        var header = Encoding.ASCII.GetString(bytes.ToArray()).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (header.Length != 2 || !int.TryParse(header[0], NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            || !int.TryParse(header[1], NumberStyles.None, CultureInfo.InvariantCulture, out int dim) || dim <= 0)
            throw new InvalidDataException($"word2vec binary header must be \"<count> <dim>\" with dim ≥ 1, got \"{string.Join(' ', header)}\".");
        int n = maxWords is int limit ? Math.Min(limit, count) : count;
        var vocab = new Vocabulary();
        var values = new List<T>(checked(n * dim));
        var raw = new byte[dim * 4];
        int duplicates = 0;
        for (int e = 0; e < n; e++)
        {
            bytes.Clear();
            while ((b = stream.ReadByte()) >= 0 && b != ' ')
                if (b != '\n' || bytes.Count > 0) bytes.Add((byte)b);
            if (b < 0) throw new InvalidDataException($"entry {e}: the file ends inside a word; the header declares {count} vectors.");
            string word = Encoding.UTF8.GetString(bytes.ToArray());
            if (stream.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false) < raw.Length)
                throw new InvalidDataException($"entry {e} ('{word}'): the file ends inside its vector; expected {dim} float32 values.");
            if (!vocab.TryAdd(word)) { duplicates++; continue; }
            for (int j = 0; j < dim; j++) values.Add(T.CreateTruncating(BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(4 * j))));
        }
        return new PretrainedVectors<T>(vocab, dim, values.ToArray(), duplicates);
    }
}
