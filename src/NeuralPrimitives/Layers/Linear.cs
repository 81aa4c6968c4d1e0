// Linear (fully connected) layer — the worked example of the module contract (Core/Module.cs).
//
// Shapes:   x [..., in]   W [out, in] (PyTorch's layout)   b [out]   y [..., out]
//           Leading dimensions are flattened into N rows: X is [N, in], Y is [N, out].
// Forward:  Y = X·Wᵀ + b                      (GEMM, transposeB)
// Backward: dX  = dY·W                        (GEMM)               [N, in]
//           dW += dYᵀ·X                       (GEMM, transposeA)   [out, in]  accumulated
//           db += Σ_rows dY                                         [out]      accumulated
// Init (PyTorch): W ~ kaiming_uniform(a=√5) = U(±1/√in), b ~ U(±1/√in).
namespace NeuralPrimitives;

/// <summary>
/// Applies <c>y = x·Wᵀ + b</c> over the last dimension of an input of any rank (PyTorch's <c>nn.Linear</c>).
/// Parameters: <c>weight</c> [out, in], <c>bias</c> [out].
/// </summary>
/// <remarks>
/// Thread safety: <see cref="Forward"/>/<see cref="Backward"/> belong to one thread at a time;
/// <see cref="Infer"/> may run on many threads at once while the weights are not being written.
/// The input passed to <see cref="Forward"/> is kept by reference for <see cref="Backward"/>: do not modify it in between.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Linear<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _output = new();
    private readonly TensorBuffer<T> _dInput = new();
    private Tensor<T>? _input;
    private Parameter<T> _weight;

    /// <summary>Creates the layer with PyTorch's initialisation.</summary>
    /// <param name="inFeatures">Size of each input row (≥ 1).</param>
    /// <param name="outFeatures">Size of each output row (≥ 1).</param>
    /// <param name="bias">Whether to learn an additive bias.</param>
    /// <param name="rng">Random source for initialisation; <see cref="Rng.Default"/> when null.</param>
    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null)
    {
        Guard.Positive(inFeatures);
        Guard.Positive(outFeatures);
        Guard.ElementCount(outFeatures, inFeatures, nameof(inFeatures), "outFeatures", nameof(inFeatures));
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        rng ??= Rng.Default;
        _weight = new Parameter<T>("weight", outFeatures, inFeatures);
        Init.KaimingUniform(_weight, rng);
        if (bias)
        {
            Bias = new Parameter<T>("bias", outFeatures);
            Init.UniformFanIn(Bias, inFeatures, rng);
        }
    }

    /// <summary>Input feature count.</summary>
    public int InFeatures { get; }

    /// <summary>Output feature count.</summary>
    public int OutFeatures { get; }

    /// <summary>
    /// Weight [out, in]. Assign another module's parameter of the same shape to tie them (PyTorch's
    /// <c>lm_head.weight = wte.weight</c>): an LM head <c>Linear(D, V)</c> shares the [V, D] table of an
    /// <c>Embedding(V, D)</c>; both modules then accumulate into the one gradient, and the state_dict lists it under both names.
    /// </summary>
    /// <exception cref="ArgumentException">The parameter's shape is not [out, in].</exception>
    public Parameter<T> Weight
    {
        get => _weight;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            if (!value.Shape.SequenceEqual([OutFeatures, InFeatures]))
                throw new ArgumentException($"value must have shape [{OutFeatures}, {InFeatures}] (out, in) to be this Linear's weight, got {Shapes.Format(value.Shape)}.", nameof(value));
            _weight = value;
        }
    }

    /// <summary>Bias [out], or null when created with <c>bias: false</c>.</summary>
    public Parameter<T>? Bias { get; }

    /// <inheritdoc />
    protected override IEnumerable<(string Name, Parameter<T> Parameter)> NamedOwnParameters()
    {
        yield return ("weight", Weight);
        if (Bias is not null) yield return ("bias", Bias);
    }

    /// <inheritdoc />
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        CheckInput(input);
        var output = _output.GetWithLast(input.Lengths, OutFeatures);
        Compute(input.AsReadOnlySpan(), output.AsSpan());
        _input = input;
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <inheritdoc />
    public Tensor<T> Infer(Tensor<T> input)
    {
        CheckInput(input);
        var shape = Shapes.WithLast(input.Lengths, OutFeatures);
        var output = Tensor.Create(new T[Shapes.Product(shape)], shape);
        Compute(input.AsReadOnlySpan(), output.AsSpan());
        return output;
    }

    // [..., in] → [..., out], checking that the output fits in one array (rows × out can overflow even when rows × in does not).
    private void CheckInput(Tensor<T> input)
    {
        Guard.LastDim(input, InFeatures, nameof(input));
        Guard.ElementCount(input.FlattenedLength / InFeatures, OutFeatures, nameof(input), "the output's rows", "outFeatures");
    }

    private void Compute(ReadOnlySpan<T> x, Span<T> y)
    {
        int rows = x.Length / InFeatures;
        if (Bias is null)
            Gemm.Multiply(transposeA: false, transposeB: true, rows, OutFeatures, InFeatures, T.One, x, Weight.Data, T.Zero, y);
        else                                                                              // y[r, :] = x[r, :]·Wᵀ + b
            Gemm.MultiplyAddBias(transposeA: false, transposeB: true, rows, OutFeatures, InFeatures, x, InFeatures, Weight.Data, InFeatures, Bias.Data, y, OutFeatures);
    }

    /// <inheritdoc />
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var input = _input!;
        ArgumentNullException.ThrowIfNull(dOutput);
        if (!Shapes.EqualWithLast(dOutput.Lengths, input.Lengths, OutFeatures))
            Guard.Shape(dOutput, Shapes.WithLast(input.Lengths, OutFeatures), nameof(dOutput)); // throws, naming both shapes
        var x = input.AsReadOnlySpan();
        var dy = dOutput.AsReadOnlySpan();
        int rows = x.Length / InFeatures;
        var dInput = _dInput.Get(input.Lengths);
        Gemm.Multiply(transposeA: false, transposeB: false, rows, InFeatures, OutFeatures, T.One, dy, Weight.Data, T.Zero, dInput.AsSpan());
        if (Weight.RequiresGrad)
            Gemm.Multiply(transposeA: true, transposeB: false, OutFeatures, InFeatures, rows, T.One, dy, x, T.One, Weight.Grad.AsSpan());
        if (Bias is { RequiresGrad: true })
            ParallelRanges.AccumulateRowSum(dy, OutFeatures, rows, Bias.Grad);              // db += Σ_r dy[r, :]
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }
}
