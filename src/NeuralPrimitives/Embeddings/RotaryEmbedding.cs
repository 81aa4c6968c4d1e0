// Rotary position embedding (RoPE, Su et al. 2021), applied to query/key tensors. No parameters.
//
// Shapes:   x [..., T, d] (d = headDim, even); step t has position m = offset + t.
// Angles:   θ_i = base^(−2i/d), i = 0 .. d/2−1 (base = 10000); the pair i is rotated by m·θ_i.
// Pairs:    RotateHalf  (GPT-NeoX / LLaMA in Hugging Face):  pair i = (x[i], x[i + d/2])
//           Interleaved (the paper, GPT-J, Meta's LLaMA):   pair i = (x[2i], x[2i+1])
// Forward:  for each pair (a, b) with c = cos(m·θ_i), s = sin(m·θ_i):
//               a' = a·c − b·s
//               b' = b·c + a·s                       i.e. (a', b') = R(m·θ_i)·(a, b)
// Backward: R is orthogonal, so dx = R(m·θ_i)ᵀ·dy = R(−m·θ_i)·dy:
//               da = da'·c + db'·s
//               db = db'·c − da'·s
// Cache:    cos/sin of m·θ_i for m < the cache size, built in double on first use and grown by doubling up
//           to maxCachedPositions (default 8192); a position beyond it is computed on the fly for its row
//           (Math.SinCos, same values, no storage), so memory stays bounded whatever the offset.
// Why it works: ⟨R(mθ)q, R(nθ)k⟩ = ⟨q, R((n−m)θ)k⟩ depends only on n − m (relative position), and a
// rotation preserves every pair's norm. With an offset (incremental decoding with a KV cache) the
// rotated step t of a suffix equals step offset + t of the whole sequence.
namespace NeuralPrimitives;

/// <summary>Which coordinates RoPE rotates together.</summary>
public enum RotaryStyle
{
    /// <summary>Pairs (x[i], x[i + d/2]): the "rotate half" convention of GPT-NeoX and Hugging Face LLaMA (default).</summary>
    RotateHalf,
    /// <summary>Pairs (x[2i], x[2i+1]): the paper's convention, used by GPT-J and Meta's original LLaMA code.</summary>
    Interleaved,
}

/// <summary>
/// Rotary position embedding for query/key tensors [..., T, headDim] with a position offset (PyTorch has no built-in;
/// this follows the common Hugging Face "rotate half" convention by default, base 10000).
/// </summary>
/// <remarks>
/// <see cref="Forward(Tensor{T}, int)"/>/<see cref="Backward"/> keep one output buffer: use one instance per tensor
/// (one for queries, one for keys), or <see cref="Apply"/> with your own destination. The cos/sin cache grows on
/// demand (an allocation only when a larger position is first seen) up to <see cref="MaxCachedPositions"/>; positions
/// beyond it are computed per row without being stored, so any offset up to <see cref="int.MaxValue"/> works in bounded
/// memory. <see cref="Infer"/> and <see cref="Apply"/> are thread-safe.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class RotaryEmbedding<T> : Module<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private sealed record Cache(int Positions, T[] Cos, T[] Sin, T[] NegSin);

    private readonly object _grow = new();
    private volatile Cache _cache;
    private readonly TensorBuffer<T> _output = new();
    private readonly TensorBuffer<T> _dInput = new();
    private nint[]? _shape;
    private int _offset;

    /// <summary>Creates the rotation for a head width.</summary>
    /// <param name="headDim">Width d of each query/key vector (even, ≥ 2).</param>
    /// <param name="base">Frequency base (default 10000).</param>
    /// <param name="style">Pairing convention (default <see cref="RotaryStyle.RotateHalf"/>).</param>
    /// <param name="initialPositions">Positions to precompute (the cache grows beyond it when needed).</param>
    /// <param name="maxCachedPositions">Largest number of positions whose cos/sin are stored (≥ <paramref name="initialPositions"/>);
    /// later positions are computed when used. The cache takes 3 × <paramref name="maxCachedPositions"/> × headDim/2 elements at most.</param>
    public RotaryEmbedding(int headDim, double @base = 10000, RotaryStyle style = RotaryStyle.RotateHalf, int initialPositions = 512,
        int maxCachedPositions = 8192)
    {
        Guard.Positive(headDim);
        if (headDim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, $"headDim must be even (coordinates are rotated in pairs), got {headDim}.");
        if (!(@base > 1) || double.IsInfinity(@base))
            throw new ArgumentOutOfRangeException(nameof(@base), @base, $"base must be a finite number > 1, got {@base}.");
        if (!Enum.IsDefined(style)) throw new ArgumentOutOfRangeException(nameof(style), style, $"style must be RotateHalf or Interleaved, got {style}.");
        Guard.Positive(maxCachedPositions);
        Guard.ElementCount(maxCachedPositions, headDim / 2, nameof(maxCachedPositions), nameof(maxCachedPositions), "headDim/2");
        Guard.Positive(initialPositions);
        if (initialPositions > maxCachedPositions)
            throw new ArgumentOutOfRangeException(nameof(initialPositions), initialPositions, $"initialPositions must be ≤ maxCachedPositions = {maxCachedPositions}, got {initialPositions}.");
        HeadDim = headDim;
        Base = @base;
        Style = style;
        MaxCachedPositions = maxCachedPositions;
        _cache = Build(initialPositions);
    }

    /// <summary>Head width d.</summary>
    public int HeadDim { get; }

    /// <summary>Frequency base.</summary>
    public double Base { get; }

    /// <summary>Pairing convention.</summary>
    public RotaryStyle Style { get; }

    /// <summary>The most positions whose cos/sin the cache stores; later positions are computed per row.</summary>
    public int MaxCachedPositions { get; }

    /// <summary>The angle frequency θ_i = base^(−2i/d) of pair <paramref name="i"/>.</summary>
    /// <param name="i">Pair index in [0, d/2).</param>
    public double Frequency(int i) => Math.Pow(Base, -2.0 * i / HeadDim);

    private Cache Build(int positions)
    {
        int h = HeadDim / 2;
        var cos = new T[positions * h];
        var sin = new T[positions * h];
        var neg = new T[positions * h];
        for (int m = 0; m < positions; m++)
            Angles(m, cos.AsSpan(m * h, h), sin.AsSpan(m * h, h), neg.AsSpan(m * h, h));
        return new Cache(positions, cos, sin, neg);
    }

    // cos(m·θ_i), sin(m·θ_i) and −sin(m·θ_i) for every pair i of position m, computed in double.
    private void Angles(int m, Span<T> cos, Span<T> sin, Span<T> negSin)
    {
        for (int i = 0; i < cos.Length; i++)
        {
            var (s, c) = Math.SinCos(m * Frequency(i));
            cos[i] = T.CreateTruncating(c);
            sin[i] = T.CreateTruncating(s);
            negSin[i] = T.CreateTruncating(-s);
        }
    }

    // The cache holding positions [0, min(positions, MaxCachedPositions)), grown by doubling (so a decoder
    // that advances one step at a time rebuilds it O(log n) times).
    private Cache CacheFor(int positions)
    {
        positions = Math.Min(positions, MaxCachedPositions);
        var c = _cache;
        if (c.Positions >= positions) return c;
        lock (_grow)
        {
            c = _cache;
            if (c.Positions >= positions) return c;
            return _cache = Build((int)Math.Clamp(2L * c.Positions, positions, MaxCachedPositions));
        }
    }

    /// <summary>Training forward: rotates every [T, d] slice with positions offset + t. Module-owned result.</summary>
    /// <param name="input">Queries or keys [..., T, headDim] (rank ≥ 2).</param>
    /// <param name="positionOffset">Position of step 0 (≥ 0), e.g. the number of cached steps when decoding.</param>
    public Tensor<T> Forward(Tensor<T> input, int positionOffset = 0)
    {
        using var pass = BeginForward();
        int seqLen = Check(input, positionOffset, nameof(input));
        var output = _output.Get(EmbeddingOps.CachedShape(ref _shape, input.Lengths));
        Rotate(input.AsReadOnlySpan(), output.AsSpan(), seqLen, positionOffset, inverse: false);
        _offset = positionOffset;
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Backward of the last <see cref="Forward(Tensor{T}, int)"/>: ∂L/∂x = Rᵀ·∂L/∂y (module-owned).</summary>
    /// <param name="dOutput">∂L/∂y shaped like the last input.</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.Shape(dOutput, _shape!, nameof(dOutput));
        var dInput = _dInput.Get(_shape!);
        Rotate(dOutput.AsReadOnlySpan(), dInput.AsSpan(), (int)_shape![^2], _offset, inverse: true);
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    /// <summary>Inference forward: a new rotated tensor; caches nothing, thread-safe.</summary>
    /// <param name="input">Queries or keys [..., T, headDim].</param>
    /// <param name="positionOffset">Position of step 0 (≥ 0).</param>
    public Tensor<T> Infer(Tensor<T> input, int positionOffset = 0)
    {
        int seqLen = Check(input, positionOffset, nameof(input));
        var output = Tensor.Create(new T[input.FlattenedLength], input.Lengths);
        Rotate(input.AsReadOnlySpan(), output.AsSpan(), seqLen, positionOffset, inverse: false);
        return output;
    }

    /// <summary>
    /// Rotates <paramref name="input"/> into a caller-owned <paramref name="destination"/> of the same shape (no allocation,
    /// thread-safe). With <paramref name="inverse"/> it applies the inverse rotation, which is also the backward pass.
    /// </summary>
    /// <param name="input">[..., T, headDim].</param>
    /// <param name="destination">Same shape as <paramref name="input"/>: either <paramref name="input"/> itself (rotated in place)
    /// or a tensor that shares no memory with it.</param>
    /// <param name="positionOffset">Position of step 0 (≥ 0).</param>
    /// <param name="inverse">Rotate by −m·θ (the transpose) instead of +m·θ.</param>
    public void Apply(Tensor<T> input, Tensor<T> destination, int positionOffset = 0, bool inverse = false)
    {
        int seqLen = Check(input, positionOffset, nameof(input));
        Guard.SameShape(input, destination, nameof(destination));
        ReadOnlySpan<T> x = input.AsReadOnlySpan();
        Span<T> y = destination.AsSpan();
        // Each pair is read before it is written, so in place is exact; a partial overlap would read rotated values.
        if (x.Overlaps(y, out int shift) && shift != 0)
            throw new ArgumentException($"destination overlaps input with an offset of {shift} elements: pass input itself (in place) or a separate tensor.", nameof(destination));
        Rotate(x, y, seqLen, positionOffset, inverse);
    }

    private int Check(Tensor<T> input, int positionOffset, string name)
    {
        Guard.MinRank(input, 2, name);
        Guard.LastDim(input, HeadDim, name);
        Guard.NonNegative(positionOffset);
        int seqLen = (int)input.Lengths[^2];
        if ((long)positionOffset + seqLen > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(positionOffset), positionOffset,
                $"positionOffset + sequence length = {positionOffset} + {seqLen} exceeds the last position {int.MaxValue:N0} (positions are int).");
        return seqLen;
    }

    // One pass over a row: a' = a·c − b·s, b' = b·c + a·s with a = x[..h], b = x[h..]; Vector<T> body, scalar tail.
    // Replaced four TensorPrimitives calls per row (their call overhead dominates at h = 32): faster in
    // each of three side-by-side rounds on a loaded machine (7.4/10.7/14.3 ms vs 8.5/18.3/19.5 ms for
    // forward + backward of [32, 8, 128, 64] floats).
    private static void RotateHalfRow(ReadOnlySpan<T> x, Span<T> y, ReadOnlySpan<T> c, ReadOnlySpan<T> s, int h)
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && h >= Vector<T>.Count)
        {
            ReadOnlySpan<T> a = x[..h], b = x[h..];
            Span<T> a2 = y[..h], b2 = y[h..];
            for (; j <= h - Vector<T>.Count; j += Vector<T>.Count)
            {
                var va = new Vector<T>(a[j..]); var vb = new Vector<T>(b[j..]);
                var vc = new Vector<T>(c[j..]); var vs = new Vector<T>(s[j..]);
                (va * vc - vb * vs).CopyTo(a2[j..]);
                (vb * vc + va * vs).CopyTo(b2[j..]);
            }
        }
        for (; j < h; j++)
        {
            T a = x[j], b = x[h + j];
            y[j] = a * c[j] - b * s[j];
            y[h + j] = b * c[j] + a * s[j];
        }
    }

    private void Rotate(ReadOnlySpan<T> x, Span<T> y, int seqLen, int offset, bool inverse)
    {
        if (x.Length == 0) return;
        int d = HeadDim, h = d / 2, rows = x.Length / d;
        var cache = CacheFor(offset + seqLen);
        // cos, sin, −sin of a position past the cache, computed per row into a scratch (on the stack unless headDim is huge)
        Span<T> far = offset + seqLen <= cache.Positions ? default : 3 * h <= 1536 ? stackalloc T[3 * h] : new T[3 * h];
        int farPosition = -1; // the position whose angles `far` holds (decoding one step: every row of every head)
        for (int r = 0; r < rows; r++)
        {
            int m = offset + r % seqLen;
            scoped ReadOnlySpan<T> c, s;
            if (m < cache.Positions)
            {
                c = cache.Cos.AsSpan(m * h, h);
                s = (inverse ? cache.NegSin : cache.Sin).AsSpan(m * h, h);
            }
            else
            {
                if (m != farPosition) Angles(farPosition = m, far[..h], far.Slice(h, h), far[(2 * h)..]);
                c = far[..h];
                s = inverse ? far[(2 * h)..] : far.Slice(h, h);
            }
            var xr = x.Slice(r * d, d);
            var yr = y.Slice(r * d, d);
            if (Style == RotaryStyle.RotateHalf)
            {
                RotateHalfRow(xr, yr, c, s, h);
            }
            else
            {
                for (int i = 0; i < h; i++)
                {
                    T a = xr[2 * i], b = xr[2 * i + 1];
                    yr[2 * i] = a * c[i] - b * s[i];
                    yr[2 * i + 1] = b * c[i] + a * s[i];
                }
            }
        }
    }
}
