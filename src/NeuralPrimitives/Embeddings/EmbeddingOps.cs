// Helpers shared by Embedding, EmbeddingBag and the positional encodings: index validation,
// PyTorch's max-norm renormalisation, the gradient row of a dense or row-sparse weight, and a
// cached output shape (so that a repeated call with the same shape allocates nothing).
//
// max-norm renormalisation (torch.embedding_renorm_), for every looked-up row w_r:
//     n = ‖w_r‖_p = (Σ_j |w_rj|^p)^(1/p)        (p = normType; p = ∞ gives max_j |w_rj|)
//     if n > maxNorm:  w_r ← w_r · maxNorm / (n + 1e-7)
// The 1e-7 is PyTorch's; a renormalised row has norm just below maxNorm, so renormalising it
// again changes nothing (repeated indices are therefore harmless).
using System.Runtime.CompilerServices;

namespace NeuralPrimitives;

internal static class EmbeddingOps
{
    /// <summary>PyTorch's epsilon in the max-norm scale.</summary>
    public const double RenormEpsilon = 1e-7;

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> naming the first index outside [0, rows) and its flat position.
    /// </summary>
    public static void ValidateIndices(ReadOnlySpan<int> indices, int rows, string name)
    {
        for (int i = 0; i < indices.Length; i++)
            if ((uint)indices[i] >= (uint)rows)
                ThrowBadIndex(indices[i], i, rows, name);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowBadIndex(int value, int position, int rows, string name) =>
        throw new ArgumentOutOfRangeException(name, value,
            $"{name} holds {value} at flat position {position}: expected an index in [0, {rows}) (numEmbeddings = {rows}).");

    /// <summary>Normalises a PyTorch-style padding index (negative counts from the end) into [0, rows), or throws.</summary>
    public static int? NormalisePaddingIdx(int? paddingIdx, int rows, string name = "paddingIdx")
    {
        if (paddingIdx is not int p) return null;
        if (p < -rows || p >= rows)
            throw new ArgumentOutOfRangeException(name, p, $"{name} must be in [-{rows}, {rows}) (numEmbeddings = {rows}), got {p}.");
        return p < 0 ? p + rows : p;
    }

    /// <summary>Checks the table sizes (each ≥ 1, and V × D elements fit in one array).</summary>
    public static void ValidateTableSize(int numEmbeddings, int embeddingDim)
    {
        Guard.Positive(numEmbeddings);
        Guard.Positive(embeddingDim);
        Guard.ElementCount(numEmbeddings, embeddingDim, nameof(numEmbeddings), nameof(numEmbeddings), nameof(embeddingDim));
    }

    /// <summary>Checks maxNorm/normType as PyTorch would accept them.</summary>
    public static void ValidateNorm(double? maxNorm, double normType)
    {
        if (maxNorm is double m && !(m > 0))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), m, $"maxNorm must be > 0 (or null for none), got {m}.");
        if (!(normType > 0))
            throw new ArgumentOutOfRangeException(nameof(normType), normType, $"normType must be > 0 (2 = Euclidean, ∞ = max), got {normType}.");
    }

    /// <summary>The p-norm of a row, in double.</summary>
    public static double Norm<T>(ReadOnlySpan<T> row, double p) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (p == 2) return double.CreateTruncating(TensorPrimitives.Norm(row));
        if (p == 1) return double.CreateTruncating(TensorPrimitives.SumOfMagnitudes(row));
        if (double.IsPositiveInfinity(p)) return Math.Abs(double.CreateTruncating(TensorPrimitives.MaxMagnitude(row)));
        double s = 0;
        foreach (var v in row) s += Math.Pow(Math.Abs(double.CreateTruncating(v)), p);
        return Math.Pow(s, 1 / p);
    }

    /// <summary>The factor a row must be multiplied by under max-norm (1 when it is within the bound).</summary>
    public static double RenormScale<T>(ReadOnlySpan<T> row, double maxNorm, double p) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        double n = Norm(row, p);
        return n > maxNorm ? maxNorm / (n + RenormEpsilon) : 1.0;
    }

    /// <summary>Renormalises, in place, every row of <paramref name="weight"/> that <paramref name="indices"/> names.</summary>
    public static void RenormRows<T>(Span<T> weight, int dim, ReadOnlySpan<int> indices, double maxNorm, double p)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        foreach (int r in indices)
        {
            var row = weight.Slice(r * dim, dim);
            double scale = RenormScale<T>(row, maxNorm, p);
            if (scale != 1.0) TensorPrimitives.Multiply(row, T.CreateTruncating(scale), row);
        }
    }

    /// <summary>
    /// Copies weight row <paramref name="row"/> into <paramref name="destination"/>, scaled as max-norm would leave it
    /// (without writing the weight: the thread-safe inference path).
    /// </summary>
    public static void CopyRow<T>(ReadOnlySpan<T> weight, int dim, int row, Span<T> destination, double? maxNorm, double p)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var src = weight.Slice(row * dim, dim);
        if (maxNorm is double m)
        {
            double scale = RenormScale(src, m, p);
            if (scale != 1.0) { TensorPrimitives.Multiply(src, T.CreateTruncating(scale), destination); return; }
        }
        src.CopyTo(destination);
    }

    /// <summary>The gradient row of <paramref name="row"/>: a slot of the row-sparse gradient, or a slice of the dense one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Span<T> GradRow<T>(Parameter<T> weight, int row, int dim) where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => weight.SparseGrad is { } sparse ? sparse.Row(row) : weight.Grad.AsSpan(row * dim, dim);

    /// <summary>Returns <paramref name="cache"/> if it already equals <paramref name="prefix"/> + [last], else a new array.</summary>
    public static nint[] ShapeWithLast(ref nint[]? cache, ReadOnlySpan<nint> prefix, nint last)
    {
        if (cache is not null && cache.Length == prefix.Length + 1 && cache[^1] == last && prefix.SequenceEqual(cache.AsSpan(0, prefix.Length)))
            return cache;
        var s = new nint[prefix.Length + 1];
        prefix.CopyTo(s);
        s[^1] = last;
        return cache = s;
    }

    /// <summary>Returns a cached copy of <paramref name="shape"/> (same array while the shape does not change).</summary>
    public static nint[] CachedShape(ref nint[]? cache, ReadOnlySpan<nint> shape)
    {
        if (cache is not null && shape.SequenceEqual(cache)) return cache;
        return cache = shape.ToArray();
    }

    /// <summary>Returns a reusable int buffer of exactly <paramref name="length"/> elements.</summary>
    public static Span<int> IntBuffer(ref int[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new int[Math.Max(length, 16)];
        return buffer.AsSpan(0, length);
    }
}

/// <summary>How a [.., T, .., D] input of a positional encoding is laid out.</summary>
internal readonly record struct SequenceLayout(int SeqLen, int Batch, bool BatchFirst)
{
    /// <summary>
    /// Reads the layout of a [T, D], [B, T, D] (batchFirst) or [T, B, D] input, checking the last dimension.
    /// </summary>
    public static SequenceLayout Of<T>(Tensor<T> x, int dim, bool batchFirst, string name)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        if (x.Rank is not (2 or 3))
            throw new ArgumentException($"{name} must be [T, D], {(batchFirst ? "[B, T, D]" : "[T, B, D]")}, got shape {Shapes.Format(x.Lengths)}.", name);
        Guard.LastDim(x, dim, name);
        if (x.Rank == 2) return new(checked((int)x.Lengths[0]), 1, true);
        int a = checked((int)x.Lengths[0]), b = checked((int)x.Lengths[1]);
        return batchFirst ? new(b, a, true) : new(a, b, false);
    }

    /// <summary>The position (0-based, before any offset) of flattened row <paramref name="row"/>.</summary>
    public int PositionOf(int row) => BatchFirst ? row % SeqLen : row / Batch;
}
