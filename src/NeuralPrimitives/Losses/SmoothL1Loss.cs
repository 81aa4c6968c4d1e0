// Smooth L1 loss (PyTorch's nn.SmoothL1Loss): the Huber function of HuberLoss.cs with slope 1,
// i.e. HuberLoss(β)/β. PyTorch keeps both because they differ by that factor of β.
//
// Shapes:   input x, target t: the same shape (any rank ≥ 1); per-element loss l: that shape.
// Forward:  d = x_i − t_i;  l_i = ½d²/β  if |d| < β,  else |d| − β/2        (β = 0: l_i = |d|, the L1 loss)
// Backward: ∂l_i/∂x_i = d/β  if |d| < β,  else sign(d)                       = clamp(d/β, −1, 1)
namespace NeuralPrimitives;

/// <summary>
/// Smooth L1 loss: <c>½d²/beta</c> for |d| &lt; beta, <c>|d| − beta/2</c> beyond, with <c>d = input − target</c>
/// (PyTorch's <c>nn.SmoothL1Loss</c>; equal to <see cref="HuberLoss{T}"/> with delta = beta, divided by beta).
/// </summary>
/// <typeparam name="T"><c>float</c> or <c>double</c>.</typeparam>
public sealed class SmoothL1Loss<T> : ElementwiseLoss<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly T _beta;

    /// <summary>Creates the loss.</summary>
    /// <param name="reduction">Mean (default), Sum or None.</param>
    /// <param name="beta">Where the loss turns from quadratic to linear (≥ 0; default 1; 0 gives the L1 loss).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="beta"/> is negative, NaN or infinite.</exception>
    public SmoothL1Loss(Reduction reduction = Reduction.Mean, double beta = 1.0) : base(reduction)
    {
        if (!(beta >= 0) || !double.IsFinite(beta))
            throw new ArgumentOutOfRangeException(nameof(beta), beta, $"beta must be non-negative and finite (expected ≥ 0), got {beta}.");
        Beta = beta;
        _beta = T.CreateTruncating(beta);
    }

    /// <summary>The threshold between the quadratic and the linear part.</summary>
    public double Beta { get; }

    private protected override T Value(T input, T target, int index) => Huber.Value(input - target, _beta, T.One);

    private protected override T Derivative(T input, T target, int index) => Huber.Derivative(input - target, _beta, T.One);
}
