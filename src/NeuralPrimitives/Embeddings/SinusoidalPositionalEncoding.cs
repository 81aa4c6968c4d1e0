// Sinusoidal positional encoding ("Attention Is All You Need", §3.5): a fixed table, no parameters.
//
// Table:    PE[pos, 2i]   = sin(pos · ω_i)      ω_i = 10000^(−2i/D) = exp(−2i·ln(10000)/D)
//           PE[pos, 2i+1] = cos(pos · ω_i)      0 ≤ pos < maxLen, 0 ≤ i < D/2 (D must be even)
//           Each pair (2i, 2i+1) is a clock of wavelength 2π/ω_i, from 2π up to 10000·2π; PE[pos+k] is a
//           fixed rotation of PE[pos] in every pair, which lets attention read relative offsets.
// Shapes:   x [T, D], [B, T, D] (batchFirst) or [T, B, D] (PyTorch's default sequence-first layout).
// Forward:  y[.., t, .., :] = x[.., t, .., :] + PE[start + t, :]     (start = 0 unless given)
// Backward: dx = dy                                                   (the table is a constant)
namespace NeuralPrimitives;

/// <summary>
/// Adds the fixed sine/cosine table of "Attention Is All You Need" to a sequence (the <c>PositionalEncoding</c>
/// module of PyTorch's transformer tutorial, without its dropout). No parameters.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class SinusoidalPositionalEncoding<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly T[] _table;
    private readonly TensorBuffer<T> _output = new();
    private readonly TensorBuffer<T> _dInput = new();
    private nint[]? _shape;

    /// <summary>Builds the [maxLen, dModel] table.</summary>
    /// <param name="dModel">Model width D (even, ≥ 2).</param>
    /// <param name="maxLen">Longest sequence (plus start position) accepted (default 5000, as the PyTorch tutorial).</param>
    /// <param name="batchFirst">Inputs are [B, T, D] when true, [T, B, D] when false (PyTorch's default). [T, D] is always accepted.</param>
    public SinusoidalPositionalEncoding(int dModel, int maxLen = 5000, bool batchFirst = false)
    {
        Guard.Positive(dModel);
        Guard.Positive(maxLen);
        if (dModel % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(dModel), dModel, $"dModel must be even for sin/cos pairs, got {dModel}.");
        DModel = dModel;
        MaxLen = maxLen;
        BatchFirst = batchFirst;
        _table = new T[maxLen * dModel];
        Compute(_table, maxLen, dModel);
    }

    /// <summary>Width D.</summary>
    public int DModel { get; }

    /// <summary>Number of positions in the table.</summary>
    public int MaxLen { get; }

    /// <summary>Whether 3-D inputs are [B, T, D] (true) or [T, B, D] (false).</summary>
    public bool BatchFirst { get; }

    /// <summary>The table [maxLen, D] (a copy).</summary>
    public Tensor<T> Table => Tensor.Create((T[])_table.Clone(), [MaxLen, DModel]);

    /// <summary>Writes the sinusoidal table for positions 0..positions−1 into <paramref name="destination"/> ([positions, dim], dim even).</summary>
    /// <param name="destination">Output, row-major [positions, dim].</param>
    /// <param name="positions">Number of positions.</param>
    /// <param name="dim">Width (even).</param>
    public static void Compute(Span<T> destination, int positions, int dim)
    {
        Guard.NonNegative(positions);
        Guard.Positive(dim);
        if (dim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"dim must be even for sin/cos pairs, got {dim}.");
        Guard.Length(destination.Length, positions * dim, nameof(destination));
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

    /// <summary>Training forward with positions starting at 0: y = x + PE. Module-owned result.</summary>
    /// <param name="input">[T, D], [B, T, D] or [T, B, D] (see <see cref="BatchFirst"/>).</param>
    public Tensor<T> Forward(Tensor<T> input) => Forward(input, 0);

    /// <summary>Training forward with positions starting at <paramref name="startPosition"/> (incremental decoding).</summary>
    /// <param name="input">[T, D], [B, T, D] or [T, B, D].</param>
    /// <param name="startPosition">Position of the first step (≥ 0).</param>
    public Tensor<T> Forward(Tensor<T> input, int startPosition)
    {
        var layout = Check(input, startPosition);
        var output = _output.Get(EmbeddingOps.CachedShape(ref _shape, input.Lengths));
        Add(input.AsReadOnlySpan(), output.AsSpan(), layout, startPosition);
        return output;
    }

    /// <summary>Inference forward (new tensor, thread-safe).</summary>
    /// <param name="input">[T, D], [B, T, D] or [T, B, D].</param>
    public Tensor<T> Infer(Tensor<T> input) => Infer(input, 0);

    /// <summary>Inference forward with a start position (new tensor, thread-safe).</summary>
    /// <param name="input">[T, D], [B, T, D] or [T, B, D].</param>
    /// <param name="startPosition">Position of the first step (≥ 0).</param>
    public Tensor<T> Infer(Tensor<T> input, int startPosition)
    {
        var layout = Check(input, startPosition);
        var output = Tensor.Create(new T[input.FlattenedLength], input.Lengths);
        Add(input.AsReadOnlySpan(), output.AsSpan(), layout, startPosition);
        return output;
    }

    /// <summary>Backward: the table is constant, so ∂L/∂x = ∂L/∂y (copied into a module-owned tensor).</summary>
    /// <param name="dOutput">∂L/∂y, shaped like the last input.</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        if (_shape is null) throw new InvalidOperationException("Backward called before Forward.");
        Guard.Shape(dOutput, _shape, nameof(dOutput));
        var dInput = _dInput.Get(_shape);
        dOutput.AsReadOnlySpan().CopyTo(dInput.AsSpan());
        return dInput;
    }

    private SequenceLayout Check(Tensor<T> input, int startPosition)
    {
        var layout = SequenceLayout.Of(input, DModel, BatchFirst, nameof(input));
        Guard.NonNegative(startPosition);
        if (startPosition + layout.SeqLen > MaxLen)
            throw new ArgumentException($"input is too long: start position {startPosition} + sequence length {layout.SeqLen} exceeds maxLen {MaxLen}.", nameof(input));
        return layout;
    }

    private void Add(ReadOnlySpan<T> x, Span<T> y, SequenceLayout layout, int start)
    {
        int d = DModel, rows = x.Length / d;
        for (int r = 0; r < rows; r++)
        {
            int pos = start + layout.PositionOf(r);
            TensorPrimitives.Add(x.Slice(r * d, d), _table.AsSpan(pos * d, d), y.Slice(r * d, d));
        }
    }
}
