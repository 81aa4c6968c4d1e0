// Module wrappers for the parameter-free functions of Kernels/Activations.cs and
// Kernels/Softmax.cs (PyTorch's nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.SiLU, nn.Softmax(-1),
// nn.LogSoftmax(-1)). The equations live with the kernels; these classes only cache the
// tensor that backward needs (the input, or the output where that is cheaper). An empty tensor
// (a zero anywhere in its shape, e.g. [2, 0]) gives an empty result, as in PyTorch.
// ReLU, Tanh, Sigmoid and SiLU are each just their pair of kernels (ElementwiseLayer); GELU adds its
// approximation option, Softmax and LogSoftmax work on rows of the last dimension.
namespace NeuralPrimitives;

/// <summary>
/// Base of the parameter-free element-wise/row-wise layers: caches the input (or output) in
/// <see cref="Forward"/> and applies the derivative in <see cref="Backward"/>.
/// </summary>
/// <remarks>
/// Thread safety: <see cref="Forward"/>/<see cref="Backward"/> belong to one thread at a time;
/// <see cref="Infer"/> caches nothing and may be called from several threads at once.
/// </remarks>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class FunctionLayer<T> : Module<T>, ILayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _output = new();
    private readonly TensorBuffer<T> _dInput = new();
    private Tensor<T>? _input;

    /// <summary>Whether backward uses the cached output y (true) or the input x (false).</summary>
    protected abstract bool BackwardUsesOutput { get; }

    /// <summary>Computes y = f(x) over the flattened tensor; <paramref name="lastDim"/> is the size of the last axis.</summary>
    protected abstract void Apply(ReadOnlySpan<T> x, Span<T> y, int lastDim);

    /// <summary>Computes dx from dy and the cached tensor (x or y, see <see cref="BackwardUsesOutput"/>).</summary>
    protected abstract void Derivative(ReadOnlySpan<T> cached, ReadOnlySpan<T> dy, Span<T> dx, int lastDim);

    /// <inheritdoc />
    public Tensor<T> Forward(Tensor<T> input)
    {
        using var pass = BeginForward();
        Guard.MinRank(input, 1, nameof(input));
        var output = _output.Get(input.Lengths);
        Run(input, output);
        _input = input;
        pass.Complete(output.AsReadOnlySpan(), "output");
        return output;
    }

    /// <inheritdoc />
    public Tensor<T> Infer(Tensor<T> input)
    {
        Guard.MinRank(input, 1, nameof(input));
        var output = Tensor.Create(new T[input.FlattenedLength], input.Lengths);
        Run(input, output);
        return output;
    }

    private void Run(Tensor<T> input, Tensor<T> output)
    {
        var x = input.AsReadOnlySpan();
        if (!x.IsEmpty) Apply(x, output.AsSpan(), (int)input.Lengths[^1]);
    }

    /// <inheritdoc />
    public Tensor<T> Backward(Tensor<T> dOutput)
    {
        using var pass = BeginBackward();
        var input = _input!;
        Guard.SameShape(input, dOutput, nameof(dOutput));
        var dy = dOutput.AsReadOnlySpan();
        var dInput = _dInput.Get(input.Lengths);
        var cached = BackwardUsesOutput ? _output.Array.AsSpan(0, dy.Length) : input.AsReadOnlySpan();
        if (!dy.IsEmpty) Derivative(cached, dy, dInput.AsSpan(), (int)input.Lengths[^1]);
        pass.Complete(dInput.AsReadOnlySpan(), "dInput");
        return dInput;
    }
}

/// <summary>
/// Base of the element-wise activations without options (<see cref="Relu{T}"/>, <see cref="Tanh{T}"/>, <see cref="Sigmoid{T}"/>,
/// <see cref="Silu{T}"/>): a kernel pair of <see cref="Activations"/>, y = f(x) and its backward, which reads the input x or
/// the output y.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class ElementwiseLayer<T> : FunctionLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Kernel _apply;
    private readonly DerivativeKernel _derivative;

    /// <summary>y = f(x), element by element.</summary>
    private protected delegate void Kernel(ReadOnlySpan<T> x, Span<T> y);

    /// <summary>dx = f′ ⊙ dy, from the cached x or y (see <see cref="BackwardUsesOutput"/>).</summary>
    private protected delegate void DerivativeKernel(ReadOnlySpan<T> cached, ReadOnlySpan<T> dy, Span<T> dx);

    private protected ElementwiseLayer(Kernel apply, DerivativeKernel derivative, bool backwardUsesOutput)
    {
        _apply = apply;
        _derivative = derivative;
        BackwardUsesOutput = backwardUsesOutput;
    }

    /// <inheritdoc />
    protected sealed override bool BackwardUsesOutput { get; }

    /// <inheritdoc />
    protected sealed override void Apply(ReadOnlySpan<T> x, Span<T> y, int lastDim) => _apply(x, y);

    /// <inheritdoc />
    protected sealed override void Derivative(ReadOnlySpan<T> cached, ReadOnlySpan<T> dy, Span<T> dx, int lastDim) => _derivative(cached, dy, dx);
}

/// <summary>ReLU: y = max(x, 0) (PyTorch's <c>nn.ReLU</c>).</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Relu<T>() : ElementwiseLayer<T>(Activations.Relu, Activations.ReluBackward, backwardUsesOutput: false) where T : unmanaged, IBinaryFloatingPointIeee754<T>;

/// <summary>Hyperbolic tangent (PyTorch's <c>nn.Tanh</c>).</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Tanh<T>() : ElementwiseLayer<T>(Activations.Tanh, Activations.TanhBackward, backwardUsesOutput: true) where T : unmanaged, IBinaryFloatingPointIeee754<T>;

/// <summary>Logistic sigmoid (PyTorch's <c>nn.Sigmoid</c>).</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Sigmoid<T>() : ElementwiseLayer<T>(Activations.Sigmoid, Activations.SigmoidBackward, backwardUsesOutput: true) where T : unmanaged, IBinaryFloatingPointIeee754<T>;

/// <summary>SiLU / swish: y = x·σ(x) (PyTorch's <c>nn.SiLU</c>).</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Silu<T>() : ElementwiseLayer<T>(Activations.Silu, Activations.SiluBackward, backwardUsesOutput: false) where T : unmanaged, IBinaryFloatingPointIeee754<T>;

/// <summary>GELU, exact or tanh-approximated (PyTorch's <c>nn.GELU(approximate=...)</c>).</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Gelu<T> : FunctionLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates the layer.</summary>
    /// <param name="approximate">Exact (default, as PyTorch) or the tanh approximation.</param>
    public Gelu(GeluApproximation approximate = GeluApproximation.None)
    {
        Activations.CheckApproximation(approximate);
        Approximate = approximate;
    }

    /// <summary>The GELU variant in use.</summary>
    public GeluApproximation Approximate { get; }
    /// <inheritdoc />
    protected override bool BackwardUsesOutput => false;
    /// <inheritdoc />
    protected override void Apply(ReadOnlySpan<T> x, Span<T> y, int lastDim) => Activations.Gelu(x, y, Approximate);
    /// <inheritdoc />
    protected override void Derivative(ReadOnlySpan<T> x, ReadOnlySpan<T> dy, Span<T> dx, int lastDim) => Activations.GeluBackward(x, dy, dx, Approximate);
}

/// <summary>Softmax over the last dimension (PyTorch's <c>nn.Softmax(dim=-1)</c>), max-shifted so large inputs stay finite.</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class Softmax<T> : FunctionLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <inheritdoc />
    protected override bool BackwardUsesOutput => true;
    /// <inheritdoc />
    protected override void Apply(ReadOnlySpan<T> x, Span<T> y, int lastDim) => Softmax.Forward(x, y, lastDim);
    /// <inheritdoc />
    protected override void Derivative(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int lastDim) => Softmax.Backward(y, dy, dx, lastDim);
}

/// <summary>Log-softmax over the last dimension (PyTorch's <c>nn.LogSoftmax(dim=-1)</c>).</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class LogSoftmax<T> : FunctionLayer<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <inheritdoc />
    protected override bool BackwardUsesOutput => true;
    /// <inheritdoc />
    protected override void Apply(ReadOnlySpan<T> x, Span<T> y, int lastDim) => Softmax.LogForward(x, y, lastDim);
    /// <inheritdoc />
    protected override void Derivative(ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int lastDim) => Softmax.LogBackward(y, dy, dx, lastDim);
}
