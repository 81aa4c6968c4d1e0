// Learned positional embedding: a trainable [maxLen, D] table P added by position (BERT, GPT-2).
// In the lecture notes' column convention this is the d×T positional matrix added to the d×T
// token matrix; here rows are positions (row-major [T, D]), as PyTorch stores nn.Embedding(maxLen, D).
//
// Shapes:   x [T, D], [B, T, D] (batchFirst) or [T, B, D];  P [maxLen, D];  T + start ≤ maxLen
// Forward:  y[.., t, .., :] = x[.., t, .., :] + P[start + t, :]
// Backward: dx = dy
//           dP[start + t, :] += Σ_b dy[b, t, :]        (rows of unused positions get nothing)
// Init:     P ~ N(0, std²), std = 1 by default (nn.Embedding's default; GPT-2 uses 0.02).
namespace NeuralPrimitives;

/// <summary>
/// Adds a trainable per-position vector to a sequence (the <c>nn.Embedding(maxLen, D)</c> of position ids used by
/// BERT and GPT-2, applied to a [T, D], [B, T, D] or [T, B, D] input). Parameter: <c>weight</c> [maxLen, D].
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class LearnedPositionalEmbedding<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _output = new();
    private readonly TensorBuffer<T> _dInput = new();
    private nint[]? _shape;
    private SequenceLayout _layout;
    private int _start;

    /// <summary>Creates the table P ~ N(0, <paramref name="initStd"/>²).</summary>
    /// <param name="maxLen">Number of positions (≥ 1).</param>
    /// <param name="embeddingDim">Width D (≥ 1).</param>
    /// <param name="batchFirst">3-D inputs are [B, T, D] when true, [T, B, D] when false (PyTorch's default).</param>
    /// <param name="initStd">Standard deviation of the initial values (default 1, as nn.Embedding).</param>
    /// <param name="rng">Random source; <see cref="Rng.Default"/> when null.</param>
    public LearnedPositionalEmbedding(int maxLen, int embeddingDim, bool batchFirst = false, double initStd = 1.0, Rng? rng = null)
    {
        Guard.Positive(maxLen);
        Guard.Positive(embeddingDim);
        if (!(initStd >= 0)) throw new ArgumentOutOfRangeException(nameof(initStd), initStd, $"initStd must be ≥ 0, got {initStd}.");
        MaxLen = maxLen;
        EmbeddingDim = embeddingDim;
        BatchFirst = batchFirst;
        Weight = new Parameter<T>("weight", maxLen, embeddingDim);
        Init.Normal(Weight, rng ?? Rng.Default, 0, initStd);
    }

    /// <summary>Number of positions.</summary>
    public int MaxLen { get; }

    /// <summary>Width D.</summary>
    public int EmbeddingDim { get; }

    /// <summary>Whether 3-D inputs are [B, T, D] (true) or [T, B, D] (false).</summary>
    public bool BatchFirst { get; }

    /// <summary>The positional table [maxLen, D].</summary>
    public Parameter<T> Weight { get; }

    /// <inheritdoc />
    protected override IEnumerable<Parameter<T>> OwnParameters()
    {
        yield return Weight;
    }

    /// <summary>Training forward with positions from 0: y = x + P[t]. Module-owned result.</summary>
    /// <param name="input">[T, D], [B, T, D] or [T, B, D].</param>
    public Tensor<T> Forward(Tensor<T> input) => Forward(input, 0);

    /// <summary>Training forward with positions from <paramref name="startPosition"/>.</summary>
    /// <param name="input">[T, D], [B, T, D] or [T, B, D].</param>
    /// <param name="startPosition">Position of the first step (≥ 0).</param>
    public Tensor<T> Forward(Tensor<T> input, int startPosition)
    {
        var layout = Check(input, startPosition);
        var output = _output.Get(EmbeddingOps.CachedShape(ref _shape, input.Lengths));
        Add(input.AsReadOnlySpan(), output.AsSpan(), layout, startPosition);
        _layout = layout;
        _start = startPosition;
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

    /// <summary>Backward: returns ∂L/∂x = ∂L/∂y (module-owned copy) and accumulates ∂L/∂P[start + t] += Σ_b ∂L/∂y[b, t].</summary>
    /// <param name="dOutput">∂L/∂y, shaped like the last input.</param>
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        if (_shape is null) throw new InvalidOperationException("Backward called before Forward.");
        Guard.Shape(dOutput, _shape, nameof(dOutput));
        var dy = dOutput.AsReadOnlySpan();
        var dInput = _dInput.Get(_shape);
        dy.CopyTo(dInput.AsSpan());
        if (Weight.RequiresGrad)
        {
            int d = EmbeddingDim, rows = dy.Length / d;
            var grad = Weight.Grad.AsSpan();
            for (int r = 0; r < rows; r++)
            {
                var g = grad.Slice((_start + _layout.PositionOf(r)) * d, d);
                TensorPrimitives.Add(g, dy.Slice(r * d, d), g);
            }
        }
        return dInput;
    }

    private SequenceLayout Check(Tensor<T> input, int startPosition)
    {
        var layout = SequenceLayout.Of(input, EmbeddingDim, BatchFirst, nameof(input));
        Guard.NonNegative(startPosition);
        if (startPosition + layout.SeqLen > MaxLen)
            throw new ArgumentException($"input is too long: start position {startPosition} + sequence length {layout.SeqLen} exceeds maxLen {MaxLen}.", nameof(input));
        return layout;
    }

    private void Add(ReadOnlySpan<T> x, Span<T> y, SequenceLayout layout, int start)
    {
        int d = EmbeddingDim, rows = x.Length / d;
        ReadOnlySpan<T> p = Weight.Data;
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Add(x.Slice(r * d, d), p.Slice((start + layout.PositionOf(r)) * d, d), y.Slice(r * d, d));
    }
}
