// Learned positional embedding: a trainable [maxLen, D] table P added by position (BERT, GPT-2).
// In the lecture notes' column convention this is the d×T positional matrix added to the d×T
// token matrix; here rows are positions (row-major [T, D]), as PyTorch stores nn.Embedding(maxLen, D).
//
// Shapes:   x [T, D], [B, T, D] (batchFirst) or [T, B, D];  P [maxLen, D];  T + start ≤ maxLen
// Forward:  y[.., t, .., :] = x[.., t, .., :] + P[start + t, :]      (AdditivePositionalEncoding.cs)
// Backward: dx = dy
//           dP[start + t, :] += Σ_b dy[b, t, :]        (rows of unused positions get nothing; below)
// Init:     P ~ N(0, std²), std = 1 by default (nn.Embedding's default; GPT-2 uses 0.02).
namespace NeuralPrimitives;

/// <summary>
/// Adds a trainable per-position vector to a sequence (the <c>nn.Embedding(maxLen, D)</c> of position ids used by
/// BERT and GPT-2, applied to a [T, D], [B, T, D] or [T, B, D] input). Parameter: <c>weight</c> [maxLen, D].
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class LearnedPositionalEmbedding<T> : AdditivePositionalEncoding<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the table P ~ N(0, <paramref name="initStd"/>²).</summary>
    /// <param name="maxLen">Number of positions (≥ 1).</param>
    /// <param name="embeddingDim">Width D (≥ 1).</param>
    /// <param name="batchFirst">3-D inputs are [B, T, D] when true, [T, B, D] when false (PyTorch's default).</param>
    /// <param name="initStd">Standard deviation of the initial values (default 1, as nn.Embedding).</param>
    /// <param name="rng">Random source; <see cref="Rng.Default"/> when null.</param>
    public LearnedPositionalEmbedding(int maxLen, int embeddingDim, bool batchFirst = false, double initStd = 1.0, Rng? rng = null)
        : base(maxLen, embeddingDim, batchFirst)
    {
        Guard.Positive(maxLen);
        Guard.Positive(embeddingDim);
        Guard.ElementCount(maxLen, embeddingDim, nameof(maxLen), nameof(maxLen), nameof(embeddingDim));
        if (!(initStd >= 0) || double.IsInfinity(initStd))
            throw new ArgumentOutOfRangeException(nameof(initStd), initStd, $"initStd must be finite and ≥ 0, got {initStd}.");
        EmbeddingDim = embeddingDim;
        Weight = new Parameter<T>("weight", maxLen, embeddingDim);
        Init.Normal(Weight, rng ?? Rng.Default, 0, initStd);
    }

    /// <summary>Width D.</summary>
    public int EmbeddingDim { get; }

    /// <summary>The positional table [maxLen, D].</summary>
    public Parameter<T> Weight { get; }

    /// <inheritdoc />
    protected override IEnumerable<Parameter<T>> OwnParameters()
    {
        yield return Weight;
    }

    private protected override ReadOnlySpan<T> PositionRows => Weight.Data;

    private protected override void AccumulateTableGrad(ReadOnlySpan<T> dy, SequenceLayout layout, int start)
    {
        if (!Weight.RequiresGrad) return;
        int d = EmbeddingDim, rows = dy.Length / d;
        var grad = Weight.Grad.AsSpan();
        for (int r = 0; r < rows; r++)
        {
            var g = grad.Slice((start + layout.PositionOf(r)) * d, d);
            TensorPrimitives.Add(g, dy.Slice(r * d, d), g);
        }
    }
}
