using System.Text;
using NeuralPrimitives.Tests.Support;
using Xunit;
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
        var bin = Assert.Throws<InvalidDataException>(() => PretrainedVectors.ReadWord2VecBinary<float>(new MemoryStream(Encoding.ASCII.GetBytes("2 3\nab "))));
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
}
