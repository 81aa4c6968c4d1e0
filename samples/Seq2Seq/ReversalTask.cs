// The task: reverse a random string. "hello" → "olleh".
//
// Tokens (one vocabulary for source and target):   0 = <pad>   1 = <bos>   2 = <eos>   3.. = the letters a, b, …
// One example of length L:
//   source            x_1 … x_L                         (the encoder reads it; no <bos>/<eos> needed: its length is known)
//   decoder input     <bos> x_L … x_2 x_1               (teacher forcing: the previous correct output, L + 1 tokens)
//   target            x_L … x_1 <eos>                   (L + 1 tokens: the decoder must also say where to stop)
// so decoder input u is the target at u − 1, and the first input is <bos>.
//
// A batch holds B examples of different lengths, padded: sources [B, S] (S = the longest source, batch-first
// for the encoder and the attention), decoder inputs and targets [U, B] with U = S + 1 (time-major for the
// decoder's step loop). Padded target positions hold <pad>, which the loss ignores; padded source positions
// are excluded by the lengths (the encoder stops at each sequence's end, the attention gives them weight 0).
//
// Bucketing: random lengths 5…40 padded to the longest would waste half the work on padding, so training
// draws a pool of several batches at once, sorts it by length and cuts it into batches of similar lengths,
// served in a shuffled order. Every length still appears equally often.

namespace Seq2Seq;

/// <summary>A padded batch of reversal examples.</summary>
/// <param name="Sources">Source tokens [B, S], padded with <see cref="ReversalTask.Pad"/>.</param>
/// <param name="SourceLengths">The length of each source, [B].</param>
/// <param name="DecoderInputs">&lt;bos&gt; followed by the target shifted right, [U, B] with U = S + 1.</param>
/// <param name="Targets">The reversed source followed by &lt;eos&gt;, [U, B], padded with <see cref="ReversalTask.Pad"/>.</param>
internal sealed record Batch(Tensor<int> Sources, int[] SourceLengths, Tensor<int> DecoderInputs, Tensor<int> Targets)
{
    /// <summary>B, the number of examples.</summary>
    public int Size => SourceLengths.Length;

    /// <summary>S, the padded source length.</summary>
    public int SourceSteps => (int)Sources.Lengths[1];

    /// <summary>U = S + 1, the padded number of decoder steps.</summary>
    public int DecoderSteps => (int)Targets.Lengths[0];
}

/// <summary>Random strings over an alphabet of lowercase letters and the batches built from them.</summary>
internal sealed class ReversalTask
{
    /// <summary>Padding (ignored by the loss, masked in the attention).</summary>
    public const int Pad = 0;

    /// <summary>The decoder's first input.</summary>
    public const int Bos = 1;

    /// <summary>End of the output.</summary>
    public const int Eos = 2;

    /// <summary>The token of the letter 'a'.</summary>
    public const int FirstLetter = 3;

    /// <summary>Batches drawn at once and sorted by length (see the header).</summary>
    public const int BucketBatches = 8;

    public ReversalTask(int alphabetSize, int minLength, int maxLength)
    {
        (AlphabetSize, MinLength, MaxLength) = (alphabetSize, minLength, maxLength);
    }

    public int AlphabetSize { get; }

    public int MinLength { get; }

    public int MaxLength { get; }

    /// <summary>Letters plus &lt;pad&gt;, &lt;bos&gt;, &lt;eos&gt;.</summary>
    public int VocabularySize => FirstLetter + AlphabetSize;

    /// <summary>A random string of <paramref name="length"/> letter tokens.</summary>
    public int[] RandomString(Rng rng, int length)
    {
        var tokens = new int[length];
        for (int i = 0; i < length; i++) tokens[i] = FirstLetter + rng.NextInt(AlphabetSize);
        return tokens;
    }

    /// <summary>A random length in [<see cref="MinLength"/>, <see cref="MaxLength"/>].</summary>
    public int RandomLength(Rng rng) => MinLength + rng.NextInt(MaxLength - MinLength + 1);

    /// <summary>The string a token sequence spells (special tokens as ·).</summary>
    public static string Spell(IEnumerable<int> tokens) =>
        string.Concat(tokens.Select(t => t >= FirstLetter ? (char)('a' + t - FirstLetter) : '·'));

    /// <summary>Pads the sources and builds the teacher-forcing inputs and the targets.</summary>
    public static Batch MakeBatch(IReadOnlyList<int[]> sources)
    {
        int batch = sources.Count, steps = sources.Max(s => s.Length), decoderSteps = steps + 1;
        var src = new int[batch * steps];                 // [B, S], Pad = 0 everywhere else
        var input = new int[decoderSteps * batch];        // [U, B]
        var target = new int[decoderSteps * batch];       // [U, B]
        var lengths = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            int[] x = sources[b];
            int length = lengths[b] = x.Length;
            x.CopyTo(src, b * steps);
            for (int u = 0; u <= length; u++)
            {
                target[u * batch + b] = u < length ? x[length - 1 - u] : Eos;   // x_L … x_1 <eos>
                input[u * batch + b] = u == 0 ? Bos : target[(u - 1) * batch + b];  // <bos>, then the previous target
            }
        }
        return new Batch(Tensor.Create(src, [batch, steps]), lengths,
            Tensor.Create(input, [decoderSteps, batch]), Tensor.Create(target, [decoderSteps, batch]));
    }

    /// <summary>An endless stream of training batches of random lengths, bucketed by length (see the header).</summary>
    public IEnumerable<Batch> TrainingBatches(Rng rng, int batchSize)
    {
        while (true)
        {
            var pool = new List<int[]>(BucketBatches * batchSize);
            for (int i = 0; i < BucketBatches * batchSize; i++) pool.Add(RandomString(rng, RandomLength(rng)));
            pool.Sort((a, b) => a.Length.CompareTo(b.Length));
            var order = Enumerable.Range(0, BucketBatches).ToArray();
            for (int i = order.Length - 1; i > 0; i--)             // Fisher–Yates: serve the buckets in a random order
            {
                int j = rng.NextInt(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            foreach (int k in order) yield return MakeBatch(pool.GetRange(k * batchSize, batchSize));
        }
    }
}
