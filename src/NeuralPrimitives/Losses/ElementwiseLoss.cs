// The driver shared by the losses whose l_i depends on one input element and one target element:
// MseLoss, L1Loss, HuberLoss, SmoothL1Loss, BceWithLogitsLoss, KlDivLoss. Each defines
//   l_i = f(x_i, t_i)  and  ∂l_i/∂x_i = f′(x_i, t_i)      (its own file has the equations)
// and this class does the rest, once:
//   Shapes:   input x and target t have the same shape (any rank ≥ 1); l has that shape too.
//   Forward:  l_i = f(x_i, t_i);  L = reduce(l)  with D = the element count (BatchMean: N = x's first dimension)
//   Backward: dx_i = u_i · s · f′(x_i, t_i)  (u_i the upstream gradient, s = ∂L/∂l_i, see Loss.cs)
// The element loops are plain scalar loops through one virtual call per element: clear to read, and
// these losses are a small part of a training step (regression heads, not a 50k-way softmax).
namespace NeuralPrimitives;

/// <summary>
/// Base of the element-wise losses: <c>l_i = f(input_i, target_i)</c> over tensors of one shape, reduced by
/// <see cref="Loss{T}.Reduction"/>; <see cref="Loss{T}.Backward()"/> returns dLoss/dInput.
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public abstract class ElementwiseLoss<T> : Loss<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly TensorBuffer<T> _dInput = new();
    private Tensor<T>? _input, _target;

    /// <summary>Sets the reduction (<paramref name="batchMeanAllowed"/>: whether <see cref="Reduction.BatchMean"/> is valid).</summary>
    private protected ElementwiseLoss(Reduction reduction, bool batchMeanAllowed = false) : base(reduction, batchMeanAllowed) { }

    /// <summary>The loss of one element: f(input, target). <paramref name="index"/> is the flat position (for per-position weights).</summary>
    private protected abstract T Value(T input, T target, int index);

    /// <summary>∂f/∂input at one element.</summary>
    private protected abstract T Derivative(T input, T target, int index);

    /// <summary>Extra checks of the input's shape (e.g. that weights broadcast over it); the default accepts any shape.</summary>
    private protected virtual void CheckInput(Tensor<T> input) { }

    /// <summary>Computes the per-element losses and returns their reduction (see <see cref="Reduction"/>).</summary>
    /// <param name="input">The prediction, any shape of rank ≥ 1.</param>
    /// <param name="target">The target, the same shape as <paramref name="input"/>.</param>
    /// <returns>The reduced loss; for <see cref="Reduction.None"/>, the sum of <see cref="Loss{T}.Unreduced"/>.</returns>
    /// <exception cref="ArgumentException">The shapes disagree (the message gives both).</exception>
    public T Forward(Tensor<T> input, Tensor<T> target)
    {
        using var pass = BeginForward();
        Guard.MinRank(input, 1, nameof(input));
        Guard.SameShape(input, target, nameof(target));
        CheckInput(input);
        var x = input.AsReadOnlySpan();
        var t = target.AsReadOnlySpan();
        var losses = UnreducedBuffer(input.Lengths);
        for (int i = 0; i < x.Length; i++) losses[i] = Value(x[i], t[i], i);
        T denominator = T.CreateTruncating(Reduction == Reduction.BatchMean ? input.Lengths[0] : input.FlattenedLength);
        _input = input;
        _target = target;
        return Complete(pass, denominator);
    }

    /// <inheritdoc />
    protected sealed override Tensor<T> Gradient(T dLoss, ReadOnlySpan<T> dUnreduced)
    {
        var input = _input!;
        var x = input.AsReadOnlySpan();
        var t = _target!.AsReadOnlySpan();
        var dInput = _dInput.Get(input.Lengths);
        var dx = dInput.AsSpan();
        T scale = dLoss * Scale;
        for (int i = 0; i < x.Length; i++)
            dx[i] = (dUnreduced.IsEmpty ? scale : dUnreduced[i] * Scale) * Derivative(x[i], t[i], i);
        return dInput;
    }
}
