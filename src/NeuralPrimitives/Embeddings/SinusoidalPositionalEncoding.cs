// Sinusoidal positional encoding ("Attention Is All You Need", §3.5): a fixed table, no parameters.
//
// Table:    PE[pos, 2i]   = sin(pos · ω_i)      ω_i = 10000^(−2i/D) = exp(−2i·ln(10000)/D)
//           PE[pos, 2i+1] = cos(pos · ω_i)      0 ≤ pos < maxLen, 0 ≤ i < D/2 (D must be even)
//           Each pair (2i, 2i+1) is a clock of wavelength 2π/ω_i, from 2π up to 10000·2π; PE[pos+k] is a
//           fixed rotation of PE[pos] in every pair, which lets attention read relative offsets.
// Shapes:   x [T, D], [B, T, D] (batchFirst) or [T, B, D] (PyTorch's default sequence-first layout).
// Forward:  y[.., t, .., :] = x[.., t, .., :] + PE[start + t, :]     (start = 0 unless given)
// Backward: dx = dy                                                   (the table is a constant)
// The forward/backward pair is shared with the learned table (AdditivePositionalEncoding.cs).
namespace NeuralPrimitives;

/// <summary>
/// Adds the fixed sine/cosine table of "Attention Is All You Need" to a sequence (the <c>PositionalEncoding</c>
/// module of PyTorch's transformer tutorial, without its dropout). No parameters.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class SinusoidalPositionalEncoding<T> : AdditivePositionalEncoding<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly T[] _table;

    /// <summary>Builds the [maxLen, dModel] table.</summary>
    /// <param name="dModel">Model width D (even, ≥ 2).</param>
    /// <param name="maxLen">Longest sequence (plus start position) accepted (default 5000, as the PyTorch tutorial).</param>
    /// <param name="batchFirst">Inputs are [B, T, D] when true, [T, B, D] when false (PyTorch's default). [T, D] is always accepted.</param>
    public SinusoidalPositionalEncoding(int dModel, int maxLen = 5000, bool batchFirst = false)
        : base(maxLen, dModel, batchFirst)
    {
        Guard.Positive(dModel);
        Guard.Positive(maxLen);
        if (dModel % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(dModel), dModel, $"dModel must be even for sin/cos pairs, got {dModel}.");
        _table = new T[Guard.ElementCount(maxLen, dModel, nameof(maxLen), nameof(maxLen), nameof(dModel))];
        DModel = dModel;
        Compute(_table, maxLen, dModel);
    }

    /// <summary>Width D.</summary>
    public int DModel { get; }

    /// <summary>The table [maxLen, D] (a copy).</summary>
    public Tensor<T> Table => Tensor.Create((T[])_table.Clone(), [MaxLen, DModel]);

    private protected override ReadOnlySpan<T> PositionRows => _table;

    /// <summary>Writes the sinusoidal table for positions 0..positions−1 into <paramref name="destination"/> ([positions, dim], dim even).</summary>
    /// <param name="destination">Output, row-major [positions, dim].</param>
    /// <param name="positions">Number of positions.</param>
    /// <param name="dim">Width (even).</param>
    public static void Compute(Span<T> destination, int positions, int dim)
    {
        Guard.NonNegative(positions);
        Guard.Positive(dim);
        if (dim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"dim must be even for sin/cos pairs, got {dim}.");
        Guard.Length(destination.Length, Guard.ElementCount(positions, dim, nameof(positions), nameof(positions), nameof(dim)), nameof(destination));
        for (int i = 0; i < dim / 2; i++)
        {
            double omega = Math.Exp(-(2.0 * i) * Math.Log(10000.0) / dim);
            for (int pos = 0; pos < positions; pos++)
            {
                var (s, c) = Math.SinCos(pos * omega);
                destination[pos * dim + 2 * i] = T.CreateTruncating(s);
                destination[pos * dim + 2 * i + 1] = T.CreateTruncating(c);
            }
        }
    }
}
