// Additive positional encodings: a [maxLen, D] table P whose row p is added to the step at position p.
// The sinusoidal table (fixed) and the learned table (a parameter) share everything but the table itself,
// so the layouts, the start position and the Forward/Infer/Backward pair live here, once.
//
// Shapes:   x [T, D], [B, T, D] (batchFirst) or [T, B, D] (PyTorch's default sequence-first layout);
//           P [maxLen, D];  start + T ≤ maxLen (start = 0 unless given, e.g. for incremental decoding)
// Forward:  y[.., t, .., :] = x[.., t, .., :] + P[start + t, :]
// Backward: dx = dy                                      (the addition passes the gradient through)
//           dP[start + t, :] += Σ_b dy[b, t, :]          (only when P is learned; see AccumulateTableGrad)
namespace NeuralPrimitives;

/// <summary>
/// Base of the positional encodings that add a per-position vector from a [maxLen, D] table to a sequence
/// (<see cref="SinusoidalPositionalEncoding{T}"/>, <see cref="LearnedPositionalEmbedding{T}"/>).
/// Inputs are [T, D], [B, T, D] (<see cref="BatchFirst"/>) or [T, B, D]; positions start at 0 or at a given start position.
/// </summary>
/// <remarks>
/// <see cref="Forward(Tensor{T}, int)"/>/<see cref="Backward"/> belong to one thread at a time;
/// <see cref="Infer(Tensor{T}, int)"/> caches nothing and may run on many threads at once.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class AdditivePositionalEncoding<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _output = new();
    private readonly TensorBuffer<T> _dInput = new();
    private nint[]? _shape;
    private SequenceLayout _layout;
    private int _start;

    private protected AdditivePositionalEncoding(int maxLen, int dim, bool batchFirst)
    {
        MaxLen = maxLen;
        Dim = dim;
        BatchFirst = batchFirst;
    }

    /// <summary>Number of positions in the table (the longest start position + sequence length accepted).</summary>
    public int MaxLen { get; }

    /// <summary>Whether 3-D inputs are [B, T, D] (true) or [T, B, D] (false).</summary>
    public bool BatchFirst { get; }

    private protected int Dim { get; }

    /// <summary>The table P [MaxLen, Dim], row-major.</summary>
    private protected abstract ReadOnlySpan<T> PositionRows { get; }

    /// <summary>dP[start + t] += Σ_b dy[b, t] for a learned table; a fixed table has no gradient.</summary>
    private protected virtual void AccumulateTableGrad(ReadOnlySpan<T> dy, SequenceLayout layout, int start) { }

    /// <summary>Training forward with positions starting at 0: y = x + P[t]. Module-owned result.</summary>
    /// <param name="input">[T, D], [B, T, D] or [T, B, D] (see <see cref="BatchFirst"/>).</param>
    public Tensor<T> Forward(Tensor<T> input) => Forward(input, 0);

    /// <summary>Training forward with positions starting at <paramref name="startPosition"/>: y = x + P[start + t]. Module-owned result.</summary>
    /// <param name="input">[T, D], [B, T, D] or [T, B, D].</param>
    /// <param name="startPosition">Position of the first step (≥ 0), e.g. the number of steps already decoded.</param>
    public Tensor<T> Forward(Tensor<T> input, int startPosition)
    {
        using var pass = BeginForward();
        var layout = Check(input, startPosition);
        var output = _output.Get(EmbeddingOps.CachedShape(ref _shape, input.Lengths));
        Add(input.AsReadOnlySpan(), output.AsSpan(), layout, startPosition);
        _layout = layout;
        _start = startPosition;
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <summary>Inference forward with positions starting at 0 (new tensor, thread-safe).</summary>
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

    /// <summary>
    /// Backward of the last <see cref="Forward(Tensor{T}, int)"/>: returns ∂L/∂x = ∂L/∂y (a module-owned copy) and, for a
    /// learned table, accumulates ∂L/∂P[start + t] += Σ_b ∂L/∂y[b, t].
    /// </summary>
    /// <param name="dOutput">∂L/∂y, shaped like the last input.</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        Guard.Shape(dOutput, _shape!, nameof(dOutput));
        var dy = dOutput.AsReadOnlySpan();
        var dInput = _dInput.Get(_shape!);
        dy.CopyTo(dInput.AsSpan());
        AccumulateTableGrad(dy, _layout, _start);
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }

    private SequenceLayout Check(Tensor<T> input, int startPosition)
    {
        var layout = SequenceLayout.Of(input, Dim, BatchFirst, nameof(input));
        Guard.NonNegative(startPosition);
        if ((long)startPosition + layout.SeqLen > MaxLen)
            throw startPosition >= MaxLen
                ? new ArgumentOutOfRangeException(nameof(startPosition), startPosition, $"startPosition must be < maxLen {MaxLen}, got {startPosition}.")
                : new ArgumentException($"input is too long: start position {startPosition} + sequence length {layout.SeqLen} exceeds maxLen {MaxLen}.", nameof(input));
        return layout;
    }

    private void Add(ReadOnlySpan<T> x, Span<T> y, SequenceLayout layout, int start)
    {
        int d = Dim, rows = x.Length / d;
        ReadOnlySpan<T> p = PositionRows;
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Add(x.Slice(r * d, d), p.Slice((start + layout.PositionOf(r)) * d, d), y.Slice(r * d, d));
    }
}
