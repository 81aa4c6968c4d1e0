// Mean absolute error (PyTorch's nn.L1Loss).
//
// Shapes:   input x, target t: the same shape (any rank ≥ 1); per-element loss l: that shape.
// Forward:  l_i = |x_i − t_i|                 L = mean (default), sum, or none of l (ElementwiseLoss.cs)
// Backward: ∂l_i/∂x_i = sign(x_i − t_i)       0 at x_i = t_i (the subgradient PyTorch uses)
namespace NeuralPrimitives;

/// <summary>Mean absolute error <c>l = |input − target|</c>, reduced (PyTorch's <c>nn.L1Loss</c>).</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
/// <param name="reduction">Mean (default), Sum or None.</param>
public sealed class L1Loss<T>(Reduction reduction = Reduction.Mean) : ElementwiseLoss<T>(reduction)
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private protected override T Value(T input, T target, int index) => T.Abs(input - target);

    private protected override T Derivative(T input, T target, int index) => Huber.Sign(input - target);
}
