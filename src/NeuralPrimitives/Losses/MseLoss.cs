// Mean squared error (PyTorch's nn.MSELoss).
//
// Shapes:   input x, target t: the same shape (any rank ≥ 1); per-element loss l: that shape.
// Forward:  l_i = (x_i − t_i)²           L = mean (default), sum, or none of l (ElementwiseLoss.cs)
// Backward: ∂l_i/∂x_i = 2·(x_i − t_i)    dx_i = u_i · s · 2·(x_i − t_i)
namespace NeuralPrimitives;

/// <summary>Mean squared error <c>l = (input − target)²</c>, reduced (PyTorch's <c>nn.MSELoss</c>).</summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
/// <param name="reduction">Mean (default), Sum or None.</param>
public sealed class MseLoss<T>(Reduction reduction = Reduction.Mean) : ElementwiseLoss<T>(reduction)
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private static readonly T Two = T.CreateTruncating(2);

    private protected override T Value(T input, T target, int index)
    {
        T d = input - target;
        return d * d;
    }

    private protected override T Derivative(T input, T target, int index) => Two * (input - target);
}
