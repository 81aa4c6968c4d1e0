using System.Text;
using static NeuralPrimitives.Tests.Embeddings.EmbeddingTests;

namespace NeuralPrimitives.Tests.Embeddings;

public sealed class PretrainedVectorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("np-emb-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly (string Word, float[] Vector)[] Words =
    [
        ("king", [0.9f, 0.8f, 0.1f]),
        ("queen", [0.9f, -0.8f, 0.1f]),
        ("man", [0.1f, 0.8f, 0.05f]),
        ("woman", [0.1f, -0.8f, 0.05f]),
        ("apple", [-0.2f, 0.05f, 1.5f]),
        ("café", [0.3f, 0.1f, -0.7f]),
    ];

    private string WriteText(string name, bool header, string extra = "")
    {
        var sb = new StringBuilder();
        if (header) sb.Append($"{Words.Length} 3\n");
        foreach (var (w, v) in Words) sb.Append(w).Append(' ').AppendJoin(' ', v.Select(x => x.ToString("R", System.Globalization.CultureInfo.InvariantCulture))).Append('\n');
        sb.Append(extra);
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, sb.ToString(), new UTF8Encoding(false));
        return path;
    }

    // The word2vec C tool's layout: "V D\n", then word, ' ', D little-endian float32, '\n'.
    private string WriteBinary(string name, bool newlineAfterVector)
    {
        var path = Path.Combine(_dir, name);
        using var w = new BinaryWriter(File.Create(path));
        w.Write(Encoding.ASCII.GetBytes($"{Words.Length} 3\n"));
        foreach (var (word, v) in Words)
        {
            w.Write(Encoding.UTF8.GetBytes(word + " "));
            foreach (var x in v) w.Write(x);
            if (newlineAfterVector) w.Write((byte)'\n');
        }
        return path;
    }

    private static void AssertAllWords<T>(PretrainedVectors<T> pv) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Assert.Equal(Words.Length, pv.Count);
        Assert.Equal(3, pv.Dim);
        for (int i = 0; i < Words.Length; i++)
        {
            Assert.Equal(Words[i].Word, pv.Vocabulary[i]);
            Assert.Equal(i, pv.Vocabulary.IndexOf(Words[i].Word));
            Assert.Equal(Words[i].Vector, pv[Words[i].Word].ToArray().Select(float.CreateTruncating).ToArray());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsGloVeAndWord2VecText(bool header)
    {
        AssertAllWords(PretrainedVectors.ReadText<float>(WriteText("v.txt", header)));
        AssertAllWords(PretrainedVectors.ReadText<double>(WriteText("v.txt", header)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsWord2VecBinary(bool newlineAfterVector)
    {
        AssertAllWords(PretrainedVectors.ReadWord2VecBinary<float>(WriteBinary("v.bin", newlineAfterVector)));
        var limited = PretrainedVectors.ReadWord2VecBinary<float>(WriteBinary("v2.bin", newlineAfterVector), maxWords: 2);
        Assert.Equal(["king", "queen"], limited.Vocabulary);
    }

    [Fact]
    public void TextEdgeCasesWordsWithSpacesDuplicatesAndLimit()
    {
        var path = WriteText("e.txt", header: false, extra: "new york 1 2 3\nking 9 9 9\n\n");
        var pv = PretrainedVectors.ReadText<double>(path);
        Assert.Equal(Words.Length + 1, pv.Count);
        Assert.Equal([1.0, 2, 3], pv["new york"].ToArray());
        Assert.Equal(1, pv.DuplicatesSkipped);
        Assert.Equal(0.9, pv["king"][0], 1e-7); // the first vector of a repeated word is kept
        Assert.Equal(["king", "queen", "man"], PretrainedVectors.ReadText<double>(path, maxWords: 3).Vocabulary);
        Assert.Equal(2, PretrainedVectors.ReadText<double>(WriteText("h.txt", header: true), maxWords: 2).Count);
    }

    [Fact]
    public void MalformedFilesAreRejectedWithTheLine()
    {
        var shortLine = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader("a 1 2 3\nb 1 2\n")));
        Assert.Contains("line 2", shortLine.Message); Assert.Contains("3 values", shortLine.Message); Assert.Contains("got 3 token", shortLine.Message);
        var nan = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader("a 1 2 3\nb 1 x 3\n")));
        Assert.Contains("line 2", nan.Message); Assert.Contains("'x'", nan.Message);
        var missing = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader("3 2\na 1 2\nb 1 2\n")));
        Assert.Contains("3 vectors", missing.Message); Assert.Contains("holds 2", missing.Message);
        Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader("\n\n")));
        var bin = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadWord2VecBinary<float>(new NonSeekableStream(Encoding.ASCII.GetBytes("2 3\nab "))));
        Assert.Contains("entry 0", bin.Message);
        var head = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream(Encoding.ASCII.GetBytes("hello\n"))));
        Assert.Contains("hello", head.Message);
        var known = PretrainedVectors.ReadText<float>(WriteText("k.txt", false));
        Assert.Throws<KeyNotFoundException>(() => known.Vocabulary["pear"]);
        Assert.Equal(-1, known.Vocabulary.IndexOf("pear"));
        Assert.Throws<ArgumentException>(() => new Vocabulary(["a", "b", "a"]));
    }

    [Fact]
    public void ToEmbeddingLooksUpTheVectors()
    {
        var pv = PretrainedVectors.ReadText<float>(WriteText("v.txt", header: true));
        var emb = pv.ToEmbedding();
        Assert.False(emb.Weight.RequiresGrad);
        var y = emb.Forward(Ints([pv.Vocabulary["queen"], pv.Vocabulary["café"]], 2)).ToArray();
        Assert.Equal(Words[1].Vector.Concat(Words[5].Vector).ToArray(), y);
    }

    // Brute-force cosine in double, independent of TensorPrimitives.
    private static double Cos(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i]; }
        return dot / Math.Sqrt(na * nb);
    }

    [Fact]
    public void MostSimilarAndAnalogyMatchBruteForce()
    {
        var pv = PretrainedVectors.ReadText<float>(WriteText("v.txt", header: false));
        var hits = pv.MostSimilar("king", 3);
        var expected = Words.Where(w => w.Word != "king").Select(w => (w.Word, Sim: Cos(Words[0].Vector, w.Vector)))
            .OrderByDescending(p => p.Sim).Take(3).ToArray();
        Assert.Equal(expected.Select(e => e.Word), hits.Select(h => h.Word));
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i].Sim, hits[i].Similarity, 1e-6);

        var answer = pv.Analogy("king", "man", "woman", k: 2);
        Assert.Equal("queen", answer[0].Word);
        static float[] Unit(float[] v) { double n = Math.Sqrt(v.Sum(x => (double)x * x)); return v.Select(x => (float)(x / n)).ToArray(); }
        var q = Enumerable.Range(0, 3).Select(j => Unit(Words[0].Vector)[j] - Unit(Words[2].Vector)[j] + Unit(Words[3].Vector)[j]).ToArray();
        Assert.Equal(Cos(q, Words[1].Vector), answer[0].Similarity, 1e-5);
        Assert.DoesNotContain(answer, a => a.Word is "king" or "man" or "woman");
    }

    [NpProperty]
    public void NearestNeighboursMatchBruteForce(SmallDim rowsSeed, Dim dim, SmallDim k, Seed seed)
    {
        var rng = seed.Rng();
        int rows = 3 * rowsSeed;
        var m = TestData.NormalF(rng, rows * dim);
        Array.Clear(m, 0, dim); // a zero row: similarity 0 by definition
        var q = TestData.NormalF(rng, dim);
        var hits = VectorSimilarity.NearestNeighbours<float>(m, dim, q, k, exclude: [1]);
        var expected = Enumerable.Range(0, rows).Where(r => r != 1)
            .Select(r => (Index: r, Sim: r == 0 ? 0 : Cos(m[(r * dim)..((r + 1) * dim)], q)))
            .OrderByDescending(p => p.Sim).ThenBy(p => p.Index).Take(k).ToArray();
        Assert.Equal(expected.Length, hits.Length);
        for (int i = 0; i < hits.Length; i++) Assert.Equal(expected[i].Sim, hits[i].Similarity, 1e-5);
        Assert.Equal(0f, VectorSimilarity.Cosine<float>(m.AsSpan(0, dim), q));
        Assert.Throws<ArgumentOutOfRangeException>(() => VectorSimilarity.Analogy<float>(m, dim, 0, rows, 1));
        Assert.Throws<ArgumentException>(() => VectorSimilarity.NearestNeighbours<float>(m, dim, q.AsSpan(1), 1));
    }

    // ---- hostile files: sizes from the header, value counts, encodings, line endings, non-finite values ----

    /// <summary>A stream that cannot seek (a pipe, a network response): the reader cannot know the length up front.</summary>
    internal sealed class NonSeekableStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    // Bytes allocated on this thread while run() throws the expected InvalidDataException.
    private static long AllocatedWhileFailing(Action run)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Throws<InvalidDataException>(run);
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Theory]
    [InlineData("1000000 1000")]   // 4 GB of float32 promised
    [InlineData("1 600000000")]    // 2.4 GB in one vector
    [InlineData("1 4000000")]      // 16 MB in one vector
    [InlineData("40000 100")]      // 16 MB in many
    public void BinaryHeaderAloneAllocatesNothingLarge(string header)
    {
        var bytes = new byte[34];
        Encoding.ASCII.GetBytes(header + "\n").CopyTo(bytes, 0);
        "w "u8.ToArray().CopyTo(bytes, header.Length + 1);
        Assert.Equal(34, bytes.Length);
        PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream(bytes), maxWords: 0); // warm up (JIT, statics)

        // A seekable stream is checked against its length before anything is sized from the header.
        var path = Path.Combine(_dir, "lie.bin");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadWord2VecBinary<float>(path));
        Assert.Contains("needs at least", e.Message); Assert.Contains($"only {34 - header.Length - 1} follow", e.Message);
        long seekable = AllocatedWhileFailing(() => PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream(bytes)));
        Assert.InRange(seekable, 0, 16 * 1024);
        // A stream that cannot seek grows its buffers as data arrives: bounded by a 16 KB read chunk, not by the header.
        long piped = AllocatedWhileFailing(() => PretrainedVectors.ReadWord2VecBinary<float>(new NonSeekableStream(bytes)));
        Assert.InRange(piped, 0, 64 * 1024);
        Assert.InRange(AllocatedWhileFailing(() => PretrainedVectors.ReadWord2VecBinary<double>(path)), 0, 64 * 1024);
    }

    [Fact]
    public void BinaryReaderStillReadsLargeVectorsInChunksAndFromPipes()
    {
        // D = 5000 > the 4096-value read chunk, from a stream that cannot seek, with a CRLF header.
        const int d = 5000;
        var ms = new MemoryStream();
        ms.Write(Encoding.ASCII.GetBytes($"2 {d}\r\n"));
        var expected = new float[2 * d];
        new Rng(3).FillNormal<float>(expected);
        for (int w = 0; w < 2; w++)
        {
            ms.Write(Encoding.UTF8.GetBytes(w == 0 ? "alpha " : "\nbeta "));
            for (int j = 0; j < d; j++) ms.Write(BitConverter.GetBytes(expected[w * d + j]));
        }
        var pv = PretrainedVectors.ReadWord2VecBinary<float>(new NonSeekableStream(ms.ToArray()));
        Assert.Equal(["alpha", "beta"], pv.Vocabulary);
        Assert.Equal(expected, pv.Vectors);
    }

    [Fact]
    public void BinaryHeaderErrorsShowControlCharacters()
    {
        var e = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream("2 x\r\n"u8.ToArray())));
        Assert.Contains("\"2 x\\r\"", e.Message); // the \r is spelled out, not invisible
        Assert.DoesNotContain("\r", e.Message);
        var longHeader = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream(new byte[200])));
        Assert.Contains("more than 64 bytes", longHeader.Message); Assert.Contains("\\x00", longHeader.Message);
        var ok = PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream([.. "1 1\r\na "u8, .. BitConverter.GetBytes(2.5f)]));
        Assert.Equal(2.5f, ok["a"][0]);
    }

    [Theory]
    [InlineData(float.NaN, "is NaN")]
    [InlineData(float.PositiveInfinity, "is Infinity")]
    [InlineData(float.NegativeInfinity, "is -Infinity")]
    public void BinaryNonFiniteValuesAreRejectedUnlessAllowed(float bad, string shown)
    {
        byte[] File() => [.. "2 2\nok "u8, .. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(2f), .. "\nbad "u8, .. BitConverter.GetBytes(3f), .. BitConverter.GetBytes(bad)];
        var e = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream(File())));
        Assert.Contains("entry 1 ('bad')", e.Message); Assert.Contains("value 2", e.Message); Assert.Contains(shown, e.Message);
        Assert.Contains("allowNonFinite", e.Message);
        var kept = PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream(File()), allowNonFinite: true);
        Assert.Equal(bad, kept["bad"][1]);
    }

    [Fact]
    public void BinaryValueThatOverflowsTheElementTypeIsRejected()
    {
        byte[] data = [.. "1 1\nbig "u8, .. BitConverter.GetBytes(1e5f)];
        var e = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadWord2VecBinary<Half>(new MemoryStream(data)));
        Assert.Contains("overflows Half", e.Message);
        Assert.Equal(1e5, PretrainedVectors.ReadWord2VecBinary<double>(new MemoryStream(data))["big"][0]);
    }

    [Theory]
    [InlineData("2 3\ncat 0.1 0.2 0.3 0.4\ndog 1 2 3\n", 2, "3 values (the header's dimension)", "4 value(s) after 'cat'")]
    [InlineData("cat 1 2 3\ndog 1 2 3 4\n", 2, "3 values (the first line's dimension)", "4 value(s) after 'dog'")]
    [InlineData("2 3\ncat 1 2 3\ndog 1 2\n", 3, "3 values (the header's dimension)", "2 value(s) after 'dog'")]
    [InlineData("2 3\nnew york 1 2 3 4\n", 2, "3 values", "4 value(s) after 'new york'")]
    public void TextLinesWithTheWrongValueCountAreRejected(string text, int line, string expected, string got)
    {
        var e = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader(text)));
        Assert.Contains($"line {line}:", e.Message); Assert.Contains(expected, e.Message); Assert.Contains(got, e.Message);
    }

    [Fact]
    public void TextNumericWordsAndWordsWithSpacesStillRead()
    {
        // A word that is itself a number ("2010", "nan") is the first token; a multi-token word ends where the values start.
        var pv = PretrainedVectors.ReadText<double>(new StringReader("3 2\n2010 0.5 -1\nnew york 1 2\nnan 3 4\n"));
        Assert.Equal(["2010", "new york", "nan"], pv.Vocabulary);
        Assert.Equal([0.5, -1, 1, 2, 3, 4], pv.Vectors);
    }

    [Theory]
    [InlineData("NaN", "'NaN'", false)]
    [InlineData("-Infinity", "'-Infinity'", false)]
    [InlineData("1e39", "'1e39', which overflows Single", true)]
    public void TextNonFiniteValuesAreRejectedUnlessAllowed(string token, string shown, bool overflow)
    {
        string text = $"a 1 2\nb 3 {token}\n";
        var e = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader(text)));
        Assert.Contains("line 2", e.Message); Assert.Contains($"value 2 of 'b' is {shown}", e.Message); Assert.Contains("allowNonFinite", e.Message);
        Assert.Equal(overflow, e.Message.Contains("overflows"));
        var kept = PretrainedVectors.ReadText<float>(new StringReader(text), allowNonFinite: true);
        Assert.False(float.IsFinite(kept["b"][1]));
        Assert.Equal(1e39, PretrainedVectors.ReadText<double>(new StringReader("a 1e39\n"))["a"][0]); // fits a double
    }

    [Fact]
    public void TextFileInLatin1IsReportedWithLineAndByteOrReadWithTheEncoding()
    {
        var path = Path.Combine(_dir, "latin1.txt");
        File.WriteAllBytes(path, [.. "king 1 2\n"u8, .. "caf"u8, 0xE9, .. " 3 4\n"u8]); // "café" in Latin-1
        var e = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(path));
        Assert.Contains("line 2, byte 4: 0xE9 is not valid utf-8", e.Message); Assert.Contains("Encoding.Latin1", e.Message);
        var pv = PretrainedVectors.ReadText<float>(path, encoding: Encoding.Latin1);
        Assert.Equal([3f, 4f], pv["café"].ToArray());
        var utf16 = Assert.Throws<ArgumentException>(() => PretrainedVectors.ReadText<float>(path, encoding: Encoding.Unicode));
        Assert.Equal("encoding", utf16.ParamName);
    }

    [Fact]
    public void TextFileWithCrlfAndBomReadsAndErrorsShowNoInvisibleCharacters()
    {
        var path = Path.Combine(_dir, "crlf.txt");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "2 2\r\na 1 2\r\nb 3 4\r\n"u8]);
        var pv = PretrainedVectors.ReadText<float>(path);
        Assert.Equal(["a", "b"], pv.Vocabulary);
        Assert.Equal([1f, 2, 3, 4], pv.Vectors);
        File.WriteAllBytes(path, "2 2\r\na 1 2\r\nb 3 x\r\n"u8.ToArray());
        var e = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(path));
        Assert.Contains("'x' is not a number", e.Message);
        Assert.DoesNotContain("\r", e.Message);
        var tab = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader("a\x01b 1 2\nc 1\n")));
        Assert.Contains("'c'", tab.Message);
        var ctl = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader("a 1 2\nb\x01 1\n")));
        Assert.Contains("'b\\x01'", ctl.Message);
    }

    [Fact]
    public void TextHeaderAllocatesNothingFromItsSizes()
    {
        const string text = "1000000 1000\na 1 2\n";
        Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadText<float>(new StringReader(text))); // warm up
        long bytes = AllocatedWhileFailing(() => PretrainedVectors.ReadText<float>(new StringReader(text)));
        Assert.InRange(bytes, 0, 64 * 1024);
    }

    [Fact]
    public void ArgumentsAreNamed()
    {
        var pv = PretrainedVectors.ReadText<float>(new StringReader("a 1 2\nb 3 4\nc 5 6\n"));
        var v = Assert.Throws<ArgumentException>(() => pv.MostSimilar(new float[3]));
        Assert.Equal("vector", v.ParamName); Assert.Contains("expected 2, got 3", v.Message);
        Assert.Equal("word", Assert.Throws<ArgumentNullException>(() => pv.MostSimilar((string)null!)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentNullException>(() => pv.Analogy("a", null!, "c")).ParamName);
        Assert.Equal("word", Assert.Throws<ArgumentNullException>(() => pv.Vocabulary.IndexOf(null!)).ParamName);
        Assert.Equal("word", Assert.Throws<ArgumentNullException>(() => pv.Vocabulary.Contains(null!)).ParamName);
        Assert.Equal("duplicatesSkipped", Assert.Throws<ArgumentOutOfRangeException>(() => new PretrainedVectors<float>(new Vocabulary(["a"]), 1, [1f], -1)).ParamName);
    }
}
