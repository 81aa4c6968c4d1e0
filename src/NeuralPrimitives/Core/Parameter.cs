// A trainable tensor: its value, its gradient, and its PyTorch name. Backward passes
// *accumulate* into Grad (like PyTorch's .grad); ZeroGrad() resets it. A parameter whose
// gradient is row-sparse (an embedding table) accumulates into SparseGrad instead, and its
// dense gradient is only materialised when asked for (CopyGradTo).
namespace NeuralPrimitives;

/// <summary>
/// A named trainable tensor with its gradient buffer. <see cref="Data"/> and <see cref="Grad"/> are
/// contiguous row-major arrays of <see cref="Length"/> elements in PyTorch's layout for the name.
/// </summary>
/// <typeparam name="T">Element type (<c>float</c> or <c>double</c>).</typeparam>
public sealed class Parameter<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly int[] _shape;
    private T[]? _grad;

    /// <summary>Creates a zero-initialised parameter.</summary>
    /// <param name="name">PyTorch's name for it, e.g. <c>weight</c> or <c>weight_ih_l0</c>.</param>
    /// <param name="shape">Its shape; every dimension ≥ 1.</param>
    public Parameter(string name, params int[] shape)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(shape);
        Data = new T[Shapes.CheckedProduct(shape, nameof(shape))];
        Name = name;
        _shape = (int[])shape.Clone();
    }

    /// <summary>The parameter's name within its module (PyTorch's state_dict key suffix).</summary>
    public string Name { get; }

    /// <summary>The shape, e.g. <c>[out, in]</c> for a Linear weight.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>Number of elements.</summary>
    public int Length => Data.Length;

    /// <summary>The value, row-major. Write into it to load weights.</summary>
    public T[] Data { get; }

    /// <summary>
    /// The dense accumulated gradient, row-major, same layout as <see cref="Data"/> (allocated on first use).
    /// A parameter with a row-sparse gradient (<see cref="SparseGrad"/> not null, e.g. <c>Embedding(sparse: true)</c>)
    /// has no dense gradient: reading <see cref="Grad"/> then throws <see cref="InvalidOperationException"/> instead of
    /// handing out a buffer of zeros; read <see cref="SparseGrad"/> or call <see cref="CopyGradTo"/>.
    /// </summary>
    public T[] Grad => SparseGrad is null
        ? _grad ??= new T[Data.Length]
        : throw new InvalidOperationException(
            $"Parameter '{Name}' {Shapes.Format(_shape)} has a row-sparse gradient: read SparseGrad (the touched rows) or CopyGradTo (dense), not Grad.");

    /// <summary>
    /// Whether the dense <see cref="Grad"/> buffer exists (reading <see cref="Grad"/> allocates it).
    /// Lets code that walks gradients (e.g. <see cref="GradientClipping"/>) skip a row-sparse
    /// parameter's never-used dense buffer without allocating it.
    /// </summary>
    public bool HasDenseGrad => _grad is not null;

    /// <summary>Whether optimisers and gradient checks should treat the parameter as trainable (false = frozen).</summary>
    public bool RequiresGrad { get; set; } = true;

    /// <summary>
    /// The row-sparse gradient, when the parameter uses one (see <see cref="UseSparseGrad"/>);
    /// otherwise null and the gradient is in <see cref="Grad"/>.
    /// </summary>
    public RowSparseGradient<T>? SparseGrad { get; private set; }

    /// <summary>Switches the gradient to row-sparse storage (for a [rows, rowLength] table); any dense gradient is dropped.</summary>
    public void UseSparseGrad()
    {
        _grad = null;
        if (_shape.Length != 2) throw new InvalidOperationException($"Row-sparse gradients need a 2-D parameter; {Name} has shape {Shapes.Format(_shape)}.");
        SparseGrad ??= new RowSparseGradient<T>(_shape[0], _shape[1]);
    }

    /// <summary>The value as a tensor view (no copy).</summary>
    public Tensor<T> Value => Tensor.Create(Data, Array.ConvertAll(_shape, d => (nint)d));

    /// <summary>Resets the accumulated gradient (dense and sparse) to zero.</summary>
    public void ZeroGrad()
    {
        if (_grad is not null) Array.Clear(_grad);
        SparseGrad?.Clear();
    }

    /// <summary>Writes the full dense gradient (dense part plus any sparse rows) into <paramref name="destination"/>.</summary>
    public void CopyGradTo(Span<T> destination)
    {
        Guard.Length(destination.Length, Length, nameof(destination));
        if (_grad is null) destination.Clear(); else _grad.CopyTo(destination);
        SparseGrad?.AddTo(destination);
    }

    /// <summary>Copies values into the parameter (e.g. from a PyTorch state_dict).</summary>
    public void Load(ReadOnlySpan<T> values)
    {
        Guard.Length(values.Length, Length, nameof(values));
        values.CopyTo(Data);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Shapes.Format(_shape)}";
}
